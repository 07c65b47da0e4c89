"""Second-order spherical-harmonics lighting: the basis, the irradiance convolution, the lit colours."""
import numpy as np

import diffprog.autodiff as dp
from diffprog import render as R
from diffprog.fit.sh_lighting import irradiance_coefficients, neutral_lighting, sh_basis, shade_vertices


def _sphere_quadrature(n=200_000, seed=0):
    w = np.random.default_rng(seed).standard_normal((n, 3))
    return w / np.linalg.norm(w, axis=1, keepdims=True), 4 * np.pi / n


def _fibonacci(n):
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5 ** 0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def test_basis_matches_closed_forms():
    n = _fibonacci(50)
    x, y, z = n.T
    Y = sh_basis(n)
    np.testing.assert_allclose(Y[:, 0], 0.5 / np.sqrt(np.pi))
    np.testing.assert_allclose(Y[:, 2], np.sqrt(3 / (4 * np.pi)) * z)
    np.testing.assert_allclose(Y[:, 6], np.sqrt(5 / (16 * np.pi)) * (3 * z * z - 1))
    np.testing.assert_allclose(Y[:, 8], np.sqrt(15 / (16 * np.pi)) * (x * x - y * y))
    np.testing.assert_allclose(Y[:, 4], np.sqrt(15 / (4 * np.pi)) * x * y)


def test_basis_is_orthonormal():
    w = _fibonacci(20_000)
    Y = sh_basis(w)
    np.testing.assert_allclose(Y.T @ Y * 4 * np.pi / len(w), np.eye(9), atol=2e-3)


def test_irradiance_of_a_linear_sky_is_the_closed_form():
    """L(w) = a + b . w has E(n) = pi a + (2 pi / 3) b . n exactly."""
    a, b = 0.7, np.array([0.2, -0.3, 0.5])
    w = _fibonacci(40_000)
    Y = sh_basis(w)
    radiance = Y.T @ (a + w @ b) * 4 * np.pi / len(w)             # project L on the basis
    normals = _fibonacci(30)
    E = sh_basis(normals) @ irradiance_coefficients(radiance[:, None])
    np.testing.assert_allclose(E[:, 0], np.pi * a + 2 * np.pi / 3 * normals @ b, atol=1e-3)


def test_irradiance_of_a_directional_light_is_close_to_the_clamped_cosine():
    """A delta light along l: the order-2 approximation of max(n . l, 0) (error under 0.1)."""
    l = np.array([0.0, 0.6, 0.8])
    radiance = sh_basis(l)[:, None]                                  # SH projection of a delta at l
    normals = _fibonacci(500)
    E = (sh_basis(normals) @ irradiance_coefficients(radiance))[:, 0]
    assert np.abs(E - np.maximum(normals @ l, 0)).max() < 0.1


def test_neutral_lighting_keeps_the_albedo_and_gradients_flow():
    mesh = R.ico_sphere(2, requires_grad=False)
    verts = np.asarray(mesh.verts.data)
    albedo = np.random.default_rng(0).random((len(verts), 3))
    out = shade_vertices(dp.tensor(verts), mesh.faces, dp.tensor(albedo), dp.tensor(neutral_lighting()))
    np.testing.assert_allclose(out.data, albedo, atol=1e-12)
    coeffs = neutral_lighting() + 0.1 * np.random.default_rng(1).standard_normal((9, 3))
    small = R.ico_sphere(0, requires_grad=False)
    sv = np.asarray(small.verts.data) * np.array([1.0, 1.2, 0.9])
    sa = albedo[:len(sv)]
    assert dp.gradcheck(lambda v, a, c: shade_vertices(v, small.faces, a, c), sv, sa, coeffs)


def test_lit_albedo_matches_the_composed_expression():
    """shade_vertices' fused operation: the composed expression's values and gradients."""
    from diffprog.fit.sh_lighting import _LitAlbedo
    rng = np.random.default_rng(4)
    normals = rng.standard_normal((40, 3))
    albedo, coeffs = rng.random((40, 3)), rng.standard_normal((9, 3))
    weights = rng.standard_normal((40, 3))
    grads = []
    for fused in (True, False):
        n, a, c = (dp.tensor(x, requires_grad=True) for x in (normals, albedo, coeffs))
        out = _LitAlbedo.apply(n, a, c) if fused else a * dp.matmul(sh_basis(n), c)
        dp.sum(out * weights).backward()
        grads.append([out.data, n.grad, a.grad, c.grad])
    for fused, composed in zip(*grads):
        np.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-12)
    assert dp.gradcheck(lambda n, a, c: _LitAlbedo.apply(n, a, c), normals[:6], albedo[:6], coeffs)
