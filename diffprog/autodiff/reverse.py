"""Reverse mode: ``grad``, ``value_and_grad`` and ``vjp``, and the argument handling every
transform shares.

They accept NumPy arrays, scalars or Tensors (and tuples/lists/dicts of them) and return NumPy
arrays shaped like the inputs. When an argument is itself a Tensor that is being differentiated
(a transform nested inside another, e.g. ``grad(grad(f))``) they return recorded Tensors instead,
so the outer transform can differentiate through them.
"""
import contextvars
import functools

import numpy as np

from . import mode as _mode
from . import primitives as P
from .pytree import flatten, tree_map
from .tape import carry_tangent, recorded, run_backward
from .node import leaf_node
from .tensor import Tensor

_new = object.__new__
_flags = _mode._flags
GRAD = _mode.GRAD


def _is_traced(x):
    if type(x) is not Tensor:
        return False
    tangents = _mode._tangents.get()
    return x.requires_grad or (tangents is not None and id(x) in tangents)


def _as_input(x, argnum):
    """A fresh differentiable Tensor standing for one leaf of argument ``argnum``."""
    if type(x) is Tensor:
        node = recorded(x.data, P.IDENTITY, (x,), None, _mode._flags.get())   # connected to x for outer transforms
        tangents = _mode._tangents.get()
        if tangents is not None and id(x) in tangents:
            carry_tangent(tangents, node, tangents[id(x)])
        if node.data.dtype.kind not in "fc":
            raise TypeError(f"cannot differentiate with respect to argument {argnum}: dtype {node.data.dtype} "
                            f"is not floating point")
        return node
    arr = x if type(x) is np.ndarray else np.asarray(x)
    if arr.dtype.kind not in "fc":
        raise TypeError(f"cannot differentiate with respect to argument {argnum}: it has integer/bool dtype "
                        f"{arr.dtype}; pass a float array (e.g. x.astype(float)) or exclude it from argnums")
    t = _new(Tensor)
    t.data, t.grad = arr, None
    t._node = leaf_node(t)
    return t


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


def _first(leaves):
    return leaves[0]


def _prepare(args, nums):
    """Replace the differentiated arguments by Tensors; return (args, per-arg (leaves, rebuild), nested)."""
    if len(args) == 1 and len(nums) == 1 and type(args[0]) is np.ndarray and args[0].dtype.kind in "fc" \
            and _depth.get() == 0:                  # f(array), not inside another transform: the common case
        t = _new(Tensor)
        t.data, t.grad = args[0], None
        t._node = leaf_node(t)
        return [t], [([t], _first)], False
    args = list(args)
    trees = []
    nested = _depth.get() > 0
    for a in args:
        if not nested and type(a) is not np.ndarray and any(_is_traced(v) for v in flatten(a)[0]):
            nested = True
    for n in nums:
        a = args[n]
        if type(a) is np.ndarray:                   # one array: nothing to flatten
            t = args[n] = _as_input(a, n)
            trees.append(([t], _first))
            continue
        leaves, rebuild = flatten(a)
        new = [_as_input(v, n) for v in leaves]
        trees.append((new, rebuild))
        args[n] = rebuild(new)
    return args, trees, nested


def _out(x, nested):
    if type(x) is Tensor:
        return x if nested else x.data
    return x


_ARRAY_TYPES = (np.ndarray, np.generic)


def _ones(shape, dtype):
    if shape == ():                                     # a scalar loss: one call
        return np.array(1, dtype=dtype)
    out = np.empty(shape, dtype=dtype)
    out.fill(1)
    return out


def _zeros_for(t, nested):
    z = np.zeros_like(t.data)
    return Tensor(z) if nested else z


def _call_recording(fun, args, kwargs):
    """``fun(*args, **kwargs)`` with grad mode on, counted as a transform evaluating its function
    (``_depth``). Plain token resets, not context-manager objects: this runs once per gradient."""
    flags = _flags.get()
    flags_token = None if flags & GRAD else _flags.set(flags | GRAD)      # (on already, as a rule)
    depth_token = _depth.set(_depth.get() + 1)
    try:
        return fun(*args, **kwargs)
    finally:
        _depth.reset(depth_token)
        if flags_token is not None:
            _flags.reset(flags_token)


def _value_and_grad(fun, argnums, has_aux, args, kwargs):
    """``(value, gradient)`` of ``fun(*args, **kwargs)`` (``value`` is ``(value, aux)`` with
    ``has_aux``): what ``grad`` and ``value_and_grad`` compute."""
    single, nums = _argnums(argnums, len(args), "grad")
    args, trees, nested = _prepare(args, nums)
    result = _call_recording(fun, args, kwargs)
    if has_aux:
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise TypeError("grad(has_aux=True): the function must return a pair (value, aux)")
        value, aux = result
    else:
        value = result
    vd = value.data if type(value) is Tensor else value
    if (vd.size if isinstance(vd, _ARRAY_TYPES) else np.size(vd)) != 1:
        raise TypeError(f"grad requires a function with a scalar output, got shape {np.shape(vd)}; "
                        f"use dp.vjp or dp.jacobian for non-scalar outputs")
    inputs = trees[0][0] if len(trees) == 1 else [t for new, _ in trees for t in new]
    if type(value) is Tensor and value._node is not None:
        seed = _ones(vd.shape, vd.dtype)          # (a Tensor's data: an ndarray or NumPy scalar)
        grads = run_backward([value], [Tensor(seed) if nested else seed], inputs,
                             retain_graph=nested, create_graph=nested)
    else:
        grads = [None] * len(inputs)
    if len(grads) == 1 and len(trees) == 1 and type(grads[0]) is np.ndarray and not nested:   # one array
        out = [trees[0][1](grads)]
    else:
        grads = [g if g is not None else _zeros_for(t, nested) for g, t in zip(grads, inputs)]
        if not nested:
            grads = [g if type(g) is np.ndarray else np.asarray(g.data if type(g) is Tensor else g) for g in grads]
        out, i = [], 0
        for new, rebuild in trees:
            out.append(rebuild(grads[i:i + len(new)]))
            i += len(new)
    g = out[0] if single else tuple(out)
    if not nested and type(value) is Tensor:
        value = value.data
    if has_aux:
        return (value, _detached(aux, nested)), g
    return value, g


def value_and_grad(fun, argnums=0, has_aux=False):
    """Return a function computing ``(fun(*args), gradient)`` (``((value, aux), gradient)`` with
    ``has_aux``). ``fun`` must return a scalar. The gradient has the structure of the argument
    (a tuple of them when ``argnums`` is a tuple)."""
    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        return _value_and_grad(fun, argnums, has_aux, args, kwargs)
    return wrapped


def grad(fun, argnums=0, has_aux=False):
    """Return a function computing the gradient of scalar-valued ``fun`` with respect to the
    argument(s) ``argnums``; with ``has_aux`` it returns ``(gradient, aux)``."""
    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        value, g = _value_and_grad(fun, argnums, has_aux, args, kwargs)
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
    return (value, vjp_fn, _detached(aux, nested)) if has_aux else (value, vjp_fn)


def _detached(aux, nested):
    """Auxiliary outputs: recorded Tensors come back detached (the numbers, out of the graph) unless
    an outer transform differentiates through them."""
    if nested:
        return aux
    return tree_map(lambda v: Tensor(v.data) if type(v) is Tensor and v.requires_grad else v, aux)


