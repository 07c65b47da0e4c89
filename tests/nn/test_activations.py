"""Activations against PyTorch (values, gradients) and finite differences."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import diffprog as dp
from diffprog import nn

CASES = [
    (nn.relu, F.relu, {}),
    (nn.leaky_relu, F.leaky_relu, {"negative_slope": 0.2}),
    (nn.gelu, F.gelu, {}),
    (nn.gelu, F.gelu, {"approximate": "tanh"}),
    (nn.elu, F.elu, {"alpha": 0.7}),
    (nn.sigmoid, torch.sigmoid, {}),
    (nn.tanh, torch.tanh, {}),
    (nn.softplus, F.softplus, {"beta": 2.0}),
]


@pytest.mark.parametrize("ours, theirs, kw", CASES, ids=lambda c: getattr(c, "__name__", str(c)))
def test_activation_matches_torch(ours, theirs, kw):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(50) * 4, [0.0, -30.0, 30.0, 1e-3, -1e-3]])
    u = rng.standard_normal(x.shape)
    xd, xt = dp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dp.sum(ours(xd, **kw) * u).backward()
    (theirs(xt, **kw) * torch.from_numpy(u)).sum().backward()
    np.testing.assert_allclose(ours(x, **kw).data, theirs(torch.from_numpy(x), **kw).numpy(), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-11, atol=1e-14)
    smooth = x[np.abs(x) > 1e-2]
    dp.gradcheck(lambda v: ours(v, **kw), smooth)


def test_sin_siren_and_erf():
    x = np.linspace(-2, 2, 41)
    np.testing.assert_allclose(nn.sin(x, omega_0=30.0).data, np.sin(30 * x))
    np.testing.assert_allclose(nn.erf(x).data, [math.erf(v) for v in x], atol=2e-15)
    dp.gradcheck(nn.erf, x)
    dp.gradcheck(nn.erf, x, modes=("rev", "fwd"), order=2)
    assert nn.Sine(30.0)(np.array(0.1)).item() == pytest.approx(math.sin(3.0))
    with pytest.raises(ValueError, match="approximate"):
        nn.gelu(x, approximate="fast")


def test_elu_has_no_nan_gradient_for_large_inputs():
    x = dp.tensor([1000.0, -1000.0], requires_grad=True)
    dp.sum(nn.elu(x)).backward()
    assert np.all(np.isfinite(x.grad)) and x.grad[0] == 1.0
