"""Benchmark of ``render.shading = "field"``: Spot's held-out masked PSNR with a colour field vs
vertex colours, same scene, same schedule, same vertex count, same run.

    python benchmarks/color_field.py                     # ~2 x 5-15 min on two (shared) cores
    python benchmarks/color_field.py --iterations 60     # smoke run

Both fits run ``scenes/spot_quick.toml`` at 128x128 without the colour stage's subdivision (so both
end with the same mesh resolution, ~2.5k vertices); the field fit swaps the vertex colours for a
``ColorField`` (Gaussian Fourier features, [color_field] defaults). Target (issue 19): the field at
least 2 dB above vertex colours. CPU seconds are process time (one BLAS thread; the machine is shared).
"""
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from diffprog.fit import run_scene  # noqa: E402
from diffprog.io.config import parse_override  # noqa: E402


SCENE = os.path.join(ROOT, "scenes", "spot_quick.toml")


def common_overrides(image_size=128, iterations=300, color_iterations=150):
    """Scene keys shared by both fits: 128 px, no colour-stage subdivision (same vertex count), quick outputs.

    150 colour steps: vertex colours have converged by 60 (the same held-out PSNR at 60 and 150), the
    field's MLP has not (+1.65 dB over vertex colours at 60, +2.26 dB at 150)."""
    return {"render.image_size": image_size, "schedule.iterations": iterations,
            "schedule.color_iterations": color_iterations, "schedule.color_subdivide": False,
            "schedule.preview_every": 0, "output.turntable_frames": 4}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default=SCENE)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--color-iterations", type=int, default=150)
    parser.add_argument("--json", default=None, help="also write the metrics here")
    parser.add_argument("--only", choices=("unlit", "field"), default=None, help="run one of the two fits")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a scene key for both fits, e.g. color_field.scale=8 (repeatable)")
    args = parser.parse_args(argv)
    common = common_overrides(args.image_size, args.iterations, args.color_iterations)
    for text in args.set:
        key, value = parse_override(text)
        common[key] = value
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for shading in (args.only,) if args.only else ("unlit", "field"):
            overrides = dict(common, **{"render.shading": shading})
            results[shading] = run_scene(args.scene, out_dir=os.path.join(scratch, shading), overrides=overrides,
                                         progress=False)
            m = results[shading]
            print(f"{shading:>6}: held-out masked PSNR {m['held_out_masked_psnr']:.2f} dB, IoU "
                  f"{m['held_out_silhouette_iou']:.4f}, chamfer {100 * m['chamfer_over_diagonal']:.3f}%, "
                  f"{m['vertices']} vertices, {m['cpu_seconds']:.0f} CPU s ({m['seconds']:.0f} s wall)", flush=True)
    if len(results) < 2:
        return
    gain = results["field"]["held_out_masked_psnr"] - results["unlit"]["held_out_masked_psnr"]
    print(f"field - vertex colours: {gain:+.2f} dB (target >= +2 dB)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
