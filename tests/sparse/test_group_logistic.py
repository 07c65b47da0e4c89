"""GroupLasso and SparseLogisticRegression: optimality, agreement with references, errors."""
import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import Lasso as SkLasso, LogisticRegression

from diffprog.sparse import GroupLasso, Lasso, SparseLogisticRegression


def test_group_lasso_kkt_and_singleton_groups_equal_lasso(rng):
    X = rng.standard_normal((80, 12))
    w = np.r_[1.5, -2, 1, 0, 0, 0, 0.5, 0.5, 0.5, 0, 0, 0]
    y = X @ w + 0.1 * rng.standard_normal(80)
    groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    model = GroupLasso(0.1, groups=groups, tol=1e-10).fit(X, y)
    coef = model.coef_
    assert np.all(coef[3:6] == 0) and np.all(coef[9:] == 0)
    assert np.all(coef[:3] != 0)
    # KKT: X_g^T r / n = alpha sqrt(|g|) w_g / ||w_g|| on active groups, ||.|| <= alpha sqrt(|g|) on zero ones
    r = y - X @ coef - model.intercept_
    for g in groups:
        corr = X[:, g].T @ (r - r.mean()) / 80
        if np.any(coef[g]):
            np.testing.assert_allclose(corr, 0.1 * np.sqrt(3) * coef[g] / np.linalg.norm(coef[g]), atol=1e-5)
        else:
            assert np.linalg.norm(corr) <= 0.1 * np.sqrt(3) + 1e-8
    assert model.dual_gap_ <= 1e-10 * np.var(y) * 1.01
    singles = GroupLasso(0.05, groups=[[j] for j in range(12)], tol=1e-12, max_iter=20000).fit(X, y)
    np.testing.assert_allclose(singles.coef_, Lasso(0.05, tol=1e-12).fit(X, y).coef_, atol=1e-6)
    assert singles.score(X, y) > 0.9
    sparse_fit = GroupLasso(0.1, groups=groups, tol=1e-10).fit(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_allclose(sparse_fit.coef_, coef, atol=1e-7)


def test_group_lasso_bad_groups(rng):
    X, y = rng.standard_normal((10, 4)), rng.standard_normal(10)
    with pytest.raises(ValueError, match=r"groups\[1\] is empty"):
        GroupLasso(groups=[[0, 1], [], [2, 3]]).fit(X, y)
    with pytest.raises(ValueError, match="cover each of the 4 features exactly once"):
        GroupLasso(groups=[[0, 1], [1, 2, 3]]).fit(X, y)
    with pytest.raises(TypeError, match="groups must be None, a block size"):
        GroupLasso(groups="abc").fit(X, y)
    with pytest.raises(ValueError, match="block size and must be >= 1"):
        GroupLasso(groups=0).fit(X, y)


def test_group_lasso_default_and_block_groups(rng):
    X = rng.standard_normal((60, 7))
    y = X @ np.r_[1.0, -2, 0, 0, 0.5, 0, 3] + 0.1 * rng.standard_normal(60)
    default = GroupLasso(0.05, tol=1e-12, max_iter=20000).fit(X, y)        # one group per feature
    np.testing.assert_allclose(default.coef_, Lasso(0.05, tol=1e-12).fit(X, y).coef_, atol=1e-7)
    blocks = GroupLasso(0.05, groups=3, tol=1e-12, max_iter=20000).fit(X, y)
    explicit = GroupLasso(0.05, groups=[[0, 1, 2], [3, 4, 5], [6]], tol=1e-12, max_iter=20000).fit(X, y)
    np.testing.assert_allclose(blocks.coef_, explicit.coef_, atol=1e-12)


def test_sparse_logistic_matches_sklearn_liblinear_objective(rng):
    n, p = 200, 30
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:4] = [2, -2, 1.5, 1]
    labels = np.where(X @ w + 0.3 + 0.5 * rng.standard_normal(n) > 0, "yes", "no")
    alpha = 0.02
    model = SparseLogisticRegression(alpha, tol=1e-10, max_iter=20000).fit(X, labels)
    # scikit-learn: sum of losses + ||w||_1 / C  <=>  mean loss + alpha ||w||_1 with C = 1 / (n alpha)
    ref = LogisticRegression(l1_ratio=1.0, C=1.0 / (n * alpha), solver="saga", tol=1e-12,
                             max_iter=100000).fit(X, labels)

    def objective(coef, intercept):
        z = np.where(labels == "yes", 1, -1) * (X @ coef + intercept)
        return np.mean(np.logaddexp(0, -z)) + alpha * np.abs(coef).sum()
    ours = objective(model.coef_[0], model.intercept_[0])
    theirs = objective(ref.coef_[0], ref.intercept_[0])
    assert ours <= theirs + 1e-8
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-4)
    assert list(model.classes_) == ["no", "yes"]
    assert model.dual_gap_ <= 1e-9
    assert np.array_equal(model.coef_[0] != 0, np.abs(ref.coef_[0]) > 1e-6)
    sparse_fit = SparseLogisticRegression(alpha, tol=1e-10, max_iter=20000).fit(scipy.sparse.csr_matrix(X), labels)
    np.testing.assert_allclose(sparse_fit.coef_, model.coef_, atol=1e-8)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert model.score(X, labels) == np.mean(model.predict(X) == labels) > 0.8


def test_sparse_logistic_errors(rng):
    X = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="only one class"):
        SparseLogisticRegression().fit(X, np.ones(10))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SparseLogisticRegression().fit(X, np.arange(9) % 2)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        SparseLogisticRegression().fit(X, np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="multi_class must be 'multinomial' or 'ovr'"):
        SparseLogisticRegression(multi_class="softmax").fit(X, np.arange(10) % 3)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        SparseLogisticRegression(alpha=-1).fit(X, np.arange(10) % 2)
