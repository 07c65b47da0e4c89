"""More of NumPy's API, composed from the table's primitives, and NumPy's dispatch onto them.

These functions have no derivative rule of their own (tinygrad's rule: compose unless a fused rule
is faster or more stable): ``sort`` is a gather by ``argsort``, ``diag`` a gather from the vector
padded with a zero, ``convolve`` a matrix-vector product of gathered windows. Piecewise-constant
functions (``round``, ``floor``...) return constant Tensors: their derivative is 0 almost everywhere,
as in PyTorch. The end of the module maps every NumPy function and ufunc that has a diffprog
counterpart to it (see ``numpy_api``).
"""
import builtins

import numpy as np

from . import functions as F
from . import numpy_api
from . import primitives as P
from .numpy_api import implements
from .tape import apply
from .tensor import Tensor

_raw = P.B.data
__all__ = []


def _public(fn):
    __all__.append(fn.__name__)
    return fn


def _shape(x):
    return np.shape(_raw(x))


def _tensor(x):
    return x if type(x) is Tensor else Tensor(np.asarray(x))


# ---- elementwise ----------------------------------------------------------------------------

@_public
def positive(x):
    """+x (a copy in the graph)."""
    return apply(P.IDENTITY, x)


@_public
def copy(x):
    """A copy of ``x`` that stays in the graph (``np.copy``, ``Tensor.copy``)."""
    return apply(P.IDENTITY, x)


@_public
def deg2rad(x):
    return F.multiply(x, np.pi / 180)


@_public
def rad2deg(x):
    return F.multiply(x, 180 / np.pi)


radians, degrees = deg2rad, rad2deg
__all__ += ["radians", "degrees"]


@_public
def logaddexp2(x, y):
    """log2(2**x + 2**y), computed stably."""
    return F.logaddexp(F.multiply(x, P._LN2), F.multiply(y, P._LN2)) / P._LN2


@_public
def remainder(x, y):
    """x - floor(x / y) * y (Python's %, the sign of y); d/dx = 1, d/dy = -floor(x / y)."""
    return F.subtract(x, F.multiply(y, np.floor_divide(_raw(x), _raw(y))))


mod = remainder
__all__.append("mod")


@_public
def fmod(x, y):
    """x - trunc(x / y) * y (C's fmod, the sign of x)."""
    return F.subtract(x, F.multiply(y, np.trunc(np.true_divide(_raw(x), _raw(y)))))


@_public
def float_power(x, y):
    """x ** y computed in float64 (complex128 for complex input)."""
    dt = np.complex128 if np.iscomplexobj(_raw(x)) or np.iscomplexobj(_raw(y)) else np.float64
    return F.power(F.astype(x, dt), y)


@_public
def copysign(x, y):
    """|x| with the sign of y; the gradient with respect to y is 0."""
    return F.multiply(F.abs(x), np.where(np.signbit(_raw(y)), -1.0, 1.0))


@_public
def round(x, decimals=0):
    """Round to ``decimals`` places. Piecewise constant: a constant Tensor (derivative 0, as PyTorch)."""
    return Tensor(np.round(_raw(x), decimals))


around = round
__all__.append("around")


@_public
def fix(x):
    """Round towards zero; a constant Tensor (derivative 0 almost everywhere)."""
    return Tensor(np.fix(_raw(x)))


@_public
def sinc(x):
    """sin(pi x) / (pi x), 1 at 0 (where the derivative is 0)."""
    xd = _raw(x)
    zero = xd == 0
    safe = F.where(zero, 1.0, x)
    return F.where(zero, 1.0, F.sin(np.pi * safe) / (np.pi * safe))


# ---- shape ------------------------------------------------------------------------------------

@_public
def atleast_1d(*arys):
    res = [F.reshape(a, (1,)) if np.ndim(_raw(a)) == 0 else _tensor(a) for a in arys]
    return res[0] if len(res) == 1 else tuple(res)


@_public
def atleast_2d(*arys):
    res = []
    for a in arys:
        nd = np.ndim(_raw(a))
        res.append(F.reshape(a, (1,) * (2 - nd) + _shape(a)) if nd < 2 else _tensor(a))
    return res[0] if len(res) == 1 else tuple(res)


@_public
def atleast_3d(*arys):
    res = []
    for a in arys:
        s = _shape(a)
        new = {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}.get(len(s))
        res.append(F.reshape(a, new) if new is not None else _tensor(a))
    return res[0] if len(res) == 1 else tuple(res)


def _list(arrays, name):
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{name}: need at least one array")
    return arrays


@_public
def hstack(tup):
    arrs = [atleast_1d(a) for a in _list(tup, "hstack")]
    return F.concatenate(arrs, axis=0 if all(np.ndim(_raw(a)) == 1 for a in arrs) else 1)


@_public
def vstack(tup):
    return F.concatenate([atleast_2d(a) for a in _list(tup, "vstack")], axis=0)


@_public
def dstack(tup):
    return F.concatenate([atleast_3d(a) for a in _list(tup, "dstack")], axis=2)


@_public
def column_stack(tup):
    arrs = [F.reshape(a, (-1, 1)) if np.ndim(_raw(a)) < 2 else a for a in _list(tup, "column_stack")]
    return F.concatenate(arrs, axis=1)


@_public
def append(arr, values, axis=None):
    if axis is None:
        return F.concatenate([F.ravel(arr), F.ravel(values)])
    return F.concatenate([arr, values], axis=axis)


@_public
def fliplr(m):
    return F.flip(m, axis=1)


@_public
def flipud(m):
    return F.flip(m, axis=0)


@_public
def roll(a, shift, axis=None):
    """Cyclic shift (a gather by rolled indices)."""
    if axis is None:
        n = int(np.prod(_shape(a)))
        return F.reshape(F.take(F.ravel(a), np.roll(np.arange(n), shift)), _shape(a))
    shifts = np.broadcast_to(shift, np.broadcast(shift, axis).shape).ravel()
    axes = np.broadcast_to(axis, np.broadcast(shift, axis).shape).ravel()
    out = a
    for s, ax in zip(shifts, axes):
        out = F.take(out, np.roll(np.arange(_shape(a)[ax]), int(s)), axis=int(ax))
    return out


@_public
def diag(v, k=0):
    """The k-th diagonal of a matrix, or a matrix with the vector ``v`` on its k-th diagonal."""
    nd = np.ndim(_raw(v))
    if nd == 2:
        return F.diagonal(v, k)
    if nd != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {_shape(v)}")
    m = _shape(v)[0]
    n = m + builtins.abs(k)
    index = np.full((n, n), m)                         # entry m: the appended zero
    rows = np.arange(m) + builtins.max(0, -k)
    index[rows, rows + k] = np.arange(m)
    padded = F.concatenate([v, np.zeros(1, dtype=np.result_type(_raw(v), 0.0))])
    return padded[index]


def _tri_mask(shape, k):
    n, m = shape[-2:]
    return np.tri(n, m, k, dtype=bool)


@_public
def tril(m, k=0):
    """Lower triangle (entries above the k-th diagonal zeroed)."""
    return F.where(_tri_mask(_shape(m), k), m, 0.0)


@_public
def triu(m, k=0):
    """Upper triangle (entries below the k-th diagonal zeroed)."""
    return F.where(~_tri_mask(_shape(m), k - 1), m, 0.0)


@_public
def diff(a, n=1, axis=-1, prepend=None, append=None):
    """n-th discrete difference along ``axis``."""
    parts = []
    nd = np.ndim(_raw(a))
    axis = P.B.normalize_axes(axis, nd)[0]
    for extra in (prepend, append):
        if extra is None:
            parts.append(None)
            continue
        shape = list(_shape(a))
        shape[axis] = 1
        parts.append(F.broadcast_to(extra, shape) if np.ndim(_raw(extra)) == 0 else extra)
    if parts[0] is not None or parts[1] is not None:
        a = F.concatenate([p for p in (parts[0], a, parts[1]) if p is not None], axis=axis)
    for _ in range(n):
        lo = (slice(None),) * axis + (slice(None, -1),)
        hi = (slice(None),) * axis + (slice(1, None),)
        a = a[hi] - a[lo]
    return a


@_public
def meshgrid(*xi, indexing="xy", sparse=False, copy=True):
    """Coordinate grids (``indexing='xy'`` or ``'ij'``); each output broadcasts one input."""
    n = len(xi)
    sizes = [int(np.size(_raw(x))) for x in xi]
    if indexing == "xy" and n >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, x in enumerate(xi):
        pos = {0: 1, 1: 0}.get(i, i) if indexing == "xy" and n >= 2 else i
        shape = [1] * n
        shape[pos] = -1
        r = F.reshape(x, shape)
        out.append(r if sparse else F.broadcast_to(r, sizes))
    return tuple(out)


# ---- sorting and order statistics ---------------------------------------------------------

@_public
def sort(a, axis=-1):
    """Sorted copy (a gather by the stable ``argsort``); ties keep their order."""
    if axis is None:
        a, axis = F.ravel(a), 0
    return F.take_along_axis(a, np.argsort(_raw(a), axis=axis, kind="stable"), axis)


@_public
def median(a, axis=None, keepdims=False):
    """Median (the mean of the two middle values for even counts)."""
    shape = _shape(a)
    if axis is None:
        s = sort(F.ravel(a), 0)
        n = s.shape[0]
        out = (s[(n - 1) // 2] + s[n // 2]) / 2
        return F.reshape(out, (1,) * len(shape)) if keepdims else out
    axis = P.B.normalize_axes(axis, len(shape))[0]
    s = sort(a, axis)
    n = shape[axis]
    out = (F.take(s, (n - 1) // 2, axis=axis) + F.take(s, n // 2, axis=axis)) / 2
    return F.expand_dims(out, axis) if keepdims else out


@_public
def ptp(a, axis=None, keepdims=False):
    """Range max - min."""
    return F.max(a, axis=axis, keepdims=keepdims) - F.min(a, axis=axis, keepdims=keepdims)


@_public
def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """Weighted mean; ``weights`` 1-D along ``axis`` or shaped like ``a``."""
    if weights is None:
        avg = F.mean(a, axis=axis, keepdims=keepdims)
        total = np.float64(np.prod(_shape(a)) / np.prod(_shape(avg))) if returned else None
    else:
        w = weights
        if np.ndim(_raw(w)) == 1 and np.ndim(_raw(a)) > 1:
            if axis is None:
                raise TypeError("average: 1-D weights for an N-D array need an axis")
            shape = [1] * np.ndim(_raw(a))
            shape[P.B.normalize_axes(axis, len(shape))[0]] = -1
            w = F.reshape(w, shape)
        total = F.sum(F.broadcast_to(w, _shape(a)) if _shape(w) != _shape(a) else w, axis=axis, keepdims=keepdims)
        avg = F.sum(F.multiply(a, w), axis=axis, keepdims=keepdims) / total
    return (avg, total) if returned else avg


@_public
def cumprod(a, axis=None):
    """Cumulative product along ``axis`` (flattened when None); exact also with zeros."""
    if axis is None:
        a, axis = F.ravel(a), 0
    return apply(P.CUMPROD, a, axis=P.B.normalize_axes(axis, np.ndim(_raw(a)))[0])


# ---- products ------------------------------------------------------------------------------

@_public
def kron(a, b):
    """Kronecker product."""
    sa, sb = _shape(a), _shape(b)
    nd = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    ea = F.reshape(a, tuple(v for n in sa for v in (n, 1)))
    eb = F.reshape(b, tuple(v for n in sb for v in (1, n)))
    return F.reshape(ea * eb, tuple(p * q for p, q in zip(sa, sb)))


@_public
def tensordot(a, b, axes=2):
    """Sum over the last ``axes`` axes of ``a`` and the first of ``b`` (or the listed pairs)."""
    na, nb = np.ndim(_raw(a)), np.ndim(_raw(b))
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    ax_a = [x % na for x in ax_a]
    ax_b = [x % nb for x in ax_b]
    letters = iter(P._LETTERS)
    la = [next(letters) for _ in range(na)]
    lb = [next(letters) for _ in range(nb)]
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = [la[i] for i in range(na) if i not in ax_a] + [lb[j] for j in range(nb) if j not in ax_b]
    return F.einsum("".join(la) + "," + "".join(lb) + "->" + "".join(out), a, b)


@_public
def convolve(a, v, mode="full"):
    """Discrete linear convolution of two 1-D arrays (``mode`` 'full', 'same' or 'valid')."""
    if np.ndim(_raw(a)) != 1 or np.ndim(_raw(v)) != 1:
        raise ValueError(f"convolve: inputs must be 1-D, got shapes {_shape(a)} and {_shape(v)}")
    if _shape(v)[0] > _shape(a)[0]:
        a, v = v, a
    n, m = _shape(a)[0], _shape(v)[0]
    padded = F.pad(a, (m - 1, m - 1))
    windows = np.arange(n + m - 1)[:, None] + (m - 1 - np.arange(m))[None, :]   # a[k - j]
    full = F.matmul(padded[windows], v)
    if mode == "full":
        return full
    if mode == "same":
        start = (m - 1) // 2
        return full[start:start + n]
    if mode == "valid":
        return full[m - 1:n]
    raise ValueError(f"convolve: mode must be 'full', 'same' or 'valid', got {mode!r}")


@_public
def correlate(a, v, mode="valid"):
    """Cross-correlation of two 1-D arrays: sum_n a[n + k] conj(v[n])."""
    if _shape(v)[0] > _shape(a)[0]:
        return F.flip(correlate(v, a, mode).conj(), axis=0)
    return convolve(a, F.flip(F.conj(v), axis=0), mode)


@_public
def polyval(p, x):
    """Evaluate the polynomial with coefficients ``p`` (highest degree first) at ``x`` (Horner)."""
    y = F.zeros_like(x) if np.ndim(_raw(p)) else None
    for i in range(_shape(p)[0]):
        y = p[i] + (0 if y is None else y * x)
    return y


@_public
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of ``y`` along ``axis`` by the trapezoidal rule."""
    nd = np.ndim(_raw(y))
    axis = P.B.normalize_axes(axis, nd)[0]
    lo = (slice(None),) * axis + (slice(None, -1),)
    hi = (slice(None),) * axis + (slice(1, None),)
    d = dx if x is None else diff(x, axis=axis if np.ndim(_raw(x)) == nd else -1)
    if x is not None and np.ndim(_raw(x)) == 1 and nd > 1:
        shape = [1] * nd
        shape[axis] = -1
        d = F.reshape(d, shape)
    return F.sum(d * (y[hi] + y[lo]) / 2, axis=axis)


@_public
def cov(m, y=None, rowvar=True, bias=False, ddof=None):
    """Covariance matrix of the variables (rows, or columns with ``rowvar=False``)."""
    x = atleast_2d(m)
    if not rowvar and _shape(x)[0] != 1:
        x = F.transpose(x)
    if y is not None:
        y = atleast_2d(y)
        if not rowvar and _shape(y)[0] != 1:
            y = F.transpose(y)
        x = F.concatenate([x, y], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    n = _shape(x)[1]
    centered = x - F.mean(x, axis=1, keepdims=True)
    c = F.matmul(centered, F.transpose(F.conj(centered))) / (n - ddof)
    return F.squeeze(c) if _shape(c) == (1, 1) else c


def _multi_dot(arrays, *, out=None):
    arrays = list(arrays)
    result = arrays[0]
    for a in arrays[1:]:
        result = F.matmul(result, a)
    return result


# ---- NumPy's dispatch --------------------------------------------------------------------------

def _where(condition, x=None, y=None):
    if x is None and y is None:
        return np.where(numpy_api.unwrap(condition))          # indices: nothing to differentiate
    return F.where(condition, x, y)


def _register():
    names = {**{n: getattr(F, n) for n in F.__all__}, **{n: globals()[n] for n in __all__}}
    for name, fn in names.items():
        np_func = getattr(np, name, None)
        if callable(np_func) and not isinstance(np_func, np.ufunc) and name not in ("where", "clip"):
            implements(np_func)(fn)
    implements(np.clip, rename={"min": "a_min", "max": "a_max"})(F.clip)
    numpy_api._HANDLERS[np.where] = _where
    implements(np.linalg.multi_dot)(_multi_dot)
    u = np
    numpy_api.install(
        ufuncs={u.add: F.add, u.subtract: F.subtract, u.multiply: F.multiply, u.true_divide: F.divide,
                u.power: F.power, u.float_power: float_power, u.matmul: F.matmul, u.negative: F.negative,
                u.positive: positive, u.exp: F.exp, u.exp2: F.exp2, u.log: F.log, u.log2: F.log2,
                u.log10: F.log10, u.log1p: F.log1p, u.expm1: F.expm1, u.sqrt: F.sqrt, u.square: F.square,
                u.cbrt: F.cbrt, u.sin: F.sin, u.cos: F.cos, u.tan: F.tan, u.arcsin: F.arcsin,
                u.arccos: F.arccos, u.arctan: F.arctan, u.sinh: F.sinh, u.cosh: F.cosh, u.tanh: F.tanh,
                u.arcsinh: F.arcsinh, u.arccosh: F.arccosh, u.arctanh: F.arctanh, u.absolute: F.abs,
                u.fabs: F.abs, u.sign: F.sign, u.maximum: F.maximum, u.minimum: F.minimum,
                u.fmax: F.maximum, u.fmin: F.minimum, u.arctan2: F.arctan2, u.hypot: F.hypot,
                u.logaddexp: F.logaddexp, u.logaddexp2: logaddexp2, u.reciprocal: F.reciprocal,
                u.conjugate: F.conj, u.deg2rad: deg2rad, u.rad2deg: rad2deg, u.radians: deg2rad,
                u.degrees: rad2deg, u.remainder: remainder,
                u.fmod: fmod, u.copysign: copysign},
        reductions={u.add: F.sum, u.multiply: F.prod, u.maximum: F.max, u.minimum: F.min,
                    u.fmax: F.max, u.fmin: F.min, u.logaddexp: F.logsumexp},
        scans={u.add: F.cumsum, u.multiply: cumprod},
        constants={u.floor, u.ceil, u.rint, u.trunc, u.floor_divide, u.heaviside, u.spacing})


def _install_methods():
    T = Tensor
    T.copy = copy
    T.round = round
    T.cumprod = cumprod
    T.ptp = ptp
    T.conjugate = F.conj
    T.argmax = lambda self, axis=None, keepdims=False: np.argmax(self.data, axis=axis, keepdims=keepdims)
    T.argmin = lambda self, axis=None, keepdims=False: np.argmin(self.data, axis=axis, keepdims=keepdims)
    T.argsort = lambda self, axis=-1, kind=None: np.argsort(self.data, axis=axis, kind=kind)
    T.nonzero = lambda self: np.nonzero(self.data)
    T.any = lambda self, axis=None, keepdims=False: np.any(self.data, axis=axis, keepdims=keepdims)
    T.all = lambda self, axis=None, keepdims=False: np.all(self.data, axis=axis, keepdims=keepdims)

    def sort_in_place(self, axis=-1, kind=None):
        raise TypeError("Tensor.sort() would sort in place and Tensors are immutable: use np.sort(t) "
                        "or dp.sort(t), which return a new, differentiable Tensor")
    T.sort = sort_in_place


_register()
_install_methods()
