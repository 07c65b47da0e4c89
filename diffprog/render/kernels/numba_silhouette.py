"""Compiled soft silhouette in one pass: the pair search fused with the silhouette blend.

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

from .numba_pairs import (CHUNK, REJECT_MARGIN, _add_edge_grad, _corner_values, _face_ranges, _reciprocals,
                          _terms)


@njit(cache=True, error_model="numpy")
def _silhouette_chunk(tri, inv, image, f0, f1, c0, r0, nx, ny, height, width, radius, scale, sigma, log_c, pixel,
                      face, edge, coef, rounded):
    """Pairs of faces [f0, f1) (the test of ``numba_pairs._search_chunk``): accumulate each pair's
    -softplus(dist / sigma) into ``log_c``, write (pixel, face, edge, (t, cx, cy)) into the buffers
    and return their number; ``rounded``: a 1-element array of the triangles' dtype (dist is
    rounded to it, as the reference stores it)."""
    r2 = radius * radius
    s2 = scale ** 2
    j = 0
    for f in range(f0, f1):
        if nx[f] == 0 or ny[f] == 0:
            continue
        X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
        ie0, ie1, ie2 = inv[f, 0], inv[f, 1], inv[f, 2]
        slack = r2 * (1.0 + REJECT_MARGIN)
        L0 = ((X2 - X1) * (X2 - X1) + (Y2 - Y1) * (Y2 - Y1)) * slack      # |edge opposite corner i|^2 r^2
        L1 = ((X0 - X2) * (X0 - X2) + (Y0 - Y2) * (Y0 - Y2)) * slack
        L2 = ((X1 - X0) * (X1 - X0) + (Y1 - Y0) * (Y1 - Y0)) * slack
        base = image[f] * (height * width)
        for row in range(r0[f], r0[f] + ny[f]):
            py = row + 0.5
            rY0, rY1, rY2 = Y0 - py, Y1 - py, Y2 - py
            for col in range(c0[f], c0[f] + nx[f]):
                px = col + 0.5
                rX0, rX1, rX2 = X0 - px, X1 - px, X2 - px
                E0 = rX1 * rY2 - rY1 * rX2
                E1 = rX2 * rY0 - rY2 * rX0
                E2 = rX0 * rY1 - rY0 * rX1
                area = E0 + E1 + E2
                inside = E0 * area >= 0 and E1 * area >= 0 and E2 * area >= 0
                if not inside and ((E0 * area < 0 and E0 * E0 > L0) or (E1 * area < 0 and E1 * E1 > L1)
                                   or (E2 * area < 0 and E2 * E2 > L2)):
                    continue
                t = _terms(X0, X1, X2, Y0, Y1, Y2, px, py, ie0, ie1, ie2)
                if not (inside or t[13] <= r2):
                    continue
                sign = 1.0 if inside else -1.0
                rounded[0] = sign * t[13] * s2
                x = np.float64(rounded[0]) / sigma
                e = math.exp(-abs(x))                    # softplus(x) and sigmoid(x) from one exp
                p = base + row * width + col
                log_c[p] += -(max(x, 0.0) + math.log1p(e))
                sig = (1.0 if x >= 0 else e) / (1.0 + e)
                # the gradient of -log(1 - alpha) with respect to the closest point, over the offset
                c = -2.0 * (sig / sigma) * sign * s2
                pixel[j] = p
                face[j] = f
                edge[j] = t[11]
                coef[j, 0], coef[j, 1], coef[j, 2] = t[12], c * t[14], c * t[15]
                j += 1
    return j


def soft_silhouette(tri, image, height, width, radius, cull_backfaces, scale, npix, sigma):
    """(alpha (npix,), saved) of the soft silhouette of screen triangles ``tri`` (M, 3, 3) with
    camera indices ``image`` (as ``find_pairs`` with ``inside_only=False``, then the silhouette
    blend); ``saved`` is what ``soft_silhouette_backward`` needs."""
    tri = np.ascontiguousarray(tri)
    image = np.ascontiguousarray(image, dtype=np.int64)
    radius, scale, sigma = float(radius), float(scale), float(sigma)
    c0, r0, nx, ny = _face_ranges(tri, radius, int(height), int(width), bool(cull_backfaces))
    ends = np.cumsum(nx * ny)
    inv = _reciprocals(tri)
    log_c = np.zeros(int(npix))                          # log(1 - alpha), summed in pair order
    parts = []
    start = 0
    while start < len(ends):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + CHUNK, side="right")), start + 1)
        capacity = int(ends[stop - 1] - base)
        buffers = (np.empty(capacity, np.int64), np.empty(capacity, np.int64), np.empty(capacity, np.int8),
                   np.empty((capacity, 3)))                  # from NumPy: see ``numba_pairs.search_pairs``
        n = _silhouette_chunk(tri, inv, image, start, stop, c0, r0, nx, ny, int(height), int(width), radius, scale,
                              sigma, log_c, *buffers, np.empty(1, tri.dtype))
        parts.append(tuple(b[:n].copy() if 2 * n < capacity else b[:n] for b in buffers))
        start = stop
    alpha = (0.0 - np.expm1(log_c)).astype(tri.dtype, copy=False)
    if not parts:
        saved = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros((0, 3)))
    elif len(parts) == 1:
        saved = parts[0]
    else:
        saved = tuple(np.concatenate([p[i] for p in parts]) for i in range(4))
    return alpha, (alpha,) + saved


@njit(cache=True, error_model="numpy")
def _silhouette_backward(total, alpha, g, pixel, face, edge, coef):
    for j in range(len(pixel)):
        p = pixel[j]
        gp = np.float64(g[p]) * (1.0 - np.float64(alpha[p]))
        _add_edge_grad(total, face[j], edge[j], coef[j, 0], gp * coef[j, 1], gp * coef[j, 2])


def soft_silhouette_backward(tri, saved, g):
    """(M, 3, 3) gradient with respect to ``tri`` of ``soft_silhouette``'s alpha given its
    cotangent g (npix,)."""
    alpha, pixel, face, edge, coef = saved
    total = np.zeros((len(tri), 9))
    _silhouette_backward(total, alpha, np.ascontiguousarray(g), pixel, face, edge, coef)
    return total.astype(tri.dtype, copy=False).reshape(-1, 3, 3)
