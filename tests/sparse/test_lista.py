"""LISTA / LISTA-CP / ALISTA: untrained = ISTA, training beats ISTA at equal depth, gradients."""
import numpy as np
import pytest

import diffprog as dp
from diffprog.sparse import ALISTA, LISTA, LISTACP, analytic_weights, nmse_db, sparse_coding_problem, sparse_codes


def ista_nmse(A, y, x, alpha, n_iter):
    L = np.linalg.norm(A, 2) ** 2
    z = np.zeros_like(x)
    for _ in range(n_iter):
        v = z - (z @ A.T - y) @ A / L
        z = np.sign(v) * np.maximum(np.abs(v) - alpha / L, 0)
    return nmse_db(z, x)


@pytest.fixture
def small():
    A = sparse_coding_problem(20, 40, seed=3)
    y_test, x_test = sparse_codes(A, 300, rng=11)
    return A, y_test, x_test


@pytest.mark.parametrize("cls,kw", [(LISTA, {}), (LISTA, {"tied": True}), (LISTACP, {}), (LISTACP, {"tied": True})])
def test_untrained_network_is_ista(small, cls, kw):
    A, y, x = small
    model = cls(A, 6, alpha=0.05, **kw)
    assert model.nmse_per_layer(y, x)[-1] == pytest.approx(ista_nmse(A, y, x, 0.05, 6), abs=1e-9)


@pytest.mark.parametrize("cls,kw,lr", [(ALISTA, {}, 3e-3), (LISTACP, {}, 1e-3), (LISTA, {"tied": True}, 1e-3)])
def test_training_beats_ista_at_equal_depth(small, cls, kw, lr):
    A, y_test, x_test = small
    depth = 6
    model = cls(A, depth, alpha=0.05, **kw)
    rng = np.random.default_rng(0)
    y_train, x_train = sparse_codes(A, 2000, rng=rng)
    model.fit(y_train, x_train, n_steps=150, batch_size=64, lr=lr)
    trained = model.nmse_per_layer(y_test, x_test)[-1]
    best_ista = min(ista_nmse(A, y_test, x_test, a, depth) for a in (0.01, 0.02, 0.05, 0.1, 0.2))
    assert trained < best_ista - 1.0
    assert model.loss_history_[-20:].mean() < model.loss_history_[:20].mean()


def test_gradients_through_layers(small):
    A, y, x = small
    model = LISTACP(A, 3, alpha=0.05)
    W0 = model.W[0].data.copy()

    def loss(W, theta):
        model.W[0] = W
        model.theta = theta
        return dp.sum((model(y[:5]) - x[:5]) ** 2)
    dp.gradcheck(loss, W0, model.theta.data.copy() + 0.01, atol=1e-6)
    model = ALISTA(A, 3)

    def loss2(gamma, theta):
        model.gamma, model.theta = gamma, theta
        return dp.sum((model(y[:5]) - x[:5]) ** 2)
    dp.gradcheck(loss2, model.gamma.data.copy(), model.theta.data.copy())


def test_analytic_weights_and_errors(small):
    A, y, x = small
    W = analytic_weights(A)
    np.testing.assert_allclose(np.diag(W.T @ A), 1.0)
    other = W + 0.01 * np.random.default_rng(0).standard_normal(W.shape)
    other /= np.diag(other.T @ A)                      # any feasible W has a larger ||W^T A||_F
    assert np.linalg.norm(W.T @ A) < np.linalg.norm(other.T @ A)
    with pytest.raises(ValueError, match="n_layers must be a positive integer"):
        LISTA(A, 0)
    with pytest.raises(ValueError, match="dictionary must be a finite 2-D array"):
        ALISTA(np.ones(5), 3)
    with pytest.raises(ValueError, match=r"y must have shape \(batch, 20\)"):
        ALISTA(A, 3)(np.ones((4, 7)))
