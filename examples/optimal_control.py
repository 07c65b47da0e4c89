"""Discrete-time linear-quadratic control by gradient descent through the unrolled dynamics.

    x_{k+1} = A x_k + B u_k,   J(u) = 1/2 sum_{k<N} (x_k^T Q x_k + u_k^T R u_k) + 1/2 x_N^T Q_N x_N

for a double integrator (position, velocity; force input). Reverse mode through the rollout is the
discrete maximum principle: the cotangent that backpropagation carries into x_k is the costate

    lambda_N = Q_N x_N,   lambda_k = Q x_k + A^T lambda_{k+1},

and dJ/du_k = R u_k + B^T lambda_{k+1} = dH_k/du_k. Gradient descent (Nesterov, step 1/L from
the Hessian's largest eigenvalue) drives that to zero; the optimum equals the LQR feedback
u_k = -K_k x_k of the backward Riccati recursion.

    python examples/optimal_control.py [--out DIR]       # seconds; writes optimal_control.json
"""
import argparse
import json
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp                  # noqa: E402
from _common import output_folder      # noqa: E402


def double_integrator(dt=0.1):
    a = np.array([[1.0, dt], [0.0, 1.0]])
    b = np.array([[0.5 * dt * dt], [dt]])
    return a, b


def problem(horizon=40, dt=0.1):
    """(A, B, Q, R, Q_N, x0, horizon) of the example."""
    a, b = double_integrator(dt)
    return dict(a=a, b=b, q=np.diag([1.0, 0.1]), r=np.array([[0.1]]), q_final=np.diag([10.0, 1.0]),
                x0=np.array([1.0, 0.0]), horizon=horizon)


def rollout(u, p, offsets=None):
    """States x_0..x_N (as a list) under controls u (N, m); ``offsets`` (N+1, n), all zero, are added
    to each state so that dJ/d offsets_k is the cotangent backpropagation carries into x_k."""
    x = p["x0"] if offsets is None else p["x0"] + offsets[0]
    states = [x]
    for k in range(p["horizon"]):
        x = p["a"] @ x + p["b"] @ u[k]
        if offsets is not None:
            x = x + offsets[k + 1]
        states.append(x)
    return states


def cost(u, p, offsets=None):
    states = rollout(u, p, offsets)
    running = sum(x @ (p["q"] @ x) for x in states[:-1]) + dp.sum(u * (u @ p["r"].T))
    return 0.5 * (running + states[-1] @ (p["q_final"] @ states[-1]))


def costates(u, p):
    """The discrete maximum principle's costates lambda_0..lambda_N for controls u (N+1, n)."""
    states = [dp.tensor(x).data for x in rollout(u, p)]
    lam = [p["q_final"] @ states[-1]]
    for k in range(p["horizon"] - 1, -1, -1):
        lam.insert(0, p["q"] @ states[k] + p["a"].T @ lam[0])
    return np.array(lam)


def backpropagated_adjoints(u, p):
    """dJ/dx_k for every k, by reverse mode through the rollout."""
    zeros = np.zeros((p["horizon"] + 1, len(p["x0"])))
    return dp.grad(lambda e: cost(u, p, e))(zeros)


def riccati(p):
    """Finite-horizon LQR: gains K_k and the optimal controls and states from x0."""
    a, b, q, r = p["a"], p["b"], p["q"], p["r"]
    s = p["q_final"]
    gains = []
    for _ in range(p["horizon"]):
        k = np.linalg.solve(r + b.T @ s @ b, b.T @ s @ a)
        s = q + a.T @ s @ (a - b @ k)
        gains.insert(0, k)
    x, controls = p["x0"], []
    for k in gains:
        controls.append(-k @ x)
        x = a @ x + b @ controls[-1]
    return np.array(gains), np.array(controls), s


def gradient_descent(p, tolerance=1e-10, max_iterations=20000, progress=False):
    """Minimise J over u by Nesterov's accelerated gradient with step 1/L; returns (u, iterations)."""
    m = p["b"].shape[1]
    u = np.zeros((p["horizon"], m))
    hessian = dp.hessian(lambda v: cost(v, p))(u).reshape(u.size, u.size)
    eigenvalues = np.linalg.eigvalsh(hessian)
    step, mu = 1.0 / eigenvalues[-1], eigenvalues[0]
    momentum = (1 - np.sqrt(mu * step)) / (1 + np.sqrt(mu * step))
    gradient = dp.grad(cost)
    y, previous = u.copy(), u.copy()
    for i in tqdm(range(max_iterations), desc="gradient descent", disable=not progress):
        g = gradient(y, p)
        u = y - step * g
        y = u + momentum * (u - previous)
        previous = u
        if np.linalg.norm(gradient(u, p)) < tolerance:
            return u, i + 1
    return u, max_iterations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the same problem (it takes seconds)")
    parser.add_argument("--out", default=None, help="output folder (default examples/output)")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    p = problem()
    u, iterations = gradient_descent(p, progress=True)
    _, u_lqr, s0 = riccati(p)
    lam = costates(u, p)
    adjoints = backpropagated_adjoints(u, p)
    grad_u = dp.grad(cost)(u, p)
    print(f"gradient descent: {iterations} iterations, J = {cost(u, p).item():.10f}")
    print(f"Riccati (LQR):    J = {0.5 * p['x0'] @ s0 @ p['x0']:.10f}")
    print(f"max |u_gd - u_lqr|                       = {np.abs(u - u_lqr).max():.2e}")
    print(f"max |backprop adjoint - costate|         = {np.abs(adjoints - lam).max():.2e}")
    residual = u @ p["r"].T + lam[1:] @ p["b"]
    print(f"max |dJ/du - (R u + B^T lambda_(k+1))|   = {np.abs(grad_u - residual).max():.2e}")
    results = dict(iterations=iterations, control_difference=float(np.abs(u - u_lqr).max()),
                   adjoint_difference=float(np.abs(adjoints - lam).max()),
                   gradient_residual=float(np.abs(grad_u - residual).max()))
    with open(os.path.join(out, "optimal_control.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"numbers written to {out}")
    return results


if __name__ == "__main__":
    main()
