"""Initializers: the mesh a fit starts from (``mesh.initial``).

``visual_hull`` (the default): the visual hull carved from the fitting views' masks (read at least
``HULL_IMAGE_SIZE`` pixels wide; see ``visual_hull.py``), so the fit starts with most of the shape
and the genus the silhouettes show; an ico-sphere when the photographs have no mask (alpha 1
everywhere). ``ico_sphere``: an ico-sphere centred where the cameras look (or ``mesh.center``) with
the radius whose image has, on average, the photographs' mask area (or ``mesh.radius``); a file
name: that mesh. To add an initializer, add a branch here (and a value of ``mesh.initial``).

``orient_outward`` makes a starting mesh's faces wind counter-clockwise seen from outside, which
back-face culling (``render.cull_backfaces``, on by default) relies on.
"""
import numpy as np

from diffprog import render as R
from .cameras import look_at_point, silhouette_radius
from .visual_hull import visual_hull

HULL_IMAGE_SIZE = 128     # masks are carved at least this large (their outlines matter to a pixel)


def initial_mesh(settings, camera_to_world, focal, alphas, hull_views=None):
    """``(verts (V, 3), faces (F, 3))`` arrays from the ``[mesh]`` settings, the fitting views'
    (N, 4, 4) camera-to-world matrices, (N,) focal lengths in pixels and N masks (2-D arrays);
    ``hull_views``: a callable returning ``(masks, focal (N, 2), principal points (N, 2))`` of finer
    masks for carving (required for ``visual_hull``)."""
    kind = settings["initial"]
    if kind not in ("ico_sphere", "visual_hull"):
        loaded = R.load_mesh(kind, requires_grad=False)
        return np.asarray(loaded.verts.data, float), loaded.faces
    center = settings["center"]
    center = look_at_point(camera_to_world) if center is None else np.asarray(center, float)
    radius = settings["radius"]
    if radius is None:
        radius = silhouette_radius(camera_to_world, focal, alphas, center)
    if kind == "visual_hull" and any(np.any(np.asarray(a) < 0.5) for a in alphas):
        if hull_views is None:
            raise ValueError("mesh.initial = 'visual_hull' needs the views' masks and intrinsics (hull_views)")
        masks, focal_pixels, principal_point = hull_views()
        verts, faces, _ = visual_hull(camera_to_world, None, masks, resolution=settings["hull_resolution"],
                                      center=center, radius=radius, focal=focal_pixels,
                                      principal_point=principal_point)
        return verts, faces
    sphere = R.ico_sphere(settings["level"], radius=radius, center=center, requires_grad=False)
    return np.asarray(sphere.verts.data, float), sphere.faces


def signed_volume(verts, faces):
    """The volume enclosed by a closed triangle mesh, negative when its faces wind inward."""
    a, b, c = (np.asarray(verts, float)[np.asarray(faces)[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def orient_outward(verts, faces, source):
    """``faces`` wound counter-clockwise seen from outside (flipped when the mesh encloses a negative
    volume), for back-face culling. ``source`` names the mesh in the error raised when its faces do not
    wind consistently (then no side is 'outside' and culling would drop arbitrary faces)."""
    import trimesh
    faces = np.asarray(faces)
    mesh = trimesh.Trimesh(np.asarray(verts, float), faces, process=False)
    if not mesh.is_winding_consistent:
        raise ValueError(f"{source}: the faces' winding is inconsistent (neighbouring faces disagree on which side "
                         f"is outside), so back faces cannot be culled; fix the mesh's winding or set "
                         f"render.cull_backfaces = false")
    if mesh.is_watertight and signed_volume(verts, faces) < 0:
        return faces[:, ::-1].copy()
    return faces
