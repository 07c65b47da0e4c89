"""LISTA / LISTA-CP / ALISTA: untrained = ISTA, training beats ISTA at equal depth, gradients,
the module contract (parameters, tied sharing, state_dict round trip)."""
import numpy as np
import pytest

import diffprog as dp
from diffprog.nn import Module
from diffprog.sparse import (ALISTA, LISTA, LISTACP, analytic_weights, nmse_db, sparse_coding_problem, sparse_codes,
                             train_unrolled)


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
    history = train_unrolled(model, (y_train, x_train), n_steps=150, batch_size=64, lr=lr)
    trained = model.nmse_per_layer(y_test, x_test)[-1]
    best_ista = min(ista_nmse(A, y_test, x_test, a, depth) for a in (0.01, 0.02, 0.05, 0.1, 0.2))
    assert trained < best_ista - 1.0
    assert history.shape == (150,) and history[-20:].mean() < history[:20].mean()


def test_fresh_batches_and_decay_reproducible(small):
    A, y_test, x_test = small
    runs = []
    for _ in range(2):
        model = ALISTA(A, 4, alpha=0.05)
        history = train_unrolled(model, lambda rng, size: sparse_codes(A, size, rng=rng), n_steps=40, lr=3e-3,
                                 lr_decay=0.1, seed=5)
        runs.append((history, model.state_dict()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][0][-10:].mean() < runs[0][0][:10].mean()


def test_module_contract(small, tmp_path):
    A, y, x = small
    for model, count in ((LISTA(A, 5), 15), (LISTA(A, 5, tied=True), 7), (LISTACP(A, 5), 10),
                         (LISTACP(A, 5, tied=True), 6), (ALISTA(A, 5), 10)):
        assert isinstance(model, Module) and len(model.parameters()) == count
        assert model(y).shape == x.shape and len(model.outputs(y)) == 5
    trained = LISTACP(A, 3, tied=True, alpha=0.05)
    train_unrolled(trained, (y, x), n_steps=20, lr=1e-2)
    trained.save(tmp_path / "cp.npz")
    fresh = LISTACP(A, 3, tied=True, alpha=0.05)
    fresh.load(tmp_path / "cp.npz")
    assert fresh.steps[0].W is fresh.steps[2].W                   # still one shared matrix after loading
    np.testing.assert_array_equal(fresh(y).data, trained(y).data)
    with pytest.raises(TypeError, match="model must be a LISTA, LISTACP or ALISTA"):
        train_unrolled(Module(), (y, x))
    with pytest.raises(ValueError, match=r"x must have shape \(300, 40\)"):
        train_unrolled(fresh, (y, x[:, :5]))


def test_gradients_through_layers(small):
    A, y, x = small
    model = LISTACP(A, 3, alpha=0.05)
    W0 = model.steps[0].W.data.copy()
    thetas = np.array([s.theta.data[0] for s in model.steps]) + 0.01

    def loss(W, theta):
        model.steps[0].W = W
        for k, step in enumerate(model.steps):
            step.theta = theta[k:k + 1]
        return dp.sum((model(y[:5]) - x[:5]) ** 2)
    dp.gradcheck(loss, W0, thetas, atol=1e-6)
    model = ALISTA(A, 3)

    def loss2(gamma, theta):
        for k, step in enumerate(model.steps):
            step.gamma, step.theta = gamma[k:k + 1], theta[k:k + 1]
        return dp.sum((model(y[:5]) - x[:5]) ** 2)
    dp.gradcheck(loss2, np.array([s.gamma.data[0] for s in model.steps]),
                 np.array([s.theta.data[0] for s in model.steps]))


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
