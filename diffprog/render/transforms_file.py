"""Cameras <-> the ``transforms.json`` format (instant-ngp / nerfstudio / NeRF-synthetic).

Top level: ``camera_angle_x`` (horizontal field of view in radians) or ``fl_x``/``fl_y``
(pixels), optional ``cx``/``cy`` (pixels), ``w``/``h`` (image size); ``frames``: a list of
``{"file_path": ..., "transform_matrix": 4x4 camera-to-world}`` in the OpenGL convention (the camera
looks down -Z, +Y up), which is also diffprog's. Per-frame ``fl_x``, ``fl_y``, ``cx``, ``cy``,
``w``, ``h`` override the top-level values.
"""
import json
import os

import numpy as np

from diffprog.io.image import _check_path
from .camera import Cameras

_EXTENSIONS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".exr")


def _resolve(folder, file_path):
    path = os.path.normpath(os.path.join(folder, file_path))
    if not os.path.splitext(path)[1] and not os.path.exists(path):
        for ext in _EXTENSIONS:                     # NeRF-synthetic omits the extension
            if os.path.exists(path + ext):
                return path + ext
    return path


def _image_size(path):
    from PIL import Image
    with Image.open(_check_path(path)) as im:
        return im.size[1], im.size[0]


def load_transforms(path, znear=0.1, zfar=100.0, requires_grad=False):
    """Read a ``transforms.json``. Returns ``(cams, file_paths)``: :class:`Cameras` (one per frame;
    all frames must share one image size) and the frames' image paths resolved against the file's
    folder (a missing extension is completed when a matching image exists). The image size comes
    from ``w``/``h`` or, failing that, from the first frame's image."""
    path = _check_path(path, "transforms")
    try:
        with open(path) as f:
            meta = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"path: {path!r} is not valid JSON ({err})") from None
    frames = meta.get("frames") if isinstance(meta, dict) else None
    if not frames:
        raise ValueError(f"path: {path!r} has no 'frames' list; expected the transforms.json camera format")
    folder = os.path.dirname(path)
    files, mats, focal, center, sizes = [], [], [], [], []
    for i, fr in enumerate(frames):
        if "transform_matrix" not in fr or "file_path" not in fr:
            raise ValueError(f"frames[{i}]: expected keys 'file_path' and 'transform_matrix', got {sorted(fr)}")
        m = np.asarray(fr["transform_matrix"], dtype=np.float64)
        if m.shape != (4, 4) or not np.all(np.isfinite(m)):
            raise ValueError(f"frames[{i}].transform_matrix: expected a finite 4x4 matrix, got shape {m.shape}")
        files.append(_resolve(folder, fr["file_path"]))
        get = lambda k: fr.get(k, meta.get(k))              # noqa: E731
        h, w = get("h"), get("w")
        if h is None or w is None:
            h, w = sizes[0] if sizes else _image_size(files[-1])
        sizes.append((int(h), int(w)))
        if get("fl_x") is not None:
            fx = float(get("fl_x"))
            fy = float(get("fl_y")) if get("fl_y") is not None else fx
        elif get("camera_angle_x") is not None:
            fx = 0.5 * w / np.tan(0.5 * float(get("camera_angle_x")))
            fy = 0.5 * h / np.tan(0.5 * float(get("camera_angle_y"))) if get("camera_angle_y") is not None else fx
        else:
            raise ValueError(f"path: {path!r} gives no focal length; expected 'camera_angle_x' or 'fl_x'")
        cx = float(get("cx")) if get("cx") is not None else w / 2.0
        cy = float(get("cy")) if get("cy") is not None else h / 2.0
        mats.append(m)
        focal.append((fx, fy))
        center.append((cx, cy))
    if len(set(sizes)) > 1:
        raise ValueError(f"path: frames have different image sizes {sorted(set(sizes))}; expected one size")
    c2w = np.stack(mats)
    # orthonormalize the rotation (files often store slightly scaled matrices)
    u, _, vt = np.linalg.svd(c2w[:, :3, :3])
    rot = u @ vt
    R = np.swapaxes(rot, 1, 2)
    T = -np.einsum("nij,nj->ni", R, c2w[:, :3, 3])
    cams = Cameras(R, T, np.array(focal), np.array(center), image_size=sizes[0], znear=znear, zfar=zfar,
                   requires_grad=requires_grad)
    return cams, files


def save_transforms(cams, path, file_paths):
    """Write ``cams`` to a ``transforms.json`` at ``path`` with one frame per camera;
    ``file_paths``: one image path per camera, stored as given (relative paths are relative to
    the JSON file's folder)."""
    if not isinstance(cams, Cameras):
        raise TypeError(f"cams: expected Cameras, got {type(cams).__name__}")
    if cams.orthographic:
        raise ValueError("cams: transforms.json describes perspective cameras; got orthographic ones")
    file_paths = [os.fspath(p) for p in file_paths]
    if len(file_paths) != len(cams):
        raise ValueError(f"file_paths: expected {len(cams)} paths (one per camera), got {len(file_paths)}")
    folder = os.path.dirname(os.fspath(path))
    if folder and not os.path.isdir(folder):
        raise FileNotFoundError(f"path: folder {folder!r} does not exist")
    h, w = cams.image_size
    c2w = np.asarray(cams.camera_to_world().data)
    focal = np.asarray(cams.focal_length.data)
    center = np.asarray(cams.principal_point.data)
    meta = {"camera_angle_x": float(2 * np.arctan(0.5 * w / focal[0, 0])), "w": w, "h": h}
    same = np.allclose(focal, focal[0]) and np.allclose(center, center[0])
    if same:
        meta.update(fl_x=float(focal[0, 0]), fl_y=float(focal[0, 1]), cx=float(center[0, 0]), cy=float(center[0, 1]))
    frames = []
    for i, fp in enumerate(file_paths):
        fr = {"file_path": fp, "transform_matrix": c2w[i].tolist()}
        if not same:
            fr.update(fl_x=float(focal[i, 0]), fl_y=float(focal[i, 1]), cx=float(center[i, 0]), cy=float(center[i, 1]))
        frames.append(fr)
    meta["frames"] = frames
    with open(path, "w") as f:
        json.dump(meta, f, indent=2)
