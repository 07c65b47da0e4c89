"""Custom derivatives: custom_vjp (decorator and Function class) and custom_jvp."""
import numpy as np
import pytest

import diffprog as dp


# ---- a fused kernel with a hand-written backward: y = sin(x) * w, z = x @ w ----------------------
@dp.custom_vjp
def fused(x, w):
    return np.sin(x) * w


def fused_fwd(x, w):
    return np.sin(x) * w, (np.cos(x), np.sin(x), w)


def fused_bwd(residuals, g):
    cos_x, sin_x, w = residuals
    return g * cos_x * w, np.sum(g * sin_x, axis=0)            # w broadcasts over rows of x


fused.defvjp(fused_fwd, fused_bwd)


@dp.custom_vjp
def split_stats(x):
    """Two outputs: row sums and row norms."""
    return x.sum(axis=1), np.sqrt((x * x).sum(axis=1))


def split_stats_fwd(x):
    norms = np.sqrt((x * x).sum(axis=1))
    return (x.sum(axis=1), norms), (x, norms)


def split_stats_bwd(residuals, g):
    x, norms = residuals
    g_sum, g_norm = g
    return (g_sum[:, None] + g_norm[:, None] * x / norms[:, None],)


split_stats.defvjp(split_stats_fwd, split_stats_bwd)


class Softsign(dp.Function):
    """x / (1 + |x|), PyTorch style."""

    @staticmethod
    def forward(ctx, x):
        denominator = 1 + np.abs(x)
        ctx.save_for_backward(denominator)
        return x / denominator

    @staticmethod
    def backward(ctx, g):
        (denominator,) = ctx.saved_tensors
        return g / denominator ** 2


class ScaledGather(dp.Function):
    """(x[index] * scale, sum(x)): an integer argument that gets no gradient, two outputs."""

    @staticmethod
    def forward(ctx, x, index, scale):
        ctx.index, ctx.shape, ctx.scale = index, x.shape, scale
        return x[index] * scale, x.sum(keepdims=True)

    @staticmethod
    def backward(ctx, g_gather, g_sum):
        grad = np.zeros(ctx.shape)
        np.add.at(grad, ctx.index, g_gather * ctx.scale)
        grad_scale = None
        if ctx.needs_input_grad[2]:
            raise AssertionError("scale was passed as a plain float")
        return grad + g_sum, None, grad_scale


def test_custom_vjp_passes_gradcheck(rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    assert dp.gradcheck(fused, x, w)
    assert dp.gradcheck(lambda x: dp.stack(split_stats(x)), rng.standard_normal((3, 4)))


def test_function_class_passes_gradcheck(rng):
    assert dp.gradcheck(Softsign.apply, rng.standard_normal((2, 5)))
    index = np.array([0, 2, 2, 4])
    assert dp.gradcheck(lambda x: ScaledGather.apply(x, index, 1.5)[0] * ScaledGather.apply(x, index, 1.5)[1],
                        rng.standard_normal(5))


def test_custom_vjp_is_used_in_reverse_mode_and_matches_the_plain_graph(rng):
    calls = []

    @dp.custom_vjp
    def f(x):
        return np.exp(x)
    f.defvjp(lambda x: (np.exp(x), np.exp(x)), lambda e, g: (calls.append(1) or g * e,))
    x = rng.standard_normal(4)
    np.testing.assert_allclose(dp.grad(lambda x: dp.sum(f(x) ** 2))(x), 2 * np.exp(2 * x))
    assert calls == [1]


def test_custom_functions_compose_inside_a_larger_graph(rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    W = rng.standard_normal((3, 3))

    def with_custom(x, w, W):
        h = dp.tanh(x @ W)
        h = Softsign.apply(fused(h, w) + h)
        s, n = split_stats(h)
        return dp.sum(s * n) + dp.sum(h ** 2)

    def reference(x, w, W):
        h = dp.tanh(x @ W)
        h = dp.sin(h) * w + h
        h = h / (1 + dp.abs(h))
        s, n = dp.sum(h, axis=1), dp.norm(h, axis=1)
        return dp.sum(s * n) + dp.sum(h ** 2)
    got = dp.grad(with_custom, argnums=(0, 1, 2))(x, w, W)
    expected = dp.grad(reference, argnums=(0, 1, 2))(x, w, W)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert dp.gradcheck(with_custom, x, w, W)


def test_custom_functions_under_no_grad_record_nothing(rng):
    x = dp.tensor(rng.standard_normal(3), requires_grad=True)
    with dp.no_grad():
        for y in (fused(x, np.ones(3)), Softsign.apply(x), split_stats(dp.reshape(x, (1, 3)))[0]):
            assert not y.requires_grad
    np.testing.assert_allclose(fused(x, np.ones(3)).data, np.sin(x.data))


def test_custom_functions_inside_a_checkpoint_give_identical_gradients(rng):
    x, w = rng.standard_normal((4, 3)), dp.tensor(rng.standard_normal(3), requires_grad=True)

    def block(h, w):
        return Softsign.apply(fused(h, w))
    grads = []
    for use_checkpoint in (False, True):
        w.grad = None
        xt = dp.tensor(x, requires_grad=True)
        h = dp.checkpoint(block, xt, w) if use_checkpoint else block(xt, w)
        dp.sum(h ** 3).backward()
        grads.append((xt.grad, w.grad))
    assert np.array_equal(grads[0][0], grads[1][0]) and np.array_equal(grads[0][1], grads[1][1])


def test_tape_stats_count_custom_residuals(rng):
    x = dp.tensor(rng.standard_normal((100, 10)), requires_grad=True)
    stats = dp.tape_stats(fused(x, np.ones(10)))
    # the output (8,000 B) and three residuals: cos x, sin x (8,000 B each) and w (80 B)
    assert stats["nodes"] == 1 and stats["saved_bytes"] == 3 * 8000 + 80
    stats = dp.tape_stats(Softsign.apply(x))
    assert stats["saved_bytes"] == 2 * 8000                  # output and the saved denominator


# ---- custom_jvp ----------------------------------------------------------------------------------
@dp.custom_jvp
def log1pexp(x):
    """log(1 + e^x); written naively its forward-mode derivative overflows for large x."""
    return dp.log(1 + dp.exp(x))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return np.logaddexp(0, x), t * (1 / (1 + np.exp(-x)))


def test_custom_jvp_rule_is_used_in_forward_mode(rng):
    x = np.array([-3.0, 0.5, 800.0])
    with np.errstate(over="ignore", invalid="ignore"):
        _, t = dp.jvp(log1pexp, (x,), (np.ones(3),))
        J = dp.jacobian(log1pexp, mode="fwd")(x)
    np.testing.assert_allclose(t, 1 / (1 + np.exp(-x)))     # the naive body gives nan at 800
    np.testing.assert_allclose(J, np.diag(t))
    assert dp.gradcheck(lambda x: log1pexp(x) * x, rng.standard_normal(4), modes=("rev", "fwd"))


def test_custom_jvp_composes_with_other_operations_in_forward_mode(rng):
    A = rng.standard_normal((2, 3))
    x, t = rng.standard_normal(3), rng.standard_normal(3)
    _, got = dp.jvp(lambda x: dp.sin(A @ log1pexp(x * 2)), (x,), (t,))
    sig = 1 / (1 + np.exp(-2 * x))
    expected = np.cos(A @ np.logaddexp(0, 2 * x)) * (A @ (sig * 2 * t))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_custom_jvp_body_is_differentiated_in_reverse_mode(rng):
    x = rng.standard_normal(3)
    np.testing.assert_allclose(dp.grad(lambda x: dp.sum(log1pexp(x)))(x), 1 / (1 + np.exp(-x)), rtol=1e-12)


# ---- errors ----------------------------------------------------------------------------------------

def test_wrong_number_of_gradients_names_the_function(rng):
    @dp.custom_vjp
    def mul(x, y):
        return x * y
    mul.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g * res[1],))
    with pytest.raises(ValueError, match=r"'mul' returned 1 gradient\(s\), expected 2"):
        dp.grad(lambda x: dp.sum(mul(x, x)))(rng.standard_normal(3))

    class Twice(dp.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g, 2 * g
    with pytest.raises(ValueError, match=r"'Twice' returned 2 gradient\(s\), expected 1"):
        dp.sum(Twice.apply(dp.tensor(np.ones(3), requires_grad=True))).backward()


def test_wrong_gradient_shape_names_function_argument_and_shapes(rng):
    @dp.custom_vjp
    def scale(x, w):
        return x * w
    scale.defvjp(lambda x, w: (x * w, (x, w)), lambda res, g: (g * res[1], g * res[0]))   # w's not summed
    x, w = dp.tensor(rng.standard_normal((4, 3)), requires_grad=True), dp.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"'scale': gradient for argument 1 has shape \(4, 3\), "
                                         r"expected \(3,\)"):
        dp.sum(scale(x, w)).backward()


def test_custom_vjp_needs_its_rule_and_has_no_forward_mode(rng):
    @dp.custom_vjp
    def bare(x):
        return x
    with pytest.raises(TypeError, match="defvjp"):
        bare(np.ones(2))
    with pytest.raises(NotImplementedError, match="'fused'.*custom_jvp"):
        dp.jvp(lambda x: fused(x, np.ones(3)), (np.ones(3),), (np.ones(3),))
    with pytest.raises(NotImplementedError, match="'Softsign'"):
        dp.jacobian(Softsign.apply, mode="fwd")(np.ones(3))


def test_wrong_tangent_shape_of_a_custom_jvp_names_the_function():
    @dp.custom_jvp
    def total(x):
        return dp.sum(x)
    total.defjvp(lambda primals, tangents: (np.sum(primals[0]), tangents[0]))      # forgot to sum
    with pytest.raises(ValueError, match=r"'total' returned a tangent of shape \(3,\), expected \(\)"):
        dp.jvp(total, (np.ones(3),), (np.ones(3),))
