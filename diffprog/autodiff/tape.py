"""Recording primitive applications and running them backwards.

``apply`` is the hot path of the whole library: it unwraps Tensors, calls the primitive's NumPy
forward, and (only when some input requires grad and grad mode is on) links the result to its
inputs. ``backward`` makes one iterative topological pass over the recorded graph and calls each
primitive's VJP rule, summing cotangents of values that fan out.
"""
from heapq import heappop, heappush

import numpy as np

from . import mode as _mode
from .tensor import Tensor, _next_seq

_new = object.__new__
_get_flags = _mode._flags.get
_get_tangents = _mode._tangents.get
GRAD, ANOMALY = _mode.GRAD, _mode.ANOMALY


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
    """

    __slots__ = ("name", "forward", "vjps", "jvps", "linear", "variadic", "vjp_all", "doc", "batch", "_plain")

    def __init__(self, name, forward, vjps=(), jvps=None, linear=False, variadic=False, vjp_all=None,
                 doc=None, batch=None):
        self.name, self.forward, self.vjps, self.jvps = name, forward, tuple(vjps), jvps
        self.linear, self.variadic, self.vjp_all, self.doc = linear, variadic, vjp_all, doc
        self.batch = batch

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name in ("variadic", "vjp_all") and hasattr(self, "variadic") and hasattr(self, "vjp_all"):
            # one per-argument rule per input: backward's lean path can call it directly
            object.__setattr__(self, "_plain", self.vjp_all is None and not self.variadic)

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


def _op_error(prim, args, err):
    shapes = ", ".join(str(np.shape(a.data if type(a) is Tensor else a)) for a in args)
    return type(err)(f"dp.{prim.name}: {err} (input shapes: {shapes})")


def _wrap(out):
    """A Tensor that records nothing (no input requires grad, or grad mode is off)."""
    t = _new(Tensor)
    t.data = out
    t.grad = t._prim = t._parents = t._kw = None
    t.requires_grad = False
    t._seq = 0
    return t


def _node(out, prim, parents, kw):
    """A recorded Tensor: ``out`` computed by ``prim`` from ``parents``."""
    t = _new(Tensor)
    t.data = out
    t.grad = None
    t.requires_grad = True
    t._prim = prim
    t._parents = parents
    t._kw = kw
    t._seq = _next_seq()
    return t


def apply1(prim, x):
    """Apply a one-argument primitive (the fast path of ``apply``)."""
    t = _new(Tensor)
    t.grad = t._kw = None
    flags = _get_flags()
    if type(x) is Tensor:
        try:
            t.data = prim.forward(x.data)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(prim, (x,), e) from None
        if x.requires_grad and flags & GRAD:
            t.requires_grad, t._prim, t._parents, t._seq = True, prim, (x,), _next_seq()
        else:
            t.requires_grad, t._prim, t._parents, t._seq = False, None, None, 0
    else:
        t.data = prim.forward(x)
        t.requires_grad, t._prim, t._parents, t._seq = False, None, None, 0
    if flags & ANOMALY:
        check_forward(prim, (x,), t.data)
    if _get_tangents() is not None:
        _push_tangent(t, prim, (x,), None)
    return t


def apply2(prim, x, y):
    """Apply a two-argument primitive (the fast path of ``apply``)."""
    tx = type(x) is Tensor
    ty = type(y) is Tensor
    t = _new(Tensor)
    t.grad = t._kw = None
    try:
        t.data = prim.forward(x.data if tx else x, y.data if ty else y)
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(prim, (x, y), e) from None
    flags = _get_flags()
    if ((tx and x.requires_grad) or (ty and y.requires_grad)) and flags & GRAD:
        t.requires_grad, t._prim, t._parents, t._seq = True, prim, (x, y), _next_seq()
    else:
        t.requires_grad, t._prim, t._parents, t._seq = False, None, None, 0
    if flags & ANOMALY:
        check_forward(prim, (x, y), t.data)
    if _get_tangents() is not None:
        _push_tangent(t, prim, (x, y), None)
    return t


def apply(prim, *args, **kw):
    """Apply any primitive to positional arguments (Tensors or raw values) and keywords."""
    need = False
    datas = []
    for a in args:
        if type(a) is Tensor:
            datas.append(a.data)
            need = need or a.requires_grad
        else:
            datas.append(a)
    try:
        out = prim.forward(*datas, **kw)
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(prim, args, e) from None
    flags = _get_flags()
    t = _node(out, prim, args, kw or None) if (need and flags & GRAD) else _wrap(out)
    if flags & ANOMALY:
        check_forward(prim, args, out)
    if _get_tangents() is not None:
        _push_tangent(t, prim, args, kw or None)
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
    tangents[id(t)] = out
    tangents.setdefault("_keep", []).append(t)   # keep ids unique while the trace lives


def _raw(x):
    return x.data if type(x) is Tensor else x


# ---- reverse mode --------------------------------------------------------------------------

def toposort(roots, stop=frozenset()):
    """Nodes reachable from ``roots`` through Tensors that require grad, parents before children.

    Iterative (no recursion limit on deep chains). Every Tensor carries a creation number
    ``_seq`` and a value is always created after its inputs, so creation order is a topological
    order: sorting the reachable set by it is all that is needed. Ids in ``stop`` act as leaves.
    """
    seen = {id(r): r for r in roots}
    stack = list(roots)
    while stack:
        node = stack.pop()
        parents = node._parents
        if parents is not None and id(node) not in stop:
            for p in parents:
                if type(p) is Tensor and p.requires_grad and id(p) not in seen:
                    seen[id(p)] = p
                    stack.append(p)
    return sorted(seen.values(), key=_seq_of)


def _seq_of(t):
    return t._seq


_FREED_MSG = ("Trying to backward through the graph a second time: its saved values were freed by "
              "the first backward (at dp.{name}). Pass retain_graph=True to the first backward() "
              "(or call the function again) if you need to differentiate the same graph twice.")


def run_backward(roots, seeds, inputs=None, retain_graph=False, create_graph=False):
    """Propagate ``seeds`` (cotangents of ``roots``) back through the graph.

    Nodes are visited in decreasing creation order through a heap, so each node is reached only
    after all of its consumers have contributed (fan-out sums) and no separate sorting pass is
    needed. With ``inputs=None`` leaf cotangents are accumulated into ``.grad``; otherwise the
    cotangents of the given Tensors are returned in a list (``None`` where unreached) and no
    ``.grad`` is touched.
    """
    stop = frozenset(id(t) for t in inputs) if inputs is not None else ()
    pending = _Pending(_get_flags() & ANOMALY)
    for r, s in zip(roots, seeds):
        pending.add(r, s, None, 0)
    found = {}
    token = _mode._flags.set(_get_flags() | GRAD if create_graph else _get_flags() & ~GRAD)
    try:
        node = pending.pop()
        while node is not None:
            g = pending.grads.pop(id(node))
            prim = node._prim
            if prim is None or id(node) in stop:              # a leaf, or an input asked for
                if id(node) in stop:
                    found[id(node)] = g
                elif inputs is None:
                    node.grad = g if node.grad is None else node.grad + g
            elif prim is FREED:
                raise RuntimeError(_FREED_MSG.format(name=node._kw))
            else:
                if not create_graph and node._kw is None and prim._plain and len(node._parents) <= 2:
                    following = _chain_step(node, g, prim, pending)
                else:
                    following = _general_step(node, g, prim, pending, create_graph)
                if not retain_graph:
                    node._parents, node._prim, node._kw = None, FREED, prim.name
                if following is not None:
                    node = following
                    continue
            node = pending.pop()
    finally:
        _mode._flags.reset(token)
    return None if inputs is None else [found.get(id(t)) for t in inputs]


class _Pending:
    """The cotangents summed so far, and the heap of nodes waiting for theirs (latest first)."""

    __slots__ = ("grads", "heap", "anomaly")

    def __init__(self, anomaly):
        self.grads, self.heap, self.anomaly = {}, [], anomaly

    def add(self, p, c, prim, i, alone=False):
        """Add cotangent ``c`` into ``p``'s (summed back to ``p``'s shape). Returns ``p`` instead
        of queueing it when ``alone`` (the only cotangent its consumer sends) and nothing else is
        pending: then every consumer of ``p`` is done and it is next anyway (a chain of nodes
        never touches the heap)."""
        if prim is not None:
            if c.shape != p.data.shape:
                c = _unbroadcast(c, p.data.shape)
            if self.anomaly:
                _check_finite(c, prim, i)
        k = id(p)
        prev = self.grads.get(k)
        if prev is not None:
            self.grads[k] = prev + c
            return None
        self.grads[k] = c
        if alone and not self.heap:
            return p
        heappush(self.heap, (-p._seq, k, p))
        return None

    def pop(self):
        return heappop(self.heap)[2] if self.heap else None


def _chain_step(node, g, prim, pending):
    """The lean path of unary and binary rows without keywords: rules called on raw arrays.
    Returns the next node when it is the only one this node feeds (see ``_Pending.add``)."""
    parents, vjps = node._parents, prim.vjps
    if len(parents) == 1:
        p = parents[0]
        return pending.add(p, vjps[0](g, node.data, p.data), prim, 0, True) if p.requires_grad else None
    x, y = parents
    tx, ty = type(x) is Tensor, type(y) is Tensor
    xd, yd = x.data if tx else x, y.data if ty else y
    nx, ny = tx and x.requires_grad, ty and y.requires_grad
    following = None
    if nx:
        following = pending.add(x, vjps[0](g, node.data, xd, yd), prim, 0, not ny)
    if ny:
        following = pending.add(y, vjps[1](g, node.data, xd, yd), prim, 1, not nx)
    return following


def _general_step(node, g, prim, pending, create_graph):
    """Every other node: keywords, variadic rows, ``vjp_all`` rows, and the recorded backward of
    ``create_graph`` (rules then see the parent Tensors and the node itself)."""
    parents, kw = node._parents, node._kw
    args, ans = (parents, node) if create_graph else ([p.data if type(p) is Tensor else p for p in parents],
                                                      node.data)
    cots = None
    if prim.vjp_all is not None:
        needs = [type(p) is Tensor and p.requires_grad for p in parents]
        cots = prim.vjp_all(g, ans, args, needs, kw or {})
    for i, p in enumerate(parents):
        if type(p) is not Tensor or not p.requires_grad:
            continue
        if cots is not None:
            c = cots[i]
            if c is None:
                continue
        elif prim.variadic:
            c = prim.vjps[0](g, ans, *args, argnum=i, **(kw or {}))
        else:
            c = prim.vjps[i](g, ans, *args, **(kw or {}))
        pending.add(p, c, prim, i)
    return None


def _finite(a):
    a = a.data if type(a) is Tensor else a
    if isinstance(a, (list, tuple)):
        return all(_finite(v) for v in a)
    arr = np.asarray(a) if not isinstance(a, np.ndarray) else a
    return arr.dtype.kind not in "fc" or bool(np.all(np.isfinite(arr)))


def check_forward(prim, args, out):
    """Anomaly mode: refuse a primitive that makes NaN/inf out of finite inputs."""
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
        if np.size(t.data) != 1:
            raise RuntimeError(f"backward() on a non-scalar Tensor of shape {t.shape} needs the "
                               f"cotangent: call backward(grad=...) with an array of that shape")
        grad = np.ones_like(t.data)
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
