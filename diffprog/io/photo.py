"""Photographs for fitting: an image file (and its mask) -> straight-alpha RGBA floats at the size
the fit renders, undistorted to a pinhole camera.

Large photographs are never decoded at full size when the fit renders them small: JPEGs are
decoded at 1/2, 1/4 or 1/8 scale by Pillow's ``draft`` (the DCT does the reduction), other formats
are reduced by an integer factor with ``Image.reduce``, and the rest of the resizing is a box
filter applied to premultiplied colour (edges do not pick up the colour hidden under alpha 0).
The mask is a separate 8-bit image (>= 128 is the object) when given, else the alpha channel.
A distorted photograph is undistorted once here, at twice the output size, then box-filtered down.
"""
import os

import numpy as np

from .config import SceneError
from .distortion import undistort_image


def render_size(width, height, long_side):
    """(H, W) of a ``width`` x ``height`` photograph scaled so that its long side is ``long_side``."""
    scale = long_side / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def image_info(path):
    """``((width, height), has_alpha)`` of the image file ``path``, from its header."""
    from PIL import Image
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    try:
        with Image.open(path) as image:
            alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
            return image.size, alpha
    except Exception as error:                                  # Pillow raises many kinds
        raise SceneError(f"cannot read {path!r} as an image ({type(error).__name__}: {error})") from None


def _open(path, where):
    from PIL import Image
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}image {path!r} does not exist") from None
    except Exception as error:                                  # Pillow raises many kinds
        raise SceneError(f"{where}cannot read {path!r} as an image ({type(error).__name__}: {error})") from None


def _decode(image, size, where, path):
    """``(array, scale)``: the Pillow image as an (h, w, C) float array in [0, 1] (C = 4 when it has
    alpha, 3 for colour, 1 for grey) and the integer factor it was reduced by on decoding (JPEG
    DCT scaling, never below ``size`` (H, W)); its pixel i covers the file's pixels
    [scale i, scale (i + 1)), so its last row and column may be partial."""
    width = image.size[0]
    try:
        if image.format == "JPEG" and min(image.size[0] // size[1], image.size[1] // size[0]) > 1:
            image.draft(image.mode if image.mode in ("RGB", "L") else "RGB", (size[1], size[0]))
        scale = 2 ** int(round(np.log2(width / image.size[0])))
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image, dtype=np.float32) / 65535.0
        else:
            if image.mode not in ("L", "RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
            array = np.asarray(image, dtype=np.float32) / 255.0
    except OSError as error:
        raise SceneError(f"{where}cannot decode {path!r} ({error})") from None
    return (array if array.ndim == 3 else array[..., None]), scale


def _block_mean(binary, scale):
    """(h, w) bool -> (ceil(h / scale), ceil(w / scale)) float32 coverage of ``scale`` x ``scale`` blocks
    (the last row and column of blocks padded by repeating the edge, as JPEG's reduced decoding does)."""
    if scale == 1:
        return binary.astype(np.float32)
    h, w = binary.shape
    padded = np.pad(binary, ((0, -h % scale), (0, -w % scale)), mode="edge")
    blocks = padded.reshape(padded.shape[0] // scale, scale, padded.shape[1] // scale, scale)
    return blocks.sum(axis=(1, 3), dtype=np.uint32).astype(np.float32) / (scale * scale)


def _box_resize(array, size, region):
    """(h, w, C) -> (H, W, C): the ``region`` (width, height) at the array's top-left corner, resized
    with Pillow's box filter (area average) per channel."""
    from PIL import Image
    if array.shape[:2] == tuple(size) and tuple(region) == (size[1], size[0]):
        return np.asarray(array, np.float64)
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(array[..., c], np.float32), "F")
                                .resize((size[1], size[0]), Image.BOX, box=(0, 0) + tuple(region)), np.float64)
                     for c in range(array.shape[2])], axis=-1)


def read_photograph(path, image_size, mask=None, focal=None, principal_point=None, distortion=None, where=""):
    """(H, W, 4) float64 straight-alpha RGBA in [0, 1] of the photograph ``path``.

    image_size: (H, W), or an int: the long side (the aspect ratio is kept; see :func:`render_size`).
    mask: a separate mask image (8-bit, >= 128 is the object; it must have the photograph's size),
    else the photograph's alpha channel, else alpha 1. distortion: ``k1 k2 p1 p2 k3 k4`` with
    ``focal`` (fx, fy) and ``principal_point`` (cx, cy) in the file's pixels: the photograph is
    undistorted to the pinhole camera with those intrinsics. ``where``: prefix of error messages
    (e.g. the frame). Raises FileNotFoundError / SceneError naming the file."""
    where = f"{where}: " if where else ""
    image = _open(path, where)
    with image:
        width, height = image.size
        size = render_size(width, height, image_size) if np.ndim(image_size) == 0 else tuple(image_size)
        distorted = distortion is not None and np.any(np.asarray(distortion) != 0)
        work = (2 * size[0], 2 * size[1]) if distorted else size
        array, scale = _decode(image, work, where, path)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    alpha = array[..., 3:4] if array.shape[2] == 4 else np.ones_like(array[..., :1])
    rgb = array[..., :3]
    if mask is not None:
        mask_image = _open(mask, where)
        with mask_image:
            if mask_image.size != (width, height):
                raise SceneError(f"{where}mask {mask!r} is {mask_image.size[0]}x{mask_image.size[1]}, expected the "
                                 f"size of its photograph {path!r}: {width}x{height}")
            binary = np.asarray(mask_image.convert("L") if mask_image.mode != "L" else mask_image) >= 128
        alpha = _block_mean(binary, scale)[..., None]
    premultiplied = _box_resize(np.concatenate([rgb * alpha, alpha], axis=-1), work, (width / scale, height / scale))
    if distorted:
        scale = np.array([work[1] / width, work[0] / height])
        premultiplied = undistort_image(premultiplied, np.asarray(focal, float) * scale,
                                        np.asarray(principal_point, float) * scale, distortion)
        premultiplied = premultiplied.reshape(size[0], 2, size[1], 2, 4).mean(axis=(1, 3))
    out = np.clip(premultiplied, 0.0, 1.0)
    coverage = out[..., 3:]
    out[..., :3] = np.where(coverage > 1e-6, out[..., :3] / np.maximum(coverage, 1e-6), 0.0)
    return np.clip(out, 0.0, 1.0)
