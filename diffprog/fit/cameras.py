"""Cameras of a fit: photographs' OpenGL camera-to-world matrices -> ``render.Cameras``, with an
optional per-view refinement (a small rotation and translation of each camera, both Tensors).

Convention (``transforms.json``): camera-to-world ``M = [[Rc, c], [0, 1]]`` with the camera
looking down its -z axis, +y up; the world-to-view rotation is ``Rc^T`` and ``T = -Rc^T c``.
A refinement ``(w, t)`` turns ``Rc`` into ``Rc @ exp([w]x)`` and ``c`` into ``c + t``.
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog import render as R


def focal_from_fov(fov_degrees, image_size):
    """Focal length in pixels of a square image ``image_size`` wide with a horizontal field of view."""
    return 0.5 * image_size / np.tan(np.radians(np.asarray(fov_degrees, float)) / 2)


def refined_camera_to_world(camera_to_world, rotation=None, translation=None):
    """(N, 3, 4) camera-to-world ``[Rc @ exp([w]x), c + t]`` (a Tensor when a refinement is given)
    of (N, 4, 4) matrices and optional (N, 3) refinements (axis-angle radians, world units)."""
    c2w = np.asarray(camera_to_world, float)[:, :3, :]
    if rotation is None and translation is None:
        return c2w
    rot, centre = c2w[:, :, :3], c2w[:, :, 3]
    if rotation is not None:
        rot = dp.matmul(rot, R.axis_angle_to_matrix(rotation))
    if translation is not None:
        centre = centre + translation
    return dp.concatenate([rot, dp.reshape(centre, (-1, 3, 1))], axis=2)


def cameras_from_matrices(camera_to_world, fov_degrees, image_size, rotation=None, translation=None,
                          znear=0.1, zfar=100.0):
    """``render.Cameras`` for (N, 4, 4) camera-to-world matrices and N horizontal fields of view
    (degrees) at a square ``image_size``; ``rotation``/``translation``: optional (N, 3) Tensors of
    refinements (axis-angle radians, world units)."""
    c2w = refined_camera_to_world(camera_to_world, rotation, translation)
    focal = focal_from_fov(np.broadcast_to(fov_degrees, (len(c2w),)), image_size)
    return R.Cameras.from_camera_to_world(c2w, np.stack([focal, focal], axis=1), image_size=(image_size, image_size),
                                          znear=znear, zfar=zfar)


def look_at_point(camera_to_world):
    """The point closest (least squares) to every camera's optical axis: where they look."""
    c2w = np.asarray(camera_to_world, float)
    centre = c2w[:, :3, 3]
    direction = -c2w[:, :3, 2]
    projector = np.eye(3)[None] - direction[:, :, None] * direction[:, None, :]
    return np.linalg.solve(projector.sum(0), np.einsum("nij,nj->i", projector, centre))


def silhouette_radius(camera_to_world, fov_degrees, alphas, center):
    """Radius of a sphere at ``center`` whose image has, on average, the photographs' mask area."""
    c2w = np.asarray(camera_to_world, float)
    size = alphas.shape[-1]
    area = (np.asarray(alphas) > 0.5).sum(axis=(-2, -1))
    radius_pixels = np.sqrt(area / np.pi)
    distance = np.linalg.norm(c2w[:, :3, 3] - center, axis=1)
    return float(np.mean(radius_pixels * distance / focal_from_fov(fov_degrees, size)))
