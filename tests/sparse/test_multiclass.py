"""SparseLogisticRegression with more than two classes against scikit-learn's l1 logistic regression
(``LogisticRegression(l1_ratio=1, C=1 / (n alpha), solver="saga")``, one-vs-rest through
``OneVsRestClassifier``): same objective value, coefficients and probabilities."""
import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from diffprog.sparse import SparseLogisticRegression

ALPHA = 0.02


@pytest.fixture
def three_classes(rng):
    n, p, k = 150, 12, 3
    X = rng.standard_normal((n, p))
    W = np.zeros((k, p))
    W[:, :3] = 2 * rng.standard_normal((k, 3))
    codes = np.argmax(X @ W.T + rng.gumbel(size=(n, k)), axis=1)
    return X, np.array(["ant", "bee", "cat"])[codes]


def sklearn_l1(n, **kw):
    return LogisticRegression(l1_ratio=1.0, C=1.0 / (n * ALPHA), solver="saga", tol=1e-12, max_iter=100000, **kw)


def test_multinomial_matches_sklearn(three_classes):
    X, y = three_classes
    n = len(y)
    ours = SparseLogisticRegression(ALPHA, tol=1e-10, max_iter=50000).fit(X, y)
    ref = sklearn_l1(n).fit(X, y)
    codes = np.searchsorted(ours.classes_, y)

    def objective(coef, intercept):
        z = X @ coef.T + intercept
        return np.mean(np.logaddexp.reduce(z, axis=1) - z[np.arange(n), codes]) + ALPHA * np.abs(coef).sum()
    assert objective(ours.coef_, ours.intercept_) <= objective(ref.coef_, ref.intercept_) + 1e-10
    assert list(ours.classes_) == ["ant", "bee", "cat"] and ours.coef_.shape == (3, 12)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(ours.predict_log_proba(X), np.log(ours.predict_proba(X)), atol=1e-12)
    assert np.array_equal(ours.predict(X), ref.predict(X))
    assert np.array_equal(ours.coef_ != 0, np.abs(ref.coef_) > 1e-6)
    assert np.any(ours.coef_ == 0) and ours.dual_gap_ <= 1e-10 * np.log(3)
    sparse = SparseLogisticRegression(ALPHA, tol=1e-10, max_iter=50000).fit(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, ours.coef_, atol=1e-8)


def test_one_vs_rest_matches_sklearn(three_classes):
    X, y = three_classes
    n = len(y)
    ours = SparseLogisticRegression(ALPHA, multi_class="ovr", tol=1e-11, max_iter=50000).fit(X, y)
    ref = OneVsRestClassifier(sklearn_l1(n)).fit(X, y)
    assert ours.coef_.shape == (3, 12) and ours.n_iter_.shape == (3,)
    for k, estimator in enumerate(ref.estimators_):      # each binary problem: objective never worse
        s = np.where(y == ours.classes_[k], 1.0, -1.0)

        def objective(w, b):
            return np.mean(np.logaddexp(0, -s * (X @ w + b))) + ALPHA * np.abs(w).sum()
        assert objective(ours.coef_[k], ours.intercept_[k]) <= objective(estimator.coef_[0],
                                                                          estimator.intercept_[0]) + 1e-10
        np.testing.assert_allclose(ours.coef_[k], estimator.coef_[0], atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-3)
    np.testing.assert_allclose(ours.predict_proba(X).sum(axis=1), 1.0)
    assert np.mean(ours.predict(X) == ref.predict(X)) > 0.97


def test_binary_shapes_match_sklearn(three_classes):
    X, y = three_classes
    keep = y != "cat"
    ours = SparseLogisticRegression(ALPHA).fit(X[keep], y[keep])
    ref = sklearn_l1(keep.sum()).fit(X[keep], y[keep])
    assert ours.coef_.shape == ref.coef_.shape == (1, 12) and ours.intercept_.shape == (1,)
    assert ours.decision_function(X).shape == (150,) and ours.predict_proba(X).shape == (150, 2)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-3)
