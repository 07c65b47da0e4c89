"""Benchmark: the PyTorch bridge's per-call overhead against a 128x128 soft render.

Work timed, one thread, process CPU time, medians of repeats: Spot (5,856 faces) rendered by the
soft rasterizer (sigma = gamma = 1e-4, Gouraud shading) from one camera at 128x128, forward plus
backward with respect to the vertices,
  direct: ``diffprog.vjp`` of the render, then its VJP with a cotangent of ones;
  bridge: the same through ``to_torch_function`` from torch tensors, then ``out.backward(ones)``.
The bridge's own cost is also timed alone, on a function that does nothing (``x * 1``, 1-element
tensor), so its share of a render is measured without the render's noise. Target: overhead < 5%.

    python benchmarks/interop.py [--repeats 15]
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse          # noqa: E402
import platform          # noqa: E402
import sys               # noqa: E402
import time              # noqa: E402

import numpy as np       # noqa: E402
import torch             # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import diffprog as dp                                # noqa: E402
from diffprog import render as R                     # noqa: E402
from diffprog.interop.torch import to_torch_function  # noqa: E402

torch.set_num_threads(1)
SPOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "spot", "spot_triangulated.obj")


def cpu_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    spot = R.load_mesh(SPOT)
    faces, verts = spot.faces, np.asarray(spot.verts.data, float)
    colors = np.full(verts.shape, 0.7)
    cams = R.look_at(eye=R.orbit(n=1, elev=20, dist=2.7), fov=45, image_size=args.size, requires_grad=False)
    light = R.DirectionalLight(direction=(0, -1, -1), ambient=0.4)
    raster = R.SoftRasterizer(sigma=1e-4, gamma=1e-4)

    def render(v):
        return R.render(R.Mesh(v, faces, colors=colors), cams, light, rasterizer=raster, shader="gouraud")

    ones = np.ones((1, args.size, args.size, 4))

    def direct():
        out, vjp_fn = dp.vjp(render, verts)
        return vjp_fn(ones)

    bridged = to_torch_function(render)
    tv, tones = torch.tensor(verts, requires_grad=True), torch.from_numpy(ones)

    def bridge():
        tv.grad = None
        bridged(tv).backward(tones)
        return tv.grad

    np.testing.assert_allclose(bridge().numpy(), direct()[0], rtol=0, atol=1e-12)
    trivial = to_torch_function(lambda x: x * 1.0)
    t1 = torch.ones(1, dtype=torch.float64, requires_grad=True)

    def trivial_direct():
        out, vjp_fn = dp.vjp(lambda x: x * 1.0, np.ones(1))
        return vjp_fn(np.ones(1))

    def trivial_bridge():
        trivial(t1).backward(torch.ones(1, dtype=torch.float64))

    bridge(), direct()                                             # warm caches
    rows = []
    for _ in range(3):                                             # interleave against drift from load
        rows.append((cpu_time(direct, args.repeats), cpu_time(bridge, args.repeats)))
    d = float(np.median([r[0] for r in rows]))
    b = float(np.median([r[1] for r in rows]))
    td = cpu_time(trivial_direct, 200 * args.repeats // 15 or 200)
    tb = cpu_time(trivial_bridge, 200 * args.repeats // 15 or 200)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), Python "
          f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}; one thread, process "
          f"CPU time, medians of {args.repeats} x 3")
    print(f"| work | diffprog direct | through the bridge | overhead |\n|---|---:|---:|---:|")
    print(f"| Spot {args.size}x{args.size} soft render, fwd + bwd | {d * 1e3:.1f} ms | {b * 1e3:.1f} ms | "
          f"{(b / d - 1) * 100:+.1f}% |")
    print(f"| no-op function (x * 1), fwd + bwd | {td * 1e6:.0f} us | {tb * 1e6:.0f} us | "
          f"{(tb - td) * 1e6:.0f} us = {(tb - td) / d * 100:.2f}% of the render |")
    print(f"- bridge gradients equal diffprog's to 1e-12 (asserted); target overhead < 5%: "
          f"{'met' if max(b / d - 1, (tb - td) / d) < 0.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
