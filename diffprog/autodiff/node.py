"""Graph nodes, apart from the Tensors they produce (PyTorch's ``grad_fn``).

A recorded Tensor points to its :class:`Node`; the node points to its parents' nodes (never to
their Tensors) and keeps only the values its primitive's VJP reads, as the table row declares
(``Primitive(..., save=...)``). Every other input or output array above ``STUB_MIN_BYTES`` is
replaced by a :class:`Stub` carrying its shape and dtype, so an intermediate dies as soon as
neither the user nor a rule needs it. A Tensor that requires grad but was not computed (a leaf)
has a node too, with ``prim=None``, that remembers its Tensor weakly to fill ``.grad``.
"""
import weakref
from itertools import count

import numpy as np

creation = count(1)      # creation numbers (``next(creation)``): a topological order of any graph for free
next_seq = creation.__next__
_new = object.__new__

# Arrays smaller than this are kept even when no rule reads them: a reference is cheaper than a
# stub, and they cost nothing worth freeing. (tests/autodiff/conftest.py sets 0, so that every
# row's ``save`` declaration is exercised on small arrays.)
STUB_MIN_BYTES = 1024


class Node:
    """One recorded primitive application.

    ``prim``: the row of the table (``None`` for a leaf). ``parents``: per positional argument,
    the node of a Tensor argument that requires grad, else ``None``. ``args``: per positional
    argument, the value the VJP receives (the raw array, or a :class:`Stub` where the row does
    not save it). ``ans``: the output value, or its stub. ``kw``: keyword arguments (``None``
    when there are none). ``seq``: creation number. ``leaf``: a leaf's weak reference to its Tensor.
    """

    __slots__ = ("prim", "parents", "args", "ans", "kw", "seq", "leaf", "__weakref__")

    def __repr__(self):
        name = "leaf" if self.prim is None else self.prim.name
        return f"<node {name} {tuple(self.ans.shape)}>"


class Stub:
    """Stands for an array a node does not keep: shape and dtype only. Reading its values raises,
    naming the primitive whose rule did so (its row's ``save`` declaration misses that value)."""

    __slots__ = ("shape", "dtype", "owner")

    def __init__(self, shape, dtype, owner=None):
        self.shape, self.dtype, self.owner = shape, dtype, owner

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def _refuse(self, *args, **kwargs):
        name = getattr(self.owner, "name", "?")
        raise RuntimeError(
            f"the backward rule of dp.{name} read a value that its row of the primitive table does not "
            f"save (an array of shape {self.shape}, {self.dtype}); add it to the row's save=... declaration")

    __array__ = __array_ufunc__ = __getitem__ = __float__ = _refuse      # (np.shape, np.ndim read attributes)

    def __repr__(self):
        return f"Stub(shape={self.shape}, dtype={self.dtype})"


def keep(value, saved, owner):
    """``value`` itself when ``saved`` or small, else its stub."""
    if saved or type(value) is not np.ndarray or value.nbytes < STUB_MIN_BYTES:
        return value
    return Stub(value.shape, value.dtype, owner)


def leaf_node(t):
    """The node of a Tensor that requires grad but was not computed from others."""
    n = _new(Node)
    n.prim = n.parents = n.args = n.kw = None
    d = t.data
    n.ans = Stub(d.shape, d.dtype) if type(d) is np.ndarray else Stub(np.shape(d), np.result_type(d))
    n.seq = next_seq()
    n.leaf = weakref.ref(t)
    return n
