"""Positional encodings against their formulas; the NeRF Jacobian-norm identity."""
import math

import numpy as np
import pytest

import diffprog as dp
from diffprog import nn


def test_sinusoidal_encoding_formula():
    enc = nn.SinusoidalEncoding(8, base=10000)
    pos = np.arange(5.0)
    pe = enc(pos).data
    assert pe.shape == (5, 8)
    for p in range(5):
        for i in range(4):
            angle = p / 10000 ** (2 * i / 8)
            assert pe[p, 2 * i] == pytest.approx(math.sin(angle), abs=1e-15)
            assert pe[p, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-15)
    dp.gradcheck(enc, np.array([[0.3, 2.5], [7.0, 11.0]]))
    with pytest.raises(ValueError, match="even"):
        nn.SinusoidalEncoding(7)


def test_fourier_features_formula_and_layout():
    enc = nn.FourierFeatures(2, num_freqs=3)
    p = np.array([[0.1, -0.4], [0.7, 0.25]])
    out = enc(p).data
    assert out.shape == (2, 2 * (1 + 2 * 3)) == (2, enc.out_dim)
    np.testing.assert_array_equal(out[:, :2], p)
    for k in range(3):
        block = out[:, 2 + 4 * k: 2 + 4 * (k + 1)]
        np.testing.assert_allclose(block[:, :2], np.sin(2 ** k * np.pi * p), atol=1e-15)
        np.testing.assert_allclose(block[:, 2:], np.cos(2 ** k * np.pi * p), atol=1e-15)
    linear = nn.FourierFeatures(1, num_freqs=4, log_sampling=False, include_input=False)
    np.testing.assert_allclose(linear.frequencies, [1.0, 10 / 3, 17 / 3, 8.0])
    assert linear(np.zeros((3, 1))).shape == (3, 8)
    dp.gradcheck(enc, p)
    with pytest.raises(ValueError, match=r"FourierFeatures\(in_dim=2\).*last dimension 2.*\(4, 3\)"):
        enc(np.zeros((4, 3)))


@pytest.mark.parametrize("L", [1, 4, 10])
def test_nerf_encoding_jacobian_norm_identity(L):
    """For a scalar input p, d/dp of (sin(2^k pi p), cos(2^k pi p))_{k<L} has squared norm
    sum_k (2^k pi)^2 (sin^2 + cos^2 = 1), i.e. norm pi sqrt((4^L - 1)/3) at every p."""
    enc = nn.FourierFeatures(1, num_freqs=L, include_input=False)
    expected = math.pi * math.sqrt((4 ** L - 1) / 3)
    for p in [0.0, 0.123, -0.77, 3.0]:
        jac = dp.jacobian(enc)(np.array([p]))
        assert np.linalg.norm(jac) == pytest.approx(expected, rel=1e-12)
    if L == 10:
        assert expected == pytest.approx(1857.33, abs=0.005)


def test_gaussian_fourier_features_formula_and_seed():
    enc = nn.GaussianFourierFeatures(2, num_features=16, scale=3.0, seed=4)
    B = np.random.default_rng(4).standard_normal((16, 2)) * 3.0
    np.testing.assert_allclose(enc.B, B)
    v = np.random.default_rng(1).random((5, 2))
    out = enc(v).data
    np.testing.assert_allclose(out, np.concatenate([np.cos(2 * np.pi * v @ B.T), np.sin(2 * np.pi * v @ B.T)], -1),
                               atol=1e-13)
    assert "B" in enc.state_dict() and enc.parameters() == []
    again = nn.GaussianFourierFeatures(2, num_features=16, scale=3.0, seed=4)
    np.testing.assert_array_equal(again(v).data, out)
    dp.gradcheck(enc, v)
    big = nn.GaussianFourierFeatures(2, num_features=4000, scale=10.0, seed=0)
    assert big.B.std() == pytest.approx(10.0, rel=0.03)
