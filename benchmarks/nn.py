"""Neural-network benchmark: training-step time against PyTorch CPU, and the spectral-bias
experiment in both frameworks.

    python benchmarks/nn.py [--repeats N]                      # step times (about a minute)
    python benchmarks/nn.py --spectral [--size 128 --steps 2000 --encodings ...]   # heavy

Step times (float32, one BLAS thread, process CPU time, median of repeats, same inputs and
initial weights in both frameworks, measured in this one process):
  (a) coordinate MLP: the spectral-bias model (Gaussian Fourier features, 512 inputs -> three
      256-wide ReLU layers -> 3 sigmoid outputs), full batch of 4,096 pixels, MSE, Adam step;
  (b) 2-layer LSTM, input 32, hidden 128, sequence 50, batch 32, linear read-out of every step,
      MSE, Adam step (diffprog's fused LSTM cell against torch.nn.LSTM).
``--spectral`` trains examples/spectral_bias.py's protocol in diffprog and in PyTorch from the
same initial weights and the same encoded inputs, and prints train / held-out PSNR per encoding.
Append the printed tables to benchmarks/RESULTS.md by hand (``--append`` does it).
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
           "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_v] = "1"                     # before numpy / torch are imported

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import diffprog as dp  # noqa: E402
from diffprog import nn, optim  # noqa: E402

torch.set_num_threads(1)


def _load_example():
    spec = importlib.util.spec_from_file_location("spectral_bias", os.path.join(ROOT, "examples", "spectral_bias.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sb = _load_example()


def _paired_times(ours, theirs, repeats, warmup=2):
    """Median process CPU time of each step, alternating the two frameworks so that a load
    change on the shared machine hits both alike."""
    for _ in range(warmup):
        ours()
        theirs()
    times = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((ours, times[0]), (theirs, times[1])):
            t = time.process_time()
            fn()
            bucket.append(time.process_time() - t)
    return statistics.median(times[0]), statistics.median(times[1])


# ---- PyTorch twins of the diffprog models ----------------------------------------------------------

def torch_mlp(mlp):
    """A torch.nn.Sequential with the same layers and weights as a diffprog MLP."""
    layers = []
    for layer in mlp:
        if isinstance(layer, nn.Linear):
            lin = torch.nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.weight.data.copy()))
                lin.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
            layers.append(lin)
        elif isinstance(layer, nn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(layer, nn.Sigmoid):
            layers.append(torch.nn.Sigmoid())
        else:
            raise TypeError(f"no torch twin for {layer!r}")
    return torch.nn.Sequential(*layers)


def torch_encode(encoding, coords):
    """The same encodings computed with torch operations (float32)."""
    x = torch.from_numpy(coords)
    if encoding is None:
        return x
    if isinstance(encoding, nn.FourierFeatures):
        scales = torch.from_numpy((np.pi * encoding.frequencies).astype(np.float32))[:, None]
        angles = x[:, None, :] * scales
        feats = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-2).reshape(len(x), -1)
        return torch.cat([x, feats], dim=-1)
    angles = x @ torch.from_numpy((2 * np.pi * encoding.B.T).astype(np.float32))
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


# ---- (a) coordinate MLP step -------------------------------------------------------------------------

def bench_coordinate_mlp(repeats):
    data = sb.split(sb.load_image(128))
    encoding, mlp = sb.build_model("gaussian_10", seed=0)
    features = encoding(data[0]).data
    target = data[1]
    opt = optim.Adam(mlp.parameters(), lr=1e-3)

    def ours():
        loss = nn.mse_loss(mlp(features), target)
        opt.zero_grad()
        loss.backward()
        opt.step()

    tmlp = torch_mlp(mlp)
    tfeat = torch_encode(encoding, data[0])
    ttarget = torch.from_numpy(target)
    topt = torch.optim.Adam(tmlp.parameters(), lr=1e-3)
    np.testing.assert_allclose(tfeat.numpy(), features, atol=1e-4)

    def theirs():
        loss = torch.nn.functional.mse_loss(tmlp(tfeat), ttarget)
        topt.zero_grad()
        loss.backward()
        topt.step()

    return _paired_times(ours, theirs, repeats)


# ---- (b) 2-layer LSTM step -----------------------------------------------------------------------------

def bench_lstm(repeats, seq=50, batch=32, input_size=32, hidden=128):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((seq, batch, input_size)).astype(np.float32)
    y = rng.standard_normal((seq, batch, 1)).astype(np.float32)
    lstm = nn.LSTM(input_size, hidden, num_layers=2, rng=0, dtype=np.float32)
    head = nn.Linear(hidden, 1, rng=1, dtype=np.float32)
    params = lstm.parameters() + head.parameters()
    opt = optim.Adam(params, lr=1e-3)

    def ours():
        out, _ = lstm(x)
        loss = nn.mse_loss(head(out), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    tlstm = torch.nn.LSTM(input_size, hidden, num_layers=2)
    thead = torch.nn.Linear(hidden, 1)
    with torch.no_grad():
        for layer, cell in enumerate(lstm.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(tlstm, f"{name}_l{layer}").copy_(torch.from_numpy(getattr(cell, name).data))
        thead.weight.copy_(torch.from_numpy(head.weight.data))
        thead.bias.copy_(torch.from_numpy(head.bias.data))
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    np.testing.assert_allclose(tlstm(tx)[0].detach().numpy(), lstm(x)[0].data, atol=1e-5)
    topt = torch.optim.Adam(list(tlstm.parameters()) + list(thead.parameters()), lr=1e-3)

    def theirs():
        out, _ = tlstm(tx)
        loss = torch.nn.functional.mse_loss(thead(out), ty)
        topt.zero_grad()
        loss.backward()
        topt.step()

    return _paired_times(ours, theirs, repeats)


# ---- spectral bias in both frameworks ------------------------------------------------------------------

def torch_train(name, encoding, mlp, data, steps, shuffle_seed=None):
    """PyTorch twin of sb.train. ``shuffle_seed``: permute the training pixels (the same problem,
    but sums in a different order), a control for how far float rounding alone moves a run."""
    train_x, train_y, test_x, test_y = data
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(train_x))
        train_x, train_y = train_x[order], train_y[order]
    tmlp = torch_mlp(mlp)
    feats, test_feats = torch_encode(encoding, train_x), torch_encode(encoding, test_x)
    target = torch.from_numpy(train_y)
    opt = torch.optim.Adam(tmlp.parameters(), lr=sb.learning_rate(name))
    start = time.process_time()
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(tmlp(feats), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.process_time() - start
    with torch.no_grad():
        return (sb.psnr(tmlp(feats).numpy(), train_y), sb.psnr(tmlp(test_feats).numpy(), test_y), seconds)


def spectral_control(size, steps, encodings, framework="torch"):
    """One framework alone with the training pixels shuffled: the run-to-run spread that float
    rounding alone causes (the problem is mathematically the same)."""
    data = sb.split(sb.load_image(size))
    rows = []
    for name in encodings:
        if framework == "torch":
            encoding, mlp = sb.build_model(name, seed=0, size=size)
            train_psnr, test_psnr, seconds = torch_train(name, encoding, mlp, data, steps, shuffle_seed=1)
        else:
            order = np.random.default_rng(1).permutation(len(data[0]))
            result = sb.train(name, (data[0][order], data[1][order], data[2], data[3]), steps, seed=0)
            train_psnr, test_psnr, seconds = result["train_psnr"], result["test_psnr"], result["seconds"]
        rows.append((name, train_psnr, test_psnr, seconds))
        print(f"  {name}: {framework}, pixels shuffled: train/test {train_psnr:.2f}/{test_psnr:.2f} dB", flush=True)
    return rows


def spectral(size, steps, encodings):
    data = sb.split(sb.load_image(size))
    rows = []
    for name in encodings:
        encoding, mlp = sb.build_model(name, seed=0, size=size)   # the initial weights sb.train starts from
        theirs = torch_train(name, encoding, mlp, data, steps)
        ours = sb.train(name, data, steps, seed=0)
        rows.append((name, ours["train_psnr"], theirs[0], ours["test_psnr"], theirs[1], ours["seconds"], theirs[2]))
        print(f"  {name}: diffprog train/test {ours['train_psnr']:.2f}/{ours['test_psnr']:.2f} dB, "
              f"torch {theirs[0]:.2f}/{theirs[1]:.2f} dB", flush=True)
    return rows


def header():
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs (shared), Python {platform.python_version()}, NumPy {np.__version__}, "
            f"torch {torch.__version__}, one BLAS thread, process CPU time")


def main():
    parser = argparse.ArgumentParser(description="diffprog.nn benchmark against PyTorch CPU")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--spectral", action="store_true", help="run the spectral-bias experiment instead")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--encodings", nargs="+", default=sb.ENCODINGS)
    parser.add_argument("--control", nargs="?", const="torch", choices=["torch", "diffprog"],
                        help="with --spectral: one framework only, training pixels shuffled (rounding control)")
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    lines = [header(), ""]
    if args.spectral and args.control:
        command = (f"python benchmarks/nn.py --spectral --control {args.control} --size {args.size} "
                   f"--steps {args.steps} --encodings {' '.join(args.encodings)}")
        rows = spectral_control(args.size, args.steps, args.encodings, args.control)
        lines += [f"Control: {args.control} alone, same protocol and initial weights, training pixels in shuffled order:",
                  "", "| encoding | train PSNR | held-out PSNR | CPU s |", "|---|---|---|---|"]
        lines += [f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.0f} |" for r in rows]
    elif args.spectral:
        command = (f"python benchmarks/nn.py --spectral --size {args.size} --steps {args.steps} "
                   f"--encodings {' '.join(args.encodings)}")
        rows = spectral(args.size, args.steps, args.encodings)
        lines += [f"Spectral bias, {args.size}x{args.size} astronaut, train on even grid / test on odd grid, "
                  f"{args.steps} full-batch Adam steps, same initial weights:", "",
                  "| encoding | train PSNR diffprog | train PSNR torch | held-out PSNR diffprog | held-out PSNR torch "
                  "| CPU s diffprog | CPU s torch |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.0f} | {r[6]:.0f} |" for r in rows]
    else:
        command = f"python benchmarks/nn.py --repeats {args.repeats}"
        mlp = bench_coordinate_mlp(args.repeats)
        lstm = bench_lstm(args.repeats)
        lines += ["| training step (float32) | diffprog ms | torch ms | ratio | target |", "|---|---|---|---|---|",
                  f"| coordinate MLP 512-256-256-256-3, 4,096 points, Adam | {mlp[0] * 1e3:.1f} | {mlp[1] * 1e3:.1f} "
                  f"| {mlp[0] / mlp[1]:.2f} | <= 1.5 |",
                  f"| LSTM 2 layers, hidden 128, seq 50, batch 32, Adam | {lstm[0] * 1e3:.1f} | {lstm[1] * 1e3:.1f} "
                  f"| {lstm[0] / lstm[1]:.2f} | <= 1.5 |"]
    text = "\n".join([f"`{command}`", ""] + lines)
    print(text)
    if args.append:
        with open(os.path.join(ROOT, "benchmarks", "RESULTS.md"), "a") as f:
            f.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
