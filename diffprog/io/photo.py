"""Photographs for fitting: an image file -> RGBA floats at the size the fit renders."""
import numpy as np

from .config import SceneError
from .image import read_image


def read_photograph(path, image_size):
    """(S, S, 4) float64 RGBA in [0, 1] of the image file ``path`` (RGB images get alpha 1),
    resized to ``image_size`` with a box filter applied to premultiplied colour (so edges do not
    pick up the colour hidden under alpha 0)."""
    from PIL import Image
    try:
        rgba = read_image(path)
    except ValueError as error:
        raise SceneError(str(error)) from None
    if rgba.shape[2] in (1, 2):
        rgba = np.concatenate([np.repeat(rgba[..., :1], 3, axis=2),
                               rgba[..., 1:] if rgba.shape[2] == 2 else np.ones_like(rgba)], axis=2)
    elif rgba.shape[2] == 3:
        rgba = np.concatenate([rgba, np.ones_like(rgba[..., :1])], axis=2)
    height, width = rgba.shape[:2]
    if height != width:
        raise SceneError(f"image {path!r}: is {width}x{height}; expected a square photograph")
    if height == image_size:
        return rgba
    premultiplied = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=-1)
    channels = [np.asarray(Image.fromarray(premultiplied[..., c].astype(np.float32), "F")
                           .resize((image_size, image_size), Image.BOX), dtype=np.float64) for c in range(4)]
    out = np.clip(np.stack(channels, axis=-1), 0.0, 1.0)
    alpha = out[..., 3:]
    out[..., :3] = np.where(alpha > 1e-6, out[..., :3] / np.maximum(alpha, 1e-6), 0.0)
    return np.clip(out, 0.0, 1.0)
