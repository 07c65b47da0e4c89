"""Lit albedo for fitting: per-vertex albedo times second-order spherical-harmonics lighting.

A diffuse surface under distant light has irradiance ``E(n)``, a smooth function of the normal
that nine real spherical harmonics (bands 0-2) hold to within a few percent (Ramamoorthi and
Hanrahan 2001). The fit learns ``E`` directly, nine coefficients per colour channel, beside the
per-vertex albedo: colour = albedo * sum_k coeffs[k] * Y_k(n). Held-out views then see the
albedo under the lighting fitted from the other views, instead of colours that baked one view's
shading.

Basis (``sh_basis``), for a unit normal (x, y, z), in this order:
``Y00 = 0.282095``; ``Y1-1 = 0.488603 y``, ``Y10 = 0.488603 z``, ``Y11 = 0.488603 x``;
``Y2-2 = 1.092548 xy``, ``Y2-1 = 1.092548 yz``, ``Y20 = 0.315392 (3z^2 - 1)``,
``Y21 = 1.092548 xz``, ``Y22 = 0.546274 (x^2 - y^2)`` (orthonormal on the sphere).
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog import render as R

SH_CONSTANTS = (0.28209479177387814, 0.4886025119029199, 1.0925484305920792, 0.31539156525252005,
                0.5462742152960396)
# Convolution with the clamped cosine max(n . w, 0), per band: pi, 2 pi / 3, pi / 4.
COSINE_LOBE = np.array([np.pi] + [2 * np.pi / 3] * 3 + [np.pi / 4] * 5)


def sh_basis(normals):
    """(..., 9) real spherical harmonics of bands 0-2 at unit ``normals`` (..., 3) (array or Tensor)."""
    c0, c1, c2, c20, c22 = SH_CONSTANTS
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    stack = dp.stack if type(normals) is dp.Tensor else np.stack
    ones = (x * 0 + 1)
    return stack([c0 * ones, c1 * y, c1 * z, c1 * x, c2 * x * y, c2 * y * z, c20 * (3 * z * z - 1),
                  c2 * x * z, c22 * (x * x - y * y)], -1)


def irradiance_coefficients(radiance):
    """SH coefficients (9, C) of the irradiance ``E(n) = integral L(w) max(n . w, 0) dw`` of a distant
    light whose radiance has SH coefficients ``radiance`` (9, C)."""
    return COSINE_LOBE[:, None] * np.asarray(radiance, np.float64)


def neutral_lighting(channels=3):
    """(9, C) coefficients of constant unit irradiance (colour = albedo)."""
    coeffs = np.zeros((9, channels))
    coeffs[0] = 1.0 / SH_CONSTANTS[0]
    return coeffs


def shade_vertices(verts, faces, albedo, coeffs, basis=None):
    """(V, C) lit vertex colours ``albedo * (sh_basis(n) @ coeffs)`` with ``n`` the area-weighted
    vertex normals of ``verts`` (V, 3); differentiable in verts, albedo (V, C) and coeffs (9, C).
    basis: ``sh_basis(n)`` (V, 9) when the caller has it (a mesh that does not move); verts and
    faces are then not read."""
    if basis is not None:
        return albedo * dp.matmul(basis, coeffs)
    normals = R.vertex_normals(verts, faces)
    if np.ndim(albedo) == 2 and np.shape(coeffs) == (9, np.shape(albedo)[1]):
        return _LitAlbedo.apply(normals, albedo, coeffs)
    return albedo * dp.matmul(sh_basis(normals), coeffs)


class _LitAlbedo(dp.Function):
    """``albedo * (sh_basis(normals) @ coeffs)`` (normals (V, 3), albedo (V, C), coeffs (9, C)) as
    one operation: the same values as the composed expression, and a backward in closed form that
    costs a few array passes instead of the engine's thirty-odd nodes (once per fitting step)."""

    @staticmethod
    def forward(ctx, normals, albedo, coeffs):
        basis = sh_basis(normals)
        irradiance = np.matmul(basis, coeffs)
        ctx.save_for_backward(normals, albedo, coeffs, basis, irradiance)
        return albedo * irradiance

    @staticmethod
    def backward(ctx, grad):
        normals, albedo, coeffs, basis, irradiance = ctx.saved_tensors
        weighted = grad * albedo
        return _sh_basis_vjp(normals, weighted @ coeffs.T), grad * irradiance, basis.T @ weighted


def _sh_basis_vjp(normals, grad):
    """(V, 3) gradient with respect to the normals of ``sum(grad * sh_basis(normals))`` (grad (V, 9))."""
    _, c1, c2, c20, c22 = SH_CONSTANTS
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    g = grad.T
    return np.stack([c1 * g[3] + c2 * (y * g[4] + z * g[7]) + 2 * c22 * x * g[8],
                     c1 * g[1] + c2 * (x * g[4] + z * g[5]) - 2 * c22 * y * g[8],
                     c1 * g[2] + c2 * (y * g[5] + x * g[7]) + 6 * c20 * z * g[6]], 1)
