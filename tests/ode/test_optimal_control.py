"""examples/optimal_control.py: backpropagated adjoints are the discrete maximum principle's
costates, and gradient descent through the unrolled dynamics reaches the Riccati (LQR) optimum."""
import importlib.util
import os

import numpy as np
import pytest

import diffprog as dp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("optimal_control", os.path.join(ROOT, "examples", "optimal_control.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_backpropagated_adjoints_are_the_costates_for_any_control(example):
    p = example.problem(horizon=15)
    u = np.random.default_rng(0).standard_normal((15, 1))
    lam = example.costates(u, p)
    np.testing.assert_allclose(example.backpropagated_adjoints(u, p), lam, atol=1e-12)
    # dJ/du_k = dH_k/du_k = R u_k + B^T lambda_{k+1}
    np.testing.assert_allclose(dp.grad(example.cost)(u, p), u @ p["r"].T + lam[1:] @ p["b"], atol=1e-12)


def test_gradient_descent_reaches_the_riccati_solution(example):
    p = example.problem(horizon=25)
    u, iterations = example.gradient_descent(p, tolerance=1e-11)
    assert iterations < 20000
    gains, u_lqr, s0 = example.riccati(p)
    np.testing.assert_allclose(u, u_lqr, atol=1e-9)
    np.testing.assert_allclose(example.cost(u, p).item(), 0.5 * p["x0"] @ s0 @ p["x0"], rtol=1e-12)
    # at the optimum the control is the LQR feedback of the state: u_k = -K_k x_k
    states = np.array([np.asarray(getattr(x, "data", x)) for x in example.rollout(u, p)])
    np.testing.assert_allclose(u[:, 0], -np.einsum("kij,kj->ki", gains, states[:-1])[:, 0], atol=1e-9)
