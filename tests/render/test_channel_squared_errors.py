"""``channel_squared_errors`` (one op for the fit's image errors) and ``mse_loss`` built on it:
values against NumPy, gradients against finite differences, forward mode and second derivatives."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import render as R


@pytest.mark.parametrize("shape", [(2, 5, 4, 4), (7, 3), (6,), ()])
def test_channel_squared_errors_values_and_derivatives(shape):
    rng = np.random.default_rng(len(shape))
    x, t = rng.random(shape), rng.random(shape)
    d = (x - t) ** 2
    expected = d.reshape(-1, d.shape[-1] if d.ndim else 1).sum(axis=0)
    np.testing.assert_allclose(R.channel_squared_errors(x, t).data, expected, rtol=1e-13)
    w = rng.random(expected.shape)

    def f(a, b):
        return dp.sum(R.channel_squared_errors(a, b) * w)
    assert dp.gradcheck(lambda a: f(a, t), x) and dp.gradcheck(lambda b: f(x, b), t)
    tangent = rng.random(shape)
    np.testing.assert_allclose(dp.jvp(lambda a: f(a, t), (x,), (tangent,))[1],
                               np.sum(dp.grad(lambda a: f(a, t))(x) * tangent), rtol=1e-12)
    scale = np.broadcast_to(w, d.reshape(-1, expected.size).shape).reshape(shape) if shape else w[0]
    hvp = dp.grad(lambda a: dp.sum(dp.grad(lambda a2: f(a2, t))(a) * tangent))(x)
    np.testing.assert_allclose(hvp, 2 * tangent * scale, rtol=1e-12)


def test_mse_loss_is_the_mean_squared_error():
    rng = np.random.default_rng(5)
    x, t = rng.random((3, 8, 8, 3)), rng.random((3, 8, 8, 3))
    np.testing.assert_allclose(float(R.mse_loss(x, t).data), np.mean((x - t) ** 2), rtol=1e-13)
    np.testing.assert_allclose(dp.grad(lambda a: R.mse_loss(a, t))(x), 2 * (x - t) / x.size, rtol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        R.mse_loss(x, t[..., :2])
