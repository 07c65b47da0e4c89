"""Linear systems: ``solve``, ``inv``, ``cho_solve`` (``lstsq`` is in ``lstsq.py``)."""
import numpy as np

from diffprog.autodiff.extend import backend as B
import diffprog.autodiff as F
from diffprog.autodiff.extend import Primitive, apply

from ._util import as_matrix, call, holomorphic, raw


def _is_vector_rhs(a, b):
    return B.ndim(b) == 1


def _solve_forward(a, b):
    return np.linalg.solve(a, b)


def _solve_db(g, ans, a, b):
    if _is_vector_rhs(a, b):
        return B.squeeze_last(call(SOLVE, B.swap_last(a), B.expand_dims(g, -1)))
    return call(SOLVE, B.swap_last(a), g)


def _solve_da(g, ans, a, b):
    gb = _solve_db(g, ans, a, b)
    if _is_vector_rhs(a, b):
        return -B.expand_dims(gb, -1) * B.expand_dims(ans, -2)
    return -B.matmul(gb, B.swap_last(ans))


def _solve_jvp_a(t, ans, a, b):
    x = ans[..., None] if np.ndim(b) == 1 else ans
    out = -np.linalg.solve(a, t @ x)
    return out[..., 0] if np.ndim(b) == 1 else out


SOLVE = Primitive("solve", _solve_forward, vjps=[holomorphic(_solve_da), holomorphic(_solve_db)],
                  jvps=[_solve_jvp_a, lambda t, ans, a, b: np.linalg.solve(a, t)])


def _inv_vjp(g, ans, a):
    ait = B.swap_last(ans)
    return -B.matmul(B.matmul(ait, g), ait)


INV = Primitive("inv", np.linalg.inv, vjps=[holomorphic(_inv_vjp)],
                jvps=[lambda t, ans, a: -ans @ t @ ans])


def solve(a, b):
    """Solve a x = b for x. ``a``: (..., n, n); ``b``: (..., n, k), or (n,) for one vector (NumPy 2
    rules; batch axes broadcast). Gradients: g_b = solve(a^T, g), g_a = -g_b x^T."""
    a = as_matrix(a, "solve", square=True)
    bd = np.shape(raw(b))
    n = np.shape(raw(a))[-1]
    if len(bd) == 0 or (len(bd) == 1 and bd[0] != n) or (len(bd) >= 2 and bd[-2] != n):
        raise ValueError(f"linalg.solve: b must have shape (n,) or (..., n, k) with n = {n} (a has shape "
                         f"{np.shape(raw(a))}), got {bd}")
    return apply(SOLVE, a, b)


def inv(a):
    """Inverse of (a batch of) square matrices. Gradient: -inv(a)^T g inv(a)^T."""
    return apply(INV, as_matrix(a, "inv", square=True))


def cho_solve(c, b, lower=True):
    """Solve (L L^T) x = b given the Cholesky factor ``c`` = L (``lower=True``, as returned by
    ``cholesky``) or U = L^T (``lower=False``). Composed of two ``solve`` calls, so it is
    differentiable in both ``c`` and ``b``. Shapes as ``solve``."""
    c = as_matrix(c, "cho_solve", square=True, arg="c")
    lo = c if lower else F.swapaxes(c, -1, -2)
    return solve(F.swapaxes(lo, -1, -2), solve(lo, b))
