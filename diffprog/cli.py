"""The ``diffprog`` command."""
import argparse
import sys

import numpy as np


def _two_moons(n, rng):
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    labels = rng.integers(0, 2, n)
    x = np.where(labels[:, None] == 0, upper, lower) + 0.1 * rng.standard_normal((n, 2))
    return x, labels.astype(np.float64)


def demo(args):
    """Train a 2-32-32-1 tanh network on two moons with plain gradient descent."""
    import diffprog as dp
    rng = np.random.default_rng(args.seed)
    x, y = _two_moons(400, rng)
    sizes = [2, 32, 32, 1]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((a, b)) * np.sqrt(1 / a), np.zeros(b)]

    def loss(params):
        h = dp.tensor(x)
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = dp.tanh(h)
        logits = h[:, 0]
        return dp.mean(dp.softplus(logits) - y * logits)      # binary cross-entropy with logits

    step = dp.value_and_grad(loss)
    for it in range(args.iterations):
        value, grads = step(params)
        params = [p - 0.5 * g for p, g in zip(params, grads)]
        if it % max(args.iterations // 5, 1) == 0:
            print(f"iteration {it:4d}  loss {float(value):.4f}")
    with dp.no_grad():
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            h = np.tanh(h) if i < len(params) - 2 else h
    accuracy = np.mean((h[:, 0] > 0) == (y > 0.5))
    print(f"two moons, 400 points: training accuracy {accuracy:.1%} after {args.iterations} iterations")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="diffprog", description="Differentiable programming and rendering")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train a small network on two moons and report its accuracy")
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
