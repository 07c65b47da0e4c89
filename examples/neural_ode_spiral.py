"""Neural ODE: learn a 2-D spiral vector field with a small MLP from sampled trajectories.

The classic demo (Chen et al. 2018): data from dy/dt = (y^3) A with A = [[-0.1, 2], [-2, -0.1]],
y(0) = (2, 0), 1,000 samples on t in [0, 25]. The model is dy/dt = MLP(y^3), a 2-50-2 tanh network,
fitted on random 10-sample windows of the trajectory by RMSprop, with gradients from the adjoint
method (``--no-adjoint``: through the solver). Prints the trajectory error before and after;
writes neural_ode_spiral.json and, when matplotlib is installed (``pip install "diffprog[plots]"``),
a phase-portrait plot neural_ode_spiral.png under examples/output/ (or DIR).

    python examples/neural_ode_spiral.py [--iterations 1000] [--adjoint/--no-adjoint] [--out DIR]   # ~1 min
    python examples/neural_ode_spiral.py --smoke
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp                      # noqa: E402
from diffprog.ode import odeint            # noqa: E402
from _common import output_folder, pyplot  # noqa: E402

TRUE_A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
Y0 = np.array([2.0, 0.0])


def make_data(samples=1000, t_max=25.0, dtype=np.float64):
    """Times (samples,) and the true trajectory (samples, 2), by dopri5 at tight tolerance."""
    t = np.linspace(0.0, t_max, samples)
    y = odeint(lambda tt, y: (y ** 3) @ TRUE_A, Y0, t, rtol=1e-10, atol=1e-10).data
    return t.astype(dtype), y.astype(dtype)


def init_params(rng, hidden=50, dtype=np.float64):
    """The demo's initialisation: weights N(0, 0.1^2), biases 0. Order: w1 (2, h), b1, w2 (h, 2), b2."""
    return [(rng.standard_normal((2, hidden)) * 0.1).astype(dtype), np.zeros(hidden, dtype),
            (rng.standard_normal((hidden, 2)) * 0.1).astype(dtype), np.zeros(2, dtype)]


def field(t, y, params):
    """The learned vector field: tanh((y^3) w1 + b1) w2 + b2; y has shape (batch, 2)."""
    w1, b1, w2, b2 = params
    return dp.tanh((y ** 3) @ w1 + b1) @ w2 + b2


def batches(rng, samples, iterations, batch_time=10, batch_size=20):
    """Start indices of the random windows, one row of ``batch_size`` per iteration."""
    return rng.integers(0, samples - batch_time, size=(iterations, batch_size))


def train(params, t, y, starts, batch_time=10, lr=1e-3, adjoint=True, log_every=0, progress=False):
    """Fit ``params`` (a list of arrays) in place of a copy; returns the trained arrays and losses."""
    params = [dp.tensor(p, requires_grad=True) for p in params]
    optimizer = dp.optim.RMSprop(params, lr=lr)
    step = float(t[1] - t[0])
    window = t[:batch_time]
    losses = []
    for i, s in enumerate(tqdm(starts, desc="training", disable=not progress)):
        optimizer.zero_grad()
        target = np.stack([y[s + k] for k in range(batch_time)])       # (batch_time, batch, 2)
        pred = odeint(field, y[s], window, params=params, method="rk4", step_size=step, adjoint=adjoint)
        loss = dp.mean(dp.abs(pred - target))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log_every and (i + 1) % log_every == 0:
            tqdm.write(f"iteration {i + 1:5d}  loss {np.mean(losses[-log_every:]):.4f}")
    return [p.data for p in params], losses


def trajectory(params, t, y0=Y0):
    """The learned model's trajectory from ``y0`` over all of ``t`` (rk4 on the sample grid)."""
    with dp.no_grad():
        return odeint(field, np.asarray(y0, dtype=params[0].dtype)[None], t, params=list(params),
                      method="rk4", step_size=float(t[1] - t[0])).data[:, 0]


def trajectory_error(params, t, y):
    """Mean absolute error of the learned trajectory against the data (the demo's test loss)."""
    return float(np.mean(np.abs(trajectory(params, t) - y)))


def plot(params, t, y, path):
    plt = pyplot()
    if plt is None:
        return None
    pred = trajectory(params, t)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    axes[0].plot(y[:, 0], y[:, 1], "g-", label="data")
    axes[0].plot(pred[:, 0], pred[:, 1], "b--", label="neural ODE")
    axes[0].set(title="Phase portrait", xlabel="x", ylabel="y")
    axes[0].legend()
    grid = np.mgrid[-2:2:21j, -2:2:21j].reshape(2, -1).T
    with dp.no_grad():
        arrows = field(0.0, grid, params).data
    norm = np.linalg.norm(arrows, axis=1, keepdims=True) + 1e-12
    axes[1].quiver(grid[:, 0], grid[:, 1], *(arrows / norm).T, color="black")
    axes[1].set(title="Learned vector field (directions)", xlabel="x", ylabel="y", xlim=(-2, 2), ylim=(-2, 2))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--adjoint", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="150 iterations (seconds)")
    parser.add_argument("--out", default=None, help="output folder (default examples/output)")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    iterations = 150 if args.smoke else args.iterations
    rng = np.random.default_rng(args.seed)
    t, y = make_data()
    params = init_params(rng)
    before = trajectory_error(params, t, y)
    print(f"untrained trajectory error {before:.4f}")
    start = time.process_time()
    params, _ = train(params, t, y, batches(rng, len(t), iterations), adjoint=args.adjoint, log_every=100,
                      progress=True)
    after = trajectory_error(params, t, y)
    print(f"trained in {time.process_time() - start:.1f} s CPU; trajectory error {before:.4f} -> {after:.4f}")
    results = dict(iterations=iterations, initial_trajectory_error=before, final_trajectory_error=after)
    with open(os.path.join(out, "neural_ode_spiral.json"), "w") as f:
        json.dump(results, f, indent=1)
    plot(params, t, y, os.path.join(out, "neural_ode_spiral.png"))
    print(f"numbers (and the plot, with matplotlib) written to {out}")
    return results


if __name__ == "__main__":
    main()
