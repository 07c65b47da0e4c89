"""``Tensor``: a NumPy array plus the bookkeeping of reverse mode.

A Tensor that requires grad points to its graph node (``_node``, see ``node.py``): the primitive
that produced it, its parents' nodes and the values its backward rule reads. Leaves' nodes have
``prim is None``; a Tensor that records nothing has no node. Operators and methods that compute
something are installed by ``functions.py``, so that every arithmetic path goes through the one
primitive table.
"""
import numpy as np

from . import mode
from .node import leaf_node

_FLOAT_KINDS = "fc"


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Create one with :func:`diffprog.tensor`. ``data`` is the underlying ``numpy.ndarray``;
    ``grad`` is filled by :meth:`backward` for leaves that require grad.
    """

    __slots__ = ("data", "grad", "_node", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        arr = np.asarray(data, dtype=dtype)
        if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"only floating-point or complex Tensors can require gradients, got dtype {arr.dtype}; "
                f"convert first, e.g. dp.tensor(x, dtype=np.float64, requires_grad=True)")
        self.data = arr
        self.grad = None
        self._node = leaf_node(self) if requires_grad else None

    # ---- array-like properties -------------------------------------------------------------
    @property
    def shape(self):
        return np.shape(self.data)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return np.ndim(self.data)

    @property
    def size(self):
        return np.size(self.data)

    @property
    def requires_grad(self):
        """True when operations on this Tensor are recorded (it has a graph node)."""
        return self._node is not None

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    @property
    def is_leaf(self):
        return self._node is None or self._node.prim is None

    def numpy(self):
        """The value as a NumPy array (shares memory with ``data``)."""
        return np.asarray(self.data)

    def item(self):
        return self.data.item()

    def tolist(self):
        return np.asarray(self.data).tolist()

    def __array__(self, dtype=None, copy=None):
        if _converting_loses_gradient(self):
            raise TypeError(
                "implicit conversion of a Tensor that requires grad to a NumPy array (np.asarray, "
                "np.array, or NumPy code without a diffprog counterpart) would drop its gradient; use "
                "t.detach() (or t.numpy()) to leave the graph on purpose, or compute it under dp.no_grad(); "
                "to build an array from Tensors use np.stack / dp.stack")
        arr = np.asarray(self.data)
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d Tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d Tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        if np.size(self.data) != 1:
            raise TypeError(f"float() of a Tensor of shape {self.shape}: only one-element Tensors can be "
                            f"converted to Python scalars")
        return float(self.data.item())

    def __int__(self):
        return int(self.data)

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer Tensors can be used as an index, got dtype {self.dtype}")
        return int(self.data)

    __hash__ = object.__hash__

    def __repr__(self):
        body = np.array2string(np.asarray(self.data), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype != np.float64 and self.dtype.kind in "fc":
            extra += f", dtype={self.dtype}"
        node = self._node
        if node is not None:
            if node.prim is None:
                extra += ", requires_grad=True"
            else:                       # after backward a freed node keeps its op's name in kw
                name = node.kw if node.prim.name == "<freed>" else node.prim.name
                extra += f", grad_fn={name}"
        return f"tensor({body}{extra})"

    # ---- comparisons give plain boolean arrays --------------------------------------------
    def __eq__(self, other):
        return np.equal(self.data, _raw(other))

    def __ne__(self, other):
        return np.not_equal(self.data, _raw(other))

    def __lt__(self, other):
        return np.less(self.data, _raw(other))

    def __le__(self, other):
        return np.less_equal(self.data, _raw(other))

    def __gt__(self, other):
        return np.greater(self.data, _raw(other))

    def __ge__(self, other):
        return np.greater_equal(self.data, _raw(other))

    # ---- graph handling ----------------------------------------------------------------------
    def detach(self):
        """A new leaf sharing this Tensor's data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self):
        self.grad = None

    def requires_grad_(self, flag=True):
        if flag and self.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point or complex Tensors can require gradients, got dtype {self.dtype}")
        if not flag:
            self._node = None
        elif self._node is None:
            self._node = leaf_node(self)
        return self

    # ``backward(grad=None, retain_graph=None, create_graph=False)`` is installed by ``tape``.


def _raw(x):
    return x.data if type(x) is Tensor else x


def _converting_loses_gradient(t):
    """True when turning ``t`` into an ndarray would silently drop a derivative: reverse mode
    records it, or forward mode carries a tangent for it."""
    if t._node is not None and mode._flags.get() & mode.GRAD:
        return True
    tangents = mode._tangents.get()
    return tangents is not None and id(t) in tangents


def tensor(data, requires_grad=False, dtype=None):
    """Make a leaf :class:`Tensor` from an array-like (list, scalar, NumPy array, Tensor).

    The dtype is kept (float32 stays float32); Python floats become float64. Integer and boolean
    data cannot require gradients.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)

