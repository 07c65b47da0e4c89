"""Benchmark of `diffprog fit`: Spot from 20 photographs with the previous default recipe, the new
default (issue 15) and PyTorch3D's recipe in the same run; an ablation of the new default (each of
its ideas switched off in turn); the genus-1 mug fitted with the default recipe; camera recovery
from one silhouette. Appends its tables to benchmarks/RESULTS.md.

    python benchmarks/fit.py                    # everything (~40 CPU minutes)
    python benchmarks/fit.py --only recipes     # the three recipes on Spot
    python benchmarks/fit.py --only ablation    # the new default with each idea off
    python benchmarks/fit.py --only mug         # the held-out genus-1 object
    python benchmarks/fit.py --only field       # colour field vs vertex colours (benchmarks/color_field.py)
    python benchmarks/fit.py --only camera      # camera recovery only
    python benchmarks/fit.py --only kernels     # whole `diffprog fit scenes/spot.toml`: compiled vs NumPy kernels
    python benchmarks/fit.py --only before      # the scene of issue 14's day: that day's code vs today's (git needed)
    python benchmarks/fit.py --iterations-scale 0.05 --no-append   # smoke run

Times are process CPU seconds of one process with one BLAS thread (the machine may be shared),
with wall-clock seconds beside them. Targets (issue 15): Spot held-out IoU >= 0.98, chamfer <= 0.25%
of the bounding-box diagonal, masked PSNR >= 27 dB in <= 60 CPU s; the mug held-out IoU >= 0.97 with
the fitted mesh's Euler characteristic equal to the truth's.
"""
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from diffprog import render as R  # noqa: E402
from diffprog.fit import (eye_from_spherical, look_at_point, recover_camera, run_scene,  # noqa: E402
                          spherical_from_eye)
from diffprog.fit import load_scene, read_views  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import color_field  # noqa: E402

RECIPES = [("previous default (scenes/spot_previous_default.toml)", "scenes/spot_previous_default.toml", {}),
           ("new default (scenes/spot.toml)", "scenes/spot.toml", {}),
           ("PyTorch3D recipe (scenes/spot_pytorch3d_recipe.toml)", "scenes/spot_pytorch3d_recipe.toml", {})]
# Each idea of the new default switched off in turn (scenes/spot.toml with these keys).
ABLATIONS = [("new default, every idea on", "scenes/spot.toml", {}),
             ("no Large Steps (Adam on positions, lr 0.005, edge 0.3 + Laplacian 0.3 regularizers)", "scenes/spot.toml",
              {"schedule.large_steps_lambda": 0.0, "schedule.optimizer": "adam", "schedule.learning_rate": 0.005,
               "loss.edge": 0.3, "loss.laplacian": 0.3}),
             ("no remeshing (the starting mesh's topology throughout)", "scenes/spot.toml",
              {"schedule.remesh_every": 0}),
             ("no visual hull (level-3 ico-sphere start)", "scenes/spot.toml", {"mesh.initial": "ico_sphere"}),
             ("no lit albedo (unlit baked vertex colours)", "scenes/spot.toml", {"render.shading": "unlit"}),
             ("no sharp outline (no back-face culling, sigma fixed at 1e-5)", "scenes/spot.toml",
              {"render.cull_backfaces": False, "render.sigma_final": 1e-5})]
HELD_OUT = [("mug, default recipe (scenes/mug.toml)", "scenes/mug.toml", {})]
# Issue 19: a colour field against vertex colours, same scene, schedule and vertex count (benchmarks/color_field.py).
FIELD = [(f"{label} (scenes/spot_quick.toml at 128 px, 300 + 150 colour steps)", os.path.relpath(color_field.SCENE, ROOT),
          dict(color_field.common_overrides(), **{"render.shading": shading}))
         for label, shading in (("vertex colours", "unlit"), ("colour field", "field"))]


def fit_one(task):
    """Run one recipe; returns (name, metrics, CPU seconds of this process, wall seconds)."""
    name, scene, extra, scale, out_root = task
    path = os.path.join(ROOT, scene)
    overrides = dict(extra)
    if scale != 1.0:
        base = load_scene(path, overrides)
        overrides.update({"schedule.iterations": max(1, round(base["schedule.iterations"] * scale)),
                          "schedule.color_iterations": round(base["schedule.color_iterations"] * scale)})
    wall, cpu = time.perf_counter(), time.process_time()
    label = "".join(c if c.isalnum() else "_" for c in name)[:60]
    metrics = run_scene(path, out_dir=os.path.join(out_root, label), overrides=overrides, progress=False)
    row = (name, metrics, time.process_time() - cpu, time.perf_counter() - wall)
    print(f"{name}: {metrics}", flush=True)
    return row


def fit_rows(recipes, scale, out_root, jobs):
    """The recipes, each in its own process (``jobs`` at a time), each timed by its own CPU clock."""
    import multiprocessing
    tasks = [(name, scene, extra, scale, out_root) for name, scene, extra in recipes]
    if jobs <= 1:
        return [fit_one(task) for task in tasks]
    with multiprocessing.get_context("spawn").Pool(min(jobs, len(tasks))) as pool:
        return pool.map(fit_one, tasks)


KERNEL_SCENE = "scenes/spot.toml"


def whole_command(kernels, out_dir, scale=1.0, seed=None):
    """``python -m diffprog.cli fit KERNEL_SCENE`` in a child process with ``DIFFPROG_KERNELS=kernels``
    (numba's cache should be warm); returns (metrics, the child's user + system CPU s, wall s)."""
    import json
    import resource
    import subprocess
    path = os.path.join(ROOT, KERNEL_SCENE)
    extra = []
    if scale != 1.0:
        base = load_scene(path)
        extra = ["--iterations", str(max(1, round(base["schedule.iterations"] * scale))), "--set",
                 f"schedule.color_iterations={round(base['schedule.color_iterations'] * scale)}"]
    if seed is not None:
        extra += ["--seed", str(seed)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run([sys.executable, "-m", "diffprog.cli", "fit", path, "--out", out_dir, "--quiet"] + extra,
                   check=True, cwd=ROOT, env=dict(os.environ, DIFFPROG_KERNELS=kernels, PYTHONPATH=ROOT),
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return json.load(f), cpu, wall


# Issue 14's "before": the last commit before its work, whose scenes/spot.toml is today's
# scenes/spot_previous_default.toml (the same recipe; the keys the later defaults added switched off)
BEFORE_ISSUE_14 = "50cb9a20ba3f7a1f1d55cac1900b1659dbbab9d4"


def child_fit(tree, scene, out_dir, env=None):
    """``python -m diffprog.cli fit scene`` run from source ``tree`` in a child process; returns
    (metrics, the child's user + system CPU s, wall s)."""
    import json
    import resource
    import subprocess
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run([sys.executable, "-m", "diffprog.cli", "fit", scene, "--out", out_dir, "--quiet"], check=True,
                   cwd=tree, env=dict(os.environ, PYTHONPATH=tree, **(env or {})), stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return json.load(f), (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def before_rows(out_root, rev=BEFORE_ISSUE_14):
    """The whole fit of issue 14's day, before and now: ``diffprog fit scenes/spot.toml`` with the
    source of commit ``rev`` (exported by ``git archive``), then today's code on the same recipe
    (``scenes/spot_previous_default.toml``), compiled kernels, one after the other."""
    import subprocess
    tree = os.path.join(out_root, "before_src")
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", rev], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
    rows = []
    for name, src, scene in ((f"before issue 14 ({rev[:7]}), scenes/spot.toml", tree, "scenes/spot.toml"),
                             ("today, scenes/spot_previous_default.toml", ROOT, "scenes/spot_previous_default.toml")):
        metrics, cpu, wall = child_fit(src, scene, os.path.join(out_root, "before" if src == tree else "today"))
        print(f"{name}: {cpu:.1f} CPU s, {metrics}", flush=True)
        rows.append((name, metrics, cpu, wall))
    return rows


def kernel_rows(out_root, scale=1.0, seeds=()):
    """Issue 14's whole-fit figure: the same command with the compiled kernels, then the NumPy ones;
    then, for each of ``seeds``, both again with that seed (other draws of each step's views: the
    spread of the metrics between seeds shows how far apart two equally good fits land)."""
    rows = []
    for seed in (None, *seeds):
        for kernels in ("numba", "numpy"):
            name = kernels if seed is None else f"{kernels}, seed {seed}"
            metrics, cpu, wall = whole_command(kernels, os.path.join(out_root, name.replace(", ", "_")), scale,
                                               seed)
            print(f"{name}: {cpu:.1f} CPU s, {metrics}", flush=True)
            rows.append((name, metrics, cpu, wall))
    return rows


def camera_trials(trials, iterations, size, seed=0):
    """Perturb a bundled camera by +-30 degrees of azimuth and +-20% of distance; recover it."""
    scene = load_scene(os.path.join(ROOT, "scenes", "spot.toml"))
    loaded = R.load_mesh(os.path.join(ROOT, "assets", "spot", "spot_triangulated.obj"), requires_grad=False)
    mesh = R.Mesh(loaded.verts.data, loaded.faces, requires_grad=False)
    c2w = np.stack([v.camera_to_world for v in scene.views])
    at = look_at_point(c2w)
    photos = read_views(scene, size)
    rng = np.random.default_rng(seed)
    results = []
    for trial in range(trials):
        k = int(rng.integers(len(c2w)))
        azimuth, elevation, distance = spherical_from_eye(c2w[k, :3, 3], at)
        start = np.asarray(eye_from_spherical(azimuth + np.radians(30) * rng.choice([-1, 1]), elevation,
                                              distance * rng.choice([0.8, 1.2]), at).data)
        cpu = time.process_time()
        eye, _ = recover_camera(mesh, photos[k, ..., 3], start, at, scene.views[k].fov, iterations=iterations)
        found = spherical_from_eye(eye, at)
        azimuth_error = np.degrees(abs((found[0] - azimuth + np.pi) % (2 * np.pi) - np.pi))
        distance_error = abs(found[2] / distance - 1)
        results.append((k, azimuth_error, distance_error, time.process_time() - cpu))
        print(f"camera trial {trial}: view {k}, azimuth error {azimuth_error:.2f} deg, "
              f"distance error {100 * distance_error:.2f}%", flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["recipes", "ablation", "mug", "field", "camera", "kernels", "before"],
                        help="run one part only")
    parser.add_argument("--iterations-scale", type=float, default=1.0, help="scale the recipes' iterations")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--camera-size", type=int, default=64, help="image size of the camera trials")
    parser.add_argument("--jobs", type=int, default=1, help="fits run side by side (default 1: the CPU clock "
                        "of a process is then its own)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="with --only kernels: also run both "
                        "kernel sets with each of these seeds")
    parser.add_argument("--out", help="keep the fits' outputs in this folder")
    parser.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    lines = []
    parts = [("recipes", "Spot (128 px, 20 fitting views, 4 held out): three recipes in one run", RECIPES),
             ("ablation", "Ablation: the new default on Spot with each idea switched off", ABLATIONS),
             ("mug", "Held-out genus-1 object: the mug, default recipe, no per-object setting", HELD_OUT),
             ("field", "Colour field vs vertex colours on Spot, same vertex count (issue 19)", FIELD)]
    for key, title, recipes in parts:
        if args.only not in (None, key):
            continue
        with tempfile.TemporaryDirectory() as out_root:
            rows = fit_rows(recipes, args.iterations_scale, args.out or out_root, args.jobs)
        lines += ["", f"{title}:", "", "| recipe | held-out IoU | held-out masked PSNR (dB) | chamfer / bbox diagonal | "
                  "Euler characteristic (truth) | iterations | vertices | CPU s | wall s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, m, cpu, wall in rows:
            lines.append(f"| {name} | {m['held_out_silhouette_iou']:.4f} | {m['held_out_masked_psnr']:.2f} | "
                         f"{100 * m['chamfer_over_diagonal']:.3f}% | {m.get('euler_characteristic')} "
                         f"({m.get('reference_euler_characteristic')}) | {m['iterations']} | {m['vertices']} | "
                         f"{cpu:.0f} | {wall:.0f} |")
        if key == "recipes":
            lines.append("| target (new default) | >= 0.98 | >= 27 | <= 0.25% | | | | <= 60 | |")
        if key == "mug":
            lines.append("| target | >= 0.97 | | | equal to the truth's | | | | |")
        if key == "field":
            gain = rows[1][1]["held_out_masked_psnr"] - rows[0][1]["held_out_masked_psnr"]
            lines.append(f"| field - vertex colours | | {gain:+.2f} dB (target >= +2) | | | | | | |")
    if args.only in (None, "kernels"):
        with tempfile.TemporaryDirectory() as out_root:
            rows = kernel_rows(args.out or out_root, args.iterations_scale, args.seeds)
        lines += ["", f"Whole command `diffprog fit {KERNEL_SCENE}` (issue 14): compiled kernels against the NumPy "
                  f"reference kernels (`DIFFPROG_KERNELS=numpy`), one after the other:", "",
                  "| kernels | command CPU s | fit CPU s (metrics.json) | wall s | held-out IoU | "
                  "held-out masked PSNR (dB) | chamfer / bbox diagonal |", "|---|---|---|---|---|---|---|"]
        for kernels, m, cpu, wall in rows:
            lines.append(f"| {kernels} | {cpu:.1f} | {m['cpu_seconds']:.1f} | {wall:.0f} | "
                         f"{m['held_out_silhouette_iou']:.4f} | {m['held_out_masked_psnr']:.2f} | "
                         f"{100 * m['chamfer_over_diagonal']:.3f}% |")
        lines.append(f"| NumPy / numba | {rows[1][2] / rows[0][2]:.2f}x | "
                     f"{rows[1][1]['cpu_seconds'] / rows[0][1]['cpu_seconds']:.2f}x | | | | |")
        if len(rows) > 2:
            keys = [("held_out_silhouette_iou", "IoU", 1), ("held_out_masked_psnr", "PSNR dB", 1),
                    ("chamfer_over_diagonal", "chamfer points", 100)]
            for kernels in ("numba", "numpy"):
                runs = [m for name, m, _, _ in rows if name.split(",")[0] == kernels]
                cpus = [c for name, _, c, _ in rows if name.split(",")[0] == kernels]
                lines.append(f"| {kernels}, mean of {len(runs)} seeds | {np.mean(cpus):.1f} | | | "
                             + " | ".join(f"{np.mean([m[k] * f for m in runs]):.4f} (spread "
                                          f"{np.ptp([m[k] * f for m in runs]):.4f})" for k, _, f in keys) + " |")
    if args.only == "before":                           # (not part of the default run: ~10 CPU minutes, git)
        with tempfile.TemporaryDirectory() as out_root:
            rows = before_rows(args.out or out_root)
        lines += ["", "Whole command on the scene of issue 14's day (`diffprog fit scenes/spot.toml` as it was then), "
                  "that day's code against today's:", "",
                  "| code | command CPU s | fit CPU s (metrics.json) | wall s | held-out IoU | "
                  "held-out masked PSNR (dB) | chamfer / bbox diagonal |", "|---|---|---|---|---|---|---|"]
        for name, m, cpu, wall in rows:
            lines.append(f"| {name} | {cpu:.1f} | {m['cpu_seconds']:.1f} | {wall:.0f} | "
                         f"{m['held_out_silhouette_iou']:.4f} | {m['held_out_masked_psnr']:.2f} | "
                         f"{100 * m['chamfer_over_diagonal']:.3f}% |")
        (_, m0, c0, _), (_, m1, c1, _) = rows
        lines.append(f"| before / today | {c0 / c1:.2f}x | {m0['cpu_seconds'] / m1['cpu_seconds']:.2f}x | | "
                     f"{m1['held_out_silhouette_iou'] - m0['held_out_silhouette_iou']:+.4f} | "
                     f"{m1['held_out_masked_psnr'] - m0['held_out_masked_psnr']:+.2f} dB | "
                     f"{100 * (m1['chamfer_over_diagonal'] - m0['chamfer_over_diagonal']):+.4f} points |")
    if args.only in (None, "camera"):
        trials = camera_trials(args.trials, 200, args.camera_size)
        ok = [a <= 2.0 and d <= 0.02 for _, a, d, _ in trials]
        lines += ["", f"Camera recovery from one {args.camera_size}x{args.camera_size} silhouette "
                  f"(perturbed 30 deg azimuth, 20% distance; 200 Adam iterations, sigma 3e-3 -> 3e-6): "
                  f"{sum(ok)}/{len(ok)} trials within 2 deg and 2% (target >= 9/10); "
                  f"worst azimuth error {max(t[1] for t in trials):.2f} deg, worst distance error "
                  f"{100 * max(t[2] for t in trials):.2f}%, median {np.median([t[3] for t in trials]):.1f} CPU s "
                  f"per trial."]
    text = "\n".join(lines)
    print(text)
    if not args.no_append:
        import numpy
        header = (f"\n## fit (issue 15): Large Steps, remeshing, visual hull, lit albedo\n\n"
                  f"`python benchmarks/fit.py{' ' + ' '.join(argv or sys.argv[1:]) if (argv or sys.argv[1:]) else ''}`"
                  f" on {platform.node() or 'this machine'} ({os.cpu_count()} cores, shared), "
                  f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; Python "
                  f"{platform.python_version()}, NumPy {numpy.__version__}; one BLAS thread. "
                  f"Photographs: Mitsuba 3 path traced (assets/make_photos.py)"
                  f"{'; fits at 128x128' if args.only != 'camera' else ''}.\n\n")
        path = os.path.join(ROOT, "benchmarks", "RESULTS.md")
        old = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
        title, _, rest = old.partition("\n")                    # newest section first, under the title
        with open(path, "w") as f:
            f.write(title + "\n" + header + text + "\n" + rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
