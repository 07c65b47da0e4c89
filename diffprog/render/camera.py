"""Cameras: world -> view -> screen (pixel) transforms, ``look_at``, ``orbit``, rotations.

Conventions (OpenGL, as in ``transforms.json``): the camera looks down its -Z axis with +Y up and
+X right. ``x_view = R @ x_world + T``; ``R`` rows are the camera's right, up and back axes in world
coordinates. Screen coordinates are pixels: x to the right from the left image edge, y down from
the top edge (row 0 at the top), so pixel (row i, column j) has its centre at (j + 0.5, i + 0.5).
Depth is the distance in front of the camera along its viewing axis (``-z_view``).
Perspective: ``x = cx + fx * x_view / depth``, ``y = cy - fy * y_view / depth`` (fx, fy in pixels).
Orthographic: ``x = cx + fx * x_view``, ``y = cy - fy * y_view`` (fx, fy in pixels per world unit).
Every parameter is a Tensor, so images are differentiable with respect to all of them.
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog.autodiff import Tensor


def check_image_size(image_size):
    """(H, W) as two positive ints, or ValueError naming ``image_size``."""
    try:
        if isinstance(image_size, (int, np.integer)):
            image_size = (image_size, image_size)
        h, w = (int(s) for s in image_size)
        ok = all(float(s) == int(s) for s in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected (H, W) positive integers, got {image_size!r}") from None
    if not ok or h <= 0 or w <= 0:
        raise ValueError(f"image_size: expected (H, W) positive integers, got {tuple(image_size)!r}")
    return h, w


def _leaf(x, name, requires_grad, dtype=np.float64, last=None):
    if type(x) is Tensor:
        t = x
    else:
        arr = np.asarray(x, dtype=dtype)
        t = dp.tensor(arr, requires_grad=requires_grad)
    if last is not None and (t.ndim == 0 or t.shape[-1] != last):
        raise ValueError(f"{name}: expected shape ({last},) or (N, {last}), got {t.shape}")
    if not np.all(np.isfinite(t.data)):
        raise ValueError(f"{name}: expected finite numbers, got {np.asarray(t.data).tolist()}")
    return t


def _normalize(v, name):
    n = dp.sqrt(dp.sum(v * v, axis=-1, keepdims=True))
    if np.any(n.data < 1e-12):
        raise ValueError(f"{name}: has zero length")
    return v / n


class Cameras:
    """A batch of N cameras sharing one image size.

    R: world-to-view rotations as (N, 3, 3) matrices, (N, 3) axis-angle vectors or (N, 4)
    quaternions (w, x, y, z); T: (N, 3) translations (``x_view = R x_world + T``); focal_length:
    (N, 2) or scalar (fx, fy, pixels); principal_point: (N, 2) (cx, cy) in pixels, default the
    image centre; image_size: (H, W); orthographic: projection kind; znear, zfar: clipping
    distances (triangles are clipped at znear; zfar sets the depth normalization of the soft
    blend). Arrays become leaves with ``requires_grad``; Tensors are kept as given. ``R``, ``T``
    and ``focal_length`` are recomputed from these leaves at each use, so one Cameras object can
    be rendered (and differentiated) any number of times.
    """

    def __init__(self, R, T, focal_length, principal_point=None, image_size=(256, 256), orthographic=False,
                 znear=0.1, zfar=100.0, requires_grad=True):
        self.image_size = check_image_size(image_size)
        h, w = self.image_size
        self.rotation = _leaf(R, "R", requires_grad)
        rot = self.rotation
        if rot.ndim == 1 or rot.ndim == 2 and rot.shape == (3, 3):
            rot = rot[None]
        if not ((rot.ndim == 3 and rot.shape[1:] == (3, 3)) or (rot.ndim == 2 and rot.shape[1] in (3, 4))):
            raise ValueError(f"R: expected (N, 3, 3) rotation matrices, (N, 3) axis-angles or (N, 4) "
                             f"quaternions, got shape {self.rotation.shape}")
        n = rot.shape[0]
        self.translation = _leaf(T, "T", requires_grad, last=3)
        _batch(self.translation, n, "T")
        if np.ndim(focal_length) == 0 and type(focal_length) is not Tensor:
            focal_length = np.full(2, float(focal_length))
        self.focal = _leaf(focal_length, "focal_length", requires_grad, last=2)
        _batch(self.focal, n, "focal_length")
        if np.any(self.focal.data <= 0):
            raise ValueError(f"focal_length: expected positive values, got {self.focal.data.tolist()}")
        if principal_point is None:
            principal_point = dp.tensor(np.array([w / 2.0, h / 2.0]))
        self.center = _leaf(principal_point, "principal_point", requires_grad, last=2)
        _batch(self.center, n, "principal_point")
        self.orthographic = bool(orthographic)
        if not 0 < znear < zfar:
            raise ValueError(f"znear, zfar: expected 0 < znear < zfar, got znear={znear}, zfar={zfar}")
        self.znear, self.zfar = float(znear), float(zfar)
        self.n = n
        self._derive = None           # look_at cameras: () -> (R, T, focal) from eye, at, up, fov
        self._look = None             # look_at cameras of the usual shapes: (eye, at, up, fov or height) leaves
        self._index = None            # sub-batch of a parent's cameras

    def _parts(self):
        if self._derive is not None:
            R, T, focal = self._derive()
        else:
            rot = self.rotation
            if rot.ndim == 1 or rot.ndim == 2 and rot.shape == (3, 3):
                rot = rot[None]
            if rot.ndim == 2:
                rot = axis_angle_to_matrix(rot) if rot.shape[1] == 3 else quaternion_to_matrix(rot)
            R = dp.broadcast_to(rot, (self.n, 3, 3)) if rot.shape[0] != self.n else rot
            T, focal = _batch(self.translation, self.n, "T"), _batch(self.focal, self.n, "focal_length")
        center = _batch(self.center, self.n, "principal_point")
        if self._index is not None:
            R, T, focal, center = R[self._index], T[self._index], focal[self._index], center[self._index]
        return R, T, focal, center

    @property
    def R(self):
        """(N, 3, 3) world-to-view rotations."""
        return self._parts()[0]

    @property
    def T(self):
        """(N, 3) translations."""
        return self._parts()[1]

    @property
    def focal_length(self):
        """(N, 2) focal lengths (fx, fy) in pixels (orthographic: pixels per world unit)."""
        return self._parts()[2]

    @property
    def principal_point(self):
        """(N, 2) principal points (cx, cy) in pixels."""
        return self._parts()[3]

    def __len__(self):
        return self.n if self._index is None else len(self._index)

    @classmethod
    def from_camera_to_world(cls, camera_to_world, focal_length, principal_point=None, image_size=(256, 256),
                             znear=0.1, zfar=100.0, requires_grad=False):
        """Cameras from (N, 4, 4) or (N, 3, 4) camera-to-world matrices ``[[Rc, c], [0, 1]]`` in the
        OpenGL convention of ``transforms.json`` (the camera looks down its -z axis, +y up): the
        world-to-view rotation is ``Rc^T`` and ``T = -Rc^T c``. ``camera_to_world`` may be a Tensor
        (e.g. a refined pose), and gradients then flow back to it; other arguments as for
        :class:`Cameras` (focal lengths and principal points in pixels of ``image_size``)."""
        if type(camera_to_world) is Tensor:
            c2w = camera_to_world if camera_to_world.ndim == 3 else camera_to_world[None]
        else:
            c2w = np.asarray(camera_to_world, dtype=np.float64)
            c2w = c2w if c2w.ndim == 3 else c2w[None]
        if c2w.ndim != 3 or c2w.shape[1:] not in ((4, 4), (3, 4)):
            raise ValueError(f"camera_to_world: expected (N, 4, 4) or (N, 3, 4) matrices, got shape {c2w.shape}")
        if not np.all(np.isfinite(getattr(c2w, "data", c2w))):
            raise ValueError("camera_to_world: contains non-finite values (NaN or inf)")
        rotation, centre = c2w[:, :3, :3], c2w[:, :3, 3]
        if type(c2w) is Tensor:
            world_to_view = dp.swapaxes(rotation, 1, 2)
            T = -dp.einsum("nij,nj->ni", world_to_view, centre)
        else:
            world_to_view = np.swapaxes(rotation, 1, 2)
            T = -np.einsum("nij,nj->ni", world_to_view, centre)
        return cls(world_to_view, T, focal_length, principal_point, image_size=image_size, znear=znear, zfar=zfar,
                   requires_grad=requires_grad)

    def __getitem__(self, index):
        """A sub-batch (``index``: int, slice or index array) sharing this batch's parameters."""
        index = np.atleast_1d(np.arange(len(self))[index])
        sub = Cameras.__new__(Cameras)
        sub.__dict__.update(self.__dict__)
        sub._index = index if self._index is None else self._index[index]
        return sub

    @property
    def eye(self):
        """(N, 3) camera centres in world coordinates (for ``look_at`` cameras the Tensor given
        as ``eye``, (3,) or (N, 3), so ``cams.eye.grad`` is filled by backward)."""
        if self._derive is not None and self._index is None:
            return self._eye
        R, T = self._parts()[:2]
        return -dp.einsum("nji,nj->ni", R, T)

    @property
    def centers(self):
        """(N, 3) camera centres in world coordinates (always batched)."""
        e = self.eye
        return e[None, :] if e.ndim == 1 else e

    @property
    def ndc_per_pixel(self):
        """Length of one pixel in NDC units, where the shorter image side spans [-1, 1]."""
        return 2.0 / min(self.image_size)

    def world_to_view(self, points, parts=None):
        """(V, 3) or (N, V, 3) world points -> (N, V, 3) view coordinates. ``parts``: (R, T, focal,
        principal point) already derived for this use (they are derived from the leaves anew
        otherwise)."""
        R, T = (self._parts() if parts is None else parts)[:2]
        Rt = dp.swapaxes(R, -1, -2)                     # p @ R^T: one batched matmul (cheaper than einsum)
        return dp.matmul(points[None] if points.ndim == 2 else points, Rt) + T[:, None, :]

    def view_to_screen(self, view):
        """(N, V, 3) view coordinates -> (N, V, 3) of (x pixel, y pixel, depth). Points at depth
        <= 0 of a perspective camera get finite but meaningless x, y (clip first)."""
        _, _, f, c = self._parts()
        depth = -view[..., 2]
        xy = view[..., :2]
        if not self.orthographic:
            safe = dp.where(np.abs(depth.data) > 1e-12, depth, 1e-12)
            xy = xy / safe[..., None]
        f, c = f[:, None, :], c[:, None, :]
        x = c[..., 0] + f[..., 0] * xy[..., 0]
        y = c[..., 1] - f[..., 1] * xy[..., 1]
        return dp.stack([x, y, depth], axis=-1)

    def screen_to_ndc(self, screen):
        """(..., 3) screen points (x pixel, y pixel, depth) -> NDC (x right, y up, depth kept):
        the image centre is 0 and the shorter image side spans [-1, 1]."""
        h, w = self.image_size
        s = self.ndc_per_pixel
        return dp.stack([(screen[..., 0] - w / 2.0) * s, (h / 2.0 - screen[..., 1]) * s, screen[..., 2]], axis=-1)

    def transform_points_ndc(self, points):
        """(V, 3) world points -> (N, V, 3) NDC points (see ``screen_to_ndc``)."""
        return self.screen_to_ndc(self.transform_points_screen(points))

    def transform_points_screen(self, points):
        """(V, 3) world points -> (N, V, 3) of (x pixel, y pixel, depth)."""
        return self.view_to_screen(self.world_to_view(points))

    def camera_to_world(self):
        """(N, 4, 4) camera-to-world matrices (OpenGL convention, as in ``transforms.json``)."""
        R, T = self._parts()[:2]
        Rt = dp.swapaxes(R, -1, -2)
        t = -dp.einsum("nij,nj->ni", Rt, T)
        top = dp.concatenate([Rt, t[:, :, None]], axis=2)
        bottom = np.broadcast_to(np.array([0.0, 0.0, 0.0, 1.0]), (len(self), 1, 4))
        return dp.concatenate([top, bottom], axis=1)

    def __repr__(self):
        kind = "orthographic" if self.orthographic else "perspective"
        return f"Cameras({len(self)} {kind}, image_size={self.image_size})"

    def to_opencv(self):
        """(R, tvec, K) in OpenCV's convention; see ``conventions.opencv_from_cameras_projection``."""
        from .conventions import opencv_from_cameras_projection
        return opencv_from_cameras_projection(self)


def _batch(t, n, name):
    if t.ndim == 1:
        return dp.broadcast_to(t[None, :], (n, t.shape[0]))
    if t.ndim != 2 or t.shape[0] not in (1, n):
        raise ValueError(f"{name}: expected shape ({t.shape[-1]},) or ({n}, {t.shape[-1]}), got {t.shape}")
    return t if t.shape[0] == n else dp.broadcast_to(t, (n, t.shape[1]))


def look_at_rotation(eye, at=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)):
    """(N, 3, 3) world-to-view rotations of cameras at ``eye`` looking at ``at`` with ``up``."""
    eye, at, up = (e if type(e) is Tensor else dp.tensor(np.asarray(e, float)) for e in (eye, at, up))
    back = eye - at
    if np.any(np.linalg.norm(np.atleast_2d(back.data), axis=-1) < 1e-12):
        raise ValueError(f"eye, at: the camera position equals the target {np.asarray(at.data).tolist()}; "
                         f"expected distinct points")
    back = _normalize(back, "eye - at")
    back, up = _broadcast2(back, up)
    right = dp.cross(up, back)
    rn = np.linalg.norm(np.atleast_2d(right.data), axis=-1)
    un = np.linalg.norm(np.atleast_2d(up.data), axis=-1)
    if np.any(rn <= 1e-6 * np.maximum(un, 1e-300)):
        k = int(np.argmin(rn / np.maximum(un, 1e-300)))
        raise ValueError(f"up: {np.atleast_2d(up.data)[k].tolist()} is parallel to the view direction "
                         f"{(-np.atleast_2d(back.data)[k]).tolist()} (camera {k}); choose an up vector that is "
                         f"not along the line from eye to at")
    right = right / dp.sqrt(dp.sum(right * right, axis=-1, keepdims=True))
    true_up = dp.cross(back, right)
    return dp.stack([right, true_up, back], axis=-2)


def _broadcast2(a, b):
    shape = np.broadcast_shapes(a.shape, b.shape)
    return dp.broadcast_to(a, shape), dp.broadcast_to(b, shape)


def look_at(eye, at=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0), fov=60.0, image_size=(256, 256), orthographic=False,
            height=2.0, znear=0.1, zfar=100.0, requires_grad=True):
    """Cameras at ``eye`` ((3,) or (N, 3)) looking at ``at`` with ``up`` roughly up.

    fov: vertical field of view in degrees (perspective). orthographic=True: ``height`` world units
    span the image height. Returns :class:`Cameras` whose ``eye``, ``at`` and ``fov`` are Tensors
    (leaves with ``requires_grad`` when given as plain values), so gradients reach them.
    """
    h, w = check_image_size(image_size)
    eye = _leaf(eye, "eye", requires_grad, last=3)
    at = _leaf(at, "at", requires_grad, last=3)
    up = _leaf(up, "up", False, last=3)
    if np.linalg.norm(np.atleast_2d(up.data), axis=-1).min() < 1e-12:
        raise ValueError(f"up: has zero length ({np.asarray(up.data).tolist()}); expected a direction")
    n = eye.shape[0] if eye.ndim == 2 else 1
    if orthographic:
        scale = _leaf(height, "height", requires_grad)
        if np.any(scale.data <= 0):
            raise ValueError(f"height: expected a positive world height, got {np.asarray(scale.data).tolist()}")
        fov_t = None
    else:
        fov_t = _leaf(fov, "fov", requires_grad)
        if np.any((fov_t.data <= 0) | (fov_t.data >= 180)):
            raise ValueError(f"fov: expected a vertical field of view in degrees in (0, 180), "
                             f"got {np.asarray(fov_t.data).tolist()}")
    look_at_rotation(np.atleast_2d(eye.data), at.data, up.data)        # validates: up parallel to the view ...

    def derive():
        eye2 = eye if eye.ndim == 2 else eye[None, :]
        R = look_at_rotation(eye2, at, up)
        if R.shape[0] != n:
            R = dp.broadcast_to(R, (n, 3, 3))
        T = -dp.einsum("nij,nj->ni", R, eye2)
        f = h / scale if orthographic else (h / 2.0) / dp.tan(fov_t * (np.pi / 360.0))
        f = dp.broadcast_to(dp.reshape(f, (-1, 1)), (n, 2))
        return R, T, f

    R0, T0, f0 = (x.data for x in derive())
    cams = Cameras(R0, T0, f0, image_size=(h, w), orthographic=orthographic, znear=znear, zfar=zfar,
                   requires_grad=False)
    cams._derive = derive
    cams._eye = eye
    lens = scale if orthographic else fov_t
    simple = (eye.ndim in (1, 2) and all(t.shape in ((3,), (n, 3)) for t in (at, up))
              and lens.size in (1, n) and lens.ndim <= 1 and all(t.dtype == np.float64 for t in (eye, at, up, lens)))
    cams._look = (eye, at, up, lens) if simple else None     # for ``look_at_values`` / ``look_at_vjp``
    cams.at, cams.up, cams.fov = at, up, fov_t
    return cams


def _cross(a, b):
    """a x b along the last axis, with ``dp.cross``'s arithmetic on arrays."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _sum_to(g, shape):
    """g summed over the axes that broadcasting ``shape`` to g's shape added or stretched."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)


def look_at_values(cams):
    """(R, T, focal, saved) as arrays of ``look_at`` cameras (``cams._look`` set): the values the
    cameras' engine code derives (the same operations on arrays, bit for bit) without recording
    anything; ``saved`` is what ``look_at_vjp`` needs."""
    eye, at, up, lens = (np.asarray(t.data, dtype=np.float64) for t in cams._look)
    n, (h, _) = cams.n, cams.image_size
    eye2 = eye if eye.ndim == 2 else eye[None, :]
    b0 = eye2 - at
    nb = np.sqrt(np.sum(b0 * b0, axis=-1, keepdims=True))
    back = b0 / nb
    shape = np.broadcast_shapes(back.shape, up.shape)
    back_b, up_b = np.broadcast_to(back, shape), np.broadcast_to(up, shape)
    r0 = _cross(up_b, back_b)
    nr = np.sqrt(np.sum(r0 * r0, axis=-1, keepdims=True))
    right = r0 / nr
    true_up = _cross(back_b, right)
    R = np.stack([right, true_up, back_b], axis=-2)
    if R.shape[0] != n:
        R = np.broadcast_to(R, (n, 3, 3))
    T = -np.einsum("nij,nj->ni", R, eye2)
    f = h / lens if cams.orthographic else (h / 2.0) / np.tan(lens * (np.pi / 360.0))
    f = np.broadcast_to(np.reshape(f, (-1, 1)), (n, 2))
    saved = (eye, at, up, lens, eye2, b0.shape, nb, back, up_b, back_b, nr, right, R, h)
    return R, T, f, saved


def look_at_vjp(saved, orthographic, g_R, g_T, g_f):
    """Gradients with respect to the ``look_at`` leaves (eye, at, up, fov or height) of
    ``look_at_values``'s (R, T, focal) given their cotangents (the VJP of the cameras' engine code,
    by hand: T = -R eye, R's rows (right, true up, back), normalizations and cross products)."""
    eye, at, up, lens, eye2, b_shape, nb, back, up_b, back_b, nr, right, R, h = saved
    g_R = g_R - g_T[:, :, None] * eye2[:, None, :]                          # T = -R eye2
    g_eye2 = -np.einsum("nij,ni->nj", R, g_T)
    g_R = _sum_to(g_R, (back_b.shape[0], 3, 3))
    g_right, g_tu, g_back = g_R[:, 0], g_R[:, 1], g_R[:, 2]
    g_back = g_back + _cross(right, g_tu)                                   # true_up = back x right
    g_right = g_right + _cross(g_tu, back_b)
    g_r0 = (g_right - right * np.sum(right * g_right, axis=-1, keepdims=True)) / nr      # right = r0 / |r0|
    g_up = _cross(back_b, g_r0)                                             # r0 = up x back
    g_back = _sum_to(g_back + _cross(g_r0, up_b), b_shape)
    g_b0 = (g_back - back * np.sum(back * g_back, axis=-1, keepdims=True)) / nb         # back = b0 / |b0|
    g_eye = _sum_to(g_eye2 + _sum_to(g_b0, eye2.shape), eye2.shape).reshape(eye.shape)
    g_at = -_sum_to(g_b0, at.shape)
    g_pre = _sum_to(g_f, (lens.size, 1)).reshape(lens.shape)
    if orthographic:                                                        # f = h / height
        g_lens = g_pre * (-h / (lens * lens))
    else:                                                                   # f = (h / 2) / tan(fov pi / 360)
        a = np.pi / 360.0
        t = np.tan(lens * a)
        g_lens = g_pre * (-(h / 2.0) * a * (1.0 + t * t) / (t * t))
    return g_eye, g_at, _sum_to(g_up, up.shape), g_lens


def orbit(n=8, elev=20.0, dist=2.7, azim_start=0.0, at=(0.0, 0.0, 0.0)):
    """(n, 3) eye positions evenly spaced in azimuth on a circle around ``at`` (y up): elevation
    ``elev`` degrees above the xz plane, distance ``dist``; azimuth 0 is on +z, increasing towards +x."""
    if int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive number of cameras, got {n!r}")
    if not dist > 0:
        raise ValueError(f"dist: expected a positive distance, got {dist!r}")
    azim = np.deg2rad(azim_start + 360.0 * np.arange(int(n)) / int(n))
    el = np.deg2rad(np.broadcast_to(np.asarray(elev, float), azim.shape))
    eye = np.stack([np.cos(el) * np.sin(azim), np.sin(el), np.cos(el) * np.cos(azim)], axis=1) * dist
    return eye + np.asarray(at, float)


def axis_angle_to_matrix(axis_angle):
    """(..., 3) rotation vectors (axis * angle in radians) -> (..., 3, 3) rotation matrices
    (Rodrigues; differentiable, also at angle 0)."""
    a = axis_angle if type(axis_angle) is Tensor else dp.tensor(np.asarray(axis_angle, float))
    t2 = dp.sum(a * a, axis=-1)
    small = t2.data < 1e-8
    t2s = dp.where(small, 1.0, t2)
    theta = dp.sqrt(t2s)
    s = dp.where(small, 1.0 - t2 / 6.0, dp.sin(theta) / theta)
    c = dp.where(small, 0.5 - t2 / 24.0, (1.0 - dp.cos(theta)) / t2s)
    x, y, z = a[..., 0], a[..., 1], a[..., 2]
    zero = dp.zeros_like(x)
    K = dp.stack([dp.stack([zero, -z, y], -1), dp.stack([z, zero, -x], -1), dp.stack([-y, x, zero], -1)], -2)
    eye = np.eye(3)
    return eye + s[..., None, None] * K + c[..., None, None] * dp.matmul(K, K)


def quaternion_to_matrix(quaternion):
    """(..., 4) quaternions (w, x, y, z; normalized here) -> (..., 3, 3) rotation matrices."""
    q = quaternion if type(quaternion) is Tensor else dp.tensor(np.asarray(quaternion, float))
    if q.shape[-1] != 4:
        raise ValueError(f"quaternion: expected shape (..., 4) (w, x, y, z), got {q.shape}")
    if np.any(np.sum(q.data ** 2, axis=-1) < 1e-24):
        raise ValueError("quaternion: has zero length")
    q = q / dp.sqrt(dp.sum(q * q, axis=-1, keepdims=True))
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [dp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            dp.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            dp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)]
    return dp.stack(rows, -2)
