"""The fit's starting mesh (``mesh.initial``): the visual hull of the fitting views' masks, an
ico-sphere, or a mesh file."""
import numpy as np

from diffprog import render as R
from diffprog.io import read_views
from .cameras import look_at_point, silhouette_radius
from .visual_hull import visual_hull

HULL_IMAGE_SIZE = 128     # masks are read at least this large for carving (sub-pixel outlines matter)


def initial_mesh(scene, camera_to_world, fov, alphas):
    """(verts (V, 3), faces (F, 3)) to start the fit of ``scene`` from; ``alphas`` (N, S, S) are the
    fitting photographs' masks at the fit's image size. ``"visual_hull"`` falls back to the
    ico-sphere when the photographs have no mask (alpha 1 everywhere)."""
    mesh = scene.sections["mesh"]
    kind = mesh["initial"]
    if kind not in ("ico_sphere", "visual_hull"):
        loaded = R.load_mesh(kind, requires_grad=False)
        return np.asarray(loaded.verts.data, float), loaded.faces
    center = mesh["center"]
    center = look_at_point(camera_to_world) if center is None else np.asarray(center, float)
    radius = mesh["radius"]
    if radius is None:
        radius = silhouette_radius(camera_to_world, fov, alphas, center)
    if kind == "visual_hull" and np.any(alphas < 0.5):
        size = max(alphas.shape[-1], HULL_IMAGE_SIZE)
        masks = alphas if size == alphas.shape[-1] else read_views(scene, size, scene.fit_views)[..., 3]
        verts, faces, _ = visual_hull(camera_to_world, fov, masks, resolution=mesh["hull_resolution"],
                                      center=center, radius=radius)
        return verts, faces
    sphere = R.ico_sphere(mesh["level"], radius=radius, center=center, requires_grad=False)
    return np.asarray(sphere.verts.data, float), sphere.faces
