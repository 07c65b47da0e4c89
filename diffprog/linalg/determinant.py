"""Determinants: ``det`` and ``slogdet``."""
import numpy as np

from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import backend as B
from diffprog.autodiff.extend import Primitive, apply

from ._util import as_matrix, call, holomorphic, raw
from .solve import INV


def _det_vjp(g, ans, a):
    return B.expand_dims(B.expand_dims(g * ans, -1), -1) * B.swap_last(call(INV, a))


DET = Primitive("det", np.linalg.det, vjps=[holomorphic(_det_vjp)],
                jvps=[lambda t, ans, a: ans * np.trace(np.linalg.solve(a, t), axis1=-2, axis2=-1)])


def _logabsdet_forward(a):
    return np.linalg.slogdet(a)[1]


LOGABSDET = Primitive(
    "slogdet", _logabsdet_forward,
    vjps=[lambda g, ans, a: B.expand_dims(B.expand_dims(g, -1), -1) * B.swap_last(call(INV, a))],
    jvps=[lambda t, ans, a: np.trace(np.linalg.solve(a, t), axis1=-2, axis2=-1)])


def det(a):
    """Determinant of (a batch of) square matrices: (..., n, n) -> (...).
    Gradient g det(a) inv(a)^T; at a singular matrix the gradient (the adjugate) is not computed
    (inv fails): use ``slogdet`` for ill-conditioned input."""
    return apply(DET, as_matrix(a, "det", square=True))


def slogdet(a):
    """Sign and log|det| of (a batch of) real square matrices: returns ``(sign, logabsdet)``, each of
    shape (...). ``sign`` is a constant (no gradient); d logabsdet / d a = inv(a)^T."""
    a = as_matrix(a, "slogdet", square=True)
    if np.iscomplexobj(raw(a)):
        raise TypeError(f"linalg.slogdet: complex input is not supported, got dtype {raw(a).dtype}")
    sign = np.linalg.slogdet(raw(a))[0]
    return Tensor(sign), apply(LOGABSDET, a)
