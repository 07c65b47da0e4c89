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

# Arrays smaller than this (one page) are kept even when no rule reads them: a reference is cheaper
# than a stub, and they cost little worth freeing. Measured (benchmarks/modes.py, 2026-12-04): an
# array of 1-4 KB released by its stub in the forward costs the gradient 0.6-0.8 us later (the
# backward's own arrays of that size no longer reuse memory freed a moment before), about one small
# op's whole cost, for at most 4 KB held until backward; from a page up the stub pays off. (At 1 KB:
# dp.grad of a 3-layer MLP with 16 x 12 activations 3.05x its forward, 2.85x at 4 KB; the ODE direct
# gradient of benchmarks/memory.py 1.05x torchdiffeq's memory, 1.11x at 4 KB.)
# (tests/autodiff/conftest.py sets 0, so that every row's ``save`` declaration is exercised on
# small arrays.)
STUB_MIN_BYTES = 4096


class Node:
    """One recorded primitive application.

    ``prim``: the row of the table (``None`` for a leaf). ``parents``: per positional argument,
    the node of a Tensor argument that requires grad, else ``None``. ``args``: per positional
    argument, the value the VJP receives (the raw array, or a :class:`Stub` where the row does
    not save it). ``ans``: the output value, or its stub. ``kw``: keyword arguments (``None``
    when there are none). ``seq``: creation number. ``leaf``: a leaf's weak reference to its Tensor.

    Storage: nearly every node has one or two arguments, so ``parents`` and ``args`` are not
    tuples of their own (two allocations per op) but read from slots: ``arity`` (0 for a leaf
    or a node freed by backward), the first two parents ``p0``, ``p1`` and saved arguments ``a0``,
    ``a1``, and for three or more arguments ``more = (parents, args)``. Set both with
    :meth:`link`; the engine's hot paths write and read the slots directly.
    """

    __slots__ = ("prim", "arity", "p0", "p1", "a0", "a1", "more", "ans", "kw", "seq", "leaf")

    @property
    def parents(self):
        k = self.arity
        if k == 1:
            return (self.p0,)
        if k == 2:
            return (self.p0, self.p1)
        return self.more[0] if k else None

    @property
    def args(self):
        k = self.arity
        if k == 1:
            return (self.a0,)
        if k == 2:
            return (self.a0, self.a1)
        return self.more[1] if k else None

    def link(self, parents, args):
        """Set the parents' nodes and the saved arguments (sequences of equal length; ``None``:
        none, as a leaf or a freed node)."""
        k = self.arity = 0 if parents is None else len(parents)
        self.p0 = self.p1 = self.a0 = self.a1 = self.more = None
        if k == 1 or k == 2:
            self.p0, self.a0 = parents[0], args[0]
            if k == 2:
                self.p1, self.a1 = parents[1], args[1]
        elif k:
            self.more = (tuple(parents), tuple(args))

    def __repr__(self):
        name = "leaf" if self.prim is None else self.prim.name
        return f"<node {name} {tuple(self.ans.shape)}>"


class UnsavedRead(RuntimeError):
    """A backward rule read a value its row does not save (backward names the rule's primitive)."""

    def __init__(self, message, stub=None):
        super().__init__(message)
        self.stub = stub


class Stub:
    """Stands for an array a node does not keep: shape and dtype only. Reading its values raises
    (the reading rule's row misses that value in its ``save`` declaration). A node whose unsaved
    argument came from another node shares that node's stub of it (one object per value)."""

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
        raise UnsavedRead(self.message("a backward rule"), self)

    def message(self, reader):
        name = getattr(self.owner, "name", None)
        made = "" if name is None else f", recorded by dp.{name}"
        return (f"{reader} read a value that its row of the primitive table does not save (an array of "
                f"shape {self.shape}, {self.dtype}{made}); add it to the row's save=... declaration")

    __array__ = __array_ufunc__ = __getitem__ = __float__ = _refuse      # (np.shape, np.ndim read attributes)

    def __repr__(self):
        return f"Stub(shape={self.shape}, dtype={self.dtype})"


def keep(value, saved, owner):
    """``value`` itself when ``saved`` or small, else its stub."""
    if saved or type(value) is not np.ndarray or value.nbytes < STUB_MIN_BYTES:
        return value
    return stub(value, owner)


def stub(a, owner):
    """``Stub(a.shape, a.dtype, owner)`` for an array ``a``, without a constructor call (the
    engine makes one per large value a recorded op does not save)."""
    s = _new(Stub)
    s.shape, s.dtype, s.owner = a.shape, a.dtype, owner
    return s


def leaf_node(t):
    """The node of a Tensor that requires grad but was not computed from others."""
    n = _new(Node)
    n.prim = n.kw = None
    n.arity = 0
    d = t.data
    s = n.ans = _new(Stub)                  # (no __init__ call: this runs for every dp.grad input)
    if type(d) is np.ndarray:
        s.shape, s.dtype = d.shape, d.dtype
    else:
        s.shape, s.dtype = np.shape(d), np.result_type(d)
    s.owner = None
    n.seq = next(creation)
    n.leaf = weakref.ref(t)
    return n
