"""Complex numbers through the engine: the conjugate-Wirtinger gradient of real losses, checked
against central differences on the real and imaginary parts, and against PyTorch."""
import numpy as np
import pytest

import diffprog as dp

rng = np.random.default_rng(0)
Z = rng.standard_normal(5) + 1j * rng.standard_normal(5)
W = rng.standard_normal(5) + 1j * rng.standard_normal(5)
M = rng.standard_normal((5, 5)) + 1j * rng.standard_normal((5, 5))
R = rng.standard_normal(5)


def complex_fd(f, z, eps=1e-6):
    """dL/da + i dL/db by central differences on both parts."""
    g = np.zeros(z.shape, dtype=complex)
    for j in range(z.size):
        for d in (1, 1j):
            zp, zm = z.astype(complex), z.astype(complex)
            zp.flat[j] += eps * d
            zm.flat[j] -= eps * d
            g.flat[j] += d * (float(f(zp)) - float(f(zm))) / (2 * eps)
    return g


LOSSES = {
    "multiply": lambda z: dp.sum(dp.abs(z * W) ** 2),
    "exp": lambda z: dp.sum(dp.real(dp.exp(z) * W)),
    "divide": lambda z: dp.sum(dp.imag(W / z)),
    "matmul": lambda z: dp.sum(dp.abs(M @ z)),
    "angle": lambda z: dp.sum(dp.angle(z) * R),
    "conj": lambda z: dp.sum(dp.real(dp.conj(z) * W)),
    "sin_cos": lambda z: dp.sum(dp.abs(dp.sin(z) + dp.cos(z))),
    "log": lambda z: dp.sum(dp.real(dp.log(z)) * R + dp.imag(dp.log(z))),
    "einsum": lambda z: dp.real(dp.einsum("i,ij,j->", z, M, dp.conj(z))),
    "power_square": lambda z: dp.sum(dp.real(z ** 3 + dp.square(z) * W)),
    "sum_reshape_index": lambda z: dp.abs(dp.sum(dp.reshape(z, (5, 1))[1:4] * 2j)),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_complex_gradient_matches_finite_differences(name):
    f = LOSSES[name]
    auto = dp.grad(f)(Z)
    assert auto.dtype == np.complex128
    np.testing.assert_allclose(auto, complex_fd(lambda v: f(v).item(), Z), atol=1e-7, rtol=1e-6)


def test_real_input_through_complex_values_gets_real_gradient():
    f = lambda x: dp.sum(dp.abs(x * W + dp.astype(x, np.complex128) * 1j) ** 2)
    auto = dp.grad(f)(R)
    assert auto.dtype == np.float64
    np.testing.assert_allclose(auto, complex_fd(lambda v: f(v.real).item(), R).real, atol=1e-7)


def test_matches_torch_convention():
    torch = pytest.importorskip("torch")
    zt = torch.tensor(Z, requires_grad=True)
    mt = torch.tensor(M)
    loss = (torch.abs(torch.exp(mt @ zt)) ** 2).sum() + torch.angle(zt).sum() + (zt.conj() * zt.imag).real.sum()
    loss.backward()
    f = lambda z: (dp.sum(dp.abs(dp.exp(M @ z)) ** 2) + dp.sum(dp.angle(z))
                   + dp.sum(dp.real(dp.conj(z) * dp.imag(z))))
    np.testing.assert_allclose(dp.grad(f)(Z), zt.grad.numpy(), rtol=1e-10)


def test_complex64_stays_single_and_properties():
    z = dp.tensor(Z.astype(np.complex64), requires_grad=True)
    loss = dp.sum(dp.abs(z * z))
    loss.backward()
    assert z.grad.dtype == np.complex64 and dp.real(z).dtype == np.float32
    np.testing.assert_array_equal(z.real.data, Z.real.astype(np.float32))
    np.testing.assert_array_equal(z.imag.data, Z.imag.astype(np.float32))


def test_abs_and_angle_at_zero_have_zero_gradient():
    g = dp.grad(lambda z: dp.sum(dp.abs(z) + dp.angle(z)))(np.zeros(3, dtype=complex))
    np.testing.assert_array_equal(g, 0)


def test_forward_mode_is_holomorphic_and_real_parts():
    z, t = Z, W
    _, tan = dp.jvp(lambda v: dp.exp(v) * v, [z], [t])
    np.testing.assert_allclose(tan, (np.exp(z) * z + np.exp(z)) * t, rtol=1e-12)
    _, tan = dp.jvp(lambda v: dp.abs(v) + dp.angle(v), [z], [t])
    eps = 1e-7
    fd = (np.abs(z + eps * t) + np.angle(z + eps * t) - np.abs(z - eps * t) - np.angle(z - eps * t)) / (2 * eps)
    np.testing.assert_allclose(tan, fd, rtol=1e-6)


def test_second_order_through_complex_values():
    f = lambda x: dp.sum(dp.abs(x * W) ** 2 + dp.real(dp.exp(1j * x)))
    h = dp.hessian(f)(R)
    expected = np.diag(2 * np.abs(W) ** 2 - np.cos(R))
    np.testing.assert_allclose(h, expected, atol=1e-10)
