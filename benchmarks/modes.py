"""Forward mode against reverse mode, and what checkpointing saves.

    python benchmarks/modes.py [--quick] [--no-append]

(1) The cost of a gradient. f(theta) = mean((tanh(tanh(X W1) W2) w3 - y)^2), a 3-layer tanh MLP
    whose n = 2 h^2 + h parameters theta are the variables (X: batch x h data, fixed), for n from 10
    to 10,000 and two batch sizes (16: Python overhead dominates; 256: array work dominates). We time
    one forward evaluation, one reverse-mode gradient (``dp.grad``, and ``Tensor.backward``), and the
    full gradient by forward mode: ``dp.jacobian(f, mode="fwd")`` records f once and pushes all n
    tangents through it in batches (one column per tangent), and, for comparison, n separate
    ``dp.jvp`` calls (timed on a subset of at most 100 columns and extrapolated linearly: stated
    in the table). References measured in the same run: hand-written NumPy forward + backward,
    PyTorch eager (``torch.autograd.grad``, ``torch.func.jacfwd``), HIPS autograd, and
    ``jax.jit(jax.grad)`` / ``jax.jit(jax.jacfwd)`` when JAX is installed.
(2) Memory: ``dp.tape_stats`` bytes of a 64-layer tanh MLP (width 128, batch 256) with and without
    ``dp.checkpoint`` every 8 layers, the peak memory NumPy allocates during forward + backward
    (tracemalloc), and the time of forward + backward.

Times are process CPU time (``time.process_time``) with one BLAS thread, medians of repeats; every
gradient is checked against the hand-written one before it is timed. A library's forward and its
gradient are timed in interleaved rounds (nine samples each, in turn), and their ratio is the median
of the rounds' ratios, so that the machine's speed drifting between two measurements does not tilt it.
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
           "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_v] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import diffprog as dp  # noqa: E402

WIDTHS = (2, 7, 12, 22, 35, 50, 70)          # n = 2 h^2 + h = 10, 105, 300, 990, 2485, 5050, 9870


def cpu_time(fn, repeats=5, min_time=0.02):
    """Median process CPU seconds of one call of ``fn`` (calls are batched so a sample lasts at
    least ``min_time``)."""
    return paired_cpu_times({"fn": fn}, repeats, min_time)[0]["fn"]


def _loops_for(fn, min_time):
    """How many calls of ``fn`` make a sample of at least ``min_time`` CPU seconds (after one call)."""
    fn()
    loops = 1
    while True:
        start = time.process_time()
        for _ in range(loops):
            fn()
        t = time.process_time() - start
        if t >= min_time or loops >= 1 << 16:
            return loops
        loops *= 4 if t < min_time / 8 else 2


def paired_cpu_times(fns, repeats=9, min_time=0.02):
    """Time the functions of the dict ``fns`` in interleaved rounds (each round samples every
    function once, in turn) and return (median seconds per call of each, median over the rounds of
    each one's time over the first one's). A library's gradient and its forward are timed so: a
    drift of the machine's speed between two separate measurements would tilt their ratio."""
    loops = {k: _loops_for(fn, min_time) for k, fn in fns.items()}
    samples = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.process_time()
            for _ in range(loops[k]):
                fn()
            samples[k].append((time.process_time() - start) / loops[k])
    first = samples[next(iter(fns))]
    return ({k: statistics.median(v) for k, v in samples.items()},
            {k: statistics.median(a / b for a, b in zip(v, first)) for k, v in samples.items()})


def _paired(row, names, fns):
    """Time ``fns`` (forward first) with ``paired_cpu_times`` into ``row`` under ``names``; the
    ratios to the forward are kept for the table."""
    times, ratios = paired_cpu_times(dict(zip(names, fns)))
    row.update(times)
    row.setdefault("paired", {}).update({(k, names[0]): r for k, r in ratios.items() if k != names[0]})


# ---- (1) the cost of a gradient -------------------------------------------------------------------

class Problem:
    """The MLP loss of parameter vector theta (n = 2 h^2 + h) on a fixed batch."""

    def __init__(self, h, batch, rng):
        self.h, self.batch = h, batch
        self.n = 2 * h * h + h
        self.X = rng.standard_normal((batch, h))
        self.y = rng.standard_normal((batch, 1))
        self.theta = rng.standard_normal(self.n) / np.sqrt(h)

    def split(self, theta, reshape):
        h = self.h
        return (reshape(theta[:h * h], (h, h)), reshape(theta[h * h:2 * h * h], (h, h)),
                reshape(theta[2 * h * h:], (h, 1)))

    def loss(self, theta, xp):
        """The loss written against an array namespace ``xp`` (diffprog, numpy, torch, jax...)."""
        W1, W2, w3 = self.split(theta, xp.reshape)
        out = xp.tanh(xp.tanh(self.Xs[xp.__name__] @ W1) @ W2) @ w3
        return xp.mean((out - self.ys[xp.__name__]) ** 2)

    def numpy_value_and_grad(self, theta):
        W1, W2, w3 = self.split(theta, np.reshape)
        a1 = np.tanh(self.X @ W1)
        a2 = np.tanh(a1 @ W2)
        r = a2 @ w3 - self.y
        g_out = 2 * r / r.size
        g_z2 = (g_out @ w3.T) * (1 - a2 * a2)
        g_z1 = (g_z2 @ W2.T) * (1 - a1 * a1)
        grad = np.concatenate([(self.X.T @ g_z1).ravel(), (a1.T @ g_z2).ravel(), (a2.T @ g_out).ravel()])
        return np.mean(r * r), grad


def gradient_costs(batch, quick, log):
    rng = np.random.default_rng(0)
    rows = []
    import torch
    import torch.func
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        autograd = None
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    torch.set_num_threads(1)
    for h in WIDTHS[:5] if quick else WIDTHS:
        p = Problem(h, batch, rng)
        theta = p.theta
        p.Xs = {"diffprog": p.X, "numpy": p.X, "torch": torch.tensor(p.X), "autograd.numpy": p.X}
        p.ys = {"diffprog": p.y, "numpy": p.y, "torch": torch.tensor(p.y), "autograd.numpy": p.y}
        f = lambda th: p.loss(th, dp)                                          # noqa: E731
        _, expected = p.numpy_value_and_grad(theta)
        row = {"n": p.n, "batch": batch}

        # diffprog: forward, reverse, forward mode
        grad_f = dp.grad(f)
        assert np.allclose(grad_f(theta), expected, rtol=1e-10, atol=1e-13)

        def backward():
            t = dp.tensor(theta, requires_grad=True)
            f(t).backward()
            return t.grad
        assert np.allclose(backward(), expected, rtol=1e-10, atol=1e-13)
        jac_fwd = dp.jacobian(f, mode="fwd")
        assert np.allclose(jac_fwd(theta), expected, rtol=1e-10, atol=1e-13)
        _paired(row, ("forward", "grad", "backward"), (lambda: f(theta), lambda: grad_f(theta), backward))
        row["jacfwd"] = cpu_time(lambda: jac_fwd(theta), repeats=3, min_time=0.0)
        m = min(p.n, 100)
        basis = np.eye(p.n)[:m]

        def some_jvps():
            return [dp.jvp(f, (theta,), (e,))[1] for e in basis]
        assert np.allclose(some_jvps(), expected[:m], rtol=1e-10, atol=1e-13)
        row["jvps"] = cpu_time(some_jvps, repeats=3, min_time=0.0) * p.n / m
        row["jvps_subset"] = m

        # hand-written NumPy
        _paired(row, ("numpy_forward", "numpy_grad"),
                (lambda: p.loss(theta, np), lambda: p.numpy_value_and_grad(theta)))

        # PyTorch eager
        tt = torch.tensor(theta)
        ft = lambda th: p.loss(th, torch)                                      # noqa: E731

        def torch_grad():
            t = tt.detach().requires_grad_(True)
            return torch.autograd.grad(ft(t), t)[0]
        assert np.allclose(torch_grad().numpy(), expected, rtol=1e-10, atol=1e-13)
        def torch_forward():
            with torch.no_grad():
                return ft(tt)
        _paired(row, ("torch_forward", "torch_grad"), (torch_forward, torch_grad))
        fits = p.n * batch * h * 8 <= 2 ** 29         # torch/jax hold all n tangents at once
        if fits:
            torch_jacfwd = torch.func.jacfwd(ft)
            assert np.allclose(torch_jacfwd(tt).numpy(), expected, rtol=1e-10, atol=1e-13)
            row["torch_jacfwd"] = cpu_time(lambda: torch_jacfwd(tt), repeats=3, min_time=0.0)

        # HIPS autograd
        if autograd is not None:
            fa = lambda th: p.loss(th, anp)                                    # noqa: E731
            ga = autograd.grad(fa)
            assert np.allclose(ga(theta), expected, rtol=1e-10, atol=1e-13)
            _paired(row, ("autograd_forward", "autograd_grad"), (lambda: fa(theta), lambda: ga(theta)))

        # JAX, compiled
        if jax is not None:
            Xj, yj = jnp.asarray(p.X), jnp.asarray(p.y)

            def fj(th):
                W1, W2, w3 = p.split(th, jnp.reshape)
                return jnp.mean((jnp.tanh(jnp.tanh(Xj @ W1) @ W2) @ w3 - yj) ** 2)
            thj = jnp.asarray(theta)
            jf, jg, jjf = jax.jit(fj), jax.jit(jax.grad(fj)), jax.jit(jax.jacfwd(fj))
            assert np.allclose(np.asarray(jg(thj)), expected, rtol=1e-10, atol=1e-13)
            _paired(row, ("jax_forward", "jax_grad"),
                    (lambda: jf(thj).block_until_ready(), lambda: jg(thj).block_until_ready()))
            if fits:
                assert np.allclose(np.asarray(jjf(thj)), expected, rtol=1e-10, atol=1e-13)
                row["jax_jacfwd"] = cpu_time(lambda: jjf(thj).block_until_ready(), repeats=3)
        rows.append(row)
        log(format_cost_row(row))
    return rows


COST_HEADER = ("|     n | batch | forward | dp.grad | backward() | fwd mode batched | n x dp.jvp "
               "| fwd/rev | NumPy by hand | torch grad | torch jacfwd | autograd grad | jax grad | jax jacfwd "
               "| jax jacfwd/grad |\n"
               "|------:|------:|--------:|--------:|-----------:|-----------------:|-----------:"
               "|--------:|--------------:|-----------:|-------------:|--------------:|---------:|-----------:"
               "|----------------:|")


def _ratio(row, key, base):
    r = row.get("paired", {}).get((key, base))
    if r is None:
        if key not in row or base not in row:
            return "-"
        r = row[key] / row[base]
    return f"{r:.1f}x"


def format_cost_row(r):
    jvps = _ratio(r, "jvps", "forward") + ("" if r["jvps_subset"] == r["n"] else "*")
    return (f"| {r['n']:5d} | {r['batch']:5d} | {r['forward'] * 1e6:5.0f} us | {_ratio(r, 'grad', 'forward')} "
            f"| {_ratio(r, 'backward', 'forward')} | {_ratio(r, 'jacfwd', 'forward')} | {jvps} "
            f"| {_ratio(r, 'jacfwd', 'grad')} | {_ratio(r, 'numpy_grad', 'numpy_forward')} "
            f"| {_ratio(r, 'torch_grad', 'torch_forward')} | {_ratio(r, 'torch_jacfwd', 'torch_forward')} "
            f"| {_ratio(r, 'autograd_grad', 'autograd_forward')} | {_ratio(r, 'jax_grad', 'jax_forward')} "
            f"| {_ratio(r, 'jax_jacfwd', 'jax_forward')} | {_ratio(r, 'jax_jacfwd', 'jax_grad')} |")


# ---- (2) memory of a deep network with and without checkpointing ----------------------------------

def block(h, *params):
    for W, b in zip(params[::2], params[1::2]):
        h = dp.tanh(h @ W + b)
    return h


def memory(quick, log):
    rng = np.random.default_rng(1)
    depth, width, batch, every = 64, 128, 128 if quick else 256, 8
    params = []
    for _ in range(depth):
        params += [dp.tensor(rng.standard_normal((width, width)) / np.sqrt(width), requires_grad=True),
                   dp.tensor(np.zeros(width), requires_grad=True)]
    x = rng.standard_normal((batch, width))

    def loss(segment):
        h = dp.tensor(x)
        if segment is None:
            h = block(h, *params)
        else:
            for i in range(0, 2 * depth, 2 * segment):
                h = dp.checkpoint(block, h, *params[i:i + 2 * segment])
        return dp.mean(h ** 2)

    def step(segment):
        for p in params:
            p.grad = None
        loss(segment).backward()

    results = {}
    for name, segment in (("plain", None), (f"checkpoint every {every}", every)):
        stats = dp.tape_stats(loss(segment))
        step(segment)
        grads = [p.grad.copy() for p in params]
        tracemalloc.start()
        step(segment)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        seconds = cpu_time(lambda: step(segment), repeats=5, min_time=0.0)
        results[name] = dict(stats=stats, peak=peak, time=seconds, grads=grads)
    plain, ckpt = results.values()
    identical = all(np.array_equal(a, b) for a, b in zip(plain["grads"], ckpt["grads"]))
    lines = [f"64-layer tanh MLP, width {width}, batch {batch}, float64; forward + backward; "
             f"gradients bit-identical: {identical}", "",
             "| run | tape nodes | tape bytes | peak NumPy memory (fwd+bwd) | time (fwd+bwd) |",
             "|-----|-----------:|-----------:|----------------------------:|---------------:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['stats']['nodes']} | {r['stats']['saved_bytes'] / 2**20:.2f} MiB "
                     f"| {r['peak'] / 2**20:.2f} MiB | {r['time'] * 1e3:.1f} ms |")
    lines.append(f"| ratio | | {plain['stats']['saved_bytes'] / ckpt['stats']['saved_bytes']:.1f}x less "
                 f"| {plain['peak'] / ckpt['peak']:.1f}x less | {ckpt['time'] / plain['time']:.2f}x time |")
    for line in lines:
        log(line)
    return lines


# ---- report -------------------------------------------------------------------------------------------

def machine():
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def versions():
    from importlib.metadata import version, PackageNotFoundError
    parts = [f"python {platform.python_version()}"]
    for pkg in ("numpy", "torch", "autograd", "jax", "jaxlib"):
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            parts.append(f"{pkg} (not installed)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    return ", ".join(parts) + f", diffprog commit {commit}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n up to 2,485 and a narrower deep network")
    parser.add_argument("--no-append", action="store_true", help="print only, do not append to RESULTS.md")
    args = parser.parse_args()
    out = []

    def log(line):
        print(line, flush=True)
        out.append(line)

    log("(1) Cost of a gradient: times relative to one forward evaluation of the same library "
        "(fwd/rev: batched forward mode over dp.grad; * = extrapolated from 100 JVPs; "
        "- = not run: torch.func.jacfwd and jax.jacfwd would hold all n x batch x h tangents at once, "
        "> 512 MiB)")
    log("")
    log(COST_HEADER)
    rows = []
    for batch in (16, 256):
        rows += gradient_costs(batch, args.quick, log)
    log("")
    log("(2) Memory with and without dp.checkpoint")
    log("")
    memory(args.quick, log)
    if not args.no_append:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with open(os.path.join(ROOT, "benchmarks", "RESULTS.md"), "a") as f:
            f.write(f"\n## Forward vs reverse mode, checkpointing (benchmarks/modes.py)\n\n"
                    f"`python benchmarks/modes.py{' --quick' if args.quick else ''}` on {stamp}; {machine()}; "
                    f"{versions()}; one BLAS thread, process CPU time, medians.\n\n" + "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
