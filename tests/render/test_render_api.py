"""render(): shader callables, the 'unlit' shader, and errors caught at render time."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import render as R


def _scene(**mesh_kw):
    mesh = R.ico_sphere(1)
    colors = np.random.default_rng(0).random((mesh.num_verts, 3))
    mesh = R.Mesh(mesh.verts.data, mesh.faces, colors=colors, **mesh_kw)
    cams = R.look_at(eye=R.orbit(2, elev=20, dist=2.7), fov=45, image_size=(24, 24))
    return mesh, cams


def test_callable_shader_matches_builtin_unlit_and_differentiates():
    def vertex_colours(fragments, mesh, cams, lights):
        return R.interpolate(mesh.colors, mesh.faces, fragments)

    grads = []
    for shader in ("unlit", vertex_colours):
        mesh, cams = _scene()
        img = R.render(mesh, cams, shader=shader, background=(0.2, 0.3, 0.4))
        dp.sum(img * np.random.default_rng(1).random(img.shape)).backward()
        grads.append((img.data, mesh.verts.grad, mesh.colors.grad))
    # (the compiled set runs the built-in one as one fused op: the same sums, gradients grouped otherwise)
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1:], grads[1][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    assert np.abs(grads[0][1]).max() > 0 and np.abs(grads[0][2]).max() > 0


def test_callable_shader_any_number_of_channels():
    mesh, cams = _scene()

    def depth_feature(fragments, mesh, cams, lights):            # 2 channels: depth and a constant
        return dp.stack([fragments.depth, dp.ones_like(fragments.depth)], axis=1)
    img = R.render(mesh, cams, shader=depth_feature, background=(0.0, 0.0))
    assert img.shape == (2, 24, 24, 3)
    dp.sum(img[..., 0]).backward()
    assert np.abs(mesh.verts.grad).max() > 0


def test_callable_shader_wrong_shape_is_named():
    mesh, cams = _scene()
    with pytest.raises(ValueError, match="shader: bad returned colours of shape"):
        R.render(mesh, cams, shader=_named_bad, background=(0, 0, 0))


def _named_bad(fragments, mesh, cams, lights):
    return dp.zeros((len(fragments) + 1, 3))


_named_bad.__name__ = "bad"


def test_unknown_shader_name():
    mesh, cams = _scene()
    with pytest.raises(ValueError, match="shader: expected one of"):
        R.render(mesh, cams, shader="toon")


def test_hard_rasterizer_with_nothing_in_view_is_not_connected_to_the_mesh():
    mesh, cams = _scene()
    far = R.Mesh(mesh.verts.data + [50.0, 0.0, 0.0], mesh.faces, colors=mesh.colors.data)
    img = R.render(far, cams, R.DirectionalLight(), rasterizer=R.HardRasterizer(), shader="phong")
    assert np.all(img.data[..., 3] == 0)
    with pytest.raises(RuntimeError, match="does not require grad"):
        dp.sum(img).backward()


def test_nan_written_into_verts_after_construction_is_caught_at_render_time():
    mesh, cams = _scene()
    bad = mesh.verts.data.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError) as at_construction:
        R.Mesh(bad, mesh.faces)
    mesh.verts.data[3, 1] = np.nan
    for call in (lambda: R.render(mesh, cams), lambda: R.rasterize(mesh, cams)):
        with pytest.raises(ValueError) as at_render:
            call()
        assert str(at_render.value) == str(at_construction.value)
        assert "verts: vertex 3 is not finite" in str(at_render.value)
