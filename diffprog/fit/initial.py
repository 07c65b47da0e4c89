"""Initializers: the mesh a fit starts from (``mesh.initial``).

``ico_sphere``: an ico-sphere centred where the cameras look (or ``mesh.center``) with the radius
whose image has, on average, the photographs' mask area (or ``mesh.radius``); a file name: that
mesh. To add an initializer, add a branch here (and a value of ``mesh.initial``).
"""
import numpy as np

from diffprog import render as R
from .cameras import look_at_point, silhouette_radius


def initial_mesh(settings, camera_to_world, focal, alphas):
    """``(verts (V, 3), faces (F, 3))`` arrays from the ``[mesh]`` settings, the fitting views'
    (N, 4, 4) camera-to-world matrices, (N,) focal lengths in pixels and N masks (2-D arrays)."""
    if settings["initial"] != "ico_sphere":
        loaded = R.load_mesh(settings["initial"], requires_grad=False)
        return np.asarray(loaded.verts.data, float), loaded.faces
    center = settings["center"]
    center = look_at_point(camera_to_world) if center is None else np.asarray(center, float)
    radius = settings["radius"]
    if radius is None:
        radius = silhouette_radius(camera_to_world, focal, alphas, center)
    sphere = R.ico_sphere(settings["level"], radius=radius, center=center, requires_grad=False)
    return np.asarray(sphere.verts.data, float), sphere.faces
