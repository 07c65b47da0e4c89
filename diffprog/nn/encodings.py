"""Sinusoidal positional encodings, all differentiable with respect to their inputs.

* :class:`SinusoidalEncoding` - the Transformer's encoding of sequence positions.
* :class:`FourierFeatures` - NeRF's gamma(p) = (sin(2^k pi p), cos(2^k pi p)), k < L.
* :class:`GaussianFourierFeatures` - random Fourier features (cos(2 pi B v), sin(2 pi B v)),
  B ~ N(0, scale^2) (Tancik et al. 2020).
"""
import math

import numpy as np

import diffprog.autodiff as ad
from diffprog.autodiff import Tensor
from .module import Module
from . import init as _init


def _shape(x):
    return np.shape(x.data if type(x) is Tensor else x)


def _sin_cos_interleaved(angles):
    """(..., n) angles -> (..., 2n) as sin(a_0), cos(a_0), sin(a_1), cos(a_1), ..."""
    both = ad.stack([ad.sin(angles), ad.cos(angles)], axis=-1)
    return ad.reshape(both, _shape(angles)[:-1] + (2 * _shape(angles)[-1],))


class SinusoidalEncoding(Module):
    """PE(pos, 2i) = sin(pos / base^(2i/d_model)), PE(pos, 2i+1) = cos(pos / base^(2i/d_model)).

    ``positions`` of any shape (real values allowed) -> (..., d_model). ``d_model`` must be even.
    """

    def __init__(self, d_model, base=10000.0):
        super().__init__()
        if int(d_model) < 2 or int(d_model) % 2:
            raise ValueError(f"SinusoidalEncoding: d_model must be a positive even integer, got {d_model}")
        self.d_model, self.base = int(d_model), float(base)
        self.register_buffer("inverse_frequencies",
                             self.base ** (-np.arange(0, self.d_model, 2, dtype=np.float64) / self.d_model))

    def forward(self, positions):
        if type(positions) is not Tensor:
            positions = np.asarray(positions)
            positions = positions if positions.dtype.kind == "f" else positions.astype(np.float64)
        dtype = positions.dtype if positions.dtype.kind == "f" else np.float64
        angles = ad.expand_dims(positions, -1) * self.inverse_frequencies.astype(dtype)
        return _sin_cos_interleaved(angles)

    def extra_repr(self):
        return f"d_model={self.d_model}, base={self.base:g}"


class FourierFeatures(Module):
    """NeRF's positional encoding of (..., in_dim) points.

    Frequencies f_k = 2^k (``log_sampling``) or evenly spaced in [1, 2^(L-1)], k = 0..L-1. The
    output is [p (if ``include_input``), sin(f_0 pi p), cos(f_0 pi p), sin(f_1 pi p), ...], each
    block in_dim wide: out_dim = in_dim * (include_input + 2 L). (NeRF's paper writes the pi;
    its reference code drops it. Here the paper's formula is used.)
    """

    def __init__(self, in_dim, num_freqs=10, log_sampling=True, include_input=True):
        super().__init__()
        if int(in_dim) < 1 or int(num_freqs) < 1:
            raise ValueError(f"FourierFeatures: in_dim and num_freqs must be positive, got {in_dim}, {num_freqs}")
        self.in_dim, self.num_freqs = int(in_dim), int(num_freqs)
        self.log_sampling, self.include_input = bool(log_sampling), bool(include_input)
        L = self.num_freqs
        freqs = 2.0 ** np.arange(L) if log_sampling else np.linspace(1.0, 2.0 ** (L - 1), L)
        self.register_buffer("frequencies", freqs)
        self.out_dim = self.in_dim * (int(self.include_input) + 2 * L)

    def forward(self, points):
        shape = _shape(points)
        if not shape or shape[-1] != self.in_dim:
            raise ValueError(f"FourierFeatures(in_dim={self.in_dim}): expected input with last dimension "
                             f"{self.in_dim}, got input of shape {shape}")
        dtype = points.dtype if type(points) is Tensor else np.asarray(points).dtype
        dtype = dtype if dtype.kind == "f" else np.float64
        scales = (math.pi * self.frequencies).astype(dtype)[:, None]          # (L, 1)
        angles = ad.expand_dims(points, -2) * scales                          # (..., L, in_dim)
        both = ad.stack([ad.sin(angles), ad.cos(angles)], axis=-2)            # (..., L, 2, in_dim)
        features = ad.reshape(both, shape[:-1] + (2 * self.num_freqs * self.in_dim,))
        return ad.concatenate([points, features], axis=-1) if self.include_input else features

    def extra_repr(self):
        return f"in_dim={self.in_dim}, num_freqs={self.num_freqs}, include_input={self.include_input}"


class GaussianFourierFeatures(Module):
    """gamma(v) = [cos(2 pi B v), sin(2 pi B v)] with a fixed B of shape (num_features, in_dim),
    B ~ N(0, scale^2) drawn from ``numpy.random.default_rng(seed)``. (..., in_dim) ->
    (..., 2 num_features). B is a buffer: saved with the model, not trained."""

    def __init__(self, in_dim, num_features=256, scale=10.0, seed=0, dtype=np.float64):
        super().__init__()
        if int(in_dim) < 1 or int(num_features) < 1 or not scale > 0:
            raise ValueError(f"GaussianFourierFeatures: need in_dim >= 1, num_features >= 1 and scale > 0, got "
                             f"{in_dim}, {num_features}, {scale}")
        self.in_dim, self.num_features, self.scale = int(in_dim), int(num_features), float(scale)
        B = _init.normal((self.num_features, self.in_dim), std=self.scale, rng=seed, dtype=dtype)
        self.register_buffer("B", B)
        self.out_dim = 2 * self.num_features

    def forward(self, points):
        shape = _shape(points)
        if not shape or shape[-1] != self.in_dim:
            raise ValueError(f"GaussianFourierFeatures(in_dim={self.in_dim}): expected input with last dimension "
                             f"{self.in_dim}, got input of shape {shape}")
        dtype = points.dtype if type(points) is Tensor else np.asarray(points).dtype
        projection = ((2 * math.pi) * self.B.T).astype(dtype if dtype.kind == "f" else np.float64)
        angles = ad.matmul(points, projection)
        return ad.concatenate([ad.cos(angles), ad.sin(angles)], axis=-1)

    def extra_repr(self):
        return f"in_dim={self.in_dim}, num_features={self.num_features}, scale={self.scale:g}"
