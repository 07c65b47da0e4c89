"""Prune a small MLP to >= 90% exact zeros with Adam + an l1 proximal step.

``optim.Adam(weights, lr, prox=prox.l1(lam))`` soft-thresholds every weight after each Adam step
(threshold ``lr * lam``), so weights whose gradients cannot keep them away from zero become
*exactly* zero -- no magnitude pruning, masks or retraining schedule. The task: 10-class labels
of 40-dimensional Gaussian inputs given by a random teacher that looks at 8 of the inputs; the
student is an over-parameterized MLP 40-256-256-10 (~78k weights). We train it densely, then
continue training with the l1 prox, and compare held-out accuracy and the fraction of zeros.

    python examples/prune_mlp.py [--lam 0.55] [--epochs 30] [--out DIR]   # about 10 CPU seconds
    python examples/prune_mlp.py --smoke                                   # fewer samples (tests)

Prints the fraction of exact zeros and the change of held-out accuracy (the numbers it
demonstrates) and writes them to ``prune_mlp.json`` in ``examples/output/`` (or ``--out``).
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp  # noqa: E402
from _common import output_folder  # noqa: E402
from diffprog import nn, optim, prox  # noqa: E402


def teacher_data(n, rng, teacher):
    X = rng.standard_normal((n, teacher.shape[0]))
    return X, np.argmax(np.tanh(X @ teacher), axis=1)


def accuracy(model, X, y):
    with dp.no_grad():
        return float(np.mean(np.argmax(model(X).data, axis=1) == y))


def weights_and_biases(model):
    weights = [m.weight for m in model.linears]
    biases = [m.bias for m in model.linears]
    return weights, biases


def run_epochs(model, optimizers, X, y, epochs, batch, rng, label):
    for _ in tqdm(range(epochs), desc=label, unit="epoch", leave=False):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            for opt in optimizers:
                opt.zero_grad()
            loss = nn.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            for opt in optimizers:
                opt.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lam", type=float, default=0.55, help="l1 weight (threshold lr * lam per step)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--smoke", action="store_true", help="10 epochs each instead of 30 (seconds)")
    parser.add_argument("--out", default=None, help="output folder (default examples/output)")
    args = parser.parse_args()
    out = output_folder(args.out)
    n_train, epochs = (6000, 10) if args.smoke else (6000, args.epochs)
    rng = np.random.default_rng(0)
    teacher = np.zeros((40, 10))
    teacher[:8] = rng.standard_normal((8, 10))
    X, y = teacher_data(n_train, rng, teacher)
    X_test, y_test = teacher_data(4000, rng, teacher)

    t0 = time.process_time()
    model = nn.MLP(40, [256, 256], 10, rng=1)
    weights, biases = weights_and_biases(model)
    run_epochs(model, [optim.Adam(weights + biases, lr=args.lr)], X, y, epochs, 100, rng, "dense training")
    dense_acc = accuracy(model, X_test, y_test)
    n_weights = sum(w.data.size for w in weights)
    print(f"dense:  test accuracy {dense_acc:.4f}, zeros {sum(np.sum(w.data == 0) for w in weights)}/{n_weights}")

    sparse_opt = optim.Adam(weights, lr=args.lr, prox=prox.l1(args.lam))
    run_epochs(model, [sparse_opt, optim.Adam(biases, lr=args.lr)], X, y, epochs, 100, rng, "l1-prox training")
    sparse_acc = accuracy(model, X_test, y_test)
    zeros = sum(int(np.sum(w.data == 0)) for w in weights)
    per_layer = [float(np.mean(w.data == 0)) for w in weights]
    print(f"pruned: test accuracy {sparse_acc:.4f}, exact zeros {zeros}/{n_weights} = {zeros / n_weights:.3f} "
          f"(per layer {', '.join(f'{f:.3f}' for f in per_layer)}); accuracy change {sparse_acc - dense_acc:+.4f}")
    first = weights[0].data
    used = np.flatnonzero(np.any(first != 0, axis=0))
    print(f"inputs still connected: {used.tolist()} (the teacher uses inputs 0..7)")
    cpu = time.process_time() - t0
    print(f"targets: zeros >= 0.90 -> {'met' if zeros / n_weights >= 0.9 else 'NOT met'}; accuracy loss <= 0.01 -> "
          f"{'met' if dense_acc - sparse_acc <= 0.01 else 'NOT met'}; {cpu:.0f} s CPU")
    results = {"dense_accuracy": dense_acc, "pruned_accuracy": sparse_acc, "zero_fraction": zeros / n_weights,
               "zero_fraction_per_layer": per_layer, "inputs_connected": used.tolist(), "weights": n_weights,
               "train_samples": n_train, "epochs": epochs, "lam": args.lam, "cpu_s": cpu}
    with open(os.path.join(out, "prune_mlp.json"), "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"numbers written to {os.path.join(out, 'prune_mlp.json')}")


if __name__ == "__main__":
    main()
