"""Lens distortion: points and images undistort back to where a pinhole camera puts them."""
import numpy as np

from diffprog.io.distortion import distort_image, distort_points, undistort_image, undistort_points

PHONE = (-0.06, 0.01, 0.0, 0.0)
TANGENTIAL = (-0.12, 0.03, 0.002, -0.0015, 0.004, 0.0)


def test_points_round_trip():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-0.7, 0.7, (2000, 2))
    for coefficients in (PHONE, TANGENTIAL, (0.05, 0.0)):
        distorted = distort_points(xy, coefficients)
        assert np.abs(distorted - xy).max() > 1e-3                     # the lens does move them
        np.testing.assert_allclose(undistort_points(distorted, coefficients), xy, atol=1e-10)


def test_distortion_formula_against_opencv_convention():
    """A point on the x axis moves radially by k1 r^3 + k2 r^5; tangential terms as OpenCV's."""
    np.testing.assert_allclose(distort_points(np.array([0.5, 0.0]), PHONE), [0.5 * (1 - 0.06 * 0.25 + 0.01 * 0.0625), 0])
    x, y = 0.3, -0.2
    r2 = x * x + y * y
    k1, k2, p1, p2, k3, _ = TANGENTIAL
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    expected = [x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x), y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y]
    np.testing.assert_allclose(distort_points(np.array([x, y]), TANGENTIAL), expected, rtol=1e-14)


def _blobs(height, width, centres, sigma=3.0):
    v, u = np.mgrid[0:height, 0:width] + 0.5
    return sum(np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2 * sigma ** 2)) for cu, cv in centres)[..., None]


def _centroid(image, cu, cv, radius=12):
    v, u = np.mgrid[0:image.shape[0], 0:image.shape[1]] + 0.5
    near = (u - cu) ** 2 + (v - cv) ** 2 < radius ** 2
    weight = image[..., 0] * near
    return np.array([(weight * u).sum(), (weight * v).sum()]) / weight.sum()


def test_undistorted_image_puts_features_back_within_005_px():
    """Blobs drawn where a pinhole camera sees them, photographed through the lens (distort_image, whose
    blobs move by pixels), come back to their pinhole positions after undistort_image."""
    height, width, focal, centre = 192, 256, (200.0, 200.0), (131.0, 94.0)
    centres = [(cu, cv) for cu in (32, 80, 128, 180, 224) for cv in (32, 96, 160)]
    pinhole = _blobs(height, width, centres)
    photo = distort_image(pinhole, focal, centre, PHONE)
    restored = undistort_image(photo, focal, centre, PHONE)
    moved = [np.linalg.norm(_centroid(photo, cu, cv) - (cu, cv)) for cu, cv in centres]
    assert max(moved) > 2.0
    errors = [np.linalg.norm(_centroid(restored, cu, cv) - (cu, cv)) for cu, cv in centres]
    assert max(errors) < 0.05, errors
