"""Recover a camera from one silhouette: the camera orbits a known point of a known mesh.

The camera is parametrized on a sphere around ``at``: ``eye = at + d (cos e sin a, sin e, cos e cos a)``
(azimuth ``a`` from +z towards +x, elevation ``e`` above the x-z plane, log-distance ``log d``),
looking at ``at`` with +y up. Adam fits (a, e, log d) to the target silhouette by backpropagating
the mean squared silhouette error through the soft rasterizer, with sigma annealed from coarse
(wide basins) to fine (sharp edges).
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog import optim
from diffprog import render as R


def spherical_from_eye(eye, at):
    """(azimuth, elevation, distance) in radians and world units of ``eye`` around ``at``."""
    offset = np.asarray(eye, float) - np.asarray(at, float)
    distance = np.linalg.norm(offset)
    return np.arctan2(offset[0], offset[2]), np.arcsin(offset[1] / distance), distance


def eye_from_spherical(azimuth, elevation, distance, at):
    """Inverse of :func:`spherical_from_eye`; works on Tensors (differentiably) and arrays."""
    cos_e = dp.cos(elevation)
    offset = dp.stack([cos_e * dp.sin(azimuth), dp.sin(elevation), cos_e * dp.cos(azimuth)]) * distance
    return offset + np.asarray(at, float)


def recover_camera(mesh, target_alpha, eye, at, fov, iterations=200, sigma=(3e-3, 3e-6), learning_rate=0.03,
                   learning_rate_decay=0.1):
    """Fit the eye of a camera looking at ``at`` so that ``mesh``'s silhouette matches ``target_alpha``.

    mesh: ``render.Mesh``; target_alpha: (S, S) coverage in [0, 1]; eye: (3,) starting position;
    fov: vertical field of view in degrees; sigma: (start, end) of the geometric annealing.
    Returns ``(eye (3,), losses (iterations,))``.
    """
    target_alpha = np.asarray(target_alpha, float)
    size = target_alpha.shape[-1]
    azimuth, elevation, distance = spherical_from_eye(eye, at)
    params = dp.tensor(np.array([azimuth, elevation, np.log(distance)]), requires_grad=True)
    optimizer = optim.Adam([params], lr=learning_rate)
    losses = []
    for i in range(iterations):
        progress = i / max(iterations - 1, 1)
        optimizer.param_groups[0]["lr"] = learning_rate * learning_rate_decay ** progress
        rasterizer = R.SoftRasterizer(sigma=sigma[0] * (sigma[1] / sigma[0]) ** progress)
        position = eye_from_spherical(params[0], params[1], dp.exp(params[2]), at)
        cams = R.look_at(position, at=at, fov=fov, image_size=size)
        alpha = R.render(mesh, cams, rasterizer=rasterizer, shader="silhouette")[0, ..., 3]
        loss = R.mse_loss(alpha, target_alpha)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    a, e, log_d = params.data
    return np.asarray(eye_from_spherical(a, e, np.exp(log_d), at).data), np.array(losses)
