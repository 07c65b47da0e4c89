"""Output images: side-by-side comparison, loss plot (with and without matplotlib), turntable."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from diffprog import render as R
from diffprog.fit import report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_side_by_side_and_error_colours(rng):
    photo = rng.random((8, 8, 3))
    image = report.side_by_side(photo, photo)
    assert image.shape == (8, 8 * 3 + 4, 3)
    np.testing.assert_array_equal(image[:, -8:], 0.0)              # no error: black
    assert np.all(report.error_colors(np.array([[2.0]])) == 1.0)   # saturates at white


@pytest.mark.parametrize("matplotlib_available", [True, False])
def test_loss_plot(tmp_path, monkeypatch, matplotlib_available):
    if not matplotlib_available:
        monkeypatch.setitem(sys.modules, "matplotlib", None)
    history = {"silhouette": list(np.geomspace(1, 1e-3, 50)), "rgb": [np.nan] * 50,
               "total": list(np.geomspace(2, 2e-3, 50))}
    report.write_loss_plot(tmp_path / "loss.png", history, {"silhouette": 3.0})
    with Image.open(tmp_path / "loss.png") as image:
        assert image.size[0] >= 400 and image.size[1] >= 200


def test_turntable_gif(tmp_path):
    sphere = R.ico_sphere(2)
    colors = (np.asarray(sphere.verts.data) + 1) / 2
    report.write_turntable(tmp_path / "turn.gif", sphere.verts.data, sphere.faces, colors, np.zeros(3), 3.0,
                           40.0, 32, 5, np.ones(3))
    with Image.open(tmp_path / "turn.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (32, 32)


@pytest.mark.slow
def test_example_runs(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "fit_mesh.py"), "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "fit_mesh.json") as f:
        assert json.load(f)["iou_after"] > 0.9


def _square_views():
    photos = np.zeros((3, 24, 24, 4))
    photos[:, 6:18, 6:18] = [0.8, 0.3, 0.2, 1.0]
    images = np.zeros_like(photos)
    images[:, 8:20, 7:19] = [0.7, 0.35, 0.2, 1.0]
    images[..., :3] = report.composite(images, np.ones(3))       # a render's RGB is over the background
    return photos, images


def test_labelled_comparisons_and_contact_sheet(tmp_path):
    from diffprog.fit import masked_psnr, silhouette_iou
    photos, images = _square_views()
    paths = report.write_view_comparisons(str(tmp_path), "held_out", ["v0", "v1", "v2"], photos, images, np.ones(3))
    assert [os.path.basename(p) for p in paths] == ["held_out_v0.png", "held_out_v1.png", "held_out_v2.png",
                                                    "held_out_contact_sheet.png"]
    iou, psnr = report.view_metrics(photos[0], images[0], np.ones(3))
    assert iou == pytest.approx(silhouette_iou(images[0, ..., 3], photos[0, ..., 3]))
    assert psnr == pytest.approx(masked_psnr(images[0, ..., :3], report.composite(photos[0], np.ones(3)),
                                             photos[0, ..., 3] > 0.5))
    with Image.open(paths[0]) as tile, Image.open(paths[-1]) as sheet:
        tile, sheet = np.asarray(tile), np.asarray(sheet)
    panels = report.side_by_side(report.composite(photos[0], np.ones(3)), images[0, ..., :3])
    assert tile.shape[1] == panels.shape[1] * 11 and tile.shape[0] > panels.shape[0] * 11   # room for the labels
    header, footer = tile[:20], tile[-40:]
    assert (header < 128).any() and (footer < 128).any()           # names above, colour scale and IoU/PSNR below
    assert sheet.shape[0] >= 2 * tile.shape[0] and sheet.shape[1] >= 2 * tile.shape[1]   # 3 views: a 2 x 2 grid


def test_labelled_comparison_reports_numbers_in_its_text():
    photos, images = _square_views()
    bare = report.labelled_comparison(photos[0, ..., :3], images[0, ..., :3], "v0")
    full = report.labelled_comparison(photos[0, ..., :3], images[0, ..., :3], "v0", iou=0.5, psnr=20.0)
    assert bare.shape == full.shape and not np.array_equal(bare, full)
    assert report.view_metrics(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), np.ones(3)) == (1.0, None)


def test_loss_curve_names_terms_with_weights():
    curves = report._loss_curves({"silhouette": [1.0, 0.5], "rgb": [np.nan, np.nan], "laplacian": [0.2, 0.1],
                                  "total": [2.0, 1.0]}, {"silhouette": 3.0, "laplacian": 1.0})
    assert list(curves) == ["silhouette x3", "laplacian", "total"]
    np.testing.assert_allclose(curves["silhouette x3"], [3.0, 1.5])
