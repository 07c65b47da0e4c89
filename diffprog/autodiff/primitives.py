"""The one primitive table: for every primitive its NumPy forward, its VJP rules (one per
argument) and its JVP rules, side by side.

Rules are written in the vocabulary of ``backend`` (``B``) and Python operators, so they run on
plain arrays in an ordinary backward pass and on Tensors when a graph of the backward pass is
requested (higher-order derivatives). For elementwise primitives the JVP rule is the VJP rule
(multiplying by the same local derivative), so each such row states it once.

Conventions at kinks (also in the public docstrings): ``relu'(0) = 0``, ``abs'(0) = 0``,
``sqrt'(0) = 0`` (so ``norm`` at 0 has gradient 0, never NaN), ``maximum``/``minimum``/``max``/
``min`` split the gradient evenly between tied entries, ``clip`` passes the gradient at its bounds.

Complex values: for a real loss L of z = a + ib the gradient is dL/da + i dL/db (conjugate
Wirtinger, as PyTorch and JAX); ``_complex_vjp`` turns each holomorphic rule ``g * f'(x)`` into
``g * conj(f'(x))`` and gives a real input of a complex result the real part of its cotangent.
"""
import inspect

import numpy as np

from .tape import Primitive, _zero_tangent, apply
from . import backend as B


def _elementwise(name, forward, *rules, save, doc=None):
    prim = Primitive(name, forward, vjps=[_complex_vjp(r, i) for i, r in enumerate(rules)], jvps=rules,
                     doc=doc, batch=batch_elementwise, save=save, real_vjps=rules)
    prim.keeps_shape = len(rules) == 1 and isinstance(forward, np.ufunc)
    prim.elementwise = True
    return prim


# ---- batched tangents (forward-mode Jacobians push k columns at once) --------------------------

def _pad(v, ndim):
    """A batched tangent (k, *shape) with axes inserted after k so that it has 1 + ndim axes."""
    return v.reshape(v.shape[:1] + (1,) * (ndim + 1 - v.ndim) + v.shape[1:])


def batch_elementwise(prim, ins, ans, datas, kw, k):
    """Rows whose rules broadcast: the tangents get a leading axis, ``axis`` keywords count from
    the end. Also used by rows acting along one given axis (softmax, cumsum, flip)."""
    nd = np.ndim(ans)
    if "axis" in kw:
        if kw["axis"] is None:
            return None                                     # acts on the flattened array
        axes = B.normalize_axes(kw["axis"], nd)
        kw = dict(kw, axis=tuple(a - nd for a in axes) if isinstance(kw["axis"], tuple) else axes[0] - nd)
    padded = [None if v is None else _pad(v, nd) for v in ins]
    if prim.linear:
        return prim.forward(*[v if v is not None else _zero_tangent(d) for v, d in zip(padded, datas)], **kw)
    out = None
    for i, v in enumerate(padded):
        if v is not None:
            c = prim.jvps[i](v, ans, *datas, **kw)
            out = c if out is None else out + c
    return out


def _batch_matmul(prim, ins, ans, datas, kw, k):
    return batch_elementwise(prim, ins, ans, datas, kw, k) if min(np.ndim(d) for d in datas) >= 2 else None


def _batch_sum(prim, ins, ans, datas, kw, k):
    x_nd = np.ndim(datas[0])
    axes = tuple(range(x_nd)) if kw.get("axis") is None else B.normalize_axes(kw["axis"], x_nd)
    return np.sum(ins[0], axis=tuple(a + 1 for a in axes), keepdims=kw.get("keepdims", False))


def _batch_reshape(prim, ins, ans, datas, kw, k):
    return np.reshape(ins[0], (k,) + np.shape(ans))


def _batch_transpose(prim, ins, ans, datas, kw, k):
    nd = np.ndim(ans)
    axes = kw["axes"] if kw.get("axes") is not None else tuple(range(nd - 1, -1, -1))
    return np.transpose(ins[0], (0,) + tuple(int(a) % nd + 1 for a in axes))


def _batch_broadcast_to(prim, ins, ans, datas, kw, k):
    return np.broadcast_to(_pad(ins[0], np.ndim(ans)), (k,) + np.shape(ans))


def _batch_getitem(prim, ins, ans, datas, kw, k):
    idx = kw["idx"]
    if isinstance(idx, tuple) and not _is_basic(idx):
        return None
    return ins[0][(slice(None),) + (idx if isinstance(idx, tuple) else (idx,))]


def _batch_concatenate(prim, ins, ans, datas, kw, k):
    axis = B.normalize_axes(kw.get("axis", 0), np.ndim(ans))[0] + 1
    return np.concatenate([v if v is not None else np.zeros((k,) + np.shape(d), dtype=np.result_type(d))
                           for v, d in zip(ins, datas)], axis=axis)


_FLOAT = np.dtype(np.float64)
_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))   # Python floats keep float32 rules float32


def _complex_vjp(rule, argnum=None):
    """The VJP of a complex-differentiable rule written as ``g * f'(x)`` (conjugate Wirtinger).

    For a real loss L the gradient of a complex value z = a + ib is dL/da + i dL/db (as in PyTorch
    and JAX), so the VJP of a holomorphic map multiplies by the conjugate derivative:
    conj(rule(conj(g))). A real input of a complex result receives the real part. Real results
    take the plain rule after one dtype test. ``argnum=None``: variadic (passed as a keyword)."""
    if rule is None:
        return None

    def vjp(g, ans, *args, **kw):
        if getattr(ans, "dtype", _FLOAT).kind != "c":
            return rule(g, ans, *args, **kw)
        c = B.conj(rule(B.conj(g), ans, *args, **kw))
        return real_if_real(c, args[kw["argnum"] if argnum is None else argnum])

    def vjp1(g, ans, x):                       # fixed arities: no argument packing on the hot path
        if ans.dtype.kind != "c":
            return rule(g, ans, x)
        return vjp(g, ans, x)

    def vjp2(g, ans, x, y):
        if ans.dtype.kind != "c":
            return rule(g, ans, x, y)
        return vjp(g, ans, x, y)
    params = list(inspect.signature(rule).parameters.values())
    if argnum is not None and all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params):
        return {3: vjp1, 4: vjp2}.get(len(params), vjp)
    return vjp


def real_if_real(c, x):
    """Cotangent ``c`` of input ``x``: its real part when ``x`` is real and ``c`` complex."""
    if B.dtype_of(c).kind == "c" and B.dtype_of(x).kind != "c":
        return np.real(c) if type(c) is np.ndarray or np.isscalar(c) else apply(REAL, c)
    return c


def _linear(name, forward, *rules, variadic=False, batch=None, save=()):
    """A linear row: its rules read shapes and keywords only, so by default it saves nothing."""
    return Primitive(name, forward, vjps=rules, linear=True, variadic=variadic, batch=batch, save=save)


def _like(mask, x):
    """A 0/1 (or weight) array in the floating dtype of ``x`` (no float32 -> float64 promotion)."""
    dt = B.dtype_of(x)
    return np.asarray(mask, dtype=dt if dt.kind in "fc" else np.float64)


def sigmoid_forward(x):
    """Logistic function, accurate in both tails: exp(-log(1 + exp(-x)))."""
    return np.exp(-np.logaddexp(0, -x))


def _sigmoid_rule(gy, y):
    return gy - gy * y


# ---- elementwise, one argument -----------------------------------------------------------
IDENTITY = _linear("identity", lambda x: x, lambda g, ans, x: g, batch=batch_elementwise)
NEGATIVE = _linear("negative", np.negative, lambda g, ans, x: -g, batch=batch_elementwise)
EXP = _elementwise("exp", np.exp, lambda g, ans, x: g * ans, save="output")
LOG = _elementwise("log", np.log, lambda g, ans, x: g / x, save="inputs")
LOG1P = _elementwise("log1p", np.log1p, lambda g, ans, x: g / (1 + x), save="inputs")
EXPM1 = _elementwise("expm1", np.expm1, lambda g, ans, x: g * (ans + 1), save="output")
SQRT = _elementwise("sqrt", np.sqrt,
                    lambda g, ans, x: g * B.where(B.data(ans) > 0, 0.5 / B.where(B.data(ans) > 0, ans, 1), 0),
                    save="output")
SQUARE = _elementwise("square", np.square, lambda g, ans, x: (g + g) * x, save="inputs")   # (g + g == g * 2)
SIN = _elementwise("sin", np.sin, lambda g, ans, x: g * B.cos(x), save="inputs")
COS = _elementwise("cos", np.cos, lambda g, ans, x: -g * B.sin(x), save="inputs")
TAN = _elementwise("tan", np.tan, lambda g, ans, x: g * (1 + ans * ans), save="output")
ARCSIN = _elementwise("arcsin", np.arcsin, lambda g, ans, x: g / B.sqrt(1 - x * x), save="inputs")
ARCCOS = _elementwise("arccos", np.arccos, lambda g, ans, x: -g / B.sqrt(1 - x * x), save="inputs")
ARCTAN = _elementwise("arctan", np.arctan, lambda g, ans, x: g / (1 + x * x), save="inputs")
SINH = _elementwise("sinh", np.sinh, lambda g, ans, x: g * B.cosh(x), save="inputs")
COSH = _elementwise("cosh", np.cosh, lambda g, ans, x: g * B.sinh(x), save="inputs")
# g (1 - y^2) and g y (1 - y) written without the constant 1 (a Python number is converted on every
# call, a 0-d array would promote float32): three array operations each
TANH = _elementwise("tanh", np.tanh, lambda g, ans, x: g - g * ans * ans, save="output")
SIGMOID = _elementwise("sigmoid", sigmoid_forward, lambda g, ans, x: _sigmoid_rule(g * ans, ans), save="output")
RELU = _elementwise("relu", lambda x: np.maximum(x, 0), lambda g, ans, x: g * _like(B.data(x) > 0, x), save="inputs")
SOFTPLUS = _elementwise("softplus", lambda x: np.logaddexp(0, x), lambda g, ans, x: g * B.sigmoid(x), save="inputs")
ARCSINH = _elementwise("arcsinh", np.arcsinh, lambda g, ans, x: g / B.sqrt(x * x + 1), save="inputs")
ARCCOSH = _elementwise("arccosh", np.arccosh, lambda g, ans, x: g / B.sqrt(x * x - 1), save="inputs")
ARCTANH = _elementwise("arctanh", np.arctanh, lambda g, ans, x: g / (1 - x * x), save="inputs")
LOG2 = _elementwise("log2", np.log2, lambda g, ans, x: g / (x * _LN2), save="inputs")
LOG10 = _elementwise("log10", np.log10, lambda g, ans, x: g / (x * _LN10), save="inputs")
EXP2 = _elementwise("exp2", np.exp2, lambda g, ans, x: g * ans * _LN2, save="output")
CBRT = _elementwise("cbrt", np.cbrt, lambda g, ans, x: g / (3 * ans * ans), save="output")


def _abs_vjp(g, ans, x):
    if B.dtype_of(x).kind != "c":
        return g * B.sign(B.data(x))
    return g * (x / B.where(B.data(ans) > 0, ans, 1))              # z / |z|, 0 at z = 0


def _abs_jvp(t, ans, x):
    if np.iscomplexobj(x):
        return np.real(np.conj(x) * t) / np.where(ans > 0, ans, 1)
    return t * np.sign(x)


def _angle_vjp(g, ans, x):
    if B.dtype_of(x).kind != "c":
        return g * 0
    r2 = real_if_real(x * B.conj(x), ans)
    return g * (1j * x) / B.where(B.data(r2) > 0, r2, 1)            # i z / |z|^2, 0 at z = 0


def _angle_jvp(t, ans, x):
    if not np.iscomplexobj(x):
        return np.zeros_like(ans)
    r2 = np.real(x * np.conj(x))
    return np.imag(np.conj(x) * t) / np.where(r2 > 0, r2, 1)


ABS = Primitive("abs", np.abs, vjps=[_abs_vjp], jvps=[_abs_jvp], batch=batch_elementwise, save=("inputs", "output"))
ANGLE = Primitive("angle", np.angle, vjps=[_angle_vjp], jvps=[_angle_jvp], batch=batch_elementwise, save="inputs")
REAL = Primitive("real", np.real, vjps=[lambda g, ans, x: B.cast(g, dtype=B.dtype_of(x))], linear=True,
                 batch=batch_elementwise, save=())
IMAG = Primitive("imag", np.imag, vjps=[lambda g, ans, x: B.cast(g, dtype=B.dtype_of(x)) * (
    1j if B.dtype_of(x).kind == "c" else 0)], linear=True, batch=batch_elementwise, save=())
SIGN = _elementwise("sign", np.sign, lambda g, ans, x: g * 0, save=())
RECIPROCAL = _elementwise("reciprocal", lambda x: np.reciprocal(x), lambda g, ans, x: -g * ans * ans, save="output")
CONJ = _linear("conj", np.conj, lambda g, ans, x: B.conj(g), batch=batch_elementwise)


def _clip_rule(g, ans, x, a_min=None, a_max=None):
    x = B.data(x)
    inside = np.ones(np.shape(x), dtype=bool)
    if a_min is not None:
        inside &= x >= a_min
    if a_max is not None:
        inside &= x <= a_max
    return g * _like(inside, x)


CLIP = _elementwise("clip", lambda x, a_min=None, a_max=None: np.clip(x, a_min, a_max), _clip_rule, save="inputs")


def _cast_forward(x, dtype):
    return np.asarray(x).astype(dtype, copy=False)


CAST = Primitive("astype", _cast_forward,
                 vjps=[lambda g, ans, x, dtype: B.cast(real_if_real(g, x), dtype=B.dtype_of(x))], linear=True,
                 batch=batch_elementwise, save=())


# ---- elementwise, two arguments (broadcasting is undone by the engine) --------------------
ADD = _elementwise("add", np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g, save=())
SUBTRACT = _elementwise("subtract", np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g, save=())
MULTIPLY = _elementwise("multiply", np.multiply, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x, save="inputs")
def _divide_dx(g, ans, x, y):
    """g / y. A float64 scalar g (a mean's cotangent) over a Python number with 1 <= |y| <= 2**53
    is divided as Python floats: the same IEEE division (it cannot overflow), without NumPy
    converting y (about 5k instructions)."""
    if ((type(y) is int or type(y) is float) and (type(g) is np.ndarray or type(g) is np.float64)
            and g.dtype is _FLOAT and g.shape == () and 1 <= abs(y) <= _EXACT):
        return np.float64(float(g) / y)
    return g / y


_EXACT = 2 ** 53           # Python ints up to this convert to float64 exactly (as NumPy converts them)
DIVIDE = _elementwise("divide", np.true_divide, _divide_dx,
                      lambda g, ans, x, y: -g * ans / y, save=(1, "output"))


def _power_dx(g, ans, x, y):
    yd = B.data(y)
    safe = np.all(yd != 0) if np.ndim(yd) else yd != 0
    if not safe:                                    # d/dx x**0 = 0, also at x = 0
        d = B.where(yd != 0, y * B.power(x, B.where(yd != 0, y - 1, 0)), 0)
        return g * (d if B.data(d) is not d else _like(d, ans))   # keep float32 as float32
    return g * y * B.power(x, y - 1)


def _power_dy(g, ans, x, y):
    xd = B.data(x)
    log_x = B.log(B.where(xd > 0, x, 1))             # 0 where x <= 0 (x**y there is 0 or undefined)
    return g * ans * (log_x if B.data(log_x) is not log_x else _like(log_x, ans))


POWER = _elementwise("power", np.power, _power_dx, _power_dy, save=("inputs", "output"))


def _tie_weights(x, y, sign=1):
    """Gradient shares of x and y in max(x, y) (min(x, y) with sign=-1); ties split evenly."""
    xd, yd = sign * B.data(x), sign * B.data(y)
    return _like((xd > yd) + 0.5 * (xd == yd), x), _like((yd > xd) + 0.5 * (xd == yd), y)


MAXIMUM = _elementwise("maximum", np.maximum, lambda g, ans, x, y: g * _tie_weights(x, y)[0],
                       lambda g, ans, x, y: g * _tie_weights(x, y)[1], save="inputs")
MINIMUM = _elementwise("minimum", np.minimum, lambda g, ans, x, y: g * _tie_weights(x, y, -1)[0],
                       lambda g, ans, x, y: g * _tie_weights(x, y, -1)[1], save="inputs")


def _atan2_dy(g, ans, y, x):
    return g * x / B.where(B.data(x * x + y * y) > 0, x * x + y * y, 1)


def _atan2_dx(g, ans, y, x):
    return -g * y / B.where(B.data(x * x + y * y) > 0, x * x + y * y, 1)


ARCTAN2 = _elementwise("arctan2", np.arctan2, _atan2_dy, _atan2_dx, save="inputs")
HYPOT = _elementwise("hypot", np.hypot,
                     lambda g, ans, x, y: g * x / B.where(B.data(ans) > 0, ans, 1),
                     lambda g, ans, x, y: g * y / B.where(B.data(ans) > 0, ans, 1), save=("inputs", "output"))
LOGADDEXP = _elementwise("logaddexp", np.logaddexp, lambda g, ans, x, y: g * B.exp(x - ans),
                         lambda g, ans, x, y: g * B.exp(y - ans), save=("inputs", "output"))
WHERE = _elementwise("where", np.where, None,
                     lambda g, ans, c, x, y: B.where(c, g, 0 * g),
                     lambda g, ans, c, x, y: B.where(c, 0 * g, g), save=(0,))


# ---- matrix product ---------------------------------------------------------------------------

# Two 2-D arrays: ``ndarray.dot`` makes the same BLAS call as ``np.matmul`` (bit-identical products)
# for about 60% of its overhead on small arrays (no ufunc machinery). A module-level name, so that
# ``benchmarks/engine.py``'s product counter can intercept it.
_dot = np.ndarray.dot


def _fit(c, x):
    """``c`` summed over the leading axes it broadcast ``x`` over (batched products): the rules of a
    row whose cotangents always have their arguments' shapes (``keeps_shape``) do it themselves."""
    shape = B.shape(x)
    return c if B.shape(c) == shape else B.sum_to(c, shape)


def _matmul_da(g, ans, a, b):
    if type(g) is np.ndarray and type(b) is np.ndarray and b.ndim >= 2 and type(a) is np.ndarray and a.ndim >= 2:
        if b.ndim == 2 and a.ndim == 2:                      # the common case, no dispatch: ndarray.dot
            return _dot(g, b.T)                               # (the same BLAS call as np.matmul, less overhead)
        return _fit(np.matmul(g, b.swapaxes(-1, -2)), a)
    if B.ndim(b) == 1:
        if B.ndim(a) == 1:
            return g * b
        return B.expand_dims(g, -1) * b                      # (..., m, 1) * (k,)
    if B.ndim(a) == 1:
        return _fit(B.squeeze_last(B.matmul(b, B.expand_dims(g, -1))), a)
    return _fit(B.matmul(g, B.swap_last(b)), a)


def _matmul_db(g, ans, a, b):
    if type(g) is np.ndarray and type(a) is np.ndarray and a.ndim >= 2 and type(b) is np.ndarray and b.ndim >= 2:
        if a.ndim == 2 and b.ndim == 2:
            return _dot(a.T, g)
        return _fit(np.matmul(a.swapaxes(-1, -2), g), b)
    if B.ndim(a) == 1:
        if B.ndim(b) == 1:
            return g * a
        return _fit(B.expand_dims(a, -1) * B.expand_dims(g, -2), b)   # (k, 1) * (..., 1, n)
    if B.ndim(b) == 1:
        return _fit(B.squeeze_last(B.matmul(B.swap_last(a), B.expand_dims(g, -1))), b)
    return _fit(B.matmul(B.swap_last(a), g), b)


MATMUL = Primitive("matmul", np.matmul, vjps=[_complex_vjp(_matmul_da, 0), _complex_vjp(_matmul_db, 1)],
                   real_vjps=[_matmul_da, _matmul_db],
                   jvps=[lambda t, ans, a, b: B.matmul(t, b), lambda t, ans, a, b: B.matmul(a, t)],
                   batch=_batch_matmul, save="inputs")
MATMUL.keeps_shape = True                  # (2-D products: dot's shapes; batched ones are summed back by _fit)


# ---- reductions -------------------------------------------------------------------------------

def _sum_rule(g, ans, x, axis=None, keepdims=False):
    return B.unreduce(g, B.shape(x), axis, keepdims)


SUM = _linear("sum", lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims), _sum_rule,
              batch=_batch_sum)


def _mean_forward(x, axis=None, keepdims=False, count=1):
    return np.sum(x, axis=axis, keepdims=keepdims) / count


def _mean_rule(g, ans, x, axis=None, keepdims=False, count=1):
    if (axis is None and type(g) is np.ndarray and g.dtype is _FLOAT and g.shape == () and type(count) is int
            and 1 <= count <= _EXACT):                   # a scalar loss: one IEEE division, filled in
        out = np.empty(B.shape(x))
        out.fill(float(g) / count)                      # (NumPy's g / count without converting count)
        return out
    return B.unreduce(g / count, B.shape(x), axis, keepdims)


def _batch_mean(prim, ins, ans, datas, kw, k):
    return _batch_sum(prim, ins, ans, datas, kw, k) / kw.get("count", 1)


# the sum divided by ``count`` (the number of entries summed) as one row: the same arithmetic as
# SUM then a division by the count, one recorded node instead of two
MEAN = _linear("mean", _mean_forward, _mean_rule, batch=_batch_mean)


def _extremum_weights(ans, x, axis, keepdims):
    xd = B.data(x)
    a = np.reshape(B.data(ans), B.reduced_shape(np.shape(xd), axis))
    mask = xd == a
    return _like(mask / np.sum(mask, axis=axis, keepdims=True), x)


def _extremum_vjp(g, ans, x, axis=None, keepdims=False):
    return B.unreduce(g, B.shape(x), axis, keepdims) * _extremum_weights(ans, x, axis, keepdims)


def _extremum_jvp(t, ans, x, axis=None, keepdims=False):
    return np.sum(t * _extremum_weights(ans, x, axis, keepdims), axis=axis, keepdims=keepdims)


MAX = Primitive("max", lambda x, axis=None, keepdims=False: np.max(x, axis=axis, keepdims=keepdims),
                vjps=[_extremum_vjp], jvps=[_extremum_jvp], save=("inputs", "output"))
MIN = Primitive("min", lambda x, axis=None, keepdims=False: np.min(x, axis=axis, keepdims=keepdims),
                vjps=[_extremum_vjp], jvps=[_extremum_jvp], save=("inputs", "output"))


def _prod_others(x, ans, axis):
    """d prod / d x_i: the product of all other entries (exact also when entries are zero)."""
    xd = B.data(x)
    if np.all(xd != 0):
        return np.reshape(B.data(ans), B.reduced_shape(np.shape(xd), axis)) / xd if B.ndim(x) else np.ones_like(xd)
    axes = tuple(range(np.ndim(xd))) if axis is None else B.normalize_axes(axis, np.ndim(xd))
    rest = [i for i in range(np.ndim(xd)) if i not in axes]
    moved = np.transpose(xd, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    ones = np.ones_like(flat[..., :1])
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.flip(np.cumprod(np.concatenate([ones, np.flip(flat, -1)[..., :-1]], axis=-1), axis=-1), -1)
    others = (left * right).reshape(moved.shape)
    return np.transpose(others, np.argsort(rest + list(axes)))


def _prod_vjp(g, ans, x, axis=None, keepdims=False):
    xd = B.data(x)
    if np.all(xd != 0) and B.ndim(x):                         # differentiable form: prod / x
        return B.unreduce(g, B.shape(x), axis, keepdims) * B.reshape(
            ans, shape=B.reduced_shape(B.shape(x), axis)) / x
    return B.unreduce(g, B.shape(x), axis, keepdims) * _prod_others(x, ans, axis)


PROD = Primitive("prod", lambda x, axis=None, keepdims=False: np.prod(x, axis=axis, keepdims=keepdims),
                 vjps=[_prod_vjp],
                 jvps=[lambda t, ans, x, axis=None, keepdims=False:
                       np.sum(t * _prod_others(x, ans, axis), axis=axis, keepdims=keepdims)], save=("inputs", "output"))


def _logsumexp_forward(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.reshape(out, np.shape(np.sum(x, axis=axis)))


def _lse_vjp(g, ans, x, axis=None, keepdims=False):
    return B.unreduce(g, B.shape(x), axis, keepdims) * B.exp(
        x - B.reshape(ans, shape=B.reduced_shape(B.shape(x), axis)))


def _lse_jvp(t, ans, x, axis=None, keepdims=False):
    weights = np.exp(x - np.reshape(ans, B.reduced_shape(np.shape(x), axis)))
    return np.sum(t * weights, axis=axis, keepdims=keepdims)


LOGSUMEXP = Primitive("logsumexp", _logsumexp_forward, vjps=[_lse_vjp], jvps=[_lse_jvp], save=("inputs", "output"))


def _softmax_forward(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_forward(x, axis=-1):
    return x - _logsumexp_forward(x, axis=axis, keepdims=True)


SOFTMAX = _elementwise("softmax", _softmax_forward,
                       lambda g, ans, x, axis=-1: ans * (g - B.sum(g * ans, axis=axis, keepdims=True)),
                       save="output")
LOG_SOFTMAX = _elementwise("log_softmax", _log_softmax_forward,
                           lambda g, ans, x, axis=-1: g - B.exp(ans) * B.sum(g, axis=axis, keepdims=True),
                           save="output")
# (log_softmax's JVP is t - sum(exp(ans) * t); written as a VJP it is transposed, so state it apart)
LOG_SOFTMAX.jvps = (lambda t, ans, x, axis=-1: t - np.sum(np.exp(ans) * t, axis=axis, keepdims=True),)


def _cumsum_rule(g, ans, x, axis=None):
    if axis is None:
        return B.reshape(B.flip(B.cumsum(B.flip(g, axis=0), axis=0), axis=0), shape=B.shape(x))
    return B.flip(B.cumsum(B.flip(g, axis=axis), axis=axis), axis=axis)


CUMSUM = _linear("cumsum", lambda x, axis=None: np.cumsum(x, axis=axis), _cumsum_rule, batch=batch_elementwise)


def _cumprod_others(x, axis):
    """For each i along ``axis``: the cumulative product with x_i replaced by 1 (shape (n,) + x's
    shape); d ans_j / d x_i is its entry j for j >= i (exact also where entries are zero)."""
    n = np.shape(x)[axis]
    out = np.empty((n,) + np.shape(x), dtype=np.result_type(x))
    for i in range(n):                        # only taken when some entry is exactly zero
        y = np.array(x, copy=True)
        y[(slice(None),) * axis + (i,)] = 1
        out[i] = np.cumprod(y, axis=axis)
    return out


def _cumprod_vjp(g, ans, x, axis):
    xd = B.data(x)
    if np.all(xd != 0):                       # differentiable form: reverse cumsum of g * ans, / x
        return B.flip(B.cumsum(B.flip(g * ans, axis=axis), axis=axis), axis=axis) / x
    others = _cumprod_others(xd, axis)
    n = np.shape(xd)[axis]
    later = np.arange(n)[:, None] <= np.arange(n)[None, :]            # j >= i
    later = later.reshape((n,) + (1,) * axis + (n,) + (1,) * (np.ndim(xd) - axis - 1))
    total = np.sum(B.data(g)[None] * others * later, axis=axis + 1)    # sum over j
    return np.moveaxis(total, 0, axis)


def _cumprod_jvp(t, ans, x, axis):
    if np.all(x != 0):
        return ans * np.cumsum(t / x, axis=axis)
    others = _cumprod_others(x, axis)
    n = np.shape(x)[axis]
    later = (np.arange(n)[:, None] <= np.arange(n)[None, :]).reshape(
        (n,) + (1,) * axis + (n,) + (1,) * (np.ndim(x) - axis - 1))
    ti = np.expand_dims(np.moveaxis(t, axis, 0), axis + 1)            # t_i, broadcast over j
    return np.sum(ti * others * later, axis=0)


CUMPROD = Primitive("cumprod", lambda x, axis: np.cumprod(x, axis=axis), vjps=[_cumprod_vjp],
                    jvps=[_cumprod_jvp], save=("inputs", "output"))


# ---- shape and indexing (all linear) ------------------------------------------------------------

def sum_to_forward(x, shape):
    """Sum ``x`` over the axes that broadcasting added or stretched, giving ``shape``."""
    x = np.asarray(x)
    shape = tuple(shape)
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    if not axes:
        return x
    return x.sum(axis=axes, keepdims=True).reshape(shape)


def _reshape_vjp(g, ans, x, shape):
    if type(g) is np.ndarray:                       # the common case, no dispatch
        return g.reshape(B.shape(x))
    return B.reshape(g, shape=B.shape(x))


RESHAPE = _linear("reshape", lambda x, shape: np.reshape(x, shape), _reshape_vjp, batch=_batch_reshape)
TRANSPOSE = _linear("transpose", lambda x, axes=None: np.transpose(x, axes),
                    lambda g, ans, x, axes=None: B.transpose(
                        g, axes=None if axes is None else tuple(np.argsort(axes))), batch=_batch_transpose)
BROADCAST_TO = _linear("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                       lambda g, ans, x, shape: g,        # the engine sums g back to x's shape
                       batch=_batch_broadcast_to)
SUM_TO = _linear("sum_to", sum_to_forward, lambda g, ans, x, shape: B.broadcast_to(g, shape=B.shape(x)))
FLIP = _linear("flip", lambda x, axis=None: np.flip(x, axis), lambda g, ans, x, axis=None: B.flip(g, axis=axis),
               batch=batch_elementwise)


def _is_basic(idx):
    if type(idx) is slice or type(idx) is int:
        return True
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


def _add_rows_at(out, index, values):
    """``np.add.at(out, index, values)`` for an integer array ``index`` into the first axis. Into zeros
    of float64 this goes through ``np.bincount`` per column: the same sums in the same order
    (bit-identical), several times faster than ``add.at``; anything else (float32, complex,
    broadcasting, a non-zero ``out``) through ``add.at``."""
    index = np.asarray(index)
    if (out.dtype == np.float64 and not out.any() and index.dtype.kind in "iu" and index.size
            and np.shape(values) == index.shape + out.shape[1:] and np.result_type(values) == np.float64):
        flat = index.reshape(-1)
        if flat.min() >= -out.shape[0] and flat.max() < out.shape[0]:
            flat = np.where(flat < 0, flat + out.shape[0], flat)
            columns = np.asarray(values).reshape(flat.size, -1)
            target = out.reshape(out.shape[0], -1)
            for c in range(columns.shape[1]):
                target[:, c] = np.bincount(flat, weights=columns[:, c], minlength=out.shape[0])
            return
    np.add.at(out, index, values)


def scatter_add_forward(g, idx, shape):
    """Zeros of ``shape`` with ``g`` added at ``[idx]`` (repeated indices accumulate)."""
    out = np.zeros(shape, dtype=g.dtype if type(g) is np.ndarray else np.result_type(g))
    if _is_basic(idx):
        out[idx] = g
    elif isinstance(idx, np.ndarray) and idx.dtype.kind in "iu":
        _add_rows_at(out, idx, g)
    else:
        np.add.at(out, idx, g)
    return out


def _getitem_vjp(g, ans, x, idx):
    if type(g) is np.ndarray:                       # the common case, no dispatch
        return scatter_add_forward(g, idx, B.shape(x))
    return B.scatter_add(g, idx=idx, shape=B.shape(x))


def _getitem_forward(x, idx):
    """``x[idx]``; rows gathered by a long integer vector through ``np.take`` (the same values, 2-4x
    faster than NumPy's fancy indexing for arrays of two or more axes)."""
    if (type(idx) is np.ndarray and idx.ndim == 1 and idx.size >= 64 and idx.dtype.kind in "iu"
            and type(x) is np.ndarray and x.ndim >= 2):
        return np.take(x, idx, axis=0)
    return x[idx]


def _getitem_add_into(buf, g, idx):
    """Add ``g`` into ``buf[idx]`` in place when ``idx`` is basic (a view: no entry twice), for
    backward's sum of several slices of one array."""
    if type(idx) is not slice:
        items = idx if type(idx) is tuple else (idx,)
        for i in items:
            if not (type(i) is slice or i is None or i is Ellipsis
                    or (isinstance(i, (int, np.integer)) and type(i) is not bool)):
                return False
    v = buf[idx]
    if type(v) is np.ndarray:                       # a view into buf
        v += g
    else:                                           # one entry (every axis indexed by an integer)
        buf[idx] = v + g
    return True


GETITEM = _linear("getitem", _getitem_forward, _getitem_vjp, batch=_batch_getitem)
GETITEM.add_into = _getitem_add_into


# A reshaped slice, ``x[idx].reshape(shape)`` with ``view`` the slice's shape: one node where a
# flat parameter vector is cut into matrices (``theta[a:b].reshape(m, n)``), recorded by
# ``reshape`` of a getitem's result.
def _getitem_reshape_vjp(g, ans, x, idx, view, shape):
    return _getitem_vjp(g.reshape(view) if type(g) is np.ndarray else B.reshape(g, shape=view), ans, x, idx)


def _batch_getitem_reshape(prim, ins, ans, datas, kw, k):
    sliced = _batch_getitem(prim, ins, ans, datas, kw, k)
    return None if sliced is None else np.reshape(sliced, (k,) + np.shape(ans))


GETITEM_RESHAPE = _linear("getitem_reshape", lambda x, idx, view, shape: np.reshape(_getitem_forward(x, idx), shape),
                          _getitem_reshape_vjp, batch=_batch_getitem_reshape)
GETITEM_RESHAPE.add_into = lambda buf, g, idx, view, shape: _getitem_add_into(buf, g.reshape(view), idx)
# (rules that build the cotangent at the argument's own shape: backward skips the shape test)
RESHAPE.keeps_shape = TRANSPOSE.keeps_shape = GETITEM.keeps_shape = GETITEM_RESHAPE.keeps_shape = True
SUM.keeps_shape = MEAN.keeps_shape = True
SCATTER_ADD = _linear("scatter_add", scatter_add_forward, lambda g, ans, x, idx, shape: B.getitem(g, idx=idx))


def _index_add_forward(x, source, axis, index):
    out = np.array(x, dtype=np.result_type(x, source), copy=True)
    if axis == 0:
        _add_rows_at(out, index, source)
    else:
        np.add.at(out, (slice(None),) * axis + (index,), source)
    return out


INDEX_ADD = _linear("index_add", _index_add_forward,
                    lambda g, ans, x, source, axis, index: g,
                    lambda g, ans, x, source, axis, index: B.getitem(g, idx=(slice(None),) * axis + (index,)))


def _concat_rule(g, ans, *xs, axis=0, argnum=0):
    axis = axis % max(B.ndim(g), 1)
    start = sum(B.shape(x)[axis] for x in xs[:argnum])
    stop = start + B.shape(xs[argnum])[axis]
    return B.getitem(g, idx=(slice(None),) * axis + (slice(start, stop),))


CONCATENATE = _linear("concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis), _concat_rule,
                      variadic=True, batch=_batch_concatenate)


def _pad_forward(x, pad_width):
    return np.pad(x, pad_width)


def _pad_rule(g, ans, x, pad_width):
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int).reshape(-1, 2) if np.ndim(pad_width) else
                             np.full((1, 2), int(pad_width)), (B.ndim(x), 2))
    idx = tuple(slice(int(lo), int(lo) + n) for (lo, hi), n in zip(widths, B.shape(x)))
    return B.getitem(g, idx=idx)


PAD = _linear("pad", _pad_forward, _pad_rule)


# ---- einsum: multilinear, the gradient of each operand is another einsum ------------------------
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_einsum(subscripts, shapes):
    """Explicit input and output subscripts (ellipses expanded to fresh letters)."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs, out = subscripts, None
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(ins)} operands, got {len(shapes)}")
    used = set(c for c in subscripts if c.isalpha())
    free = [c for c in _LETTERS if c not in used]
    n_ell = max((len(s) - (len(sub) - 3) for sub, s in zip(ins, shapes) if "..." in sub), default=0)
    ell = "".join(free[:n_ell])
    expanded = []
    for sub, s in zip(ins, shapes):
        if "..." in sub:
            k = len(s) - (len(sub) - 3)
            sub = sub.replace("...", ell[n_ell - k:] if k else "")
        expanded.append(sub)
    if out is None:
        counts = {}
        for sub in expanded:
            for c in sub:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return expanded, out


def einsum_forward(*operands, subscripts):
    return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


def _einsum_rule(g, ans, *ops, subscripts, argnum):
    ins, out = parse_einsum(subscripts, [B.shape(o) for o in ops])
    target = ins[argnum]
    others = [s for j, s in enumerate(ins) if j != argnum]
    other_ops = [o for j, o in enumerate(ops) if j != argnum]
    unique = "".join(dict.fromkeys(target))
    avail = set(out).union(*others) if others else set(out)
    keep = "".join(c for c in unique if c in avail)
    sizes = dict(zip(target, B.shape(ops[argnum])))
    r = B.einsum(",".join([out] + others) + "->" + keep, g, *other_ops)
    if keep != unique:                                   # letters summed only in this operand
        r = B.broadcast_to(B.reshape(r, shape=tuple(sizes[c] if c in keep else 1 for c in unique)),
                           shape=tuple(sizes[c] for c in unique))
    if unique != target:                                 # repeated letters: put r on the diagonal
        fresh = [c for c in _LETTERS if c not in target + out + "".join(others)]
        renamed, deltas, seen = "", [], set()
        for c in target:
            if c in seen:
                d = fresh.pop(0)
                renamed += d
                deltas.append(c + d)
            else:
                renamed += c
                seen.add(c)
        eyes = [np.eye(sizes[d[0]], dtype=B.dtype_of(g)) for d in deltas]
        r = B.einsum(",".join([unique] + deltas) + "->" + renamed, r, *eyes)
    return r


EINSUM = Primitive("einsum", einsum_forward, vjps=[_complex_vjp(_einsum_rule)], variadic=True,
                   jvps=[lambda t, ans, *ops, subscripts, argnum: einsum_forward(
                       *(t if j == argnum else o for j, o in enumerate(ops)), subscripts=subscripts)], save="inputs")
