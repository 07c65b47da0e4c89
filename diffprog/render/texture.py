"""Bilinear texture sampling, differentiable with respect to the texels and the UVs.

UV convention: u runs left to right, v bottom to top, both over [0, 1] (OBJ/glTF-as-OBJ style);
texel (row i, column j) has its centre at u = (j + 0.5) / W, v = 1 - (i + 0.5) / H. Lookups
outside [0, 1] clamp to the border texels.
"""
import numpy as np

import diffprog.autodiff as dp


def sample_texture(texture, uv):
    """texture: (H, W, C) Tensor; uv: (P, 2) Tensor -> (P, C) bilinearly interpolated colours.
    One fused op: differentiable with respect to the texels and the UVs."""
    h, w, c = texture.shape

    class _Bilinear(dp.Function):
        @staticmethod
        def forward(ctx, tex, uvs):
            x = uvs[:, 0] * w - 0.5
            y = (1.0 - uvs[:, 1]) * h - 0.5
            x0, y0 = np.floor(x), np.floor(y)
            fx, fy = (x - x0)[:, None], (y - y0)[:, None]
            x0i, y0i = x0.astype(np.int64), y0.astype(np.int64)
            xa, xb = np.clip(x0i, 0, w - 1), np.clip(x0i + 1, 0, w - 1)
            ya, yb = np.clip(y0i, 0, h - 1), np.clip(y0i + 1, 0, h - 1)
            flat = tex.reshape(h * w, c)
            index = (ya * w + xa, ya * w + xb, yb * w + xa, yb * w + xb)
            t00, t01, t10, t11 = (flat[i] for i in index)
            top = t00 + fx * (t01 - t00)
            bottom = t10 + fx * (t11 - t10)
            ctx.saved = (index, fx, fy, t00, t01, t10, t11, top, bottom)
            return top + fy * (bottom - top)

        @staticmethod
        def backward(ctx, g):
            index, fx, fy, t00, t01, t10, t11, top, bottom = ctx.saved
            weights = ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy)
            rows = np.concatenate([wt * g for wt in weights], axis=0)
            g_tex = np.zeros((h * w, c), dtype=g.dtype)
            all_index = np.concatenate(index)
            for k in range(c):
                g_tex[:, k] = np.bincount(all_index, weights=rows[:, k], minlength=h * w)
            d_fx = ((1 - fy) * (t01 - t00) + fy * (t11 - t10) * 1.0)
            d_fy = bottom - top
            g_u = np.sum(g * d_fx, axis=1) * w
            g_v = -np.sum(g * d_fy, axis=1) * h
            return g_tex.reshape(h, w, c), np.stack([g_u, g_v], axis=1)

    return _Bilinear.apply(texture, uv)
