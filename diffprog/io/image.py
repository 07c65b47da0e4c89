"""Image files <-> float arrays (H, W, C) in [0, 1], row 0 at the top (as files store them)."""
import os
import warnings

import numpy as np


def _check_path(path, what="image"):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: {what} file {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"path: {path!r} is a directory, expected an {what} file")
    return path


# The format each image extension names and the bytes its files start with.
_SIGNATURES = {".png": ("PNG", (b"\x89PNG\r\n\x1a\n",)), ".jpg": ("JPEG", (b"\xff\xd8\xff",)),
               ".jpeg": ("JPEG", (b"\xff\xd8\xff",)), ".gif": ("GIF", (b"GIF87a", b"GIF89a")),
               ".bmp": ("BMP", (b"BM",)), ".tif": ("TIFF", (b"II*\x00", b"MM\x00*")),
               ".tiff": ("TIFF", (b"II*\x00", b"MM\x00*"))}


def _format_problem(path):
    """Why the file at ``path`` cannot be an image of the format its extension names (empty, or
    not starting with that format's signature), or None if it may be one."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        return "the file is empty"
    name, signatures = _SIGNATURES.get(os.path.splitext(path)[1].lower(), (None, ()))
    if signatures and not head.startswith(signatures):
        return f"it is not a {name} file (it starts with {head[:8]!r}, a {name} file with {signatures[0]!r})"
    return None


def _reason(error):
    """One line for an imageio failure, without its suggestions of plugins to install (a damaged
    file needs no plugin)."""
    message = " ".join(str(error).split("\n")[0].split())
    if "Could not find a backend" in message or not message:
        return "no image reader recognises its contents (expected a PNG, JPEG, TIFF, BMP or GIF file)"
    return f"the file is damaged ({type(error).__name__}: {message})"


def read_image(path, dtype=np.float64):
    """Read a PNG/JPEG/... file as an (H, W, C) float array in [0, 1] (C = 1, 3 or 4; 16-bit
    images are scaled by 65535). Raises FileNotFoundError / ValueError for missing or unreadable files."""
    import imageio.v3 as iio
    path = _check_path(path)
    problem = _format_problem(path)
    if problem:
        raise ValueError(f"path: cannot read {path!r} as an image: {problem}")
    try:
        with warnings.catch_warnings():                  # imageio's plugin probing warns on odd files
            warnings.simplefilter("ignore", DeprecationWarning)
            arr = np.asarray(iio.imread(path))
    except Exception as err:                             # imageio raises many kinds
        raise ValueError(f"path: cannot read {path!r} as an image: {_reason(err)}") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"path: {path!r} holds an array of shape {arr.shape}, expected a single 2-D image")
    if arr.dtype == np.uint8:
        out = arr.astype(dtype) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(dtype) / 65535.0
    elif arr.dtype == bool:
        out = arr.astype(dtype)
    else:
        out = arr.astype(dtype)
    return out


def write_image(path, image):
    """Write an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) float array in [0, 1] (clipped) as 8-bit
    (PNG/JPEG... chosen by the file extension). Accepts Tensors (their values)."""
    import imageio.v3 as iio
    arr = np.asarray(getattr(image, "data", image), dtype=np.float64)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or 0 in arr.shape:
        raise ValueError(f"image: expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("image: contains NaN or inf values")
    folder = os.path.dirname(os.fspath(path))
    if folder and not os.path.isdir(folder):
        raise FileNotFoundError(f"path: folder {folder!r} does not exist")
    iio.imwrite(os.fspath(path), (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
