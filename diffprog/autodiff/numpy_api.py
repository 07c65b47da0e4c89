"""NumPy's own API on Tensors (NEP 13 ``__array_ufunc__`` and NEP 18 ``__array_function__``).

``np.sum(t)``, ``np.clip(t, 0, 1)``, ``np.concatenate([t, a])`` and ``np.linalg.solve(A, t)`` run the
diffprog function of the same name, so a NumPy program records on the tape exactly as the ``dp.``
spelling would. NumPy's signatures are bound first (``np.sum(t, None, None, None, True)`` means
``keepdims=True``), then passed to the diffprog function by name.

What cannot be differentiated is refused, never silently detached: a NumPy function without a
diffprog counterpart whose result carries floating-point values, a keyword diffprog does not
implement (``out=``, ``where=``, ``initial=``...), and the implicit conversion of a Tensor that
requires grad to an ndarray (``Tensor.__array__``) raise ``TypeError`` naming the function. Results
that hold no floating-point values (``np.argmax``, ``np.shape``, ``np.isfinite``) have no derivative
to lose and are computed on the data. Nothing is refused under ``dp.no_grad()`` or for Tensors
that record nothing: there the raw NumPy result is returned.
"""
import inspect

import numpy as np

from . import mode as _mode
from .tensor import Tensor

_HANDLERS = {}          # NumPy function -> handler(*args, **kwargs) taking NumPy's signature
_UFUNCS = {}            # ufunc -> diffprog function (elementwise call)
_REDUCE = {}            # ufunc -> reduction (x, axis=..., keepdims=...)
_ACCUMULATE = {}        # ufunc -> scan (x, axis=...)
_CONSTANT_UFUNCS = set()  # piecewise constant: derivative 0 almost everywhere (floor, rint, ...)
_IGNORED = {"optimize", "subok", "casting", "order", "kind", "stable", "device"}


def np_name(func):
    """``np.linalg.solve`` for numpy.linalg's solve (how error messages name a NumPy function)."""
    module = getattr(func, "__module__", None) or "numpy"
    module = "np" + module[len("numpy"):] if module.startswith("numpy") else module
    if module.startswith("np._"):
        module = "np"
    return f"{module}.{getattr(func, '__name__', repr(func))}"


def _leaves(obj):
    if type(obj) is Tensor:
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _leaves(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _leaves(o)


def recording(t):
    """True when a Tensor's value feeds a derivative: reverse mode records it (it requires grad
    and grad mode is on) or forward mode carries a tangent for it."""
    if t.requires_grad and _mode._flags.get() & _mode.GRAD:
        return True
    tangents = _mode._tangents.get()
    return tangents is not None and id(t) in tangents


def _any_recording(*objs):
    return any(recording(t) for o in objs for t in _leaves(o))


def unwrap(obj):
    """Replace every Tensor inside lists/tuples/dicts by its data."""
    if type(obj) is Tensor:
        return obj.data
    if isinstance(obj, (list, tuple)) and any(True for _ in _leaves(obj)):
        return type(obj)(unwrap(o) for o in obj) if type(obj) in (list, tuple) else [unwrap(o) for o in obj]
    if isinstance(obj, dict):
        return {k: unwrap(v) for k, v in obj.items()}
    return obj


def _has_float(result):
    if isinstance(result, (tuple, list)):
        return any(_has_float(r) for r in result)
    if isinstance(result, (np.ndarray, np.generic)):
        return result.dtype.kind in "fc"
    return isinstance(result, (float, complex))


def refusal(what, reason="diffprog has no derivative rule for it"):
    return TypeError(f"{what} is not differentiable: {reason}; use .detach() to leave the graph "
                     f"(or compute it under dp.no_grad())")


def _raw_call(func, what, args, kwargs, reason=None):
    """Call ``func`` on the Tensors' data. Refused when a derivative would be lost: the result holds
    floating-point values and some input is being differentiated."""
    result = func(*unwrap(args), **unwrap(kwargs))
    if _has_float(result) and _any_recording(args, kwargs):
        raise refusal(what, reason or "diffprog has no derivative rule for it")
    return result


# ---- NEP 18: NumPy functions ------------------------------------------------------------------

def implements(np_func, rename=None):
    """Decorator: make ``np_func`` called on Tensors run the decorated diffprog function.

    NumPy's arguments are bound to NumPy's signature and passed on by name (``rename`` maps a NumPy
    keyword to the diffprog one); leading arguments without a default (the operands) go by
    position. A keyword the diffprog function lacks is ignored when it has NumPy's default value,
    otherwise refused when something is differentiated (or computed by NumPy on the data)."""
    def register(dp_func):
        _HANDLERS[np_func] = _adapter(np_func, dp_func, rename or {})
        return dp_func
    return register


def _adapter(np_func, dp_func, rename):
    name = np_name(np_func)
    try:
        sig = inspect.signature(np_func)
    except (TypeError, ValueError):
        sig = None
    dparams = inspect.signature(dp_func).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in dparams.values())
    required = {n for n, p in dparams.items() if p.default is p.empty and p.kind in (p.KEYWORD_ONLY,
                                                                                     p.POSITIONAL_OR_KEYWORD)}

    def handler(*args, **kwargs):
        if sig is None:
            return dp_func(*args, **kwargs)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{name}: {e}") from None
        positional, named = [], {}
        operands = True
        for pname, value in bound.arguments.items():
            p = sig.parameters[pname]
            if p.kind is p.VAR_POSITIONAL:
                positional.extend(value)
                continue
            if p.kind is p.VAR_KEYWORD:
                items = value.items()
            else:
                if operands and p.default is p.empty and p.kind is not p.KEYWORD_ONLY:
                    positional.append(value)
                    continue
                operands = False
                items = [(pname, value)]
            for key, val in items:
                key = rename.get(key, key)
                if key in dparams or takes_kwargs:
                    if val is not np._NoValue:
                        named[key] = val
                elif not _is_default(sig, key, val):
                    return _unsupported(np_func, name, key, args, kwargs)
        for pname in required - set(named):           # NumPy's default for a required dp keyword
            p = sig.parameters.get(pname)
            if p is not None and p.default is not p.empty and p.default is not np._NoValue:
                named[pname] = p.default
        return dp_func(*positional, **named)
    handler.__name__ = getattr(np_func, "__name__", "handler")
    return handler


def _is_default(sig, key, val):
    if key in _IGNORED or val is np._NoValue:
        return True
    if key == "where" and val is True:
        return True
    p = sig.parameters.get(key)
    if p is None:
        return val is None
    default = p.default
    if val is default:
        return True
    try:
        return isinstance(val, (str, int, float, bool, type(None))) and val == default
    except Exception:
        return False


def _unsupported(np_func, name, key, args, kwargs):
    if key == "out" or key == "dtype":
        reason = (f"its {key}= argument is not supported on Tensors" if key == "dtype" else
                  "out= writes into an array and Tensors are immutable")
    else:
        reason = f"diffprog does not implement its {key}= argument"
    return _raw_call(np_func, f"{name}(..., {key}=...)", args, kwargs, reason)


def array_function(self, func, types, args, kwargs):
    """``Tensor.__array_function__``."""
    handler = _HANDLERS.get(func)
    if handler is not None:
        return handler(*args, **kwargs)
    return _raw_call(func, np_name(func), args, kwargs)


# ---- NEP 13: ufuncs ---------------------------------------------------------------------------

def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``Tensor.__array_ufunc__``: calls, reductions, scans and outer products of ufuncs."""
    what = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    out = kwargs.get("out")
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        if any(type(o) is Tensor for o in outs):
            raise TypeError(f"{what}(..., out=Tensor): Tensors are immutable; use the returned value")
        return _raw_call(getattr(ufunc, method), f"{what}(..., out=...)", inputs, kwargs,
                         "out= writes into an array, where no gradient can follow")
    kwargs = {k: v for k, v in kwargs.items() if not (k in _IGNORED or (k == "where" and v is True))}
    if method == "__call__":
        dtype = kwargs.pop("dtype", None)
        fn = _UFUNCS.get(ufunc)
        if fn is None or kwargs:
            if ufunc in _CONSTANT_UFUNCS and not kwargs:
                result = ufunc(*unwrap(inputs), dtype=dtype)
                return Tensor(result) if _has_float(result) else result
            reason = None if fn is None else f"diffprog does not implement its {sorted(kwargs)[0]}= argument"
            return _raw_call(getattr(ufunc, method), what, inputs, dict(kwargs, dtype=dtype), reason)
        result = fn(*inputs)
        return result if dtype is None else result.astype(dtype)
    if method == "reduce" and ufunc in _REDUCE:
        return _reduce(ufunc, what, inputs, kwargs)
    if method == "accumulate" and ufunc in _ACCUMULATE:
        x, = inputs
        axis = kwargs.pop("axis", 0)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            return _raw_call(getattr(ufunc, method), what, inputs, dict(kwargs, axis=axis, dtype=dtype),
                             f"diffprog does not implement its {sorted(kwargs)[0]}= argument")
        x = x if dtype is None else _as_tensor(x).astype(dtype)
        return _ACCUMULATE[ufunc](x, axis=axis)
    if method == "outer" and _UFUNCS.get(ufunc) is not None and len(inputs) == 2 and not kwargs:
        a, b = inputs
        na, nb = np.ndim(unwrap(a)), np.ndim(unwrap(b))
        a = _as_tensor(a).reshape(np.shape(unwrap(a)) + (1,) * nb)
        return _UFUNCS[ufunc](a, b)
    if method == "at":
        if type(inputs[0]) is Tensor:
            raise TypeError(f"{what} writes into its first argument in place and Tensors are immutable; "
                            f"use dp.index_add (differentiable) or edit t.data outside of any graph")
        if _any_recording(inputs):
            raise refusal(what, "it writes into an array in place, where no gradient can follow")
        return _raw_call(getattr(ufunc, method), what, inputs, kwargs,
                         "it writes into an array in place and Tensors are immutable (use dp.index_add)")
    return _raw_call(getattr(ufunc, method), what, inputs, kwargs)


def _as_tensor(x):
    return x if type(x) is Tensor else Tensor(x)


def _reduce(ufunc, what, inputs, kwargs):
    x, = inputs
    axis = kwargs.pop("axis", 0)
    keepdims = kwargs.pop("keepdims", False)
    dtype = kwargs.pop("dtype", None)
    initial = kwargs.pop("initial", np._NoValue)
    where = kwargs.pop("where", True)
    if kwargs or initial is not np._NoValue or where is not True:
        key = sorted(kwargs)[0] if kwargs else ("initial" if initial is not np._NoValue else "where")
        return _raw_call(ufunc.reduce, what, inputs,
                         dict(kwargs, axis=axis, keepdims=keepdims, dtype=dtype, initial=initial, where=where),
                         f"diffprog does not implement its {key}= argument")
    x = x if dtype is None else _as_tensor(x).astype(dtype)
    return _REDUCE[ufunc](x, axis=axis, keepdims=keepdims)


def install(ufuncs, reductions, scans, constants):
    """Called once by ``functions``: the ufunc tables (they name diffprog functions)."""
    _UFUNCS.update(ufuncs)
    _REDUCE.update(reductions)
    _ACCUMULATE.update(scans)
    _CONSTANT_UFUNCS.update(constants)
    Tensor.__array_ufunc__ = array_ufunc
    Tensor.__array_function__ = array_function
