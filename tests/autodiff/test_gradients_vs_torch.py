"""Gradients agree with PyTorch (torch==2.13.0, CPU) to 1e-10 in float64: on the random programs
of the property tests and on a set of hand-written ones (MLP, attention, scatter, ...)."""
import numpy as np
import pytest
from hypothesis import given, note, settings

import diffprog as dp
from autodiff_programs import DpLib, TorchLib, programs, run

torch = pytest.importorskip("torch")
DP, TORCH = DpLib(), TorchLib()
RTOL, ATOL = 1e-10, 1e-12


def both(fn, *inputs, seed=0):
    """Value and gradients of u . fn(inputs) in diffprog and in torch (float64)."""
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out_t = fn(TORCH, *ts)
    u = np.random.default_rng(seed).standard_normal(tuple(out_t.shape))
    (out_t * torch.tensor(u)).sum().backward()
    torch_grads = [t.grad.numpy() if t.grad is not None else np.zeros_like(x) for t, x in zip(ts, inputs)]

    value = []

    def projected(*xs):
        out = fn(DP, *xs)
        value.append(np.asarray(out.data))
        return dp.sum(out * u)
    dp_grads = dp.grad(projected, argnums=tuple(range(len(inputs))))(*inputs)
    return value[0], out_t.detach().numpy(), dp_grads, torch_grads


def assert_agree(fn, *inputs, seed=0):
    v_dp, v_t, g_dp, g_t = both(fn, *inputs, seed=seed)
    np.testing.assert_allclose(v_dp, v_t, rtol=RTOL, atol=ATOL)
    for i, (a, b) in enumerate(zip(g_dp, g_t)):
        assert a.shape == b.shape, f"input {i}: {a.shape} vs {b.shape}"
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"gradient of input {i}")


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(programs())
def test_random_programs_agree_with_torch(case):
    steps, inputs = case
    note(f"program {steps} on shapes {[x.shape for x in inputs]}")
    assert_agree(lambda L, *xs: run(steps, xs, L), *inputs)


def mlp(L, x, W1, b1, W2, b2, y):
    h = L.tanh(x @ W1 + b1)
    logits = h @ W2 + b2
    return -L.mean(L.sum(L.log_softmax(logits, axis=-1) * y, axis=-1)) + 1e-2 * L.sum(W1 * W1)


def attention(L, q, k, v):
    scores = L.softmax(L.einsum("bqd,bkd->bqk", q, k) / np.sqrt(q.shape[-1]), axis=-1)
    return L.einsum("bqk,bkd->bqd", scores, v)


def statistics(L, x):
    return (L.var(x, axis=0, keepdims=True) + L.std(x, axis=1, keepdims=True, ddof=1)
            + L.norm(x, axis=1, keepdims=True) + L.logsumexp(x, axis=0, keepdims=True))


def gather_scatter(L, x, s):
    rows = L.index_add(x, 0, np.array([0, 2, 0, 1]), s)
    picked = L.take_along_axis(rows, np.array([[1, 1, 0], [2, 0, 0], [0, 2, 1]]), axis=1)
    return picked[[0, 2, 2]] * L.flip(rows[1:], 1)[..., None].sum(-1).sum(0)


def shapes_and_products(L, a, b):
    c = L.concatenate([a, L.transpose(b)], axis=0)               # (5, 3)
    s = L.stack([a[0], b[:, 1], a[1] * 2], axis=1)                # (3, 3)
    return L.reshape(c @ s, (3, 5)) + L.sum(L.cross(a, L.transpose(b)[:2], axis=-1))


def kinks_and_clipping(L, x, y):
    return L.clip(x, -0.5, 0.5) * L.relu(y) + L.abs(x - y) + L.maximum(x, 0.2) * L.minimum(y, -0.1)


def products(L, x):
    return L.prod(L.tanh(x) + 1.5, axis=1, keepdims=True) * L.cumsum(x, axis=1) + L.max(x, axis=0)


HAND_WRITTEN = [
    (mlp, [(8, 5), (5, 6), (6,), (6, 3), (3,), "onehot"]),
    (attention, [(2, 3, 4), (2, 5, 4), (2, 5, 4)]),
    (statistics, [(4, 3)]),
    (gather_scatter, [(3, 3), (4, 3)]),
    (shapes_and_products, [(2, 3), (3, 3)]),
    (kinks_and_clipping, [(3, 4), (4,)]),
    (products, [(3, 4)]),
]


@pytest.mark.parametrize("fn,shapes", HAND_WRITTEN, ids=[f.__name__ for f, _ in HAND_WRITTEN])
def test_hand_written_programs_agree_with_torch(fn, shapes):
    rng = np.random.default_rng(7)
    inputs = []
    for s in shapes:
        if s == "onehot":
            inputs.append(np.eye(3)[rng.integers(0, 3, 8)])
        else:
            inputs.append(rng.standard_normal(s))
    assert_agree(fn, *inputs)
