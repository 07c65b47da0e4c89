"""Pixel-face pairs: the search both rasterizers use, and their differentiable geometry.

For a pair (pixel centre p, screen triangle with vertices v0, v1, v2 and depths z0, z1, z2):

- ``dist``: signed squared distance from p to the triangle in NDC units (the shorter image side
  spans [-1, 1]); positive inside, negative outside, 0 on the boundary;
- ``bary``: perspective-correct barycentric coordinates of p's closest point in the triangle
  (screen barycentrics clamped at 0 and renormalized, then corrected for depth); they sum to 1;
- ``depth``: depth of that point (perspective-correct interpolation, 1 / sum(b_i / z_i)).

Faces that are not finite or whose twice-area is below ``AREA_EPS`` pixels^2 are skipped. The
arithmetic lives in the kernel sets (``render.kernels``); this module wraps it for the tape.
"""
import numpy as np

import diffprog.autodiff as dp
from . import kernels
from .fragments import Fragments
from .kernels.numpy_pairs import AREA_EPS  # noqa: F401  (part of the documented convention)


class PairGeometry(dp.Function):
    """tri (M, 3, 3) -> (dist (P,), bary (P, 3), depth (P,)) of the pairs ``pixel``, ``face``;
    ``params`` = (height, width, NDC units per pixel, perspective); ``outputs``: the forward
    values when the search already computed them. The backward recomputes the per-pair terms."""

    @staticmethod
    def forward(ctx, tri, pixel, face, params, outputs):
        ctx.tri, ctx.pixel, ctx.face, ctx.params = tri, pixel, face, params
        ctx.kernels = kernels.active()
        if outputs is not None:
            return outputs
        return ctx.kernels.pair_geometry(tri, pixel, face, *params)

    @staticmethod
    def backward(ctx, g_dist, g_bary, g_depth):
        g_tri = ctx.kernels.pair_geometry_backward(ctx.tri, ctx.pixel, ctx.face, *ctx.params, g_dist, g_bary, g_depth)
        return g_tri, None, None, None, None


def pair_geometry(tri, pixel, face, image_size, scale, perspective=True, outputs=None):
    """(dist, bary, depth) Tensors of pairs (flat ``pixel``, ``face``) of screen triangles ``tri``
    (M, 3, 3) Tensor, differentiable with respect to ``tri``; scale: NDC units per pixel."""
    params = (int(image_size[0]), int(image_size[1]), float(scale), bool(perspective))
    return PairGeometry.apply(tri, pixel, face, params, outputs)


def find_pairs(screen, cams, radius, cull_backfaces, inside_only=False):
    """All (pixel, face) pairs of ``screen`` triangles whose pixel centre is inside the triangle
    or within ``radius`` pixels of it. Returns (pixel, face, (dist, bary, depth)) arrays."""
    h, w = cams.image_size
    pixel, face, *outputs = kernels.active().find_pairs(
        screen.tri.data, screen.image, h, w, float(radius), bool(cull_backfaces), float(cams.ndc_per_pixel),
        not cams.orthographic, bool(inside_only))
    return pixel, face, tuple(outputs)


def fragments_from_pairs(screen, pixel, face, cams, outputs=None):
    """Fragments for given pairs of ``screen`` triangles (a ``clipping.ScreenTriangles``)."""
    h, w = cams.image_size
    dist, bary, depth = pair_geometry(screen.tri, pixel, face, (h, w), cams.ndc_per_pixel,
                                      perspective=not cams.orthographic, outputs=outputs)
    if screen.corners is not None:
        bary = dp.einsum("pi,pij->pj", bary, screen.corners[face])
    return Fragments(pixel, face, screen.parent[face], dist, bary, depth, (len(cams), h, w))


def nearest_per_pixel(pixel, depth, k):
    """Indices of the ``k`` nearest pairs (smallest depth) of each pixel, in pair order."""
    order = np.lexsort((depth, pixel))
    ps = pixel[order]
    first = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    counts = np.diff(np.r_[first, len(ps)])
    rank = np.arange(len(ps)) - np.repeat(first, counts)
    return np.sort(order[rank < k])


def nearest_pair(pixel, face, depth):
    """Indices of the nearest pair of each pixel (ties: lowest face index), by pixel: the z-buffer."""
    return kernels.active().nearest_pairs(pixel, face, depth)
