"""LISTA, LISTA-CP and ALISTA on the standard synthetic sparse-coding problem.

A (250 x 500) Gaussian with unit-norm columns; codes Bernoulli(0.1) x N(0, 1); noiseless
measurements y = A x. Trains 16-layer networks by backpropagation through all layers (fresh
training batches every step, a fixed test set), then compares their test NMSE after each layer
with ISTA and FISTA after each iteration. ISTA/FISTA use the best of a grid of l1 weights at
every iteration count (an optimistic baseline). The number it demonstrates: the
iteration-equivalence factor, how many ISTA iterations reach each network's 16-layer NMSE,
divided by 16 (> 1: a trained network beats ISTA at equal depth).

    python examples/lista.py            # short run: ~2 CPU minutes, writes examples/output/quick/
    python examples/lista.py --full     # the recorded protocol: ~16 CPU minutes, writes examples/output/
    python examples/lista.py --out DIR  # anywhere else

Writes ``lista_nmse.png`` and ``lista_results.json`` into the output folder and nothing else.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from diffprog.optim import ista, fista  # noqa: E402
from diffprog import prox  # noqa: E402
import diffprog as dp  # noqa: E402
from diffprog.sparse import (LISTA, LISTACP, ALISTA, nmse_db, sparse_coding_problem, sparse_codes,  # noqa: E402
                             train_unrolled)


def baseline_curves(A, y, x, n_iter, alphas):
    """Best-over-alpha NMSE (dB) after each ISTA and FISTA iteration (batch solved at once)."""
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    curves = {}
    for solver in (ista, fista):
        per_alpha = []
        for alpha in alphas:
            record = []

            def f(z):
                r = z @ A.T - y
                return 0.5 * dp.sum(r * r)
            kwargs = {"restart": None} if solver is fista else {}
            solver(f, prox.l1(alpha), np.zeros_like(x), step=step, max_iter=n_iter, tol=0,
                   callback=lambda k, z: record.append(nmse_db(z, x)), **kwargs)
            per_alpha.append(record)
        curves[solver.__name__] = np.min(np.asarray(per_alpha), axis=0)
    return curves


def equivalence(ista_curve, target, depth):
    """ISTA iterations needed to reach ``target`` dB, divided by ``depth`` (None if never)."""
    reached = np.flatnonzero(ista_curve <= target)
    return (int(reached[0]) + 1, (int(reached[0]) + 1) / depth) if reached.size else (None, None)


def plot(curves, path, depth):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, curve in curves.items():
            k = np.arange(1, len(curve) + 1)
            ax.plot(k, curve, label=name, lw=2 if len(curve) == depth else 1.2,
                    marker="o" if len(curve) == depth else None, ms=3)
        ax.set_xscale("log")
        ax.set_xlabel("layers / iterations")
        ax.set_ylabel("test NMSE (dB)")
        ax.set_title("A 250x500, Bernoulli(0.1) x N(0,1) codes")
        ax.grid(True, which="both", alpha=0.3)
        ax.axvline(depth, color="gray", ls=":")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        return
    from PIL import Image, ImageDraw                  # fallback: a plain line chart
    w, h, pad = 700, 450, 50
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    lo = min(float(np.min(c)) for c in curves.values())
    hi = max(float(np.max(c)) for c in curves.values())
    n_max = max(len(c) for c in curves.values())
    colors = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
    for color, (name, curve) in zip(colors, curves.items()):
        k = np.arange(1, len(curve) + 1)
        px = pad + (w - 2 * pad) * np.log(k) / np.log(n_max)
        py = pad + (h - 2 * pad) * (hi - curve) / (hi - lo)
        draw.line(list(zip(px, py)), fill=color, width=2)
        draw.text((px[-1] - 60, py[-1] + 4), name, fill=color)
    image.save(path)


PROTOCOLS = {   # training steps per network, test codes, ISTA/FISTA iterations
    "full": {"steps": {"ALISTA": 2500, "LISTA-CP": 2500, "LISTA (tied)": 8000}, "test": 500, "baseline": 800},
    "short": {"steps": {"ALISTA": 400, "LISTA-CP": 400, "LISTA (tied)": 600}, "test": 200, "baseline": 400},
}
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="the recorded protocol (2,500 training steps for ALISTA and LISTA-CP, 8,000 for tied "
                             "LISTA, whose shared matrices learn more slowly; 500 test codes; 800 ISTA iterations)")
    parser.add_argument("--out", default=None, help="output folder (default: examples/output/quick, or "
                                                    "examples/output with --full)")
    parser.add_argument("--steps", type=int, default=None, help="training steps for every network")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--size", type=int, nargs=2, default=(250, 500), metavar=("M", "N"),
                        help="dictionary shape: M measurements of N-dimensional codes")
    parser.add_argument("--test", type=int, default=None, help="test codes")
    parser.add_argument("--baseline-iterations", type=int, default=None)
    args = parser.parse_args()
    protocol = PROTOCOLS["full" if args.full else "short"]
    out = args.out or os.path.join(HERE, "output" if args.full else os.path.join("output", "quick"))
    os.makedirs(out, exist_ok=True)

    A = sparse_coding_problem(*args.size, seed=0)
    y_test, x_test = sparse_codes(A, args.test or protocol["test"], rng=12345)
    alphas = (0.02, 0.05, 0.1)
    t0 = time.process_time()
    n_baseline = max(args.baseline_iterations or protocol["baseline"], args.layers)
    curves = baseline_curves(A, y_test, x_test, n_baseline, alphas)
    print(f"baselines: ISTA/FISTA best over alpha in {alphas}: ISTA@{args.layers} "
          f"{curves['ista'][args.layers - 1]:.1f} dB, ISTA@{n_baseline} {curves['ista'][-1]:.1f} dB "
          f"({time.process_time() - t0:.0f} s CPU)")

    networks = {                                      # model, learning rate
        "ALISTA": (ALISTA(A, args.layers, alpha=0.05), 2e-3),
        "LISTA-CP": (LISTACP(A, args.layers, alpha=0.05), 1e-3),
        "LISTA (tied)": (LISTA(A, args.layers, tied=True, alpha=0.05), 1e-3),
    }
    results = {}
    for name, (model, lr) in networks.items():
        steps = args.steps or protocol["steps"][name]
        t0 = time.process_time()
        before = model.nmse_per_layer(y_test, x_test)[-1]
        train_unrolled(model, lambda rng, size: sparse_codes(A, size, rng=rng), n_steps=steps,
                       batch_size=args.batch, lr=lr, lr_decay=0.1, seed=7, progress=True)  # one decade of decay
        per_layer = model.nmse_per_layer(y_test, x_test)
        iterations, factor = equivalence(curves["ista"], per_layer[-1], args.layers)
        results[name] = {"nmse_per_layer_db": per_layer, "untrained_db": before,
                         "ista_at_equal_depth_db": float(curves["ista"][args.layers - 1]),
                         "ista_iterations_to_match": iterations, "iteration_equivalence": factor,
                         "train_cpu_s": time.process_time() - t0, "steps": steps, "lr": lr}
        curves[name] = np.asarray(per_layer)
        shown = f"{factor:.1f}x ({iterations} ISTA iterations)" if factor else f"> {n_baseline / args.layers:.0f}x"
        print(f"{name:13s} untrained {before:6.1f} dB -> trained {per_layer[-1]:6.1f} dB after {args.layers} layers; "
              f"ISTA-equivalent: {shown}; {time.process_time() - t0:.0f} s CPU")

    plot({"ISTA": curves["ista"], "FISTA": curves["fista"],
          **{k: v for k, v in curves.items() if k not in ("ista", "fista")}},
         os.path.join(out, "lista_nmse.png"), args.layers)
    summary = {"protocol": "full" if args.full else "short", "size": list(args.size), "layers": args.layers,
               "ista_db": curves["ista"].tolist(), "fista_db": curves["fista"].tolist(), "alphas": alphas,
               "networks": results}
    with open(os.path.join(out, "lista_results.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    best = max(results, key=lambda k: results[k]["iteration_equivalence"] or np.inf)
    factor = results[best]["iteration_equivalence"]
    print(f"result: at {args.layers} layers, trained {best} reaches {results[best]['nmse_per_layer_db'][-1]:.1f} dB "
          f"where ISTA reaches {curves['ista'][args.layers - 1]:.1f} dB; ISTA needs "
          f"{f'{factor:.1f}x' if factor else f'more than {n_baseline / args.layers:.0f}x'} as many iterations")
    print(f"wrote {out}/lista_nmse.png and lista_results.json")


if __name__ == "__main__":
    main()
