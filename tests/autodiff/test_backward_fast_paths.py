"""Backward's shortcuts give the same numbers as the plain rules: 2-D matrix products through
``ndarray.dot``, and slices of one array summed in place into a buffer the engine owns (never
into an array the user passed or can see)."""
import numpy as np
import pytest

import diffprog as dp
from diffprog.autodiff import primitives as P
from diffprog.autodiff.primitives import scatter_add_forward


@pytest.mark.parametrize("m,k,n", [(16, 2, 2), (16, 2, 1), (1, 3, 1), (33, 7, 12), (256, 22, 22), (5, 1, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_matmul_rules_match_np_matmul_bitwise(m, k, n, dtype):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a, b, g = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
    if dtype is np.complex128:
        a, b, g = a + 1j * a[::-1], b - 2j * b, g * (1 + 0.5j)
    da, db = P.MATMUL.real_vjps
    assert np.array_equal(da(g, None, a, b), np.matmul(g, b.T))
    assert np.array_equal(db(g, None, a, b), np.matmul(a.T, g))
    assert da(g, None, a, b).dtype == np.matmul(g, b.T).dtype


def test_matmul_rules_batched_operands_keep_matmul():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 2))
    g = rng.standard_normal((3, 4, 2))
    da, db = P.MATMUL.real_vjps
    assert np.array_equal(da(g, None, a, b), np.matmul(g, b.T))
    # (b was broadcast over a's batch: the rule sums its cotangent back to b's shape itself, as
    # the row's keeps_shape promises, so backward skips its own shape test)
    assert np.array_equal(db(g, None, a, b), P.sum_to_forward(np.matmul(a.swapaxes(-1, -2), g), b.shape))
    assert P.MATMUL.keeps_shape


def _slices_reference(x, pieces, weights):
    """The gradient of sum_i sum(w_i * x[idx_i]) by the plain rule: one scatter into zeros per piece,
    summed in the order backward reaches them (the last recorded first)."""
    total = None
    for idx, w in reversed(list(zip(pieces, weights))):
        c = scatter_add_forward(np.broadcast_to(w, np.shape(x[idx])).copy(), idx, x.shape)
        total = c if total is None else total + c
    return total


PIECES = [
    [slice(0, 4), slice(4, 9), slice(9, 12)],                        # disjoint (the MLP's theta split)
    [slice(0, 6), slice(3, 9), slice(None, None, 2), slice(None, None, -3)],   # overlapping, strided
    [3, slice(2, 5), -1, 3],                                         # single entries, repeated
    [(None, slice(1, 4)), Ellipsis, (slice(2, 3), None)],            # newaxis, Ellipsis
]


@pytest.mark.parametrize("pieces", PIECES)
def test_slices_of_one_array_sum_like_the_plain_rule(pieces):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(12)
    weights = [rng.standard_normal(np.shape(x[idx])) for idx in pieces]

    def f(t):
        return sum(dp.sum(w * t[idx]) for idx, w in zip(pieces, weights))
    got = dp.grad(f)(x)
    assert np.allclose(got, _slices_reference(x, pieces, weights), rtol=0, atol=0)
    t = dp.tensor(x, requires_grad=True)
    f(t).backward()
    assert np.array_equal(t.grad, got)


def test_slices_of_a_matrix_and_of_a_reshaped_vector():
    rng = np.random.default_rng(2)
    theta = rng.standard_normal(2 * 3 * 3 + 3)
    X = rng.standard_normal((5, 3))

    def f(th):
        W1, W2, w3 = (dp.reshape(th[:9], (3, 3)), dp.reshape(th[9:18], (3, 3)), dp.reshape(th[18:], (3, 1)))
        return dp.mean((dp.tanh(dp.tanh(X @ W1) @ W2) @ w3) ** 2)
    g = dp.grad(f)(theta)
    err = dp.gradcheck(f, theta) if hasattr(dp, "gradcheck") else None
    fd = np.array([(f(theta + e * 1e-6).data - f(theta - e * 1e-6).data) / 2e-6 for e in np.eye(theta.size)])
    assert np.allclose(g, fd, rtol=1e-6, atol=1e-8), err
    M = rng.standard_normal((4, 5))
    gm = dp.grad(lambda m: dp.sum(m[1:3] ** 2) + dp.sum(m[:, 2] * 3.0) + dp.sum(m[2:, ::2]))(M)
    ref = np.zeros_like(M)
    ref[1:3] += 2 * M[1:3]
    ref[:, 2] += 3.0
    ref[2:, ::2] += 1.0
    assert np.allclose(gm, ref, rtol=1e-15, atol=0)


def test_user_cotangents_and_seeds_are_never_written_into():
    x = np.arange(6.0)
    outs_f = lambda t: (t + 0.0, t[1:3], t[0:2], t[4])                # noqa: E731  (add passes g through)
    value, vjp_fn = dp.vjp(outs_f, x)
    cts = (np.full(6, 1.0), np.array([10.0, 20.0]), np.array([100.0, 200.0]), np.float64(5.0))
    kept = [np.array(c, copy=True) for c in cts]
    first = vjp_fn(cts)[0]
    for c, k in zip(cts, kept):
        assert np.array_equal(c, k)
    assert np.array_equal(first, [101.0, 211.0, 21.0, 1.0, 6.0, 1.0])
    assert np.array_equal(vjp_fn(cts)[0], first)                    # again: same result, inputs intact
    for c, k in zip(cts, kept):
        assert np.array_equal(c, k)
    # slices first, then the pass-through cotangent
    value, vjp_fn = dp.vjp(lambda t: (t[1:3], t[0:2], t * 1.0 + 0.0), x)
    cts = (np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.ones(6))
    kept = [c.copy() for c in cts]
    assert np.array_equal(vjp_fn(cts)[0], [4.0, 6.0, 3.0, 1.0, 1.0, 1.0])
    for c, k in zip(cts, kept):
        assert np.array_equal(c, k)


def test_a_slice_cotangent_that_is_the_seed_is_not_modified():
    x = np.arange(5.0)
    seed = np.array([1.0, 2.0, 3.0])
    _, vjp_fn = dp.vjp(lambda t: t[1:4], x)
    assert np.array_equal(vjp_fn(seed)[0], [0.0, 1.0, 2.0, 3.0, 0.0])
    assert np.array_equal(seed, [1.0, 2.0, 3.0])


def test_slices_under_create_graph_and_higher_order():
    x = np.array([0.3, -1.2, 0.7, 2.0, -0.4])

    def f(t):
        return dp.sum(t[:3] ** 3) + dp.sum(dp.sin(t[2:]) * t[1:4]) + t[0] * t[4]
    h = dp.hessian(f)(x) if hasattr(dp, "hessian") else dp.jacobian(dp.grad(f))(x)
    eps = 1e-5
    g = dp.grad(f)
    fd = np.array([(g(x + e * eps) - g(x - e * eps)) / (2 * eps) for e in np.eye(5)])
    assert np.allclose(h, fd, rtol=1e-6, atol=1e-7)
    gg = dp.grad(lambda t: dp.sum(dp.grad(f)(t) ** 2))(x)
    fd2 = np.array([(np.sum(g(x + e * eps) ** 2) - np.sum(g(x - e * eps) ** 2)) / (2 * eps) for e in np.eye(5)])
    assert np.allclose(gg, fd2, rtol=1e-6, atol=1e-6)
    t = dp.tensor(x, requires_grad=True)
    f(t).backward(create_graph=True)
    first = t.grad
    assert first.requires_grad
    assert np.allclose(first.data, g(x), rtol=1e-15, atol=0)


def test_slices_with_mixed_dtypes_and_fancy_indices():
    x32 = np.arange(6, dtype=np.float32)
    g = dp.grad(lambda t: dp.sum(t[:4] * 2.0) + dp.sum(t[2:] * np.float64(3.0)))(x32)
    assert np.array_equal(g, [2.0, 2.0, 5.0, 5.0, 3.0, 3.0])
    x = np.arange(6.0)
    idx = np.array([0, 0, 5, 2])
    g = dp.grad(lambda t: dp.sum(t[1:3]) + dp.sum(t[idx] * 2.0) + dp.sum(t[t.data > 2] * 10.0) + dp.sum(t[True]))(x)
    assert np.array_equal(g, [5.0, 2.0, 4.0, 11.0, 11.0, 13.0])


@pytest.mark.parametrize("y", [160, 3, -7, 2.5, -1.0, 2 ** 53, 2 ** 60, 0.5, 1e-300, 0, 0.0])
@pytest.mark.parametrize("g", [np.array(1.0), np.array(-3.7e-200), np.float64(2.0 ** 700), np.array(0.1, np.float32),
                               np.array([1.0, 2.0])])
def test_divide_rule_is_numpys_division(g, y):
    with np.errstate(all="ignore"):
        got, want = P.DIVIDE.real_vjps[0](g, None, None, y), g / y
    assert type(got) is type(want) and got.dtype == want.dtype
    assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))


def test_tanh_sigmoid_square_rules_match_the_plain_expressions():
    rng = np.random.default_rng(3)
    for dtype in (np.float64, np.float32, np.float16, np.complex128):
        a, g = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal((4, 3)).astype(dtype)
        tol = 50 * np.finfo(dtype).eps
        for rule, want in ((P.TANH.real_vjps[0](g, a, None), g * (1 - a * a)),
                           (P.SIGMOID.real_vjps[0](g, a, None), g * (a * (1 - a))),
                           (P.SQUARE.real_vjps[0](g, None, a), g * 2 * a)):
            # (tanh and sigmoid are written without the constant 1: the same dtype, values within rounding)
            assert rule.dtype == want.dtype and np.allclose(rule, want, rtol=tol, atol=tol)
        assert np.array_equal(P.TANH.real_vjps[0](g, a, None), g - g * a * a)
    g64 = rng.standard_normal((4, 3))
    a32 = rng.standard_normal((4, 3)).astype(np.float32)
    got, want = P.TANH.real_vjps[0](g64, a32, None), g64 * (1 - a32 * a32)
    assert got.dtype == want.dtype and np.allclose(got, want, rtol=1e-6)
    t = dp.tensor(a32.astype(np.float64), requires_grad=True)         # Tensors (create_graph): still a Tensor
    assert isinstance(P.TANH.real_vjps[0](t, t, None), dp.Tensor)


def test_grad_of_one_array_argument_and_nested_grads():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda t: dp.mean(dp.tanh(t) ** 2)                            # noqa: E731
    g = dp.grad(f)(x)
    assert np.allclose(g, 2 * np.tanh(x) * (1 - np.tanh(x) ** 2) / 3, rtol=1e-15)
    hv = dp.grad(lambda t: dp.sum(dp.grad(f)(t) * x))(x)               # grad inside grad: a traced argument
    eps = 1e-6
    fd = np.array([(np.sum(dp.grad(f)(x + e * eps) * x) - np.sum(dp.grad(f)(x - e * eps) * x)) / (2 * eps)
                   for e in np.eye(3)])
    assert np.allclose(hv, fd, rtol=1e-6, atol=1e-8)
    with pytest.raises(TypeError, match="integer"):
        dp.grad(f)(np.arange(3))


def test_a_reshaped_slice_is_one_node_with_the_plain_gradients():
    """``theta[a:b].reshape(m, n)`` records one getitem_reshape node on theta; its gradients (and
    the slices summed into theta's one buffer) equal those of a graph of plain rows."""
    from diffprog.autodiff.tape import toposort
    rng = np.random.default_rng(5)
    theta, X = rng.standard_normal(21), rng.standard_normal((4, 3))

    def f(th):
        W1, W2, w3 = th[:9].reshape(3, 3), np.reshape(th[9:18], (3, 3)), dp.reshape(th[18:], (3, 1))
        return dp.sum(dp.tanh(dp.tanh(X @ W1) @ W2) @ w3)
    t = dp.tensor(theta, requires_grad=True)
    out = f(t)
    names = [n.prim.name for n in toposort([out]) if n.prim is not None]
    assert names.count("getitem_reshape") == 3 and "getitem" not in names and "reshape" not in names
    out.backward()
    with dp.detect_anomaly():                    # (anomaly checks record the plain rows)
        t2 = dp.tensor(theta, requires_grad=True)
        out2 = f(t2)
        assert "getitem_reshape" not in [n.prim.name for n in toposort([out2]) if n.prim is not None]
        out2.backward()
    assert np.allclose(t.grad, t2.grad, rtol=1e-15, atol=0)
    fd = np.array([(f(theta + e * 1e-6).data - f(theta - e * 1e-6).data) / 2e-6 for e in np.eye(21)])
    assert np.allclose(t.grad, fd, rtol=1e-6, atol=1e-8)
    # forward mode (tangents traced: the plain rows) and the batched forward Jacobian agree
    assert np.allclose(dp.jacobian(f, mode="fwd")(theta), t.grad, rtol=1e-12, atol=1e-14)
    assert np.allclose(dp.jvp(f, (theta,), (np.ones(21),))[1], t.grad.sum(), rtol=1e-12)
    # second derivatives through the fused node
    h = dp.hessian(f)(theta)
    gf = dp.grad(f)
    fdh = np.array([(gf(theta + e * 1e-5) - gf(theta - e * 1e-5)) / 2e-5 for e in np.eye(21)])
    assert np.allclose(h, fdh, rtol=1e-5, atol=1e-7)


def test_a_reshaped_slice_used_twice_and_its_errors():
    x = np.arange(6.0)

    def f(t):
        s = t[1:5]
        return dp.sum(s.reshape(2, 2) @ np.array([1.0, 2.0])) + dp.sum(s * s)    # the slice also used alone
    g = dp.grad(f)(x)
    want = np.zeros(6)
    want[1:5] = np.array([1.0, 2.0, 1.0, 2.0]) + 2 * x[1:5]
    assert np.array_equal(g, want)
    t = dp.tensor(x, requires_grad=True)
    with pytest.raises(ValueError, match=r"dp\.reshape: .*reshape"):
        t[1:4].reshape(2, 2)
    with dp.no_grad():
        assert t[1:5].reshape(2, 2).requires_grad is False
    s = t[1:5]
    dp.sum(s).backward()
    with pytest.raises(RuntimeError, match="second time"):         # the slice's node was freed
        dp.sum(s.reshape(2, 2)).backward()
