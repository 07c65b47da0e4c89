"""The sub-problem's linear algebra: Gram cache, dense/sparse Gram operators, conjugate gradients,
and the active-set inverse kept by block updates, each against a direct NumPy computation."""
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn import linear_model as sk

from diffprog.sparse import ElasticNet, Lasso, enet_path, lasso_path
from diffprog.sparse import gram as gram_module
from diffprog.sparse.active_inverse import ActiveInverse
from diffprog.sparse.design import Design
from diffprog.sparse.gram import DenseGram, GramCache, SparseGram, conjugate_gradient


def spd(rng, k, condition=10.0):
    q, _ = np.linalg.qr(rng.standard_normal((k, k)))
    return (q * np.geomspace(1.0, condition, k)) @ q.T


def test_conjugate_gradient_matches_solve(rng):
    A = spd(rng, 40, condition=50.0)
    rhs = rng.standard_normal(40)
    x, converged = conjugate_gradient(lambda v: A @ v, rhs, rng.standard_normal(40), np.diagonal(A))
    assert converged
    np.testing.assert_allclose(x, np.linalg.solve(A, rhs), rtol=1e-9, atol=1e-10)
    _, converged = conjugate_gradient(lambda v: A @ v, rhs, np.zeros(40), np.diagonal(A), max_iter=2)
    assert not converged                             # reports, never claims a false solution


def test_gram_cache_grows_past_its_capacity(rng):
    X = rng.standard_normal((30, 200))
    cache = GramCache(Design(X, center=False))
    for chunk in np.array_split(rng.permutation(200)[:150], 6):   # 6 growths, capacity 64 -> 128 -> 256
        cache.ensure(np.sort(chunk))
    features = cache.features
    np.testing.assert_allclose(cache.gram, X[:, features].T @ X[:, features], atol=1e-12)
    some = rng.choice(features, 20, replace=False)
    np.testing.assert_allclose(cache.sub(some), X[:, some].T @ X[:, some], atol=1e-12)
    np.testing.assert_allclose(cache.block(some[:5], some[5:]), X[:, some[:5]].T @ X[:, some[5:]], atol=1e-12)
    w = np.zeros(200)
    w[some] = rng.standard_normal(20)
    np.testing.assert_allclose(cache.dot(w), X @ w, atol=1e-12)
    w[np.setdiff1d(np.arange(200), features)[0]] = 1.0            # not cached: falls back to X @ w
    np.testing.assert_allclose(cache.dot(w), X @ w, atol=1e-12)


@pytest.mark.parametrize("center", [False, True])
def test_sparse_gram_equals_dense_centered_gram(rng, center, monkeypatch):
    X = scipy.sparse.random(60, 40, density=0.2, random_state=1, format="csc")
    mean = np.asarray(X.mean(axis=0)).ravel() if center else np.zeros(40)
    dense = X.toarray() - mean
    l2 = 0.3
    G = dense.T @ dense + l2 * np.eye(40)
    op = SparseGram(X, mean, l2)
    v = rng.standard_normal(40)
    np.testing.assert_allclose(op.matvec(v), G @ v, atol=1e-12)
    np.testing.assert_allclose(op.diagonal, np.diagonal(G), atol=1e-12)
    np.testing.assert_allclose(op.column(7), G[:, 7], atol=1e-12)
    np.testing.assert_allclose(op.predict(v), dense @ v, atol=1e-12)
    idx = np.array([1, 4, 9, 20, 33])
    np.testing.assert_allclose(op.block(idx), G[np.ix_(idx, idx)], atol=1e-12)
    rhs = rng.standard_normal(idx.size)
    direct = np.linalg.solve(G[np.ix_(idx, idx)], rhs)
    np.testing.assert_allclose(op.solve(idx, rhs, np.zeros(idx.size)), direct, rtol=1e-9)
    monkeypatch.setattr(gram_module, "DIRECT_MAX", 0)            # force conjugate gradients
    np.testing.assert_allclose(op.solve(idx, rhs, np.zeros(idx.size)), direct, rtol=1e-9)


@pytest.mark.parametrize("l2", [0.0, 0.5])
def test_active_inverse_follows_random_changes(rng, l2):
    X = rng.standard_normal((120, 60))
    cache = GramCache(Design(X, center=False))
    cache.ensure(np.arange(60))
    inverse = ActiveInverse(60)
    active = rng.choice(60, 25, replace=False)
    for _ in range(30):
        leave = rng.choice(active.size, rng.integers(0, 4), replace=False)
        outside = np.setdiff1d(np.arange(60), active)
        join = rng.choice(outside, rng.integers(0, 4), replace=False)
        active = rng.permutation(np.concatenate([np.delete(active, leave), join]))
        G = X[:, active].T @ X[:, active] + l2 * np.eye(active.size)
        rhs = rng.standard_normal(active.size)
        x = inverse.solve(active, rhs, cache, l2, lambda v, G=G: G @ v)
        assert x is not None
        np.testing.assert_allclose(x, np.linalg.solve(G, rhs), rtol=1e-9, atol=1e-12)
    assert sorted(inverse.features) == sorted(active)


def test_active_inverse_gives_up_on_a_singular_active_set(rng):
    X = rng.standard_normal((50, 10))
    X[:, 3] = X[:, 2]                                # duplicated column: singular Gram
    cache = GramCache(Design(X, center=False))
    cache.ensure(np.arange(10))
    inverse = ActiveInverse(10)
    first = np.array([0, 1, 2, 4])
    G = X[:, first].T @ X[:, first]
    assert inverse.solve(first, np.ones(4), cache, 0.0, lambda v: G @ v) is not None
    both = np.array([0, 1, 2, 4, 3])
    G = X[:, both].T @ X[:, both]
    assert inverse.solve(both, np.ones(5), cache, 0.0, lambda v: G @ v) is None
    assert inverse.features.size == 0                # cleared: the caller solves directly
    dense = DenseGram(G, both, cache, inverse, 0.0)
    x = dense.solve(np.arange(5), np.ones(5), np.zeros(5))
    np.testing.assert_allclose(G @ x, np.ones(5), atol=1e-8)   # ones is orthogonal to the null space


@pytest.mark.parametrize("update_min", [1, 10**9])
def test_path_with_and_without_inverse_updates_matches_sklearn(rng, update_min, monkeypatch):
    """Every Newton step through the updated inverse (update_min=1) or through fresh solves."""
    monkeypatch.setattr(gram_module, "UPDATE_MIN", update_min)
    X = rng.standard_normal((60, 150))
    w = np.zeros(150)
    w[:10] = rng.uniform(1, 2, 10)
    y = X @ w + 0.1 * rng.standard_normal(60)
    alphas, coefs, gaps = lasso_path(X, y, n_alphas=30, eps=1e-3, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ref, _ = sk.lasso_path(X, y, alphas=alphas, tol=1e-14, max_iter=1000000)
    np.testing.assert_allclose(coefs, ref, atol=1e-6)
    assert np.all(gaps <= 1e-12 * (y @ y) / 60)
    assert (coefs != 0).sum(axis=0).max() > 40      # the small-alpha end has a large active set
    alphas_enet, coefs_enet, _ = enet_path(X, y, l1_ratio=0.7, n_alphas=10, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ref_enet, _ = sk.enet_path(X, y, l1_ratio=0.7, alphas=alphas_enet, tol=1e-14, max_iter=1000000)
    np.testing.assert_allclose(coefs_enet, ref_enet, atol=1e-6)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_sparse_design_large_active_set_by_conjugate_gradients(rng, fit_intercept, monkeypatch):
    monkeypatch.setattr(gram_module, "DIRECT_MAX", 8)             # CG for every active set above 8
    X = scipy.sparse.random(400, 300, density=0.03, random_state=3, format="csc")
    w = np.zeros(300)
    w[rng.choice(300, 15, replace=False)] = rng.uniform(1, 2, 15)
    y = X @ w + 0.05 * rng.standard_normal(400) + 1.0
    alpha = 0.002 * np.max(np.abs(X.T @ (y - y.mean()))) / 400
    ours = Lasso(alpha, fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
    ref = sk.Lasso(alpha, fit_intercept=fit_intercept, tol=1e-14, max_iter=1000000).fit(X, y)
    assert np.count_nonzero(ours.coef_) > 50
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)


@pytest.mark.parametrize("sparse_X", [False, True])
def test_lasso_segment_is_exact_on_its_piece_and_refuses_past_a_kink(rng, sparse_X):
    from diffprog.sparse.homotopy import LassoSegment
    X = rng.standard_normal((80, 40))
    w_true = np.zeros(40)
    w_true[:5] = [2.0, -1.5, 1.0, 0.8, -0.6]
    y = X @ w_true + 0.05 * rng.standard_normal(80)
    Xd = scipy.sparse.csc_matrix(X) if sparse_X else X
    design = Design(Xd, center=sparse_X)             # sparse: exercise implicit centering too
    yc = y - y.mean() if sparse_X else y
    Xty = design.rdot(yc)
    l1_max = float(np.max(np.abs(Xty)))
    start = Lasso(0.3 * l1_max / 80, fit_intercept=sparse_X, tol=1e-14).fit(Xd, y)
    segment = LassoSegment.build(design, yc, Xty, start.coef_, GramCache(design) if not sparse_X else None)
    support = np.flatnonzero(start.coef_)
    found = 0
    for fraction in np.linspace(0.3, 0.01, 30):
        l1 = fraction * l1_max
        ref = Lasso(l1 / 80, fit_intercept=sparse_X, tol=1e-14).fit(Xd, y).coef_
        result = segment.solution(design, yc, l1, 0.0, 1e-10 * (yc @ yc))
        same_piece = (np.array_equal(np.flatnonzero(ref), support)
                      and np.array_equal(np.sign(ref[support]), np.sign(start.coef_[support])))
        if result is None:
            assert not same_piece or fraction == 0.3  # refused only past a kink
            continue
        found += 1
        np.testing.assert_allclose(result[0], ref, atol=1e-10)
        r = yc - design.dot(result[0])
        np.testing.assert_allclose(result[1], r, atol=1e-10)
        np.testing.assert_allclose(result[2], design.rdot(r), atol=1e-9)
    assert 0 < found < 30                            # some grid points on the piece, some past it


def test_path_uses_segments_and_matches_individual_fits(rng):
    X = rng.standard_normal((100, 300))
    w = np.zeros(300)
    w[:8] = rng.uniform(1, 2, 8)
    y = X @ w + 0.01 * rng.standard_normal(100)
    alphas, coefs, gaps, n_iters = lasso_path(X, y, n_alphas=60, tol=1e-10, return_n_iter=True)
    assert np.sum(n_iters == 0) >= 10                # the long flat stretch came from segments
    for i in np.flatnonzero(n_iters == 0)[::5]:
        ref = Lasso(alphas[i], fit_intercept=False, tol=1e-14).fit(X, y).coef_
        np.testing.assert_allclose(coefs[:, i], ref, atol=1e-10)
    assert np.all(gaps <= 1e-10 * (y @ y) / 100)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_sparse_elastic_net_and_path_match_sklearn(rng, fit_intercept, monkeypatch):
    monkeypatch.setattr(gram_module, "DIRECT_MAX", 8)             # exercise CG with the l2 term too
    X = scipy.sparse.random(300, 200, density=0.05, random_state=5, format="csc") * 2
    w = np.zeros(200)
    w[:10] = rng.uniform(1, 2, 10)
    y = X @ w + 0.05 * rng.standard_normal(300) + 0.5
    ours = ElasticNet(0.001, l1_ratio=0.6, fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
    ref = sk.ElasticNet(alpha=0.001, l1_ratio=0.6, fit_intercept=fit_intercept, tol=1e-14,
                        max_iter=1000000).fit(X, y)
    assert np.count_nonzero(ours.coef_) > 20
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)
    alphas, coefs, _ = lasso_path(X, y, n_alphas=25, tol=1e-12, fit_intercept=fit_intercept)
    dense = X.toarray()
    for i in (5, 15, 24):
        ref = sk.Lasso(alphas[i], fit_intercept=fit_intercept, tol=1e-14, max_iter=1000000).fit(dense, y)
        np.testing.assert_allclose(coefs[:, i], ref.coef_, atol=1e-6)


@pytest.mark.parametrize("sparse_X", [False, True])
def test_elastic_net_path_segments_match_individual_fits(rng, sparse_X):
    X = rng.standard_normal((90, 120))
    w = np.zeros(120)
    w[:6] = [2.0, -1.5, 1.0, 0.8, -0.6, 1.2]
    y = X @ w + 0.02 * rng.standard_normal(90)
    Xd = scipy.sparse.csc_matrix(X) if sparse_X else X
    alphas, coefs, gaps, n_iters = enet_path(Xd, y, l1_ratio=0.6, n_alphas=50, tol=1e-12, return_n_iter=True)
    assert np.sum(n_iters == 0) >= 5                 # some alphas came from an elastic-net segment
    for i in np.flatnonzero(n_iters == 0)[::4]:
        ref = ElasticNet(alphas[i], l1_ratio=0.6, fit_intercept=False, tol=1e-14).fit(X, y).coef_
        np.testing.assert_allclose(coefs[:, i], ref, atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ref_path, _ = sk.enet_path(X, y, l1_ratio=0.6, alphas=alphas, tol=1e-14, max_iter=1000000)
    np.testing.assert_allclose(coefs, ref_path, atol=1e-6)
    assert np.all(gaps <= 1e-12 * (y @ y) / 90)
