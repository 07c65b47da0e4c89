"""Seismic imaging: the reverse-mode gradient of a wave simulation IS reverse-time migration.

A 2-D acoustic wave equation m u_tt = lap u + f (m = 1 / velocity^2, squared slowness) runs on a
layered velocity model with a buried reflector; shots fire near the surface and a line of
receivers records the pressure. The misfit J(m) = 1/2 sum (recorded - observed)^2 is taken for
the migration model (the layers, without the reflector), so the residual is the reflected wave.

Reverse mode through the time-stepping loop gives dJ/dm. Written by hand, the same gradient is
the classical RTM image: run the wave equation backward in time driven by the time-reversed
residual at the receivers (the adjoint wavefield lambda), and take the zero-lag cross-correlation
with the forward wavefield's second time difference: dJ/dm = -(1/m) sum_t lambda_{t+1} D2u_t.
The example checks that the two agree to 1e-8 and that the image shows the reflector at its depth.

Scheme: second order in time and space (5-point Laplacian, zero outside the grid), a damping
sponge on every side: u_{t+1} = a (2 u_t + dt^2 (lap u_t + f_t) / m) - b u_{t-1} with
a = 1 / (1 + eta dt), b = (1 - eta dt) / (1 + eta dt); Ricker source wavelet.

    python examples/seismic_rtm.py [--shots 3] [--out DIR]        # about half a minute
    python examples/seismic_rtm.py --smoke                          # a few seconds (tests)
"""
import argparse
import json
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp                     # noqa: E402
from _common import output_folder, save_image  # noqa: E402


def layered_model(nz, nx, reflector=True):
    """Velocity (nz, nx) in m/s: 1500 over 1800 at 35% depth; with ``reflector`` a faster layer
    (2400) below 70% depth."""
    velocity = np.full((nz, nx), 1500.0)
    velocity[int(0.35 * nz):] = 1800.0
    if reflector:
        velocity[int(0.7 * nz):] = 2400.0
    return velocity


def ricker(t, frequency, delay):
    arg = (np.pi * frequency * (t - delay)) ** 2
    return (1 - 2 * arg) * np.exp(-arg)


class Survey:
    """Grid, time axis, sponge, shots and receivers of the experiment."""

    def __init__(self, nz=80, nx=120, spacing=10.0, steps=500, dt=2e-3, frequency=12.0, shots=3, sponge=15):
        self.nz, self.nx, self.dx, self.steps, self.dt = nz, nx, spacing, steps, dt
        depth = np.minimum(np.arange(nz), np.arange(nz)[::-1])[:, None]
        across = np.minimum(np.arange(nx), np.arange(nx)[::-1])[None, :]
        distance = np.maximum(sponge - np.minimum(depth, across), 0) / sponge
        eta = 60.0 * distance ** 2                                    # 1/s, quadratic ramp into the sponge
        self.a = 1.0 / (1.0 + eta * dt)
        self.b = (1.0 - eta * dt) / (1.0 + eta * dt)
        self.depth = sponge + 2                                       # sources and receivers, just below the sponge
        self.receivers = np.arange(sponge, nx - sponge)
        self.sources = np.linspace(sponge + 5, nx - sponge - 6, shots).round().astype(int)
        self.wavelet = ricker(np.arange(steps) * dt, frequency, 1.2 / frequency) / spacing ** 2

    def laplacian(self, u, pad):
        p = pad(u)
        return (p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * u) / self.dx ** 2

    def source(self, shot, n):
        f = np.zeros((self.nz, self.nx))
        f[self.depth, self.sources[shot]] = self.wavelet[n]
        return f


def _pad_dp(u):
    return dp.pad(u, 1)


def _pad_np(u):
    return np.pad(u, 1)


def simulate(survey, m, shot, keep=False):
    """Recorded traces (steps, receivers) for squared slowness ``m`` (array or Tensor); with
    ``keep`` (NumPy only) also the wavefields u_0..u_steps."""
    numpy = not isinstance(m, dp.Tensor)
    pad = _pad_np if numpy else _pad_dp
    u_prev = u = np.zeros((survey.nz, survey.nx))
    traces, fields = [], [u]
    scale = survey.dt ** 2 / m
    for n in range(survey.steps):
        lap = survey.laplacian(u, pad)
        u_next = survey.a * (2 * u + scale * (lap + survey.source(shot, n))) - survey.b * u_prev
        u_prev, u = u, u_next
        traces.append(u[survey.depth, survey.receivers])
        if keep:
            fields.append(u)
    data = np.stack(traces) if numpy else dp.stack(traces)
    return (data, fields) if keep else data


def misfit(survey, m, observed):
    """J(m) = 1/2 sum over shots, times and receivers of (simulated - observed)^2."""
    total = 0.0
    for shot, d in enumerate(observed):
        r = simulate(survey, m, shot) - d
        total = total + 0.5 * dp.sum(r * r)
    return total


def rtm_image(survey, m, observed):
    """Reverse-time migration by hand: for each shot, the forward wavefield u, then the adjoint
    wavefield lambda run backward in time from the time-reversed residual injected at the
    receivers; returns (image = sum_shots sum_t lambda_{t+1} D2u_t, the gradient -image / m)."""
    image = np.zeros((survey.nz, survey.nx))
    a, b, dt2 = survey.a, survey.b, survey.dt ** 2
    for shot, d in enumerate(observed):
        data, u = simulate(survey, m, shot, keep=True)
        residual = data - d                                           # (steps, receivers); row n is u_{n+1}
        later = np.zeros_like(image)                                  # lambda_{n+2}
        now = np.zeros_like(image)                                    # lambda_{n+1}
        for n in range(survey.steps - 1, -1, -1):                     # lambda_{n+1} from lambda_{n+2}, lambda_{n+3}
            lam = np.zeros_like(image)
            lam[survey.depth, survey.receivers] = residual[n]
            lam += 2 * a * now + dt2 * survey.laplacian(a * now / m, _pad_np) - b * later
            later, now = now, lam
            second_difference = u[n + 1] - 2 * a * u[n] + b * (u[n - 1] if n > 0 else 0.0)
            image += lam * second_difference
    return image, -image / m


def reflector_depth(image, survey, mute):
    """Depth index of the strongest horizontal feature of the image (vertical second difference,
    energy per row), ignoring the ``mute`` rows below the sources and the sponges."""
    sharp = np.abs(np.diff(image, 2, axis=0))[:, survey.receivers]
    energy = np.mean(sharp, axis=1)
    rows = np.arange(1, len(energy) + 1)
    valid = (rows > survey.depth + mute) & (rows < survey.nz - 16)
    return int(rows[valid][np.argmax(energy[valid])]), energy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a coarse grid and few steps (seconds)")
    parser.add_argument("--out", default=None, help="output folder (default examples/output)")
    args = parser.parse_args(argv)
    out = output_folder(args.out)
    frequency = 7.0 if args.smoke else 12.0
    survey = Survey(nz=48, nx=64, spacing=20.0, steps=260, dt=4e-3, frequency=frequency, shots=2, sponge=10) \
        if args.smoke else Survey(frequency=frequency, shots=args.shots)
    true_m = 1.0 / layered_model(survey.nz, survey.nx) ** 2
    m = 1.0 / layered_model(survey.nz, survey.nx, reflector=False) ** 2
    observed = [simulate(survey, true_m, s) for s in tqdm(range(len(survey.sources)), desc="observed shots")]
    print(f"grid {survey.nz} x {survey.nx} ({survey.dx:g} m), {survey.steps} steps of {survey.dt * 1e3:g} ms, "
          f"{len(survey.sources)} shots, {len(survey.receivers)} receivers")
    with tqdm(total=2, desc="reverse mode, then RTM by hand") as bar:
        gradient = dp.grad(lambda mm: misfit(survey, mm, observed))(m)
        bar.update()
        image, by_hand = rtm_image(survey, m, observed)
        bar.update()
    difference = float(np.abs(gradient - by_hand).max() / np.abs(by_hand).max())
    truth = int(0.7 * survey.nz)
    found, energy = reflector_depth(image, survey, mute=5)
    tolerance = 1800.0 / frequency / 4                                # a quarter wavelength above the reflector
    print(f"check 1: max |reverse-mode dJ/dm - RTM gradient| / max |RTM gradient| = {difference:.1e} "
          f"(target <= 1e-8): {'met' if difference <= 1e-8 else 'NOT met'}")
    print(f"check 2: the image's strongest horizontal feature is at depth {found * survey.dx:g} m, the reflector "
          f"at {truth * survey.dx:g} m: {'visible' if abs(found - truth) * survey.dx <= tolerance else 'NOT found'} "
          f"(tolerance a quarter wavelength, {tolerance:.0f} m)")
    view = np.clip(image / np.abs(image[survey.depth + 5:]).max(), -1, 1)      # the shallow artefacts saturate
    save_image(os.path.join(out, "seismic_rtm.png"),
               [(layered_model(survey.nz, survey.nx), "true velocity"), (view, "RTM image = -m dJ/dm")])
    results = dict(relative_difference=difference, reflector_depth_m=truth * survey.dx,
                   image_depth_m=found * survey.dx, tolerance_m=tolerance)
    with open(os.path.join(out, "seismic_rtm.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"image and numbers written to {out}")
    return results


if __name__ == "__main__":
    main()
