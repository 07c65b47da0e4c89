"""Forward mode: ``jvp`` traces tangents while the function runs; ``linearize`` records the
function once and pushes tangents through the recorded nodes, all columns at once where a row of
the table has a ``batch`` rule (``push_forward``). Both use the one ``tape.node_jvp``.
"""
import numpy as np

from . import custom as _custom
from . import mode as _mode
from .pytree import flatten
from .reverse import _as_input, _evaluating, _is_traced
from .tape import Unbatchable, node_jvp, toposort
from .tensor import Tensor



def jvp(fun, primals, tangents):
    """Forward mode: return ``(fun(*primals), J @ tangents)`` by pushing tangents through each
    primitive's JVP rule (no reverse pass)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents")
    outer = _mode._tangents.get()
    table = {} if outer is None else outer
    token = _mode._tangents.set(table)
    try:
        args = []
        for n, (p, t) in enumerate(zip(primals, tangents)):
            leaves, rebuild = flatten(p)
            tleaves, _ = flatten(t)
            if len(leaves) != len(tleaves):
                raise ValueError(f"jvp: tangent {n} does not have the structure of primal {n}")
            new = []
            for v, tv in zip(leaves, tleaves):
                if type(v) is Tensor and ((outer is not None and id(v) in outer) or
                                          (v.requires_grad and _mode.is_grad_enabled())):
                    raise NotImplementedError(
                        f"jvp: argument {n} is a Tensor being differentiated (requires_grad, or inside grad/"
                        f"vjp/jvp); forward mode returns plain arrays, so reverse-over-forward and "
                        f"forward-over-forward are not supported. Use forward-over-reverse "
                        f"(dp.jvp(dp.grad(f), ...)) or reverse-over-reverse (dp.hessian, dp.hvp), or pass "
                        f"x.detach() if you only want the numbers.")
                x = Tensor(v.data if type(v) is Tensor else v)
                tv = np.asarray(tv.data if type(tv) is Tensor else tv)
                if tv.shape != x.shape:
                    raise ValueError(f"jvp: tangent of shape {tv.shape} for a primal of shape {x.shape} "
                                     f"(argument {n})")
                table[id(x)] = tv.astype(x.dtype, copy=False) if x.dtype.kind in "fc" else tv
                table.setdefault("_keep", []).append(x)
                new.append(x)
            args.append(rebuild(new))
        with _evaluating():
            out = fun(*args)
        leaves, rebuild = flatten(out)
        outs = [o.data if type(o) is Tensor else np.asarray(o) for o in leaves]
        touts = [table.get(id(o)) if type(o) is Tensor else None for o in leaves]
        touts = [np.zeros_like(o) if t is None else t for o, t in zip(outs, touts)]
    finally:
        _mode._tangents.reset(token)
    return rebuild(outs), rebuild(touts)


# ---- forward mode over a recorded graph: linearize once, push many tangents ------------------
#
# ``jvp`` pushes one tangent along while ``fun`` runs. To push many (the columns of a Jacobian)
# ``fun`` is run once, recording its graph, and the tangents are then pushed through the recorded
# nodes with the same JVP rules, all columns at once where the rule allows a leading batch axis
# (elementwise rules, matmul, reshapes, sums, slicing), one column at a time elsewhere.

def _record(fun, args, nums):
    """Run ``fun`` once with the leaves of ``args[nums]`` as fresh Tensors requiring grad.

    Returns (output, inputs, order): the raw output, the input Tensors and the recorded nodes,
    inputs first. The nodes keep every value (``keep_values``): the JVP rules read them all."""
    args = list(args)
    inputs = []
    for n in nums:
        leaves, rebuild = flatten(args[n])
        new = [_as_input(np.asarray(v.data if type(v) is Tensor else v), n) for v in leaves]
        inputs.extend(new)
        args[n] = rebuild(new)
    token = _custom._linearizing.set(True)
    try:
        with _mode.enable_grad(), _mode.keep_values(), _evaluating():
            out = fun(*args)
    finally:
        _custom._linearizing.reset(token)
    leaves, _ = flatten(out)
    roots = [o for o in leaves if type(o) is Tensor and o.requires_grad]
    return out, inputs, toposort(roots)


def batched_jvp(prim, ins, ans, datas, kw, k):
    """``node_jvp`` for tangents with a leading axis of ``k`` columns: the row's ``batch`` rule,
    or column by column where the row has none (or declines)."""
    out = prim.batch(prim, ins, ans, datas, kw, k) if prim.batch is not None else None
    if out is None:
        return np.stack([node_jvp(prim, [None if v is None else v[j] for v in ins], ans, datas, kw)
                         for j in range(k)])
    out = np.asarray(out)
    full = (k,) + np.shape(ans)
    return out if out.shape == full else np.broadcast_to(out, full)


def push_forward(order, seeds, outputs, batch=None):
    """Push tangents ``seeds`` ({input Tensor's node: tangent}) through the recorded nodes
    ``order``; return the tangents of the Tensors ``outputs`` (``None`` where an output does not
    depend on the inputs). With ``batch=k`` every tangent has a leading axis of k columns."""
    uses = {}
    for node in order:
        for p in node.parents or ():
            uses[p] = uses.get(p, 0) + 1
    keep = {o._node for o in outputs if type(o) is Tensor}
    tangents = dict(seeds)
    for node in order:
        prim = node.prim
        if prim is None:
            continue
        if prim.vjp_all is not None or (prim.jvps is None and not prim.linear) or prim.forward is None:
            raise Unbatchable(prim.name)
        parents = node.parents
        ins = [tangents.get(p) if p is not None else None for p in parents]
        for p in parents:                                    # forget tangents nobody needs any more
            if p is not None and p not in keep:
                uses[p] -= 1
                if uses[p] == 0:
                    tangents.pop(p, None)
        if all(v is None for v in ins):
            continue
        kw = node.kw or {}
        tangents[node] = (node_jvp(prim, ins, node.ans, node.args, kw) if batch is None
                          else batched_jvp(prim, ins, node.ans, node.args, kw, batch))
    return [tangents.get(o._node) if type(o) is Tensor else None for o in outputs]


def linearize(fun, *primals):
    """Return ``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` is the JVP at ``primals``.

    ``fun`` is evaluated once; each ``f_jvp`` call only pushes tangents through the recorded
    operations with their JVP rules (falling back to a fresh ``jvp`` for operations that only
    have a reverse-mode rule, which then raises a clear error)."""
    if any(_is_traced(v) for p in primals for v in flatten(p)[0]):
        out, _ = jvp(fun, primals, [np.zeros_like(np.asarray(p)) for p in primals])
        return out, lambda *tangents: jvp(fun, primals, tangents)[1]
    try:
        out, inputs, order = _record(fun, primals, tuple(range(len(primals))))
    except Unbatchable:
        out, inputs, order = None, None, None
    if order is None:
        value, _ = jvp(fun, primals, [np.zeros_like(np.asarray(p)) for p in primals])
        return value, lambda *tangents: jvp(fun, primals, tangents)[1]
    out_leaves, rebuild = flatten(out)
    value = rebuild([np.asarray(o.data if type(o) is Tensor else o) for o in out_leaves])

    def f_jvp(*tangents):
        if len(tangents) != len(primals):
            raise ValueError(f"linearize: got {len(tangents)} tangents for {len(primals)} primals")
        seeds = {}
        leaves = [t for n, t in enumerate(tangents) for t in _tangent_leaves(t, primals[n], n)]
        for x, t in zip(inputs, leaves):
            seeds[x._node] = t.astype(x.dtype, copy=False)
        try:
            touts = push_forward(order, seeds, out_leaves)
        except Unbatchable:
            return jvp(fun, primals, tangents)[1]
        return rebuild([np.zeros(np.shape(o.data if type(o) is Tensor else o)) if t is None else t
                        for o, t in zip(out_leaves, touts)])
    return value, f_jvp


def _tangent_leaves(tangent, primal, n):
    leaves, _ = flatten(tangent)
    pleaves, _ = flatten(primal)
    if len(leaves) != len(pleaves):
        raise ValueError(f"linearize: tangent {n} does not have the structure of primal {n}")
    out = []
    for t, p in zip(leaves, pleaves):
        t = np.asarray(t.data if type(t) is Tensor else t)
        if t.shape != np.shape(p.data if type(p) is Tensor else p):
            raise ValueError(f"linearize: tangent of shape {t.shape} for a primal of shape "
                             f"{np.shape(p.data if type(p) is Tensor else p)} (argument {n})")
        out.append(t)
    return out


