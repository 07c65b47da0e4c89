"""Benchmark of diffprog.ode against torchdiffeq (PyTorch), one BLAS/intra-op thread each.

    python benchmarks/science.py [--repeats 3] [--fit-iterations 2000] [--no-append]

(a) Gradient cost on the classic spiral demo's vector field, dy/dt = MLP(y^3) with a 2-50-2 tanh
    MLP, batch 256, float32, fixed-step RK4 over t in [0, 1] with 10, 100 and 1,000 steps, loss
    sum(y(1) * w): process CPU time of value + gradient (median of repeats) and the memory saved for
    the backward pass, by backpropagation through the solver ("direct") and by the adjoint method.
    diffprog's saved memory is what the recorded graph holds between forward and backward
    (tracemalloc after a garbage collection: NumPy's and Python's allocations); PyTorch's is the bytes of the distinct storages that
    autograd saves (saved_tensors_hooks).
(b) The spiral fit (examples/neural_ode_spiral.py): same data, seed, initial weights and windows,
    RMSprop lr 1e-3, adjoint gradients, rk4 on the sample grid, 2,000 iterations (the demo's
    default); the final trajectory error (mean |y_model - y_data| over the 1,000 samples) and the
    training CPU time. The two trainings agree to 3e-7 in the weights after 100 iterations, but
    float32 rounding differences grow over training, so the final errors differ by chance (at
    1,000 iterations one run measured 0.395 for diffprog vs 0.266 for torchdiffeq).

Targets: adjoint memory constant within 10% from 10 to 1,000 steps; adjoint time <= 3x direct;
total time <= 1.5x torchdiffeq's; spiral trajectory error <= 1.5x torchdiffeq's.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import diffprog as dp  # noqa: E402
from diffprog.ode import odeint  # noqa: E402

_spec = importlib.util.spec_from_file_location("neural_ode_spiral", os.path.join(ROOT, "examples", "neural_ode_spiral.py"))
spiral = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spiral)

STEPS = (10, 100, 1000)
BATCH, T_END = 256, 1.0


def problem(dtype=np.float32):
    rng = np.random.default_rng(0)
    params = spiral.init_params(rng, dtype=dtype)
    params[1] = (rng.standard_normal(50) * 0.1).astype(dtype)
    y0 = (rng.uniform(-1.5, 1.5, (BATCH, 2))).astype(dtype)
    w = rng.standard_normal((BATCH, 2)).astype(dtype)
    return params, y0, w


# ---- diffprog ---------------------------------------------------------------------------------

def dp_gradient(params, y0, w, steps, adjoint):
    ps = [dp.tensor(p, requires_grad=True) for p in params]
    ys = odeint(spiral.field, y0, [0.0, T_END], params=ps, method="rk4", step_size=T_END / steps, adjoint=adjoint)
    loss = dp.sum(ys[-1] * w)
    loss.backward()
    return [p.grad for p in ps]


def dp_saved_bytes(params, y0, w, steps, adjoint):
    ps = [dp.tensor(p, requires_grad=True) for p in params]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ys = odeint(spiral.field, y0, [0.0, T_END], params=ps, method="rk4", step_size=T_END / steps, adjoint=adjoint)
    loss = dp.sum(ys[-1] * w)
    gc.collect()                                  # count what is held, not uncollected garbage
    saved = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    loss.backward()
    return saved


# ---- torchdiffeq ---------------------------------------------------------------------------------

def torch_module(params):
    import torch

    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2))
            with torch.no_grad():
                self.net[0].weight.copy_(torch.tensor(params[0].T))
                self.net[0].bias.copy_(torch.tensor(params[1]))
                self.net[2].weight.copy_(torch.tensor(params[2].T))
                self.net[2].bias.copy_(torch.tensor(params[3]))

        def forward(self, t, y):
            return self.net(y ** 3)
    return Field()


def torch_gradient(module, y0, w, steps, adjoint, saved=None):
    import torch
    import torchdiffeq
    solve = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    module.zero_grad()
    t = torch.tensor([0.0, T_END])
    if saved is None:
        ys = solve(module, torch.tensor(y0), t, method="rk4", options=dict(step_size=T_END / steps))
    else:
        def pack(x):
            saved[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
            return x
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            ys = solve(module, torch.tensor(y0), t, method="rk4", options=dict(step_size=T_END / steps))
    (ys[-1] * torch.tensor(w)).sum().backward()
    return [p.grad.numpy().copy() for p in module.parameters()]


def cpu_median(fn, repeats):
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def gradient_table(repeats):
    import torch
    params, y0, w = problem()
    module = torch_module(params)
    rows = []
    for steps in STEPS:
        reps = max(1, repeats if steps < 1000 else repeats // 2 + 1)
        row = {"steps": steps}
        for adjoint in (False, True):
            key = "adjoint" if adjoint else "direct"
            ours = dp_gradient(params, y0, w, steps, adjoint)
            theirs = torch_gradient(module, y0, w, steps, adjoint)
            # the same gradient (torch parameters are stored transposed)
            ref = [theirs[0].T, theirs[1], theirs[2].T, theirs[3]]
            row[f"{key}_agree"] = max(float(np.abs(a - b).max() / (np.abs(b).max() + 1e-30)) for a, b in zip(ours, ref))
            row[f"dp_{key}_s"] = cpu_median(lambda: dp_gradient(params, y0, w, steps, adjoint), reps)
            row[f"torch_{key}_s"] = cpu_median(lambda: torch_gradient(module, y0, w, steps, adjoint), reps)
            row[f"dp_{key}_mb"] = dp_saved_bytes(params, y0, w, steps, adjoint) / 1e6
            saved = {}
            torch_gradient(module, y0, w, steps, adjoint, saved)
            row[f"torch_{key}_mb"] = sum(saved.values()) / 1e6
        rows.append(row)
        print(f"  {steps} steps done", file=sys.stderr)
    del torch
    return rows


# ---- the spiral fit -------------------------------------------------------------------------------

def fit(iterations):
    import torch
    import torchdiffeq
    rng = np.random.default_rng(0)
    t, y = spiral.make_data(dtype=np.float32)
    params = spiral.init_params(rng, dtype=np.float32)
    starts = spiral.batches(rng, len(t), iterations)
    start = time.process_time()
    trained, _ = spiral.train(params, t, y, starts, adjoint=True)
    dp_time = time.process_time() - start
    dp_error = spiral.trajectory_error(trained, t, y)

    module = torch_module(params)
    optimizer = torch.optim.RMSprop(module.parameters(), lr=1e-3)
    tt, yt = torch.tensor(t), torch.tensor(y)
    step = float(t[1] - t[0])
    start = time.process_time()
    for s in starts:
        optimizer.zero_grad()
        target = torch.stack([yt[s + k] for k in range(10)])
        pred = torchdiffeq.odeint_adjoint(module, yt[s], tt[:10], method="rk4", options=dict(step_size=step))
        torch.mean(torch.abs(pred - target)).backward()
        optimizer.step()
    torch_time = time.process_time() - start
    with torch.no_grad():
        pred = torchdiffeq.odeint(module, yt[:1], tt, method="rk4", options=dict(step_size=step))[:, 0].numpy()
    torch_error = float(np.mean(np.abs(pred - y)))
    return dict(iterations=iterations, dp_error=dp_error, torch_error=torch_error, dp_s=dp_time, torch_s=torch_time)


def report(rows, spiral_fit):
    import torch
    import torchdiffeq
    lines = [f"| steps | dp direct s | torchdiffeq direct s | dp adjoint s | torchdiffeq adjoint s | "
             f"dp direct MB | torchdiffeq direct MB | dp adjoint MB | torchdiffeq adjoint MB | grad rel. diff (direct / adjoint) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['steps']} | {r['dp_direct_s']:.4f} | {r['torch_direct_s']:.4f} | {r['dp_adjoint_s']:.4f} | "
                     f"{r['torch_adjoint_s']:.4f} | {r['dp_direct_mb']:.3f} | {r['torch_direct_mb']:.3f} | "
                     f"{r['dp_adjoint_mb']:.4f} | {r['torch_adjoint_mb']:.4f} | "
                     f"{r['direct_agree']:.1e} / {r['adjoint_agree']:.1e} |")
    adj_mem = [r["dp_adjoint_mb"] for r in rows]
    mem_spread = (max(adj_mem) - min(adj_mem)) / min(adj_mem)
    ratio_adj = max(r["dp_adjoint_s"] / r["dp_direct_s"] for r in rows)
    ours = sum(r["dp_direct_s"] + r["dp_adjoint_s"] for r in rows)
    theirs = sum(r["torch_direct_s"] + r["torch_adjoint_s"] for r in rows)
    checks = [
        f"adjoint memory spread 10 -> 1,000 steps: {100 * mem_spread:.1f}% (target <= 10%): "
        f"{'met' if mem_spread <= 0.1 else 'MISSED'}",
        f"adjoint time / direct time, worst row: {ratio_adj:.2f}x (target <= 3x): {'met' if ratio_adj <= 3 else 'MISSED'}",
        f"total time diffprog / torchdiffeq: {ours:.3f} s / {theirs:.3f} s = {ours / theirs:.2f}x (target <= 1.5x): "
        f"{'met' if ours / theirs <= 1.5 else 'MISSED'}",
    ]
    if spiral_fit:
        ratio = spiral_fit["dp_error"] / spiral_fit["torch_error"]
        checks.append(f"spiral fit ({spiral_fit['iterations']} iterations): trajectory error diffprog "
                      f"{spiral_fit['dp_error']:.4f} vs torchdiffeq {spiral_fit['torch_error']:.4f} = {ratio:.2f}x "
                      f"(target <= 1.5x): {'met' if ratio <= 1.5 else 'MISSED'}; training CPU time "
                      f"{spiral_fit['dp_s']:.1f} s vs {spiral_fit['torch_s']:.1f} s")
    header = (f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, torchdiffeq "
              f"{torchdiffeq.__version__}; one thread each; process CPU time, medians")
    return header, lines, checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit-iterations", type=int, default=2000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    rows = gradient_table(args.repeats)
    spiral_fit = fit(args.fit_iterations) if args.fit_iterations > 0 else None
    header, lines, checks = report(rows, spiral_fit)
    text = "\n".join([header, "", *lines, "", *[f"- {c}" for c in checks]])
    print(text)
    if not args.no_append:
        command = "python benchmarks/science.py " + " ".join(sys.argv[1:])
        with open(os.path.join(ROOT, "benchmarks", "RESULTS.md"), "a") as f:
            f.write(f"\n## Science: ODE gradients, adjoint vs direct, against torchdiffeq "
                    f"({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC})\n\n"
                    f"`{command.strip()}`\n\n{text}\n")


if __name__ == "__main__":
    main()
