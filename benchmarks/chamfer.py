"""Benchmark: the chamfer metric's point-to-mesh distance (diffprog.fit.point_mesh_distance)
against trimesh.proximity.closest_point (rtree) and an every-point-against-every-triangle brute
force, on 10,000 points sampled 3% outside Spot (5,856 faces). One thread, process CPU time,
best of 3; the largest difference from the brute force is printed.

    python benchmarks/chamfer.py
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import platform          # noqa: E402
import sys               # noqa: E402
import time              # noqa: E402

import numpy as np       # noqa: E402
import trimesh           # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fit"))
from diffprog import render as R                                   # noqa: E402
from diffprog.fit.metrics import point_mesh_distance, sample_surface  # noqa: E402
from test_metrics import _brute_force_distance                     # noqa: E402

SPOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "spot", "spot_triangulated.obj")


def best(fn, repeats=3):
    times, result = [], None
    for _ in range(repeats):
        start = time.process_time()
        result = fn()
        times.append(time.process_time() - start)
    return min(times), result


def main():
    spot = R.load_mesh(SPOT)
    verts, faces = np.asarray(spot.verts.data, float), spot.faces
    points = sample_surface(1.03 * verts, faces, 10000, np.random.default_rng(0))
    mesh = trimesh.Trimesh(verts, faces, process=False)
    ours, d = best(lambda: point_mesh_distance(points, verts, faces))
    library, dt = best(lambda: trimesh.proximity.closest_point(mesh, points)[1])
    brute, db = best(lambda: np.concatenate([_brute_force_distance(points[s:s + 200], verts, faces)
                                             for s in range(0, len(points), 200)]), repeats=1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), numpy {np.__version__}, "
          f"trimesh {trimesh.__version__}; one thread, process CPU s, best of 3")
    print("| method | time s | max abs diff vs brute force |\n|---|---:|---:|")
    print(f"| diffprog point_mesh_distance (cKDTree + trimesh.triangles.closest_point) | {ours:.3f} | "
          f"{np.abs(d - db).max():.1e} |")
    print(f"| trimesh.proximity.closest_point (rtree) | {library:.3f} | {np.abs(dt - db).max():.1e} |")
    print(f"| brute force, every point x every triangle | {brute:.3f} | 0 |")


if __name__ == "__main__":
    main()
