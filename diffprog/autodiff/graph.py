"""Recording primitive applications and running them backwards.

``apply`` is the hot path of the whole library: it unwraps Tensors, calls the primitive's NumPy
forward, and (only when some input requires grad and grad mode is on) links the result to its
inputs. ``backward`` makes one iterative topological pass over the recorded graph and calls each
primitive's VJP rule, summing cotangents of values that fan out.
"""
import numpy as np

from . import mode as _mode
from .tensor import Tensor

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
    """

    __slots__ = ("name", "forward", "vjps", "jvps", "linear", "variadic", "vjp_all", "doc")

    def __init__(self, name, forward, vjps=(), jvps=None, linear=False, variadic=False, vjp_all=None,
                 doc=None):
        self.name, self.forward, self.vjps, self.jvps = name, forward, tuple(vjps), jvps
        self.linear, self.variadic, self.vjp_all, self.doc = linear, variadic, vjp_all, doc

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
    t = _new(Tensor)
    t.data = out
    t.grad = None
    t.requires_grad = False
    t._prim = t._parents = t._kw = None
    return t


def _node(out, prim, parents, kw):
    t = _new(Tensor)
    t.data = out
    t.grad = None
    t.requires_grad = True
    t._prim = prim
    t._parents = parents
    t._kw = kw
    return t


def apply1(prim, x):
    """Apply a one-argument primitive (fast path)."""
    if type(x) is Tensor:
        try:
            out = prim.forward(x.data)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(prim, (x,), e) from None
        flags = _get_flags()
        t = _node(out, prim, (x,), None) if (x.requires_grad and flags & GRAD) else _wrap(out)
    else:
        t = _wrap(prim.forward(x))
    if _get_tangents() is not None:
        _push_tangent(t, prim, (x,), None)
    return t


def apply2(prim, x, y):
    """Apply a two-argument primitive (fast path)."""
    tx, ty = type(x) is Tensor, type(y) is Tensor
    try:
        out = prim.forward(x.data if tx else x, y.data if ty else y)
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(prim, (x, y), e) from None
    if ((tx and x.requires_grad) or (ty and y.requires_grad)) and _get_flags() & GRAD:
        t = _node(out, prim, (x, y), None)
    else:
        t = _wrap(out)
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
    t = _node(out, prim, args, kw or None) if (need and _get_flags() & GRAD) else _wrap(out)
    if _get_tangents() is not None:
        _push_tangent(t, prim, args, kw or None)
    return t


# ---- forward mode --------------------------------------------------------------------------

def _push_tangent(t, prim, args, kw):
    """Forward mode: compute ``t``'s tangent from its inputs' tangents with the JVP rules."""
    tangents = _get_tangents()
    ins = [tangents.get(id(a)) if type(a) is Tensor else None for a in args]
    if all(v is None for v in ins):
        return
    datas = [a.data if type(a) is Tensor else a for a in args]
    kw = kw or {}
    token = _mode._tangents.set(None)          # the rules themselves are not differentiated
    try:
        if prim.linear:
            targs = [v if v is not None else (np.zeros_like(d) if type(a) is Tensor else d)
                     for v, a, d in zip(ins, args, datas)]
            out = prim.forward(*targs, **kw)
        elif prim.jvps is None:
            raise NotImplementedError(f"forward mode is not defined for dp.{prim.name}")
        else:
            out = None
            for i, v in enumerate(ins):
                if v is None:
                    continue
                rule = prim.jvps[0] if prim.variadic else prim.jvps[i]
                c = rule(v, t.data, *datas, argnum=i, **kw) if prim.variadic else rule(v, t.data, *datas, **kw)
                out = c if out is None else out + c
        out = np.asarray(_raw(out))
        if out.shape != np.shape(t.data):
            out = np.broadcast_to(out, np.shape(t.data))
    finally:
        _mode._tangents.reset(token)
    tangents[id(t)] = out
    tangents.setdefault("_keep", []).append(t)   # keep ids unique while the trace lives


def _raw(x):
    return x.data if type(x) is Tensor else x


# ---- reverse mode --------------------------------------------------------------------------

def toposort(roots, stop=frozenset()):
    """Nodes reachable from ``roots`` through Tensors that require grad, parents before children.

    Iterative depth-first post-order, so arbitrarily deep chains never hit the recursion limit.
    Nodes whose id is in ``stop`` are treated as leaves.
    """
    order, seen = [], set()
    stack = [(r, False) for r in roots]
    push, pop, append, add = stack.append, stack.pop, order.append, seen.add
    while stack:
        node, done = pop()
        if done:
            append(node)
            continue
        key = id(node)
        if key in seen:
            continue
        add(key)
        push((node, True))
        parents = node._parents
        if parents is not None and key not in stop:
            for p in parents:
                if type(p) is Tensor and p.requires_grad and id(p) not in seen:
                    push((p, False))
    return order


_FREED_MSG = ("Trying to backward through the graph a second time: its saved values were freed by "
              "the first backward (at dp.{name}). Pass retain_graph=True to the first backward() "
              "(or call the function again) if you need to differentiate the same graph twice.")


def run_backward(roots, seeds, inputs=None, retain_graph=False, create_graph=False):
    """Propagate ``seeds`` (cotangents of ``roots``) back through the graph.

    With ``inputs=None`` the cotangents of leaves are accumulated into their ``.grad``; otherwise
    the cotangents of the given Tensors are returned in a list (``None`` where unreached) and no
    ``.grad`` is touched.
    """
    stop = frozenset(id(t) for t in inputs) if inputs is not None else frozenset()
    order = toposort(roots, stop)
    grads = {}
    for r, s in zip(roots, seeds):
        k = id(r)
        grads[k] = s if k not in grads else grads[k] + s
    found = {}
    flags = _get_flags()
    anomaly = flags & ANOMALY
    token = _mode._flags.set(flags | GRAD if create_graph else flags & ~GRAD)
    try:
        for node in reversed(order):
            key = id(node)
            g = grads.pop(key, None)
            if g is None:
                continue
            prim = node._prim
            if key in stop:
                found[key] = g
                continue
            if prim is None:
                if inputs is None:
                    node.grad = g if node.grad is None else node.grad + g
                continue
            if prim is FREED:
                raise RuntimeError(_FREED_MSG.format(name=node._kw))
            parents, kw = node._parents, node._kw or {}
            if create_graph:
                args, ans = parents, node
            else:
                args = [p.data if type(p) is Tensor else p for p in parents]
                ans = node.data
            if prim.vjp_all is not None:
                needs = [type(p) is Tensor and p.requires_grad for p in parents]
                cots = prim.vjp_all(g, ans, args, needs, kw)
            else:
                cots = [None] * len(parents)
                for i, p in enumerate(parents):
                    if type(p) is Tensor and p.requires_grad:
                        cots[i] = (prim.vjps[0](g, ans, *args, argnum=i, **kw) if prim.variadic
                                   else prim.vjps[i](g, ans, *args, **kw))
            for i, (p, c) in enumerate(zip(parents, cots)):
                if c is None or type(p) is not Tensor or not p.requires_grad:
                    continue
                if np.shape(c) != np.shape(p.data):
                    c = _backend.sum_to(c, np.shape(p.data))
                if anomaly:
                    _check_finite(c, prim, i)
                k = id(p)
                prev = grads.get(k)
                grads[k] = c if prev is None else prev + c
            if not retain_graph:
                node._parents, node._prim, node._kw = None, FREED, prim.name
    finally:
        _mode._flags.reset(token)
    if inputs is None:
        return None
    return [found.get(id(t)) for t in inputs]


def _check_finite(c, prim, i):
    arr = c.data if type(c) is Tensor else c
    if not np.all(np.isfinite(arr)):
        raise FloatingPointError(
            f"anomaly detected: the backward rule of dp.{prim.name} returned non-finite values "
            f"(nan or inf) for its argument {i} (shape {np.shape(arr)})")


def backward(t, grad=None, retain_graph=False, create_graph=False):
    """``Tensor.backward``: seed with ``grad`` (ones for a scalar) and accumulate into leaves."""
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


from . import backend as _backend  # noqa: E402  (rules dispatch on array or Tensor)
