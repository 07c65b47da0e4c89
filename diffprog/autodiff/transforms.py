"""Function transforms: ``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``linearize``,
``jacobian``, ``hessian`` and ``hvp``.

They accept NumPy arrays, scalars or Tensors (and tuples/lists/dicts of them) and return NumPy
arrays shaped like the inputs. When an argument is itself a Tensor that is being differentiated
(a transform nested inside another, e.g. ``grad(grad(f))``) they return recorded Tensors instead,
so the outer transform can differentiate through them.
"""
import functools

import builtins
import contextvars

import numpy as np

from . import backend as B
from . import custom as _custom
from . import mode as _mode
from . import primitives as P
from .tape import _node, run_backward, toposort
from .pytree import flatten
from .tensor import Tensor


def _is_traced(x):
    if type(x) is not Tensor:
        return False
    tangents = _mode._tangents.get()
    return x.requires_grad or (tangents is not None and id(x) in tangents)


def _as_input(x, argnum):
    """A fresh differentiable Tensor standing for one leaf of argument ``argnum``."""
    if type(x) is Tensor:
        node = _node(x.data, P.IDENTITY, (x,), None)   # connected to x for outer transforms
        tangents = _mode._tangents.get()
        if tangents is not None and id(x) in tangents:
            tangents[id(node)] = tangents[id(x)]
            tangents.setdefault("_keep", []).append(node)
        if node.data.dtype.kind not in "fc":
            raise TypeError(f"cannot differentiate with respect to argument {argnum}: dtype {node.data.dtype} "
                            f"is not floating point")
        return node
    arr = np.asarray(x)
    if arr.dtype.kind not in "fc":
        raise TypeError(f"cannot differentiate with respect to argument {argnum}: it has integer/bool dtype "
                        f"{arr.dtype}; pass a float array (e.g. x.astype(float)) or exclude it from argnums")
    return Tensor(arr, requires_grad=True)


def _argnums(argnums, nargs, name):
    if type(argnums) is int and -nargs <= argnums < nargs:                # the common case, quickly
        return True, (argnums % nargs,)
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums={argnums} but the function was called with {nargs} "
                             f"positional argument(s)")
    return single, tuple(a % nargs for a in nums)


# How many transforms are evaluating their function right now. A transform called inside another
# one (directly, or on values the outer function closed over) must record its result so that the
# outer transform can differentiate it: ``grad(lambda y: grad(f)(x, y))``.
_depth = contextvars.ContextVar("diffprog_transform_depth", default=0)


class _evaluating:
    """Context manager around a transform's call of the user's function."""

    def __enter__(self):
        self.token = _depth.set(_depth.get() + 1)

    def __exit__(self, *exc):
        _depth.reset(self.token)
        return False


def _prepare(args, nums):
    """Replace the differentiated arguments by Tensors; return (args, per-arg (leaves, rebuild), nested)."""
    args = list(args)
    trees = []
    nested = _depth.get() > 0 or any(type(a) is not np.ndarray and any(_is_traced(v) for v in flatten(a)[0])
                                     for a in args)
    for n in nums:
        leaves, rebuild = flatten(args[n])
        new = [_as_input(v, n) for v in leaves]
        trees.append((new, rebuild))
        args[n] = rebuild(new)
    return args, trees, nested


def _out(x, nested):
    if type(x) is Tensor:
        return x if nested else x.data
    return x


def _zeros_for(t, nested):
    z = np.zeros_like(t.data)
    return Tensor(z) if nested else z


def value_and_grad(fun, argnums=0, has_aux=False):
    """Return a function computing ``(fun(*args), gradient)`` (``((value, aux), gradient)`` with
    ``has_aux``). ``fun`` must return a scalar. The gradient has the structure of the argument
    (a tuple of them when ``argnums`` is a tuple)."""
    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        single, nums = _argnums(argnums, len(args), "grad")
        args, trees, nested = _prepare(args, nums)
        with _mode.enable_grad(), _evaluating():
            result = fun(*args, **kwargs)
        if has_aux:
            if not (isinstance(result, (tuple, list)) and len(result) == 2):
                raise TypeError("grad(has_aux=True): the function must return a pair (value, aux)")
            value, aux = result
        else:
            value = result
        if np.size(value.data if type(value) is Tensor else value) != 1:
            raise TypeError(f"grad requires a function with a scalar output, got shape "
                            f"{np.shape(value.data if type(value) is Tensor else value)}; "
                            f"use dp.vjp or dp.jacobian for non-scalar outputs")
        inputs = [t for new, _ in trees for t in new]
        if type(value) is Tensor and value.requires_grad:
            seed = np.ones(np.shape(value.data), dtype=value.data.dtype)
            grads = run_backward([value], [Tensor(seed) if nested else seed], inputs,
                                 retain_graph=nested, create_graph=nested)
        else:
            grads = [None] * len(inputs)
        grads = [g if g is not None else _zeros_for(t, nested) for g, t in zip(grads, inputs)]
        if not nested:
            grads = [np.asarray(g.data if type(g) is Tensor else g) for g in grads]
        out, i = [], 0
        for new, rebuild in trees:
            out.append(rebuild(grads[i:i + len(new)]))
            i += len(new)
        g = out[0] if single else tuple(out)
        value = _out(value, nested)
        if has_aux:
            return (value, aux), g
        return value, g
    return wrapped


def grad(fun, argnums=0, has_aux=False):
    """Return a function computing the gradient of scalar-valued ``fun`` with respect to the
    argument(s) ``argnums``; with ``has_aux`` it returns ``(gradient, aux)``."""
    vg = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapped


def vjp(fun, *primals, has_aux=False):
    """Evaluate ``fun(*primals)`` and return ``(out, vjp_fn)``; ``vjp_fn(cotangent)`` returns a tuple
    with one cotangent per primal. ``vjp_fn`` may be called several times."""
    args, trees, nested = _prepare(primals, tuple(range(len(primals))))
    with _mode.enable_grad(), _evaluating():
        result = fun(*args)
    out, aux = result if has_aux else (result, None)
    out_leaves, _ = flatten(out)
    inputs = [t for new, _ in trees for t in new]

    def vjp_fn(cotangent):
        ct_leaves, _ = flatten(cotangent)
        if len(ct_leaves) != len(out_leaves):
            raise ValueError(f"vjp_fn: the cotangent has {len(ct_leaves)} leaves, the output {len(out_leaves)}")
        roots, seeds = [], []
        for o, c in zip(out_leaves, ct_leaves):
            c = c.data if type(c) is Tensor and not nested else c
            if np.shape(c) != np.shape(o.data if type(o) is Tensor else o):
                raise ValueError(f"vjp_fn: cotangent of shape {np.shape(c)} for an output of shape "
                                 f"{np.shape(o.data if type(o) is Tensor else o)}")
            if type(o) is Tensor and o.requires_grad:
                roots.append(o)
                seeds.append(Tensor(c) if nested and type(c) is not Tensor else np.asarray(c, dtype=o.dtype))
        grads = run_backward(roots, seeds, inputs, retain_graph=True, create_graph=nested) if roots \
            else [None] * len(inputs)
        grads = [g if g is not None else _zeros_for(t, nested) for g, t in zip(grads, inputs)]
        if not nested:
            grads = [np.asarray(g.data if type(g) is Tensor else g) for g in grads]
        res, i = [], 0
        for new, rebuild in trees:
            res.append(rebuild(grads[i:i + len(new)]))
            i += len(new)
        return tuple(res)

    _, rebuild_out = flatten(out)
    value = rebuild_out([_out(o, nested) for o in out_leaves])
    return (value, vjp_fn, aux) if has_aux else (value, vjp_fn)


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

class _Unbatchable(Exception):
    """The recorded graph has a node without a JVP rule (custom VJP, checkpoint): use ``jvp``."""


_ELEMENTWISE = frozenset(getattr(P, name) for name in (
    "IDENTITY", "NEGATIVE", "EXP", "LOG", "LOG1P", "EXPM1", "SQRT", "SQUARE", "SIN", "COS", "TAN", "ARCSIN",
    "ARCCOS", "ARCTAN", "SINH", "COSH", "TANH", "SIGMOID", "RELU", "SOFTPLUS", "ABS", "SIGN", "RECIPROCAL",
    "CONJ", "REAL", "IMAG", "ANGLE", "CLIP", "CAST", "ADD", "SUBTRACT", "MULTIPLY", "DIVIDE", "POWER",
    "MAXIMUM", "MINIMUM", "ARCTAN2", "WHERE", "SOFTMAX", "LOG_SOFTMAX") if hasattr(P, name))


def _record(fun, args, nums):
    """Run ``fun`` once with the leaves of ``args[nums]`` as fresh Tensors requiring grad.

    Returns (output, inputs, order): the raw output, the input Tensors and the recorded nodes,
    inputs first."""
    args = list(args)
    inputs = []
    for n in nums:
        leaves, rebuild = flatten(args[n])
        new = [_as_input(np.asarray(v.data if type(v) is Tensor else v), n) for v in leaves]
        inputs.extend(new)
        args[n] = rebuild(new)
    token = _custom._linearizing.set(True)
    try:
        with _mode.enable_grad(), _evaluating():
            out = fun(*args)
    finally:
        _custom._linearizing.reset(token)
    leaves, _ = flatten(out)
    roots = [o for o in leaves if type(o) is Tensor and o.requires_grad]
    return out, inputs, toposort(roots)


def _zero_tangent(d):
    arr = np.asarray(d)
    return np.zeros_like(arr) if arr.dtype.kind in "fc" else d


def _node_jvp(prim, ins, ans, datas, kw):
    """The tangent of one node from its arguments' tangents (``None``: zero), unbatched."""
    if prim.linear:
        out = prim.forward(*[v if v is not None else _zero_tangent(d) for v, d in zip(ins, datas)], **kw)
    else:
        out = None
        for i, v in enumerate(ins):
            if v is not None:
                c = (prim.jvps[0](v, ans, *datas, argnum=i, **kw) if prim.variadic
                     else prim.jvps[i](v, ans, *datas, **kw))
                out = c if out is None else out + c
    out = np.asarray(out.data if type(out) is Tensor else out)
    return out if out.shape == np.shape(ans) else np.broadcast_to(out, np.shape(ans))


def _pad(v, ndim):
    """A batched tangent (k, *shape) with axes inserted after k so that it has 1 + ndim axes."""
    return v.reshape(v.shape[:1] + (1,) * (ndim + 1 - v.ndim) + v.shape[1:])


def _batched_jvp(prim, ins, ans, datas, kw, k):
    """Like ``_node_jvp`` for tangents with a leading axis of ``k`` columns."""
    nd, full = np.ndim(ans), (k,) + np.shape(ans)
    out = None
    if prim in _ELEMENTWISE or (prim is P.MATMUL and min(np.ndim(d) for d in datas) >= 2):
        if kw.get("axis") is not None:                  # softmax axes counted from the end
            axes = B.normalize_axes(kw["axis"], nd)
            kw = dict(kw, axis=tuple(a - nd for a in axes) if isinstance(kw["axis"], tuple) else axes[0] - nd)
        padded = [None if v is None else _pad(v, nd) for v in ins]
        if prim.linear:
            out = prim.forward(*[v if v is not None else _zero_tangent(d) for v, d in zip(padded, datas)], **kw)
        else:
            for i, v in enumerate(padded):
                if v is not None:
                    c = prim.jvps[i](v, ans, *datas, **kw)
                    out = c if out is None else out + c
    elif prim is P.SUM:
        x_nd = np.ndim(datas[0])
        axes = tuple(range(x_nd)) if kw.get("axis") is None else B.normalize_axes(kw["axis"], x_nd)
        out = np.sum(ins[0], axis=tuple(a + 1 for a in axes), keepdims=kw.get("keepdims", False))
    elif prim is P.RESHAPE:
        out = np.reshape(ins[0], full)
    elif prim is P.TRANSPOSE:
        axes = kw["axes"] if kw.get("axes") is not None else tuple(range(nd - 1, -1, -1))
        out = np.transpose(ins[0], (0,) + tuple(int(a) % nd + 1 for a in axes))
    elif prim is P.BROADCAST_TO:
        out = np.broadcast_to(_pad(ins[0], nd), full)
    elif prim is P.GETITEM and (not isinstance(kw["idx"], tuple) or P._is_basic(kw["idx"])):
        idx = kw["idx"] if isinstance(kw["idx"], tuple) else (kw["idx"],)
        out = ins[0][(slice(None),) + idx]
    elif prim is P.CONCATENATE:
        axis = B.normalize_axes(kw.get("axis", 0), nd)[0] + 1
        out = np.concatenate([v if v is not None else np.zeros((k,) + np.shape(d), dtype=np.result_type(d))
                              for v, d in zip(ins, datas)], axis=axis)
    if out is None:                                          # no batching rule: column by column
        return np.stack([_node_jvp(prim, [None if v is None else v[j] for v in ins], ans, datas, kw)
                         for j in range(k)])
    out = np.asarray(out)
    return out if out.shape == full else np.broadcast_to(out, full)


def _push_forward(order, seeds, outputs, batch=None):
    """Push tangents ``seeds`` ({id(input): tangent}) through the recorded nodes ``order``;
    return the tangents of ``outputs`` (``None`` where an output does not depend on the inputs).
    With ``batch=k`` every tangent has a leading axis of k columns."""
    uses = {}
    for node in order:
        for p in node._parents or ():
            uses[id(p)] = uses.get(id(p), 0) + 1
    keep = {id(o) for o in outputs}
    tangents = dict(seeds)
    for node in order:
        prim = node._prim
        if prim is None:
            continue
        if prim.vjp_all is not None or (prim.jvps is None and not prim.linear) or prim.forward is None:
            raise _Unbatchable(prim.name)
        parents = node._parents
        ins = [tangents.get(id(p)) if type(p) is Tensor else None for p in parents]
        for p in parents:                                    # forget tangents nobody needs any more
            if type(p) is Tensor and id(p) not in keep:
                uses[id(p)] -= 1
                if uses[id(p)] == 0:
                    tangents.pop(id(p), None)
        if all(v is None for v in ins):
            continue
        datas = [p.data if type(p) is Tensor else p for p in parents]
        kw = node._kw or {}
        tangents[id(node)] = (_node_jvp(prim, ins, node.data, datas, kw) if batch is None
                              else _batched_jvp(prim, ins, node.data, datas, kw, batch))
    return [tangents.get(id(o)) if type(o) is Tensor else None for o in outputs]


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
    except _Unbatchable:
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
            seeds[id(x)] = t.astype(x.dtype, copy=False)
        try:
            touts = _push_forward(order, seeds, out_leaves)
        except _Unbatchable:
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


def _jacobian_fwd(fun, args, nums, out_shape, max_bytes=1 << 28):
    """Forward-mode Jacobians by batched tangent pushes over one recorded graph, or ``None``
    when the graph has a node without a JVP rule."""
    try:
        out, inputs, order = _record(fun, args, nums)
    except _Unbatchable:
        return None
    if type(out) is not Tensor:
        return [np.zeros(out_shape + np.shape(x.data)) for x in inputs]
    per_column = 8 * builtins.sum(int(np.size(node.data)) for node in order) + 1
    chunk = max(1, min(4096, max_bytes // per_column))
    jacs = []
    for x in inputs:
        n = x.data.size
        cols = []
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            seed = np.zeros((k, n), dtype=x.dtype)
            seed[np.arange(k), start + np.arange(k)] = 1
            try:
                (t,) = _push_forward(order, {id(x): seed.reshape((k,) + x.shape)}, [out], batch=k)
            except _Unbatchable:
                return None
            cols.append(np.zeros((k,) + out_shape, dtype=out.dtype) if t is None else t)
        jac = np.concatenate(cols) if cols else np.zeros((0,) + out_shape, dtype=out.dtype)
        jacs.append(np.moveaxis(jac, 0, -1).reshape(out_shape + x.shape))
    return jacs


def jacobian(fun, argnums=0, mode="auto"):
    """Return a function computing the Jacobian of ``fun`` with respect to ``argnums``, shaped
    ``out.shape + arg.shape``. ``mode='rev'`` builds it row by row (one VJP per output entry),
    ``'fwd'`` column by column (one JVP per input entry), ``'auto'`` picks the cheaper."""
    if mode not in ("auto", "rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'auto', 'rev' or 'fwd', got {mode!r}")

    @functools.wraps(fun)
    def wrapped(*args):
        single, nums = _argnums(argnums, len(args), "jacobian")

        def restricted(*xs):
            return fun(*[xs[nums.index(i)] if i in nums else a for i, a in enumerate(args)])
        chosen = [args[i] for i in nums]
        trees = [flatten(x) for x in chosen]                  # pytree arguments: one Jacobian per leaf
        shapes = [np.shape(v.data if type(v) is Tensor else v) for leaves, _ in trees for v in leaves]
        nested = _depth.get() > 0 or any(_is_traced(v) for leaves, _ in trees for v in leaves)
        use = "rev" if nested else mode        # forward mode returns plain arrays: nest reverse mode
        jacs = None
        if use == "fwd":
            out = _shape_of(restricted, chosen)
            jacs = _jacobian_fwd(restricted, chosen, tuple(range(len(nums))), out)
        else:
            value, vjp_fn = vjp(restricted, *chosen)
            out_arr = np.asarray(value.data if type(value) is Tensor else value)
            out = out_arr.shape
            if use == "auto":
                use = "rev" if out_arr.size <= sum(int(np.prod(s)) for s in shapes) else "fwd"
            if use == "rev":
                rows = [[] for _ in shapes]
                for k in range(out_arr.size):
                    e = np.zeros(out_arr.size, dtype=out_arr.dtype)
                    e[k] = 1
                    cts = [c for ct in vjp_fn(e.reshape(out)) for c in flatten(ct)[0]]
                    for j, c in enumerate(cts):
                        rows[j].append(c if nested else np.asarray(c.data if type(c) is Tensor else c))
                stack = _stack_nested if nested else np.stack
                jacs = [stack(r).reshape(out + s) if r else np.zeros(out + s) for r, s in zip(rows, shapes)]
            else:
                jacs = _jacobian_fwd(restricted, chosen, tuple(range(len(nums))), out)
        if jacs is None:                       # a node without a JVP rule: one jvp per column
            jacs = _jacobian_by_jvps(restricted, trees, out)
        grouped, i = [], 0
        for leaves, rebuild in trees:
            grouped.append(rebuild(jacs[i:i + len(leaves)]))
            i += len(leaves)
        return grouped[0] if single else tuple(grouped)
    return wrapped


def _jacobian_by_jvps(fun, trees, out_shape):
    """One ``jvp`` per input entry (for graphs with nodes that only the traced ``jvp`` handles)."""
    primals = [[np.asarray(v.data if type(v) is Tensor else v) for v in leaves] for leaves, _ in trees]
    flat = [p for ps in primals for p in ps]
    jacs = []
    for j, p in enumerate(flat):
        cols = []
        for k in range(p.size):
            tangent_leaves = [np.zeros_like(q) for q in flat]
            tangent_leaves[j].reshape(-1)[k] = 1
            tangents, i = [], 0
            for ps, (_, rebuild) in zip(primals, trees):
                tangents.append(rebuild(tangent_leaves[i:i + len(ps)]))
                i += len(ps)
            cols.append(np.asarray(jvp(fun, [rebuild(ps) for ps, (_, rebuild) in zip(primals, trees)],
                                       tangents)[1]))
        jac = np.stack(cols, axis=-1) if cols else np.zeros(out_shape + (0,))
        jacs.append(jac.reshape(out_shape + p.shape))
    return jacs


def _shape_of(fun, args):
    with _mode.no_grad():
        out = fun(*args)
    return np.shape(out.data if type(out) is Tensor else out)


def _stack_nested(rows):
    from .functions import stack
    return stack(rows)


jacrev = functools.partial(jacobian, mode="rev")
jacfwd = functools.partial(jacobian, mode="fwd")


def hessian(fun, argnums=0):
    """Hessian of scalar-valued ``fun``, shaped ``arg.shape + arg.shape``: forward over reverse
    (the gradient's graph is recorded once and all columns pushed through it together), or reverse
    over reverse when nested inside another transform."""
    return jacobian(grad(fun, argnums), argnums, mode="fwd")


def hvp(fun, x, v):
    """Hessian-vector product H(x) @ v of scalar-valued ``fun`` without forming H."""
    v = np.asarray(v.data if type(v) is Tensor else v)

    def directional(y):
        return (grad(fun)(y) * v).sum()
    return grad(directional)(x)
