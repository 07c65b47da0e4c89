"""Lasso / ElasticNet / lasso_path / LassoCV against scikit-learn, on dense and sparse X."""
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn import linear_model as sk

from diffprog.sparse import ConvergenceWarning, ElasticNet, Lasso, LassoCV, NotFittedError, enet_path, lasso_path


def problem(rng, n=80, p=120, k=8, noise=0.1, offset=0.0):
    X = rng.standard_normal((n, p)) + offset * rng.standard_normal(p)
    w = np.zeros(p)
    w[rng.choice(p, k, replace=False)] = rng.uniform(1, 2, k) * rng.choice([-1, 1], k)
    y = X @ w + noise * rng.standard_normal(n) + 3.0
    return X, y


def objective(X, y, w, b, alpha, l1_ratio=1.0):
    r = y - X @ w - b
    return (0.5 * r @ r / len(y) + alpha * l1_ratio * np.abs(w).sum()
            + 0.5 * alpha * (1 - l1_ratio) * w @ w)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.01])
def test_lasso_matches_sklearn_dense(rng, fit_intercept, fraction):
    X, y = problem(rng, offset=1.0)
    yc = y - y.mean() if fit_intercept else y
    Xc = X - X.mean(0) if fit_intercept else X
    alpha = fraction * np.max(np.abs(Xc.T @ yc)) / len(y)
    ours = Lasso(alpha, fit_intercept=fit_intercept, tol=1e-10).fit(X, y)
    ref = sk.Lasso(alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)
    assert np.array_equal(ours.coef_ != 0, np.abs(ref.coef_) > 1e-10)
    assert objective(X, y, ours.coef_, ours.intercept_, alpha) <= objective(X, y, ref.coef_, ref.intercept_, alpha) + 1e-12
    assert ours.dual_gap_ <= 1e-10 * (yc @ yc) / len(y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-5)
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-8)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_lasso_matches_sklearn_sparse_X(rng, fit_intercept):
    X = scipy.sparse.random(100, 300, density=0.05, random_state=1, format="csr") * 3
    w = np.zeros(300)
    w[:6] = [2, -1.5, 1, 3, -2, 1.2]
    y = X @ w + 0.05 * rng.standard_normal(100) + 1.0
    alpha = 0.01
    ours = Lasso(alpha, fit_intercept=fit_intercept, tol=1e-10).fit(X, y)
    ref = sk.Lasso(alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)
    dense = Lasso(alpha, fit_intercept=fit_intercept, tol=1e-10).fit(X.toarray(), y)
    np.testing.assert_allclose(ours.coef_, dense.coef_, atol=1e-9)
    np.testing.assert_allclose(ours.predict(X), dense.predict(X.toarray()), atol=1e-8)


@pytest.mark.parametrize("l1_ratio", [0.3, 0.8])
def test_elastic_net_matches_sklearn(rng, l1_ratio):
    X, y = problem(rng)
    ours = ElasticNet(0.05, l1_ratio=l1_ratio, tol=1e-10).fit(X, y)
    ref = sk.ElasticNet(alpha=0.05, l1_ratio=l1_ratio, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)


def test_duality_gap_below_tolerance_and_path_matches(rng):
    X, y = problem(rng, n=60, p=200)
    for tol in (1e-4, 1e-8):
        alphas, coefs, gaps = lasso_path(X, y, tol=tol, n_alphas=30)
        assert np.all(gaps <= tol * (y @ y) / len(y))
        ref_alphas, ref_coefs, _ = sk.lasso_path(X, y, alphas=30, tol=1e-12, max_iter=100000)
        np.testing.assert_allclose(alphas, ref_alphas, rtol=1e-12)
        if tol == 1e-8:
            np.testing.assert_allclose(coefs, ref_coefs, atol=1e-4)
        for i in range(0, 30, 7):                      # objective within the certified gap
            excess = (objective(X, y, coefs[:, i], 0, alphas[i]) - objective(X, y, ref_coefs[:, i], 0, alphas[i]))
            assert excess <= gaps[i] + 1e-12
    _, enet_coefs, _ = enet_path(X, y, l1_ratio=0.5, alphas=[0.5, 0.1], tol=1e-10)
    ref = sk.enet_path(X, y, l1_ratio=0.5, alphas=[0.5, 0.1], tol=1e-12, max_iter=100000)[1]
    np.testing.assert_allclose(enet_coefs, ref, atol=1e-6)


def test_lasso_cv_matches_sklearn(rng):
    X, y = problem(rng, n=60, p=40)
    ours = LassoCV(cv=4, n_alphas=20, tol=1e-8).fit(X, y)
    ref = sk.LassoCV(cv=4, alphas=20, tol=1e-10, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(ours.alphas_, ref.alphas_, rtol=1e-10)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-4)
    assert ours.alpha_ == pytest.approx(ref.alpha_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)


def test_sklearn_conventions(rng):
    X, y = problem(rng, n=30, p=10)
    model = Lasso(alpha=0.1, tol=1e-6)
    assert model.get_params() == {"alpha": 0.1, "fit_intercept": True, "max_iter": 1000, "tol": 1e-6,
                                  "warm_start": False}
    assert model.set_params(alpha=0.2) is model and model.alpha == 0.2
    with pytest.raises(ValueError, match="invalid parameter 'alpah'"):
        model.set_params(alpah=1)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(X)
    unvalidated = Lasso(alpha=-1)                       # constructor stores, fit validates
    assert unvalidated.alpha == -1
    model.fit(X, y)
    assert model.coef_.shape == (10,) and isinstance(model.intercept_, float)
    assert model.n_iter_ >= 1 and model.n_features_in_ == 10
    assert model.sparse_coef_.shape == (1, 10)
    assert "Lasso(alpha=0.2, tol=1e-06)" == repr(model)
    warm = Lasso(alpha=0.1, warm_start=True).fit(X, y)
    assert warm.set_params(alpha=0.09).fit(X, y).n_iter_ <= 3


MESSAGES = {   # (scikit-learn's validation when installed, diffprog's NumPy checks without it)
    "length": ("inconsistent numbers of samples: \\[20, 19\\]", "different numbers of samples: X has 20 rows"),
    "X nan": ("Input X contains NaN", "X contains NaN"),
    "y nan": ("Input y contains NaN", "y contains NaN"),
    "1-D X": ("Expected 2D array, got 1D array", "X must be 2-D"),
    "features": ("X has 3 features, but Lasso is expecting 5", "X has 3 features, but the estimator was fitted with 5"),
}


@pytest.mark.parametrize("with_sklearn", [True, False])
def test_bad_input_messages(rng, monkeypatch, with_sklearn):
    from diffprog.sparse import sklearn_compat
    if not with_sklearn:
        monkeypatch.setattr(sklearn_compat, "_sklearn", lambda: None)
    message = {key: pair[0 if with_sklearn else 1] for key, pair in MESSAGES.items()}
    X, y = problem(rng, n=20, p=5, k=2)
    with pytest.raises(ValueError, match=message["length"]):
        Lasso().fit(X, y[:-1])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=message["X nan"]):
        Lasso().fit(bad, y)
    with pytest.raises(ValueError, match=message["y nan"]):
        Lasso().fit(X, np.where(np.arange(20) == 4, np.nan, y))
    with pytest.raises(ValueError, match="alpha must be >= 0, got -0.5"):
        Lasso(alpha=-0.5).fit(X, y)
    with pytest.raises(ValueError, match="l1_ratio must be in"):
        ElasticNet(l1_ratio=1.5).fit(X, y)
    with pytest.raises(ValueError, match=message["1-D X"]):
        Lasso().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        Lasso(max_iter=0).fit(X, y)
    with pytest.raises(ValueError, match=message["features"]):
        Lasso().fit(X, y).predict(X[:, :3])
    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        Lasso().predict(X)


def test_max_iter_warns_with_final_gap(rng):
    X, y = problem(rng, n=50, p=300, k=30)
    with pytest.warns(ConvergenceWarning, match=r"final duality gap \d\.\d+e[-+]\d+ > tolerance"):
        Lasso(alpha=0.001, max_iter=1, tol=1e-12).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Lasso(alpha=0.001, tol=1e-6).fit(X, y)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_more_features_than_samples_tiny_alpha(rng, fit_intercept):
    """The interpolating regime (support = rank of X): entering features swap others out."""
    X, y = problem(rng, n=50, p=300, k=30)
    ours = Lasso(0.001, fit_intercept=fit_intercept, tol=1e-10).fit(X, y)
    ref = sk.Lasso(0.001, fit_intercept=fit_intercept, tol=1e-12, max_iter=1000000).fit(X, y)
    assert np.count_nonzero(ours.coef_) <= 50
    gap = objective(X, y, ours.coef_, ours.intercept_, 0.001) - objective(X, y, ref.coef_, ref.intercept_, 0.001)
    assert gap <= 1e-12
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)


def test_no_l1_term_ridge_and_least_squares(rng):
    X, y = problem(rng, n=40, p=10, k=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ridge = ElasticNet(0.1, l1_ratio=0.0, tol=1e-10).fit(X, y)
        ols = Lasso(0.0, tol=1e-10).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    np.testing.assert_allclose(ridge.coef_, np.linalg.solve(Xc.T @ Xc + 40 * 0.1 * np.eye(10), Xc.T @ yc), atol=1e-9)
    np.testing.assert_allclose(ols.coef_, np.linalg.lstsq(Xc, yc, rcond=None)[0], atol=1e-9)
