"""Recording primitive applications and running them backwards.

``apply`` is the hot path of the whole library: it unwraps Tensors, calls the primitive's NumPy
forward, and (only when some input requires grad and grad mode is on) gives the result a node
linked to its inputs' nodes, keeping the values the row's ``save`` names (``node.py``).
``backward`` makes one iterative topological pass over the recorded nodes and calls each
primitive's VJP rule on the saved values, summing cotangents of values that fan out.
"""
from heapq import heappop, heappush

import numpy as np

from . import mode as _mode
from . import node as _nodes
from .node import Node, Stub, UnsavedRead, creation, keep, stub
from .tensor import Tensor

_new = object.__new__
_ndarray = np.ndarray
_ARRAY_TYPES = (np.ndarray, np.generic)
_get_flags = _mode._flags.get
_get_tangents = _mode._tangents.get
GRAD, ANOMALY, KEEP = _mode.GRAD, _mode.ANOMALY, _mode.KEEP


class Primitive:
    """One row of the primitive table: a NumPy forward, one VJP rule per argument, and JVP rules.

    ``vjps[i](g, ans, *args, **kw)`` returns the cotangent of argument ``i`` (before it is summed
    back to the argument's broadcast shape). ``jvps[i](t, ans, *args, **kw)`` returns argument
    ``i``'s contribution to the output tangent. A ``linear`` primitive's JVP is the primitive itself
    applied to the tangents. ``variadic`` primitives take any number of arguments and have a single
    rule called with ``argnum=i``. A primitive whose backward computes every cotangent at once
    (a custom VJP, a checkpointed block) sets ``vjp_all(g, ans, args, needs, kw) -> list``.
    ``batch(prim, tangents, ans, args, kw, k)`` pushes tangents with a leading axis of ``k``
    columns at once (forward-mode Jacobians); ``None`` (or a rule returning ``None``) means one
    column at a time.

    ``save`` declares the values the VJP rules read, so that a recorded node keeps those and
    nothing else: a tuple of argument numbers, ``"inputs"`` (every argument) and ``"output"``
    (e.g. ``save=()`` for add, ``save="inputs"`` for multiply, ``save="output"`` for exp); the
    rules see the others as :class:`~diffprog.autodiff.node.Stub` objects with shape and dtype
    only. ``None`` (the default) keeps everything. Keyword arguments are always kept.

    ``real_vjps``: the same rules for a real output, when ``vjps`` wrap them for complex values
    (``complex_vjp``): backward then tests the output's dtype once instead of calling a wrapper.

    ``keeps_shape``: the row's rules give every argument a cotangent of that argument's own shape
    (a unary ufunc; reshape, transpose, getitem and sum build it so; matmul sums a batched product
    back itself), so it needs no summing back (backward skips the test).
    ``elementwise``: the row broadcasts its arguments elementwise and its rules give cotangents of
    the output's shape, so an argument paired with a Python number (which broadcasts to nothing)
    gets a cotangent of its own shape (backward skips the test there too).

    ``add_into(buf, g, **kw) -> bool``: a one-argument row whose rule, given an ndarray ``g``,
    returns a new array of the argument's shape that is zero except where ``g`` lands (getitem's
    scatter). ``add_into`` adds ``g`` there directly into ``buf`` (an array of the argument's shape
    and ``g``'s dtype) and returns True, or returns False where it cannot (then the rule runs).
    Backward uses it to sum several slices of one array into a single buffer it owns.
    """

    __slots__ = ("name", "forward", "vjps", "jvps", "linear", "variadic", "vjp_all", "doc", "batch", "save",
                 "real_vjps", "_plain", "_save_inputs", "_save_output", "_save0", "_save1", "keeps_shape",
                 "elementwise", "add_into")

    def __init__(self, name, forward, vjps=(), jvps=None, linear=False, variadic=False, vjp_all=None,
                 doc=None, batch=None, save=None, real_vjps=None):
        self.name, self.forward, self.vjps, self.jvps = name, forward, tuple(vjps), jvps
        self.linear, self.variadic, self.vjp_all, self.doc = linear, variadic, vjp_all, doc
        self.batch, self.save = batch, save
        self.keeps_shape = self.elementwise = False
        self.add_into = None
        if real_vjps is not None:
            self.real_vjps = tuple(real_vjps)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name == "vjps":
            object.__setattr__(self, "real_vjps", value)
        elif name in ("variadic", "vjp_all") and hasattr(self, "variadic") and hasattr(self, "vjp_all"):
            # one per-argument rule per input: backward's lean path can call it directly
            object.__setattr__(self, "_plain", self.vjp_all is None and not self.variadic)
        elif name == "save":
            everything, items = value is None, ((value,) if isinstance(value, (str, int)) else value or ())
            for item in items:
                if item not in ("inputs", "output") and not isinstance(item, int):
                    raise ValueError(f"Primitive {self.name!r}: save={value!r}; expected argument numbers, "
                                     f"'inputs' and/or 'output'")
            inputs = True if everything or "inputs" in items else frozenset(i for i in items if type(i) is int)
            object.__setattr__(self, "_save_inputs", inputs)
            object.__setattr__(self, "_save_output", everything or "output" in items)
            object.__setattr__(self, "_save0", inputs is True or 0 in inputs)
            object.__setattr__(self, "_save1", inputs is True or 1 in inputs)

    def saves_input(self, i):
        return self._save_inputs is True or i in self._save_inputs

    def vjp_rule(self, i):
        if self.variadic:
            rule = self.vjps[0]
            return lambda g, ans, *a, **k: rule(g, ans, *a, argnum=i, **k)
        if i >= len(self.vjps) or self.vjps[i] is None:
            raise TypeError(f"{self.name} is not differentiable with respect to argument {i}")
        return self.vjps[i]

    def __repr__(self):
        return f"<primitive {self.name}>"


FREED = Primitive("<freed>", None)
object.__setattr__(FREED, "_plain", False)     # (backward sends a freed node to _general_step, which refuses it)


def _op_error(prim, args, err):
    shapes = ", ".join(str(np.shape(a.data if type(a) is Tensor else a)) for a in args)
    return type(err)(f"dp.{prim.name}: {err} (input shapes: {shapes})")


def _wrap(out):
    """A Tensor that records nothing (no input requires grad, or grad mode is off)."""
    t = _new(Tensor)
    t.data = out
    t.grad = t._node = None
    return t


def recorded(out, prim, args, kw, flags=0):
    """A Tensor holding ``out``, recorded as ``prim`` applied to ``args`` (Tensors or raw values)
    with keywords ``kw``; its node keeps what the row's ``save`` declares (everything when
    ``flags`` has ``KEEP``)."""
    every = flags & KEEP
    small = _nodes.STUB_MIN_BYTES
    n = _new(Node)
    n.prim, n.kw, n.seq = prim, kw, next(creation)
    if len(args) == 1:                              # most rows with keywords: one argument
        x = args[0]
        if type(x) is Tensor:
            n.p0, xd = x._node, x.data
        else:
            n.p0, xd = None, x
        n.arity = 1
        n.a0 = (xd if prim._save0 or type(xd) is not _ndarray or xd.nbytes < small or flags & KEEP
                else stub(xd, prim))
    else:
        n.link([a._node if type(a) is Tensor else None for a in args],
               [keep(a.data if type(a) is Tensor else a, every or prim.saves_input(i), prim)
                for i, a in enumerate(args)])
    n.ans = (out if prim._save_output or type(out) is not _ndarray or out.nbytes < small or flags & KEEP
             else stub(out, prim))
    t = _new(Tensor)
    t.data, t.grad, t._node = out, None, n
    return t


_ONE = object()          # ``apply``'s marker for "no second positional argument"
_OP_ERRORS = (ValueError, TypeError, IndexError)


def apply(prim, x, y=_ONE, /, *more, **kw):
    """Apply ``prim`` to positional arguments (Tensors or raw values) and keyword settings.

    The forward runs on the raw values. When some argument has a node (requires grad) and grad
    mode is on, the result gets a node linked to theirs that keeps what the row's ``save``
    declares (everything under ``keep_values``; arrays below ``STUB_MIN_BYTES`` are kept as they
    are, cheaper than a stub). One or two positional arguments, nearly every call, are unwrapped
    and recorded by ``_apply`` without building argument lists; more go through ``recorded``."""
    if more:                                            # three or more arguments
        args = (x, y, *more)
        try:
            out = prim.forward(*[a.data if type(a) is Tensor else a for a in args], **kw)
        except _OP_ERRORS as e:
            raise _op_error(prim, args, e) from None
        if any(type(a) is Tensor and a._node is not None for a in args) and (flags := _get_flags()) & GRAD:
            t = recorded(out, prim, args, kw or None, flags)
            if flags & ANOMALY:
                check_forward(prim, args, out)
        else:
            t = _wrap(out)
        if _get_tangents() is not None:
            _push_tangent(t, prim, args, kw or None)
        return t
    return _apply(prim, x, y, kw or None)


def _apply(prim, x, y=_ONE, kw=None):
    """``apply`` of one or two positional arguments (``y is _ONE``: one) with keywords ``kw``, a
    dict or ``None``. The library's own wrappers (``dp.sin``, Tensor operators, ``dp.sum``...)
    call it directly: a function taking ``**kw`` builds a dict on every call, even an empty one."""
    if type(x) is Tensor:
        xd, xn = x.data, x._node
    else:
        xd = x
        xn = None
    if y is _ONE:                                       # one argument
        try:
            out = prim.forward(xd, **kw) if kw else prim.forward(xd)
        except _OP_ERRORS as e:
            raise _op_error(prim, (x,), e) from None
        record = xn is not None
    else:                                               # two
        if type(y) is Tensor:
            yd, yn = y.data, y._node
        else:
            yd = y
            yn = None
        try:
            out = prim.forward(xd, yd, **kw) if kw else prim.forward(xd, yd)
        except _OP_ERRORS as e:
            raise _op_error(prim, (x, y), e) from None
        record = xn is not None or yn is not None
    t = _new(Tensor)
    t.data = out
    t.grad = t._node = None
    if record and (flags := _get_flags()) & GRAD:
        n = t._node = _new(Node)
        n.prim = prim
        n.kw = kw
        n.seq = next(creation)
        small = _nodes.STUB_MIN_BYTES
        n.p0 = xn
        # (an unsaved argument's stub: its node's own, when it has one)
        n.a0 = xd if prim._save0 or type(xd) is not _ndarray or xd.nbytes < small or flags & KEEP \
            else xn.ans if xn is not None and type(xn.ans) is Stub else stub(xd, prim)
        if y is _ONE:
            n.arity = 1
        else:
            n.arity = 2
            n.p1 = yn
            n.a1 = (yd if prim._save1 or type(yd) is not _ndarray or yd.nbytes < small or flags & KEEP
                    else yn.ans if yn is not None and type(yn.ans) is Stub else stub(yd, prim))
        n.ans = (out if prim._save_output or type(out) is not _ndarray or out.nbytes < small or flags & KEEP
                 else stub(out, prim))
        if flags & ANOMALY:
            check_forward(prim, (x,) if y is _ONE else (x, y), out)
    if _get_tangents() is not None:
        _push_tangent(t, prim, (x,) if y is _ONE else (x, y), kw)
    return t


def record_on_parent(prim, x, then, kw):
    """``then(x, **kw)`` of a Tensor ``x`` whose node applied a one-argument row to a parent,
    recorded as ``prim`` (that row and ``then`` in one) on that parent, with the keywords of both
    (``view``: ``x``'s shape): e.g. a reshape of a slice becomes one ``getitem_reshape`` node.
    ``None`` where it does not apply (grad mode off, forward-mode tangents, anomaly checks, or
    ``then`` failing: the caller records the plain row, which raises its error)."""
    flags = _get_flags()
    if not flags & GRAD or flags & ANOMALY or _get_tangents() is not None:
        return None
    n, xd = x._node, x.data
    try:
        out = then(xd, **kw)
    except _OP_ERRORS:
        return None
    m = _new(Node)
    m.prim, m.kw, m.seq = prim, {**n.kw, "view": xd.shape, **kw}, next(creation)
    m.arity, m.p0, m.a0 = 1, n.p0, n.a0
    m.ans = out if type(out) is not _ndarray or out.nbytes < _nodes.STUB_MIN_BYTES or flags & KEEP \
        else stub(out, prim)
    t = _new(Tensor)
    t.data, t.grad, t._node = out, None, m
    return t


# ---- forward mode --------------------------------------------------------------------------

class Unbatchable(Exception):
    """A recorded graph holds a node without a JVP rule (custom VJP, checkpoint): forward mode
    over the recorded graph gives way to tracing tangents with ``jvp``."""


def _zero_tangent(d):
    arr = np.asarray(d)
    return np.zeros_like(arr) if arr.dtype.kind in "fc" else d


def node_jvp(prim, ins, ans, datas, kw):
    """The tangent of one node from its arguments' tangents ``ins`` (``None``: zero). A linear
    primitive is applied to the tangents (constants get zeros; index arrays and other settings
    travel as keywords), any other sums its per-argument JVP rules."""
    if prim.linear:
        out = prim.forward(*[v if v is not None else _zero_tangent(d) for v, d in zip(ins, datas)], **kw)
    elif prim.jvps is None:
        raise NotImplementedError(f"forward mode is not defined for dp.{prim.name}")
    else:
        out = None
        for i, v in enumerate(ins):
            if v is not None:
                c = (prim.jvps[0](v, ans, *datas, argnum=i, **kw) if prim.variadic
                     else prim.jvps[i](v, ans, *datas, **kw))
                out = c if out is None else out + c
    out = np.asarray(_raw(out))
    return out if out.shape == np.shape(ans) else np.broadcast_to(out, np.shape(ans))


def _push_tangent(t, prim, args, kw):
    """Forward mode while tracing (``jvp``): ``t``'s tangent from its inputs' tangents."""
    tangents = _get_tangents()
    ins = [tangents.get(id(a)) if type(a) is Tensor else None for a in args]
    if all(v is None for v in ins):
        return
    datas = [a.data if type(a) is Tensor else a for a in args]
    token = _mode._tangents.set(None)          # the rules themselves are not differentiated
    try:
        out = node_jvp(prim, ins, t.data, datas, kw or {})
    finally:
        _mode._tangents.reset(token)
    carry_tangent(tangents, t, out)
    if t._node is not None:              # constants that carry tangents, for a recorded backward
        for i, a in enumerate(args):
            if type(a) is Tensor and a._node is None and id(a) in tangents:
                tangents[(t._node, i)] = tangents[id(a)]


def carry_tangent(tangents, t, tangent):
    """Record ``t``'s tangent while ``jvp`` traces: by the Tensor, and by its node, so that the
    Tensors a recorded backward rebuilds from the node's saved values carry it too."""
    tangents[id(t)] = tangent
    tangents.setdefault("_keep", []).append(t)   # keep ids unique while the trace lives
    if t._node is not None:
        tangents[t._node] = tangent


def _raw(x):
    return x.data if type(x) is Tensor else x


# ---- reverse mode --------------------------------------------------------------------------

def toposort(roots):
    """The nodes reachable from the Tensors ``roots`` (those that require grad), parents before
    children.

    Iterative (no recursion limit on deep chains). Every node carries a creation number ``seq``
    and a node is always created after its parents, so creation order is a topological order:
    sorting the reachable set by it is all that is needed."""
    seen = {}
    stack = [r._node for r in roots if r._node is not None]
    for n in stack:
        seen[n] = None
    while stack:
        for p in stack.pop().parents or ():
            if p is not None and p not in seen:
                seen[p] = None
                stack.append(p)
    return sorted(seen, key=_seq_of)


def _seq_of(n):
    return n.seq


_FREED_MSG = ("Trying to backward through the graph a second time: its saved values were freed by "
              "the first backward (at dp.{name}). Pass retain_graph=True to the first backward() "
              "(or call the function again) if you need to differentiate the same graph twice.")


_CHAIN_SHORTCUT = True       # (``benchmarks/engine.py --shortcut`` turns it off to measure what it saves)
_F64 = np.dtype(np.float64)
_SCALARS = (float, int)


def run_backward(roots, seeds, inputs=None, retain_graph=False, create_graph=False):
    """Propagate ``seeds`` (cotangents of the Tensors ``roots``) back through the graph.

    Nodes are visited in decreasing creation order through a heap of ``(-seq, node)``, so each
    node is reached only after all of its consumers have contributed (fan-out sums in ``grads``)
    and no separate sorting pass is needed. The chain shortcut: a node receiving its first
    cotangent while later than every node waiting in the heap would be popped next anyway (no
    consumer of it is left: consumers are later than their inputs), so it is processed next with
    that cotangent and never touches the heap or ``grads`` (a node already holding a cotangent is
    in the heap, so the heap's top is not later than it: the test needs no look into ``grads``). With
    ``inputs=None`` leaf cotangents are accumulated into ``.grad``; otherwise the cotangents of
    the given Tensors are returned in a list (``None`` where unreached) and no ``.grad`` is
    touched (their nodes act as leaves). Rows with one rule per argument (``_plain``) and one or
    two arguments call their rules on the saved values here; the others, and every node under
    ``create_graph`` or ``detect_anomaly``, go through ``_general_step``. A cotangent is summed
    back to its argument's shape (``_unbroadcast``) unless the row guarantees it already has it
    (``keeps_shape``), or it is an elementwise row whose other argument is a Python number.

    Sums into one buffer: a cotangent array that backward made itself (the fresh result of a rule
    with ``add_into`` on an ndarray, or of a fan-out sum) is owned by it (``owned``: node -> that
    array, while it is the node's pending sum; nothing else refers to it). A further slice of that
    node arriving through an ``add_into`` row is then added in place into the owned array instead
    of being scattered into zeros of its own and summed (the same sums; an entry that was -0.0 and
    gets no later slice stays -0.0 rather than becoming 0.0 + -0.0 = 0.0).
    """
    if inputs is None:
        found, stop = {}, False
    elif len(inputs) == 1:                              # (dp.grad of one array: no generators)
        n = inputs[0]._node if type(inputs[0]) is Tensor else None
        found = {} if n is None else {n: None}
        stop = n is not None and n.prim is not None     # an input that is not a leaf: test every node
    else:
        found = dict.fromkeys(t._node for t in inputs if type(t) is Tensor and t._node)
        stop = any(n.prim is not None for n in found)
    flags = _get_flags()
    anomaly = flags & ANOMALY
    general = anomaly or create_graph                   # every node through _general_step
    shortcut = _CHAIN_SHORTCUT
    grads, heap, owned = {}, [], {}
    if len(roots) == 1:                                 # one root (a loss): it is the first node
        node, g = roots[0]._node, seeds[0]
    else:
        for r, s in zip(roots, seeds):
            _send(grads, heap, r._node, s)
        node = g = None
        if heap:
            node = heappop(heap)[1]
            g = grads.pop(node)
    token = _mode._flags.set(flags | GRAD if create_graph else flags & ~GRAD)
    try:
        while node is not None:
            prim, k = node.prim, node.arity
            following = None
            if prim is None or (stop and node in found):
                _arrive(node, g, found, inputs is None)
            elif not prim._plain or k > 2 or general:  # (a freed node too: FREED is not _plain)
                _general_step(node, g, prim, grads, heap, anomaly, create_graph, retain_graph)
            else:
                ans, kw, x = node.ans, node.kw, node.p0
                vjps = prim.real_vjps if ans.dtype is _F64 or ans.dtype.kind != "c" else prim.vjps
                if k == 1:                              # a link of a chain
                    if x is None:
                        pass
                    elif prim.add_into is None:
                        c = vjps[0](g, ans, node.a0) if kw is None else vjps[0](g, ans, node.a0, **kw)
                        if not prim.keeps_shape and c.shape != x.ans.shape:
                            c = _unbroadcast(c, x.ans.shape)
                        if shortcut and (not heap or heap[0][0] > -x.seq):
                            following = x
                        else:
                            _send(grads, heap, x, c)
                    else:                               # a slice: summed in place where it can
                        prev = grads.get(x)
                        if (prev is not None and owned.get(x) is prev and type(g) is _ndarray
                                and g.dtype is prev.dtype and prim.add_into(prev, g, **kw)):
                            pass
                        else:
                            c = vjps[0](g, ans, node.a0, **kw)
                            if c.shape != x.ans.shape:
                                c = _unbroadcast(c, x.ans.shape)
                            if prev is not None:
                                grads[x] = owned[x] = prev + c
                            elif shortcut and (not heap or heap[0][0] > -x.seq):
                                following = x
                            else:
                                grads[x] = c
                                heappush(heap, (-x.seq, x))
                                if type(g) is _ndarray:         # (the rule's new array)
                                    owned[x] = c
                else:
                    y, xd, yd = node.p1, node.a0, node.a1
                    if x is not None:
                        c = vjps[0](g, ans, xd, yd) if kw is None else vjps[0](g, ans, xd, yd, **kw)
                        if (not (prim.keeps_shape or prim.elementwise and type(yd) in _SCALARS)
                                and c.shape != x.ans.shape):
                            c = _unbroadcast(c, x.ans.shape)
                    if y is not None:
                        c1 = vjps[1](g, ans, xd, yd) if kw is None else vjps[1](g, ans, xd, yd, **kw)
                        if (not (prim.keeps_shape or prim.elementwise and type(xd) in _SCALARS)
                                and c1.shape != y.ans.shape):
                            c1 = _unbroadcast(c1, y.ans.shape)
                        if x is None and shortcut and (not heap or heap[0][0] > -y.seq):
                            following, c = y, c1
                        else:
                            _send(grads, heap, y, c1)
                    if x is not None:                   # (after y: usually the later of the two)
                        if shortcut and (not heap or heap[0][0] > -x.seq):
                            following = x
                        else:
                            _send(grads, heap, x, c)
                if not retain_graph:             # free the saved values; the name stays for errors
                    node.arity = 0
                    node.p0 = node.p1 = node.a0 = node.a1 = None
                    node.prim, node.kw = FREED, prim.name
            if following is not None:            # fed alone: next, its cotangent handed over (not stored)
                node, g = following, c
            elif heap:
                node = heappop(heap)[1]
                g = grads.pop(node)
            else:
                node = None
    except UnsavedRead as e:                     # a row's save declaration misses a value: name the row
        if e.stub is None:
            raise
        raise UnsavedRead(e.stub.message(f"the backward rule of dp.{prim.name}")) from e
    finally:
        _mode._flags.reset(token)
    if inputs is None:
        return None
    if len(inputs) == 1:
        return [found.get(inputs[0]._node) if type(inputs[0]) is Tensor else None]
    return [found.get(t._node) if type(t) is Tensor else None for t in inputs]


def _send(grads, heap, p, c):
    """Add cotangent ``c`` (already of ``p``'s shape) into node ``p``'s sum, queueing ``p`` in the
    heap on its first cotangent."""
    prev = grads.get(p)
    if prev is not None:
        grads[p] = prev + c
    else:
        grads[p] = c
        heappush(heap, (-p.seq, p))                     # creation numbers are unique: no ties


def _arrive(node, g, found, accumulate):
    """A cotangent reaching a node that is not propagated further: an input asked for, or a leaf
    (accumulated into its Tensor's ``.grad``)."""
    if node in found:
        found[node] = g
    elif accumulate:                                    # a leaf
        t = node.leaf()
        if t is not None:
            t.grad = g if t.grad is None else t.grad + g


def _general_step(node, g, prim, grads, heap, anomaly, create_graph, retain_graph):
    """Every other node: variadic rows, ``vjp_all`` rows, three or more arguments, every node of
    the recorded backward of ``create_graph`` (rules then see the saved values as Tensors
    connected to the graph) and of ``detect_anomaly`` (each cotangent checked), and a node freed
    by an earlier backward (refused). Frees the node's saved values unless it is kept for another
    backward."""
    if prim is FREED:
        raise RuntimeError(_FREED_MSG.format(name=node.kw))
    parents, kw = node.parents, node.kw or {}
    args, ans = (_saved_tensors(node) if create_graph else (node.args, node.ans))
    cots = None
    if prim.vjp_all is not None:
        cots = prim.vjp_all(g, ans, args, [p is not None for p in parents], kw)
    for i, p in enumerate(parents):
        if p is None:
            continue
        if cots is not None:
            c = cots[i]
            if c is None:
                continue
        elif prim.variadic:
            c = prim.vjps[0](g, ans, *args, argnum=i, **kw)
        else:
            c = prim.vjps[i](g, ans, *args, **kw)
        if c.shape != p.ans.shape:
            c = _unbroadcast(c, p.ans.shape)
        if anomaly:
            _check_finite(c, prim, i)
        _send(grads, heap, p, c)
    if not retain_graph:
        node.link(None, None)
        node.prim, node.kw = FREED, prim.name


def _saved_tensors(node):
    """The saved arguments and output of ``node`` as Tensors on their nodes (stubs and constants
    as they are), for rules recorded under ``create_graph``; under ``jvp`` they carry the tangents
    their originals had (forward over reverse)."""
    tangents = _get_tangents()

    def as_tensor(value, n, key):
        tangent = None if tangents is None or type(value) is Stub else tangents.get(key)
        if (n is None and tangent is None) or type(value) is Stub:
            return value
        t = _new(Tensor)
        t.data, t.grad, t._node = value, None, n
        if tangent is not None:
            carry_tangent(tangents, t, tangent)
        return t
    return ([as_tensor(v, p, (node, i) if p is None else p) for i, (v, p) in enumerate(zip(node.args, node.parents))],
            as_tensor(node.ans, node, node))


def _finite(a):
    a = a.data if type(a) is Tensor else a
    if isinstance(a, (list, tuple)):
        return all(_finite(v) for v in a)
    arr = np.asarray(a) if not isinstance(a, np.ndarray) else a
    return arr.dtype.kind not in "fc" or bool(np.all(np.isfinite(arr)))


def check_forward(prim, args, out):
    """Anomaly mode: refuse a recorded primitive that makes NaN/inf out of finite inputs."""
    if not _finite(out) and all(_finite(a) for a in args):
        raise FloatingPointError(
            f"anomaly detected: dp.{prim.name} returned non-finite values (nan or inf) in its forward "
            f"pass from finite inputs (output shape {np.shape(out)}); check its inputs' domain")


def _check_finite(c, prim, i):
    arr = c.data if type(c) is Tensor else c
    if not np.all(np.isfinite(arr)):
        raise FloatingPointError(
            f"anomaly detected: the backward rule of dp.{prim.name} returned non-finite values "
            f"(nan or inf) for its argument {i} (shape {np.shape(arr)})")


def backward(t, grad=None, retain_graph=None, create_graph=False):
    """Accumulate d(t)/d(leaf) into ``leaf.grad`` for every leaf that requires grad (installed as
    ``Tensor.backward``).

    ``grad`` is the cotangent seed, required when ``t`` is not a scalar. The graph's saved values
    are freed afterwards unless ``retain_graph=True`` (default: ``create_graph``). With
    ``create_graph=True`` the gradients are themselves recorded Tensors, so they can be
    differentiated again."""
    if retain_graph is None:
        retain_graph = create_graph
    if not t.requires_grad:
        raise RuntimeError("backward() called on a Tensor that does not require grad: no input of the "
                           "computation has requires_grad=True (or it was computed under dp.no_grad())")
    if grad is None:
        d = t.data
        if (d.size if isinstance(d, _ARRAY_TYPES) else np.size(d)) != 1:
            raise RuntimeError(f"backward() on a non-scalar Tensor of shape {t.shape} needs the "
                               f"cotangent: call backward(grad=...) with an array of that shape")
        if isinstance(d, _ARRAY_TYPES):
            grad = np.empty(d.shape, d.dtype)
            grad.fill(1)
        else:
            grad = np.ones_like(d)
    else:
        grad = _raw(grad)
        if np.shape(grad) != t.shape:
            raise ValueError(f"backward(grad=...): grad has shape {np.shape(grad)} but the Tensor has "
                             f"shape {t.shape}")
        grad = np.asarray(grad, dtype=t.dtype)
    if create_graph:
        grad = Tensor(grad)
    run_backward([t], [grad], None, retain_graph=retain_graph, create_graph=create_graph)



Tensor.backward = backward


def _unbroadcast(c, shape):
    raise RuntimeError("the engine's unbroadcast rule is installed by diffprog.autodiff.backend")


def set_unbroadcast(fn):
    """Called once by ``backend``: the rule summing a cotangent back to its input's shape (it
    dispatches on arrays and Tensors, so it is written in the rule vocabulary)."""
    global _unbroadcast
    _unbroadcast = fn
