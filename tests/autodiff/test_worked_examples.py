"""The worked examples users try first, checked against closed forms."""
import numpy as np

import diffprog as dp


def test_log_of_x_plus_exp_y_over_x_at_1_2():
    x, y = dp.tensor(1.0, requires_grad=True), dp.tensor(2.0, requires_grad=True)
    f = dp.log(x + dp.exp(y / x))
    f.backward()
    e2 = np.exp(2.0)
    np.testing.assert_allclose(f.item(), np.log(1 + e2), rtol=1e-15)
    np.testing.assert_allclose(x.grad, (1 - 2 * e2) / (1 + e2), rtol=1e-14)   # (1 - y/x^2 e^{y/x}) / (x + e^{y/x})
    np.testing.assert_allclose(y.grad, e2 / (1 + e2), rtol=1e-14)             # (e^{y/x} / x) / (x + e^{y/x})
    val, (gx, gy) = dp.value_and_grad(lambda x, y: dp.log(x + dp.exp(y / x)), argnums=(0, 1))(1.0, 2.0)
    assert (val, gx, gy) == (f.item(), x.grad, y.grad)


def test_logistic_regression_gradient_matches_closed_form():
    rng = np.random.default_rng(0)
    n, d = 200, 5
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.4).astype(float)
    w = rng.standard_normal(d) * 0.5

    def loss(w):
        p = dp.sigmoid(X @ w)
        return -dp.mean(y * dp.log(p) + (1 - y) * dp.log(1 - p))

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    expected = X.T @ (sigmoid(X @ w) - y) / n
    np.testing.assert_allclose(dp.grad(loss)(w), expected, rtol=1e-12, atol=1e-15)

    # the same with a stable formulation (softplus) and in float32
    def loss_stable(w):
        z = X.astype(w.dtype) @ w
        return dp.mean(dp.softplus(z) - y.astype(w.dtype) * z)
    np.testing.assert_allclose(dp.grad(loss_stable)(w), expected, rtol=1e-12, atol=1e-15)
    g32 = dp.grad(loss_stable)(w.astype(np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, expected, rtol=1e-4, atol=1e-6)


def test_frobenius_residual_gradient_is_two_at_times_residual():
    rng = np.random.default_rng(1)
    A, X, B = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal((6, 3))

    def f(A, X, B):
        R = A @ X - B
        return dp.sum(R * R)

    R = A @ X - B
    np.testing.assert_allclose(dp.grad(f, argnums=1)(A, X, B), 2 * A.T @ R, rtol=1e-12)
    Xt = dp.tensor(X, requires_grad=True)
    loss = dp.norm(A @ Xt - B) ** 2          # the same loss written with norm
    loss.backward()
    np.testing.assert_allclose(Xt.grad, 2 * A.T @ R, rtol=1e-12)
    np.testing.assert_allclose(loss.item(), np.linalg.norm(R, "fro") ** 2, rtol=1e-12)


def test_a_value_feeding_two_branches():
    x = dp.tensor(0.8, requires_grad=True)
    y = dp.sin(x)                           # y feeds both branches
    left, right = dp.exp(y), y * y
    z = left * right
    z.backward()
    s, c = np.sin(0.8), np.cos(0.8)
    np.testing.assert_allclose(x.grad, (np.exp(s) * s * s + np.exp(s) * 2 * s) * c, rtol=1e-14)


def test_an_if_on_data():
    def f(x):
        if x.item() > 0:
            return x * x
        return -3 * x

    np.testing.assert_array_equal(dp.grad(f)(2.0), 4.0)
    np.testing.assert_array_equal(dp.grad(f)(-2.0), -3.0)


def test_the_readme_example():
    rng = np.random.default_rng(2)
    x = dp.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    W = dp.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    loss = dp.sum(dp.tanh(x @ W) ** 2) + 0.1 * dp.sum(dp.abs(W))
    loss.backward()
    t = np.tanh(x.data @ W.data)
    local = 2 * t * (1 - t ** 2)
    np.testing.assert_allclose(x.grad, local @ W.data.T, rtol=1e-12)
    np.testing.assert_allclose(W.grad, x.data.T @ local + 0.1 * np.sign(W.data), rtol=1e-12)


def test_a_small_training_loop_reduces_the_loss():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    w, b = np.zeros(3), 0.0
    loss = lambda w, b: dp.mean((X @ w + b - y) ** 2)  # noqa: E731
    first = float(loss(w, b).item())
    for _ in range(200):
        gw, gb = dp.grad(loss, argnums=(0, 1))(w, b)
        w, b = w - 0.1 * gw, b - 0.1 * gb
    assert float(loss(w, b).item()) < 1e-6 * first
    np.testing.assert_allclose(w, [1.0, -2.0, 0.5], atol=1e-4)
