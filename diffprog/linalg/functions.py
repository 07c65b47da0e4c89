"""Matrix functions: ``norm``, ``matrix_power``, ``expm``."""
import numpy as np

from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import backend as B
import diffprog.autodiff as F
from diffprog.autodiff.extend import Primitive, apply

from ._util import as_matrix, call, holomorphic, raw
from .decompositions import svd
from .solve import inv


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norm (NumPy's ``numpy.linalg.norm``).

    Vector (1-D input, or an int ``axis``): ``ord`` None/2, 1, inf, -inf, 0 < p, via ``dp.norm``.
    Matrix (2-D input with ``axis=None``, or a 2-tuple ``axis``): None/'fro' (Frobenius), 'nuc'
    (sum of singular values), 2 / -2 (largest / smallest singular value), 1 / -1 (max / min
    absolute column sum), inf / -inf (max / min absolute row sum). Conventions: gradient 0 at 0;
    tied maxima share the gradient; for ord=2 with a repeated top singular value the gradient is
    the average over the tied singular vectors' directions (a subgradient)."""
    xd = np.shape(raw(x))
    if axis is None:
        if len(xd) == 2 and ord is not None:
            axis = (0, 1)
        elif ord is None:
            out = F.norm(F.reshape(x, (-1,)))
            return F.reshape(out, (1,) * len(xd)) if keepdims else out
        elif len(xd) == 1:
            axis = 0
        else:
            raise ValueError(f"linalg.norm: ord={ord!r} needs a 1-D or 2-D input or an axis, got shape {xd}")
    if isinstance(axis, (int, np.integer)) or (isinstance(axis, tuple) and len(axis) == 1):
        a = axis if isinstance(axis, (int, np.integer)) else axis[0]
        if ord in ("fro", "nuc"):
            raise ValueError(f"linalg.norm: ord={ord!r} is a matrix norm; pass a 2-tuple axis")
        return F.norm(x, ord=ord, axis=int(a), keepdims=keepdims)
    if not (isinstance(axis, tuple) and len(axis) == 2):
        raise ValueError(f"linalg.norm: axis must be None, an int or a 2-tuple, got {axis!r}")
    r, c = B.normalize_axes(axis, len(xd))
    if r == c:
        raise ValueError(f"linalg.norm: the two axes must differ, got {axis}")
    m = F.moveaxis(x, (r, c), (-2, -1))
    if ord in (None, "fro"):
        out = F.sqrt(F.sum(F.abs(m) ** 2 if np.iscomplexobj(raw(m)) else m * m, axis=(-2, -1)))
    elif ord == "nuc":
        out = F.sum(svd(m, compute_uv=False), axis=-1)
    elif ord in (2, -2):
        s = svd(m, compute_uv=False)
        out = F.max(s, axis=-1) if ord == 2 else F.min(s, axis=-1)
    elif ord in (1, -1):
        sums = F.sum(F.abs(m), axis=-2)
        out = F.max(sums, axis=-1) if ord == 1 else F.min(sums, axis=-1)
    elif ord in (np.inf, -np.inf):
        sums = F.sum(F.abs(m), axis=-1)
        out = F.max(sums, axis=-1) if ord == np.inf else F.min(sums, axis=-1)
    else:
        raise ValueError(f"linalg.norm: unsupported matrix ord {ord!r}; expected None, 'fro', 'nuc', 1, -1, 2, "
                         f"-2, inf or -inf")
    if keepdims:
        out = F.expand_dims(F.expand_dims(out, min(r, c)), max(r, c))
    return out


def matrix_power(a, n):
    """a^n for an integer ``n`` (n = 0: identity; n < 0: inv(a)^|n|), by repeated squaring
    (so about 2 log2|n| differentiable matmuls)."""
    a = as_matrix(a, "matrix_power", square=True)
    if not isinstance(n, (int, np.integer)):
        raise TypeError(f"linalg.matrix_power: n must be an integer, got {n!r}")
    n = int(n)
    if n == 0:
        shape = np.shape(raw(a))
        return Tensor(np.broadcast_to(np.eye(shape[-1], dtype=raw(a).dtype), shape).copy())
    if n < 0:
        a, n = inv(a), -n
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else F.matmul(result, base)
        n >>= 1
        if n:
            base = F.matmul(base, base)
    return result if type(result) is Tensor else Tensor(result)


def _expm_forward(a):
    from scipy.linalg import expm as scipy_expm
    return scipy_expm(a)


def _frechet(a, e):
    """L(a, e), the Frechet derivative of expm at a in direction e: the upper-right block of
    expm([[a, e], [0, a]]) (differentiable again when a and e are Tensors)."""
    n = B.shape(a)[-1]
    zero = np.zeros(np.broadcast_shapes(B.shape(a), B.shape(e)), dtype=np.result_type(raw(a), raw(e)))
    a = B.broadcast_to(a, shape=zero.shape) if B.shape(a) != zero.shape else a
    e = B.broadcast_to(e, shape=zero.shape) if B.shape(e) != zero.shape else e
    top = B.concatenate([a, e], axis=-1)
    bottom = B.concatenate([zero, a], axis=-1)
    block = call(EXPM, B.concatenate([top, bottom], axis=-2))
    return B.getitem(block, idx=(Ellipsis, slice(0, n), slice(n, 2 * n)))


EXPM = Primitive("expm", _expm_forward,
                 vjps=[holomorphic(lambda g, ans, a: _frechet(B.swap_last(a), g))],
                 jvps=[lambda t, ans, a: _frechet(a, t)])


def expm(a):
    """Matrix exponential of (a batch of) square matrices (SciPy's Pade algorithm).
    The VJP is the Frechet derivative at a^T applied to the cotangent, the JVP the Frechet
    derivative at a, both from the exponential of a 2n x 2n block matrix."""
    return apply(EXPM, as_matrix(a, "expm", square=True))
