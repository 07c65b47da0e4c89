"""Forward mode: every row of the primitive table has a JVP that matches finite differences, and
forward-mode Jacobians (batched tangent pushes over one recorded graph) equal reverse-mode ones."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import diffprog as dp
from diffprog.autodiff import primitives as P
from diffprog.autodiff.tape import Primitive, apply


def normal(rng, *shapes):
    return tuple(rng.standard_normal(s) for s in shapes)


def positive(rng, *shapes):
    return tuple(rng.uniform(0.5, 2.0, s) for s in shapes)


def unit(rng, *shapes):
    return tuple(rng.uniform(-0.8, 0.8, s) for s in shapes)


def away_from_zero(rng, *shapes):
    return tuple(rng.choice([-1.0, 1.0], s) * rng.uniform(0.3, 2.0, s) for s in shapes)


def distinct(rng, *shapes):
    """Entries well apart, so that maxima, minima and maximum/minimum choices are unique."""
    out = []
    for s in shapes:
        n = int(np.prod(s))
        out.append(((rng.permutation(n) - n / 2) * 0.3 + 0.1 * len(out)).reshape(s))
    return tuple(out)


def above_one(rng, *shapes):
    return tuple(rng.uniform(1.2, 3.0, s) for s in shapes)


def with_zeros(rng, *shapes):
    """Normal entries with one exact zero per row (the cumulative product's hard case)."""
    out = []
    for s in shapes:
        x = rng.standard_normal(s)
        x[..., 1] = 0.0
        out.append(x)
    return tuple(out)


def unary(prim, gen=normal, shape=(2, 3), **kw):
    return (lambda x: apply(prim, x, **kw)), gen, (shape,)


def binary(prim, gen=normal, shapes=((2, 3), (3,))):
    return (lambda x, y: apply(prim, x, y)), gen, shapes


ROWS = {
    P.IDENTITY: unary(P.IDENTITY), P.NEGATIVE: unary(P.NEGATIVE), P.EXP: unary(P.EXP),
    P.LOG: unary(P.LOG, positive), P.LOG1P: unary(P.LOG1P, positive), P.EXPM1: unary(P.EXPM1),
    P.SQRT: unary(P.SQRT, positive), P.SQUARE: unary(P.SQUARE), P.SIN: unary(P.SIN), P.COS: unary(P.COS),
    P.TAN: unary(P.TAN, unit), P.ARCSIN: unary(P.ARCSIN, unit), P.ARCCOS: unary(P.ARCCOS, unit),
    P.ARCTAN: unary(P.ARCTAN), P.SINH: unary(P.SINH), P.COSH: unary(P.COSH), P.TANH: unary(P.TANH),
    P.SIGMOID: unary(P.SIGMOID), P.RELU: unary(P.RELU, away_from_zero), P.SOFTPLUS: unary(P.SOFTPLUS),
    P.ABS: unary(P.ABS, away_from_zero), P.SIGN: unary(P.SIGN, away_from_zero),
    P.RECIPROCAL: unary(P.RECIPROCAL, away_from_zero), P.CONJ: unary(P.CONJ),
    P.CLIP: unary(P.CLIP, distinct, a_min=-0.55, a_max=0.65),
    P.CAST: unary(P.CAST, dtype=np.dtype(np.float64)),
    P.ADD: binary(P.ADD), P.SUBTRACT: binary(P.SUBTRACT), P.MULTIPLY: binary(P.MULTIPLY),
    P.DIVIDE: binary(P.DIVIDE, away_from_zero),
    P.POWER: binary(P.POWER, positive), P.MAXIMUM: binary(P.MAXIMUM, distinct),
    P.MINIMUM: binary(P.MINIMUM, distinct), P.ARCTAN2: binary(P.ARCTAN2, away_from_zero),
    P.WHERE: ((lambda x, y: apply(P.WHERE, np.array([[True, False, True], [False, False, True]]), x, y)),
              normal, ((2, 3), (2, 1))),
    P.MATMUL: binary(P.MATMUL, shapes=((2, 2, 3), (3, 4))),
    P.SUM: unary(P.SUM, axis=1, keepdims=True), P.MEAN: unary(P.MEAN, axis=1, keepdims=True, count=3), P.MAX: unary(P.MAX, distinct, axis=0, keepdims=False),
    P.MIN: unary(P.MIN, distinct, axis=None, keepdims=False), P.PROD: unary(P.PROD, away_from_zero, axis=1),
    P.LOGSUMEXP: unary(P.LOGSUMEXP, axis=-1), P.SOFTMAX: unary(P.SOFTMAX, axis=0),
    P.LOG_SOFTMAX: unary(P.LOG_SOFTMAX, axis=1), P.CUMSUM: unary(P.CUMSUM, axis=1),
    P.FLIP: unary(P.FLIP, axis=1),
    P.INDEX_ADD: ((lambda x, s: apply(P.INDEX_ADD, x, s, axis=1, index=np.array([2, 0, 2]))),
                  normal, ((2, 4), (2, 3))),
    P.CONCATENATE: ((lambda x, y: apply(P.CONCATENATE, x, y, axis=-1)), normal, ((2, 3), (2, 1))),
    P.PAD: unary(P.PAD, pad_width=((1, 0), (0, 2))),
    P.EINSUM: ((lambda x, y: apply(P.EINSUM, x, y, subscripts="ij,jk->ik")), normal, ((2, 3), (3, 2))),
    # complex-valued primitives, between real inputs and outputs: z = x + iy
    P.REAL: ((lambda x, y: apply(P.REAL, (x + 1j * y) * (0.5 + 1j))), normal, ((2, 3), (2, 3))),
    P.IMAG: ((lambda x, y: apply(P.IMAG, (x + 1j * y) * (0.5 + 1j))), normal, ((2, 3), (2, 3))),
    P.ANGLE: ((lambda x, y: apply(P.ANGLE, x + 1j * y)), away_from_zero, ((2, 3), (2, 3))),
}
# Rows whose primitive takes a ``shape`` keyword of its own (unary() uses that name for the input).
ROWS[P.BROADCAST_TO] = ((lambda x: apply(P.BROADCAST_TO, x, shape=(2, 3))), normal, ((3,),))
ROWS[P.SUM_TO] = ((lambda x: apply(P.SUM_TO, x, shape=(1, 3))), normal, ((2, 3),))
ROWS[P.SCATTER_ADD] = ((lambda x: apply(P.SCATTER_ADD, x, idx=np.array([1, 1, 0]), shape=(4, 2))),
                       normal, ((3, 2),))
ROWS[P.RESHAPE] = ((lambda x: apply(P.RESHAPE, x, shape=(3, 2))), normal, ((2, 3),))
ROWS[P.TRANSPOSE] = ((lambda x: apply(P.TRANSPOSE, x, axes=(2, 0, 1))), normal, ((2, 3, 4),))
ROWS[P.GETITEM] = ((lambda x: apply(P.GETITEM, x, idx=(np.array([0, 2, 0]), slice(1, None)))),
                   normal, ((4, 3),))
ROWS[P.GETITEM_RESHAPE] = ((lambda x: apply(P.GETITEM_RESHAPE, x, idx=slice(2, 8), view=(6,), shape=(2, 3))),
                           normal, ((10,),))

ROWS.update({
    P.ARCSINH: unary(P.ARCSINH), P.ARCCOSH: unary(P.ARCCOSH, above_one), P.ARCTANH: unary(P.ARCTANH, unit),
    P.LOG2: unary(P.LOG2, positive), P.LOG10: unary(P.LOG10, positive), P.EXP2: unary(P.EXP2),
    P.CBRT: unary(P.CBRT, away_from_zero), P.HYPOT: binary(P.HYPOT, away_from_zero),
    P.LOGADDEXP: binary(P.LOGADDEXP), P.CUMPROD: unary(P.CUMPROD, with_zeros, axis=1),
})

TABLE = [(prim, *row) for prim, row in ROWS.items()]


def test_every_primitive_of_the_table_has_a_forward_mode_row():
    table = {v for v in vars(P).values() if isinstance(v, Primitive)}
    missing = sorted(p.name for p in table - set(ROWS))
    assert not missing, f"primitives without a forward-mode test row: {missing}"
    assert all(p.linear or p.jvps is not None for p in table)


@pytest.mark.parametrize("prim,fn,gen,shapes", TABLE, ids=[p.name for p in ROWS])
def test_jvp_matches_finite_differences(prim, fn, gen, shapes):
    xs = gen(np.random.default_rng(1), *shapes)
    assert dp.gradcheck(fn, *xs, modes=("fwd",))


@pytest.mark.parametrize("prim,fn,gen,shapes", TABLE, ids=[p.name for p in ROWS])
def test_batched_forward_jacobian_equals_reverse(prim, fn, gen, shapes):
    xs = gen(np.random.default_rng(2), *shapes)
    argnums = tuple(range(len(xs)))
    fwd = dp.jacobian(fn, argnums, mode="fwd")(*xs)
    rev = dp.jacobian(fn, argnums, mode="rev")(*xs)
    for a, b in zip(fwd, rev):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_jvp_through_broadcasting_and_one_dimensional_matmul(rng):
    x, A, v = rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal((2, 1, 3))

    def f(x):
        return dp.tanh(A @ x) + dp.sum(v * x, axis=-1) @ dp.ones((1, 4)) + x @ A.T
    assert dp.gradcheck(f, x, modes=("rev", "fwd"))
    np.testing.assert_allclose(dp.jacobian(f, mode="fwd")(x), dp.jacobian(f, mode="rev")(x), atol=1e-12)


# ---- random compositions: forward == reverse ------------------------------------------------
UNARY_OPS = [dp.sin, dp.tanh, dp.exp, lambda x: dp.log1p(x * x), dp.sigmoid, lambda x: x * x,
             lambda x: dp.softmax(x, axis=-1), lambda x: dp.cumsum(x, axis=0), lambda x: dp.flip(x, axis=0),
             lambda x: x[::-1] * 0.5 + x, lambda x: dp.sqrt(x * x + 1.0), lambda x: dp.logsumexp(x) + x]
BINARY_OPS = [lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x - 2.0 * y,
              lambda x, y: x / (1.5 + y * y), lambda x, y: dp.maximum(x, y) + dp.minimum(x, 0.3 * y)]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(ops=st.lists(st.tuples(st.integers(0, len(UNARY_OPS) - 1), st.integers(0, len(BINARY_OPS) - 1),
                              st.integers(0, 9)), min_size=1, max_size=6),
       n=st.integers(1, 4), m=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_forward_and_reverse_jacobians_agree_on_random_compositions(ops, n, m, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, n)) * 0.5
    x0, y0 = rng.standard_normal(n), rng.standard_normal(n)

    def f(x, y):
        values = [x, y]
        for u, b, pick in ops:
            a = values[pick % len(values)]
            c = values[(pick // 2) % len(values)]
            values.append(BINARY_OPS[b](UNARY_OPS[u](a), c))
        return dp.tanh(W @ values[-1]) + dp.sum(values[-1] * values[-2])

    fwd = dp.jacobian(f, (0, 1), mode="fwd")(x0, y0)
    rev = dp.jacobian(f, (0, 1), mode="rev")(x0, y0)
    unbatched = [np.stack([dp.jvp(f, (x0, y0), (e, np.zeros(n)) if k == 0 else (np.zeros(n), e))[1]
                           for e in np.eye(n)], axis=-1) for k in range(2)]
    for a, b, c in zip(fwd, rev, unbatched):
        assert a.shape == (m, n)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(c, b, rtol=1e-10, atol=1e-10)


# ---- API behaviour -------------------------------------------------------------------------------

def test_jacobian_auto_mode_and_argnums(rng):
    A = rng.standard_normal((2, 5))

    def f(w, x):
        return dp.tanh(A @ (w * x))
    w, x = rng.standard_normal(5), rng.standard_normal(5)
    J = dp.jacobian(f, argnums=1)(w, x)
    expected = (1 - np.tanh(A @ (w * x)) ** 2)[:, None] * A * w
    np.testing.assert_allclose(J, expected, atol=1e-12)
    for mode in ("fwd", "rev", "auto"):
        np.testing.assert_allclose(dp.jacobian(f, argnums=1, mode=mode)(w, x), expected, atol=1e-12)
    with pytest.raises(ValueError, match="mode"):
        dp.jacobian(f, mode="forward")


def test_forward_jacobian_of_a_pytree_free_function_of_float32_keeps_values(rng):
    x = rng.standard_normal((3, 2)).astype(np.float32)
    J = dp.jacobian(lambda x: dp.sin(x).sum(axis=0), mode="fwd")(x)
    assert J.shape == (2, 3, 2)
    expected = np.zeros((2, 3, 2))
    for i in range(3):
        for j in range(2):
            expected[j, i, j] = np.cos(x[i, j])
    np.testing.assert_allclose(J, expected, rtol=1e-6)


def test_linearize_records_once_and_matches_jvp(rng):
    calls = []
    A = rng.standard_normal((3, 3))

    def f(x):
        calls.append(1)
        return dp.tanh(A @ x) * dp.exp(x)
    x = rng.standard_normal(3)
    value, f_jvp = dp.linearize(f, x)
    n_calls = len(calls)
    for _ in range(3):
        t = rng.standard_normal(3)
        np.testing.assert_allclose(f_jvp(t), dp.jvp(f, (x,), (t,))[1], atol=1e-12)
    assert len(calls) == n_calls + 3                   # only the jvp reference calls re-ran f
    np.testing.assert_allclose(value, np.tanh(A @ x) * np.exp(x))
    with pytest.raises(ValueError, match="tangent"):
        f_jvp(np.ones(4))


def test_jvp_checks_its_arguments(rng):
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        dp.jvp(lambda a, b: a * b, (1.0, 2.0), (1.0,))
    with pytest.raises(ValueError, match=r"tangent of shape \(2,\) for a primal of shape \(3,\)"):
        dp.jvp(dp.sin, (np.ones(3),), (np.ones(2),))


def test_reverse_over_forward_is_refused_not_silently_zero(rng):
    x = rng.standard_normal(3)

    def inner(x):
        return dp.sum(dp.jvp(dp.sin, (x,), (np.ones(3),))[1])
    with pytest.raises(NotImplementedError, match="forward-over-reverse"):
        dp.grad(inner)(x)


def test_forward_over_reverse_gives_hessian_vector_products(rng):
    A = rng.standard_normal((4, 4))

    def f(x):
        return dp.sum(dp.tanh(A @ x) ** 2)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    _, hv = dp.jvp(dp.grad(f), (x,), (v,))
    np.testing.assert_allclose(hv, dp.hessian(f)(x) @ v, atol=1e-10)
    np.testing.assert_allclose(hv, dp.hvp(f, x, v), atol=1e-10)


def test_forward_mode_passes_through_checkpoint_with_recorded_parameters(rng):
    W = dp.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    x, t = rng.standard_normal(3), rng.standard_normal(3)

    def f(x):
        return dp.checkpoint(lambda x, W: dp.tanh(W @ x), x, W)
    expected = (1 - np.tanh(W.data @ x) ** 2) * (W.data @ t)
    np.testing.assert_allclose(dp.jvp(f, (x,), (t,))[1], expected, atol=1e-12)
    np.testing.assert_allclose(dp.jacobian(f, mode="fwd")(x) @ t, expected, atol=1e-12)


def test_jvp_treats_constant_arguments_of_linear_primitives_as_zero_tangent():
    _, t = dp.jvp(lambda s: dp.concatenate([s, np.ones(2)]), (np.zeros(3),), (np.ones(3),))
    np.testing.assert_array_equal(t, [1, 1, 1, 0, 0])
    _, t = dp.jvp(lambda s: dp.index_add(np.ones(3), 0, np.array([0, 1]), s), (np.zeros(2),), (np.ones(2),))
    np.testing.assert_array_equal(t, [1, 1, 0])


def test_batched_forward_jacobian_treats_constant_arguments_as_zero_tangent():
    J = dp.jacobian(lambda s: dp.concatenate([s, np.ones(2)]), mode="fwd")(np.zeros(3))
    np.testing.assert_array_equal(J, np.eye(5, 3))
    J = dp.jacobian(lambda s: dp.index_add(np.ones(3), 0, np.array([0, 1]), s), mode="fwd")(np.zeros(2))
    np.testing.assert_array_equal(J, np.eye(3, 2))


@pytest.mark.parametrize("fn", [
    lambda x: apply(P.SUM, x), lambda x: apply(P.SUM, x, axis=(0, 2)), lambda x: apply(P.TRANSPOSE, x),
    lambda x: dp.softmax(x, axis=1), lambda x: dp.log_softmax(x, axis=-3), lambda x: x[..., 1:] @ x[0, :3],
    lambda x: x[x > 0], lambda x: dp.concatenate([x, 2 * x], axis=1), lambda x: dp.broadcast_to(x[0], (5, 3, 4)),
], ids=["sum-all", "sum-axes", "transpose", "softmax", "log_softmax", "slices-matvec", "mask", "concat",
        "broadcast"])
def test_batched_rules_agree_with_reverse_mode_on_axis_variants(fn):
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    np.testing.assert_allclose(dp.jacobian(fn, mode="fwd")(x), dp.jacobian(fn, mode="rev")(x), atol=1e-13)


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_jacobian_of_pytree_arguments_has_their_structure(mode, rng):
    params = {"a": rng.standard_normal(2), "b": (rng.standard_normal((2, 2)), rng.standard_normal(2))}
    x = rng.standard_normal(2)

    def f(x, p):
        return dp.tanh(p["b"][0] @ (x * p["a"]) + p["b"][1])
    Jx, Jp = dp.jacobian(f, argnums=(0, 1), mode=mode)(x, params)
    assert Jx.shape == (2, 2) and set(Jp) == {"a", "b"} and isinstance(Jp["b"], tuple)
    assert Jp["a"].shape == (2, 2) and Jp["b"][0].shape == (2, 2, 2) and Jp["b"][1].shape == (2, 2)
    s = 1 - np.tanh(params["b"][0] @ (x * params["a"]) + params["b"][1]) ** 2
    np.testing.assert_allclose(Jx, s[:, None] * params["b"][0] * params["a"], atol=1e-12)
    np.testing.assert_allclose(Jp["b"][1], np.diag(s), atol=1e-12)
    np.testing.assert_allclose(Jp["b"][0], np.einsum("i,ik,l->ikl", s, np.eye(2), x * params["a"]), atol=1e-12)
