"""ISTA/FISTA: rates, agreement with scikit-learn's Lasso, line search, gap stopping, history."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import prox
from diffprog.optim import ista, fista, lipschitz_constant


def lasso_problem(rng, n=60, p=30):
    A = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:5] = rng.standard_normal(5) * 2
    b = A @ w + 0.1 * rng.standard_normal(n)
    return A, b


def test_fista_k2_and_ista_k_rates_by_fitted_slopes():
    """A diagonal quadratic whose spectrum is dense near 0 with ||x0 - x*||^2 spread evenly over it
    is the textbook worst case: the objective gap decays like 1/k for ISTA, 1/k^2 for FISTA."""
    m = 5000
    curvature = np.arange(1, m + 1) / m
    target = 1.0 / np.sqrt(curvature)

    def f(x):
        return 0.5 * dp.sum(curvature * (x - target) ** 2)
    k = np.arange(1, 61)
    fit = k >= 5
    slopes = {}
    for solver, kw in ((ista, {}), (fista, {"restart": None})):
        result = solver(f, prox.box(-1e6, 1e6), np.zeros(m), step=1.0, max_iter=60, tol=0, **kw)
        gap = result.history["objective"]               # the optimum is 0
        slopes[solver.__name__] = np.polyfit(np.log(k[fit]), np.log(gap[fit]), 1)[0]
    assert -1.2 < slopes["ista"] < -0.8
    assert -2.3 < slopes["fista"] < -1.65


def test_fista_solves_lasso_like_sklearn(rng):
    from sklearn.linear_model import Lasso
    A, b = lasso_problem(rng)
    n = A.shape[0]
    alpha = 0.1

    def f(x):
        r = A @ x - b
        return 0.5 * dp.sum(r * r) / n

    def gap(x):
        r = b - A @ x
        corr = A.T @ r
        scale = min(1.0, n * alpha / np.max(np.abs(corr)))
        primal = 0.5 * r @ r + n * alpha * np.abs(x).sum()
        return primal - (-0.5 * scale ** 2 * r @ r + scale * r @ b)
    reference = Lasso(alpha, fit_intercept=False, tol=1e-12, max_iter=100000).fit(A, b).coef_
    for solver in (ista, fista):
        result = solver(f, prox.l1(alpha), np.zeros(A.shape[1]), duality_gap=gap, gap_tol=1e-10,
                        max_iter=20000)
        assert result.converged
        assert result.history["gap"][-1] <= 1e-10
        np.testing.assert_allclose(result.x, reference, atol=1e-6)
    slow = ista(f, prox.l1(alpha), np.zeros(A.shape[1]), duality_gap=gap, gap_tol=1e-10, max_iter=20000)
    fast = fista(f, prox.l1(alpha), np.zeros(A.shape[1]), duality_gap=gap, gap_tol=1e-10, max_iter=20000)
    assert fast.n_iter < slow.n_iter


def test_backtracking_and_restart_variants_agree(rng):
    A, b = lasso_problem(rng)

    def f(x):
        r = A @ x - b
        return 0.5 * dp.sum(r * r)
    results = [fista(f, prox.l1(2.0), np.zeros(A.shape[1]), step=s, restart=r, tol=1e-10, max_iter=20000)
               for s, r in ((None, "gradient"), ("backtracking", "gradient"), (None, "function"), (None, None))]
    for res in results[1:]:
        np.testing.assert_allclose(res.x, results[0].x, atol=1e-6)
    steps = results[1].history["step"]
    assert np.all(np.diff(steps) <= 0) and steps[-1] <= 1.0 / np.linalg.norm(A, 2) ** 2 * 2.0 + 1e-12
    objective = results[2].history["objective"]               # function restart: monotone
    assert np.all(np.diff(objective) <= 1e-10 * abs(objective[0]))


def test_lipschitz_power_iteration_is_exact_on_quadratics(rng):
    A = rng.standard_normal((40, 25))
    L = lipschitz_constant(lambda x: 0.5 * dp.sum((A @ x) ** 2), np.zeros(25), n_iter=300, rtol=1e-12)
    assert L == pytest.approx(np.linalg.norm(A, 2) ** 2, rel=1e-4)


def test_history_and_result_fields(rng):
    A, b = lasso_problem(rng, 20, 10)
    res = ista(lambda x: 0.5 * dp.sum((A @ x - b) ** 2), prox.nonneg(), np.zeros(10), max_iter=7, tol=0)
    assert res.n_iter == 7 and not res.converged
    assert all(len(v) == 7 for v in res.history.values())
    assert np.all(np.isnan(res.history["gap"]))
    assert np.all(res.x >= 0)
    assert "ProximalResult" in repr(res)


def test_bad_arguments():
    f = lambda x: dp.sum(x * x)  # noqa: E731
    with pytest.raises(TypeError, match="prox"):
        ista(f, lambda x, s: x, np.zeros(3))
    with pytest.raises(ValueError, match="step"):
        fista(f, prox.l1(1.0), np.zeros(3), step=-1.0)
    with pytest.raises(ValueError, match="x0 contains NaN"):
        fista(f, prox.l1(1.0), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="restart"):
        fista(f, prox.l1(1.0), np.zeros(3), restart="sometimes")
    with pytest.raises(ValueError, match="max_iter"):
        ista(f, prox.l1(1.0), np.zeros(3), max_iter=0)
