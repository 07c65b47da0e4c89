"""Camera conventions users arrive with: OpenCV calibrations and PyTorch3D cameras, both ways.

diffprog (see ``camera.py``): ``x_view = R x_world + T`` with the camera looking down -Z, +Y up,
+X right (OpenGL); pixel (row i, column j) has its centre at ``(j + 0.5, i + 0.5)``.

OpenCV: ``x_cam = R x_world + t``, looking down +Z, +Y down, +X right; ``u = fx x/z + cx``,
``v = fy y/z + cy`` with K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], pixel (row i, column j)
centred at ``(j, i)``. So diffprog's ``R = diag(1, -1, -1) R_cv``, ``T = diag(1, -1, -1) t`` and its
principal point is ``(cx + 0.5, cy + 0.5)``: a world point lands in the same pixel in both.
(PyTorch3D's function of the same name keeps ``cx`` unchanged, half a pixel off this convention.)

PyTorch3D: row vectors, ``X_view = X_world @ R + T``, looking down +Z with +Y up and +X left, so
``R = diag(-1, 1, -1) R_p3d^T`` and ``T = diag(-1, 1, -1) T_p3d``. Its NDC units (``in_ndc=True``,
the default of ``PerspectiveCameras``) measure lengths in half the shorter image side ``s``, with
+x left and +y up: ``f_pixels = f_ndc s``, ``c_x = W/2 - p_x s``, ``c_y = H/2 - p_y s``; its screen
units (``in_ndc=False``) are pixels with centres at half-integers, as diffprog's.

Every function keeps diffprog Tensors differentiable (a gradient reaches the given R, t, K...).
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog.autodiff import Tensor
from .camera import Cameras, check_image_size

_OPENCV_FLIP = np.diag([1.0, -1.0, -1.0])
_PYTORCH3D_FLIP = np.diag([-1.0, 1.0, -1.0])


def _as(x, name, shape_tail):
    t = x if type(x) is Tensor else dp.tensor(np.asarray(x, float))
    if t.ndim == len(shape_tail):
        t = t[None]
    if t.ndim != len(shape_tail) + 1 or tuple(t.shape[1:]) != shape_tail:
        want = ", ".join(map(str, shape_tail))
        raise ValueError(f"{name}: expected shape (N, {want}) or ({want}), got {tuple(t.shape)}")
    if not np.all(np.isfinite(t.data)):
        raise ValueError(f"{name}: expected finite numbers")
    return t


def _one_image_size(image_size):
    """(H, W) from (2,) or (N, 2) rows that must all agree (one Cameras batch, one size)."""
    arr = np.asarray(image_size.data if type(image_size) is Tensor else image_size)
    rows = arr.reshape(-1, 2) if arr.size and arr.size % 2 == 0 else None
    if rows is None or (arr.ndim == 2 and arr.shape[1] != 2) or arr.ndim > 2:
        raise ValueError(f"image_size: expected (H, W) or (N, 2) rows of (H, W), got shape {arr.shape}")
    if np.any(rows != rows[0]):
        raise ValueError(f"image_size: every camera of a batch must share one size, got {np.unique(rows, axis=0).tolist()}")
    return check_image_size(tuple(rows[0]))


def _batch_of(n, *tensors):
    return [dp.broadcast_to(t, (n,) + tuple(t.shape[1:])) if t.shape[0] != n else t for t in tensors]


def cameras_from_opencv_projection(R, tvec, K, image_size, znear=0.1, zfar=100.0, requires_grad=True):
    """Cameras from OpenCV's pinhole model (``cv2.projectPoints``/``cv2.calibrateCamera``).

    R: (N, 3, 3) world-to-camera rotations (``cv2.Rodrigues(rvec)[0]``); tvec: (N, 3); K: (N, 3, 3)
    intrinsic matrices without skew; image_size: (N, 2) or (2,) as (height, width) in pixels.
    The name and argument order are PyTorch3D's. Returns a perspective :class:`Cameras`."""
    R, tvec, K = _as(R, "R", (3, 3)), _as(tvec, "tvec", (3,)), _as(K, "K", (3, 3))
    k = np.asarray(K.data)
    if np.any(k[:, 0, 1] != 0) or np.any(k[:, 1, 0] != 0) or np.any(k[:, 2] != [0.0, 0.0, 1.0]):
        raise ValueError(f"K: expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew), got {k[0].tolist()}")
    n = max(R.shape[0], tvec.shape[0], K.shape[0])
    R, tvec, K = _batch_of(n, R, tvec, K)
    focal = dp.stack([K[:, 0, 0], K[:, 1, 1]], axis=-1)
    center = dp.stack([K[:, 0, 2], K[:, 1, 2]], axis=-1) + 0.5
    return Cameras(dp.matmul(_OPENCV_FLIP, R), dp.einsum("ij,nj->ni", _OPENCV_FLIP, tvec), focal, center,
                   image_size=_one_image_size(image_size), znear=znear, zfar=zfar, requires_grad=requires_grad)


def opencv_from_cameras_projection(cameras):
    """(R (N, 3, 3), tvec (N, 3), K (N, 3, 3)) of perspective ``cameras`` in OpenCV's convention
    (the inverse of :func:`cameras_from_opencv_projection`); Tensors, differentiable."""
    if cameras.orthographic:
        raise ValueError("cameras: are orthographic; OpenCV's pinhole model describes perspective cameras only")
    R, T, f, c = cameras.R, cameras.T, cameras.focal_length, cameras.principal_point
    zero, one = dp.zeros_like(f[:, 0]), dp.ones_like(f[:, 0])
    K = dp.stack([dp.stack([f[:, 0], zero, c[:, 0] - 0.5], -1),
                  dp.stack([zero, f[:, 1], c[:, 1] - 0.5], -1),
                  dp.stack([zero, zero, one], -1)], -2)
    return dp.matmul(_OPENCV_FLIP, R), dp.einsum("ij,nj->ni", _OPENCV_FLIP, T), K


def cameras_from_pytorch3d(R, T, focal_length=1.0, principal_point=(0.0, 0.0), image_size=None, in_ndc=True,
                           orthographic=False, znear=0.1, zfar=100.0, requires_grad=True):
    """Cameras from PyTorch3D's ``PerspectiveCameras`` (``orthographic=True``:
    ``OrthographicCameras``) parameters, with its defaults.

    R: (N, 3, 3) with ``X_view = X_world @ R + T``; T: (N, 3); focal_length: scalar, (N, 1) or
    (N, 2); principal_point: (N, 2); both in NDC units when ``in_ndc`` else in pixels;
    image_size: (N, 2) or (2,) as (height, width), required (diffprog renders at a fixed size)."""
    if image_size is None:
        raise ValueError("image_size: required, (H, W) or (N, 2); diffprog cameras render at a fixed size")
    h, w = _one_image_size(image_size)
    R, T = _as(R, "R", (3, 3)), _as(T, "T", (3,))
    f = focal_length if type(focal_length) is Tensor else dp.tensor(np.asarray(focal_length, float))
    f = dp.reshape(f, (-1, 1)) if f.ndim < 2 else f
    if f.ndim != 2 or f.shape[1] not in (1, 2):
        raise ValueError(f"focal_length: expected a scalar, (N, 1) or (N, 2), got shape {tuple(f.shape)}")
    f = dp.concatenate([f, f], axis=1) if f.shape[1] == 1 else f
    p = _as(principal_point, "principal_point", (2,))
    n = max(R.shape[0], T.shape[0], f.shape[0], p.shape[0])
    R, T, f, p = _batch_of(n, R, T, f, p)
    if in_ndc:
        s = min(h, w) / 2.0
        f = f * s
        p = dp.stack([w / 2.0 - p[:, 0] * s, h / 2.0 - p[:, 1] * s], axis=-1)
    rotation = dp.matmul(_PYTORCH3D_FLIP, dp.swapaxes(R, -1, -2))
    return Cameras(rotation, dp.einsum("ij,nj->ni", _PYTORCH3D_FLIP, T), f, p, image_size=(h, w),
                   orthographic=orthographic, znear=znear, zfar=zfar, requires_grad=requires_grad)


def pytorch3d_from_cameras(cameras, in_ndc=True):
    """The keyword arguments of PyTorch3D's ``PerspectiveCameras`` (or ``OrthographicCameras``
    when ``cameras.orthographic``) that describe ``cameras``: a dict with ``R``, ``T``,
    ``focal_length`` (N, 2), ``principal_point`` (N, 2), ``image_size`` (N, 2) and ``in_ndc``.
    Values are diffprog Tensors (``image_size`` an int array); wrap them with ``torch.as_tensor``."""
    h, w = cameras.image_size
    R, T, f, c = cameras.R, cameras.T, cameras.focal_length, cameras.principal_point
    if in_ndc:
        s = min(h, w) / 2.0
        f = f / s
        c = dp.stack([(w / 2.0 - c[:, 0]) / s, (h / 2.0 - c[:, 1]) / s], axis=-1)
    return {"R": dp.swapaxes(dp.matmul(_PYTORCH3D_FLIP, R), -1, -2), "T": dp.einsum("ij,nj->ni", _PYTORCH3D_FLIP, T),
            "focal_length": f, "principal_point": c, "image_size": np.tile([h, w], (len(cameras), 1)),
            "in_ndc": bool(in_ndc)}
