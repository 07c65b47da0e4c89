"""The hard rasterizer (z-buffer): per pixel centre the nearest covering face.

Fragments hold one pair per covered pixel with perspective-correct barycentrics and depth; these
are differentiable with respect to vertices and camera (inside the face), but coverage is a step,
so silhouettes carry no gradient. Use it for previews, evaluation masks and as the sigma -> 0
limit of the soft rasterizer.
"""
import numpy as np

import diffprog.autodiff as dp
from .rasterize_soft import find_pairs, fragments_from_pairs


class HardRasterizer:
    """Z-buffer rasterizer. cull_backfaces: drop faces wound clockwise on screen (with y up)."""

    def __init__(self, cull_backfaces=False):
        self.cull_backfaces = bool(cull_backfaces)

    def rasterize(self, screen, cams):
        tri = screen.tri.data
        pixel, face, outputs = find_pairs(tri, screen.image, cams.image_size, 0.0, self.cull_backfaces,
                                          cams.ndc_per_pixel, not cams.orthographic, inside_only=True)
        if len(pixel):
            depth = outputs[2]
            order = np.lexsort((face, depth, pixel))          # nearest first; ties: lowest face index
            ps = pixel[order]
            first = np.r_[True, ps[1:] != ps[:-1]]
            pick = order[first]
            pixel, face = pixel[pick], face[pick]
            outputs = tuple(o[pick] for o in outputs)
        return fragments_from_pairs(screen, pixel, face, cams, outputs)

    def blend(self, fragments, colors, background, znear=None, zfar=None):
        """(N, H, W, C + 1): the nearest face's colour where covered, else ``background``; the last
        channel is the 0/1 coverage. (N, H, W, 1) when ``colors`` is None."""
        n, h, w = fragments.image_shape
        npix = n * h * w
        covered = np.zeros(npix, dtype=bool)
        covered[fragments.pixel] = True
        dtype = fragments.depth.dtype
        alpha = dp.tensor(covered.astype(dtype)[:, None])
        if colors is None:
            return dp.reshape(alpha, (n, h, w, 1))
        C = colors.shape[1]
        image = dp.index_add(dp.zeros((npix, C), dtype=colors.dtype), 0, fragments.pixel, colors)
        bg = background if type(background) is dp.Tensor else dp.tensor(np.asarray(background, dtype=colors.dtype))
        if bg.ndim > 1:
            bg = dp.reshape(dp.broadcast_to(bg, (n, h, w, C)), (npix, C))
        image = image + bg * (1.0 - covered.astype(dtype))[:, None]
        return dp.reshape(dp.concatenate([image, alpha], axis=1), (n, h, w, C + 1))

    def __repr__(self):
        return f"HardRasterizer(cull_backfaces={self.cull_backfaces})"
