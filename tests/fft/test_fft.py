"""dp.fft: values equal numpy.fft, round trips, and gradients (finite differences on real and
imaginary parts, and PyTorch's torch.fft) for every norm."""
import numpy as np
import pytest

import diffprog as dp
import diffprog.fft as dfft

rng = np.random.default_rng(1)
NORMS = [None, "backward", "ortho", "forward"]
X = rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6))
XR = rng.standard_normal((3, 7))


def complex_fd(f, z, eps=1e-6):
    g = np.zeros(z.shape, dtype=complex)
    parts = (1, 1j) if np.iscomplexobj(z) else (1,)
    for j in range(z.size):
        for d in parts:
            zp, zm = z.copy(), z.copy()
            zp.flat[j] += eps * d
            zm.flat[j] -= eps * d
            g.flat[j] += d * (f(zp) - f(zm)) / (2 * eps)
    return g if np.iscomplexobj(z) else g.real


def weighted(out, seed=0):
    """A real loss that weights the real and imaginary parts differently (tests all of the VJP)."""
    r = np.random.default_rng(seed)
    shape = out.shape
    a, b = r.standard_normal(shape), r.standard_normal(shape)
    return dp.sum(dp.real(out) * a + dp.imag(out) * b + dp.abs(out) ** 2)


CASES = {
    "fft": (lambda z, norm: dfft.fft(z, norm=norm), X, lambda z, norm: np.fft.fft(z, norm=norm)),
    "ifft": (lambda z, norm: dfft.ifft(z, axis=0, norm=norm), X, lambda z, norm: np.fft.ifft(z, axis=0, norm=norm)),
    "fft2": (lambda z, norm: dfft.fft2(z, norm=norm), X, lambda z, norm: np.fft.fft2(z, norm=norm)),
    "ifft2": (lambda z, norm: dfft.ifft2(z, norm=norm), X, lambda z, norm: np.fft.ifft2(z, norm=norm)),
    "fftn_s": (lambda z, norm: dfft.fftn(z, s=(4, 8), norm=norm), X, lambda z, norm: np.fft.fftn(z, s=(4, 8), axes=(0, 1), norm=norm)),
    "ifftn": (lambda z, norm: dfft.ifftn(z, norm=norm), X, lambda z, norm: np.fft.ifftn(z, norm=norm)),
    "fft_real_in": (lambda z, norm: dfft.fft(z, n=5, norm=norm), XR, lambda z, norm: np.fft.fft(z, n=5, norm=norm)),
    "rfft": (lambda z, norm: dfft.rfft(z, norm=norm), XR, lambda z, norm: np.fft.rfft(z, norm=norm)),
    "rfft_even": (lambda z, norm: dfft.rfft(z, n=6, norm=norm), XR, lambda z, norm: np.fft.rfft(z, n=6, norm=norm)),
    "irfft_even": (lambda z, norm: dfft.irfft(z, norm=norm), X[:, :4], lambda z, norm: np.fft.irfft(z, norm=norm)),
    "irfft_odd": (lambda z, norm: dfft.irfft(z, n=7, norm=norm), X[:, :4], lambda z, norm: np.fft.irfft(z, n=7, norm=norm)),
    "fftshift": (lambda z, norm: dfft.fftshift(z * 1.0), X[:, :5], lambda z, norm: np.fft.fftshift(z)),
    "ifftshift": (lambda z, norm: dfft.ifftshift(z, axes=-1), X[:, :5], lambda z, norm: np.fft.ifftshift(z, axes=-1)),
}


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients(name, norm):
    f, x, ref = CASES[name]
    out = f(x, norm)
    np.testing.assert_allclose(out.data, ref(x, norm), atol=1e-12)
    loss = lambda z: weighted(f(z, norm))
    np.testing.assert_allclose(dp.grad(loss)(x), complex_fd(lambda z: loss(z).item(), x), atol=1e-6)


@pytest.mark.parametrize("norm", NORMS)
def test_round_trips(norm):
    np.testing.assert_allclose(dfft.ifft(dfft.fft(X, norm=norm), norm=norm).data, X, atol=1e-14)
    np.testing.assert_allclose(dfft.ifft2(dfft.fft2(X, norm=norm), norm=norm).data, X, atol=1e-14)
    np.testing.assert_allclose(dfft.irfft(dfft.rfft(XR, norm=norm), n=7, norm=norm).data, XR, atol=1e-14)
    np.testing.assert_allclose(dfft.ifftshift(dfft.fftshift(X)).data, X)


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_gradients_match_torch(norm):
    torch = pytest.importorskip("torch")
    w = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    xt = torch.tensor(X, requires_grad=True)
    rt = torch.tensor(XR, requires_grad=True)
    yt = torch.fft.fft2(xt, norm=norm)
    zt = torch.fft.irfft(torch.fft.rfft(rt, norm=norm)[:, :4] * torch.tensor(w), n=6, norm=norm)
    (torch.abs(yt) ** 3).sum().backward()
    (zt ** 2).sum().backward()
    gx = dp.grad(lambda x: dp.sum(dp.abs(dfft.fft2(x, norm=norm)) ** 3))(X)
    gr = dp.grad(lambda r: dp.sum(dfft.irfft(dfft.rfft(r, norm=norm)[:, :4] * w, n=6, norm=norm) ** 2))(XR)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(gr, rt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_forward_mode_and_single_precision():
    t = rng.standard_normal(X.shape) + 0j
    _, tan = dp.jvp(lambda z: dfft.fft(z, norm="ortho"), [X], [t])
    np.testing.assert_allclose(tan, np.fft.fft(t, norm="ortho"), atol=1e-12)
    assert dfft.fft(X.astype(np.complex64)).dtype == np.complex64
    assert dfft.rfft(XR.astype(np.float32)).dtype == np.complex64


def test_fftfreq_and_errors():
    np.testing.assert_array_equal(dfft.fftfreq(6, 0.5), np.fft.fftfreq(6, 0.5))
    np.testing.assert_array_equal(dfft.rfftfreq(7), np.fft.rfftfreq(7))
    with pytest.raises(ValueError, match="norm"):
        dfft.fft(X, norm="unitary")
    with pytest.raises(ValueError, match="axis 5"):
        dfft.fft(X, axis=5)
    with pytest.raises(TypeError, match="rfft"):
        dfft.rfft(X)
    with pytest.raises(ValueError, match="n must"):
        dfft.fftfreq(0)
