"""End to end: small models learn XOR, two moons and a sequence copy task."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import nn, optim


def test_mlp_learns_xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    model = nn.MLP(2, [8], 2, activation="tanh", rng=0)
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        nn.cross_entropy(model(x), y).backward()
        opt.step()
    assert np.array_equal(np.argmax(model(x).data, axis=1), y)


def _two_moons(n, noise, rng):
    t = rng.random(n) * np.pi
    upper = rng.random(n) < 0.5
    x = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    return x + noise * rng.standard_normal((n, 2)), (~upper).astype(float)


def test_mlp_learns_two_moons():
    rng = np.random.default_rng(0)
    x, y = _two_moons(200, 0.05, rng)
    model = nn.MLP(2, [32, 32], 1, rng=1)
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(400):
        opt.zero_grad()
        nn.binary_cross_entropy_with_logits(model(x)[:, 0], y).backward()
        opt.step()
    x_test, y_test = _two_moons(200, 0.05, rng)
    assert np.mean((model(x).data[:, 0] > 0) == y) == 1.0
    assert np.mean((model(x_test).data[:, 0] > 0) == y_test) == 1.0


def test_lstm_learns_to_copy_a_short_sequence():
    """Read 4 random symbols (one-hot), then 4 blank steps; output the symbols during the blanks."""
    rng = np.random.default_rng(0)
    vocab, length, batch = 4, 4, 64
    lstm = nn.LSTM(vocab + 1, 32, rng=0)
    head = nn.Linear(32, vocab, rng=1)
    params = lstm.parameters() + head.parameters()
    opt = optim.Adam(params, lr=0.02)

    def batch_of(n):
        symbols = rng.integers(0, vocab, (n, length))
        x = np.zeros((2 * length, n, vocab + 1))
        x[np.arange(length)[:, None], np.arange(n)[None, :], symbols.T] = 1
        x[length:, :, vocab] = 1          # "now recall" marker
        return x, symbols

    for _ in range(300):
        x, symbols = batch_of(batch)
        out, _ = lstm(x)
        logits = head(out[length:])                       # (length, n, vocab)
        loss = nn.cross_entropy(dp.reshape(logits, (-1, vocab)), symbols.T.reshape(-1))
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm(params, 5.0)
        opt.step()
    x, symbols = batch_of(256)
    predicted = np.argmax(head(lstm(x)[0][length:]).data, axis=-1).T
    assert np.mean(predicted == symbols) > 0.99
