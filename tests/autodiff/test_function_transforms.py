"""The functional API: ``grad``, ``value_and_grad`` and ``vjp`` with argnums, has_aux and pytrees.
They take NumPy arrays, scalars or Tensors and return NumPy arrays shaped like the inputs."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import Tensor


def f(A, X, B):
    R = A @ X - B
    return dp.sum(R * R)


@pytest.fixture
def mats(rng):
    return rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal((4, 2))


def test_grad_argnums_int_returns_an_array_shaped_like_the_input(mats):
    A, X, B = mats
    g = dp.grad(f, argnums=1)(A, X, B)
    assert type(g) is np.ndarray and g.shape == X.shape and g.dtype == np.float64
    np.testing.assert_allclose(g, 2 * A.T @ (A @ X - B), rtol=1e-12)
    np.testing.assert_array_equal(dp.grad(f, argnums=-2)(A, X, B), g)
    np.testing.assert_allclose(dp.grad(f)(A, X, B), 2 * (A @ X - B) @ X.T, rtol=1e-12)


def test_value_and_grad_argnums_tuple(mats):
    A, X, B = mats
    val, (gA, gX) = dp.value_and_grad(f, argnums=(0, 1))(A, X, B)
    R = A @ X - B
    np.testing.assert_allclose(val, np.sum(R * R), rtol=1e-12)
    assert not isinstance(val, Tensor)
    np.testing.assert_allclose(gA, 2 * R @ X.T, rtol=1e-12)
    np.testing.assert_allclose(gX, 2 * A.T @ R, rtol=1e-12)
    (gB,) = dp.grad(f, argnums=(2,))(A, X, B)
    np.testing.assert_allclose(gB, -2 * R, rtol=1e-12)


def test_inputs_may_be_tensors_scalars_or_lists(mats):
    A, X, B = mats
    g = dp.grad(f, argnums=1)(dp.tensor(A), dp.tensor(X), B)
    assert type(g) is np.ndarray
    np.testing.assert_allclose(g, 2 * A.T @ (A @ X - B), rtol=1e-12)
    g = dp.grad(lambda x: x * x * x)(2.0)
    assert np.shape(g) == () and float(g) == 12.0
    g = dp.grad(lambda xs: xs[0] * xs[1] ** 2)([1.0, 2.0])     # a list is a pytree of two scalars
    assert isinstance(g, list) and [float(v) for v in g] == [4.0, 4.0]


def test_has_aux():
    def loss(w, x):
        pred = x @ w
        return dp.mean(pred ** 2), {"pred": pred, "note": "aux"}

    w, x = np.array([1.0, -2.0]), np.array([[1.0, 0.5], [2.0, 1.0]])
    g, aux = dp.grad(loss, has_aux=True)(w, x)
    np.testing.assert_allclose(g, 2 * x.T @ (x @ w) / 2)
    assert aux["note"] == "aux"
    np.testing.assert_allclose(np.asarray(aux["pred"]), x @ w)
    (val, aux2), g2 = dp.value_and_grad(loss, has_aux=True)(w, x)
    np.testing.assert_allclose(val, np.mean((x @ w) ** 2))
    np.testing.assert_array_equal(g, g2)


def test_pytree_arguments_tuple_list_dict():
    rng = np.random.default_rng(3)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2),
              "layers": [rng.standard_normal(2), (rng.standard_normal(()), rng.standard_normal((2, 2)))]}

    def model(p, x):
        h = dp.tanh(x @ p["W"] + p["b"]) * p["layers"][0]
        s, M = p["layers"][1]
        return dp.sum((h @ M) * s)

    x = rng.standard_normal((5, 3))
    g = dp.grad(model)(params, x)
    assert set(g) == {"W", "b", "layers"} and isinstance(g["layers"], list) and isinstance(g["layers"][1], tuple)
    leaves_p = [params["W"], params["b"], params["layers"][0], *params["layers"][1]]
    leaves_g = [g["W"], g["b"], g["layers"][0], *g["layers"][1]]
    for p, q in zip(leaves_p, leaves_g):
        assert type(q) is np.ndarray and q.shape == np.shape(p)

    # each leaf agrees with a gradcheck of the flattened function
    def flat(W, b, v, s, M):
        return model({"W": W, "b": b, "layers": [v, (s, M)]}, x)
    num = dp.grad(flat, argnums=(0, 1, 2, 3, 4))(*leaves_p)
    for a, b in zip(num, leaves_g):
        np.testing.assert_array_equal(a, b)
    dp.gradcheck(flat, *leaves_p)


def test_pytree_with_several_argnums():
    def loss(ws, bias):
        a, b = ws
        return dp.sum(a * b) + bias * 2.0

    (ga, gb), gbias = dp.grad(loss, argnums=(0, 1))((np.array([1.0, 2.0]), np.array([3.0, 4.0])), 0.5)
    np.testing.assert_array_equal(ga, [3.0, 4.0])
    np.testing.assert_array_equal(gb, [1.0, 2.0])
    assert float(gbias) == 2.0


def test_unused_argument_gets_zeros():
    g = dp.grad(lambda x, y: dp.sum(x), argnums=(0, 1))(np.ones(2), np.ones((2, 3)))
    np.testing.assert_array_equal(g[1], np.zeros((2, 3)))
    g = dp.grad(lambda x: 3.0)(np.ones(2))
    np.testing.assert_array_equal(g, np.zeros(2))


def test_keyword_arguments_pass_through():
    g = dp.grad(lambda x, scale=1.0: dp.sum(x) * scale)(np.ones(2), scale=3.0)
    np.testing.assert_array_equal(g, [3.0, 3.0])


def test_float32_arguments_give_float32_gradients():
    x = np.array([1.0, 2.0], np.float32)
    val, g = dp.value_and_grad(lambda x: dp.sum(dp.sin(x) * x))(x)
    assert g.dtype == np.float32 and np.asarray(val).dtype == np.float32


def test_transforms_do_not_touch_leaf_grads():
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    dp.grad(lambda t: dp.sum(t * t))(x)
    assert x.grad is None


def test_vjp(mats):
    A, X, B = mats
    out, vjp_fn = dp.vjp(f, A, X, B)
    R = A @ X - B
    np.testing.assert_allclose(out, np.sum(R * R))
    gA, gX, gB = vjp_fn(1.0)
    np.testing.assert_allclose(gX, 2 * A.T @ R, rtol=1e-12)
    np.testing.assert_allclose(gB, -2 * R, rtol=1e-12)
    gA2, _, _ = vjp_fn(np.float64(3.0))          # may be called again
    np.testing.assert_allclose(gA2, 3 * gA, rtol=1e-12)


def test_vjp_of_a_non_scalar_and_of_a_tuple_output():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2))
    out, vjp_fn = dp.vjp(lambda x: dp.tanh(x) * 2, x)
    assert type(out) is np.ndarray and out.shape == (3, 2)
    ct = rng.standard_normal((3, 2))
    (g,) = vjp_fn(ct)
    np.testing.assert_allclose(g, ct * 2 * (1 - np.tanh(x) ** 2), rtol=1e-12)

    out, vjp_fn = dp.vjp(lambda x, y: (dp.sum(x * y, axis=0), x - y), x, x * 2)
    assert isinstance(out, tuple) and out[0].shape == (2,) and out[1].shape == (3, 2)
    gx, gy = vjp_fn((np.ones(2), np.ones((3, 2))))
    np.testing.assert_allclose(gx, 2 * x + 1)
    np.testing.assert_allclose(gy, x - 1)


def test_vjp_with_pytree_primals():
    p = {"a": np.array([1.0, 2.0]), "b": np.array(3.0)}
    out, vjp_fn = dp.vjp(lambda p: p["a"] * p["b"], p)
    (g,) = vjp_fn(np.array([1.0, 1.0]))
    assert set(g) == {"a", "b"}
    np.testing.assert_array_equal(g["a"], [3.0, 3.0])
    assert float(g["b"]) == 3.0


def test_grad_of_grad():
    d2 = dp.grad(dp.grad(lambda x: x ** 3 + dp.sin(x)))
    np.testing.assert_allclose(d2(0.7), 6 * 0.7 - np.sin(0.7), rtol=1e-12)
