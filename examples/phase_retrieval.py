"""Phase retrieval by backpropagating a wave: recover a transparent (phase-only) object from the
intensities it casts at three propagation distances.

The object multiplies a unit plane wave by exp(i phi(x, y)). A camera records only |u_z|^2 at
z = 0.5, 1 and 2 mm (angular spectrum propagation, lambda = 633 nm, 2 um pixels). Starting from
phi = 0, Adam minimises the mismatch of the predicted and measured amplitudes; each gradient is a
propagation back to the object plane by conj(H). Intensity at several distances fixes phi up to a
constant, which is removed before measuring the error.

    python examples/phase_retrieval.py [--size 64] [--iterations 400] [--out DIR]     # seconds
    python examples/phase_retrieval.py --smoke

Writes phase_retrieval.png (matplotlib when installed, else a plain Pillow image) and
phase_retrieval.json under examples/output/ (or DIR).
"""
import argparse
import json
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp                                # noqa: E402
from diffprog.optics import intensity, propagate     # noqa: E402
from _common import output_folder, save_image        # noqa: E402

WAVELENGTH = 0.633e-6
SPACING = 2e-6
DISTANCES = (0.5e-3, 1e-3, 2e-3)


def true_phase(size, seed=0):
    """A smooth phase object: a few Gaussian bumps, peak about 2 rad."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    phase = np.zeros((size, size))
    for _ in range(6):
        cx, cy = rng.uniform(0.25, 0.75, 2)
        width = rng.uniform(0.04, 0.1)
        phase += rng.uniform(-1.5, 2.0) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width ** 2))
    return phase


def measure(phase, padding):
    """The recorded intensities, one (size, size) image per distance."""
    field = np.exp(1j * phase)
    return [intensity(propagate(field, z, WAVELENGTH, SPACING, padding=padding)).data for z in DISTANCES]


def recover(measurements, size, iterations=400, lr=0.05, padding=16):
    """Adam on phi from phi = 0; returns the estimate and the loss history."""
    phi = dp.zeros((size, size), requires_grad=True)
    optimizer = dp.optim.Adam([phi], lr=lr)
    amplitudes = [np.sqrt(m) for m in measurements]
    history = []
    for _ in tqdm(range(iterations), desc="phase retrieval"):
        optimizer.zero_grad()
        field = dp.exp(1j * phi)
        loss = 0.0
        for z, amplitude in zip(DISTANCES, amplitudes):
            predicted = dp.abs(propagate(field, z, WAVELENGTH, SPACING, padding=padding))
            loss = loss + dp.mean((predicted - amplitude) ** 2)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return phi.data, history


def phase_error(estimate, truth):
    """RMS error after removing the (unobservable) constant phase offset."""
    d = estimate - truth
    return float(np.sqrt(np.mean((d - d.mean()) ** 2)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--smoke", action="store_true", help="32 x 32 pixels, 100 iterations (seconds)")
    parser.add_argument("--out", default=None, help="output folder (default examples/output)")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    size, iterations = (32, 100) if args.smoke else (args.size, args.iterations)
    truth = true_phase(size)
    measurements = measure(truth, padding=16)
    estimate, history = recover(measurements, size, iterations)
    before, after = phase_error(np.zeros_like(truth), truth), phase_error(estimate, truth)
    print(f"loss {history[0]:.3e} -> {history[-1]:.3e}; RMS phase error {before:.3f} rad (phi = 0) -> {after:.4f} rad")
    offset = (estimate - truth).mean()
    save_image(os.path.join(out, "phase_retrieval.png"),
               [(truth, "true phase"), (measurements[1], "intensity at 1 mm"),
                (estimate - offset, "recovered phase"), (estimate - truth - offset, "error")])
    results = dict(initial_loss=history[0], final_loss=history[-1], initial_rms_error=before, final_rms_error=after)
    with open(os.path.join(out, "phase_retrieval.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"plot and numbers written to {out}")
    return results


if __name__ == "__main__":
    main()
