"""Function transforms: ``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``linearize``,
``jacobian``, ``hessian`` and ``hvp``.

They accept NumPy arrays, scalars or Tensors (and tuples/lists/dicts of them) and return NumPy
arrays shaped like the inputs. When an argument is itself a Tensor that is being differentiated
(a transform nested inside another, e.g. ``grad(grad(f))``) they return recorded Tensors instead,
so the outer transform can differentiate through them.
"""
import functools

import numpy as np

from . import mode as _mode
from . import primitives as P
from .graph import _node, run_backward
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
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums={argnums} but the function was called with {nargs} "
                             f"positional argument(s)")
    return single, tuple(a % nargs for a in nums)


def _prepare(args, nums):
    """Replace the differentiated arguments by Tensors; return (args, per-arg (leaves, rebuild), nested)."""
    args = list(args)
    trees, nested = [], False
    for n in nums:
        leaves, rebuild = flatten(args[n])
        nested = nested or any(_is_traced(v) for v in leaves)
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
        with _mode.enable_grad():
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
            seed = np.ones_like(value.data)
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
    with _mode.enable_grad():
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
                x = Tensor(v.data if type(v) is Tensor else v) if type(v) is not Tensor or not _is_traced(v) \
                    else _as_input(v, n)
                tv = np.asarray(tv.data if type(tv) is Tensor else tv)
                if tv.shape != x.shape:
                    raise ValueError(f"jvp: tangent of shape {tv.shape} for a primal of shape {x.shape} "
                                     f"(argument {n})")
                table[id(x)] = tv.astype(x.dtype, copy=False) if x.dtype.kind in "fc" else tv
                table.setdefault("_keep", []).append(x)
                new.append(x)
            args.append(rebuild(new))
        out = fun(*args)
        leaves, rebuild = flatten(out)
        outs = [o.data if type(o) is Tensor else np.asarray(o) for o in leaves]
        touts = [table.get(id(o)) if type(o) is Tensor else None for o in leaves]
        touts = [np.zeros_like(o) if t is None else t for o, t in zip(outs, touts)]
    finally:
        _mode._tangents.reset(token)
    return rebuild(outs), rebuild(touts)


def linearize(fun, *primals):
    """Return ``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` is the JVP at ``primals``."""
    out, _ = jvp(fun, primals, [np.zeros_like(np.asarray(p)) for p in primals])
    return out, lambda *tangents: jvp(fun, primals, tangents)[1]


def jacobian(fun, argnums=0, mode="auto"):
    """Return a function computing the Jacobian of ``fun`` with respect to ``argnums``, shaped
    ``out.shape + arg.shape``. ``mode='rev'`` builds it row by row (one VJP per output entry),
    ``'fwd'`` column by column (one JVP per input entry), ``'auto'`` picks the cheaper."""
    if mode not in ("auto", "rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'auto', 'rev' or 'fwd', got {mode!r}")

    @functools.wraps(fun)
    def wrapped(*args):
        single, nums = _argnums(argnums, len(args), "jacobian")
        out, vjp_fn = vjp(lambda *xs: fun(*[xs[i] if i in nums else a for i, a in enumerate(args)]),
                          *[args[i] for i in nums])
        out_arr = np.asarray(out.data if type(out) is Tensor else out)
        sizes = [np.size(np.asarray(args[i].data if type(args[i]) is Tensor else args[i])) for i in nums]
        use = mode if mode != "auto" else ("rev" if out_arr.size <= sum(sizes) else "fwd")
        shapes = [np.shape(args[i].data if type(args[i]) is Tensor else args[i]) for i in nums]
        if use == "rev":
            rows = [[] for _ in nums]
            for k in range(out_arr.size):
                e = np.zeros(out_arr.size, dtype=out_arr.dtype)
                e[k] = 1
                cts = vjp_fn(e.reshape(out_arr.shape))
                for j, c in enumerate(cts):
                    rows[j].append(np.asarray(c.data if type(c) is Tensor else c))
            jacs = [np.stack(r).reshape(out_arr.shape + s) if r else np.zeros(out_arr.shape + s)
                    for r, s in zip(rows, shapes)]
        else:
            jacs = []
            primals = [np.asarray(args[i].data if type(args[i]) is Tensor else args[i]) for i in nums]
            for j, (p, s) in enumerate(zip(primals, shapes)):
                cols = []
                for k in range(p.size):
                    tangents = [np.zeros_like(q) for q in primals]
                    tangents[j].reshape(-1)[k] = 1
                    _, t = jvp(lambda *xs: fun(*[xs[nums.index(i)] if i in nums else a
                                                 for i, a in enumerate(args)]), primals, tangents)
                    cols.append(np.asarray(t))
                jac = np.stack(cols, axis=-1) if cols else np.zeros(out_arr.shape + (0,))
                jacs.append(jac.reshape(out_arr.shape + s))
        return jacs[0] if single else tuple(jacs)
    return wrapped


jacrev = functools.partial(jacobian, mode="rev")
jacfwd = functools.partial(jacobian, mode="fwd")


def hessian(fun, argnums=0):
    """Hessian of scalar-valued ``fun`` (reverse over reverse), shaped ``arg.shape + arg.shape``."""
    return jacobian(grad(fun, argnums), argnums, mode="rev")


def hvp(fun, x, v):
    """Hessian-vector product H(x) @ v of scalar-valued ``fun`` without forming H."""
    v = np.asarray(v.data if type(v) is Tensor else v)

    def directional(y):
        return (grad(fun)(y) * v).sum()
    return grad(directional)(x)
