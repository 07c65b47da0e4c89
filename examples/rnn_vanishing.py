"""Vanishing gradients through time: a tanh RNN against an LSTM, and what truncated BPTT keeps.

A loss at the last step T of a sequence, L = sum(u * h_T) with a fixed random u, is
backpropagated to every earlier state. The example prints ||dL/ds_{T-k}|| / ||dL/ds_{T-1}||, the
gradient's norm with respect to the state k steps back (for the LSTM the state is (h, c)), for
  - a tanh RNN (PyTorch's default initialisation): it shrinks geometrically with k;
  - an LSTM with PyTorch's default initialisation (forget gate ~ sigmoid(0) = 0.5): shrinks too;
  - the same LSTM with its forget-gate bias set to 1 (Jozefowicz et al. 2015) and to 3: the cell
    state's additive path keeps the gradient alive over tens of steps.
Truncated BPTT (``nn.run_sequence(..., truncate=k)``) cuts the graph every k steps: the example
measures how much of the full gradient with respect to the recurrent weights it keeps, which is
nearly all of it for the tanh RNN (the far past contributed nothing anyway) and much less for the
LSTM that carries long-range signal.

    python examples/rnn_vanishing.py [--steps 100] [--out DIR]      # seconds
    python examples/rnn_vanishing.py --smoke
"""
import argparse
import json
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp                      # noqa: E402
from diffprog import nn                    # noqa: E402
from _common import output_folder, pyplot  # noqa: E402

BATCH, INPUTS, HIDDEN = 16, 8, 32


def make_cell(kind, forget_bias=0.0, seed=1):
    """'rnn' -> a tanh RNNCell; 'lstm' -> an LSTMCell with ``forget_bias`` added to its forget gate."""
    if kind == "rnn":
        return nn.RNNCell(INPUTS, HIDDEN, rng=seed)
    cell = nn.LSTMCell(INPUTS, HIDDEN, rng=seed, fused=False)
    bias = cell.bias_ih.data.copy()
    bias[HIDDEN:2 * HIDDEN] += forget_bias                      # gate order i, f, g, o
    cell.bias_ih.data = bias
    return cell


def state_gradient_norms(cell, x, u):
    """||dL/ds_t|| for t = T-1 ... 0 (index k = steps back from the last state), L = sum(u * h_T).
    A zero offset added to each state makes dL/d(offset_t) the gradient with respect to s_t."""
    steps = len(x)
    lstm = isinstance(cell, nn.LSTMCell)
    step = cell.recurrence()
    projected = cell.project_input(x).data

    def loss(offsets):
        state = cell.initial_state(BATCH)
        for t in range(steps):
            state = step(projected[t], state)
            state = (state[0] + offsets[t, 0], state[1] + offsets[t, 1]) if lstm else state + offsets[t, 0]
        return dp.sum((state[0] if lstm else state) * u)
    gradient = dp.grad(loss)(np.zeros((steps, 2 if lstm else 1, BATCH, HIDDEN)))
    return np.sqrt(np.sum(gradient ** 2, axis=(1, 2, 3)))[::-1]


def truncation_kept(cell, x, u, window):
    """Relative agreement of the truncated-BPTT gradient (window steps) with the full gradient,
    with respect to the recurrent weights: 1 - ||g_truncated - g_full|| / ||g_full||."""
    def weight_gradient(truncate):
        cell.zero_grad()
        outputs, _ = nn.run_sequence(cell, x, truncate=truncate)
        dp.sum(outputs[-1] * u).backward()
        return cell.weight_hh.grad.copy()
    full, cut = weight_gradient(None), weight_gradient(window)
    return 1.0 - float(np.linalg.norm(cut - full) / np.linalg.norm(full))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="sequence length T")
    parser.add_argument("--window", type=int, default=20, help="truncated BPTT window")
    parser.add_argument("--smoke", action="store_true", help="T = 40 (seconds)")
    parser.add_argument("--out", default=None, help="output folder (default examples/output)")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    steps = 40 if args.smoke else args.steps
    rng = np.random.default_rng(0)
    x, u = rng.standard_normal((steps, BATCH, INPUTS)), rng.standard_normal((BATCH, HIDDEN))
    models = {"tanh RNN": ("rnn", 0.0), "LSTM": ("lstm", 0.0), "LSTM, forget bias 1": ("lstm", 1.0),
              "LSTM, forget bias 3": ("lstm", 3.0)}
    lags = [k for k in (1, 5, 10, 25, 50, 90) if k < steps]
    results = {}
    print(f"T = {steps}, batch {BATCH}, hidden {HIDDEN}: ||dL/ds_(T-k)|| / ||dL/ds_(T-1)|| and the share of the "
          f"full weight gradient that truncated BPTT ({args.window} steps) keeps")
    print(f"{'':<22}" + "".join(f"{'k = ' + str(k):>10}" for k in lags) + f"{'kept':>8}")
    for name, (kind, bias) in tqdm(models.items(), desc="models"):
        norms = state_gradient_norms(make_cell(kind, bias), x, u)
        kept = truncation_kept(make_cell(kind, bias), x, u, args.window)
        results[name] = {"relative_norm": (norms / norms[0]).tolist(), "truncation_kept": kept}
        tqdm.write(f"{name:<22}" + "".join(f"{norms[k] / norms[0]:>10.1e}" for k in lags) + f"{kept:>8.1%}")
    far = max(k for k in lags if k <= steps // 2)
    rnn, lstm = results["tanh RNN"]["relative_norm"][far], results["LSTM, forget bias 3"]["relative_norm"][far]
    print(f"{far} steps back the gradient is {rnn:.1e} of its size at the last step for the tanh RNN and {lstm:.1e} "
          f"for the LSTM with an open forget gate ({lstm / rnn:.0e}x larger)")
    with open(os.path.join(out, "rnn_vanishing.json"), "w") as f:
        json.dump({"steps": steps, "window": args.window, "far": far, **results}, f, indent=1)
    plt = pyplot()
    if plt is not None:
        figure, axes = plt.subplots(figsize=(6, 4))
        for name, result in results.items():
            axes.semilogy(np.arange(steps), result["relative_norm"], label=name)
        axes.axvline(args.window, color="grey", ls=":", label=f"truncation window ({args.window})")
        axes.set(xlabel="k (steps back from T)", ylabel="||dL/ds_(T-k)|| / ||dL/ds_(T-1)||")
        axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(os.path.join(out, "rnn_vanishing.png"), dpi=100)
        plt.close(figure)
    print(f"numbers written to {out}")
    return results


if __name__ == "__main__":
    main()
