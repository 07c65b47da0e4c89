"""Recurrent cells and the sequence runner against PyTorch; truncated BPTT semantics."""
import numpy as np
import pytest
import torch

import diffprog as dp
from diffprog import nn


def _copy_cell(cell, ref):
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, name).copy_(torch.from_numpy(getattr(cell, name).data))


def _grads(module):
    return [p.grad for p in module.parameters()]


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_unfused"])
def test_cell_step_matches_torch(rng, kind):
    if kind.startswith("rnn"):
        nl = kind.split("_")[1]
        cell, ref = nn.RNNCell(3, 5, nonlinearity=nl, rng=0), torch.nn.RNNCell(3, 5, nonlinearity=nl).double()
    elif kind == "gru":
        cell, ref = nn.GRUCell(3, 5, rng=0), torch.nn.GRUCell(3, 5).double()
    else:
        cell, ref = nn.LSTMCell(3, 5, fused=(kind == "lstm"), rng=0), torch.nn.LSTMCell(3, 5).double()
    _copy_cell(cell, ref)
    x = rng.standard_normal((4, 3))
    h = rng.standard_normal((4, 5))
    c = rng.standard_normal((4, 5))
    u, v = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    hd, cd, xd = (dp.tensor(a, requires_grad=True) for a in (h, c, x))
    ht, ct, xt = (torch.tensor(a, requires_grad=True) for a in (h, c, x))
    if kind.startswith("lstm"):
        h1, c1 = cell(xd, (hd, cd))
        h1t, c1t = ref(xt, (ht, ct))
        dp.sum(h1 * u + c1 * v).backward()
        (h1t * torch.from_numpy(u) + c1t * torch.from_numpy(v)).sum().backward()
        np.testing.assert_allclose(c1.data, c1t.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(cd.grad, ct.grad.numpy(), rtol=1e-11)
    else:
        h1, h1t = cell(xd, hd), ref(xt, ht)
        dp.sum(h1 * u).backward()
        (h1t * torch.from_numpy(u)).sum().backward()
    np.testing.assert_allclose(h1.data, h1t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(hd.grad, ht.grad.numpy(), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-11, atol=1e-14)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(getattr(cell, name).grad, getattr(ref, name).grad.numpy(), rtol=1e-11,
                                   atol=1e-14, err_msg=name)


def test_fused_lstm_pointwise_gradcheck(rng):
    from diffprog.autodiff.tape import apply
    from diffprog.nn.recurrent import LSTM_POINTWISE
    z, c = rng.standard_normal((3, 8)), rng.standard_normal((3, 2))
    dp.gradcheck(lambda z, c: apply(LSTM_POINTWISE, z, c), z, c)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_stacked_sequence_matches_torch(rng, kind):
    ours = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](3, 6, num_layers=2, batch_first=True, rng=0)
    ref = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        3, 6, num_layers=2, batch_first=True).double()
    for layer, cell in enumerate(ours.cells):
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{layer}").copy_(torch.from_numpy(getattr(cell, name).data))
    x = rng.standard_normal((4, 7, 3))
    u = rng.standard_normal((4, 7, 6))
    xd, xt = dp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, finals = ours(xd)
    out_t, finals_t = ref(xt)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-11, atol=1e-14)
    h_last = finals[1][0] if kind == "lstm" else finals[1]
    h_last_t = (finals_t[0] if kind == "lstm" else finals_t)[1]
    np.testing.assert_allclose(h_last.data, h_last_t.detach().numpy(), rtol=1e-11)
    dp.sum(out * u).backward()
    (out_t * torch.from_numpy(u)).sum().backward()
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    for layer, cell in enumerate(ours.cells):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            np.testing.assert_allclose(getattr(cell, name).grad, getattr(ref, f"{name}_l{layer}").grad.numpy(),
                                       rtol=1e-10, atol=1e-13, err_msg=f"{name} layer {layer}")


def _sequence_loss(cell, x, truncate, u):
    out, _ = nn.run_sequence(cell, x, truncate=truncate)
    return dp.sum(out * u)


@pytest.mark.parametrize("cell_class", [nn.LSTMCell, nn.GRUCell, nn.RNNCell])
def test_truncated_bptt_equals_full_when_truncation_exceeds_sequence(rng, cell_class):
    cell = cell_class(2, 4, rng=0)
    x, u = rng.standard_normal((6, 3, 2)), rng.standard_normal((6, 3, 4))
    _sequence_loss(cell, x, None, u).backward()
    full = _grads(cell)
    for k in (6, 7, 100):
        cell.zero_grad()
        _sequence_loss(cell, x, k, u).backward()
        for a, b in zip(full, _grads(cell)):
            np.testing.assert_array_equal(a, b)
    cell.zero_grad()
    _sequence_loss(cell, x, 2, u).backward()
    assert not np.allclose(full[1], _grads(cell)[1])     # weight_hh sees fewer steps when truncated


def test_truncated_bptt_equals_chunked_training_gradient(rng):
    """truncate=k gives the gradient of running the sequence in chunks of k with the state
    detached between chunks (the usual truncated-BPTT loop), summed over chunks."""
    cell = nn.LSTMCell(2, 4, rng=0)
    x, u = rng.standard_normal((9, 3, 2)), rng.standard_normal((9, 3, 4))
    _sequence_loss(cell, x, 3, u).backward()
    truncated = _grads(cell)
    cell.zero_grad()
    state = None
    for start in range(0, 9, 3):
        if state is not None:
            state = (state[0].detach(), state[1].detach())
        out, state = nn.run_sequence(cell, x[start:start + 3], state)
        dp.sum(out * u[start:start + 3]).backward()
    for a, b in zip(truncated, _grads(cell)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_recurrent_shape_errors():
    with pytest.raises(ValueError, match=r"LSTMCell\(input_size=3, hidden_size=5\).*last dimension 3.*\(7, 2, 4\)"):
        nn.run_sequence(nn.LSTMCell(3, 5), np.zeros((7, 2, 4)))
    with pytest.raises(ValueError, match=r"\(T, N, input_size\)"):
        nn.run_sequence(nn.GRUCell(3, 5), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"hidden state of shape \(2, 5\)"):
        nn.run_sequence(nn.GRUCell(3, 5), np.zeros((4, 2, 3)), state=dp.zeros((2, 4)))
    with pytest.raises(ValueError, match="truncate"):
        nn.run_sequence(nn.RNNCell(3, 5), np.zeros((4, 2, 3)), truncate=0)


def test_unfused_lstm_supports_second_derivatives(rng):
    cell = nn.LSTMCell(2, 3, fused=False, rng=0)
    x = rng.standard_normal((2, 2))
    dp.gradcheck(lambda x: cell(x)[0], x, order=2)
    fused = nn.LSTMCell(2, 3, rng=0)
    xt = dp.tensor(x, requires_grad=True)
    with pytest.raises(NotImplementedError, match="fused=False"):
        dp.sum(fused(xt)[0]).backward(create_graph=True)


@pytest.mark.parametrize("truncate", [None, 3])
def test_fused_sequence_kernel_equals_composed_steps(rng, truncate):
    fused, composed = nn.LSTMCell(3, 4, rng=0), nn.LSTMCell(3, 4, fused=False, rng=0)
    x, u = rng.standard_normal((8, 2, 3)), rng.standard_normal((8, 2, 4))
    h0, c0 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    results = []
    for cell in (fused, composed):
        state = (dp.tensor(h0, requires_grad=True), dp.tensor(c0, requires_grad=True))
        out, (h, c) = nn.run_sequence(cell, x, state, truncate=truncate)
        dp.sum(out * u + 0.5 * dp.sum(c)).backward()
        results.append([out.data, h.data, c.data, state[0].grad, state[1].grad] + _grads(cell))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


def test_fused_sequence_refuses_second_order_and_allows_retain_graph(rng):
    lstm = nn.LSTM(2, 3, rng=0)
    x = dp.tensor(rng.standard_normal((4, 2, 2)), requires_grad=True)
    loss = dp.sum(lstm(x)[0] ** 2)
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    with pytest.raises(NotImplementedError, match="fused=False"):
        dp.sum(lstm(x)[0] ** 2).backward(create_graph=True)
    composed = nn.LSTM(2, 3, rng=0, fused=False)
    dp.gradcheck(lambda v: composed(v)[0], x.data[:2], order=2)
