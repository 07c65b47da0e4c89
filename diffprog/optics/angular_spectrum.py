"""Scalar diffraction by the angular spectrum method.

A monochromatic field u(x, y) sampled on a grid (spacing ``dx``) is propagated a distance z along
the optical axis by multiplying its 2-D spectrum with the transfer function

    H(fx, fy) = exp(i 2 pi z sqrt(n^2 / lambda^2 - fx^2 - fy^2))     where fx^2 + fy^2 < n^2 / lambda^2,
    H = 0                                                            elsewhere (evanescent cut-off),

u_z = ifft2(H * fft2(u)). Propagation is linear in u, so its vector-Jacobian product is
propagation by conj(H), i.e. by -z on the propagating band: backpropagating the wave.
"""
import numpy as np

import diffprog.fft as fft
from diffprog.autodiff import Tensor
import diffprog.autodiff as F


def _raw(x):
    return x.data if type(x) is Tensor else x


def _positive(value, name):
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return v


def _spacing(spacing):
    sp = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (2,))
    if not np.all(sp > 0):
        raise ValueError(f"spacing must be positive (one number or (dy, dx)), got {spacing!r}")
    return sp


def axial_wavenumber(shape, spacing, wavelength, refractive_index=1.0):
    """kz = 2 pi sqrt(n^2 / lambda^2 - fx^2 - fy^2) on the FFT frequency grid of ``shape`` (ny, nx),
    and the boolean mask of propagating frequencies (kz real). ``spacing``: one number or (dy, dx)."""
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (ny, nx) with positive sizes, got {shape!r}")
    dy, dx = _spacing(spacing)
    k = _positive(refractive_index, "refractive_index") / _positive(wavelength, "wavelength")
    fy = fft.fftfreq(shape[0], dy)[:, None]
    fx = fft.fftfreq(shape[1], dx)[None, :]
    arg = k * k - fx * fx - fy * fy
    propagating = arg > 0
    return 2 * np.pi * np.sqrt(np.where(propagating, arg, 0.0)), propagating


def transfer_function(shape, spacing, wavelength, distance, refractive_index=1.0):
    """The angular spectrum transfer function H (complex, shape ``shape``), zero on evanescent
    frequencies. ``distance`` may be a Tensor (then H is differentiable with respect to it)."""
    kz, propagating = axial_wavenumber(shape, spacing, wavelength, refractive_index)
    if type(distance) is Tensor:
        return F.exp((1j * kz) * distance) * propagating
    return np.where(propagating, np.exp(1j * kz * float(distance)), 0)


def propagate(field, distance, wavelength, spacing, refractive_index=1.0, padding=0):
    """Propagate a complex field (..., ny, nx) by ``distance`` (same length unit as ``wavelength``
    and ``spacing``; negative: backward). ``padding`` zero-pads that many samples on every side
    before the FFTs (to suppress the circular wrap-around) and crops back afterwards.
    Differentiable with respect to ``field`` and (as a Tensor) ``distance``. Returns a Tensor."""
    shape = np.shape(_raw(field))
    if len(shape) < 2:
        raise ValueError(f"field must have at least 2 dimensions (..., ny, nx), got shape {shape}")
    padding = int(padding)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if padding:
        widths = [(0, 0)] * (len(shape) - 2) + [(padding, padding)] * 2
        field = F.pad(field, widths)
    if not np.iscomplexobj(_raw(field)):
        field = F.astype(field, np.result_type(_raw(field).dtype, np.complex64))
    h = transfer_function(np.shape(_raw(field))[-2:], spacing, wavelength, distance, refractive_index)
    h = h.astype(_raw(field).dtype) if type(h) is not Tensor else F.astype(h, _raw(field).dtype)
    out = fft.ifft2(fft.fft2(field) * h)
    if padding:
        out = out[..., padding:padding + shape[-2], padding:padding + shape[-1]]
    return out


def intensity(field):
    """|u|^2 (a real Tensor)."""
    return F.real(field) ** 2 + F.imag(field) ** 2
