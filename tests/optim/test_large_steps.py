"""Large Steps: the parameterization u = (I + lambda L) x, its inverse and gradient, AdamUniform."""
import numpy as np
import pytest

import diffprog.autodiff as dp
from diffprog import optim
from diffprog import render as R


def _sphere(level=2):
    mesh = R.ico_sphere(level, requires_grad=False)
    return np.asarray(mesh.verts.data, float), mesh.faces


def test_uniform_laplacian_matches_its_definition():
    verts, faces = _sphere(1)
    L = optim.uniform_laplacian(faces, len(verts)).toarray()
    adjacency = np.zeros_like(L)
    for f in faces:
        for i in range(3):
            adjacency[f[i], f[(i + 1) % 3]] = adjacency[f[(i + 1) % 3], f[i]] = 1
    np.testing.assert_array_equal(L, np.diag(adjacency.sum(1)) - adjacency)
    np.testing.assert_allclose(L @ np.ones(len(verts)), 0)


@pytest.mark.parametrize("lambda_", [0.0, 1.0, 19.0, 100.0])
def test_round_trip_is_exact(lambda_):
    verts, faces = _sphere(3)
    param = optim.LargeSteps(faces, len(verts), lambda_=lambda_)
    u = param.to_differential(verts)
    np.testing.assert_allclose(param.vertices(u), verts, atol=1e-10, rtol=0)
    colours = np.random.default_rng(0).random((len(verts), 5))
    np.testing.assert_allclose(param.solve(param.to_differential(colours)), colours, atol=1e-10, rtol=0)
    dense = np.eye(len(verts)) + lambda_ * optim.uniform_laplacian(faces, len(verts)).toarray()
    np.testing.assert_allclose(u, dense @ verts, atol=1e-12)


def test_gradient_against_finite_differences():
    verts, faces = _sphere(1)
    param = optim.LargeSteps(faces, lambda_=5.0)
    weights = np.random.default_rng(1).standard_normal(verts.shape)
    u0 = param.to_differential(verts)
    assert dp.gradcheck(lambda u: dp.sum(param.vertices(u) ** 3 * weights), u0)


def test_gradient_is_the_smoothed_gradient():
    """d loss / d u = M^-1 d loss / d x (M symmetric)."""
    verts, faces = _sphere(2)
    param = optim.LargeSteps(faces, lambda_=10.0)
    u = param.parameter(verts)
    target = np.random.default_rng(2).standard_normal(verts.shape)
    loss = dp.sum(param.vertices(u) * target)
    loss.backward()
    dense = np.eye(len(verts)) + 10.0 * optim.uniform_laplacian(faces, len(verts)).toarray()
    np.testing.assert_allclose(u.grad, np.linalg.solve(dense, target), atol=1e-10)


def test_adam_uniform_step_matches_the_paper():
    x = dp.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    opt = optim.AdamUniform([x], lr=0.1, betas=(0.9, 0.99), eps=0.0)
    grads = [np.array([[0.5, -1.0], [2.0, 0.1]]), np.array([[1.5, 0.0], [-1.0, 0.3]])]
    m = v = 0
    expected = x.data.copy()
    for t, g in enumerate(grads, 1):
        x.grad = g
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        expected = expected - 0.1 * (m / (1 - 0.9 ** t)) / np.sqrt(v.max() / (1 - 0.99 ** t))
        np.testing.assert_allclose(x.data, expected, rtol=1e-12)


def test_large_steps_smooths_a_noisy_fit():
    """Fitting noisy targets for a few steps: the Large Steps path stays smoother than plain Adam."""
    verts, faces = _sphere(3)
    rng = np.random.default_rng(3)
    target = verts * 1.3 + 0.02 * rng.standard_normal(verts.shape)
    L = optim.uniform_laplacian(faces, len(verts))
    param = optim.LargeSteps(faces, lambda_=20.0)
    u = param.parameter(verts)
    opt = optim.AdamUniform([u], lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        loss = dp.sum((param.vertices(u) - target) ** 2)
        loss.backward()
        opt.step()
    fitted = param.vertices(u.data)
    assert np.linalg.norm(np.linalg.norm(fitted, axis=1).mean() - 1.3) < 0.1       # moved to the target's scale
    assert np.abs(L @ fitted).mean() < 0.5 * np.abs(L @ target).mean()              # without its noise


def test_errors_name_the_argument():
    verts, faces = _sphere(1)
    with pytest.raises(ValueError, match="lambda_"):
        optim.LargeSteps(faces, lambda_=-1)
    param = optim.LargeSteps(faces)
    with pytest.raises(ValueError, match=r"u: expected \(42, C\)"):
        param.vertices(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="faces"):
        optim.LargeSteps(np.zeros((4, 2), int))


def test_example_large_steps_is_smoother_than_adam():
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "large_steps.py")
    spec = importlib.util.spec_from_file_location("large_steps_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    error_adam, rough_adam = example.run(False, steps=100)
    error_ls, rough_ls = example.run(True, steps=100)
    assert rough_ls < 0.5 * rough_adam and error_ls < 0.02


def test_a_repeated_solve_is_the_same_fresh_array():
    """solve remembers its last (u, x): the same u gives x again, as a new array; another u is solved."""
    verts, faces = _sphere(2)
    param = optim.LargeSteps(faces, lambda_=2.0)
    u = param.to_differential(verts)
    first = param.solve(u)
    again = param.solve(u.copy())
    np.testing.assert_array_equal(first, again)
    again[:] = 0.0                                                   # the caller owns what it gets
    np.testing.assert_array_equal(param.solve(u), first)
    moved = u + 0.01
    np.testing.assert_allclose(param.solve(moved), np.linalg.solve(param.matrix.toarray(), moved), atol=1e-10)
