"""The surface colour field: per-pair shading, gradients by central differences, encodings, chunks."""
import numpy as np
import pytest

import diffprog.autodiff as dp
from diffprog import render as R
from diffprog.fit.color_field import ENCODINGS, ColorField, field_shader, render_field, shade_field, surface_points

PIXELS = [(0, 7, 8), (0, 9, 5), (1, 8, 8), (1, 6, 10)]       # (view, row, column) inside the silhouette


def _scene():
    mesh = R.ico_sphere(1, radius=0.8, requires_grad=False)
    cams = R.look_at(eye=R.orbit(n=2, elev=20, dist=2.7), fov=45, image_size=(16, 16))
    return mesh, cams


def _pixel_loss(verts, field, faces, cams, weights):
    """A weighted sum of a few pixels' RGB: the quantity whose gradient is checked."""
    mesh = R.Mesh(verts, faces, requires_grad=False)
    image = render_field(mesh, cams, field, R.SoftRasterizer(sigma=3e-4, gamma=1e-2), (0.2, 0.3, 0.4))
    picked = dp.stack([image[v, r, c, :3] for v, r, c in PIXELS])
    return dp.sum(picked * weights)


@pytest.mark.parametrize("encoding", ["gaussian", "positional", "sinusoidal", "none"])
def test_field_gradients_match_central_differences(encoding):
    mesh, cams = _scene()
    field = ColorField.around(mesh.verts.data, encoding=encoding, frequencies=4, scale=1.5, width=8, depth=2)
    weights = np.random.default_rng(0).standard_normal((len(PIXELS), 3))
    verts = dp.tensor(mesh.verts.data.copy(), requires_grad=True)
    loss = _pixel_loss(verts, field, mesh.faces, cams, weights)
    loss.backward()
    rng = np.random.default_rng(1)
    eps = 1e-6
    # vertex coordinates (a few, chosen among those the pixels depend on) and network weights
    moved = np.flatnonzero(np.abs(verts.grad).ravel() > 1e-8)
    assert len(moved) > 10
    for flat in rng.choice(moved, size=6, replace=False):
        x = mesh.verts.data.copy().ravel()
        x[flat] += eps
        up = _pixel_loss(x.reshape(-1, 3), field, mesh.faces, cams, weights).data
        x[flat] -= 2 * eps
        down = _pixel_loss(x.reshape(-1, 3), field, mesh.faces, cams, weights).data
        assert verts.grad.ravel()[flat] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)
    for param in (field.network.linears[0].weight, field.network.linears[-1].bias):
        param.grad = None
    with dp.enable_grad():
        _pixel_loss(mesh.verts.data, field, mesh.faces, cams, weights).backward()
    for param in (field.network.linears[0].weight, field.network.linears[-1].bias):
        flat = int(np.argmax(np.abs(param.grad).ravel()))
        base = param.data.copy()
        values = []
        for sign in (1, -1):
            param.data = base.copy()
            param.data.ravel()[flat] += sign * eps
            values.append(_pixel_loss(mesh.verts.data, field, mesh.faces, cams, weights).data)
        param.data = base
        assert param.grad.ravel()[flat] == pytest.approx((values[0] - values[1]) / (2 * eps), rel=1e-4, abs=1e-8)


def test_colour_is_evaluated_at_each_pairs_point_not_per_vertex():
    mesh, cams = _scene()
    field = ColorField.around(mesh.verts.data, encoding="gaussian", frequencies=16, scale=2.0, width=16, depth=1)
    fragments = R.rasterize(mesh, cams, R.SoftRasterizer(sigma=1e-4))
    colors = shade_field(field, fragments, mesh).data
    points = np.einsum("pi,pic->pc", fragments.bary.data, mesh.verts.data[mesh.faces[fragments.parent]])
    np.testing.assert_allclose(colors, field.colors_at(points), atol=1e-12)
    per_vertex = np.einsum("pi,pic->pc", fragments.bary.data, field.colors_at(mesh.verts.data)[mesh.faces[fragments.parent]])
    assert np.abs(colors - per_vertex).max() > 1e-3           # a field is not interpolated vertex colours


def test_checkpointed_blocks_give_the_same_values_and_gradients():
    rng = np.random.default_rng(2)
    field = ColorField(encoding="gaussian", frequencies=8, scale=2.0, width=8, depth=2)
    points = rng.uniform(-1, 1, (50, 3))
    weights = rng.standard_normal((50, 3))
    grads = []
    for chunk in (50, 7):
        x = dp.tensor(points, requires_grad=True)
        for p in field.parameters():
            p.grad = None
        dp.sum(field.evaluate(x, chunk=chunk) * weights).backward()
        grads.append([x.grad] + [p.grad.copy() for p in field.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_uv_field_and_shader_callable():
    mesh, cams = _scene()
    uvs = mesh.verts.data[:, :2] * 0.5 + 0.5
    textured = R.Mesh(mesh.verts.data, mesh.faces, uvs=uvs, requires_grad=False)
    field = ColorField.around(uvs, encoding="positional", frequencies=3, width=8, depth=1)
    fragments = R.rasterize(textured, cams, R.SoftRasterizer())
    colors = field_shader(field)(fragments, textured, cams, None)
    assert colors.shape == (len(fragments), 3)
    np.testing.assert_allclose(colors.data, field.colors_at(surface_points(fragments, textured, use_uvs=True).data))
    with pytest.raises(ValueError, match="no UVs"):
        surface_points(fragments, mesh, use_uvs=True)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="encoding"):
        ColorField(encoding="fourier")
    with pytest.raises(ValueError, match="width"):
        ColorField(width=0)
    with pytest.raises(ValueError, match="scale"):
        ColorField(scale=-1.0)
    assert set(ENCODINGS) == {"none", "positional", "sinusoidal", "gaussian"}
