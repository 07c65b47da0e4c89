"""Reference (NumPy) kernels of attribute interpolation and bilinear texture sampling, with
their VJPs (see ``render.shading.interpolate`` and ``render.texture``)."""
import numpy as np


def interpolate(values, bary, index):
    """values (V, C), bary (P, 3), index (P, 3) vertex rows -> (P, C) = sum_i bary_i values[index_i]."""
    return np.einsum("pi,pic->pc", bary, values[index])


def interpolate_backward(values, bary, index, g):
    """(g_values (V, C), g_bary (P, 3)) of ``interpolate`` given its cotangent g (P, C)."""
    rows = (bary.T[:, :, None] * g[None]).reshape(-1, g.shape[1])
    flat = index.T.ravel()
    g_values = np.empty(values.shape, dtype=rows.dtype)
    for c in range(values.shape[1]):
        g_values[:, c] = np.bincount(flat, weights=rows[:, c], minlength=values.shape[0])
    g_bary = np.stack([np.einsum("pc,pc->p", g, values[index[:, i]]) for i in range(3)], axis=1)
    return g_values, g_bary


def _taps(uvs, h, w):
    """Corner texel indices (4, P) and fractions fx, fy of bilinear lookups (border clamped)."""
    x = uvs[:, 0] * w - 0.5
    y = (1.0 - uvs[:, 1]) * h - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    x0i, y0i = x0.astype(np.int64), y0.astype(np.int64)
    xa, xb = np.clip(x0i, 0, w - 1), np.clip(x0i + 1, 0, w - 1)
    ya, yb = np.clip(y0i, 0, h - 1), np.clip(y0i + 1, 0, h - 1)
    return np.stack([ya * w + xa, ya * w + xb, yb * w + xa, yb * w + xb]), fx, fy


def sample_bilinear(texture, uvs):
    """texture (H, W, C), uvs (P, 2) -> (P, C) bilinearly interpolated texels."""
    h, w, c = texture.shape
    index, fx, fy = _taps(uvs, h, w)
    out = np.empty((len(fx), c), dtype=np.result_type(texture, uvs))
    for k in range(c):
        chan = np.ascontiguousarray(texture[:, :, k]).ravel()
        t00, t01, t10, t11 = (chan.take(i) for i in index)
        top = t00 + fx * (t01 - t00)
        out[:, k] = top + fy * (t10 + fx * (t11 - t10) - top)
    return out


def sample_bilinear_backward(texture, uvs, g):
    """(g_texture (H, W, C), g_uvs (P, 2)) of ``sample_bilinear`` given its cotangent g (P, C)."""
    h, w, c = texture.shape
    index, fx, fy = _taps(uvs, h, w)
    weights = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])          # (4, P)
    all_index = index.ravel()
    g_tex = np.empty((h * w, c), dtype=g.dtype)
    g_u = np.zeros(len(fx), dtype=g.dtype)
    g_v = np.zeros(len(fx), dtype=g.dtype)
    for k in range(c):
        chan = np.ascontiguousarray(texture[:, :, k]).ravel()
        gk = g[:, k]
        g_tex[:, k] = np.bincount(all_index, weights=(weights * gk).ravel(), minlength=h * w)
        t00, t01, t10, t11 = (chan.take(i) for i in index)
        g_u += gk * ((1 - fy) * (t01 - t00) + fy * (t11 - t10))
        g_v += gk * ((t10 + fx * (t11 - t10)) - (t00 + fx * (t01 - t00)))
    return g_tex.reshape(h, w, c), np.stack([g_u * w, -g_v * h], axis=1)
