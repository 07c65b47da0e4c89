"""Bilinear texture sampling, differentiable with respect to the texels and the UVs.

UV convention: u runs left to right, v bottom to top, both over [0, 1] (OBJ/glTF-as-OBJ style);
texel (row i, column j) has its centre at u = (j + 0.5) / W, v = 1 - (i + 0.5) / H. Lookups
outside [0, 1] clamp to the border texels.
"""
import numpy as np

import diffprog.autodiff as dp


def sample_texture(texture, uv):
    """texture: (H, W, C) Tensor; uv: (P, 2) Tensor -> (P, C) bilinearly interpolated colours."""
    h, w, c = texture.shape
    x = uv[:, 0] * w - 0.5
    y = (1.0 - uv[:, 1]) * h - 0.5
    x0 = np.floor(x.data)
    y0 = np.floor(y.data)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    x0i = x0.astype(np.int64)
    y0i = y0.astype(np.int64)
    xa, xb = np.clip(x0i, 0, w - 1), np.clip(x0i + 1, 0, w - 1)
    ya, yb = np.clip(y0i, 0, h - 1), np.clip(y0i + 1, 0, h - 1)
    flat = dp.reshape(texture, (h * w, c))
    t00, t01 = flat[ya * w + xa], flat[ya * w + xb]
    t10, t11 = flat[yb * w + xa], flat[yb * w + xb]
    top = t00 + fx * (t01 - t00)
    bottom = t10 + fx * (t11 - t10)
    return top + fy * (bottom - top)
