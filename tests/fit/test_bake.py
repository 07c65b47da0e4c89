"""Baking a colour field into a UV texture: face-centre colours to 1/255, both unwrappers, the files."""
import os

import numpy as np
import pytest

import diffprog.autodiff as dp
from diffprog import render as R
from diffprog.io import read_image, read_mesh
from diffprog.fit.bake import bake_texture, export_textured, has_xatlas, per_face_atlas, unwrap
from diffprog.fit.color_field import ColorField

METHODS = ["per_face"] + (["xatlas"] if has_xatlas() else [])


@pytest.fixture(scope="module")
def scene():
    mesh = R.ico_sphere(2, radius=0.8, requires_grad=False)
    field = ColorField.around(mesh.verts.data, encoding="gaussian", frequencies=16, scale=0.5, width=16, depth=1)
    return mesh.verts.data, mesh.faces, field


@pytest.mark.parametrize("method", METHODS)
def test_baked_texture_reproduces_the_field_at_face_centres(scene, method):
    verts, faces, field = scene
    uvs, face_uvs, used = unwrap(verts, faces, size=512, method=method)
    assert used == method and uvs.min() >= 0 and uvs.max() <= 1 and face_uvs.shape == faces.shape
    texture = bake_texture(field, verts, faces, uvs, face_uvs, size=512)
    stored = np.round(texture * 255) / 255                                   # what the PNG holds
    centre_uv = uvs[face_uvs].mean(axis=1)
    looked_up = R.sample_texture(dp.tensor(stored), centre_uv).data
    expected = field.colors_at(verts[faces].mean(axis=1))
    assert np.ptp(expected, axis=0).min() > 20 / 255                         # a field that varies
    assert np.abs(looked_up - expected).max() <= 1 / 255


def test_per_face_atlas_triangles_do_not_overlap():
    uvs, face_uvs = per_face_atlas(37, size=256, padding=2)
    tri = uvs[face_uvs] * 256
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert np.all(area > 10)                                                 # each face gets texels
    centres = tri.mean(axis=1)
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + 1e9 * np.eye(37)
    assert gaps.min() > 2
    with pytest.raises(ValueError, match="size"):
        per_face_atlas(10000, size=64)


def test_export_writes_obj_mtl_texture_and_vertex_colours(scene, tmp_path):
    verts, faces, field = scene
    used = export_textured(tmp_path / "fitted.obj", field, verts, faces, size=256, method=METHODS[-1])
    assert used == METHODS[-1]
    assert sorted(os.listdir(tmp_path)) == ["fitted.mtl", "fitted.obj", "texture.png"]
    assert "map_Kd texture.png" in (tmp_path / "fitted.mtl").read_text()
    first_v = next(line for line in (tmp_path / "fitted.obj").read_text().splitlines() if line.startswith("v "))
    assert len(first_v.split()) == 7                                           # x y z r g b
    back = read_mesh(tmp_path / "fitted.obj")
    assert back["texture"].shape == (256, 256, 3)
    np.testing.assert_allclose(back["texture"], read_image(tmp_path / "texture.png")[..., :3], atol=1e-12)
    assert len(back["verts"]) == len(verts)


def test_automatic_per_face_atlas_grows_a_texture_too_small_for_it(scene, tmp_path, monkeypatch):
    # without xatlas, 'auto' falls back to the per-face atlas: a texture_size too small for it (known
    # only after the fit, when the faces are) gives a bigger texture and a warning, not an error
    import diffprog.fit.bake as bake
    verts, faces, field = scene                                            # 320 faces: 13 x 13 cells
    monkeypatch.setattr(bake, "has_xatlas", lambda: False)
    with pytest.warns(UserWarning, match="texture_size: 64 texels are too few .* 128 x 128"):
        used = export_textured(tmp_path / "fitted.obj", field, verts, faces, size=64)
    assert used == "per_face"
    assert read_mesh(tmp_path / "fitted.obj")["texture"].shape == (128, 128, 3)
    with pytest.raises(ValueError, match="size"):                        # asked for explicitly: refused
        export_textured(tmp_path / "again.obj", field, verts, faces, size=64, method="per_face")
