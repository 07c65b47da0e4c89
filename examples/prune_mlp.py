"""Prune a small MLP to >= 90% exact zeros with Adam + an l1 proximal step.

``optim.Adam(weights, lr, prox=prox.l1(lam))`` soft-thresholds every weight after each Adam step
(threshold ``lr * lam``), so weights whose gradients cannot keep them away from zero become
*exactly* zero -- no magnitude pruning, masks or retraining schedule. The task: 10-class labels
of 40-dimensional Gaussian inputs given by a random teacher that looks at 8 of the inputs; the
student is an over-parameterized MLP 40-256-256-10 (~78k weights). We train it densely, then
continue training with the l1 prox, and compare held-out accuracy and the fraction of zeros.

    python examples/prune_mlp.py [--lam 0.55] [--epochs 30]
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import diffprog as dp  # noqa: E402
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


def run_epochs(model, optimizers, X, y, epochs, batch, rng):
    for _ in range(epochs):
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
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    teacher = np.zeros((40, 10))
    teacher[:8] = rng.standard_normal((8, 10))
    X, y = teacher_data(6000, rng, teacher)
    X_test, y_test = teacher_data(4000, rng, teacher)

    t0 = time.process_time()
    model = nn.MLP(40, [256, 256], 10, rng=1)
    weights, biases = weights_and_biases(model)
    run_epochs(model, [optim.Adam(weights + biases, lr=args.lr)], X, y, args.epochs, 100, rng)
    dense_acc = accuracy(model, X_test, y_test)
    n_weights = sum(w.data.size for w in weights)
    print(f"dense:  test accuracy {dense_acc:.4f}, zeros {sum(np.sum(w.data == 0) for w in weights)}/{n_weights}")

    sparse_opt = optim.Adam(weights, lr=args.lr, prox=prox.l1(args.lam))
    run_epochs(model, [sparse_opt, optim.Adam(biases, lr=args.lr)], X, y, args.epochs, 100, rng)
    sparse_acc = accuracy(model, X_test, y_test)
    zeros = sum(int(np.sum(w.data == 0)) for w in weights)
    per_layer = ", ".join(f"{np.mean(w.data == 0):.3f}" for w in weights)
    print(f"pruned: test accuracy {sparse_acc:.4f}, exact zeros {zeros}/{n_weights} = {zeros / n_weights:.3f} "
          f"(per layer {per_layer}); accuracy change {sparse_acc - dense_acc:+.4f}")
    first = weights[0].data
    used = np.flatnonzero(np.any(first != 0, axis=0))
    print(f"inputs still connected: {used.tolist()} (the teacher uses inputs 0..7)")
    print(f"targets: zeros >= 0.90 -> {'met' if zeros / n_weights >= 0.9 else 'NOT met'}; accuracy loss <= 0.01 -> "
          f"{'met' if dense_acc - sparse_acc <= 0.01 else 'NOT met'}; {time.process_time() - t0:.0f} s CPU")


if __name__ == "__main__":
    main()
