"""Spectral bias and Fourier features: 2-D image regression (Tancik et al. 2020, scaled down).

A coordinate MLP maps pixel coordinates (x, y) in [0, 1)^2 to RGB. It is trained on the even
pixel grid of a 128x128 photograph (scikit-image's public-domain ``astronaut``, in assets/) and
evaluated on the held-out odd grid. Without an encoding the network only fits the low
frequencies (spectral bias: training PSNR stalls); NeRF's positional encoding and Gaussian
random Fourier features let it fit fine detail, and the Gaussian scale trades detail for
overfitting.

    python examples/spectral_bias.py                    # full protocol: 128x128, 2,000 Adam steps
    python examples/spectral_bias.py --size 64 --steps 300 --encodings none gaussian_10

Model: encoding -> three 256-wide ReLU layers -> 3 sigmoid outputs; MSE loss; full-batch Adam,
lr 1e-3 (1e-2 without encoding); float32. PSNR = -10 log10(MSE) for values in [0, 1].
The functions here are reused by benchmarks/nn.py, which runs the same protocol in PyTorch.
"""
import argparse
import os
import time

import numpy as np
from PIL import Image
from tqdm import tqdm

import diffprog as dp
from diffprog import nn, optim

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--encodings", nargs="+", default=ENCODINGS)
    parser.add_argument("--out", default="spectral_bias.png", help="figure of the reconstructions")
    args = parser.parse_args()
    image = load_image(args.size)
    data = split(image)
    print(f"{args.size}x{args.size} image, {len(data[0])} training / {len(data[2])} held-out pixels, "
          f"{args.steps} Adam steps")
    print(f"{'encoding':<14}{'train PSNR':>12}{'test PSNR':>12}{'CPU s':>9}")
    panels = [image]
    for name in args.encodings:
        result = train(name, data, args.steps)
        print(f"{name:<14}{result['train_psnr']:>12.2f}{result['test_psnr']:>12.2f}{result['seconds']:>9.1f}")
        panels.append(np.clip(render(result["model"], args.size), 0, 1))
    strip = np.concatenate(panels, axis=1)
    Image.fromarray((strip * 255).round().astype(np.uint8)).save(args.out)
    print(f"reconstructions (target, then {', '.join(args.encodings)}) saved to {args.out}")


if __name__ == "__main__":
    main()
