"""Random Lasso problems, including awkward ones (duplicate and zero columns, p > n, tiny alphas,
sparse and centered designs): diffprog's objective is never worse than scikit-learn's at tight
tolerances, and every alpha of a path is certified by its own duality gap."""
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn import linear_model as sk

from diffprog.sparse import ConvergenceWarning, Lasso, lasso_path


def random_problem(seed):
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(15, 70)), int(rng.integers(5, 140))
    X = rng.standard_normal((n, p)) * rng.uniform(0.2, 3.0, p)
    if p > 3 and seed % 3 == 0:
        X[:, 1] = X[:, 0]                            # duplicated feature: a singular Gram matrix
        X[:, 2] = 0.0                                # a feature that never enters
    k = int(rng.integers(1, max(2, min(n, p) // 2)))
    w = np.zeros(p)
    w[rng.choice(p, k, replace=False)] = rng.standard_normal(k) * 2
    y = X @ w + rng.uniform(0.0, 0.5) * rng.standard_normal(n) + rng.uniform(-2, 2)
    if seed % 4 == 1:
        X = scipy.sparse.csc_matrix(X * (rng.random(X.shape) < 0.3))
    return X, y


def objective(X, y, w, b, alpha):
    r = y - X @ w - b
    return 0.5 * r @ r / len(y) + alpha * np.abs(w).sum()


@pytest.mark.parametrize("seed", range(24))
def test_random_lasso_never_worse_than_sklearn(seed):
    X, y = random_problem(seed)
    fit_intercept = seed % 2 == 0
    yc = y - y.mean() if fit_intercept else y
    Xc = X.toarray() if scipy.sparse.issparse(X) else X
    Xc = Xc - Xc.mean(0) if fit_intercept else Xc
    alpha_max = np.max(np.abs(Xc.T @ yc)) / len(y)
    for fraction in (0.5, 0.05, 1e-3):
        alpha = fraction * alpha_max
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours = Lasso(alpha, fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
        warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = sk.Lasso(alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=200000).fit(X, y)
        f_ours = objective(X, y, ours.coef_, ours.intercept_, alpha)
        f_ref = objective(X, y, ref.coef_, ref.intercept_, alpha)
        assert f_ours <= f_ref + 1e-9 * abs(f_ref) + 1e-15, (seed, fraction, f_ours, f_ref)
        # at tol 1e-12 the gap may sit on the conditioning floor: then it is reported, never silent
        assert ours.dual_gap_ <= 1e-12 * (yc @ yc) / len(y) * 1.0001 or warned, (seed, fraction)


@pytest.mark.parametrize("seed", range(12))
def test_random_paths_are_certified_at_every_alpha(seed):
    X, y = random_problem(100 + seed)
    tol = 1e-8
    alphas, coefs, gaps, n_iters = lasso_path(X, y, n_alphas=40, eps=1e-3, tol=tol, return_n_iter=True)
    dense = X.toarray() if scipy.sparse.issparse(X) else X
    n = len(y)
    for i, alpha in enumerate(alphas):                 # recompute each gap from the solution alone
        r = y - dense @ coefs[:, i]
        corr = dense.T @ r
        scale = min(1.0, n * alpha / np.max(np.abs(corr))) if np.any(corr) else 1.0
        gap = 0.5 * r @ r + n * alpha * np.abs(coefs[:, i]).sum() + 0.5 * scale ** 2 * r @ r - scale * r @ y
        assert gap <= tol * (y @ y) * 1.0001 + 1e-12, (seed, i, gap)
    assert np.all(np.isfinite(gaps)) and np.all(n_iters >= 0)
