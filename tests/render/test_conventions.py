"""OpenCV and PyTorch3D camera conventions, checked against their projection formulas written
out in NumPy, and round trips in both directions."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import render as R


def _rotations(rng, n):
    return np.asarray(R.axis_angle_to_matrix(rng.normal(size=(n, 3))).data)


def _opencv_setup(rng, n=3, size=(48, 64)):
    rot = _rotations(rng, n)
    tvec = rng.normal(scale=0.3, size=(n, 3)) + [0.0, 0.0, 4.0]
    K = np.zeros((n, 3, 3))
    K[:, 0, 0], K[:, 1, 1] = rng.uniform(40, 80, n), rng.uniform(40, 80, n)
    K[:, 0, 2], K[:, 1, 2] = size[1] / 2 + rng.normal(size=n), size[0] / 2 + rng.normal(size=n)
    K[:, 2, 2] = 1.0
    return rot, tvec, K


def _opencv_project(points, rot, tvec, K):
    """OpenCV's pinhole formula: x_cam = R X + t, u = fx x / z + cx, v = fy y / z + cy."""
    cam = np.einsum("nij,vj->nvi", rot, points) + tvec[:, None, :]
    u = K[:, None, 0, 0] * cam[..., 0] / cam[..., 2] + K[:, None, 0, 2]
    v = K[:, None, 1, 1] * cam[..., 1] / cam[..., 2] + K[:, None, 1, 2]
    return u, v, cam[..., 2]


def test_opencv_projection_formula(rng):
    rot, tvec, K = _opencv_setup(rng)
    cams = R.cameras_from_opencv_projection(rot, tvec, K, np.array([[48, 64]] * 3))
    points = rng.normal(scale=0.5, size=(20, 3))
    screen = np.asarray(cams.transform_points_screen(dp.tensor(points)).data)
    u, v, z = _opencv_project(points, rot, tvec, K)
    # OpenCV centres pixel (i, j) at (j, i), diffprog at (j + 0.5, i + 0.5): same pixel, shifted coordinates
    np.testing.assert_allclose(screen[..., 0], u + 0.5, atol=1e-10)
    np.testing.assert_allclose(screen[..., 1], v + 0.5, atol=1e-10)
    np.testing.assert_allclose(screen[..., 2], z, atol=1e-12)


def test_opencv_point_lands_in_the_pixel_opencv_names(rng):
    rot, tvec, K = _opencv_setup(rng, n=1, size=(40, 40))
    cams = R.cameras_from_opencv_projection(rot, tvec, K, (40, 40), requires_grad=False)
    center = -rot[0].T @ tvec[0]
    forward = rot[0].T @ np.array([0.0, 0.0, 1.0])
    right, down = rot[0].T @ np.array([1.0, 0, 0]), rot[0].T @ np.array([0, 1.0, 0])
    # a small square facing the camera around the point that OpenCV projects to pixel (row 12, column 25)
    u, v, z = 25.0, 12.0, 3.0
    p = center + z * (forward + (u - K[0, 0, 2]) / K[0, 0, 0] * right + (v - K[0, 1, 2]) / K[0, 1, 1] * down)
    h = 0.3 * z / K[0, 0, 0]
    verts = np.array([p - h * right - h * down, p + h * right - h * down, p + h * right + h * down,
                      p - h * right + h * down])
    mesh = R.Mesh(verts, [[0, 1, 2], [0, 2, 3], [0, 2, 1], [0, 3, 2]], requires_grad=False)
    alpha = np.asarray(R.render(mesh, cams, rasterizer=R.HardRasterizer(), shader="silhouette").data)[0, ..., 3]
    assert np.argwhere(alpha > 0.5).tolist() == [[12, 25]]


def test_opencv_round_trip(rng):
    rot, tvec, K = _opencv_setup(rng)
    cams = R.cameras_from_opencv_projection(rot, tvec, K, (48, 64))
    r2, t2, k2 = cams.to_opencv()
    np.testing.assert_allclose(r2.data, rot, atol=1e-12)
    np.testing.assert_allclose(t2.data, tvec, atol=1e-12)
    np.testing.assert_allclose(k2.data, K, atol=1e-12)
    look = R.look_at(eye=R.orbit(n=4, elev=30, dist=3.0), fov=50, image_size=(30, 40))
    back = R.cameras_from_opencv_projection(*(x.data for x in look.to_opencv()), image_size=(30, 40))
    points = dp.tensor(rng.normal(scale=0.5, size=(10, 3)))
    np.testing.assert_allclose(back.transform_points_screen(points).data, look.transform_points_screen(points).data,
                               atol=1e-10)


def test_opencv_gradients_reach_the_calibration(rng):
    rot, tvec, K = _opencv_setup(rng, n=1)
    points = rng.normal(scale=0.5, size=(6, 3))

    def projected(rot, tvec, intrinsics):                 # intrinsics: fx, fy, cx, cy
        zero = dp.zeros_like(intrinsics[0])
        K = dp.stack([dp.stack([intrinsics[0], zero, intrinsics[2]]), dp.stack([zero, intrinsics[1], intrinsics[3]]),
                      dp.stack([zero, zero, zero + 1.0])])
        cams = R.cameras_from_opencv_projection(rot, tvec, K, (48, 64))
        return dp.sum(cams.transform_points_screen(dp.tensor(points))[..., :2] ** 2)
    intrinsics = K[0][[0, 1, 0, 1], [0, 1, 2, 2]]
    assert dp.gradcheck(projected, rot, tvec, intrinsics)
    g = dp.grad(projected, argnums=2)(rot, tvec, intrinsics)
    assert np.all(np.abs(g) > 0)


def _pytorch3d_project(points, rot, T, focal, principal, size, in_ndc, orthographic):
    """PyTorch3D's cameras written out: X_view = X @ R + T; NDC x = fx X/Z + px (left), y = fy Y/Z + py
    (up), or in pixels when not in_ndc; NDC -> pixels with s = min(H, W) / 2 (x flipped, y flipped)."""
    h, w = size
    view = np.einsum("vj,nji->nvi", points, rot) + T[:, None, :]
    depth = view[..., 2]
    x, y = (view[..., 0], view[..., 1]) if orthographic else (view[..., 0] / depth, view[..., 1] / depth)
    s = min(h, w) / 2.0
    if in_ndc:
        xn = focal[:, None, 0] * x + principal[:, None, 0]
        yn = focal[:, None, 1] * y + principal[:, None, 1]
    else:          # pixel parameters, by PyTorch3D's documented fx_ndc = fx / s, px_ndc = -(px - W / 2) / s
        xn = (focal[:, None, 0] * x - (principal[:, None, 0] - w / 2.0)) / s
        yn = (focal[:, None, 1] * y - (principal[:, None, 1] - h / 2.0)) / s
    return w / 2.0 - xn * s, h / 2.0 - yn * s, depth


@pytest.mark.parametrize("in_ndc", [True, False])
@pytest.mark.parametrize("orthographic", [False, True])
def test_pytorch3d_projection_formula_and_round_trip(rng, in_ndc, orthographic):
    n, size = 3, (40, 56)
    rot = _rotations(rng, n)
    T = rng.normal(scale=0.3, size=(n, 3)) + [0.0, 0.0, 4.0]
    focal = rng.uniform(1.5, 3.0, (n, 2)) * (1 if in_ndc else 20)
    principal = rng.normal(scale=0.1, size=(n, 2)) if in_ndc else np.array(size[::-1]) / 2 + rng.normal(size=(n, 2))
    cams = R.cameras_from_pytorch3d(rot, T, focal, principal, image_size=size, in_ndc=in_ndc,
                                    orthographic=orthographic)
    points = rng.normal(scale=0.5, size=(15, 3))
    x, y, depth = _pytorch3d_project(points, rot, T, focal, principal, size, in_ndc, orthographic)
    screen = np.asarray(cams.transform_points_screen(dp.tensor(points)).data)
    np.testing.assert_allclose(screen[..., 0], x, atol=1e-10)
    np.testing.assert_allclose(screen[..., 1], y, atol=1e-10)
    np.testing.assert_allclose(screen[..., 2], depth, atol=1e-12)
    kwargs = R.pytorch3d_from_cameras(cams, in_ndc=in_ndc)
    for key, want in (("R", rot), ("T", T), ("focal_length", focal), ("principal_point", principal)):
        np.testing.assert_allclose(kwargs[key].data, want, atol=1e-10)
    assert kwargs["image_size"].tolist() == [list(size)] * n and kwargs["in_ndc"] is in_ndc


def test_pytorch3d_and_opencv_agree_on_the_same_camera(rng):
    look = R.look_at(eye=(0.5, 1.0, 3.0), fov=40, image_size=(32, 48))
    via_p3d = R.cameras_from_pytorch3d(image_size=(32, 48), **{k: v for k, v in R.pytorch3d_from_cameras(look).items()
                                                               if k != "image_size"})
    via_cv = R.cameras_from_opencv_projection(*look.to_opencv(), image_size=(32, 48))
    points = dp.tensor(rng.normal(scale=0.5, size=(8, 3)))
    want = look.transform_points_screen(points).data
    np.testing.assert_allclose(via_p3d.transform_points_screen(points).data, want, atol=1e-10)
    np.testing.assert_allclose(via_cv.transform_points_screen(points).data, want, atol=1e-10)


def test_convention_errors_name_the_argument(rng):
    rot, tvec, K = _opencv_setup(rng, n=2)
    skewed = K.copy()
    skewed[:, 0, 1] = 0.1
    with pytest.raises(ValueError, match=r"K: expected .*\(no skew\)"):
        R.cameras_from_opencv_projection(rot, tvec, skewed, (48, 64))
    with pytest.raises(ValueError, match="image_size: every camera of a batch must share one size"):
        R.cameras_from_opencv_projection(rot, tvec, K, [[48, 64], [48, 60]])
    with pytest.raises(ValueError, match="tvec: expected shape"):
        R.cameras_from_opencv_projection(rot, tvec[:, :2], K, (48, 64))
    with pytest.raises(ValueError, match="image_size: required"):
        R.cameras_from_pytorch3d(rot, tvec)
    ortho = R.look_at(eye=(0, 0, 3.0), orthographic=True, image_size=16)
    with pytest.raises(ValueError, match="orthographic"):
        ortho.to_opencv()
