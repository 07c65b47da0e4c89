"""Camera recovery from one silhouette (a small version of benchmarks/fit.py's trials)."""
import os

import numpy as np

from diffprog import render as R
from diffprog.fit import eye_from_spherical, look_at_point, recover_camera, spherical_from_eye
from diffprog.fit import load_scene, read_views

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_spherical_round_trip():
    at = np.array([0.1, -0.2, 0.3])
    eye = eye_from_spherical(0.4, -0.3, 2.5, at).data
    np.testing.assert_allclose(spherical_from_eye(eye, at), (0.4, -0.3, 2.5))


def test_recovers_a_perturbed_camera_from_one_silhouette():
    scene = load_scene(os.path.join(ROOT, "scenes", "spot.toml"))
    loaded = R.load_mesh(os.path.join(ROOT, "assets", "spot", "spot_triangulated.obj"), requires_grad=False)
    mesh = R.Mesh(loaded.verts.data, loaded.faces, requires_grad=False)
    view = scene.views[20]
    at = look_at_point(np.stack([v.camera_to_world for v in scene.views]))
    azimuth, elevation, distance = spherical_from_eye(view.camera_to_world[:3, 3], at)
    start = eye_from_spherical(azimuth + np.radians(30), elevation, 1.2 * distance, at).data
    alpha = read_views(scene, 32, [view])[0, ..., 3]
    eye, losses = recover_camera(mesh, alpha, start, at, view.fov, iterations=150)
    found = spherical_from_eye(eye, at)
    assert abs(np.degrees(found[0] - azimuth)) < 2.0
    assert abs(found[2] / distance - 1) < 0.02
    assert losses[-1] < 0.1 * losses[0]
