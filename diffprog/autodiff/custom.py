"""User-defined derivatives: ``custom_vjp``, ``custom_jvp`` and the ``Function`` class style.

A fused NumPy kernel (the soft rasterizer, an ODE adjoint, an unrolled solver) computes its value
on plain arrays and supplies its own backward; to the rest of the graph it is one primitive.
Several outputs are packed into one flat node and unpacked by ordinary getitem/reshape nodes, so
the engine needs no special case for them.
"""
import contextvars
import functools

import numpy as np

from . import mode as _mode
from .node import keep
from .tape import Primitive, Unbatchable, _wrap, carry_tangent, recorded
from .tensor import Tensor


# True while ``linearize``/``jacobian(mode='fwd')`` record a graph to push tangents through later;
# a custom_jvp function met then refuses to be recorded (its body is not its derivative), and
# the caller falls back to tracing tangents with ``jvp``, which uses the custom rule.
_linearizing = contextvars.ContextVar("diffprog_linearizing", default=False)


def _raw(x):
    return x.data if type(x) is Tensor else x


def _check_cotangents(name, grads, args):
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(args):
        raise ValueError(f"custom backward of {name!r} returned {len(grads)} gradient(s), expected "
                         f"{len(args)} (one per positional input; use None for non-differentiable ones)")
    out = []
    for i, (g, a) in enumerate(zip(grads, args)):
        if g is None:
            out.append(None)
            continue
        g = _raw(g)
        want = np.shape(_raw(a))
        if np.shape(g) != want:
            raise ValueError(f"custom backward of {name!r}: gradient for argument {i} has shape "
                             f"{np.shape(g)}, expected {want} (the input's shape)")
        out.append(g)
    return out


def _refuse_forward_mode(kind, name, args):
    table = _mode._tangents.get()
    if table is not None and any(type(a) is Tensor and id(a) in table for a in args):
        raise NotImplementedError(f"forward mode (jvp, jacobian(mode='fwd')) through the {kind} function "
                                  f"{name!r}: it only has a reverse-mode rule; give it a forward rule with "
                                  f"dp.custom_jvp, or use reverse mode")


def _pack(outputs):
    """Flatten several output arrays into one 1-D array; return (flat, unpack_to_tensors)."""
    shapes = [np.shape(o) for o in outputs]
    sizes = [int(np.prod(s)) for s in shapes]
    flat = np.concatenate([np.ravel(o) for o in outputs]) if outputs else np.zeros(0)
    bounds = np.cumsum([0] + sizes)

    def unpack(node):
        return tuple(node[int(a):int(b)].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], shapes))

    def split_cotangent(g):
        g = _raw(g)
        return tuple(np.reshape(g[int(a):int(b)], s) for a, b, s in zip(bounds[:-1], bounds[1:], shapes))
    return flat, unpack, split_cotangent


def record_custom(name, args, outputs, backward, residuals=()):
    """Record a node whose backward is ``backward(cotangents) -> per-argument gradients``.

    ``outputs`` is one array or a tuple of arrays; returns Tensors of the same structure.
    ``residuals`` (what ``backward`` keeps alive) are stored on the node so that
    ``dp.tape_stats`` can count them; the node keeps nothing else (not the inputs' values).
    """
    multi = isinstance(outputs, tuple)
    outs = outputs if multi else (outputs,)
    need = _mode._flags.get() & _mode.GRAD and any(type(a) is Tensor and a.requires_grad for a in args)
    if not need:
        res = tuple(_wrap(np.asarray(o)) for o in outs)
        return res if multi else res[0]
    if multi:
        flat, unpack, split = _pack([np.asarray(o) for o in outs])
    else:
        flat, unpack, split = np.asarray(outs[0]), None, None
    light = [keep(a.data, False, None) if type(a) is Tensor else a for a in args]   # not the inputs' values

    def vjp_all(g, ans, prim_args, needs, kw):
        if type(g) is Tensor:
            raise NotImplementedError(
                f"double backward through the custom function {name!r}: its backward rule works on NumPy "
                f"arrays, so its result cannot be differentiated again (create_graph=True, grad of grad, "
                f"hessian, gradcheck order=2). Write it with dp operations to get higher derivatives.")
        cts = split(g) if multi else _raw(g)
        with _mode.no_grad():
            grads = backward(cts)
        grads = _check_cotangents(name, grads, light)
        return [gr if nd else None for gr, nd in zip(grads, needs)]

    prim = Primitive(name, None, vjp_all=vjp_all, save=())
    node = recorded(flat, prim, tuple(args), {"residuals": residuals}, _mode._flags.get())
    return unpack(node) if multi else node


class custom_vjp:
    """Decorator: a function with a hand-written reverse-mode rule (JAX's convention).

    ::

        @dp.custom_vjp
        def f(x, y):                      # receives NumPy arrays, returns array(s)
            return np.sin(x) * y

        def f_fwd(x, y):                  # value and residuals for the backward
            return np.sin(x) * y, (x, y)

        def f_bwd(res, g):                # one gradient per input (None: not differentiable)
            x, y = res
            return g * np.cos(x) * y, g * np.sin(x)

        f.defvjp(f_fwd, f_bwd)

    Called on Tensors it records one node; the backward rule is first order (its own result is
    not differentiated again).
    """

    def __init__(self, fun):
        self.fun = fun
        self.fwd = self.bwd = None
        functools.update_wrapper(self, fun)

    def defvjp(self, fwd, bwd):
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args):
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.fun.__name__!r} has no rule: call .defvjp(fwd, bwd)")
        raw = [_raw(a) for a in args]
        _refuse_forward_mode("custom_vjp", self.fun.__name__, args)
        if not (_mode._flags.get() & _mode.GRAD and any(type(a) is Tensor and a.requires_grad for a in args)):
            out = self.fun(*raw)
            return tuple(_wrap(np.asarray(o)) for o in out) if isinstance(out, tuple) else _wrap(np.asarray(out))
        out, res = self.fwd(*raw)
        return record_custom(self.fun.__name__, args, out, lambda g: self.bwd(res, g), residuals=res)


class custom_jvp:
    """Decorator: a function with a hand-written forward-mode rule.

    ``f.defjvp(rule)`` with ``rule(primals, tangents) -> (out, tangent_out)`` on NumPy arrays. In
    forward mode the rule is used; in reverse mode ``f``'s own body (written with dp operations)
    is differentiated as usual.
    """

    def __init__(self, fun):
        self.fun = fun
        self.rule = None
        functools.update_wrapper(self, fun)

    def defjvp(self, rule):
        self.rule = rule
        return rule

    def __call__(self, *args):
        if _linearizing.get() and self.rule is not None:
            raise Unbatchable(self.fun.__name__)
        table = _mode._tangents.get()
        if table is None or self.rule is None or not any(type(a) is Tensor and id(a) in table for a in args):
            return self.fun(*args)
        raw = tuple(_raw(a) for a in args)
        tans = tuple(table.get(id(a)) if type(a) is Tensor else None for a in args)
        tans = tuple(np.zeros_like(np.asarray(r, dtype=float)) if t is None else t for t, r in zip(tans, raw))
        token = _mode._tangents.set(None)
        try:
            out = self.fun(*args)                # reverse mode still sees f's body
        finally:
            _mode._tangents.reset(token)
        value, tout = self.rule(raw, tans)
        if type(out) is not Tensor:          # an array result: give it a Tensor to carry the tangent
            out = _wrap(np.asarray(out))
        tout = np.asarray(_raw(tout))
        if tout.shape != np.shape(_raw(out)):
            raise ValueError(f"custom JVP rule of {self.fun.__name__!r} returned a tangent of shape {tout.shape}, "
                             f"expected {np.shape(_raw(out))} (the shape of the function's output)")
        carry_tangent(table, out, tout)
        return out


class FunctionContext:
    """The ``ctx`` of a :class:`Function`: ``save_for_backward`` arrays, set any attribute."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


class Function:
    """PyTorch-style custom operation: subclass with static ``forward(ctx, *arrays)`` and
    ``backward(ctx, *grads)``, call with ``MyOp.apply(*inputs)``. Arrays, not Tensors, are passed
    in and out."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("subclasses of dp.Function define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("subclasses of dp.Function define backward(ctx, *grads)")

    @classmethod
    def apply(cls, *args):
        _refuse_forward_mode("dp.Function", cls.__name__, args)
        ctx = FunctionContext(tuple(type(a) is Tensor and a.requires_grad for a in args))
        out = cls.forward(ctx, *[_raw(a) for a in args])

        def backward(cts):
            res = cls.backward(ctx, *(cts if isinstance(out, tuple) else (cts,)))
            return res if isinstance(res, tuple) else (res,)
        return record_custom(cls.__name__, args, out, backward,
                             residuals=(ctx.saved_tensors, tuple(vars(ctx).values())))
