"""Higher derivatives: Hessians, grad of grad, backward(create_graph=True), double-backward
gradcheck of the elementwise and linear-algebra primitives, Hessian-vector products vs PyTorch."""
import numpy as np
import pytest

import diffprog as dp


def rosenbrock(x):
    return dp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    """The analytic Hessian of sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2."""
    n = x.size
    H = np.zeros((n, n))
    i = np.arange(n - 1)
    H[i, i] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    H[i + 1, i + 1] += 200
    H[i, i + 1] = H[i + 1, i] = -400 * x[:-1]
    return H


def test_hessian_of_a_quadratic_form_is_the_symmetrized_matrix(rng):
    Q = rng.standard_normal((4, 4))                          # not symmetric
    x = rng.standard_normal(4)
    H = dp.hessian(lambda x: 0.5 * x @ Q @ x)(x)
    np.testing.assert_allclose(H, 0.5 * (Q + Q.T), atol=1e-13)
    H_fwd_over_rev = dp.jacobian(dp.grad(lambda x: 0.5 * x @ Q @ x), mode="fwd")(x)
    np.testing.assert_allclose(H_fwd_over_rev, 0.5 * (Q + Q.T), atol=1e-13)


def test_hessian_of_rosenbrock_matches_the_analytic_one(rng):
    for x in (np.ones(5), rng.standard_normal(5), np.array([-1.2, 1.0])):
        np.testing.assert_allclose(dp.hessian(rosenbrock)(x), rosenbrock_hessian(x), rtol=1e-12, atol=1e-9)


def test_hessian_with_respect_to_a_matrix_argument(rng):
    A, x = rng.standard_normal((2, 3)), rng.standard_normal(3)
    H = dp.hessian(lambda x, A: dp.sum(dp.tanh(A @ x)), argnums=1)(x, A)
    assert H.shape == (2, 3, 2, 3)
    s = 1 - np.tanh(A @ x) ** 2
    expected = np.einsum("i,ik,j,l->ijkl", -2 * np.tanh(A @ x) * s, np.eye(2), x, x)
    np.testing.assert_allclose(H, expected, atol=1e-12)


def test_grad_of_grad_and_deeper():
    d1 = dp.grad(lambda x: dp.sin(x) * x)
    d2 = dp.grad(d1)
    d3 = dp.grad(d2)
    for x in (0.3, -1.7, 2.0):
        assert np.isclose(d1(x), np.cos(x) * x + np.sin(x))
        assert np.isclose(d2(x), 2 * np.cos(x) - x * np.sin(x))
        assert np.isclose(d3(x), -3 * np.sin(x) - x * np.cos(x))


def test_grad_of_grad_of_several_arguments(rng):
    def f(x, y):
        return dp.sum(dp.exp(x) * y ** 3)
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    mixed = dp.jacobian(dp.grad(f, argnums=0), argnums=1)(x, y)       # d/dy (df/dx)
    np.testing.assert_allclose(mixed, np.diag(3 * np.exp(x) * y ** 2), atol=1e-12)


def test_backward_with_create_graph_builds_a_differentiable_gradient(rng):
    x = dp.tensor(rng.standard_normal(4), requires_grad=True)
    W = dp.tensor(rng.standard_normal((4, 4)), requires_grad=True)
    loss = dp.sum(dp.tanh(W @ x) ** 2)
    loss.backward(create_graph=True)
    g = x.grad
    assert isinstance(g, dp.Tensor) and g.requires_grad
    x.grad = W.grad = None
    penalty = dp.sum(g * g)                                  # a gradient penalty
    penalty.backward()

    def penalty_of(x, W):
        return dp.sum(dp.grad(lambda x: dp.sum(dp.tanh(W @ x) ** 2))(x) ** 2)
    gx, gW = dp.grad(penalty_of, argnums=(0, 1))(x.data, W.data)
    np.testing.assert_allclose(x.grad, gx, rtol=1e-10)
    np.testing.assert_allclose(W.grad, gW, rtol=1e-10)
    dp.gradcheck(penalty_of, x.data, W.data)


ELEMENTWISE = [
    ("exp", dp.exp, "normal"), ("log", dp.log, "positive"), ("log1p", dp.log1p, "positive"),
    ("expm1", dp.expm1, "normal"), ("sqrt", dp.sqrt, "positive"), ("sin", dp.sin, "normal"),
    ("cos", dp.cos, "normal"), ("tan", dp.tan, "unit"), ("arcsin", dp.arcsin, "unit"),
    ("arccos", dp.arccos, "unit"), ("arctan", dp.arctan, "normal"), ("sinh", dp.sinh, "normal"),
    ("cosh", dp.cosh, "normal"), ("tanh", dp.tanh, "normal"), ("sigmoid", dp.sigmoid, "normal"),
    ("softplus", dp.softplus, "normal"), ("reciprocal", dp.reciprocal, "positive"),
    ("square", dp.square, "normal"), ("relu", lambda x: dp.relu(x) ** 2, "normal"),
    ("abs", lambda x: dp.abs(x) ** 3, "normal"),
    ("power", lambda x: dp.power(x, 2.5) + dp.power(1.5, x), "positive"),
    ("power both", lambda x: x ** (x * 0.5), "positive"),
    ("multiply", lambda x: x * dp.flip(x), "normal"), ("divide", lambda x: dp.sin(x) / (1.5 + x * x), "normal"),
    ("arctan2", lambda x: dp.arctan2(x, dp.flip(x) + 3.0), "normal"),
    ("maximum", lambda x: dp.maximum(x * x, dp.flip(x)), "normal"),
    ("where", lambda x: dp.where(x > 0, x ** 3, dp.sin(x)), "normal"),
    ("clip", lambda x: dp.clip(x, -0.5, 0.7) * x, "normal"),
]
LINEAR_ALGEBRA = [
    ("matmul", lambda A, B: dp.tanh(A @ B) * (A @ B)),
    ("batched matmul", lambda A, B: dp.stack([A, A * A]) @ dp.sin(B)),
    ("matrix-vector", lambda A, B: (A @ B[:, 0]) ** 2),
    ("vector-matrix", lambda A, B: (A[0] @ B) ** 3),
    ("einsum", lambda A, B: dp.einsum("ij,jk,ik->i", A, B, dp.exp(A @ B))),
    ("dot", lambda A, B: dp.dot(A, B) * dp.dot(A[0], A[1])),
    ("inner/outer", lambda A, B: dp.inner(A, A) @ dp.outer(A[:, 0], B[0])),
    ("trace", lambda A, B: dp.trace(A.T @ A @ B @ B) * dp.trace(B)),
    ("cross", lambda A, B: dp.cross(A, B.T[:2]) ** 2),
    ("norm", lambda A, B: dp.norm(A @ B) * dp.norm(A, axis=1)),
    ("logsumexp", lambda A, B: dp.logsumexp(A @ B, axis=1)),
    ("softmax", lambda A, B: dp.softmax(A @ B, axis=0) * dp.log_softmax(A @ B, axis=1)),
    ("prod", lambda A, B: dp.prod(A @ B, axis=1)),
    ("sum/mean/var", lambda A, B: dp.var(A @ B, axis=0) * dp.mean(A)),
]


def _draw(rng, kind, shape):
    if kind == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "unit":
        return rng.uniform(-0.8, 0.8, shape)
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.2, 0.5, x)                   # away from kinks of relu/abs/where


@pytest.mark.parametrize("name,fn,kind", ELEMENTWISE, ids=[r[0] for r in ELEMENTWISE])
def test_double_backward_of_elementwise_primitives(name, fn, kind):
    x = _draw(np.random.default_rng(3), kind, (4,))
    assert dp.gradcheck(fn, x, order=2, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name,fn", LINEAR_ALGEBRA, ids=[r[0] for r in LINEAR_ALGEBRA])
def test_double_backward_of_linear_algebra(name, fn):
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((2, 3)) * 0.7, rng.standard_normal((3, 3)) * 0.7
    assert dp.gradcheck(fn, A, B, order=2, atol=1e-5, rtol=1e-4)


def test_gradcheck_order_two_catches_a_wrong_second_derivative():
    from diffprog.autodiff import backend as B
    # right first derivative, but its rule uses the raw value of x: not differentiable again
    wrong = dp.Primitive("square_with_raw_rule", np.square, vjps=[lambda g, ans, x: g * 2 * B.data(x)])
    x = np.array([0.5, -1.0])
    assert dp.gradcheck(lambda x: dp.apply(wrong, x), x)
    with pytest.raises(AssertionError, match="gradcheck"):
        dp.gradcheck(lambda x: dp.apply(wrong, x), x, order=2)


def _torch_hvp(fn, x, v):
    torch = pytest.importorskip("torch")
    _, hv = torch.autograd.functional.hvp(fn, torch.tensor(x), torch.tensor(v))
    return hv.numpy()


def test_hvp_agrees_with_torch(rng):
    torch = pytest.importorskip("torch")
    x, v = rng.standard_normal(6), rng.standard_normal(6)
    np.testing.assert_allclose(
        dp.hvp(rosenbrock, x, v),
        _torch_hvp(lambda x: torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2), x, v), rtol=1e-12)
    A, b = rng.standard_normal((5, 6)), rng.standard_normal(5)
    np.testing.assert_allclose(
        dp.hvp(lambda x: dp.logsumexp(A @ dp.tanh(x)) + dp.sum(dp.sigmoid(A @ x - b) ** 2), x, v),
        _torch_hvp(lambda x: torch.logsumexp(torch.tensor(A) @ torch.tanh(x), 0)
                   + torch.sum(torch.sigmoid(torch.tensor(A) @ x - torch.tensor(b)) ** 2), x, v), rtol=1e-10)


def test_hvp_does_not_need_the_hessian(rng):
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    np.testing.assert_allclose(dp.hvp(rosenbrock, x, v), rosenbrock_hessian(x) @ v, rtol=1e-12)
    n = 2000                                         # a 2000 x 2000 Hessian would take 1,000 passes
    x, v = rng.standard_normal(n), rng.standard_normal(n)
    hv = dp.hvp(rosenbrock, x, v)
    i = np.arange(n - 1)
    expected = np.zeros(n)
    np.add.at(expected, i, (1200 * x[:-1] ** 2 - 400 * x[1:] + 2) * v[:-1] - 400 * x[:-1] * v[1:])
    np.add.at(expected, i + 1, 200 * v[1:] - 400 * x[:-1] * v[:-1])
    np.testing.assert_allclose(hv, expected, rtol=1e-11, atol=1e-8)


def test_double_backward_through_a_custom_vjp_is_refused_with_its_name():
    @dp.custom_vjp
    def cube(x):
        return x ** 3
    cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * x ** 2 * g,))
    assert np.isclose(dp.grad(lambda x: dp.sum(cube(x)))(np.array([2.0]))[0], 12.0)
    with pytest.raises(NotImplementedError, match="'cube'"):
        dp.hessian(lambda x: dp.sum(cube(x)))(np.array([2.0]))


def test_gradcheck_checks_its_options():
    with pytest.raises(ValueError, match="modes must be"):
        dp.gradcheck(dp.sin, np.ones(2), modes=("forward",))
    with pytest.raises(ValueError, match="order must be"):
        dp.gradcheck(dp.sin, np.ones(2), order=0)
    assert dp.gradcheck(dp.sin, np.ones(2), modes="fwd", order=3)
