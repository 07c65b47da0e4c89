"""Proximal operators: closed forms, direct numerical minimization (scipy), gradients, errors."""
import numpy as np
import pytest
from scipy.optimize import minimize

import diffprog as dp
from diffprog import prox


def numerical_prox(op, x, step, bounds=None, constraints=()):
    """argmin_z 0.5||z - x||^2 / step + g(z) by scipy, from a few starts; returns the best z."""
    shape = np.shape(x)
    flat = np.ravel(x)

    def objective(z):
        if constraints:                          # an indicator given as constraints: quadratic only
            return 0.5 * np.sum((z - flat) ** 2) / step
        value = op.value(z.reshape(shape))
        return 0.5 * np.sum((z - flat) ** 2) / step + (1e6 if not np.isfinite(value) else value)
    best = None
    for start in (flat, np.zeros_like(flat), 0.5 * flat):
        if bounds is not None or constraints:
            res = minimize(objective, start, method="SLSQP", bounds=bounds, constraints=constraints,
                           options=dict(ftol=1e-14, maxiter=500))
        else:
            res = minimize(objective, start, method="Powell",
                           options=dict(xtol=1e-11, ftol=1e-15, maxiter=100000, maxfev=200000))
        if best is None or res.fun < best.fun:
            best = res
    return best.x.reshape(shape), best.fun


def prox_objective(op, z, x, step):
    return 0.5 * np.sum((z - x) ** 2) / step + op.value(z)


CASES = [
    ("l1", lambda: prox.l1(0.4), (6,)),
    ("elastic_net", lambda: prox.elastic_net(0.5, l1_ratio=0.3), (6,)),
    ("group_l1", lambda: prox.group_l1(0.6, [[0, 1, 2], [3, 4]]), (6,)),
    ("nonneg_l1", lambda: prox.nonneg_l1(0.3), (5,)),
    ("nuclear", lambda: prox.nuclear(0.5), (3, 2)),
    ("tv1d", lambda: prox.tv1d(0.35), (7,)),
]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_prox_matches_numerical_minimization(name, make, shape, rng):
    op = make()
    step = 0.7
    x = rng.standard_normal(shape) * 1.5
    z = np.asarray(op(x, step))
    kwargs = {}
    if name == "nonneg_l1":
        kwargs["bounds"] = [(0, None)] * x.size
    z_num, f_num = numerical_prox(op, x, step, **kwargs)
    f_ours = prox_objective(op, z, x, step)
    assert f_ours <= f_num + 1e-9
    np.testing.assert_allclose(z, z_num, atol=2e-4)


@pytest.mark.parametrize("name,op,bounds,constraints", [
    ("box", prox.box(-0.5, 0.8), [(-0.5, 0.8)] * 6, ()),
    ("nonneg", prox.nonneg(), [(0, None)] * 6, ()),
    ("l2_ball", prox.l2_ball(0.9), None, ({"type": "ineq", "fun": lambda z: 0.81 - z @ z},)),
])
def test_projections_match_constrained_minimization(name, op, bounds, constraints, rng):
    x = rng.standard_normal(6) * 1.5
    z = np.asarray(op(x, 0.3))
    z_num, _ = numerical_prox(op, x, 0.3, bounds=bounds if bounds else None, constraints=constraints)
    np.testing.assert_allclose(z, z_num, atol=1e-6)
    assert op.value(z) == 0.0


def test_closed_forms(rng):
    x = rng.standard_normal(20) * 2
    t = 0.8 * 0.5
    soft = np.sign(x) * np.maximum(np.abs(x) - t, 0)
    np.testing.assert_allclose(prox.l1(0.8)(x, 0.5), soft)
    assert prox.l1(0.8)(x, 0.5)[np.abs(x) <= t].tolist() == [0.0] * int(np.sum(np.abs(x) <= t))
    np.testing.assert_allclose(prox.elastic_net(0.8, 0.25)(x, 0.5),
                               np.sign(x) * np.maximum(np.abs(x) - 0.5 * 0.8 * 0.25, 0) / (1 + 0.5 * 0.8 * 0.75))
    np.testing.assert_allclose(prox.nonneg_l1(0.8)(x, 0.5), np.maximum(x - t, 0))
    np.testing.assert_allclose(prox.box(-1, 1)(x), np.clip(x, -1, 1))
    np.testing.assert_allclose(prox.nonneg()(x), np.maximum(x, 0))
    np.testing.assert_allclose(prox.l2_ball(2.0)(x), x * 2.0 / np.linalg.norm(x))
    np.testing.assert_allclose(prox.l2_ball(100.0)(x), x)
    # group: block soft-thresholding; index 5 is in no group and passes through
    g = prox.group_l1(1.0, [[0, 1], [2, 3, 4]], weights=[1.0, 2.0])
    v = np.array([3.0, 4.0, 0.1, 0.2, -0.1, 7.0])
    np.testing.assert_allclose(g(v, 0.5), [3 * 0.9, 4 * 0.9, 0, 0, 0, 7.0])
    assert g.value(v) == pytest.approx(5.0 + 2.0 * np.linalg.norm(v[2:5]))
    # nuclear: singular values shrunk, singular vectors kept
    M = rng.standard_normal((5, 4))
    u, s, vt = np.linalg.svd(M, full_matrices=False)
    np.testing.assert_allclose(prox.nuclear(0.5)(M, 2.0), (u * np.maximum(s - 1.0, 0)) @ vt, atol=1e-12)
    assert prox.nuclear(0.5).value(M) == pytest.approx(0.5 * s.sum())
    # tv1d: a constant signal is a fixed point; a large weight flattens to the mean
    np.testing.assert_allclose(prox.tv1d(0.3)(np.full(9, 2.5)), np.full(9, 2.5))
    y = rng.standard_normal(12)
    np.testing.assert_allclose(prox.tv1d(100.0)(y), np.full(12, y.mean()))


def test_tv1d_exact_against_dual_quadratic_program(rng):
    """The TV prox solves the dual box QP min_u 0.5||y - D^T u||^2, |u| <= t (scipy, exact)."""
    for n, t in ((50, 0.3), (200, 1.0), (31, 0.05)):
        y = np.cumsum(rng.standard_normal(n)) * 0.3 + rng.standard_normal(n)
        D = np.diff(np.eye(n), axis=0)
        res = minimize(lambda u: 0.5 * np.sum((y - D.T @ u) ** 2), np.zeros(n - 1),
                       jac=lambda u: -D @ (y - D.T @ u), method="L-BFGS-B", bounds=[(-t, t)] * (n - 1),
                       options=dict(ftol=1e-16, gtol=1e-12, maxiter=20000))
        np.testing.assert_allclose(prox.tv1d(t)(y), y - D.T @ res.x, atol=1e-5)
    batch = rng.standard_normal((3, 20))
    np.testing.assert_allclose(prox.tv1d(0.4)(batch), np.stack([prox.tv1d(0.4)(r) for r in batch]))


GRAD_CASES = [
    ("l1", lambda x, a: prox.l1(a)(x, 0.7), (8,)),
    ("elastic_net", lambda x, a: prox.elastic_net(a, 0.4)(x, 0.7), (8,)),
    ("group_l1", lambda x, a: prox.group_l1(a, [[0, 1, 2], [3, 4], [6]])(x, 0.7), (8,)),
    ("group_l1_batch", lambda x, a: prox.group_l1(a, [[0, 1, 2], [3, 4], [6]])(x, 0.7), (3, 8)),
    ("nonneg_l1", lambda x, a: prox.nonneg_l1(a)(x, 0.7), (8,)),
    ("nuclear_tall", lambda x, a: prox.nuclear(a)(x, 0.7), (5, 3)),
    ("nuclear_wide", lambda x, a: prox.nuclear(a)(x, 0.7), (3, 5)),
    ("nuclear_batch", lambda x, a: prox.nuclear(a)(x, 0.7), (2, 4, 4)),
    ("tv1d", lambda x, a: prox.tv1d(a)(x, 0.7), (10,)),
    ("tv1d_batch", lambda x, a: prox.tv1d(a)(x, 0.7), (3, 10)),
]


@pytest.mark.parametrize("name,fn,shape", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_prox_gradients_in_input_and_threshold(name, fn, shape, rng):
    x = rng.standard_normal(shape) * 2
    dp.gradcheck(fn, x, np.array(0.45))


def test_projection_gradients(rng):
    x = rng.standard_normal(8) * 2
    dp.gradcheck(lambda x, r: prox.l2_ball(r)(x), x, np.array(1.3))
    dp.gradcheck(lambda x: prox.box(-0.5, 0.5)(x), x)
    dp.gradcheck(lambda x: prox.nonneg()(x), x)


def test_numpy_in_numpy_out_and_tensor_in_tensor_out(rng):
    x = rng.standard_normal(5)
    assert type(prox.l1(0.1)(x, 0.5)) is np.ndarray
    assert type(prox.tv1d(0.1)(x)) is np.ndarray
    out = prox.l1(0.1)(dp.tensor(x, requires_grad=True), 0.5)
    assert type(out) is dp.Tensor
    out.sum().backward()


def test_bad_input_messages():
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        prox.l1(-1.0)
    with pytest.raises(ValueError, match="group 1 is empty"):
        prox.group_l1(1.0, [[0, 1], []])
    with pytest.raises(ValueError, match="overlap"):
        prox.group_l1(1.0, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="l1_ratio"):
        prox.elastic_net(1.0, l1_ratio=2.0)
    with pytest.raises(ValueError, match="lower must be <= upper"):
        prox.box(1.0, -1.0)
    with pytest.raises(ValueError, match="matrix"):
        prox.nuclear(1.0)(np.ones(3))
    assert prox.nonneg_l1(1.0).value(np.array([-1.0, 2.0])) == np.inf
    assert prox.l2_ball(1.0).value(np.array([3.0, 4.0])) == np.inf
