"""The vocabulary that derivative rules are written in.

Each function here takes NumPy arrays *or* Tensors. On arrays it is plain NumPy (an ordinary
backward pass records nothing); on Tensors it applies the differentiable primitive, so the very
same rule, run under ``create_graph=True``, builds a graph that can be differentiated again.
Python operators (``g * x``) already dispatch this way on their own.
"""
import numpy as np

from .node import Stub
from .tensor import Tensor
from . import tape
from .tape import apply
from . import primitives as P


def data(x):
    """The raw value of an array or Tensor (use for masks and other constants in rules)."""
    return x.data if type(x) is Tensor else x


def shape(x):
    if type(x) is Tensor:
        x = x.data
    return x.shape if type(x) is np.ndarray or type(x) is Stub else np.shape(x)


def ndim(x):
    if type(x) is Tensor:
        x = x.data
    return x.ndim if type(x) is np.ndarray or type(x) is Stub else np.ndim(x)


def dtype_of(x):
    if type(x) is Stub:                 # an array its node does not keep: the dtype is known
        return x.dtype
    return np.result_type(x.data if type(x) is Tensor else x)


def _unary(np_fn, prim_name):
    def fn(x):
        if type(x) is Tensor:
            return apply(getattr(P, prim_name), x)
        return np_fn(x)
    fn.__name__ = np_fn.__name__
    return fn


exp = _unary(np.exp, "EXP")
log = _unary(np.log, "LOG")
sin = _unary(np.sin, "SIN")
cos = _unary(np.cos, "COS")
sinh = _unary(np.sinh, "SINH")
cosh = _unary(np.cosh, "COSH")
sqrt = _unary(np.sqrt, "SQRT")
sign = _unary(np.sign, "SIGN")
conj = _unary(np.conj, "CONJ")


def sigmoid(x):
    if type(x) is Tensor:
        return apply(P.SIGMOID, x)
    return P.sigmoid_forward(x)


def matmul(a, b):
    if type(a) is Tensor or type(b) is Tensor:
        return apply(P.MATMUL, a, b)
    return np.matmul(a, b)


def where(cond, x, y):
    if type(x) is Tensor or type(y) is Tensor:
        return apply(P.WHERE, data(cond), x, y)
    return np.where(cond, x, y)


def power(x, y):
    if type(x) is Tensor or type(y) is Tensor:
        return apply(P.POWER, x, y)
    return np.power(x, y)


def _with_kw(np_call, prim_name):
    def fn(x, **kw):
        if type(x) is Tensor:
            return apply(getattr(P, prim_name), x, **kw)
        return np_call(x, **kw)
    return fn


def reshape(x, shape):
    if type(x) is np.ndarray:                    # the common case in a backward pass, quickly
        return x.reshape(shape)
    if type(x) is Tensor:
        return apply(P.RESHAPE, x, shape=shape)
    return np.reshape(x, shape)


transpose = _with_kw(lambda x, axes=None: np.transpose(x, axes), "TRANSPOSE")
broadcast_to = _with_kw(lambda x, shape: np.broadcast_to(x, shape), "BROADCAST_TO")
sum = _with_kw(lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims), "SUM")
flip = _with_kw(lambda x, axis=None: np.flip(x, axis), "FLIP")
cumsum = _with_kw(lambda x, axis=None: np.cumsum(x, axis=axis), "CUMSUM")
getitem = _with_kw(lambda x, idx: x[idx], "GETITEM")


def scatter_add(x, idx, shape):
    if type(x) is Tensor:
        return apply(P.SCATTER_ADD, x, idx=idx, shape=shape)
    return P.scatter_add_forward(x, idx, shape)
cast = _with_kw(lambda x, dtype: np.asarray(x).astype(dtype, copy=False), "CAST")
pad = _with_kw(lambda x, pad_width: np.pad(x, pad_width), "PAD")


def sum_to(x, shape):
    """Sum ``x`` over broadcast axes so that it has ``shape`` (undoes broadcasting)."""
    if type(x) is Tensor:
        return apply(P.SUM_TO, x, shape=shape)
    return P.sum_to_forward(x, shape)


def einsum(subscripts, *operands):
    if any(type(o) is Tensor for o in operands):
        return apply(P.EINSUM, *operands, subscripts=subscripts)
    return P.einsum_forward(*operands, subscripts=subscripts)


def concatenate(arrays, axis=0):
    if any(type(o) is Tensor for o in arrays):
        return apply(P.CONCATENATE, *arrays, axis=axis)
    return np.concatenate(arrays, axis=axis)


def swap_last(x):
    """Swap the last two axes (matrix transpose of a batch)."""
    n = ndim(x)
    axes = tuple(range(n - 2)) + (n - 1, n - 2)
    return transpose(x, axes=axes)


def expand_dims(x, axis):
    s = list(shape(x))
    axis = axis if axis >= 0 else len(s) + 1 + axis
    s.insert(axis, 1)
    return reshape(x, shape=tuple(s))


def squeeze_last(x):
    return reshape(x, shape=shape(x)[:-1])


def reduced_shape(in_shape, axis):
    """The shape a reduction over ``axis`` leaves with ``keepdims=True``."""
    if axis is None:
        return (1,) * len(in_shape)
    axes = normalize_axes(axis, len(in_shape))
    return tuple(1 if i in axes else n for i, n in enumerate(in_shape))


def normalize_axes(axis, ndim_):
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim_ <= a < max(ndim_, 1):
            raise ValueError(f"axis {a} is out of bounds for an array of dimension {ndim_}")
        out.append(a % max(ndim_, 1))
    return tuple(out)


def unreduce(g, in_shape, axis, keepdims):
    """Broadcast the cotangent of a reduction back over the reduced axes (small arrays are
    filled, which is quicker than building a broadcast view)."""
    if axis is None and isinstance(g, _ARRAYS) and _prod(in_shape) <= _SMALL:    # a full reduction
        out = np.empty(in_shape, dtype=g.dtype)
        out[...] = g
        return out
    if not keepdims:
        g = reshape(g, shape=reduced_shape(in_shape, axis))
    if type(g) is np.ndarray and _prod(in_shape) <= _SMALL:
        out = np.empty(in_shape, dtype=g.dtype)
        out[...] = g
        return out
    return broadcast_to(g, shape=tuple(in_shape))


_SMALL = 4096             # elements: below this a filled array is cheaper than a broadcast view
_ARRAYS = (np.ndarray, np.generic)


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


tape.set_unbroadcast(sum_to)
