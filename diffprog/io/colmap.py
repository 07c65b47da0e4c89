"""COLMAP sparse models (``cameras``, ``images``, ``points3D`` as ``.txt`` or ``.bin``) -> frames.

COLMAP stores world-to-camera poses ``x_cam = R(q) x_world + t`` in OpenCV camera axes (x right,
y down, z forward) with ``q = (qw, qx, qy, qz)``; the frames use the OpenGL camera-to-world
convention of ``transforms.json``: ``M = [[R^T, -R^T t], [0, 1]] @ diag(1, -1, -1, 1)``. Pixel
centres are at half-integers in both. Camera models: ``SIMPLE_PINHOLE``, ``PINHOLE``,
``SIMPLE_RADIAL``, ``RADIAL``, ``OPENCV`` (others, such as the fisheye ones, are refused).
"""
import dataclasses
import os
import struct

import numpy as np

from .config import SceneError
from .transforms import Frame

# model id -> (name, parameter names); parameters map to (fx, fy, cx, cy, k1, k2, p1, p2)
MODELS = {0: ("SIMPLE_PINHOLE", ("f", "cx", "cy")), 1: ("PINHOLE", ("fx", "fy", "cx", "cy")),
          2: ("SIMPLE_RADIAL", ("f", "cx", "cy", "k1")), 3: ("RADIAL", ("f", "cx", "cy", "k1", "k2")),
          4: ("OPENCV", ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2")),
          5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5), 8: ("SIMPLE_RADIAL_FISHEYE", 4),
          9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12)}
MODEL_IDS = {name: i for i, (name, _) in MODELS.items()}
SUPPORTED = tuple(name for name, params in MODELS.values() if isinstance(params, tuple))


@dataclasses.dataclass
class Camera:
    id: int
    model: str
    width: int
    height: int
    params: np.ndarray


@dataclasses.dataclass
class Image:
    """One registered image: world-to-camera ``qvec`` (w, x, y, z) and ``tvec``; its 2-D points
    ``xys`` (P, 2) pixels and their ``point3D_ids`` (-1: none)."""
    id: int
    qvec: np.ndarray
    tvec: np.ndarray
    camera_id: int
    name: str
    xys: np.ndarray
    point3D_ids: np.ndarray


@dataclasses.dataclass
class Point3D:
    id: int
    xyz: np.ndarray
    rgb: np.ndarray
    error: float
    image_ids: np.ndarray
    point2D_idxs: np.ndarray


@dataclasses.dataclass
class Model:
    """A sparse model: ``cameras`` and ``images`` by id, ``points`` by id, and the files read."""
    cameras: dict
    images: dict
    points: dict
    files: dict


def _parameter_count(model):
    params = MODELS[MODEL_IDS[model]][1]
    return len(params) if isinstance(params, tuple) else params


# ---- reading -------------------------------------------------------------------------------------
def _lines(path):
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                yield number, line.split()


def _read_cameras_text(path):
    cameras = {}
    for number, fields in _lines(path):
        try:
            camera = Camera(int(fields[0]), fields[1], int(fields[2]), int(fields[3]),
                            np.array([float(x) for x in fields[4:]]))
        except (ValueError, IndexError):
            raise SceneError(f"{path}, line {number}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]") from None
        cameras[camera.id] = camera
    return cameras


def _read_images_text(path):
    images, pending = {}, None
    for number, fields in _lines_with_empty(path):
        if pending is None:
            if not fields:
                continue
            try:
                pending = Image(int(fields[0]), np.array([float(x) for x in fields[1:5]]),
                                np.array([float(x) for x in fields[5:8]]), int(fields[8]), " ".join(fields[9:]),
                                None, None)
            except (ValueError, IndexError):
                raise SceneError(f"{path}, line {number}: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME") \
                    from None
            if not pending.name:
                raise SceneError(f"{path}, line {number}: image {pending.id} has no NAME")
        else:
            try:
                values = np.array([float(x) for x in fields]).reshape(-1, 3)
            except ValueError:
                raise SceneError(f"{path}, line {number}: expected POINTS2D[] as (X, Y, POINT3D_ID)") from None
            pending.xys, pending.point3D_ids = values[:, :2], values[:, 2].astype(np.int64)
            images[pending.id], pending = pending, None
    if pending is not None:                              # last image without its points line
        pending.xys, pending.point3D_ids = np.zeros((0, 2)), np.zeros(0, np.int64)
        images[pending.id] = pending
    return images


def _lines_with_empty(path):
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.lstrip().startswith("#"):
                yield number, line.split()


def _read_points_text(path):
    points = {}
    for number, fields in _lines(path):
        try:
            track = np.array([int(x) for x in fields[8:]], np.int64).reshape(-1, 2)
            point = Point3D(int(fields[0]), np.array([float(x) for x in fields[1:4]]),
                            np.array([int(x) for x in fields[4:7]], np.uint8), float(fields[7]),
                            track[:, 0], track[:, 1])
        except (ValueError, IndexError):
            raise SceneError(f"{path}, line {number}: expected POINT3D_ID X Y Z R G B ERROR TRACK[]") from None
        points[point.id] = point
    return points


class _Reader:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()
        self.offset = 0

    def read(self, fmt):
        size = struct.calcsize("<" + fmt)
        if self.offset + size > len(self.data):
            raise SceneError(f"{self.path}: ends early (truncated COLMAP binary file)")
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += size
        return values

    def array(self, fmt, count, dtype):
        size = struct.calcsize("<" + fmt) * count
        if self.offset + size > len(self.data):
            raise SceneError(f"{self.path}: ends early (truncated COLMAP binary file)")
        out = np.frombuffer(self.data, dtype=dtype, count=count * len(fmt), offset=self.offset)
        self.offset += size
        return out

    def name(self):
        end = self.data.find(b"\0", self.offset)
        if end < 0:
            raise SceneError(f"{self.path}: ends early (truncated COLMAP binary file)")
        text = self.data[self.offset:end].decode("utf-8")
        self.offset = end + 1
        return text


def _read_cameras_binary(path):
    reader, cameras = _Reader(path), {}
    for _ in range(reader.read("Q")[0]):
        camera_id, model_id, width, height = reader.read("iiQQ")
        if model_id not in MODELS:
            raise SceneError(f"{path}: camera {camera_id}: unknown model id {model_id}")
        name = MODELS[model_id][0]
        cameras[camera_id] = Camera(camera_id, name, width, height,
                                    reader.array("d", _parameter_count(name), "<f8").astype(float))
    return cameras


def _read_images_binary(path):
    reader, images = _Reader(path), {}
    for _ in range(reader.read("Q")[0]):
        image_id, qw, qx, qy, qz, tx, ty, tz, camera_id = reader.read("idddddddi")
        name = reader.name()
        count = reader.read("Q")[0]
        raw = np.frombuffer(reader.data, dtype=np.dtype([("x", "<f8"), ("y", "<f8"), ("id", "<i8")]), count=count,
                            offset=reader.offset)
        reader.offset += 24 * count
        images[image_id] = Image(image_id, np.array([qw, qx, qy, qz]), np.array([tx, ty, tz]), camera_id, name,
                                 np.stack([raw["x"], raw["y"]], axis=1).astype(float), raw["id"].astype(np.int64))
    return images


def _read_points_binary(path):
    reader, points = _Reader(path), {}
    for _ in range(reader.read("Q")[0]):
        point_id, x, y, z, r, g, b, error, length = reader.read("QdddBBBdQ")
        track = reader.array("ii", length, "<i4").reshape(-1, 2).astype(np.int64)
        points[point_id] = Point3D(point_id, np.array([x, y, z]), np.array([r, g, b], np.uint8), error,
                                   track[:, 0], track[:, 1])
    return points


def read_model(folder):
    """The COLMAP model in ``folder`` (``.bin`` files when present, else ``.txt``; ``points3D`` is
    optional). Raises FileNotFoundError / SceneError naming the file."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"COLMAP model folder {folder!r} does not exist")
    files, parts = {}, {}
    readers = {"cameras": (_read_cameras_binary, _read_cameras_text), "images": (_read_images_binary, _read_images_text),
               "points3D": (_read_points_binary, _read_points_text)}
    for part, (binary, text) in readers.items():
        for extension, reader in ((".bin", binary), (".txt", text)):
            path = os.path.join(folder, part + extension)
            if os.path.isfile(path):
                files[part] = path
                try:
                    parts[part] = reader(path)
                except (UnicodeDecodeError, struct.error) as error:
                    raise SceneError(f"{path}: not a COLMAP {part} file ({error})") from None
                break
        else:
            if part != "points3D":
                raise FileNotFoundError(f"{folder}: no {part}.bin or {part}.txt (expected a COLMAP sparse model "
                                        f"such as sparse/0)")
            parts[part] = {}
    return Model(parts["cameras"], parts["images"], parts["points3D"], files)


# ---- writing -------------------------------------------------------------------------------------
def write_model(model, folder, binary=False):
    """Write ``model`` to ``folder`` as COLMAP ``.bin`` (``binary``) or ``.txt`` files."""
    os.makedirs(folder, exist_ok=True)
    (_write_binary if binary else _write_text)(model, folder)


def _write_text(model, folder):
    with open(os.path.join(folder, "cameras.txt"), "w") as f:
        f.write("# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n")
        for c in model.cameras.values():
            f.write(f"{c.id} {c.model} {c.width} {c.height} " + " ".join(repr(float(p)) for p in c.params) + "\n")
    with open(os.path.join(folder, "images.txt"), "w") as f:
        f.write("# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n# POINTS2D[] as (X, Y, POINT3D_ID)\n")
        for im in model.images.values():
            f.write(f"{im.id} " + " ".join(repr(float(v)) for v in (*im.qvec, *im.tvec)) + f" {im.camera_id} {im.name}\n")
            f.write(" ".join(f"{float(x)!r} {float(y)!r} {int(p)}" for (x, y), p in zip(im.xys, im.point3D_ids)) + "\n")
    with open(os.path.join(folder, "points3D.txt"), "w") as f:
        f.write("# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n")
        for p in model.points.values():
            track = " ".join(f"{int(i)} {int(j)}" for i, j in zip(p.image_ids, p.point2D_idxs))
            f.write(f"{p.id} " + " ".join(repr(float(v)) for v in p.xyz) + " " + " ".join(str(int(c)) for c in p.rgb)
                    + f" {float(p.error)!r} {track}\n")


def _write_binary(model, folder):
    with open(os.path.join(folder, "cameras.bin"), "wb") as f:
        f.write(struct.pack("<Q", len(model.cameras)))
        for c in model.cameras.values():
            f.write(struct.pack("<iiQQ", c.id, MODEL_IDS[c.model], c.width, c.height))
            f.write(np.asarray(c.params, "<f8").tobytes())
    with open(os.path.join(folder, "images.bin"), "wb") as f:
        f.write(struct.pack("<Q", len(model.images)))
        for im in model.images.values():
            f.write(struct.pack("<idddddddi", im.id, *im.qvec, *im.tvec, im.camera_id))
            f.write(im.name.encode("utf-8") + b"\0")
            f.write(struct.pack("<Q", len(im.xys)))
            raw = np.zeros(len(im.xys), np.dtype([("x", "<f8"), ("y", "<f8"), ("id", "<i8")]))
            raw["x"], raw["y"], raw["id"] = im.xys[:, 0], im.xys[:, 1], im.point3D_ids
            f.write(raw.tobytes())
    with open(os.path.join(folder, "points3D.bin"), "wb") as f:
        f.write(struct.pack("<Q", len(model.points)))
        for p in model.points.values():
            f.write(struct.pack("<QdddBBBdQ", p.id, *p.xyz, *(int(c) for c in p.rgb), p.error, len(p.image_ids)))
            f.write(np.stack([p.image_ids, p.point2D_idxs], axis=1).astype("<i4").tobytes())


# ---- conversion ----------------------------------------------------------------------------------
def quaternion_to_rotation(qvec):
    """(w, x, y, z) unit quaternion -> (3, 3) rotation matrix."""
    w, x, y, z = np.asarray(qvec, float) / np.linalg.norm(qvec)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def rotation_to_quaternion(rotation):
    """(3, 3) rotation matrix -> (w, x, y, z) unit quaternion with w >= 0 (Shepperd's method)."""
    m = np.asarray(rotation, float)
    trace = np.trace(m)
    if trace > 0:
        s = 2 * np.sqrt(trace + 1)
        q = [s / 4, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2 * np.sqrt(1 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2 * np.sqrt(1 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2 * np.sqrt(1 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4]
    q = np.array(q) / np.linalg.norm(q)
    return q if q[0] >= 0 else -q


OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])


def camera_to_world(image):
    """(4, 4) OpenGL camera-to-world matrix of a COLMAP image."""
    rotation = quaternion_to_rotation(image.qvec)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation.T
    matrix[:3, 3] = -rotation.T @ image.tvec
    return matrix @ OPENCV_TO_OPENGL


def intrinsics(camera, where):
    """``(focal (fx, fy), principal point (cx, cy), distortion (6,))`` of a COLMAP camera."""
    if camera.model not in SUPPORTED:
        raise SceneError(f"{where}: camera {camera.id} has model {camera.model}, which is not supported (expected one "
                         f"of {', '.join(SUPPORTED)}; undistort the images with COLMAP's image_undistorter first)")
    names = MODELS[MODEL_IDS[camera.model]][1]
    if len(camera.params) != len(names):
        raise SceneError(f"{where}: camera {camera.id} ({camera.model}) has {len(camera.params)} parameters, "
                         f"expected {len(names)} ({' '.join(names)})")
    p = dict(zip(names, camera.params))
    fx, fy = p.get("fx", p.get("f")), p.get("fy", p.get("f"))
    distortion = np.array([p.get(k, 0.0) for k in ("k1", "k2", "p1", "p2")] + [0.0, 0.0])
    return (float(fx), float(fy)), (float(p["cx"]), float(p["cy"])), distortion


def mask_path(masks, name):
    """The mask of image ``name`` in the folder ``masks``: ``name + '.png'`` (COLMAP's convention)
    or, failing that, the name with its extension replaced by ``.png``; None if neither exists."""
    for candidate in (name + ".png", os.path.splitext(name)[0] + ".png"):
        path = os.path.join(masks, candidate)
        if os.path.isfile(path):
            return path
    return None


def frames_of_model(model, images, masks=None):
    """Frames (sorted by image name) of a COLMAP ``model`` whose images are in the folder ``images``
    (and masks in ``masks``: see :func:`mask_path`; a missing mask is an error naming the image)."""
    frames = []
    images_file, cameras_file = model.files.get("images", "images"), model.files.get("cameras", "cameras")
    for image in sorted(model.images.values(), key=lambda im: im.name):
        where = f"{images_file}: image {image.id} ({image.name})"
        if image.camera_id not in model.cameras:
            raise SceneError(f"{where}: camera {image.camera_id} is not in {cameras_file}")
        camera = model.cameras[image.camera_id]
        focal, center, distortion = intrinsics(camera, f"{cameras_file} (used by image {image.name})")
        path = os.path.normpath(os.path.join(images, image.name))
        mask = None
        if masks is not None:
            mask = mask_path(masks, image.name)
            if mask is None:
                raise FileNotFoundError(f"{where}: no mask {os.path.join(masks, image.name + '.png')!r} (nor "
                                        f"{os.path.splitext(image.name)[0] + '.png'!r})")
        frames.append(Frame(path, camera_to_world(image), focal, center, camera.width, camera.height, distortion,
                            mask, None))
    return frames


def reprojection_errors(model, frames=None):
    """Pixel distances between each observed 2-D point and its 3-D point projected through the
    frames' OpenGL cameras (the conversion this module makes) and lens distortion."""
    from .distortion import distort_points
    by_name = {f.image: f for f in (frames or [])}
    errors = []
    if not model.points:
        return np.zeros(0)
    ids = np.array(list(model.points))
    xyz = np.stack([model.points[i].xyz for i in ids])
    index = {int(i): k for k, i in enumerate(ids)}
    for image in model.images.values():
        if image.camera_id not in model.cameras:
            continue
        seen = image.point3D_ids >= 0
        if not np.any(seen):
            continue
        focal, center, distortion = intrinsics(model.cameras[image.camera_id], model.files.get("cameras", ""))
        frame = by_name.get(image.name)
        c2w = frame.camera_to_world if frame is not None else camera_to_world(image)
        points = xyz[[index[int(i)] for i in image.point3D_ids[seen]]]
        view = (points - c2w[:3, 3]) @ c2w[:3, :3]                 # OpenGL view coordinates
        xy = np.stack([view[:, 0] / -view[:, 2], -view[:, 1] / -view[:, 2]], axis=1)
        xy = distort_points(xy, distortion)
        uv = np.stack([center[0] + focal[0] * xy[:, 0], center[1] + focal[1] * xy[:, 1]], axis=1)
        errors.append(np.linalg.norm(uv - image.xys[seen], axis=1))
    return np.concatenate(errors) if errors else np.zeros(0)
