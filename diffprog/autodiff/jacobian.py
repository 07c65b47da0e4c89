"""Jacobians and second derivatives: ``jacobian`` (``jacrev``, ``jacfwd``), ``hessian``, ``hvp``."""
import builtins
import functools

import numpy as np

from . import mode as _mode
from .forward import _record, jvp, push_forward
from .functions import stack as _stack
from .pytree import flatten
from .reverse import _argnums, _depth, _is_traced, grad, vjp
from .tape import Unbatchable
from .tensor import Tensor



def _jacobian_fwd(fun, args, nums, out_shape, max_bytes=1 << 28):
    """Forward-mode Jacobians by batched tangent pushes over one recorded graph, or ``None``
    when the graph has a node without a JVP rule."""
    try:
        out, inputs, order = _record(fun, args, nums)
    except Unbatchable:
        return None
    if type(out) is not Tensor:
        return [np.zeros(out_shape + np.shape(x.data)) for x in inputs]
    per_column = 8 * builtins.sum(int(np.size(node.ans)) for node in order) + 1
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
                (t,) = push_forward(order, {x._node: seed.reshape((k,) + x.shape)}, [out], batch=k)
            except Unbatchable:
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
    return _stack(rows)


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
