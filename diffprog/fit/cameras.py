"""Cameras of a fit: photographs' OpenGL camera-to-world matrices -> ``render.Cameras``, with an
optional per-view refinement (a small rotation and translation of each camera, both Tensors).

Convention (``transforms.json``): camera-to-world ``M = [[Rc, c], [0, 1]]`` with the camera
looking down its -z axis, +y up; the world-to-view rotation is ``Rc^T`` and ``T = -Rc^T c``.
A refinement ``(w, t)`` turns ``Rc`` into ``exp([w]x) @ Rc`` (a rotation about the camera centre by the
world-frame rotation vector ``w``) and ``c`` into ``c + t``.
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog import render as R


def focal_from_fov(fov_degrees, image_size):
    """Focal length in pixels of a square image ``image_size`` wide with a horizontal field of view."""
    return 0.5 * image_size / np.tan(np.radians(np.asarray(fov_degrees, float)) / 2)


def refined_camera_to_world(camera_to_world, rotation=None, translation=None):
    """(N, 3, 4) camera-to-world ``[exp([w]x) @ Rc, c + t]`` (a Tensor when a refinement is given)
    of (N, 4, 4) matrices and optional (N, 3) refinements (world-frame axis-angle radians, world units)."""
    c2w = np.asarray(camera_to_world, float)[:, :3, :]
    if rotation is None and translation is None:
        return c2w
    rot, centre = c2w[:, :, :3], c2w[:, :, 3]
    if rotation is not None:
        rot = dp.matmul(R.axis_angle_to_matrix(rotation), rot)
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


def silhouette_radius(camera_to_world, focal, alphas, center):
    """Radius of a sphere at ``center`` whose image has, on average, the photographs' mask area.
    focal: (N,) focal lengths in pixels of the masks ``alphas`` (N arrays, any sizes)."""
    c2w = np.asarray(camera_to_world, float)
    area = np.array([(np.asarray(a) > 0.5).sum() for a in alphas])
    radius_pixels = np.sqrt(area / np.pi)
    distance = np.linalg.norm(c2w[:, :3, 3] - center, axis=1)
    return float(np.mean(radius_pixels * distance / np.asarray(focal, float)))


def view_cameras(camera_to_world, focal, principal_point, image_size, rotation=None, translation=None,
                 znear=0.1, zfar=100.0):
    """``render.Cameras`` of views sharing one ``image_size`` (H, W): (N, 4, 4) camera-to-world
    matrices, (N, 2) focal lengths and principal points in pixels, optional (N, 3) refinements."""
    c2w = refined_camera_to_world(camera_to_world, rotation, translation)
    return R.Cameras.from_camera_to_world(c2w, focal, principal_point, image_size=tuple(image_size),
                                          znear=znear, zfar=zfar)


def rotation_angle_degrees(axis_angle):
    """(N,) rotation angles in degrees of (N, 3) axis-angle vectors."""
    return np.degrees(np.linalg.norm(np.asarray(axis_angle, float), axis=-1))
