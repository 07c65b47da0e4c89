"""Benchmark of the reverse-mode engine against PyTorch eager, HIPS autograd and hand-written NumPy.

    python benchmarks/engine.py [--repeats N] [--no-append]
    python benchmarks/engine.py --profile chain      # where diffprog's time goes (cProfile)
    python benchmarks/engine.py --shortcut           # backward per node with and without the chain shortcut

Each engine runs in its own subprocess with one BLAS thread, so no engine warms caches or pays
imports for another. Times are process CPU time (``time.process_time``), the median of repeats
(ten times as many for the chain workloads, a few milliseconds each), so ratios stay stable on a
loaded machine. Every engine gets the same inputs.

Workloads
  (a) chain: 1,000 chained elementwise ops (sin, scale, add a constant, tanh, repeated 250 times)
      on a 16-element float64 array, forward + backward, in microseconds per op; and the same
      chain with recording off (``dp.no_grad()``) against plain NumPy.
  (b) mlp: one training step (forward, backward, SGD update) of a 256-256-256-10 tanh MLP,
      batch 256, float32, mean squared error.
  (c) lsq: the gradient of ||A X - B||_F^2 with respect to X, 500x500 float64 matrices (the
      diffprog run also counts the matrix products per gradient: there should be two).
  and the first call of each workload against its steady state (no warm-up should be needed).

The table is printed and appended to benchmarks/RESULTS.md with the machine and versions.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")
for _v in THREAD_VARS:                     # before numpy/torch are imported, in every process
    os.environ[_v] = "1"

import gc  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINES = ("numpy", "tape", "diffprog", "torch", "autograd")
CHAIN_REPS, CHAIN_OPS = 250, 1000          # 4 ops per repetition
LR = 0.01


# ---- shared inputs --------------------------------------------------------------------------------

def make_inputs():
    rng = np.random.default_rng(0)
    chain_x = rng.standard_normal(16)
    sizes = (256, 256, 256, 10)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32))
        params.append(np.zeros(n_out, np.float32))
    mlp_x = rng.standard_normal((256, 256)).astype(np.float32)
    mlp_y = rng.standard_normal((256, 10)).astype(np.float32)
    A, X, B = (rng.standard_normal((500, 500)) for _ in range(3))
    return dict(chain_x=chain_x, params=params, mlp_x=mlp_x, mlp_y=mlp_y, A=A, X=X, B=B)


# ---- engines: each returns {workload: zero-argument callable} -----------------------------------

def engine_numpy(d):
    """The floor: forward and backward written out by hand."""
    x0 = d["chain_x"]

    def chain():
        y, saved = x0, []
        for _ in range(CHAIN_REPS):
            s = np.sin(y)
            t = np.tanh(s * 0.9 + 0.1)
            saved.append((y, t))
            y = t
        g = np.ones_like(y)
        for y_in, t in reversed(saved):
            g = g * (1 - t * t)
            g = g * 0.9
            g = g * np.cos(y_in)
        return g

    def chain_forward():
        y = x0
        for _ in range(CHAIN_REPS):
            y = np.tanh(np.sin(y) * 0.9 + 0.1)
        return y

    params = [p.copy() for p in d["params"]]
    x, y = d["mlp_x"], d["mlp_y"]

    def mlp():
        W1, b1, W2, b2, W3, b3 = params
        h1 = np.tanh(x @ W1 + b1)
        h2 = np.tanh(h1 @ W2 + b2)
        out = h2 @ W3 + b3
        diff = out - y
        loss = np.mean(diff * diff)
        dout = diff * np.float32(2.0 / diff.size)
        grads = [None] * 6
        grads[4], grads[5] = h2.T @ dout, dout.sum(0)
        dz2 = (dout @ W3.T) * (1 - h2 * h2)
        grads[2], grads[3] = h1.T @ dz2, dz2.sum(0)
        dz1 = (dz2 @ W2.T) * (1 - h1 * h1)
        grads[0], grads[1] = x.T @ dz1, dz1.sum(0)
        for p, g in zip(params, grads):
            p -= np.float32(LR) * g
        return loss

    A, X, B = d["A"], d["X"], d["B"]

    def lsq():
        R = A @ X - B
        return 2 * (A.T @ R)

    return dict(chain=chain, chain_forward=chain_forward, mlp=mlp, lsq=lsq)


def engine_tape(d):
    """A bare tape (slots, one VJP closure per op, iterative topological sort): what lean Python
    bookkeeping costs per op, as a second reference for workload (a)."""
    class Var:
        __slots__ = ("value", "parents", "grad")

        def __init__(self, value, parents=()):
            self.value, self.parents, self.grad = value, parents, None

    def sin(a):
        return Var(np.sin(a.value), ((a, lambda g: g * np.cos(a.value)),))

    def tanh(a):
        t = np.tanh(a.value)
        return Var(t, ((a, lambda g: g * (1 - t * t)),))

    def scale(a, c):
        return Var(a.value * c, ((a, lambda g: g * c),))

    def shift(a, c):
        return Var(a.value + c, ((a, lambda g: g),))

    def backward(out):
        order, seen, stack = [], set(), [(out, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p, _ in node.parents)
        out.grad = np.ones_like(out.value)
        for node in reversed(order):
            for p, vjp in node.parents:
                c = vjp(node.grad)
                p.grad = c if p.grad is None else p.grad + c

    x0 = d["chain_x"]

    def chain():
        x = Var(x0)
        y = x
        for _ in range(CHAIN_REPS):
            y = tanh(shift(scale(sin(y), 0.9), 0.1))
        backward(y)
        return x.grad

    return dict(chain=chain)


def engine_diffprog(d):
    sys.path.insert(0, ROOT)
    import diffprog as dp
    x0 = d["chain_x"]

    def chain():
        x = dp.tensor(x0, requires_grad=True)
        y = x
        for _ in range(CHAIN_REPS):
            y = dp.tanh(dp.sin(y) * 0.9 + 0.1)
        dp.sum(y).backward()
        return x.grad

    def chain_forward():
        x = dp.tensor(x0, requires_grad=True)
        with dp.no_grad():
            y = x
            for _ in range(CHAIN_REPS):
                y = dp.tanh(dp.sin(y) * 0.9 + 0.1)
        return y

    params = [dp.tensor(p.copy(), requires_grad=True) for p in d["params"]]
    x, y = dp.tensor(d["mlp_x"]), dp.tensor(d["mlp_y"])

    def mlp():
        W1, b1, W2, b2, W3, b3 = params
        h1 = dp.tanh(x @ W1 + b1)
        h2 = dp.tanh(h1 @ W2 + b2)
        diff = h2 @ W3 + b3 - y
        loss = dp.mean(diff * diff)
        loss.backward()
        for p in params:
            p.data -= np.float32(LR) * p.grad
            p.grad = None
        return loss

    A, X, B = d["A"], d["X"], d["B"]

    def objective(A, X, B):
        R = A @ X - B
        return dp.sum(R * R)
    grad_x = dp.grad(objective, argnums=1)

    def lsq():
        return grad_x(A, X, B)

    def checks():
        mlp()
        float32_kept = all(p.data.dtype == np.float32 for p in params)
        g = lsq()
        correct = bool(np.allclose(g, 2 * A.T @ (A @ X - B), rtol=1e-10))
        return dict(matmuls_per_gradient=count_matmuls(lsq), mlp_float32=float32_kept, lsq_correct=correct)

    return dict(chain=chain, chain_forward=chain_forward, mlp=mlp, lsq=lsq, checks=checks)


def count_matmuls(fn):
    """Calls to numpy.matmul (and to ``ndarray.dot``, which the matmul rules use for 2-D arrays)
    during ``fn()``, intercepted wherever diffprog holds a reference to them (the numpy module,
    module-level aliases, and primitives whose forward it is)."""
    from diffprog.autodiff.tape import Primitive
    original, original_dot, calls = np.matmul, np.ndarray.dot, [0]

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    def counting_dot(*args, **kwargs):
        calls[0] += 1
        return original_dot(*args, **kwargs)

    patched = [(np, "matmul", counting, original)]
    for name, mod in list(sys.modules.items()):
        if name.startswith("diffprog") and mod is not None:
            for attr, value in list(vars(mod).items()):
                if value is original:
                    patched.append((mod, attr, counting, original))
                elif value is original_dot:
                    patched.append((mod, attr, counting_dot, original_dot))
                elif isinstance(value, Primitive) and value.forward is original:
                    patched.append((value, "forward", counting, original))
    for obj, attr, new, _ in patched:
        setattr(obj, attr, new)
    try:
        fn()
    finally:
        for obj, attr, _, old in patched:
            setattr(obj, attr, old)
    return calls[0]


def engine_torch(d):
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    x0 = torch.tensor(d["chain_x"])

    def chain():
        x = x0.clone().requires_grad_(True)
        y = x
        for _ in range(CHAIN_REPS):
            y = torch.tanh(torch.sin(y) * 0.9 + 0.1)
        y.sum().backward()
        return x.grad

    def chain_forward():
        with torch.no_grad():
            y = x0
            for _ in range(CHAIN_REPS):
                y = torch.tanh(torch.sin(y) * 0.9 + 0.1)
        return y

    params = [torch.tensor(p.copy(), requires_grad=True) for p in d["params"]]
    x, y = torch.tensor(d["mlp_x"]), torch.tensor(d["mlp_y"])

    def mlp():
        W1, b1, W2, b2, W3, b3 = params
        h1 = torch.tanh(x @ W1 + b1)
        h2 = torch.tanh(h1 @ W2 + b2)
        diff = h2 @ W3 + b3 - y
        loss = (diff * diff).mean()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    A, B = torch.tensor(d["A"]), torch.tensor(d["B"])
    X0 = torch.tensor(d["X"])

    def lsq():
        X = X0.clone().requires_grad_(True)
        R = A @ X - B
        (R * R).sum().backward()
        return X.grad

    return dict(chain=chain, chain_forward=chain_forward, mlp=mlp, lsq=lsq)


def engine_autograd(d):
    import autograd
    import autograd.numpy as anp
    x0 = d["chain_x"]

    def chain_loss(x):
        y = x
        for _ in range(CHAIN_REPS):
            y = anp.tanh(anp.sin(y) * 0.9 + 0.1)
        return anp.sum(y)
    chain_grad = autograd.grad(chain_loss)

    def chain():
        return chain_grad(x0)

    params = [p.copy() for p in d["params"]]
    x, y = d["mlp_x"], d["mlp_y"]

    def mlp_loss(ps):
        W1, b1, W2, b2, W3, b3 = ps
        h1 = anp.tanh(anp.dot(x, W1) + b1)
        h2 = anp.tanh(anp.dot(h1, W2) + b2)
        diff = anp.dot(h2, W3) + b3 - y
        return anp.mean(diff * diff)
    mlp_value_and_grad = autograd.value_and_grad(mlp_loss)

    def mlp():
        loss, grads = mlp_value_and_grad(params)
        for p, g in zip(params, grads):
            p -= np.float32(LR) * g
        return loss

    A, X, B = d["A"], d["X"], d["B"]

    def objective(X):
        R = anp.dot(A, X) - B
        return anp.sum(R * R)
    lsq_grad = autograd.grad(objective)

    def lsq():
        return lsq_grad(X)

    return dict(chain=chain, mlp=mlp, lsq=lsq)


# ---- worker: one engine per process ----------------------------------------------------------------

def measure(fn, repeats):
    """(first call, median of ``repeats`` further calls), process CPU seconds."""
    gc.collect()
    t0 = time.process_time()
    fn()
    first = time.process_time() - t0
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return first, statistics.median(times)


def worker(engine, repeats):
    d = make_inputs()
    fns = globals()[f"engine_{engine}"](d)
    result = {}
    for name in ("chain", "chain_forward", "mlp", "lsq"):
        if name in fns:
            n = repeats * 10 if name.startswith("chain") else repeats      # (a few ms each: many samples)
            result[name] = measure(fns[name], n)
    if "checks" in fns:
        result["checks"] = fns["checks"]()
    print(json.dumps(result))


# glibc returns freed multi-megabyte blocks to the OS, so each fresh 2 MB array of workload (c)
# page-faults again (about 1 ms per array here). The second run raises the thresholds for every
# engine alike, which shows how much of a gap is the allocator rather than engine overhead.
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


def run_engine(engine, repeats, extra_env=None):
    env = dict(os.environ, **{v: "1" for v in THREAD_VARS}, **(extra_env or {}))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", engine,
                           "--repeats", str(repeats)], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        print(f"[{engine}] failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- report -----------------------------------------------------------------------------------------

def machine():
    model, cores = platform.processor() or "unknown", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {cores} cores, {platform.system()} {platform.release()}"


def versions():
    from importlib.metadata import version, PackageNotFoundError
    parts = [f"python {platform.python_version()}"]
    for pkg in ("numpy", "torch", "autograd", "diffprog"):
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            parts.append(f"{pkg} (not installed)")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=ROOT).stdout.strip()
        parts.append(f"diffprog commit {commit}")
    except OSError:
        pass
    return ", ".join(parts)


def report(results):
    def get(engine, name, which=1):
        r = results.get(engine) or {}
        return r[name][which] if name in r else float("nan")

    rows, targets = [], []
    us = lambda s: s / CHAIN_OPS * 1e6  # noqa: E731
    ms = lambda s: s * 1e3  # noqa: E731
    floor = get("numpy", "chain")
    rows.append("| workload | engine | time | x NumPy floor |")
    rows.append("|---|---|---:|---:|")
    for engine in ENGINES:
        t = get(engine, "chain")
        if t == t:
            rows.append(f"| (a) chain fwd+bwd, us/op | {engine} | {us(t):.2f} | {t / floor:.2f} |")
    for engine in ("numpy", "diffprog", "torch"):
        t = get(engine, "chain_forward")
        label = {"numpy": "plain NumPy", "diffprog": "diffprog no_grad", "torch": "torch no_grad"}[engine]
        rows.append(f"| (a) chain forward only, us/op | {label} | {us(t):.2f} | "
                    f"{t / get('numpy', 'chain_forward'):.2f} |")
    for name, title in (("mlp", "(b) MLP step, ms"), ("lsq", "(c) grad ||AX-B||^2, ms")):
        base = get("numpy", name)
        for engine in ("numpy", "diffprog", "torch", "autograd"):
            t = get(engine, name)
            rows.append(f"| {title} | {engine} | {ms(t):.2f} | {t / base:.2f} |")
    rows.append("")
    rows.append("| first call / steady state | numpy | diffprog | torch | autograd |")
    rows.append("|---|---:|---:|---:|---:|")
    for name in ("chain", "chain_forward", "mlp", "lsq"):
        cells = []
        for engine in ("numpy", "diffprog", "torch", "autograd"):
            first, steady = get(engine, name, 0), get(engine, name, 1)
            cells.append(f"{first / steady:.2f}" if steady == steady else "-")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")

    dp_chain = get("diffprog", "chain")
    checks = (results.get("diffprog") or {}).get("checks", {})
    targets = [
        ("(a) diffprog <= 0.6 x torch per op", dp_chain / get("torch", "chain"), 0.6),
        ("(a) diffprog <= 0.3 x autograd per op", dp_chain / get("autograd", "chain"), 0.3),
        ("(a) no_grad <= 2 x plain NumPy", get("diffprog", "chain_forward") / get("numpy", "chain_forward"), 2.0),
        ("(b) MLP step <= 1.2 x NumPy", get("diffprog", "mlp") / get("numpy", "mlp"), 1.2),
        ("(c) lsq gradient <= 1.15 x NumPy", get("diffprog", "lsq") / get("numpy", "lsq"), 1.15),
        ("(c) matrix products per gradient == 2", checks.get("matmuls_per_gradient", float("nan")), 2),
    ]
    for name in ("chain", "mlp", "lsq"):
        targets.append((f"first call <= 2 x steady ({name})",
                        get("diffprog", name, 0) / get("diffprog", name, 1), 2.0))
    rows.append("")
    rows.append("| target | measured | met |")
    rows.append("|---|---:|---|")
    for label, value, limit in targets:
        ok = value == limit if "==" in label else value <= limit
        rows.append(f"| {label} | {value:.3g} | {'yes' if ok else 'NO'} |")
    rows.append("")
    rows.append(f"diffprog checks: MLP parameters stay float32: {checks.get('mlp_float32')}; "
                f"lsq gradient equals 2 A^T (AX - B): {checks.get('lsq_correct')}")
    return "\n".join(rows)


def chain_shortcut(repeats):
    """Backward time per node of workload (a)'s chain (recorded anew before each timed backward),
    with the chain shortcut of ``run_backward`` (a node fed by its consumer's only cotangent is
    processed next, skipping the heap and the dictionary of sums) and without it
    (``tape._CHAIN_SHORTCUT`` off, so every node goes through the heap). Min of ``repeats``."""
    sys.path.insert(0, ROOT)
    import diffprog as dp
    from diffprog.autodiff import tape
    x0 = make_inputs()["chain_x"]

    def backward_seconds():
        best = float("inf")
        for _ in range(repeats):
            x = dp.tensor(x0, requires_grad=True)
            y = x
            for _ in range(CHAIN_REPS):
                y = dp.tanh(dp.sin(y) * 0.9 + 0.1)
            loss = dp.sum(y)
            gc.collect()
            t0 = time.process_time()
            loss.backward()
            best = min(best, time.process_time() - t0)
        return best / (CHAIN_OPS + 1)

    with_it = backward_seconds()
    tape._CHAIN_SHORTCUT = False
    try:
        without_it = backward_seconds()
    finally:
        tape._CHAIN_SHORTCUT = True
    print(f"chain backward per node, min of {repeats}: {with_it * 1e6:.2f} us with the chain shortcut, "
          f"{without_it * 1e6:.2f} us without")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per workload (chains: twice)")
    parser.add_argument("--no-append", action="store_true", help="print only, do not append to RESULTS.md")
    parser.add_argument("--profile", choices=("chain", "chain_forward", "mlp", "lsq"),
                        help="instead of the benchmark, cProfile diffprog on one workload and print the top entries")
    parser.add_argument("--shortcut", action="store_true",
                        help="instead of the benchmark, time backward per node with and without the chain shortcut")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shortcut:
        chain_shortcut(max(args.repeats, 21))
        return
    if args.profile:
        import cProfile
        import pstats
        fn = engine_diffprog(make_inputs())[args.profile]
        fn()
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [fn() for _ in range(args.repeats)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return
    if args.worker:
        worker(args.worker, args.repeats)
        return
    results = {engine: run_engine(engine, args.repeats) for engine in ENGINES}
    tuned = {engine: run_engine(engine, args.repeats, TUNED_MALLOC) for engine in ENGINES}
    table = (report(results) + "\n\nThe same with glibc's mmap/trim thresholds raised to 1 GiB for every engine "
             "(`" + " ".join(f"{k}={v}" for k, v in TUNED_MALLOC.items()) + "`):\n\n" + report(tuned))
    header = (f"## Engine (benchmarks/engine.py), {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
              f"Command: `python benchmarks/engine.py --repeats {args.repeats}`; one process per engine, one BLAS "
              f"thread, process CPU time, medians.\n\nMachine: {machine()}\n\nVersions: {versions()}\n")
    print(header)
    print(table)
    if not args.no_append:
        with open(os.path.join(ROOT, "benchmarks", "RESULTS.md"), "a") as f:
            f.write("\n" + header + "\n" + table + "\n")


if __name__ == "__main__":
    main()
