"""Matrix decompositions with derivative rules: ``cholesky``, ``qr``, ``eigh``, ``svd``
(real input; batched over leading axes).

Repeated eigenvalues / singular values: the eigenvectors (singular vectors) of a repeated value are
not unique, and the derivative of a loss exists only if the loss is invariant to rotations within
that subspace. The rules drop the coupling terms 1/(w_j - w_i) (1/(s_j^2 - s_i^2)) of pairs whose
gap is below 1e-10 of the largest magnitude: this is exact for such invariant losses (eigenvalues
alone, projectors, ``norm``...) and keeps the result finite for the others (JAX and PyTorch return
inf/NaN there). Zero singular values: the 1/s terms of the rectangular part are dropped likewise.
"""
import numpy as np

from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import backend as B
from diffprog.autodiff.extend import Primitive, apply

from ._util import MultiOutput, as_matrix, call, diag_embed, diagonal, gap_inverse, raw, require_real
from .solve import SOLVE


def _t(x):
    return B.swap_last(x)


def _mm(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = B.matmul(out, x)
    return out


def _tril_mask(x, n, k=0, diag=1.0):
    m = np.tril(np.ones((n, n)), k) if k else np.tril(np.ones((n, n)), -1) + diag * np.eye(n)
    return m.astype(np.result_type(raw(x).dtype, np.float32))


def _right_solve(x, r):
    """x r^-1 for square r: (r^-T x^T)^T."""
    return _t(call(SOLVE, _t(r), _t(x)))


# ---- Cholesky ---------------------------------------------------------------------------------

def _cholesky_vjp(g, ans, a):
    n = B.shape(a)[-1]
    low = ans
    g = g * _tril_mask(a, n)                                  # the upper triangle of L is constant zero
    phi = _mm(_t(low), g) * _tril_mask(a, n, diag=0.5)        # Phi(L^T gL): lower part, half diagonal
    s = _right_solve(call(SOLVE, _t(low), phi), low)          # L^-T Phi L^-1
    return 0.5 * (s + _t(s))


def _cholesky_jvp(t, ans, a):
    n = a.shape[-1]
    t = 0.5 * (t + np.swapaxes(t, -1, -2))
    inner = np.linalg.solve(ans, np.swapaxes(np.linalg.solve(ans, np.swapaxes(t, -1, -2)), -1, -2))
    return ans @ (inner * _tril_mask(a, n, diag=0.5))

CHOLESKY = Primitive("cholesky", np.linalg.cholesky, vjps=[_cholesky_vjp], jvps=[_cholesky_jvp])


def cholesky(a):
    """Lower-triangular L with a = L L^T for symmetric positive-definite (a batch of) ``a``.
    The input is taken as symmetric: the gradient is symmetric (d/da of a loss of L((a + a^T)/2)).
    Raises ValueError if ``a`` is not positive definite."""
    a = as_matrix(a, "cholesky", square=True)
    require_real(a, "cholesky")
    try:
        return apply(CHOLESKY, a)
    except np.linalg.LinAlgError as e:
        raise ValueError(f"linalg.cholesky: a (shape {np.shape(raw(a))}) is not positive definite ({e})") from None


# ---- QR -----------------------------------------------------------------------------------------

def _qr_forward(a):
    return np.linalg.qr(a, mode="reduced")


def _qr_shapes(shape):
    m, n = shape[-2:]
    k = min(m, n)
    return [shape[:-2] + (m, k), shape[:-2] + (k, n)]


def _check_tall(a):
    m, n = B.shape(a)[-2:]
    if m < n:
        raise NotImplementedError(f"linalg.qr: derivatives need m >= n (R square), got a of shape {B.shape(a)}; "
                                  f"differentiate the QR of a^T instead")


def _qr_vjp(gs, outs, a):
    _check_tall(a)
    (gq, gr), (q, r) = gs, outs
    n = B.shape(r)[-1]
    m = _mm(r, _t(gr)) - _mm(_t(gq), q)
    low = m * _tril_mask(a, n, k=-1)
    copyltu = low + _t(low) + diag_embed(diagonal(m))
    return _right_solve(gq + _mm(q, copyltu), _t(r))


def _qr_jvp(t, outs, a):
    _check_tall(a)
    q, r = outs
    n = r.shape[-1]
    dx_rinv = np.swapaxes(np.linalg.solve(np.swapaxes(r, -1, -2), np.swapaxes(t, -1, -2)), -1, -2)
    qt = np.swapaxes(q, -1, -2) @ dx_rinv
    low = qt * np.tril(np.ones((n, n)), -1)
    skew = low - np.swapaxes(low, -1, -2)
    return [q @ (skew - qt) + dx_rinv, (qt - skew) @ r]


_QR = MultiOutput("qr", _qr_forward, _qr_shapes, _qr_vjp, _qr_jvp)


def qr(a):
    """Reduced QR decomposition (NumPy's ``mode='reduced'``): a (..., m, n) -> Q (..., m, k),
    R (..., k, n), k = min(m, n). Derivatives need m >= n and full column rank."""
    a = as_matrix(a, "qr")
    require_real(a, "qr")
    return _QR(a)


# ---- symmetric eigendecomposition -------------------------------------------------------------

def _eigh_shapes(shape):
    return [shape[:-1], shape]


def _eigh_vjp(gs, outs, a):
    (gw, gv), (w, v) = gs, outs
    f = gap_inverse(B.expand_dims(w, -2) - B.expand_dims(w, -1))          # F_ij = 1 / (w_j - w_i)
    s = _mm(v, diag_embed(gw) + f * _mm(_t(v), gv), _t(v))
    return 0.5 * (s + _t(s))


def _eigh_jvp(t, outs, a):
    w, v = outs
    t = 0.5 * (t + np.swapaxes(t, -1, -2))
    m = np.swapaxes(v, -1, -2) @ t @ v
    f = gap_inverse(w[..., None, :] - w[..., :, None])
    return [np.einsum("...ii->...i", m), v @ (f * m)]


_EIGH = MultiOutput("eigh", lambda a: tuple(np.linalg.eigh(a)), _eigh_shapes, _eigh_vjp, _eigh_jvp)


def eigh(a):
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of (a batch of) real symmetric
    ``a``: returns ``(w, v)`` with shapes (..., n) and (..., n, n), a v = v diag(w).
    NumPy reads only the lower triangle; derivatives take the input as symmetric (the gradient is
    symmetric, the tangent is symmetrised). Eigenvector signs are arbitrary: differentiate losses
    that do not depend on them. Repeated eigenvalues: see the module docstring."""
    a = as_matrix(a, "eigh", square=True)
    require_real(a, "eigh")
    return _EIGH(a)


def eigvalsh(a):
    """Eigenvalues of (a batch of) real symmetric matrices (ascending); gradient v diag(g) v^T."""
    return eigh(a)[0]


# ---- singular value decomposition ---------------------------------------------------------------

def _svd_shapes(shape):
    m, n = shape[-2:]
    k = min(m, n)
    return [shape[:-2] + (m, k), shape[:-2] + (k,), shape[:-2] + (k, n)]


def _safe_inverse(s):
    positive = raw(s) > 0
    return B.where(positive, 1 / B.where(positive, s, 1 + 0 * s), 0 * s)


def _svd_vjp(gs, outs, a):
    (gu, gs_, gvh), (u, s, vh) = gs, outs
    m, n = B.shape(a)[-2:]
    v, gv = _t(vh), _t(gvh)
    s2 = s * s
    f = gap_inverse(B.expand_dims(s2, -2) - B.expand_dims(s2, -1))       # F_ij = 1 / (s_j^2 - s_i^2)
    j = f * _mm(_t(u), gu)
    k = f * _mm(_t(v), gv)
    c = (j + _t(j)) * B.expand_dims(s, -2) + B.expand_dims(s, -1) * (k + _t(k)) + diag_embed(gs_)
    grad = _mm(u, c, vh)
    s_inv = B.expand_dims(_safe_inverse(s), -2)
    if m > n:                                                            # (I - U U^T) gU S^-1 Vh
        grad = grad + _mm((gu - _mm(u, _mm(_t(u), gu))) * s_inv, vh)
    if n > m:                                                            # U S^-1 gV^T (I - V Vh)
        grad = grad + _mm(u * s_inv, _t(gv - _mm(v, _mm(vh, gv))))
    return grad


def _svd_jvp(t, outs, a):
    u, s, vh = outs
    m, n = a.shape[-2:]
    v = np.swapaxes(vh, -1, -2)
    ds_mat = np.swapaxes(u, -1, -2) @ t @ v
    s2 = s * s
    f = gap_inverse(s2[..., None, :] - s2[..., :, None])
    dss = ds_mat * s[..., None, :]
    sds = s[..., :, None] * ds_mat
    du = u @ (f * (dss + np.swapaxes(dss, -1, -2)))
    dv = v @ (f * (sds + np.swapaxes(sds, -1, -2)))
    s_inv = _safe_inverse(s)[..., None, :]
    if m > n:
        tv = t @ v
        du = du + (tv - u @ (np.swapaxes(u, -1, -2) @ tv)) * s_inv
    if n > m:
        tu = np.swapaxes(t, -1, -2) @ u
        dv = dv + (tu - v @ (vh @ tu)) * s_inv
    return [du, np.einsum("...ii->...i", ds_mat), np.swapaxes(dv, -1, -2)]


_SVD = MultiOutput("svd", lambda a: tuple(np.linalg.svd(a, full_matrices=False)), _svd_shapes, _svd_vjp, _svd_jvp)


def svd(a, full_matrices=True, compute_uv=True):
    """Singular value decomposition a = U diag(S) Vh of (a batch of) real (..., m, n) matrices,
    singular values descending. ``full_matrices=False``: U (..., m, k), S (..., k), Vh (..., k, n)
    with k = min(m, n); ``full_matrices=True`` (NumPy's default) is the same for square input and
    differentiable only there (the extra columns of a rectangular full U or Vh are arbitrary: pass
    ``full_matrices=False``). ``compute_uv=False`` returns S only (gradient U diag(g) Vh). Singular
    vector signs are arbitrary (a sign flip of a column of U with the row of Vh); repeated and
    zero singular values: see the module docstring."""
    a = as_matrix(a, "svd")
    require_real(a, "svd")
    m, n = np.shape(raw(a))[-2:]
    if full_matrices and m != n and compute_uv:
        if type(a) is Tensor and a.requires_grad:
            raise ValueError(f"linalg.svd: full_matrices=True for a non-square a of shape {np.shape(raw(a))} "
                             f"has arbitrary extra singular vectors and no derivative; pass full_matrices=False")
        return tuple(Tensor(o) for o in np.linalg.svd(raw(a), full_matrices=True))
    u, s, vh = _SVD(a)
    return (u, s, vh) if compute_uv else s


def svdvals(a):
    """Singular values (descending) of (a batch of) matrices."""
    return svd(a, full_matrices=False, compute_uv=False)
