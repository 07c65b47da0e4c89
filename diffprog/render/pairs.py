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


class PairDistance(dp.Function):
    """tri (M, 3, 3) -> dist (P,) of the pairs ``pixel``, ``face``; ``params`` = (height, width,
    NDC units per pixel, perspective); ``dist``: the forward value when the search computed it;
    ``saved``: what the search saved for the backward (kernel-set private), else None (the backward
    recomputes the per-pair terms)."""

    @staticmethod
    def forward(ctx, tri, pixel, face, params, dist, saved=None):
        ctx.tri, ctx.pixel, ctx.face, ctx.params, ctx.saved = tri, pixel, face, params, saved
        ctx.kernels = kernels.active()
        return ctx.kernels.pair_geometry(tri, pixel, face, *params)[0] if dist is None else dist

    @staticmethod
    def backward(ctx, g_dist):
        if ctx.saved is not None:
            g_tri = ctx.kernels.pair_distance_backward(ctx.tri, ctx.face, ctx.saved, g_dist)
        else:
            g_tri = ctx.kernels.pair_geometry_backward(ctx.tri, ctx.pixel, ctx.face, *ctx.params, g_dist, None, None)
        return g_tri, None, None, None, None, None


class PairInterpolation(dp.Function):
    """tri (M, 3, 3) -> (bary (P, 3), depth (P,)) of the pairs ``pixel``, ``face``; ``params`` and
    ``outputs`` as ``PairDistance``'s."""

    @staticmethod
    def forward(ctx, tri, pixel, face, params, outputs):
        ctx.tri, ctx.pixel, ctx.face, ctx.params = tri, pixel, face, params
        ctx.kernels = kernels.active()
        return ctx.kernels.pair_geometry(tri, pixel, face, *params)[1:] if outputs is None else outputs

    @staticmethod
    def backward(ctx, g_bary, g_depth):
        g_tri = ctx.kernels.pair_geometry_backward(ctx.tri, ctx.pixel, ctx.face, *ctx.params, None, g_bary, g_depth)
        return g_tri, None, None, None, None


def pair_geometry(tri, pixel, face, image_size, scale, perspective=True, outputs=None):
    """(dist, bary, depth) Tensors of pairs (flat ``pixel``, ``face``) of screen triangles ``tri``
    (M, 3, 3) Tensor, differentiable with respect to ``tri``; scale: NDC units per pixel."""
    params = _params(image_size, scale, perspective)
    dist = PairDistance.apply(tri, pixel, face, params, None if outputs is None else outputs[0])
    bary, depth = PairInterpolation.apply(tri, pixel, face, params, None if outputs is None else outputs[1:])
    return dist, bary, depth


def _params(image_size, scale, perspective):
    return int(image_size[0]), int(image_size[1]), float(scale), bool(perspective)


def find_pairs(screen, cams, radius, cull_backfaces, inside_only=False):
    """All (pixel, face) pairs of ``screen`` triangles whose pixel centre is inside the triangle
    or within ``radius`` pixels of it. Returns (pixel, face, (dist, bary, depth)) arrays, and
    with the kernel sets that save it, what the distances' backward needs as a fourth output."""
    h, w = cams.image_size
    active = kernels.active()
    search = getattr(active, "search_pairs", None) or active.find_pairs
    pixel, face, *outputs = search(screen.tri.data, screen.image, h, w, float(radius), bool(cull_backfaces),
                                   float(cams.ndc_per_pixel), not cams.orthographic, bool(inside_only))
    return pixel, face, tuple(outputs)


def take_pairs(outputs, index):
    """``find_pairs``'s per-pair outputs (and saved backward data) of the pairs ``index`` only."""
    return tuple(take_pairs(o, index) if isinstance(o, tuple) else o[index] for o in outputs)


def fragments_from_pairs(screen, pixel, face, cams, outputs=None):
    """Fragments for given pairs of ``screen`` triangles (a ``clipping.ScreenTriangles``)."""
    h, w = cams.image_size
    params = _params((h, w), cams.ndc_per_pixel, not cams.orthographic)
    saved = outputs[3] if outputs is not None and len(outputs) > 3 else None
    dist = PairDistance.apply(screen.tri, pixel, face, params, None if outputs is None else outputs[0], saved)

    def interpolation():
        bary, depth = PairInterpolation.apply(screen.tri, pixel, face, params,
                                              None if outputs is None else outputs[1:3])
        if screen.corners is not None:
            bary = dp.einsum("pi,pij->pj", bary, screen.corners[face])
        return bary, depth
    return Fragments(pixel, face, screen.parent[face], dist, None, None, (len(cams), h, w), interpolation)


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
