"""Spectral bias and Fourier features: 2-D image regression (Tancik et al. 2020, scaled down).

A coordinate MLP maps pixel coordinates (x, y) in [0, 1)^2 to RGB. It is trained on the even
pixel grid of a photograph (scikit-image's public-domain ``astronaut``, in assets/) and evaluated
on the held-out odd grid. Without an encoding the network only fits the low frequencies (spectral
bias: training PSNR stalls); NeRF's positional encoding and Gaussian random Fourier features let it
fit fine detail, and the Gaussian scale trades detail for overfitting. Frequencies are in cycles
per image, so the useful scale grows with the resolution: s = 3 is best at 128x128 (RESULTS.md),
s = 1.5 at 64x64; the positional encoding's top frequency is the training grid's Nyquist rate.

    python examples/spectral_bias.py            # 64x64, 300 steps, width 128: none, positional, gaussian_1.5 (~2 min)
    python examples/spectral_bias.py --full     # 128x128, 2,000 steps, width 256, all six encodings (~20 min)
    python examples/spectral_bias.py --smoke    # 32x32, seconds (tests)

Model: encoding -> three ReLU layers (256 wide in the full protocol) -> 3 sigmoid outputs; MSE
loss; full-batch Adam, lr 1e-3 (1e-2 without encoding); float32. PSNR = -10 log10(MSE) for values
in [0, 1]. Prints the held-out PSNR gain of the best Fourier encoding over none; writes the
reconstructions spectral_bias.png and spectral_bias.json under examples/output/ (or --out DIR).
The functions here are reused by benchmarks/nn.py, which runs the full protocol in PyTorch.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp                  # noqa: E402
from diffprog import nn, optim         # noqa: E402
from _common import output_folder      # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(ROOT, "assets", "astronaut_128.png")
POSITIONAL_FREQUENCIES = 6           # 2^(L-1) = 32 cycles per unit: the training grid's Nyquist rate at 128 px
GAUSSIAN_FEATURES = 256
ENCODINGS = ["none", "positional", "gaussian_1", "gaussian_3", "gaussian_10", "gaussian_30"]


def load_image(size=128):
    """The photograph as a (size, size, 3) float32 array in [0, 1]."""
    if not os.path.exists(IMAGE):
        raise FileNotFoundError(f"spectral_bias: image {IMAGE} not found (it ships in the repository's assets/)")
    img = Image.open(IMAGE).convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.LANCZOS)
    return np.asarray(img, dtype=np.float32) / 255.0


def split(image):
    """(train_coords, train_rgb, test_coords, test_rgb): even grid for training, odd for testing."""
    size = image.shape[0]
    t = np.arange(size, dtype=np.float32) / size
    coords = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1)          # (size, size, 2)
    even, odd = (slice(0, None, 2),) * 2, (slice(1, None, 2),) * 2
    return (coords[even].reshape(-1, 2), image[even].reshape(-1, 3),
            coords[odd].reshape(-1, 2), image[odd].reshape(-1, 3))


def make_encoding(name, size=128):
    """The encoding module for a name in ENCODINGS (None for 'none'). The positional encoding's
    highest frequency is the training grid's Nyquist rate for a ``size`` x ``size`` image."""
    if name == "none":
        return None
    if name == "positional":
        frequencies = POSITIONAL_FREQUENCIES + int(round(np.log2(size / 128)))
        return nn.FourierFeatures(2, num_freqs=frequencies, include_input=True)
    if name.startswith("gaussian_"):
        return nn.GaussianFourierFeatures(2, GAUSSIAN_FEATURES, scale=float(name.split("_")[1]), seed=0,
                                          dtype=np.float32)
    raise ValueError(f"unknown encoding {name!r}; expected one of {ENCODINGS} or gaussian_<scale>")


def build_model(name, seed=0, width=256, size=128):
    """(encoding or None, MLP) with float32 weights drawn from ``seed``."""
    encoding = make_encoding(name, size)
    in_features = 2 if encoding is None else encoding.out_dim
    mlp = nn.MLP(in_features, [width] * 3, 3, activation="relu", output_activation="sigmoid",
                 rng=seed, dtype=np.float32)
    return encoding, mlp


def learning_rate(name):
    return 1e-2 if name == "none" else 1e-3


def psnr(prediction, target):
    return float(-10 * np.log10(np.mean((np.asarray(prediction, np.float64) - target) ** 2)))


def train(name, data, steps=2000, seed=0, log_every=0, width=256, progress=False):
    """Train the diffprog model; returns dict(train_psnr, test_psnr, seconds, model, history)."""
    train_x, train_y, test_x, test_y = data
    encoding, mlp = build_model(name, seed, width, size=2 * int(round(np.sqrt(len(train_x)))))
    features = train_x if encoding is None else encoding(train_x).data      # fixed: computed once
    test_features = test_x if encoding is None else encoding(test_x).data
    opt = optim.Adam(mlp.parameters(), lr=learning_rate(name))
    history = []
    start = time.process_time()
    for step in tqdm(range(steps), desc=name, disable=not progress):
        loss = nn.mse_loss(mlp(features), train_y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log_every and step % log_every == 0:
            history.append((step, -10 * np.log10(loss.item())))
    seconds = time.process_time() - start
    with dp.no_grad():
        return dict(train_psnr=psnr(mlp(features).data, train_y), test_psnr=psnr(mlp(test_features).data, test_y),
                    seconds=seconds, model=(encoding, mlp), history=history)


def render(model, size):
    """Evaluate a trained model on the full size x size grid -> (size, size, 3) image."""
    encoding, mlp = model
    t = np.arange(size, dtype=np.float32) / size
    coords = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2)
    with dp.no_grad():
        out = mlp(coords if encoding is None else encoding(coords).data).data
    return out.reshape(size, size, 3)


PROTOCOLS = {                # size, steps, width, encodings
    "smoke": (32, 150, 64, ["none", "gaussian_0.75"]),
    "quick": (64, 300, 128, ["none", "positional", "gaussian_1.5"]),
    "full": (128, 2000, 256, ENCODINGS),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the full protocol (128x128, 2,000 steps, ~20 min)")
    parser.add_argument("--smoke", action="store_true", help="32x32, 150 steps (seconds)")
    parser.add_argument("--size", type=int, help="override the protocol's image size")
    parser.add_argument("--steps", type=int, help="override the protocol's number of Adam steps")
    parser.add_argument("--width", type=int, help="override the protocol's hidden width")
    parser.add_argument("--encodings", nargs="+", help=f"override the encodings ({', '.join(ENCODINGS)}, gaussian_<s>)")
    parser.add_argument("--out", default=None, help="output folder (default examples/output)")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    size, steps, width, encodings = PROTOCOLS["full" if args.full else "smoke" if args.smoke else "quick"]
    size, steps, width = args.size or size, args.steps or steps, args.width or width
    encodings = args.encodings or encodings
    image = load_image(size)
    data = split(image)
    print(f"{size}x{size} image, {len(data[0])} training / {len(data[2])} held-out pixels, {steps} Adam steps, "
          f"width {width}")
    rows, panels = {}, [image]
    for name in encodings:
        result = train(name, data, steps, width=width, progress=True)
        rows[name] = {k: result[k] for k in ("train_psnr", "test_psnr", "seconds")}
        panels.append(np.clip(render(result["model"], size), 0, 1))
    print(f"{'encoding':<14}{'train PSNR':>12}{'test PSNR':>12}{'CPU s':>9}")
    for name, row in rows.items():
        print(f"{name:<14}{row['train_psnr']:>12.2f}{row['test_psnr']:>12.2f}{row['seconds']:>9.1f}")
    results = {"size": size, "steps": steps, "width": width, "encodings": rows}
    fourier = [name for name in rows if name != "none"]
    if "none" in rows and fourier:
        best = max(fourier, key=lambda name: rows[name]["test_psnr"])
        gain = rows[best]["test_psnr"] - rows["none"]["test_psnr"]
        print(f"held-out PSNR: {best} {rows[best]['test_psnr']:.2f} dB vs no encoding {rows['none']['test_psnr']:.2f} dB "
              f"({gain:+.2f} dB)")
        results.update(none_test_psnr=rows["none"]["test_psnr"], fourier_test_psnr=rows[best]["test_psnr"],
                       best_encoding=best)
    strip = np.concatenate(panels, axis=1)
    Image.fromarray((strip * 255).round().astype(np.uint8)).save(os.path.join(out, "spectral_bias.png"))
    with open(os.path.join(out, "spectral_bias.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"reconstructions (target, then {', '.join(encodings)}) and numbers written to {out}")
    return results


if __name__ == "__main__":
    main()
