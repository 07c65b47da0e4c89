"""Compiled soft silhouette as one op: the pair search (distances only) and the silhouette blend.

Reference: ``find_pairs`` followed by ``blend_forward(colors=None)`` and, backward,
``blend_backward`` followed by ``pair_geometry_backward`` (distance only) — the same arithmetic,
pair by pair, in the same pair order (the exponentials by ``_exp_neg``, within 1 ulp of libm's).
No per-pair geometry is kept but what the backward needs: the pixel, the closest edge and its
parameter, the gradient of the pair's distance with respect to the closest point (sign and scale
folded in) and the pair's sigmoid / sigma, plus each face's number of pairs, so the backward is one
short pass that scatters into the faces serially (deterministic).
"""
import math

import numpy as np
from numba import njit

from .numba_blend import _add_softplus, _exp_neg
from .numba_pairs import LANES, _add_row, _corner_values, _edge_shares, _face_ranges, _reciprocals, _terms, \
    face_chunks, scratch


@njit(cache=True, error_model="numpy")
def _exp_neg_array(t, out):
    """``_exp_neg`` over an array (for the tests)."""
    for i in range(len(t)):
        out[i] = _exp_neg(t[i])


@njit(cache=True, error_model="numpy")
def _blend(dist, pixel, sigma, lin, excess, alpha, ex, xs, sg, inplace):
    """Accumulate each pair's softplus(dist / sigma) into its pixel's (``lin``, ``excess``) (see
    ``numba_blend._add_softplus``) and keep d(-softplus(x)) / d dist = -sigmoid(x) / sigma (the
    factor of the pair's saved distance gradient, into ``sg`` (P,)); then ``alpha`` (npix,) from the
    sums. The exponentials and sigmoids first, in SIMD lanes (``_exp_neg``; x and exp(-|x|) into
    ``xs`` and ``ex`` (P,); ``inplace``: x over ``dist`` (float64), ``xs`` unused), then the sums
    (serially, in pair order)."""
    if inplace:                                          # (a loop of its own: no aliasing for LLVM to check)
        for j in range(len(pixel)):                     # in SIMD lanes
            x = np.float64(dist[j]) / sigma
            e = _exp_neg(-abs(x))                        # softplus(x) and sigmoid(x) from one exp
            dist[j] = x
            ex[j] = e
            sg[j] = (1.0 if x >= 0 else e) / ((1.0 + e) * sigma)   # sigmoid(x) / sigma, one division
        for j in range(len(pixel)):
            _add_softplus(lin, excess, pixel[j], np.float64(dist[j]), ex[j])
    else:
        for j in range(len(pixel)):
            x = np.float64(dist[j]) / sigma
            e = _exp_neg(-abs(x))
            xs[j] = x
            ex[j] = e
            sg[j] = (1.0 if x >= 0 else e) / ((1.0 + e) * sigma)
        for j in range(len(pixel)):
            _add_softplus(lin, excess, pixel[j], xs[j], ex[j])
    for p in range(len(alpha)):                         # alpha = 1 - exp(-softplus sum); 0 without pairs
        if lin[p] != 0.0 or excess[p] != 0.0:
            alpha[p] = 0.0 - math.expm1(-(lin[p] + math.log1p(excess[p])))
        else:
            alpha[p] = 0.0


BLOCK = 512             # candidates of a face tested in one SIMD loop at most (whole rows of its box)


@njit(cache=True, error_model="numpy")
def _search(tri, inv, image, f0, f1, c0, r0, nx, ny, height, width, radius, scale, count, pixel, dist, edge, coef):
    """``numba_pairs``' search kernel (``_search_kernel``) for the silhouette (no barycentrics): the pairs of faces
    [f0, f1) (the same pairs in the same order, the same values), each face's number of pairs into
    ``count`` instead of a face index per pair; ``pixel``, ``dist``, ``edge``, ``coef`` with room
    for every candidate. A face's box is tested whole rows at a time, up to ``BLOCK`` candidates
    (the centres laid out first), in one SIMD loop (longer than a row's: fewer idle lanes), which
    forms every per-candidate product, so the compaction only copies."""
    r2 = radius * radius
    s2 = scale ** 2
    widest = 0
    for f in range(f0, f1):
        widest = max(widest, nx[f])
    room = (max(widest, BLOCK) + LANES - 1) // LANES * LANES
    px, py = np.empty(room), np.empty(room)
    rd, rt, rcx, rcy = np.empty(room), np.empty(room), np.empty(room), np.empty(room)
    rk, rkeep = np.empty(room, np.int64), np.empty(room, np.int64)
    hw = height * width
    j = 0
    for f in range(f0, f1):
        n = nx[f]
        count[f] = 0
        if n == 0 or ny[f] == 0:
            continue
        j0 = j
        X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
        ie0, ie1, ie2 = inv[f, 0], inv[f, 1], inv[f, 2]
        first = c0[f]
        step = max(BLOCK // n, 1)                        # rows per block (all of a small face's box)
        for top in range(r0[f], r0[f] + ny[f], step):
            bottom = min(top + step, r0[f] + ny[f])
            total = n * (bottom - top)
            lanes = (total + LANES - 1) // LANES * LANES
            i = 0
            for row in range(top, bottom):               # the candidates' centres, row by row
                y = row + 0.5
                for col in range(first, first + n):
                    px[i] = col + 0.5
                    py[i] = y
                    i += 1
            for i in range(total, lanes):                # (the extra lanes are never read)
                px[i] = px[0]
                py[i] = py[0]
            for i in range(lanes):                       # the tests, in SIMD lanes
                t = _terms(X0, X1, X2, Y0, Y1, Y2, px[i], py[i], ie0, ie1, ie2)
                sign = 1.0 if t[10] else -1.0
                q = t[13]
                rd[i] = sign * q * s2
                c = -2.0 * sign * s2                     # d dist / d closest point = c * offset
                rk[i] = t[11]
                rt[i] = t[12]
                rcx[i] = c * t[14]
                rcy[i] = c * t[15]
                rkeep[i] = 1 if (t[10] or q <= r2) else 0
            i = 0
            for row in range(top, bottom):               # the pairs, compacted
                start = image[f] * hw + row * width + first
                for col in range(n):
                    pixel[j] = start + col
                    dist[j] = rd[i]
                    edge[j] = rk[i]
                    coef[j, 0], coef[j, 1], coef[j, 2] = rt[i], rcx[i], rcy[i]
                    j += rkeep[i]
                    i += 1
        count[f] = j - j0
    return j


def soft_silhouette(tri, image, height, width, radius, cull_backfaces, scale, npix, sigma):
    """(alpha (npix,), saved) of the soft silhouette of screen triangles ``tri`` (M, 3, 3) with
    camera indices ``image`` (``_search``, then the silhouette blend); ``saved`` is what
    ``soft_silhouette_backward`` needs."""
    tri = np.ascontiguousarray(tri)
    image = np.ascontiguousarray(image, dtype=np.int64)
    height, width, npix, radius, scale = int(height), int(width), int(npix), float(radius), float(scale)
    c0, r0, nx, ny = _face_ranges(tri, radius, height, width, bool(cull_backfaces))
    ends = np.cumsum(nx * ny)
    inv = _reciprocals(tri)
    count = np.empty(len(tri), np.int64)
    parts = []
    for start, stop, capacity in face_chunks(ends):
        # buffers reused from call to call once free (``numba_pairs.scratch``); the pages of their
        # unused tails are never touched
        buffers = (scratch("pixel", capacity, np.int64), scratch("dist", capacity, tri.dtype),
                   scratch("edge", capacity, np.int8), scratch("coef", capacity, np.float64, (3,)))
        n = _search(tri, inv, image, start, stop, c0, r0, nx, ny, height, width, radius, scale, count, *buffers)
        parts.append(tuple(b[:n] for b in buffers))
    if len(parts) == 1:                                  # trimmed views: the buffers hold < 2x the pairs
        pixel, dist, edge, coef = parts[0] if 2 * len(parts[0][0]) >= ends[-1] else (a.copy() for a in parts[0])
    elif parts:
        pixel, dist, edge, coef = (np.concatenate([p[i] for p in parts]) for i in range(4))
    else:
        pixel, dist, edge, coef = np.zeros(0, np.int64), np.zeros(0, tri.dtype), np.zeros(0, np.int8), np.zeros((0, 3))
    lin, excess = np.zeros(npix), np.zeros(npix)        # -log(1 - alpha) = lin + log1p(excess)
    alpha = np.empty(npix)
    P = len(pixel)
    sg = scratch("sigmoid", P, np.float64)              # kept for the backward
    inplace = dist.dtype == np.float64                   # x over the distances (no longer needed)
    _blend(dist, pixel, float(sigma), lin, excess, alpha, scratch("exp", P, np.float64),
           dist if inplace else scratch("x", P, np.float64), sg, inplace)
    alpha = alpha.astype(tri.dtype, copy=False)
    return alpha, (alpha, pixel, count, edge, coef, sg)


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
def _silhouette_backward(total, gpix, pixel, count, edge, coef, sg):
    """Each face's run of pairs (the search's order; ``count`` of them) is summed in registers and
    added to the face's row once; ``gpix``: ``_pixel_cotangents``."""
    cur, nxt, end = -1, 0, 0
    t0 = t1 = t3 = t4 = t6 = t7 = 0.0
    for j in range(len(pixel)):
        if j == end:
            _add_row(total, cur, t0, t1, 0.0, t3, t4, 0.0, t6, t7, 0.0)
            t0 = t1 = t3 = t4 = t6 = t7 = 0.0
            while count[nxt] == 0:
                nxt += 1
            cur = nxt
            end += count[nxt]
            nxt += 1
        gp = gpix[pixel[j]]
        s = sg[j]
        ax, ay = gp * (coef[j, 1] * s), gp * (coef[j, 2] * s)
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
    alpha, pixel, count, edge, coef, sg = saved
    total = np.zeros((len(tri), 9))
    g = np.asarray(g)
    gpix = np.empty(len(g))
    _pixel_cotangents(g[:, None] if g.ndim == 1 else g, alpha, gpix)
    _silhouette_backward(total, gpix, pixel, count, edge, coef, sg)
    return total.astype(tri.dtype, copy=False).reshape(-1, 3, 3)
