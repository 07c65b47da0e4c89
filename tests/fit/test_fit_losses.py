"""The fit's image losses computed without slicing or blending images equal the plain definitions:
mean squared errors of the rendered RGBA image's channels against the photographs."""
import os

import numpy as np

import diffprog as dp
from diffprog import render as R
from diffprog.fit import Fitter
from diffprog.fit.scene import load_scene, read_views

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "scenes", "horseshoe_tiny.toml")


def _fitter(**overrides):
    scene = load_scene(TINY, overrides)
    return Fitter(scene, read_views(scene, scene["render.image_size"], scene.fit_views))


def _gradients(loss, params):
    for p in params:
        p.grad = None
    loss.backward()
    grads = [np.asarray(p.grad, float) for p in params if p.grad is not None]
    assert grads and max(np.abs(g).max() for g in grads) > 0
    return grads


def test_shape_stage_image_errors_equal_the_channels_mean_squared_errors():
    fitter = _fitter(**{"schedule.color_subdivide": False})
    fitter.step()
    views = np.array([0, 2])
    ras = R.SoftRasterizer(sigma=1e-4, gamma=1e-4)
    params = [p for group in fitter.optimizer.param_groups for p in group["params"]]

    def fused(name):
        return fitter._image_errors(fitter.render(views, ras), views)[name]

    def plain(name):
        image = fitter.render(views, ras)
        if name == "silhouette":
            return R.mse_loss(image[..., 3], fitter.target_alphas(views))
        return R.mse_loss(image[..., :3], fitter._target("target_rgb", views))

    for name in ("silhouette", "rgb"):
        np.testing.assert_allclose(float(fused(name).data), float(plain(name).data), rtol=1e-12)
        for a, b in zip(_gradients(fused(name), params), _gradients(plain(name), params)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)


def test_color_stage_loss_over_pairs_equals_the_blended_images_error():
    fitter = _fitter(**{"schedule.color_subdivide": False})
    fitter.step()
    fitter._begin_color_stage()
    rng = np.random.default_rng(3)
    fitter.colors.data[:] = rng.random(fitter.colors.data.shape)
    loss = fitter.color_losses()["rgb"]

    views = np.arange(len(fitter.views))
    ras = R.HardRasterizer()
    fragments = fitter._color_fragments[fitter.image_sizes[0]][0]
    with dp.no_grad():
        gain, bias = fitter.gain_and_bias(views)
    colors = R.interpolate(fitter.vertex_colors(dp.tensor(fitter.verts.data), fitter._color_basis), fitter.faces,
                           fragments)
    from diffprog.fit.shading import exposed
    image = ras.blend(fragments, exposed(colors, fragments, gain, bias), fitter.background)
    plain = R.mse_loss(image[..., :3], fitter._target("target_rgb", views))
    np.testing.assert_allclose(float(loss.data), float(plain.data), rtol=1e-12)
    params = [p for group in fitter.optimizer.param_groups for p in group["params"] if p.requires_grad]
    for a, b in zip(_gradients(fitter.color_losses()["rgb"], params), _gradients(plain, params)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)
