"""The bundled photographs agree with diffprog's cameras: the z-buffer render of each mesh under the
bundled cameras covers the photographs' alpha masks (rendered independently by Mitsuba 3)."""
import json
import os

import numpy as np
import pytest

from diffprog import render as R
from diffprog.fit import silhouette_iou
from diffprog.io import read_image

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "assets")


@pytest.mark.parametrize("mesh_file, photos", [("spot/spot_triangulated.obj", "spot/photos"),
                                               ("horseshoe/horseshoe.obj", "horseshoe/photos")])
def test_hard_render_matches_photograph_masks(mesh_file, photos):
    mesh = R.load_mesh(os.path.join(ASSETS, mesh_file), requires_grad=False)
    cams, files = R.load_transforms(os.path.join(ASSETS, photos, "transforms.json"))
    assert len(files) == 24
    masks = np.stack([read_image(f)[..., 3] for f in files])
    assert masks.shape[1:] == cams.image_size
    ious = []
    for start in range(0, 24, 8):
        alpha = np.asarray(R.render(mesh, cams[start:start + 8], rasterizer=R.HardRasterizer(),
                                    shader="silhouette").data)[..., 3]
        ious += [silhouette_iou(a, m) for a, m in zip(alpha, masks[start:start + 8])]
    assert min(ious) >= 0.99, ious


def test_photographs_are_rgba_with_fit_and_held_out_split():
    meta = json.load(open(os.path.join(ASSETS, "spot", "photos", "transforms.json")))
    splits = [frame["split"] for frame in meta["frames"]]
    assert splits.count("fit") == 20 and splits.count("held_out") == 4
    image = read_image(os.path.join(ASSETS, "spot", "photos", meta["frames"][0]["file_path"]))
    assert image.shape == (256, 256, 4)
    alpha = image[..., 3]
    assert 0.1 < np.mean(alpha > 0.5) < 0.5                      # the object, not the whole frame
    assert alpha[0].max() == 0 and alpha[-1].max() == 0          # nothing cut off at the borders
    assert np.any((alpha > 0) & (alpha < 1))                     # anti-aliased edges (coverage)
