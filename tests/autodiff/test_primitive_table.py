"""Every function of the ``dp.`` namespace, driven by one table (in the style of JAX's autodiff tests).

Each row is (name, function, NumPy reference, shapes, input generator, keyword arguments). The
generator is chosen per op: positive inputs for log/sqrt, |x| < 1 for arcsin, inputs away from the
kink for abs/relu, exact ties for maximum/max, zeros for prod. For every row and shape we check

* the value against NumPy/SciPy in float64,
* reverse mode (and forward mode where the row allows) against central differences (dp.gradcheck),
* that a float32 graph gives float32 values and float32 gradients close to the float64 ones.
"""
from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.special as sp

import diffprog as dp
from diffprog import Tensor


# ---- input generators: gen(rng, *shapes) -> tuple of float64 arrays ---------------------------

def normal(rng, *shapes):
    return tuple(rng.standard_normal(s) for s in shapes)


def positive(rng, *shapes):
    return tuple(rng.uniform(0.5, 2.0, s) for s in shapes)


def unit(rng, *shapes):
    return tuple(rng.uniform(-0.9, 0.9, s) for s in shapes)


def nonzero(rng, *shapes):
    """Entries at least 0.3 away from 0 (the kink of abs, relu, sign; the pole of 1/x)."""
    return tuple(rng.choice([-1.0, 1.0], s) * rng.uniform(0.3, 2.0, s) for s in shapes)


def base_exponent(rng, xs, ys):
    return rng.uniform(0.5, 2.0, xs), rng.standard_normal(ys)


def tied(rng, xs, ys):
    """Two normal arrays that are exactly equal at the first entry of their broadcast."""
    x, y = np.array(rng.standard_normal(xs)), np.array(rng.standard_normal(ys))
    y[(0,) * y.ndim] = x[(0,) * x.ndim]
    return x, y


def distinct(rng, shape):
    """Values at least 0.1 apart (a permutation), so extrema are unique."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.1 + 0.05).reshape(shape),


def tied_max(rng, shape):
    """Distinct values, except that the maximum occurs exactly twice."""
    (x,) = distinct(rng, shape)
    if x.size > 1:
        flat = x.reshape(-1)
        flat[(np.argmax(flat) + 1) % flat.size] = flat.max()
    return x,


def tied_min(rng, shape):
    (x,) = distinct(rng, shape)
    if x.size > 1:
        flat = x.reshape(-1)
        flat[(np.argmin(flat) + 1) % flat.size] = flat.min()
    return x,


def with_zero(rng, shape):
    x = np.array(rng.standard_normal(shape))
    x.reshape(-1)[min(1, x.size - 1)] = 0.0
    return x,


def with_two_zeros(rng, shape):
    x = np.array(rng.standard_normal(shape))
    x.reshape(-1)[:2] = 0.0
    return x,


def away_from_bounds(rng, shape):
    """Entries in [-2, 2] but at least 0.1 from the clip bounds -0.5 and 0.5."""
    x = rng.uniform(-2, 2, shape)
    return np.where(np.abs(np.abs(x) - 0.5) < 0.1, x + 0.25, x),


# ---- the table --------------------------------------------------------------------------------

@dataclass
class Case:
    name: str                       # the dp function this row covers
    fn: object                      # called as fn(*inputs, **kw)
    ref: object                     # NumPy reference, same call
    shapes: list                    # list of tuples of input shapes
    gen: object = normal
    kw: dict = field(default_factory=dict)
    fwd: bool = True                # also check forward mode (JVP)
    order2: bool = False            # also check second derivatives
    tol32: float = 2e-5


UNARY_SHAPES = [((),), ((1,),), ((4,),), ((2, 3),), ((3, 1, 2),)]
BINARY_SHAPES = [((), ()), ((4,), ()), ((), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)),
                 ((3, 1, 2), (2,)), ((1,), (2, 3))]


def _sigmoid(x):
    return sp.expit(x)


def _relu(x):
    return np.maximum(x, 0)


def _softplus(x):
    return np.logaddexp(0, x)


def _unary(name, ref, gen=normal, order2=True, **kw):
    return Case(name, getattr(dp, name), ref, UNARY_SHAPES, gen, order2=order2, **kw)


def _binary(name, ref, gen=normal, shapes=BINARY_SHAPES, **kw):
    return Case(name, getattr(dp, name), ref, shapes, gen, **kw)


ELEMENTWISE = [
    _unary("negative", np.negative),
    _unary("exp", np.exp),
    _unary("log", np.log, positive),
    _unary("log1p", np.log1p, positive),
    _unary("expm1", np.expm1),
    _unary("sqrt", np.sqrt, positive),
    _unary("square", np.square),
    _unary("sin", np.sin),
    _unary("cos", np.cos),
    _unary("tan", np.tan, unit),
    _unary("arcsin", np.arcsin, unit),
    _unary("arccos", np.arccos, unit),
    _unary("arctan", np.arctan),
    _unary("sinh", np.sinh),
    _unary("cosh", np.cosh),
    _unary("tanh", np.tanh),
    _unary("sigmoid", _sigmoid),
    _unary("relu", _relu, nonzero),
    _unary("softplus", _softplus),
    _unary("abs", np.abs, nonzero),
    _unary("sign", np.sign, nonzero),
    _unary("reciprocal", np.reciprocal, nonzero),
    _unary("conj", np.conj),
    Case("clip", dp.clip, np.clip, UNARY_SHAPES, away_from_bounds, kw=dict(a_min=-0.5, a_max=0.5)),
    Case("clip", dp.clip, np.clip, [((2, 3),)], away_from_bounds, kw=dict(a_min=None, a_max=0.5)),
    Case("clip", dp.clip, np.clip, [((2, 3),)], away_from_bounds, kw=dict(a_min=-0.5, a_max=None)),
    Case("clip", lambda x, lo, hi: dp.clip(x, lo, hi), np.clip, [((2, 3), (), (3,)), ((4,), (4,), ())],
         lambda rng, a, b, c: (away_from_bounds(rng, a)[0], np.full(b, -0.5), np.full(c, 0.5))),
    Case("scalars", lambda x: (dp.maximum(x, 0.3) * dp.minimum(-0.2, x) + dp.where(np.asarray(getattr(x, 'data', x)) > 0, x, 0.0)
                               + dp.arctan2(x, 2.0) + dp.arctan2(-1.0, x) + 2.0 ** x + x ** 0 + 1.5 / x
                               + dp.clip(x, -1, 1) / 3 - dp.power(x, 2)),
         lambda x: (np.maximum(x, 0.3) * np.minimum(-0.2, x) + np.where(x > 0, x, 0.0) + np.arctan2(x, 2.0)
                    + np.arctan2(-1.0, x) + 2.0 ** x + x ** 0 + 1.5 / x + np.clip(x, -1, 1) / 3 - x ** 2),
         [((4,),), ((2, 3),)], nonzero),
    Case("astype", dp.astype, lambda x, dtype: x.astype(dtype), UNARY_SHAPES, kw=dict(dtype=np.float64)),
    _binary("add", np.add),
    _binary("subtract", np.subtract),
    _binary("multiply", np.multiply),
    _binary("divide", np.divide, lambda rng, a, b: (rng.standard_normal(a), nonzero(rng, b)[0])),
    _binary("power", np.power, base_exponent),
    _binary("arctan2", np.arctan2, nonzero),
    _binary("maximum", np.maximum, tied),
    _binary("minimum", np.minimum, tied),
    Case("where", lambda x, y: dp.where(np.asarray(getattr(x, 'data', x)) > 0, x, y), lambda x, y: np.where(x > 0, x, y),
         [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((4,), ())], nonzero),
    Case("where", lambda x, y: dp.where(np.array([True, False, True]), x, y),
         lambda x, y: np.where(np.array([True, False, True]), x, y), [((2, 3), ()), ((), ())]),
    # operators, both sides, with scalars and arrays
    Case("operators", lambda x, y: (2.0 - x) * y / (1.5 + x * x) + x ** 2 - 3 / (y * y + 1) + (-x) @ y.T,
         lambda x, y: (2.0 - x) * y / (1.5 + x * x) + x ** 2 - 3 / (y * y + 1) + (-x) @ y.T,
         [((3, 3), (3, 3))]),
    Case("power", lambda x: x ** 3 + 2.0 ** x + x ** 0.5, lambda x: x ** 3 + 2.0 ** x + x ** 0.5,
         [((4,),)], positive),
    Case("power", lambda x: x ** 2 + x ** 0, lambda x: x ** 2.0 + x ** 0.0, [((4,),)], normal),
]


def _reduction(name, ref, configs, gen=normal, **extra):
    return [Case(name, getattr(dp, name), ref, [(shape,)], gen, kw=kw, **extra) for shape, kw in configs]


REDUCE_CONFIGS = [((), {}), ((4,), {}), ((2, 3), {}), ((2, 3), dict(axis=0)), ((2, 3), dict(axis=-1, keepdims=True)),
                  ((2, 3, 2), dict(axis=(0, 2))), ((1, 3, 1), dict(axis=1)), ((2, 1, 3), dict(axis=1, keepdims=True)),
                  ((2, 3), dict(axis=None, keepdims=True))]
EXTREMUM_CONFIGS = [((4,), {}), ((2, 3), {}), ((3, 3), dict(keepdims=True)), ((1,), {}), ((), {})]
EXTREMUM_AXIS_CONFIGS = [((2, 3), dict(axis=0)), ((2, 3), dict(axis=-1, keepdims=True)),
                         ((2, 3, 2), dict(axis=(0, 2)))]

REDUCTIONS = (
    _reduction("sum", np.sum, REDUCE_CONFIGS)
    + _reduction("mean", np.mean, REDUCE_CONFIGS)
    + _reduction("prod", np.prod, REDUCE_CONFIGS)
    + _reduction("prod", np.prod, [((4,), {}), ((2, 3), dict(axis=1)), ((3, 2), dict(axis=0))], with_zero)
    + _reduction("prod", np.prod, [((4,), {}), ((2, 3), dict(axis=1))], with_two_zeros)
    + _reduction("max", np.max, EXTREMUM_CONFIGS, tied_max)
    + _reduction("min", np.min, EXTREMUM_CONFIGS, tied_min)
    + _reduction("max", np.max, EXTREMUM_AXIS_CONFIGS, distinct)
    + _reduction("min", np.min, EXTREMUM_AXIS_CONFIGS, distinct)
    + _reduction("logsumexp", sp.logsumexp, REDUCE_CONFIGS)
    + _reduction("var", np.var, REDUCE_CONFIGS[1:])
    + _reduction("var", np.var, [((2, 3), dict(axis=1, ddof=1)), ((5,), dict(ddof=1))])
    + _reduction("std", np.std, REDUCE_CONFIGS[1:])
    + _reduction("std", np.std, [((2, 3), dict(axis=0, ddof=1))])
    + _reduction("norm", np.linalg.norm, [((4,), {}), ((2, 3), {}), ((2, 3), dict(ord="fro")),
                                          ((2, 3), dict(axis=1)), ((2, 3), dict(axis=0, keepdims=True)),
                                          ((4,), dict(ord=2)), ((1,), {})])
    + _reduction("norm", np.linalg.norm, [((4,), dict(ord=1)), ((2, 3), dict(ord=1, axis=1)),
                                          ((4,), dict(ord=3)), ((2, 3), dict(ord=1.5, axis=0))], nonzero)
    + _reduction("norm", np.linalg.norm, [((4,), dict(ord=np.inf)), ((4,), dict(ord=-np.inf)),
                                          ((2, 3), dict(ord=np.inf, axis=1))], distinct)
    + _reduction("softmax", lambda x, axis=-1: sp.softmax(x, axis=axis), [((4,), {}), ((2, 3), {}), ((2, 3), dict(axis=0)), ((1,), {}),
                                         ((2, 1, 3), dict(axis=1))])
    + _reduction("log_softmax", lambda x, axis=-1: sp.log_softmax(x, axis=axis), [((4,), {}), ((2, 3), {}), ((2, 3), dict(axis=0)),
                                                 ((2, 1, 3), dict(axis=1))])
    + _reduction("cumsum", np.cumsum, [((4,), {}), ((2, 3), {}), ((2, 3), dict(axis=0)),
                                       ((2, 3, 2), dict(axis=-1)), ((1,), dict(axis=0))])
)
for _c in REDUCTIONS:
    if _c.name == "logsumexp":
        _c.ref = lambda x, **kw: sp.logsumexp(x, **kw) if np.ndim(x) else x


def _batched_dot(a, b):
    return np.dot(a, b)


LINALG = [
    Case("matmul", dp.matmul, np.matmul,
         [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
          ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)), ((1, 1), (1, 1))]),
    Case("dot", dp.dot, np.dot,
         [((), ()), ((), (3,)), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 2)), ((2, 2, 3), (3,)),
          ((2, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4))]),
    Case("vdot", dp.vdot, np.vdot, [((3,), (3,)), ((2, 3), (3, 2))]),
    Case("inner", dp.inner, np.inner, [((3,), (3,)), ((2, 3), (3,)), ((), (3,))]),
    Case("outer", dp.outer, np.outer, [((3,), (4,)), ((2, 2), (3,)), ((), (2,))]),
    Case("cross", dp.cross, np.cross, [((3,), (3,)), ((4, 3), (3,)), ((2, 1, 3), (4, 3))]),
    Case("cross", dp.cross, np.cross, [((3, 4), (3, 4))], kw=dict(axis=0)),
    Case("trace", dp.trace, np.trace, [((3, 3),), ((2, 4),), ((1, 1),)]),
    Case("trace", dp.trace, np.trace, [((2, 3, 3),)], kw=dict(axis1=1, axis2=2)),
    Case("diagonal", dp.diagonal, np.diagonal, [((3, 3),), ((2, 4),), ((3, 2, 2),)]),
    Case("diagonal", dp.diagonal, np.diagonal, [((2, 3, 3),)], kw=dict(axis1=1, axis2=2)),
    Case("transpose", dp.transpose, np.transpose, [((),), ((3,),), ((2, 3),), ((2, 3, 4),)]),
    Case("transpose", dp.transpose, np.transpose, [((2, 3, 4),)], kw=dict(axes=(1, 2, 0))),
]
_EINSUMS = [("ij,jk->ik", ((2, 3), (3, 4))), ("ij,jk", ((2, 3), (3, 2))), ("i,i->", ((3,), (3,))),
            ("i,j->ij", ((2,), (3,))), ("ii->i", ((3, 3),)), ("ii", ((3, 3),)), ("ij->", ((2, 3),)),
            ("ij->ji", ((2, 3),)), ("bij,bjk->bik", ((2, 2, 3), (2, 3, 2))), ("...ij,...jk->...ik", ((2, 2, 3), (3, 2))),
            ("ij,ij,ij->i", ((2, 3), (2, 3), (2, 3))), ("iij->j", ((2, 2, 3),)), ("ij,k->ijk", ((2, 2), (3,))),
            ("i,i,j->j", ((3,), (3,), (2,)))]
for _sub, _shapes in _EINSUMS:
    LINALG.append(Case("einsum", (lambda s: lambda *xs: dp.einsum(s, *xs))(_sub),
                       (lambda s: lambda *xs: np.einsum(s, *xs))(_sub), [_shapes]))


def _weighted_split(lib, sections, axis):
    def f(x):
        parts = lib.split(x, sections, axis=axis)
        return lib.concatenate([p * (i + 1.0) for i, p in enumerate(parts)], axis=axis)
    return f


MASK = np.array([[True, False, True], [False, False, True]])
SHAPE = [
    Case("reshape", dp.reshape, np.reshape, [((2, 3),)], kw=dict(shape=(3, 2))),
    Case("reshape", dp.reshape, np.reshape, [((2, 3),)], kw=dict(shape=(-1,))),
    Case("reshape", dp.reshape, np.reshape, [((),)], kw=dict(shape=(1, 1))),
    Case("reshape", lambda x: x.reshape(3, 1, 2), lambda x: x.reshape(3, 1, 2), [((2, 3),)]),
    Case("ravel", dp.ravel, np.ravel, [((2, 3),), ((),), ((1, 3, 1),)]),
    Case("swapaxes", dp.swapaxes, np.swapaxes, [((2, 3, 4),)], kw=dict(axis1=0, axis2=-1)),
    Case("moveaxis", dp.moveaxis, np.moveaxis, [((2, 3, 4),)], kw=dict(source=0, destination=-1)),
    Case("moveaxis", dp.moveaxis, np.moveaxis, [((2, 3, 4),)], kw=dict(source=(0, 1), destination=(2, 0))),
    Case("expand_dims", dp.expand_dims, np.expand_dims, [((2, 3),), ((),)], kw=dict(axis=0)),
    Case("expand_dims", dp.expand_dims, np.expand_dims, [((2, 3),)], kw=dict(axis=(-1, 1))),
    Case("squeeze", dp.squeeze, np.squeeze, [((1, 3, 1),), ((2, 3),), ((1,),)]),
    Case("squeeze", dp.squeeze, np.squeeze, [((1, 3, 1),)], kw=dict(axis=-1)),
    Case("broadcast_to", dp.broadcast_to, np.broadcast_to, [((3,),), ((),), ((1, 3),)], kw=dict(shape=(2, 3))),
    Case("broadcast_to", dp.broadcast_to, np.broadcast_to, [((2, 1, 3),)], kw=dict(shape=(4, 2, 2, 3))),
    Case("concatenate", lambda *xs: dp.concatenate(xs), lambda *xs: np.concatenate(xs),
         [((2,), (3,)), ((1, 2), (2, 2), (3, 2))]),
    Case("concatenate", lambda *xs: dp.concatenate(xs, axis=-1), lambda *xs: np.concatenate(xs, axis=-1),
         [((2, 1), (2, 3))]),
    Case("stack", lambda *xs: dp.stack(xs), lambda *xs: np.stack(xs), [((), ()), ((2, 3), (2, 3), (2, 3))]),
    Case("stack", lambda *xs: dp.stack(xs, axis=-1), lambda *xs: np.stack(xs, axis=-1), [((2, 3), (2, 3))]),
    Case("split", _weighted_split(dp, 2, 1), _weighted_split(np, 2, 1), [((3, 4),)]),
    Case("split", _weighted_split(dp, [1, 3], 0), _weighted_split(np, [1, 3], 0), [((5, 2),)]),
    Case("flip", dp.flip, np.flip, [((4,),), ((2, 3),)]),
    Case("flip", dp.flip, np.flip, [((2, 3),)], kw=dict(axis=1)),
    Case("pad", dp.pad, np.pad, [((3,),), ((2, 3),)], kw=dict(pad_width=1)),
    Case("pad", dp.pad, np.pad, [((2, 3),)], kw=dict(pad_width=((1, 0), (2, 1)))),
    Case("pad", dp.pad, np.pad, [((2, 3),)], kw=dict(pad_width=((0, 1), (1, 2)), constant_values=1.5)),
    Case("pad", dp.pad, np.pad, [((3, 4),)], kw=dict(pad_width=((1, 2), (2, 1)), mode="edge")),
    Case("pad", dp.pad, np.pad, [((3, 4),)], kw=dict(pad_width=2, mode="reflect")),
    Case("pad", dp.pad, np.pad, [((3, 4),)], kw=dict(pad_width=((1, 1), (2, 3)), mode="symmetric")),
    Case("pad", dp.pad, np.pad, [((3, 4),)], kw=dict(pad_width=((1, 1), (2, 3)), mode="wrap")),
    Case("tile", dp.tile, np.tile, [((3,),), ((2, 3),), ((),)], kw=dict(reps=2)),
    Case("tile", dp.tile, np.tile, [((2, 3),), ((3,),)], kw=dict(reps=(2, 1, 2))),
    Case("repeat", dp.repeat, np.repeat, [((3,),), ((2, 3),)], kw=dict(repeats=2)),
    Case("repeat", dp.repeat, np.repeat, [((2, 3),)], kw=dict(repeats=[1, 0, 3], axis=1)),
    Case("getitem", lambda x: x[1:, ::-1], lambda x: x[1:, ::-1], [((3, 4),)]),
    Case("getitem", lambda x: x[np.array([0, 2, 2, 1])], lambda x: x[np.array([0, 2, 2, 1])], [((3,),), ((3, 2),)]),
    Case("getitem", lambda x: x[[0, 0, 1]], lambda x: x[[0, 0, 1]], [((2, 3),)]),
    Case("getitem", lambda x: x[MASK], lambda x: x[MASK], [((2, 3),)]),
    Case("getitem", lambda x: x[None, ..., 1], lambda x: x[None, ..., 1], [((2, 3),)]),
    Case("getitem", lambda x: x[..., None, :2], lambda x: x[..., None, :2], [((2, 3),)]),
    Case("getitem", lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])],
         lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])], [((2, 3),)]),
    Case("getitem", lambda x: x[:, [2, 2, 0]], lambda x: x[:, [2, 2, 0]], [((2, 3),)]),
    Case("getitem", lambda x: x[1], lambda x: x[1], [((2, 3),)]),
    Case("getitem", lambda x: dp.getitem(x, (slice(None), 1)), lambda x: x[:, 1], [((2, 3),)]),
    # a reshape of a slice: one getitem_reshape node (a flat parameter vector cut into matrices)
    Case("getitem_reshape", lambda x: x[2:8].reshape(2, 3), lambda x: x[2:8].reshape(2, 3), [((10,),)]),
    Case("getitem_reshape", lambda x: dp.reshape(x[1:, ::-1], (-1,)), lambda x: x[1:, ::-1].reshape(-1),
         [((3, 4),)]),
    Case("getitem_reshape", lambda x: x[np.array([0, 2, 2, 1])].reshape(2, 2, -1),
         lambda x: x[np.array([0, 2, 2, 1])].reshape(2, 2, -1), [((3, 2),)]),
    Case("take", dp.take, np.take, [((2, 3),)], kw=dict(indices=np.array([[0, 5], [5, 2]]))),
    Case("take", dp.take, np.take, [((2, 3),)], kw=dict(indices=[2, 2, 0], axis=1)),
    Case("take", dp.take, np.take, [((2, 3),)], kw=dict(indices=1, axis=0)),
    Case("take_along_axis", dp.take_along_axis, np.take_along_axis, [((2, 3),)],
         kw=dict(indices=np.array([[2, 2], [0, 1]]), axis=1)),
    Case("take_along_axis", dp.take_along_axis, np.take_along_axis, [((2, 3),)],
         kw=dict(indices=np.array([[1, 0, 1]]), axis=0)),
]


def _np_index_add(x, axis, index, source):
    out = np.array(x, copy=True)
    np.add.at(out, (slice(None),) * axis + (index,), source)
    return out


SHAPE += [
    Case("index_add", lambda x, s: dp.index_add(x, 0, np.array([0, 2, 0]), s),
         lambda x, s: _np_index_add(x, 0, np.array([0, 2, 0]), s), [((3, 4), (3, 4)), ((3,), (3,))]),
    Case("index_add", lambda x, s: dp.index_add(x, 1, np.array([1, 1]), s),
         lambda x, s: _np_index_add(x, 1, np.array([1, 1]), s), [((2, 3), (2, 2))]),
    Case("index_add", lambda x, s: dp.index_add(x, -1, [0, 3, 3, 3], s),
         lambda x, s: _np_index_add(x, 1, np.array([0, 3, 3, 3]), s), [((2, 4), (2, 4))]),
]

CASES = ELEMENTWISE + REDUCTIONS + LINALG + SHAPE


def _id(case, shapes):
    kw = ",".join(f"{k}={v!r}" if not isinstance(v, np.ndarray) else f"{k}=arr" for k, v in case.kw.items())
    return f"{case.name}[{kw}]-" + "-".join("x".join(map(str, s)) or "0d" for s in shapes)


PARAMS = [pytest.param(c, s, id=_id(c, s)) for c in CASES for s in c.shapes]


def _inputs(case, shapes, seed=0):
    return case.gen(np.random.default_rng(seed), *shapes)


@pytest.mark.parametrize("case,shapes", PARAMS)
def test_value_matches_numpy(case, shapes):
    xs = _inputs(case, shapes)
    out = case.fn(*[dp.tensor(x) for x in xs], **case.kw)
    expected = case.ref(*xs, **case.kw)
    assert isinstance(out, Tensor)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case,shapes", PARAMS)
def test_gradient_matches_finite_differences(case, shapes):
    xs = _inputs(case, shapes)
    modes = ("rev", "fwd") if case.fwd else ("rev",)
    assert dp.gradcheck(lambda *a: case.fn(*a, **case.kw), *xs, modes=modes)


@pytest.mark.parametrize("case", [c for c in CASES if c.order2], ids=lambda c: c.name)
def test_second_derivative_matches_finite_differences(case):
    xs = _inputs(case, ((3,),) * len(case.shapes[0]))
    assert dp.gradcheck(lambda *a: case.fn(*a, **case.kw), *xs, order=2, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("case,shapes", PARAMS)
def test_float32_stays_float32(case, shapes):
    xs = _inputs(case, shapes)
    kw = dict(case.kw)
    if case.name == "astype":
        kw["dtype"] = np.float32
    t32 = [dp.tensor(x, dtype=np.float32, requires_grad=True) for x in xs]
    t64 = [dp.tensor(x, requires_grad=True) for x in xs]
    out32, out64 = case.fn(*t32, **kw), case.fn(*t64, **case.kw)
    assert out32.dtype == np.float32, f"{case.name}: float32 inputs gave {out32.dtype}"
    np.testing.assert_allclose(out32.data, out64.data, rtol=case.tol32, atol=case.tol32)
    u = np.random.default_rng(1).standard_normal(out32.shape)
    dp.sum(out32 * u.astype(np.float32)).backward()
    dp.sum(out64 * u).backward()
    for a, b in zip(t32, t64):
        assert a.grad is not None and a.grad.dtype == np.float32, f"{case.name}: gradient dtype {a.grad.dtype}"
        assert a.grad.shape == a.shape
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-4, atol=1e-4)


# ---- every function of the issue is in the table; they all take plain arrays and scalars -------

ISSUE_FUNCTIONS = """
exp log log1p expm1 sqrt square sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh sigmoid relu
softplus abs sign clip maximum minimum where power reciprocal conj
sum mean prod max min logsumexp var std norm cumsum softmax log_softmax
matmul dot vdot inner einsum outer cross transpose trace diagonal
reshape ravel swapaxes moveaxis expand_dims squeeze broadcast_to concatenate stack split flip pad tile repeat
getitem take take_along_axis index_add astype
""".split()
CONSTRUCTORS = "zeros ones zeros_like ones_like full arange linspace eye".split()


def test_table_covers_every_function_of_the_issue():
    covered = {c.name for c in CASES}
    missing = [n for n in ISSUE_FUNCTIONS if n not in covered]
    assert not missing, f"functions without a row in the table: {missing}"
    for name in ISSUE_FUNCTIONS + CONSTRUCTORS:
        assert callable(getattr(dp, name)), name


@pytest.mark.parametrize("name", [c.name for c in ELEMENTWISE[:23]])
def test_unary_accepts_arrays_and_scalars(name):
    fn = getattr(dp, name)
    out = fn(np.array([0.5, 0.25]))
    assert isinstance(out, Tensor) and out.shape == (2,) and not out.requires_grad
    out = fn(0.5)
    assert isinstance(out, Tensor) and out.shape == () and out.dtype == np.float64


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
                                  "arctan2", "matmul", "dot", "outer", "inner"])
def test_binary_accepts_arrays_and_scalars(name):
    a, b = np.array([0.5, 2.0]), np.array([1.5, 0.25])
    out = getattr(dp, name)(a, b)
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, getattr(np, name)(a, b))
    if name not in ("matmul",):
        out = getattr(dp, name)(0.5, 2.0)
        np.testing.assert_allclose(out.data, getattr(np, name)(0.5, 2.0))


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min", "var", "std", "norm", "cumsum",
                                  "ravel", "flip", "transpose"])
def test_reductions_and_shape_functions_accept_lists(name):
    data = [[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]]
    out = getattr(dp, name)(data)
    ref = {"norm": np.linalg.norm}.get(name, getattr(np, name, None))
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, ref(np.array(data)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constructors(dtype):
    cases = [
        (dp.zeros((2, 3), dtype=dtype), np.zeros((2, 3), dtype)),
        (dp.ones(4, dtype=dtype), np.ones(4, dtype)),
        (dp.full((2,), 1.5, dtype=dtype), np.full((2,), 1.5, dtype)),
        (dp.zeros_like(np.ones((2, 2), dtype)), np.zeros((2, 2), dtype)),
        (dp.ones_like(dp.tensor(np.ones(3, dtype))), np.ones(3, dtype)),
        (dp.arange(0, 2, 0.5, dtype=dtype), np.arange(0, 2, 0.5, dtype=dtype)),
        (dp.linspace(0, 1, 5, dtype=dtype), np.linspace(0, 1, 5, dtype=dtype)),
        (dp.eye(3, dtype=dtype), np.eye(3, dtype=dtype)),
        (dp.eye(2, 3, k=1, dtype=dtype), np.eye(2, 3, k=1, dtype=dtype)),
    ]
    for got, want in cases:
        assert isinstance(got, Tensor)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.data, want)
    x = dp.zeros((2,), dtype=dtype, requires_grad=True)
    assert x.requires_grad and x.is_leaf
    dp.sum(dp.sin(x) + dp.ones(2, dtype=dtype, requires_grad=True)).backward()
    np.testing.assert_array_equal(x.grad, np.ones(2, dtype))
    assert x.grad.dtype == dtype
    assert dp.arange(5).dtype.kind == "i" and dp.ones(2).dtype == np.float64
