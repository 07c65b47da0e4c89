"""The 'unlit' soft render as one op (compiled kernel set): equal to the NumPy reference in float64,
to the same kernels run op by op in float32, bit-identical run to run, and used only where its
conditions hold."""
import sys

import numpy as np
import pytest

import diffprog as dp
from diffprog import render as R
from diffprog.render import fused
from test_kernels import SOFT, assert_same, random_scene, run

pytest.importorskip("numba")


@pytest.fixture
def calls(monkeypatch):
    seen = []
    forward = fused.FusedUnlitRender.forward
    monkeypatch.setattr(fused.FusedUnlitRender, "forward",
                        staticmethod(lambda ctx, *a: seen.append(1) or forward(ctx, *a)))
    return seen


@pytest.mark.parametrize("ras,orthographic", [
    (SOFT, False), (SOFT, True), (dict(sigma=1e-7, gamma=1e-6, cull_backfaces=True), False),
    (dict(sigma=3e-3, gamma=1e-2), True)])
def test_fused_unlit_equals_the_reference(ras, orthographic, calls):
    ref = run("numpy", 8, "unlit", R.SoftRasterizer(**ras), orthographic=orthographic, near_plane=False)
    assert not calls
    out = run("numba", 8, "unlit", R.SoftRasterizer(**ras), orthographic=orthographic, near_plane=False)
    assert calls and ref[0][..., 3].max() > 0.3
    assert_same(out, ref, 1e-10)
    again = run("numba", 8, "unlit", R.SoftRasterizer(**ras), orthographic=orthographic, near_plane=False)
    for a, b in zip(out, again):                                          # bit-identical run to run
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_fused_unlit_float32_equals_the_composed_kernels(calls, monkeypatch):
    out = run("numba", 9, "unlit", R.SoftRasterizer(**SOFT), np.float32, near_plane=False)
    assert calls and out[0].dtype == np.float32
    monkeypatch.setattr(sys.modules["diffprog.render.render"], "unlit_soft_render", lambda *args: None)
    calls.clear()
    composed = run("numba", 9, "unlit", R.SoftRasterizer(**SOFT), np.float32, near_plane=False)
    assert not calls
    assert_same(out, composed, 1e-5)


@pytest.mark.parametrize("background", ["colour", "per camera"])
def test_fused_unlit_backgrounds_and_constant_inputs(background, calls):
    # constant colours and background (no gradient asked of them), a background per camera
    mesh = random_scene(10, near_plane=False)
    cams = R.look_at(eye=[(0.0, 0.0, 2.5), (0.3, 0.2, 2.4)], fov=50, image_size=(13, 11))
    bg = (np.array([0.2, 0.3, 0.4]) if background == "colour"
          else np.random.default_rng(2).random((2, 13, 11, 3)))
    colors = mesh.colors.data
    weights = np.random.default_rng(3).random((2, 13, 11, 4))
    outs = []
    for kernels in ("numba", "numpy"):
        R.set_kernels(kernels)
        verts = dp.tensor(mesh.verts.data, requires_grad=True)
        m = R.Mesh(verts, mesh.faces, colors=colors)
        img = R.render(m, cams, rasterizer=R.SoftRasterizer(**SOFT), shader="unlit", background=bg)
        dp.sum(img * weights).backward()
        outs.append([img.data, verts.grad])
    assert len(calls) == 1
    assert_same(outs[0], outs[1], 1e-10)


def test_composed_path_where_the_fused_op_does_not_apply(calls):
    R.set_kernels("numba")
    cams = R.look_at(eye=(0.0, 0.0, 2.5), fov=50, image_size=(9, 8))
    white = random_scene(11, near_plane=False, vertex_colors=False)          # no vertex colours: white
    img = R.render(white, cams, rasterizer=R.SoftRasterizer(**SOFT), shader="unlit")
    textured = random_scene(11, near_plane=False, texture=True)
    R.render(textured, cams, rasterizer=R.SoftRasterizer(**SOFT), shader="unlit")
    capped = random_scene(11, near_plane=False)
    R.render(capped, cams, rasterizer=R.SoftRasterizer(faces_per_pixel=2, **SOFT), shader="unlit")
    clipped = random_scene(11)                                               # faces straddle the near plane
    R.render(clipped, cams, rasterizer=R.SoftRasterizer(**SOFT), shader="unlit")
    assert not calls and img.shape == (1, 9, 8, 4)
