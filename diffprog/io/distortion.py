"""OpenCV radial-tangential lens distortion (COLMAP's ``OPENCV``/``RADIAL``/``SIMPLE_RADIAL``, the
``k1 k2 p1 p2 k3 k4`` of nerfstudio's ``transforms.json``) and undistortion of images.

Points are normalized image coordinates ``(x, y) = (X / Z, Y / Z)`` in OpenCV camera axes (x right,
y down, z forward); with ``r2 = x^2 + y^2`` and ``radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3 + k4 r2^4``:

    x_d = x radial + 2 p1 x y + p2 (r2 + 2 x^2)
    y_d = y radial + p1 (r2 + 2 y^2) + 2 p2 x y

Pixels: ``u = cx + fx x``, ``v = cy + fy y`` (pixel centres at half-integers, row 0 at the top).
"""
import numpy as np


def distort_points(xy, coefficients):
    """(..., 2) undistorted normalized points -> (..., 2) distorted ones (``coefficients``: the
    six ``k1 k2 p1 p2 k3 k4``; missing trailing ones are zero)."""
    k1, k2, p1, p2, k3, k4 = _coefficients(coefficients)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
    return np.stack([x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                     y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], axis=-1)


def undistort_points(xy, coefficients, iterations=20):
    """Inverse of :func:`distort_points` by Newton's method (vectorized over the points; a
    handful of iterations reach 1e-12 inside the image for phone-lens distortions)."""
    k1, k2, p1, p2, k3, k4 = _coefficients(coefficients)
    target = np.asarray(xy, float)
    x, y = target[..., 0].copy(), target[..., 1].copy()
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
        d_radial = k1 + r2 * (2 * k2 + r2 * (3 * k3 + r2 * 4 * k4))          # d radial / d r2
        fx = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - target[..., 0]
        fy = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - target[..., 1]
        a = radial + 2 * x * x * d_radial + 2 * p1 * y + 6 * p2 * x           # d fx / dx
        b = 2 * x * y * d_radial + 2 * p1 * x + 2 * p2 * y                    # d fx / dy = d fy / dx
        d = radial + 2 * y * y * d_radial + 6 * p1 * y + 2 * p2 * x           # d fy / dy
        det = a * d - b * b
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        x, y = x - (d * fx - b * fy) / det, y - (a * fy - b * fx) / det
    return np.stack([x, y], axis=-1)


def _coefficients(coefficients):
    c = np.zeros(6)
    values = np.asarray(coefficients, float).ravel()
    c[:len(values)] = values
    return c


def pixel_grid(height, width):
    """(H, W, 2) pixel-centre coordinates (u, v) of an image."""
    v, u = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    return np.stack([u, v], axis=-1)


def remap(image, uv):
    """Bilinear samples of ``image`` (H, W, C) at pixel coordinates ``uv`` (..., 2) (pixel centres at
    half-integers); coordinates outside the image take the nearest edge pixel."""
    from scipy.ndimage import map_coordinates
    coordinates = np.stack([uv[..., 1] - 0.5, uv[..., 0] - 0.5])
    return np.stack([map_coordinates(np.asarray(image[..., c], np.float64), coordinates, order=1, mode="nearest")
                     for c in range(image.shape[-1])], axis=-1)


def undistort_image(image, focal, principal_point, coefficients):
    """The pinhole image (same size, same ``focal`` (fx, fy) and ``principal_point`` (cx, cy) in
    this image's pixels) of a photograph ``image`` (H, W, C) taken through the lens ``coefficients``:
    each output pixel is sampled (bilinearly) where the lens put its ray."""
    fx, fy = focal
    cx, cy = principal_point
    uv = pixel_grid(*image.shape[:2])
    xy = np.stack([(uv[..., 0] - cx) / fx, (uv[..., 1] - cy) / fy], axis=-1)
    xy_d = distort_points(xy, coefficients)
    return remap(image, np.stack([cx + fx * xy_d[..., 0], cy + fy * xy_d[..., 1]], axis=-1))


def distort_image(image, focal, principal_point, coefficients):
    """The photograph a lens with ``coefficients`` takes of the pinhole image ``image``: the inverse
    of :func:`undistort_image` (used to make test captures)."""
    fx, fy = focal
    cx, cy = principal_point
    uv = pixel_grid(*image.shape[:2])
    xy = undistort_points(np.stack([(uv[..., 0] - cx) / fx, (uv[..., 1] - cy) / fy], axis=-1), coefficients)
    return remap(image, np.stack([cx + fx * xy[..., 0], cy + fy * xy[..., 1]], axis=-1))
