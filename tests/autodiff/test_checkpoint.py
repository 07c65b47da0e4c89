"""Gradient checkpointing: same gradients bit for bit, less tape, recomputation during backward."""
import numpy as np
import pytest

import diffprog as dp


def make_mlp(rng, depth, width, dtype=np.float64):
    return [(dp.tensor((rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype), requires_grad=True),
             dp.tensor((0.1 * rng.standard_normal(width)).astype(dtype), requires_grad=True))
            for _ in range(depth)]


def block(h, *params):
    for W, b in zip(params[::2], params[1::2]):
        h = dp.tanh(h @ W + b)
    return h


def mlp_loss(x, layers, segment=None):
    h = x
    if segment is None:
        h = block(h, *[p for layer in layers for p in layer])
    else:
        for start in range(0, len(layers), segment):
            params = [p for layer in layers[start:start + segment] for p in layer]
            h = dp.checkpoint(block, h, *params)
    return dp.sum(h ** 2) / h.shape[0]


def gradients(x, layers, segment):
    for W, b in layers:
        W.grad = b.grad = None
    x = dp.tensor(x, requires_grad=True)
    mlp_loss(x, layers, segment).backward()
    return [x.grad] + [p.grad for layer in layers for p in layer]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_checkpointed_mlp_gives_bit_identical_gradients(rng, dtype):
    layers = make_mlp(rng, depth=8, width=16, dtype=dtype)
    x = rng.standard_normal((5, 16)).astype(dtype)
    plain = gradients(x, layers, None)
    for segment in (1, 2, 3, 8):
        checkpointed = gradients(x, layers, segment)
        for a, b in zip(plain, checkpointed):
            assert a.dtype == dtype
            assert np.array_equal(a, b)


def test_checkpoint_keeps_less_on_the_tape(rng):
    layers = make_mlp(rng, depth=16, width=32)
    x = dp.tensor(rng.standard_normal((8, 32)), requires_grad=True)
    plain = dp.tape_stats(mlp_loss(x, layers))
    checkpointed = dp.tape_stats(mlp_loss(x, layers, segment=4))
    assert plain["nodes"] == 16 * 3 + 3
    assert checkpointed["nodes"] == 4 + 3
    assert checkpointed["saved_bytes"] * 3 < plain["saved_bytes"]     # one saved input per 4 layers
    assert checkpointed["leaf_bytes"] == plain["leaf_bytes"]


def test_the_block_is_recomputed_during_backward(rng):
    calls = []

    def fn(x, W):
        calls.append(dp.is_grad_enabled())
        return dp.sin(x @ W)
    x = dp.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    W = dp.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    y = dp.checkpoint(fn, x, W)
    assert calls == [False]                                  # forward: nothing recorded inside
    dp.sum(y).backward()
    assert calls == [False, True]                            # backward: run again, recorded
    np.testing.assert_allclose(W.grad, x.data.T @ np.cos(x.data @ W.data))


def test_checkpoint_outside_recording_is_a_plain_call(rng):
    x = dp.tensor(rng.standard_normal(3), requires_grad=True)
    with dp.no_grad():
        y = dp.checkpoint(dp.sin, x)
    assert not y.requires_grad
    y = dp.checkpoint(dp.sin, rng.standard_normal(3))
    assert not y.requires_grad


def test_nested_checkpoints_and_retain_graph(rng):
    layers = make_mlp(rng, depth=4, width=6)
    params = [p for layer in layers for p in layer]
    x = rng.standard_normal((3, 6))

    def outer(h, *ps):
        h = dp.checkpoint(block, h, *ps[:4])
        return dp.checkpoint(block, h, *ps[4:])
    expected = dp.grad(lambda *ps: dp.sum(block(x, *ps) ** 2), argnums=tuple(range(8)))(*[p.data for p in params])
    loss = dp.sum(dp.checkpoint(outer, dp.tensor(x), *params) ** 2)
    loss.backward(retain_graph=True)
    first = [p.grad.copy() for p in params]
    loss.backward()                                           # second pass through the retained tape
    for p, g, e in zip(params, first, expected):
        assert np.array_equal(g, e)
        np.testing.assert_allclose(p.grad, 2 * e, rtol=1e-14)


def test_higher_derivatives_through_a_checkpoint(rng):
    A = rng.standard_normal((4, 4))

    def f(x):
        return dp.sum(dp.checkpoint(lambda x: dp.tanh(A @ x) ** 2, x))

    def g(x):
        return dp.sum(dp.tanh(A @ x) ** 2)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(dp.hessian(f)(x), dp.hessian(g)(x), rtol=1e-13)
    np.testing.assert_allclose(dp.hvp(f, x, v), dp.hvp(g, x, v), rtol=1e-13)
    assert dp.gradcheck(f, x, order=2)


def test_checkpoint_passes_gradcheck_in_both_modes(rng):
    W = rng.standard_normal((3, 2))
    assert dp.gradcheck(lambda x, W: dp.checkpoint(lambda x, W: dp.exp(dp.sin(x) @ W), x, W),
                        rng.standard_normal((2, 3)), W, modes=("rev", "fwd"))


def test_checkpoint_needs_a_tensor_result(rng):
    x = dp.tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor"):
        dp.checkpoint(lambda x: (x, x), x)
