"""The NumPy-named, differentiable user API (``dp.sin``, ``dp.sum``, ``dp.einsum``, ...).

Each function accepts Tensors, NumPy arrays and Python scalars and returns a Tensor. Functions
that are rows of the primitive table are thin wrappers; the rest are composed from them (fewer
rules to get wrong). This module also installs Tensor's operators and methods.
"""
import builtins

import numpy as np

from . import mode as _mode
from . import primitives as P
from .tape import _ONE, _apply, apply, record_on_parent
from .tensor import Tensor, tensor

_raw = P.B.data


def _unary(prim, doc):
    def fn(x):
        return _apply(prim, x)
    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = doc
    return fn


def _binary(prim, doc):
    def fn(x, y):
        return _apply(prim, x, y)
    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = doc
    return fn


# ---- elementwise ------------------------------------------------------------------------------
negative = _unary(P.NEGATIVE, "-x.")
exp = _unary(P.EXP, "e**x.")
log = _unary(P.LOG, "Natural logarithm.")
log1p = _unary(P.LOG1P, "log(1 + x), accurate for small x.")
expm1 = _unary(P.EXPM1, "exp(x) - 1, accurate for small x.")
sqrt = _unary(P.SQRT, "Square root. Convention: the derivative at 0 is taken as 0 (not inf), so "
                      "compositions such as norm(0) have finite, zero gradients.")
square = _unary(P.SQUARE, "x**2.")
sin = _unary(P.SIN, "Sine.")
cos = _unary(P.COS, "Cosine.")
tan = _unary(P.TAN, "Tangent.")
arcsin = _unary(P.ARCSIN, "Inverse sine.")
arccos = _unary(P.ARCCOS, "Inverse cosine.")
arctan = _unary(P.ARCTAN, "Inverse tangent.")
sinh = _unary(P.SINH, "Hyperbolic sine.")
cosh = _unary(P.COSH, "Hyperbolic cosine.")
tanh = _unary(P.TANH, "Hyperbolic tangent.")
sigmoid = _unary(P.SIGMOID, "Logistic function 1 / (1 + exp(-x)), accurate in both tails.")
relu = _unary(P.RELU, "max(x, 0). Convention: relu'(0) = 0 (as PyTorch).")
softplus = _unary(P.SOFTPLUS, "log(1 + exp(x)), computed stably.")
abs = _unary(P.ABS, "Absolute value (modulus |z| for complex input). Convention: abs'(0) = 0 (the "
                    "subgradient PyTorch and JAX use); for complex z the gradient is g * z / |z|.")
real = _unary(P.REAL, "Real part (a real Tensor; identity for real input).")
imag = _unary(P.IMAG, "Imaginary part (a real Tensor; zeros for real input).")
angle = _unary(P.ANGLE, "Argument of a complex number in (-pi, pi]; gradient 0 at 0 and for real input.\n\n"
                        "Complex gradients (all of dp) follow the conjugate-Wirtinger convention of PyTorch "
                        "and JAX: for a real loss L of z = a + ib, the gradient is dL/da + i dL/db.")
absolute = abs
arcsinh = _unary(P.ARCSINH, "Inverse hyperbolic sine.")
arccosh = _unary(P.ARCCOSH, "Inverse hyperbolic cosine (x >= 1).")
arctanh = _unary(P.ARCTANH, "Inverse hyperbolic tangent (|x| < 1).")
log2 = _unary(P.LOG2, "Base-2 logarithm.")
log10 = _unary(P.LOG10, "Base-10 logarithm.")
exp2 = _unary(P.EXP2, "2**x.")
cbrt = _unary(P.CBRT, "Real cube root (its derivative is infinite at 0).")
sign = _unary(P.SIGN, "Sign of x; its gradient is 0 everywhere.")
reciprocal = _unary(P.RECIPROCAL, "1 / x.")
conj = _unary(P.CONJ, "Complex conjugate.")

add = _binary(P.ADD, "x + y with broadcasting.")
subtract = _binary(P.SUBTRACT, "x - y with broadcasting.")
def multiply(x, y):
    """x * y with broadcasting. ``x * x`` of one Tensor is recorded as ``square`` (the same
    numbers, one node and fewer temporaries in the backward pass)."""
    if x is y and type(x) is Tensor:
        return _apply(P.SQUARE, x)
    return _apply(P.MULTIPLY, x, y)


divide = _binary(P.DIVIDE, "x / y with broadcasting.")
true_divide = divide


def power(x, y):
    """x ** y with broadcasting. d/dy uses log(x) and is taken as 0 where x <= 0.
    A constant exponent 2 is computed as ``square`` (one multiply in each direction)."""
    if type(y) is int and y == 2:
        return _apply(P.SQUARE, x)
    return _apply(P.POWER, x, y)
maximum = _binary(P.MAXIMUM, "Elementwise maximum. Convention: at ties the gradient is split evenly "
                             "(half to each argument).")
minimum = _binary(P.MINIMUM, "Elementwise minimum. Convention: at ties the gradient is split evenly.")
arctan2 = _binary(P.ARCTAN2, "Four-quadrant arctan(y / x); gradient 0 at the origin.")
hypot = _binary(P.HYPOT, "sqrt(x**2 + y**2) without overflow; gradient 0 at the origin.")
logaddexp = _binary(P.LOGADDEXP, "log(exp(x) + exp(y)), computed stably.")
matmul = _binary(P.MATMUL, "Matrix product with NumPy's rules (1-D operands, batched leading axes).")


def _differentiated(t):
    """True for a Tensor that reverse mode records or forward mode carries a tangent for."""
    if type(t) is not Tensor:
        return False
    tangents = _mode._tangents.get()
    return t.requires_grad or (tangents is not None and id(t) in tangents)


def clip(x, a_min=None, a_max=None):
    """Clip values to [a_min, a_max]. Convention: the gradient passes at the bounds themselves.
    Bounds given as Tensors that require grad are differentiated too (via maximum/minimum)."""
    if _differentiated(a_min) or _differentiated(a_max):
        out = x if a_min is None else maximum(x, a_min)
        return out if a_max is None else minimum(out, a_max)
    return apply(P.CLIP, x, a_min=_raw(a_min), a_max=_raw(a_max))


def where(condition, x, y):
    """Choose ``x`` where ``condition`` holds, else ``y`` (broadcasting). Only the chosen branch
    receives gradient."""
    return apply(P.WHERE, np.asarray(_raw(condition), dtype=bool), x, y)


# ---- reductions -------------------------------------------------------------------------------

def _axis(axis):
    if isinstance(axis, list):
        return tuple(axis)
    return axis


_select = where     # (the reductions' ``where=`` keyword shadows the function inside them)


def sum(x, axis=None, keepdims=False, *, initial=None, where=True):
    """Sum over ``axis`` (int, tuple or None for all). NumPy's ``initial`` is added and ``where``
    (a boolean mask broadcast against ``x``) keeps only the masked entries."""
    if where is not True:
        x = _select(where, x, 0.0)
    out = _apply(P.SUM, x, _ONE, {"axis": _axis(axis), "keepdims": keepdims})
    return out if initial is None else out + initial


def mean(x, axis=None, keepdims=False, *, where=True):
    """Arithmetic mean over ``axis`` (of the entries selected by ``where``, as in NumPy)."""
    shape = np.shape(_raw(x))
    axis = _axis(axis)
    if where is not True:
        count = np.sum(np.broadcast_to(np.asarray(where, dtype=bool), shape), axis=axis, keepdims=keepdims)
        return sum(x, axis=axis, keepdims=keepdims, where=where) / count
    n = int(np.prod(shape)) if axis is None else int(np.prod([shape[a] for a in P.B.normalize_axes(axis, len(shape))]))
    if not n:
        return sum(x, axis, keepdims) * np.nan
    return _apply(P.MEAN, x, _ONE, {"axis": axis, "keepdims": keepdims, "count": n})


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; the gradient is exact also when entries are zero."""
    return apply(P.PROD, x, axis=_axis(axis), keepdims=keepdims)


def _extremum(prim, combine, fill, x, axis, keepdims, initial, where):
    if where is not True:
        if initial is None:
            raise ValueError(f"{prim.name}: where= needs initial= (the value of an empty selection), as in NumPy")
        x = _select(where, x, fill)
    out = apply(prim, x, axis=_axis(axis), keepdims=keepdims)
    return out if initial is None else combine(out, initial)


def max(x, axis=None, keepdims=False, *, initial=None, where=True):
    """Maximum over ``axis``. Convention: tied maxima share the gradient evenly. NumPy's
    ``initial`` joins the comparison; ``where`` (needs ``initial``) masks entries out."""
    return _extremum(P.MAX, maximum, -np.inf, x, axis, keepdims, initial, where)


def min(x, axis=None, keepdims=False, *, initial=None, where=True):
    """Minimum over ``axis``. Convention: tied minima share the gradient evenly (``initial`` and
    ``where`` as in ``max``)."""
    return _extremum(P.MIN, minimum, np.inf, x, axis, keepdims, initial, where)


amax, amin = max, min


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, computed with a max shift (no overflow)."""
    return apply(P.LOGSUMEXP, x, axis=_axis(axis), keepdims=keepdims)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
    return apply(P.SOFTMAX, x, axis=axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``."""
    return apply(P.LOG_SOFTMAX, x, axis=axis)


def var(x, axis=None, ddof=0, keepdims=False):
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom (NumPy's default ddof=0)."""
    axis = _axis(axis)
    d = x - mean(x, axis=axis, keepdims=True)
    shape = np.shape(_raw(x))
    n = int(np.prod(shape)) if axis is None else int(np.prod([shape[a] for a in P.B.normalize_axes(axis, len(shape))]))
    return sum(d * d, axis=axis, keepdims=keepdims) / (n - ddof)


def std(x, axis=None, ddof=0, keepdims=False):
    """Standard deviation; gradient 0 (not NaN) for constant input (see ``sqrt``)."""
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector p-norm (``ord`` None/2, 1, inf, -inf, 0 < p) over ``axis`` or the Frobenius norm
    (``ord='fro'``, or ``ord=None`` over all entries of a matrix). Convention: the gradient at 0
    is 0. Spectral and nuclear norms are in ``dp.linalg.norm``."""
    axis = _axis(axis)
    x = x if type(x) is Tensor else np.asarray(x)
    if ord in (None, 2, "fro"):
        if ord == 2 and isinstance(axis, tuple) and len(axis) == 2:
            raise ValueError("norm(ord=2) over two axes is the spectral norm: use dp.linalg.norm")
        return sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return min(abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)) and ord > 0:
        total = sum(abs(x) ** ord, axis=axis, keepdims=keepdims)
        nonzero = np.asarray(_raw(total)) > 0               # the gradient at 0 is 0, not NaN
        return where(nonzero, where(nonzero, total, 1.0) ** (1.0 / ord), 0.0)
    raise ValueError(f"norm: ord={ord!r} is not supported here; expected None, 'fro', 1, 2, inf, -inf "
                     f"or a positive number (matrix norms: dp.linalg.norm)")


def cumsum(x, axis=None):
    """Cumulative sum along ``axis`` (flattened when None)."""
    return apply(P.CUMSUM, x, axis=axis)


# ---- linear algebra ---------------------------------------------------------------------------

def einsum(subscripts, *operands):
    """Einstein summation (NumPy's notation, ellipses and implicit output allowed)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string like 'ij,jk->ik', got {type(subscripts).__name__}")
    return apply(P.EINSUM, *operands, subscripts=subscripts)


def dot(a, b):
    """NumPy's dot: products for 0-d, inner product for 1-D, matmul for 2-D, and for N-D a sum over
    the last axis of ``a`` and the second-to-last of ``b``."""
    na, nb = np.ndim(_raw(a)), np.ndim(_raw(b))
    if na == 0 or nb == 0:
        return multiply(a, b)
    if na <= 2 and nb <= 2:
        return matmul(a, b)
    if nb == 1:
        return einsum("...i,i->...", a, b)
    la = P._LETTERS[:na - 1]
    lb = P._LETTERS[na - 1:na + nb - 3]
    return einsum(f"{la}z,{lb[:nb - 2]}zy->{la}{lb[:nb - 2]}y", a, b)


def vdot(a, b):
    """Sum of elementwise products of the flattened inputs (conjugating ``a``)."""
    return sum(reshape(conj(a), (-1,)) * reshape(b, (-1,)))


def inner(a, b):
    return einsum("...i,...i->...", a, b) if np.ndim(_raw(a)) and np.ndim(_raw(b)) else multiply(a, b)


def outer(a, b):
    """Outer product of the flattened inputs."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def cross(a, b, axis=-1):
    """Cross product of 3-vectors along ``axis`` (broadcasting over the rest)."""
    a, b = moveaxis(a, axis, -1), moveaxis(b, axis, -1)
    if np.shape(_raw(a))[-1] != 3 or np.shape(_raw(b))[-1] != 3:
        raise ValueError(f"cross: both inputs need length 3 along axis {axis}, got shapes "
                         f"{np.shape(_raw(a))} and {np.shape(_raw(b))}")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return moveaxis(stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1), -1, axis)


def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal (``offset`` above the main one) over ``axis1`` and ``axis2``."""
    x = moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = np.shape(_raw(x))[-2:]
    return einsum("...ii->...", x) if n == m and offset == 0 else sum(diagonal(x, offset, -2, -1), axis=-1)


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal ``offset`` above the main one (below when negative) over ``axis1`` and
    ``axis2``, as the last axis of the result (NumPy's signature)."""
    x = moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = np.shape(_raw(x))[-2:]
    rows = np.arange(builtins.max(0, -offset), n)
    cols = rows + offset
    keep = cols < m
    return x[..., rows[keep], cols[keep]]


# ---- shape --------------------------------------------------------------------------------------

def reshape(x, shape):
    """Reshape (one entry may be -1)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    if type(x) is Tensor and x._node is not None and x._node.prim is P.GETITEM:
        t = record_on_parent(P.GETITEM_RESHAPE, x, np.reshape, {"shape": tuple(shape)})
        if t is not None:
            return t
    return _apply(P.RESHAPE, x, _ONE, {"shape": tuple(shape)})


def ravel(x):
    return reshape(x, (-1,))


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None)."""
    return _apply(P.TRANSPOSE, x, _ONE, {"axes": None if axes is None else tuple(int(a) for a in axes)})


def swapaxes(x, axis1, axis2):
    n = np.ndim(_raw(x))
    axes = list(range(n))
    a1, a2 = P.B.normalize_axes((axis1, axis2), n)
    axes[a1], axes[a2] = axes[a2], axes[a1]
    return transpose(x, axes)


def moveaxis(x, source, destination):
    """Move axes to new positions (NumPy semantics)."""
    n = np.ndim(_raw(x))
    src = P.B.normalize_axes(tuple(source) if isinstance(source, (tuple, list)) else source, n)
    dst = P.B.normalize_axes(tuple(destination) if isinstance(destination, (tuple, list)) else destination, n)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} differ in length")
    order = [a for a in range(n) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    if order == list(range(n)):
        return x if type(x) is Tensor else tensor(x)
    return transpose(x, order)


def expand_dims(x, axis):
    """Insert size-1 axes at ``axis`` (int or tuple)."""
    shape = list(np.shape(_raw(x)))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    n = len(shape) + len(axes)
    for a in sorted(P.B.normalize_axes(tuple(axes), n)):
        shape.insert(a, 1)
    return reshape(x, shape)


def squeeze(x, axis=None):
    """Remove size-1 axes (all of them, or those named in ``axis``)."""
    shape = np.shape(_raw(x))
    if axis is None:
        new = [n for n in shape if n != 1]
    else:
        axes = P.B.normalize_axes(tuple(axis) if isinstance(axis, (tuple, list)) else axis, len(shape))
        for a in axes:
            if shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} has size {shape[a]}, not 1 (shape {shape})")
        new = [n for i, n in enumerate(shape) if i not in axes]
    return reshape(x, new)


def broadcast_to(x, shape):
    """Broadcast to ``shape``; the gradient is summed back over the broadcast axes."""
    return apply(P.BROADCAST_TO, x, shape=tuple(shape))


def concatenate(arrays, axis=0):
    """Join a sequence of arrays along an existing axis."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("concatenate: need at least one array")
    return apply(P.CONCATENATE, *arrays, axis=axis)


def stack(arrays, axis=0):
    """Join a sequence of same-shaped arrays along a new axis."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("stack: need at least one array")
    shapes = {np.shape(_raw(a)) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"stack: all inputs must have the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def split(x, indices_or_sections, axis=0):
    """Split into a list of Tensors (NumPy semantics)."""
    n = np.shape(_raw(x))[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {axis} of length {n} cannot be split into {k} equal sections")
        bounds = list(range(0, n + 1, n // k))
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    ax = axis % np.ndim(_raw(x))
    return [x[(slice(None),) * ax + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:])]


def flip(x, axis=None):
    """Reverse the order of elements along ``axis`` (all axes when None)."""
    return apply(P.FLIP, x, axis=axis)


def pad(x, pad_width, mode="constant", constant_values=0):
    """Pad an array. ``mode='constant'`` (with ``constant_values``), 'edge', 'reflect',
    'symmetric' or 'wrap'; all differentiable."""
    if mode == "constant":
        out = apply(P.PAD, x, pad_width=pad_width)
        if constant_values != 0:
            mask = np.pad(np.zeros(np.shape(_raw(x)), dtype=bool), pad_width, constant_values=True)
            out = out + np.where(mask, constant_values, 0).astype(np.result_type(np.asarray(_raw(x)), 0.0))
        return out
    shape = np.shape(_raw(x))
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (len(shape), 2))
    index = tuple(np.pad(np.arange(n), tuple(w), mode=mode) for n, w in zip(shape, widths))
    return x[np.ix_(*index)]


def tile(x, reps):
    """Repeat the whole array ``reps`` times along each axis (NumPy semantics)."""
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    shape = np.shape(_raw(x))
    nd = builtins.max(len(shape), len(reps))
    x = reshape(x, (1,) * (nd - len(shape)) + shape)
    reps = (1,) * (nd - len(reps)) + reps
    index = tuple(np.tile(np.arange(n), r) for n, r in zip(np.shape(_raw(x)), reps))
    return x[np.ix_(*index)]


def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (flattened when None)."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    n = np.shape(_raw(x))[axis]
    return take(x, np.repeat(np.arange(n), repeats), axis=axis)


# ---- gather and scatter -----------------------------------------------------------------------

def _index(idx):
    if type(idx) is Tensor:
        return idx.data
    if isinstance(idx, tuple):
        return tuple(i.data if type(i) is Tensor else i for i in idx)
    if isinstance(idx, list):
        arr = np.asarray(idx)
        return arr.astype(np.intp) if arr.size == 0 else arr     # x[[]] selects nothing, as in NumPy
    return idx


def getitem(x, idx):
    """``x[idx]`` with basic slices, integer arrays, boolean masks, None and Ellipsis."""
    if type(idx) is slice or type(idx) is int:          # (nothing to unwrap)
        return _apply(P.GETITEM, x, _ONE, {"idx": idx})
    return _apply(P.GETITEM, x, _ONE, {"idx": _index(idx)})


def take(x, indices, axis=None):
    """Gather entries by integer ``indices`` along ``axis`` (flattened array when None)."""
    indices = np.asarray(_raw(indices))
    if axis is None:
        return reshape(x, (-1,))[indices]
    axis = P.B.normalize_axes(axis, np.ndim(_raw(x)))[0]
    return x[(slice(None),) * axis + (indices,)]


def take_along_axis(x, indices, axis):
    """Gather ``x`` at ``indices`` matched along ``axis`` (``numpy.take_along_axis``)."""
    xd, ind = _raw(x), np.asarray(_raw(indices))
    if ind.ndim != np.ndim(xd):
        raise ValueError(f"take_along_axis: indices must have the same number of dimensions as x "
                         f"({np.ndim(xd)}), got shape {ind.shape}")
    axis = P.B.normalize_axes(axis, np.ndim(xd))[0]
    grids = list(np.ogrid[tuple(slice(n) for n in ind.shape)])
    grids[axis] = ind
    return x[tuple(grids)]


def index_add(x, axis, index, source):
    """Scatter-add (PyTorch's ``index_add``): a copy of ``x`` with ``source`` added at ``index``
    along ``axis``; repeated indices accumulate. Differentiable in ``x`` and ``source``."""
    index = np.asarray(_raw(index))
    nd = np.ndim(_raw(x))
    axis = P.B.normalize_axes(axis, nd)[0]
    if index.ndim != 1:
        raise ValueError(f"index_add: index must be 1-D, got shape {index.shape}")
    expected = np.shape(_raw(x))[:axis] + (len(index),) + np.shape(_raw(x))[axis + 1:]
    if np.shape(_raw(source)) != expected:
        raise ValueError(f"index_add: source has shape {np.shape(_raw(source))}, expected {expected} "
                         f"(x's shape {np.shape(_raw(x))} with axis {axis} of length len(index))")
    if len(index) and (index.min() < -np.shape(_raw(x))[axis] or index.max() >= np.shape(_raw(x))[axis]):
        raise IndexError(f"index_add: index out of range for axis {axis} of size {np.shape(_raw(x))[axis]}")
    return apply(P.INDEX_ADD, x, source, axis=axis, index=index)


def astype(x, dtype):
    """Cast to ``dtype``; the gradient is cast back to the input's dtype. A cast to an integer or
    boolean dtype is not differentiable: its result is a constant (as in PyTorch)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        return apply(P.CAST, _raw(x), dtype=dtype)
    return apply(P.CAST, x, dtype=dtype)


# ---- constructors -----------------------------------------------------------------------------

def zeros(shape, dtype=np.float64, requires_grad=False):
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(shape, dtype=np.float64, requires_grad=False):
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False):
    return Tensor(np.full(shape, fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(x, dtype=None, requires_grad=False):
    return Tensor(np.zeros_like(_raw(x), dtype=dtype), requires_grad=requires_grad)


def ones_like(x, dtype=None, requires_grad=False):
    return Tensor(np.ones_like(_raw(x), dtype=dtype), requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, requires_grad=False):
    return Tensor(np.full_like(_raw(x), fill_value, dtype=dtype), requires_grad=requires_grad)


def arange(*args, dtype=None, requires_grad=False):
    return Tensor(np.arange(*args, dtype=dtype), requires_grad=requires_grad)


def linspace(start, stop, num=50, endpoint=True, dtype=None, requires_grad=False):
    return Tensor(np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype), requires_grad=requires_grad)


def eye(n, m=None, k=0, dtype=np.float64, requires_grad=False):
    return Tensor(np.eye(n, m, k, dtype=dtype), requires_grad=requires_grad)


# ---- Tensor operators and methods ---------------------------------------------------------------

def _reflected(fn):
    def r(self, other):
        return fn(other, self)
    return r


def _setitem(self, idx, value):
    raise TypeError("Tensors are immutable: instead of t[idx] = v, build a new Tensor with dp.where, "
                    "dp.index_add or dp.concatenate (or edit t.data outside of any graph)")


def _install():
    T = Tensor
    T.__add__, T.__radd__ = add, _reflected(add)
    T.__sub__, T.__rsub__ = subtract, _reflected(subtract)
    T.__mul__, T.__rmul__ = multiply, _reflected(multiply)
    T.__truediv__, T.__rtruediv__ = divide, _reflected(divide)
    T.__pow__, T.__rpow__ = power, _reflected(power)
    T.__matmul__, T.__rmatmul__ = matmul, _reflected(matmul)
    T.__neg__ = negative
    T.__pos__ = lambda self: self
    T.__abs__ = abs
    T.__getitem__ = getitem
    T.__setitem__ = _setitem
    T.T = property(lambda self: transpose(self))
    T.mT = property(lambda self: swapaxes(self, -1, -2))
    for name in ("sum", "mean", "prod", "max", "min", "var", "std", "cumsum", "logsumexp", "exp", "log",
                 "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "clip", "squeeze", "flip",
                 "swapaxes", "moveaxis", "repeat", "take", "dot", "astype", "conj", "ravel", "norm",
                 "trace", "diagonal", "expand_dims", "broadcast_to", "softmax", "log_softmax"):
        setattr(T, name, globals()[name])
    T.reshape = lambda self, *shape: reshape(self, shape[0] if len(shape) == 1 and not isinstance(
        shape[0], (int, np.integer)) else shape)
    T.transpose = lambda self, *axes: transpose(self, axes[0] if len(axes) == 1 and not isinstance(
        axes[0], (int, np.integer)) else (axes or None))
    T.flatten = ravel
    T.real = property(real)
    T.imag = property(imag)


_install()

# the public names: every function defined above (imports and helpers stay private)
__all__ = sorted(name for name, value in list(globals().items())
                 if not name.startswith("_") and callable(value) and name not in
                 {"apply", "Tensor", "tensor"} and getattr(value, "__module__", "") == __name__)
