"""Output images: side-by-side comparison, loss plot (with and without matplotlib), turntable."""
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
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "fit_mesh.py")], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    iou = float(result.stdout.strip().splitlines()[-1].split()[-1])
    assert iou > 0.9
