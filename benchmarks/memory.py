"""Memory held for the backward pass: diffprog against PyTorch eager and torchdiffeq.

    python benchmarks/memory.py

(a) MLP training step: a 4-layer tanh MLP (width 256, batch 512, float64), loss mean squared error.
(b) ODE direct gradient (backpropagation through the solver): the spiral field of
    ``benchmarks/science.py`` (2-50-2 tanh MLP of y^3, batch 256, float32, fixed-step RK4, 100 steps).

The figure is the memory that the recorded graph holds between the end of the forward pass and the
start of the backward pass: for diffprog tracemalloc's traced bytes after a garbage collection
(NumPy's and Python's allocations) minus those before the forward; for PyTorch the bytes of the
distinct storages autograd saves (``saved_tensors_hooks``) plus the output. Targets (issue 17):
ODE direct <= 1.2x torchdiffeq, MLP step <= 1.1x PyTorch.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import diffprog as dp  # noqa: E402

WIDTH, BATCH, LAYERS = 256, 512, 4


def mlp_problem():
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH) for _ in range(LAYERS)]
    X = rng.standard_normal((BATCH, WIDTH))
    y = rng.standard_normal((BATCH, WIDTH))
    return weights, X, y


def dp_mlp_saved(weights, X, y):
    ws = [dp.tensor(w, requires_grad=True) for w in weights]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    h = X
    for w in ws:
        h = dp.tanh(h @ w)
    loss = dp.mean((h - y) ** 2)
    gc.collect()
    saved = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    loss.backward()
    return saved, [w.grad for w in ws]


def torch_mlp_saved(weights, X, y):
    import torch
    ws = [torch.tensor(w, requires_grad=True) for w in weights]
    Xt, yt = torch.tensor(X), torch.tensor(y)
    storages = {}

    def pack(x):
        storages[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
        return x
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        h = Xt
        for w in ws:
            h = torch.tanh(h @ w)
        loss = ((h - yt) ** 2).mean()
    for t in (Xt, yt):                          # inputs the caller holds anyway
        storages.pop(t.untyped_storage().data_ptr(), None)
    loss.backward()
    return sum(storages.values()), [w.grad.numpy() for w in ws]


def ode_figures(steps=100):
    import science
    params, y0, w = science.problem()
    dp_bytes = science.dp_saved_bytes(params, y0, w, steps, adjoint=False)
    saved = {}
    science.torch_gradient(science.torch_module(params), y0, w, steps, adjoint=False, saved=saved)
    return dp_bytes, sum(saved.values())


def versions():
    import torch
    try:
        import torchdiffeq
        tdq = torchdiffeq.__version__
    except ImportError:
        tdq = "not installed"
    return (f"{platform.machine()}, {os.cpu_count()} cores (shared, loaded by other jobs), Python "
            f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, torchdiffeq {tdq}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    weights, X, y = mlp_problem()
    dp_bytes, dp_grads = dp_mlp_saved(weights, X, y)
    torch_bytes, torch_grads = torch_mlp_saved(weights, X, y)
    for a, b in zip(dp_grads, torch_grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    rows = [("MLP step (4 x 256, batch 512, float64)", dp_bytes, torch_bytes, "PyTorch eager", 1.1)]
    try:
        ode_dp, ode_torch = ode_figures()
        rows.append(("ODE direct gradient (spiral, rk4, 100 steps)", ode_dp, ode_torch, "torchdiffeq", 1.2))
    except ImportError as e:
        print(f"(ODE row skipped: {e})")
    lines = [f"## Memory held for backward (benchmarks/memory.py, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC)",
             "", "`python benchmarks/memory.py`", "", f"machine: {versions()}", "",
             "| case | diffprog MB | reference MB | reference | ratio | target |",
             "|---|---:|---:|---|---:|---:|"]
    for name, a, b, ref, target in rows:
        ratio = a / b
        lines.append(f"| {name} | {a / 2**20:.2f} | {b / 2**20:.2f} | {ref} | {ratio:.2f}x | <= {target}x "
                     f"({'met' if ratio <= target else 'not met'}) |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_append:
        path = os.path.join(ROOT, "benchmarks", "RESULTS.md")
        with open(path) as f:
            old = f.read()
        head, _, rest = old.partition("\n\n")
        with open(path, "w") as f:
            f.write(head + "\n\n" + text + "\n" + rest)


if __name__ == "__main__":
    main()
