"""Cameras <-> the ``transforms.json`` format (instant-ngp / nerfstudio / NeRF-synthetic).

The file format (intrinsics global or per frame, OpenGL camera-to-world matrices) is read and
written by ``diffprog.io.transforms``; this module turns its frames into one :class:`Cameras`
batch and back. Distortion coefficients are not part of :class:`Cameras` (they are ignored here;
the fit undistorts its photographs at load).
"""
import os

import numpy as np

from diffprog.io.transforms import Frame, read_transforms, write_transforms
from .camera import Cameras


def load_transforms(path, znear=0.1, zfar=100.0, requires_grad=False):
    """Read a ``transforms.json``. Returns ``(cams, file_paths)``: :class:`Cameras` (one per frame;
    all frames must share one image size) and the frames' image paths resolved against the file's
    folder (a missing extension is completed when a matching image exists). The image size comes
    from ``w``/``h`` or, failing that, from each frame's image."""
    frames = read_transforms(path, check_files=False)
    sizes = sorted({(f.height, f.width) for f in frames})
    if len(sizes) > 1:
        raise ValueError(f"path: frames of {os.fspath(path)!r} have different image sizes {sizes} (H, W); "
                         f"expected one size")
    c2w = np.stack([f.camera_to_world for f in frames])
    u, _, vt = np.linalg.svd(c2w[:, :3, :3])          # files often store slightly scaled rotations
    c2w[:, :3, :3] = u @ vt
    cams = Cameras.from_camera_to_world(c2w, np.array([f.focal for f in frames]),
                                        np.array([f.principal_point for f in frames]), image_size=sizes[0],
                                        znear=znear, zfar=zfar, requires_grad=requires_grad)
    return cams, [f.image for f in frames]


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
    frames = [Frame(file, c2w[i], tuple(focal[i]), tuple(center[i]), w, h, np.zeros(6))
              for i, file in enumerate(file_paths)]
    write_transforms(path, frames)
