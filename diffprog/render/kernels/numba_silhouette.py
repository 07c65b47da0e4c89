"""Compiled soft silhouette as one op: the pair search (distances only) and the silhouette blend.

Reference: ``find_pairs`` followed by ``blend_forward(colors=None)`` and, backward,
``blend_backward`` followed by ``pair_geometry_backward`` (distance only) — the same arithmetic,
pair by pair, in the same pair order. No per-pair geometry is kept but what the backward needs:
the pixel, the face, the closest edge and its parameter, and the gradient of the pair's term of
``log(1 - alpha)`` with respect to the closest point (the pair's sigmoid, sign and scale folded
in), so the backward is one short pass that scatters into the faces serially (deterministic).
"""
import math

import numpy as np
from numba import njit

from .numba_blend import _add_softplus
from .numba_pairs import _add_row, _edge_shares, search_pairs


@njit(cache=True, error_model="numpy")
def _blend(dist, pixel, coef, sigma, lin, excess, alpha):
    """Accumulate each pair's softplus(dist / sigma) into its pixel's (``lin``, ``excess``) (see
    ``numba_blend._add_softplus``) and scale its saved distance gradient (``coef[:, 1:]``) by
    d(-softplus(x)) / d dist = -sigmoid(x) / sigma (in a pass of its own: the exponentials of
    successive pairs overlap); then ``alpha`` (npix,) from the sums."""
    for j in range(len(pixel)):
        x = np.float64(dist[j]) / sigma
        e = math.exp(-abs(x))                            # softplus(x) and sigmoid(x) from one exp
        _add_softplus(lin, excess, pixel[j], x, e)
        s = (1.0 if x >= 0 else e) / ((1.0 + e) * sigma)       # sigmoid(x) / sigma, one division
        coef[j, 1] *= s
        coef[j, 2] *= s
    for p in range(len(alpha)):                         # alpha = 1 - exp(-softplus sum); 0 without pairs
        if lin[p] != 0.0 or excess[p] != 0.0:
            alpha[p] = 0.0 - math.expm1(-(lin[p] + math.log1p(excess[p])))
        else:
            alpha[p] = 0.0


def soft_silhouette(tri, image, height, width, radius, cull_backfaces, scale, npix, sigma):
    """(alpha (npix,), saved) of the soft silhouette of screen triangles ``tri`` (M, 3, 3) with
    camera indices ``image`` (``search_pairs`` without barycentrics, then the silhouette blend);
    ``saved`` is what ``soft_silhouette_backward`` needs."""
    pixel, face, dist, _, _, (edge, coef) = search_pairs(tri, image, height, width, radius, cull_backfaces, scale,
                                                         True, False, interpolate=False)
    lin, excess = np.zeros(int(npix)), np.zeros(int(npix))       # -log(1 - alpha) = lin + log1p(excess)
    alpha = np.empty(int(npix))
    _blend(dist, pixel, coef, float(sigma), lin, excess, alpha)
    alpha = alpha.astype(np.asarray(tri).dtype, copy=False)
    return alpha, (alpha, pixel, face, edge, coef)


@njit(cache=True, error_model="numpy")
def _pixel_cotangents(g, alpha, out):
    """out[p] = (sum of g[p] over its channels, in order) * (1 - alpha[p]): the cotangent of pixel
    p's -log(1 - alpha) (alpha repeated over the channels)."""
    for p in range(g.shape[0]):
        s = np.float64(g[p, 0])
        for c in range(1, g.shape[1]):
            s += np.float64(g[p, c])
        out[p] = s * (1.0 - np.float64(alpha[p]))


@njit(cache=True, error_model="numpy")
def _silhouette_backward(total, gpix, pixel, face, edge, coef):
    """A run of pairs of one face (the search's order) is summed in registers and added to the
    face's row once; ``gpix``: ``_pixel_cotangents``."""
    cur = -1
    t0 = t1 = t3 = t4 = t6 = t7 = 0.0
    for j in range(len(pixel)):
        f = face[j]
        if f != cur:
            _add_row(total, cur, t0, t1, 0.0, t3, t4, 0.0, t6, t7, 0.0)
            t0 = t1 = t3 = t4 = t6 = t7 = 0.0
            cur = f
        gp = gpix[pixel[j]]
        ax, ay = gp * coef[j, 1], gp * coef[j, 2]
        w0, w1, w2 = _edge_shares(edge[j], coef[j, 0])
        t0 += w0 * ax
        t1 += w0 * ay
        t3 += w1 * ax
        t4 += w1 * ay
        t6 += w2 * ax
        t7 += w2 * ay
    _add_row(total, cur, t0, t1, 0.0, t3, t4, 0.0, t6, t7, 0.0)


def soft_silhouette_backward(tri, saved, g):
    """(M, 3, 3) gradient with respect to ``tri`` of ``soft_silhouette``'s alpha given its
    cotangent g (npix,), or (npix, C) for alpha repeated over C channels (their cotangents summed)."""
    alpha, pixel, face, edge, coef = saved
    total = np.zeros((len(tri), 9))
    g = np.asarray(g)
    gpix = np.empty(len(g))
    _pixel_cotangents(g[:, None] if g.ndim == 1 else g, alpha, gpix)
    _silhouette_backward(total, gpix, pixel, face, edge, coef)
    return total.astype(tri.dtype, copy=False).reshape(-1, 3, 3)
