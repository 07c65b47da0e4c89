"""``transforms.json`` files (instant-ngp / nerfstudio / NeRF-synthetic): the one reader and writer.

Intrinsics are given at the top level or per frame (a frame's value wins): ``fl_x``/``fl_y``
(pixels) or ``camera_angle_x``/``camera_angle_y`` (radians), ``cx``/``cy`` (pixels, default the
image centre), ``w``/``h`` (default: the image file's size, read from its header). ``camera_model``
is ``PINHOLE`` (default), ``OPENCV`` (``k1 k2 p1 p2``, and ``k3 k4`` as the r^6, r^8 radial terms
where given) or ``SIMPLE_RADIAL``/``RADIAL`` (``k1``, ``k2``); any other model (``OPENCV_FISHEYE``,
``EQUIRECTANGULAR``...) is refused. ``frames`` hold ``file_path`` (completed with an image
extension when it has none), ``transform_matrix`` (4x4 camera-to-world, OpenGL: the camera looks
down -z, +y up), optional ``mask_path`` (8-bit, >= 128 is the object) and ``split``. Unknown
fields are ignored. Paths are relative to the JSON file's folder.
"""
import dataclasses
import json
import math
import os

import numpy as np

from .config import SceneError, SceneTypeError, show

CAMERA_MODELS = ("PINHOLE", "OPENCV", "SIMPLE_RADIAL", "RADIAL")
DISTORTION_KEYS = ("k1", "k2", "p1", "p2", "k3", "k4")
_EXTENSIONS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".exr")


@dataclasses.dataclass
class Frame:
    """One photograph of a capture.

    image: path; camera_to_world: (4, 4) OpenGL matrix as stored; focal: (fx, fy) and
    principal_point: (cx, cy) in pixels of an image ``width`` x ``height``; distortion: (6,)
    ``k1 k2 p1 p2 k3 k4`` (OpenCV radial-tangential; zeros for a pinhole); mask: path or None;
    split: the frame's ``split`` field or None."""
    image: str
    camera_to_world: np.ndarray
    focal: tuple
    principal_point: tuple
    width: int
    height: int
    distortion: np.ndarray
    mask: str = None
    split: str = None

    @property
    def distorted(self):
        return bool(np.any(self.distortion != 0))


def complete_path(folder, file_path):
    """``file_path`` joined to ``folder``; a path without extension gets the first image
    extension for which a file exists (NeRF-synthetic omits it)."""
    path = os.path.normpath(os.path.join(folder, os.path.expanduser(file_path)))
    if not os.path.splitext(path)[1] and not os.path.exists(path):
        for ext in _EXTENSIONS:
            if os.path.exists(path + ext):
                return path + ext
    return path


def image_size(path):
    """(width, height) of an image file from its header (no decoding)."""
    from PIL import Image
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    try:
        with Image.open(path) as image:
            return image.size
    except Exception as error:                      # Pillow raises many kinds
        raise SceneError(f"cannot read {path!r} as an image ({type(error).__name__}: {error})") from None


def _number(value, label, key):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SceneTypeError(f"{label}: {key}: expected a finite number, got {show(value)}")
    return float(value)


def read_transforms(path, check_files=True):
    """The frames of the ``transforms.json`` at ``path`` (a list of :class:`Frame`).

    check_files: require every image (and mask) file to exist. Raises FileNotFoundError, or
    SceneError / SceneTypeError (ValueErrors) naming the file, the frame and the field."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"transforms file {path!r} does not exist")
    try:
        with open(path) as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SceneError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list):
        raise SceneError(f"{path}: no 'frames' list; expected the transforms.json camera format")
    if not meta["frames"]:
        raise SceneError(f"{path}: 'frames' is empty; expected at least one frame with 'file_path' and "
                         "'transform_matrix'")
    folder = os.path.dirname(path)
    return [_frame(meta, frame, index, path, folder, check_files) for index, frame in enumerate(meta["frames"])]


def _frame(meta, frame, index, path, folder, check_files):
    label = f"{path}: frame {index}"
    if not isinstance(frame, dict) or "file_path" not in frame or "transform_matrix" not in frame:
        raise SceneError(f"{label}: expected 'file_path' and 'transform_matrix'")
    label = f"{path}: frame {index} ({frame['file_path']})"

    def get(key):
        return frame.get(key, meta.get(key))

    try:
        matrix = np.array(frame["transform_matrix"], dtype=float)
    except (TypeError, ValueError):
        raise SceneTypeError(f"{label}: transform_matrix: expected a 4x4 list of numbers, "
                             f"got {show(frame['transform_matrix'])}") from None
    if matrix.shape != (4, 4):
        raise SceneError(f"{label}: transform_matrix: expected shape (4, 4), got {matrix.shape}")
    check_camera_to_world(matrix, label)
    image = complete_path(folder, frame["file_path"])
    if check_files and not os.path.isfile(image):
        raise FileNotFoundError(f"{path}: frame {index}: image {image!r} does not exist")
    mask = frame.get("mask_path")
    if mask is not None:
        mask = complete_path(folder, mask)
        if check_files and not os.path.isfile(mask):
            raise FileNotFoundError(f"{label}: mask_path: mask {mask!r} does not exist")
    model = get("camera_model") or "PINHOLE"
    if model not in CAMERA_MODELS:
        raise SceneError(f"{label}: camera_model {model!r} is not supported (expected one of "
                         f"{', '.join(CAMERA_MODELS)}; undistort such images first, e.g. with COLMAP's image_undistorter)")
    width, height = get("w"), get("h")
    if width is None or height is None:
        width, height = image_size(image)
    width, height = _number(width, label, "w"), _number(height, label, "h")
    if width <= 0 or height <= 0 or width != int(width) or height != int(height):
        raise SceneError(f"{label}: w, h: expected positive integers, got {width}, {height}")
    focal = _focal(get, width, height, label, path)
    cx = _number(get("cx"), label, "cx") if get("cx") is not None else width / 2
    cy = _number(get("cy"), label, "cy") if get("cy") is not None else height / 2
    distortion = np.array([_number(get(k), label, k) if get(k) is not None else 0.0 for k in DISTORTION_KEYS])
    if model == "PINHOLE" and np.any(distortion != 0):
        raise SceneError(f"{label}: camera_model PINHOLE with distortion coefficients "
                         f"{dict(zip(DISTORTION_KEYS, distortion.tolist()))}; expected OPENCV for a distorted camera")
    if model in ("SIMPLE_RADIAL", "RADIAL"):
        distortion[2:] = 0.0
    split = frame.get("split")
    return Frame(image, matrix, focal, (cx, cy), int(width), int(height), distortion, mask,
                 split if isinstance(split, str) else None)


def _focal(get, width, height, label, path):
    if get("fl_x") is not None:
        fx = _number(get("fl_x"), label, "fl_x")
        fy = _number(get("fl_y"), label, "fl_y") if get("fl_y") is not None else fx
    elif get("camera_angle_x") is not None:
        angle = get("camera_angle_x")
        if isinstance(angle, bool) or not isinstance(angle, (int, float)):
            raise SceneTypeError(f"{label}: camera_angle_x: expected a number of radians, got {show(angle)}")
        if not 0 < angle < math.pi:
            raise SceneError(f"{label}: field of view {math.degrees(angle)!r} degrees, expected a number in (0, 180)")
        fx = 0.5 * width / math.tan(0.5 * angle)
        fy = fx
        if get("camera_angle_y") is not None:
            fy = 0.5 * height / math.tan(0.5 * _number(get("camera_angle_y"), label, "camera_angle_y"))
    else:
        raise SceneError(f"{label}: no focal length; expected 'fl_x' (pixels) or 'camera_angle_x' (radians)")
    if not (fx > 0 and fy > 0):
        raise SceneError(f"{label}: focal length {fx}, {fy}: expected positive pixels")
    return fx, fy


def check_camera_to_world(matrix, where):
    """SceneError unless ``matrix`` is a finite rigid 4x4 transform (rotation + translation)."""
    if not np.all(np.isfinite(matrix)):
        raise SceneError(f"{where}: camera matrix contains non-finite values (NaN or inf): {matrix.tolist()}")
    if not np.allclose(matrix[3], [0, 0, 0, 1]):
        raise SceneError(f"{where}: camera matrix's last row is {matrix[3].tolist()}, expected [0, 0, 0, 1]")
    rotation = matrix[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-4) or np.linalg.det(rotation) < 0:
        raise SceneError(f"{where}: camera matrix's upper 3x3 block is not a rotation "
                         f"(expected orthonormal axes with determinant +1)")


def write_transforms(path, frames, extra=None):
    """Write ``frames`` (:class:`Frame` list) to a ``transforms.json`` at ``path``; intrinsics shared
    by every frame go to the top level, the rest per frame; paths are written relative to the
    JSON file's folder. ``extra``: more top-level fields."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))

    def intrinsics(frame):
        values = {"fl_x": float(frame.focal[0]), "fl_y": float(frame.focal[1]),
                  "cx": float(frame.principal_point[0]), "cy": float(frame.principal_point[1]),
                  "w": int(frame.width), "h": int(frame.height)}
        if frame.distorted:
            values.update(zip(DISTORTION_KEYS, (float(k) for k in frame.distortion)))
        return values

    def relative(p):
        return os.path.relpath(os.path.abspath(p), folder) if os.path.isabs(p) else p

    all_intrinsics = [intrinsics(f) for f in frames]
    shared = {k: v for k, v in all_intrinsics[0].items() if all(i.get(k) == v for i in all_intrinsics)}
    meta = dict(extra or {})
    meta["camera_model"] = "OPENCV" if any(f.distorted for f in frames) else "PINHOLE"
    meta.update(shared)
    if "fl_x" in shared and "w" in shared:
        meta["camera_angle_x"] = 2 * math.atan(0.5 * shared["w"] / shared["fl_x"])
    meta["frames"] = []
    for frame, values in zip(frames, all_intrinsics):
        out = {"file_path": relative(frame.image), "transform_matrix": np.asarray(frame.camera_to_world).tolist()}
        out.update({k: v for k, v in values.items() if k not in shared})
        if frame.mask is not None:
            out["mask_path"] = relative(frame.mask)
        if frame.split is not None:
            out["split"] = frame.split
        meta["frames"].append(out)
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
