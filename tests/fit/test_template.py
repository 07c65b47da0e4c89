"""Template edits: exact zeros from the proximal step, its metric, the smooth part's gradient, a tiny fit."""
import numpy as np
import pytest

import diffprog.autodiff as dp
from diffprog import optim, render as R
from diffprog.fit.template import OffsetL1, TemplateOffsets


def _sphere():
    sphere = R.ico_sphere(2, radius=0.8, requires_grad=False)
    return sphere.verts.data.copy(), sphere.faces


def test_prox_step_gives_exact_zeros_and_bit_identical_template_vertices():
    template, faces = _sphere()
    template = template + 1e-3 * np.random.default_rng(0).standard_normal(template.shape)   # not round numbers
    t = TemplateOffsets(template, faces, l1=0.5)
    opt = t.optimizer(lr=0.01, kind="sgd")
    grad = np.zeros_like(template)
    grad[:5] = [[-100.0, 0.2, 0.0]] * 5                        # only the first 5 vertices feel a pull above l1
    grad[5:] = 0.3 * np.sign(np.random.default_rng(1).standard_normal(grad[5:].shape))
    t.offsets.grad = grad
    opt.step()
    assert np.all(t.offsets.data[5:] == 0.0) and np.all(t.offsets.data[:5, 1:] == 0.0)
    np.testing.assert_allclose(t.offsets.data[:5, 0], 0.01 * (100.0 - 0.5))      # soft-threshold at lr * l1
    verts = t.verts().data
    assert np.array_equal(verts[5:], template[5:])               # bit-identical, not merely close
    assert t.moved().tolist() == [True] * 5 + [False] * (len(template) - 5)


def test_adam_prox_thresholds_the_gradient_not_the_normalized_step():
    """With Adam the soft-threshold is lr * l1 / d: a coordinate leaves zero iff |gradient| > l1."""
    offsets = dp.tensor(np.zeros(6), requires_grad=True)
    hook = OffsetL1(l1=1.0)
    opt = optim.Adam([offsets], lr=0.1)
    hook.optimizer, opt.prox = opt, hook
    g = np.array([0.01, 0.5, 0.99, 1.01, 2.0, -4.0])
    offsets.grad = g
    opt.step()
    d = np.abs(g) + 1e-8                                         # first step: m_hat = g, sqrt(v_hat) = |g|
    expected = -np.sign(g) * np.maximum(0.1 * np.abs(g) / d - 0.1 * 1.0 / d, 0.0)
    np.testing.assert_allclose(offsets.data, expected, rtol=1e-10, atol=1e-15)
    assert offsets.data[:3].tolist() == [0.0, 0.0, 0.0] and np.all(offsets.data[3:] != 0)
    hook.restrict_to_support(offsets.data)                       # refit: the support keeps moving unshrunk
    offsets.grad = g
    opt.step()
    assert offsets.data[:3].tolist() == [0.0, 0.0, 0.0]
    assert np.all(np.abs(offsets.data[3:]) > np.abs(expected[3:]))


def test_smooth_part_matches_central_differences():
    sphere = R.ico_sphere(1, radius=0.8, requires_grad=False)
    template, faces = sphere.verts.data.copy(), sphere.faces
    cams = R.look_at(eye=R.orbit(n=2, elev=25, dist=2.7), fov=45, image_size=(16, 16))
    rng = np.random.default_rng(2)
    target = rng.uniform(0, 1, (2, 16, 16))
    t = TemplateOffsets(template, faces, l1=0.1, l2=0.3, smoothness=0.2)

    def smooth(offsets):
        t.offsets = offsets
        image = R.render(R.Mesh(t.verts(), faces, requires_grad=False), cams,
                         rasterizer=R.SoftRasterizer(sigma=1e-3), shader="silhouette")
        return R.mse_loss(image[..., 3], target) + t.penalty()
    assert dp.gradcheck(smooth, 0.02 * rng.standard_normal(template.shape), eps=1e-6, atol=1e-6, rtol=1e-4)
    zero = dp.tensor(np.zeros_like(template), requires_grad=True)
    t.offsets = zero
    t.penalty().backward()
    assert np.all(zero.grad == 0)                                # the regularizers do not pull off the template


def test_bad_strengths_are_named():
    template, faces = _sphere()
    with pytest.raises(ValueError, match="l1"):
        TemplateOffsets(template, faces, l1=-1)
    with pytest.raises(ValueError, match="template"):
        TemplateOffsets(template[:, :2], faces)
    with pytest.raises(ValueError, match="kind"):
        TemplateOffsets(template, faces).optimizer(0.1, kind="lbfgs")


def test_tiny_template_edit_recovers_the_moved_group_and_leaves_the_rest_bit_identical():
    template, faces = _sphere()
    group = template[:, 2] > 0.6                                 # a cap of 19 vertices pushed outwards
    truth = template.copy()
    truth[group] *= 1.15
    cams = R.look_at(eye=R.orbit(n=8, elev=25, dist=2.7), fov=45, image_size=(32, 32))
    rasterizer = R.SoftRasterizer(sigma=1e-3)
    with dp.no_grad():
        target = R.render(R.Mesh(truth, faces, requires_grad=False), cams, rasterizer=rasterizer,
                          shader="silhouette")[..., 3].data
    t = TemplateOffsets(template, faces, l1=3e-3, smoothness=0.01)
    opt = t.optimizer(lr=0.01)
    for step in range(150):
        if step == 120:
            t.refit(opt)
        image = R.render(R.Mesh(t.verts(), faces, requires_grad=False), cams, rasterizer=rasterizer,
                         shader="silhouette")
        loss = 100 * R.mse_loss(image[..., 3], target) + t.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
    error = np.linalg.norm(t.verts().data - truth, axis=1)
    assert error[group].mean() < 0.01 and error[group].max() < 0.05   # moved by 0.12-0.14; a pixel is 0.07
    near = group.copy()
    for _ in range(3):                                            # the group and three rings of neighbours
        near[faces[near[faces].any(axis=1)].ravel()] = True
    assert np.array_equal(t.verts().data[~near], template[~near])           # the rest is bit-identical
    moved = t.moved()
    assert moved[group].all() and np.mean(~moved[~group]) >= 0.75
