"""Forward mode against reverse mode: the cost of a full gradient as the number of inputs grows.

f(theta) = mean((tanh(tanh(X W1) W2) w3 - y)^2) is a 3-layer tanh network whose n = 2 h^2 + h
weights theta are the inputs (X: 256 x h data, fixed). Reverse mode (``dp.grad``) gets all n
partial derivatives from one backward pass, at a small constant multiple of one evaluation of f.
Forward mode pushes one tangent direction per input: ``dp.jacobian(f, mode="fwd")`` pushes all n
of them through one recording of f, so its cost grows linearly with n. The example times both
for n = 10 ... 5,050 and prints the ratio (about 1,200x at n = 2,485 on the reference machine;
benchmarks/modes.py has the full table against PyTorch and JAX). Both gradients are checked to
agree before they are timed.

    python examples/forward_vs_reverse.py [--out DIR]      # about a minute
    python examples/forward_vs_reverse.py --smoke          # seconds (n up to 300)
"""
import argparse
import json
import os
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np       # noqa: E402
from tqdm import tqdm    # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp                      # noqa: E402
from _common import output_folder, pyplot  # noqa: E402

BATCH = 256


def problem(h, seed=0):
    """(f, theta0): the loss as a function of the flat weight vector, and a starting point."""
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((BATCH, h)), rng.standard_normal(BATCH)
    shapes = [(h, h), (h, h), (h,)]
    sizes = [int(np.prod(s)) for s in shapes]

    def f(theta):
        parts, start = [], 0
        for shape, size in zip(shapes, sizes):
            parts.append(dp.reshape(theta[start:start + size], shape))
            start += size
        W1, W2, w3 = parts
        return dp.mean((dp.tanh(dp.tanh(X @ W1) @ W2) @ w3 - y) ** 2)
    return f, rng.standard_normal(sum(sizes)) / np.sqrt(h)


def cpu_seconds(fn, repeats, min_time=0.02):
    """Median process CPU seconds of one call (calls batched so that a sample lasts >= min_time)."""
    fn()
    loops = 1
    while True:
        start = time.process_time()
        for _ in range(loops):
            fn()
        if time.process_time() - start >= min_time or loops >= 4096:
            break
        loops *= 2
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(loops):
            fn()
        samples.append((time.process_time() - start) / loops)
    return float(np.median(samples))


def measure(h, repeats=3):
    """(n, seconds by reverse mode, seconds by forward mode) for width h."""
    f, theta = problem(h)
    reverse = dp.grad(f)
    forward = dp.jacobian(f, mode="fwd")
    np.testing.assert_allclose(np.ravel(forward(theta)), reverse(theta), rtol=1e-9, atol=1e-12)
    return theta.size, cpu_seconds(lambda: reverse(theta), 5), cpu_seconds(lambda: forward(theta), repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="n up to 300 only (seconds)")
    parser.add_argument("--out", default=None, help="output folder (default examples/output)")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    widths = (2, 7, 12) if args.smoke else (2, 7, 12, 22, 35, 50)
    rows = [measure(h) for h in tqdm(widths, desc="timing widths")]
    print(f"{'n':>6} {'reverse mode':>14} {'forward mode':>14} {'forward / reverse':>18}")
    for n, rev, fwd in rows:
        print(f"{n:>6} {rev * 1e3:>11.2f} ms {fwd * 1e3:>11.2f} ms {fwd / rev:>17.0f}x")
    n, rev, fwd = min(rows, key=lambda row: abs(row[0] - 2485))
    print(f"a full gradient of {n:,} inputs: forward mode costs {fwd / rev:,.0f}x reverse mode "
          f"(process CPU time, one thread; {rows[-1][2] / rows[-1][1]:,.0f}x at n = {rows[-1][0]:,})")
    results = {"n": [r[0] for r in rows], "reverse_seconds": [r[1] for r in rows],
               "forward_seconds": [r[2] for r in rows], "ratio": [r[2] / r[1] for r in rows]}
    with open(os.path.join(out, "forward_vs_reverse.json"), "w") as f:
        json.dump(results, f, indent=1)
    plt = pyplot()
    if plt is not None:
        figure, axes = plt.subplots(figsize=(5.5, 4))
        axes.loglog(results["n"], results["forward_seconds"], "o-", label="forward mode (all n tangents)")
        axes.loglog(results["n"], results["reverse_seconds"], "o-", label="reverse mode (one backward pass)")
        axes.set(xlabel="number of inputs n", ylabel="CPU seconds per full gradient")
        axes.legend()
        figure.tight_layout()
        figure.savefig(os.path.join(out, "forward_vs_reverse.png"), dpi=100)
        plt.close(figure)
    print(f"numbers written to {out}")
    return results


if __name__ == "__main__":
    main()
