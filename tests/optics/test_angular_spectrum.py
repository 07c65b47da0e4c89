"""Angular spectrum propagation: its VJP is propagation by conj(H), the evanescent cut-off, energy
conservation, reversibility, a Gaussian beam against the closed form, gradients."""
import numpy as np
import pytest

import diffprog as dp
from diffprog.optics import intensity, propagate, transfer_function

rng = np.random.default_rng(0)
WAVELENGTH, DX = 0.5e-6, 0.2e-6       # spacing below lambda / 2: some frequencies are evanescent
SHAPE = (32, 32)
FIELD = rng.standard_normal(SHAPE) + 1j * rng.standard_normal(SHAPE)


def test_vjp_is_propagation_by_conjugate_transfer_function():
    z = 3e-6
    _, vjp_fn = dp.vjp(lambda u: propagate(u, z, WAVELENGTH, DX), FIELD)
    g = rng.standard_normal(SHAPE) + 1j * rng.standard_normal(SHAPE)
    (back,) = vjp_fn(g)
    h = transfer_function(SHAPE, DX, WAVELENGTH, z)
    np.testing.assert_allclose(back, np.fft.ifft2(np.fft.fft2(g) * np.conj(h)), atol=1e-12)
    # on the propagating band, conj(H) is propagation by -z: backpropagating the wave
    band = np.fft.ifft2(np.fft.fft2(g) * (np.abs(h) > 0))
    np.testing.assert_allclose(vjp_fn(band)[0], propagate(band, -z, WAVELENGTH, DX).data, atol=1e-12)


def test_evanescent_frequencies_are_cut_off_and_energy_is_kept_on_the_band():
    h = transfer_function(SHAPE, DX, WAVELENGTH, 1e-6)
    fx = np.fft.fftfreq(SHAPE[1], DX)
    radial = fx[None, :] ** 2 + fx[:, None] ** 2
    assert np.all(h[radial >= 1 / WAVELENGTH ** 2] == 0) and np.any(radial >= 1 / WAVELENGTH ** 2)
    np.testing.assert_allclose(np.abs(h[radial < 1 / WAVELENGTH ** 2]), 1.0)
    y = np.arange(SHAPE[0])[:, None]
    grating = np.exp(2j * np.pi * y / 8) * np.ones(SHAPE)      # period 8 dx = 1.6 um > lambda: propagates
    fine = np.exp(2j * np.pi * 15 * y / 32) * np.ones(SHAPE)   # period 0.43 um < lambda: evanescent
    assert np.abs(propagate(fine, 1e-6, WAVELENGTH, DX).data).max() < 1e-12
    out = propagate(grating, 1e-6, WAVELENGTH, DX).data
    np.testing.assert_allclose(np.sum(np.abs(out) ** 2), np.sum(np.abs(grating) ** 2), rtol=1e-12)
    band = np.fft.ifft2(np.fft.fft2(FIELD) * (np.abs(h) > 0))
    there = propagate(band, 5e-6, WAVELENGTH, DX)
    np.testing.assert_allclose(propagate(there, -5e-6, WAVELENGTH, DX).data, band, atol=1e-12)


def test_gaussian_beam_waist_matches_the_closed_form():
    n, dx, lam, w0 = 256, 1e-6, 0.633e-6, 8e-6
    x = (np.arange(n) - n / 2) * dx
    r2 = x[:, None] ** 2 + x[None, :] ** 2
    u0 = np.exp(-r2 / w0 ** 2)
    z_r = np.pi * w0 ** 2 / lam
    for z in (0.5 * z_r, 1.5 * z_r):
        i = intensity(propagate(u0, z, lam, dx, padding=64)).data
        w = 2 * np.sqrt(np.sum(i * x[None, :] ** 2) / np.sum(i))      # 1/e^2 radius from the second moment
        np.testing.assert_allclose(w, w0 * np.sqrt(1 + (z / z_r) ** 2), rtol=2e-3)


def test_gradients_with_respect_to_field_parts_and_distance():
    small = FIELD[:8, :8]
    weights = rng.standard_normal((8, 8))

    def loss(re, im, z):
        return dp.sum(intensity(propagate(re + 1j * im, z * 1e-6, WAVELENGTH, DX, padding=2)) * weights)
    dp.gradcheck(loss, small.real, small.imag, np.array(2.0), atol=1e-6)
    # the complex gradient is dL/dre + i dL/dim
    g_re, g_im = dp.grad(loss, argnums=(0, 1))(small.real, small.imag, np.array(2.0))
    g = dp.grad(lambda u: dp.sum(intensity(propagate(u, 2e-6, WAVELENGTH, DX, padding=2)) * weights))(small)
    np.testing.assert_allclose(g, g_re + 1j * g_im, atol=1e-12)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="wavelength"):
        propagate(FIELD, 1e-6, -1.0, DX)
    with pytest.raises(ValueError, match="spacing"):
        propagate(FIELD, 1e-6, WAVELENGTH, 0.0)
    with pytest.raises(ValueError, match="field"):
        propagate(np.ones(4), 1e-6, WAVELENGTH, DX)
    with pytest.raises(ValueError, match="padding"):
        propagate(FIELD, 1e-6, WAVELENGTH, DX, padding=-1)
