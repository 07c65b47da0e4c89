"""The hard rasterizer (z-buffer): per pixel centre the nearest covering face.

Fragments hold one pair per covered pixel with perspective-correct barycentrics and depth; these
are differentiable with respect to vertices and camera (inside the face), but coverage is a step,
so silhouettes carry no gradient. Use it for previews, evaluation masks and as the sigma -> 0
limit of the soft rasterizer.
"""
from .blend import hard_blend
from .pairs import find_pairs, fragments_from_pairs, nearest_pair, take_pairs


class HardRasterizer:
    """Z-buffer rasterizer. cull_backfaces: drop faces wound clockwise on screen (with y up)."""

    def __init__(self, cull_backfaces=False):
        self.cull_backfaces = bool(cull_backfaces)

    def rasterize(self, screen, cams):
        pixel, face, outputs = find_pairs(screen, cams, 0.0, self.cull_backfaces, inside_only=True)
        if len(pixel):
            pick = nearest_pair(pixel, face, outputs[2])
            pixel, face, outputs = pixel[pick], face[pick], take_pairs(outputs, pick)
        return fragments_from_pairs(screen, pixel, face, cams, outputs)

    def blend(self, fragments, colors, background, znear=None, zfar=None):
        """(N, H, W, C + 1): the nearest face's colour where covered, else ``background``; the last
        channel is the 0/1 coverage. (N, H, W, 1) when ``colors`` is None."""
        return hard_blend(fragments, colors, background)

    def __repr__(self):
        return f"HardRasterizer(cull_backfaces={self.cull_backfaces})"
