"""odeint: accuracy against closed forms and SciPy, gradients against the matrix exponential's
Frechet derivative, adjoint versus backpropagation through the solver."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm, expm_frechet

import diffprog as dp
from diffprog.ode import odeint

rng = np.random.default_rng(0)
A = rng.standard_normal((4, 4)) * 0.5
Z0 = rng.standard_normal(4)
W = rng.standard_normal(4)
T = 2.0


def linear(t, z, a):
    return a @ z


def linear_loss(z0, a, method, adjoint, **kw):
    return dp.sum(odeint(linear, z0, np.array([0.0, T]), params=a, method=method, adjoint=adjoint, **kw)[-1] * W)


def expm_gradients():
    """d/dz0 and d/dA of W . expm(A T) z0 from the matrix exponential and its Frechet derivative."""
    g_z0 = expm(A * T).T @ W
    g_a = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            e = np.zeros((4, 4))
            e[i, j] = T
            g_a[i, j] = W @ expm_frechet(A * T, e, compute_expm=False) @ Z0
    return g_z0, g_a


@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("tol", [1e-3, 1e-6, 1e-9])
def test_linear_ode_gradients_dopri5_within_ten_times_tolerance(tol, adjoint):
    g_z0, g_a = dp.grad(linear_loss, argnums=(0, 1))(Z0, A, "dopri5", adjoint, rtol=tol, atol=tol)
    ref_z0, ref_a = expm_gradients()
    assert np.abs(g_z0 - ref_z0).max() <= 10 * tol
    assert np.abs(g_a - ref_a).max() <= 10 * tol


@pytest.mark.parametrize("adjoint", [False, True])
def test_linear_ode_rk4_h001_gradients_below_1e8(adjoint):
    value = odeint(linear, Z0, np.array([0.0, T]), params=A, method="rk4", step_size=0.01)[-1].data
    np.testing.assert_allclose(value, expm(A * T) @ Z0, atol=1e-8)
    g_z0, g_a = dp.grad(linear_loss, argnums=(0, 1))(Z0, A, "rk4", adjoint, step_size=0.01)
    ref_z0, ref_a = expm_gradients()
    assert np.abs(g_z0 - ref_z0).max() < 1e-8
    assert np.abs(g_a - ref_a).max() < 1e-8


def _pendulum_mlp(t, y, params):
    w1, b1, w2, k = params
    h = dp.tanh(y @ w1 + b1)
    return dp.stack([y[:, 1], -k * dp.sin(y[:, 0])], axis=-1) + h @ w2 * dp.cos(t)


def _nonlinear_problem():
    r = np.random.default_rng(3)
    params = [r.standard_normal((2, 8)) * 0.5, r.standard_normal(8) * 0.1, r.standard_normal((8, 2)) * 0.3,
              np.array(1.3)]
    y0 = r.standard_normal((5, 2))
    times = np.array([0.0, 0.4, 1.1, 1.5])
    weights = r.standard_normal((4, 5, 2))
    return params, y0, times, weights


@pytest.mark.parametrize("step_size", [0.05, 0.02])
def test_adjoint_agrees_with_backprop_on_the_same_rk4_grid(step_size):
    params, y0, times, weights = _nonlinear_problem()

    def loss(y0, params, t, adjoint):
        ys = odeint(_pendulum_mlp, y0, t, params=params, method="rk4", adjoint=adjoint, step_size=step_size)
        return dp.sum(ys ** 2 * weights)          # observations at every output time
    grads = {adj: dp.grad(loss, argnums=(0, 1, 2))(y0, params, times, adj) for adj in (False, True)}
    direct, adj = grads[False], grads[True]
    leaves_d = [direct[0], *direct[1], direct[2]]
    leaves_a = [adj[0], *adj[1], adj[2]]
    for d, a in zip(leaves_d, leaves_a):
        assert np.linalg.norm(d - a) <= 1e-6 * np.linalg.norm(d)


def test_euler_gradients_converge_to_the_exact_ones():
    exact = expm_gradients()[1]
    errors = [np.abs(dp.grad(linear_loss, argnums=1)(Z0, A, "euler", adj, step_size=h) - exact).max()
              for h in (0.02, 0.01) for adj in (False, True)]
    assert errors[2] < 0.6 * errors[0] and errors[3] < 0.6 * errors[1] and errors[2] < 0.1


def test_multiple_output_times_gradients_match_finite_differences():
    params, y0, times, weights = _nonlinear_problem()

    def loss(y0, k, t):
        ys = odeint(_pendulum_mlp, y0, t, params=params[:3] + [k], method="dopri5", rtol=1e-10, atol=1e-10,
                    adjoint=True)
        return dp.sum(ys ** 2 * weights)
    dp.gradcheck(loss, y0, np.array(1.3), times, eps=1e-5, atol=1e-6, rtol=1e-5)


def test_time_gradients_backprop_mode():
    def loss(y0, t):
        return dp.sum(odeint(lambda tt, y: -y * (1 + tt), y0, t, method="dopri5", rtol=1e-10, atol=1e-10) ** 2)
    dp.gradcheck(loss, np.array([1.0, -0.5]), np.array([0.1, 0.5, 0.9]), eps=1e-5, atol=1e-6)


@pytest.mark.parametrize("tol", [1e-6, 1e-9])
def test_adaptive_step_control_meets_tolerance_against_solve_ivp(tol):
    mu = 1.5

    def vdp(t, y):
        return dp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])
    times = np.linspace(0.0, 6.0, 7)
    y0 = np.array([2.0, 0.0])
    stats = {}
    ours = odeint(vdp, y0, times, rtol=tol, atol=tol, stats=stats).data
    ref = solve_ivp(lambda t, y: [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]], (0, 6), y0, t_eval=times,
                    method="DOP853", rtol=1e-13, atol=1e-13).y.T
    assert np.abs(ours - ref).max() < 50 * tol * (1 + np.abs(ref).max())      # global error of a local control
    assert stats["forward"]["steps"] > 10
    # the same Dormand-Prince pair in SciPy at the same tolerances: no less accurate, no costlier
    rk45 = solve_ivp(lambda t, y: [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]], (0, 6), y0, t_eval=times,
                     method="RK45", rtol=tol, atol=tol)
    assert np.abs(ours - ref).max() <= 2 * np.abs(rk45.y.T - ref).max()
    assert stats["forward"]["evaluations"] <= 1.5 * rk45.nfev
    loose = {}
    odeint(vdp, y0, times, rtol=1e-3, atol=1e-3, stats=loose)
    assert loose["forward"]["steps"] < stats["forward"]["steps"]


def test_decreasing_times_and_float32():
    ys = odeint(lambda t, y: -y, np.float32([1.0, 2.0]), np.array([1.0, 0.0]), method="rk4", step_size=0.01)
    assert ys.dtype == np.float32
    np.testing.assert_allclose(ys.data[-1], np.exp(1.0) * np.array([1.0, 2.0]), rtol=1e-5)


def test_errors_name_the_argument():
    f = lambda t, y: -y
    with pytest.raises(ValueError, match="method"):
        odeint(f, np.ones(2), [0.0, 1.0], method="rk45")
    with pytest.raises(ValueError, match="strictly"):
        odeint(f, np.ones(2), [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="shape"):
        odeint(lambda t, y: dp.sum(y), np.ones(2), [0.0, 1.0])
    with pytest.raises(TypeError, match="callable"):
        odeint(None, np.ones(2), [0.0, 1.0])
    with pytest.raises(RuntimeError, match="max_steps"):
        odeint(lambda t, y: -1e6 * (y - dp.cos(t)), np.ones(2), [0.0, 10.0], max_steps=50)


def test_tensor_parameters_receive_grad_in_both_modes():
    grads = []
    for adjoint in (False, True):
        params = {"a": dp.tensor(A, requires_grad=True)}
        ys = odeint(lambda t, z, p: p["a"] @ z, Z0, [0.0, 1.0, T], params=params, method="rk4", step_size=0.02,
                    adjoint=adjoint)
        dp.sum(ys * W).backward()
        grads.append(params["a"].grad)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-7)


def test_adjoint_memory_does_not_grow_with_the_number_of_steps():
    import gc
    import tracemalloc
    params = [rng.standard_normal((2, 16)), rng.standard_normal((16, 2))]
    field = lambda t, y, p: dp.tanh(y @ p[0]) @ p[1]
    y0 = rng.standard_normal((64, 2))
    held = {}
    for adjoint in (False, True):       # warm-up: lazy imports and caches are not what is measured
        odeint(field, y0, [0.0, 1.0], params=[dp.tensor(p, requires_grad=True) for p in params], method="rk4",
               step_size=0.1, adjoint=adjoint)
    for adjoint in (False, True):
        for steps in (20, 200):
            ps = [dp.tensor(p, requires_grad=True) for p in params]
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            ys = odeint(field, y0, [0.0, 1.0], params=ps, method="rk4", step_size=1.0 / steps, adjoint=adjoint)
            gc.collect()
            held[adjoint, steps] = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            dp.sum(ys).backward()
    # ~5 KB held either way; 2 KB of slack for allocator and interpreter noise (a store that grew with the
    # steps would hold ~10x more at 200 steps)
    assert held[True, 200] <= 1.1 * held[True, 20] + 2048
    assert held[False, 200] > 5 * held[False, 20] > 50 * held[True, 20]


def test_neural_ode_spiral_example_learns():
    import importlib.util
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location("spiral", os.path.join(root, "examples", "neural_ode_spiral.py"))
    spiral = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(spiral)
    r = np.random.default_rng(0)
    t, y = spiral.make_data(samples=300, t_max=7.5)
    params = spiral.init_params(r)
    before = spiral.trajectory_error(params, t, y)
    trained, losses = spiral.train(params, t, y, spiral.batches(r, len(t), 150))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    assert spiral.trajectory_error(trained, t, y) < 0.5 * before


def test_nn_module_as_vector_field_in_both_modes():
    model = dp.nn.Sequential(dp.nn.Linear(2, 16, rng=0), dp.nn.Tanh(), dp.nn.Linear(16, 2, rng=1))
    params = list(model.parameters())
    y0 = rng.standard_normal((8, 2))
    grads = []
    for adjoint in (False, True):
        for p in params:
            p.grad = None
        ys = odeint(lambda t, y, p: model(y ** 3), y0, [0.0, 0.5, 1.0], params=params, method="rk4",
                    step_size=0.05, adjoint=adjoint)
        dp.sum(ys ** 2).backward()
        grads.append([p.grad.copy() for p in params])
    for d, a in zip(*grads):
        np.testing.assert_allclose(a, d, rtol=1e-6, atol=1e-9)
