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

    def channels(tex):
        return [np.ascontiguousarray(tex[:, :, k]).ravel() for k in range(c)]

    class _Bilinear(dp.Function):
        @staticmethod
        def forward(ctx, tex, uvs):
            x = uvs[:, 0] * w - 0.5
            y = (1.0 - uvs[:, 1]) * h - 0.5
            x0, y0 = np.floor(x), np.floor(y)
            fx, fy = x - x0, y - y0
            x0i, y0i = x0.astype(np.int64), y0.astype(np.int64)
            xa, xb = np.clip(x0i, 0, w - 1), np.clip(x0i + 1, 0, w - 1)
            ya, yb = np.clip(y0i, 0, h - 1), np.clip(y0i + 1, 0, h - 1)
            index = np.stack([ya * w + xa, ya * w + xb, yb * w + xa, yb * w + xb])      # (4, P)
            if h * w < 2 ** 31:
                index = index.astype(np.int32)
            out = np.empty((len(fx), c), dtype=np.result_type(tex, uvs))
            for k, chan in enumerate(channels(tex)):
                t00, t01, t10, t11 = (chan.take(i) for i in index)
                top = t00 + fx * (t01 - t00)
                out[:, k] = top + fy * (t10 + fx * (t11 - t10) - top)
            ctx.saved = (tex, index, fx, fy)                 # texels are gathered again in backward
            return out

        @staticmethod
        def backward(ctx, g):
            tex, index, fx, fy = ctx.saved
            weights = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])          # (4, P)
            all_index = index.ravel()
            g_tex = np.empty((h * w, c), dtype=g.dtype)
            g_u = np.zeros(len(fx), dtype=g.dtype)
            g_v = np.zeros(len(fx), dtype=g.dtype)
            for k, chan in enumerate(channels(tex)):
                gk = g[:, k]
                g_tex[:, k] = np.bincount(all_index, weights=(weights * gk).ravel(), minlength=h * w)
                t00, t01, t10, t11 = (chan.take(i) for i in index)
                g_u += gk * ((1 - fy) * (t01 - t00) + fy * (t11 - t10))
                g_v += gk * ((t10 + fx * (t11 - t10)) - (t00 + fx * (t01 - t00)))
            return g_tex.reshape(h, w, c), np.stack([g_u * w, -g_v * h], axis=1)

    return _Bilinear.apply(texture, uv)
