"""Compiled (numba) kernels of the pair search and the per-pair geometry.

Same functions, arguments and outputs as ``numpy_pairs`` (the reference), one pair at a time, in
float64 (outputs take the triangles' dtype). The arithmetic is the reference's except that
divisions by per-face constants (squared edge lengths, corner depths) and by per-pair sums are
multiplications by reciprocals, so values agree to rounding, not bit for bit. Scatter-adds run
serially in pair order, so results are deterministic.
"""
import math
import sys

import numpy as np
from numba import njit

from .numpy_pairs import AREA_EPS


@njit(inline="always", error_model="numpy")
def _edge_offset(ax, ay, bx, by, rx, ry, ie):
    """Closest point of edge a -> b to the point p (r = a - p): its parameter t, the offset
    (dx, dy) from it to p and the squared distance."""
    eX, eY = bx - ax, by - ay
    t = -(rx * eX + ry * eY) * ie
    t = min(max(t, 0.0), 1.0)
    dX, dY = -rx - t * eX, -ry - t * eY
    return t, dX, dY, dX * dX + dY * dY


@njit(inline="always", error_model="numpy")
def _closest_edge(X0, X1, X2, Y0, Y1, Y2, rX0, rX1, rX2, rY0, rY1, rY2, ie0, ie1, ie2):
    """(k, t, d2, dx, dy) of the edge closest to the point (edge k from corner k to k + 1; the
    first on ties), written with selects rather than branches."""
    t0, dx0, dy0, q0 = _edge_offset(X0, Y0, X1, Y1, rX0, rY0, ie0)
    t1, dx1, dy1, q1 = _edge_offset(X1, Y1, X2, Y2, rX1, rY1, ie1)
    t2, dx2, dy2, q2 = _edge_offset(X2, Y2, X0, Y0, rX2, rY2, ie2)
    one = q1 < q0
    k = 1 if one else 0
    t = t1 if one else t0
    dx = dx1 if one else dx0
    dy = dy1 if one else dy0
    q = q1 if one else q0
    two = q2 < q
    k = 2 if two else k
    t = t2 if two else t
    dx = dx2 if two else dx
    dy = dy2 if two else dy
    q = q2 if two else q
    return k, t, q, dx, dy


@njit(inline="always", error_model="numpy")
def _edge_functions(X0, X1, X2, Y0, Y1, Y2, px, py):
    """Corners relative to the pixel centre (rX, rY), the three edge functions E and their sum (twice the
    signed area)."""
    rX0, rX1, rX2 = X0 - px, X1 - px, X2 - px
    rY0, rY1, rY2 = Y0 - py, Y1 - py, Y2 - py
    E0 = rX1 * rY2 - rY1 * rX2
    E1 = rX2 * rY0 - rY2 * rX0
    E2 = rX0 * rY1 - rY0 * rX1
    return rX0, rX1, rX2, rY0, rY1, rY2, E0, E1, E2, E0 + E1 + E2


@njit(inline="always", error_model="numpy")
def _terms(X0, X1, X2, Y0, Y1, Y2, px, py, ie0, ie1, ie2):
    """Per pair: edge functions E, area, inside, and the closest edge (k, t, d2, dx, dy); ie0..2 the
    face's reciprocal squared edge lengths (``_reciprocals``)."""
    rX0, rX1, rX2, rY0, rY1, rY2, E0, E1, E2, area = _edge_functions(X0, X1, X2, Y0, Y1, Y2, px, py)
    inside = (E0 * area >= 0) & (E1 * area >= 0) & (E2 * area >= 0)          # no branches
    k, tk, d2k, dxk, dyk = _closest_edge(X0, X1, X2, Y0, Y1, Y2, rX0, rX1, rX2, rY0, rY1, rY2, ie0, ie1, ie2)
    return rX0, rX1, rX2, rY0, rY1, rY2, E0, E1, E2, area, inside, k, tk, d2k, dxk, dyk


@njit(inline="always", error_model="numpy")
def _corner_values(tri, f):
    return (np.float64(tri[f, 0, 0]), np.float64(tri[f, 1, 0]), np.float64(tri[f, 2, 0]),
            np.float64(tri[f, 0, 1]), np.float64(tri[f, 1, 1]), np.float64(tri[f, 2, 1]),
            np.float64(tri[f, 0, 2]), np.float64(tri[f, 1, 2]), np.float64(tri[f, 2, 2]))


@njit(inline="always", error_model="numpy")
def _clamp0(w):
    return max(w, 0.0)                                   # np.maximum(w, 0) (NaN propagates); no branch


@njit(inline="always", error_model="numpy")
def _interp(E0, E1, E2, area, Z0, Z1, Z2, iZ0, iZ1, iZ2, perspective):
    """(sign, c0..2, S, u0..2, r, b0..2, depth): ``numpy_pairs._interpolation`` with one division.
    The reference clamps w = E / area at 0, divides by the clamps' sum, multiplies by 1 / Z and
    divides by that sum; every normalization but the last cancels, so with c = max(sign(area) E, 0)
    (the clamps times |area|) and u = c / Z: b = u / sum(u), depth = sum(c) / sum(u) (orthographic:
    b = c / sum(c), depth = b . Z). The same values to rounding; r is the one reciprocal."""
    sg = 1.0 if area > 0 else -1.0
    c0, c1, c2 = _clamp0(sg * E0), _clamp0(sg * E1), _clamp0(sg * E2)
    S = (c0 + c1) + c2
    if perspective:
        u0, u1, u2 = c0 * iZ0, c1 * iZ1, c2 * iZ2
        r = 1.0 / ((u0 + u1) + u2)
        return sg, c0, c1, c2, S, u0, u1, u2, r, u0 * r, u1 * r, u2 * r, S * r
    r = 1.0 / S
    n0, n1, n2 = c0 * r, c1 * r, c2 * r
    return sg, c0, c1, c2, S, 0.0, 0.0, 0.0, r, n0, n1, n2, (n0 * Z0 + n1 * Z1) + n2 * Z2


@njit(cache=True, error_model="numpy")
def _reciprocals(tri):
    """(M, 6): per face 1 / |edge k|^2 (edge k from corner k to k + 1; 1 for a zero-length edge)
    and 1 / depth of each corner."""
    m = tri.shape[0]
    out = np.empty((m, 6))
    for f in range(m):
        X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
        for k, (ax, ay, bx, by) in enumerate(((X0, Y0, X1, Y1), (X1, Y1, X2, Y2), (X2, Y2, X0, Y0))):
            ee = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
            out[f, k] = 1.0 / ee if ee > 0 else 1.0
        out[f, 3], out[f, 4], out[f, 5] = 1.0 / Z0, 1.0 / Z1, 1.0 / Z2
    return out


@njit(cache=True, error_model="numpy")
def _face_ranges(tri, radius, height, width, cull):
    """Per face: first column, first row, columns, rows of candidate pixels (0 if unusable)."""
    m = tri.shape[0]
    c0 = np.zeros(m, np.int64)
    r0 = np.zeros(m, np.int64)
    nx = np.zeros(m, np.int64)
    ny = np.zeros(m, np.int64)
    for f in range(m):
        X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
        finite = True
        for v in (X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2):
            if not math.isfinite(v):
                finite = False
        area2 = (X1 - X0) * (Y2 - Y0) - (Y1 - Y0) * (X2 - X0)
        if not finite or not abs(area2) > AREA_EPS or (cull and not area2 < 0):
            continue
        lox, hix = min(X0, X1, X2) - radius, max(X0, X1, X2) + radius
        loy, hiy = min(Y0, Y1, Y2) - radius, max(Y0, Y1, Y2) + radius
        a = int(min(max(np.ceil(lox - 0.5), 0.0), width))
        b = int(min(max(np.floor(hix - 0.5), -1.0), width - 1.0))
        c = int(min(max(np.ceil(loy - 0.5), 0.0), height))
        d = int(min(max(np.floor(hiy - 0.5), -1.0), height - 1.0))
        c0[f], r0[f] = a, c
        nx[f], ny[f] = max(b - a + 1, 0), max(d - c + 1, 0)
    return c0, r0, nx, ny


CHUNK = 1 << 24        # candidate pairs searched per kernel call (bounds the output buffers; the pages of
                       # their unused tails are never touched, so most renders take one call and no copy)


LANES = 4             # a row's candidates are tested in a vector loop over a multiple of this many columns


def _search_kernel(INTERPOLATE):
    """The compiled search with (``INTERPOLATE``) or without barycentrics and depths: a constant of
    the kernel (a closure value), so only the variant a render uses is compiled."""
    @njit(cache=True, error_model="numpy")
    def search_chunk(tri, inv, image, f0, f1, c0, r0, nx, ny, height, width, radius, scale, perspective, inside_only,
                     pixel, face, dist, bary, depth, edge, coef):
        """Pairs of faces [f0, f1) in one pass, written into the buffers (``pixel`` ... ``coef``, each
        with room for every candidate; ``bary`` and ``depth`` only when ``INTERPOLATE``); returns their
        number. The exact test of ``numpy_pairs`` (edge functions, then the distance to the closest
        edge) on every candidate without branching on its outcome: a row of a face's candidates is
        tested in a loop of its own (no stores but into small row arrays, so it runs in SIMD lanes; its
        length rounded up to ``LANES`` columns, the extra ones never read), then each candidate's values
        are written into the next free slot, which advances only when the candidate is a pair (inside
        and outside pixels interleave along a face's rows, so branches on them would be mispredicted)."""
        r2 = radius * radius
        s2 = scale ** 2
        widest = 0
        for f in range(f0, f1):
            widest = max(widest, nx[f])
        widest = (widest + LANES - 1) // LANES * LANES
        rq, rsign, rt, rdx, rdy = (np.empty(widest), np.empty(widest), np.empty(widest), np.empty(widest),
                                   np.empty(widest))
        rk = np.empty(widest, np.int64)
        rb0, rb1, rb2, rz = (np.empty(widest), np.empty(widest), np.empty(widest), np.empty(widest))
        j = 0
        for f in range(f0, f1):
            n = nx[f]
            if n == 0 or ny[f] == 0:
                continue
            X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
            ie0, ie1, ie2, iZ0, iZ1, iZ2 = inv[f, 0], inv[f, 1], inv[f, 2], inv[f, 3], inv[f, 4], inv[f, 5]
            first = c0[f]
            lanes = (n + LANES - 1) // LANES * LANES
            jZ0, jZ1, jZ2 = (iZ0, iZ1, iZ2) if perspective else (1.0, 1.0, 1.0)
            for row in range(r0[f], r0[f] + ny[f]):
                py = row + 0.5
                # the tests: no stores but into the row arrays, so the loop runs in SIMD lanes (``INTERPOLATE``
                # is a constant: numba drops its branch before LLVM sees the loop)
                for i in range(lanes):
                    t = _terms(X0, X1, X2, Y0, Y1, Y2, (first + i) + 0.5, py, ie0, ie1, ie2)
                    rq[i] = t[13]
                    rsign[i] = 1.0 if t[10] else -1.0
                    rk[i] = t[11]
                    rt[i] = t[12]
                    rdx[i] = t[14]
                    rdy[i] = t[15]
                    if INTERPOLATE:
                        # ``_interp`` without its branch: orthographic with 1 / Z = 1 gives the same b = c / sum(c)
                        sg = 1.0 if t[9] > 0 else -1.0
                        c0_, c1_, c2_ = _clamp0(sg * t[6]), _clamp0(sg * t[7]), _clamp0(sg * t[8])
                        u0, u1, u2 = c0_ * jZ0, c1_ * jZ1, c2_ * jZ2
                        r = 1.0 / ((u0 + u1) + u2)
                        b0, b1, b2 = u0 * r, u1 * r, u2 * r
                        rb0[i], rb1[i], rb2[i] = b0, b1, b2
                        rz[i] = ((c0_ + c1_) + c2_) * r if perspective else (b0 * Z0 + b1 * Z1) + b2 * Z2
                start = image[f] * (height * width) + row * width + first
                for i in range(n):                           # the pairs, compacted
                    sign = rsign[i]
                    q = rq[i]
                    keep = sign > 0 if inside_only else (sign > 0 or q <= r2)
                    pixel[j] = start + i
                    face[j] = f
                    dist[j] = sign * q * s2
                    if INTERPOLATE:
                        bary[j, 0], bary[j, 1], bary[j, 2] = rb0[i], rb1[i], rb2[i]
                        depth[j] = rz[i]
                    c = -2.0 * sign * s2                     # d dist / d closest point = c * offset
                    edge[j] = rk[i]
                    coef[j, 0], coef[j, 1], coef[j, 2] = rt[i], c * rdx[i], c * rdy[i]
                    j += np.int64(keep)
        return j

    return search_chunk


_SEARCH = (_search_kernel(False), _search_kernel(True))


SCRATCH_LIMIT = 1 << 28   # bytes of one search buffer kept for reuse between calls at most
_scratch = {}             # role -> the buffer of the last call


def scratch(role, rows, dtype, tail=()):
    """An uninitialized (rows, *tail) array for ``role``: a prefix of the buffer kept from an earlier
    call when nothing refers to that buffer any more (no result of that call is alive; its pages
    are already mapped, so filling it again takes no page faults), else a new buffer (kept in turn).
    The results of a call are views of its buffers, so a buffer is reused only once they are gone."""
    if rows == 0:
        return np.empty((0,) + tail, dtype)
    buf = _scratch.get(role)
    if (buf is not None and buf.dtype == dtype and buf.shape[1:] == tail and len(buf) >= rows
            and sys.getrefcount(buf) == 3):              # the dict, ``buf`` and the call's argument
        return buf[:rows]
    buf = np.empty((rows,) + tail, dtype)               # from NumPy: fewer page faults than numba's own
    if buf.nbytes <= SCRATCH_LIMIT:
        _scratch[role] = buf
    return buf


def release_scratch():
    """Drop the kept search buffers (their memory returns to the system once no result uses it)."""
    _scratch.clear()


def face_chunks(ends):
    """(first face, end face, candidates) of consecutive runs of faces with about ``CHUNK``
    candidates each (at least one face); ``ends``: the cumulative candidate counts per face."""
    start = 0
    while start < len(ends):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + CHUNK, side="right")), start + 1)
        yield start, stop, int(ends[stop - 1] - base)
        start = stop


def find_pairs(tri, image, height, width, radius, cull_backfaces, scale, perspective, inside_only):
    """See ``numpy_pairs.find_pairs``."""
    return search_pairs(tri, image, height, width, radius, cull_backfaces, scale, perspective, inside_only)[:5]


def search_pairs(tri, image, height, width, radius, cull_backfaces, scale, perspective, inside_only,
                 interpolate=True):
    """``find_pairs``'s outputs and what ``pair_distance_backward`` needs: (pixel, face, dist, bary,
    depth, (edge (P,) int8, coef (P, 3): t, d dist / d closest point)); ``interpolate=False``: no
    barycentrics and depths (None)."""
    tri = np.ascontiguousarray(tri)
    image = np.ascontiguousarray(image, dtype=np.int64)
    radius, scale = float(radius), float(scale)
    c0, r0, nx, ny = _face_ranges(tri, 0.0 if inside_only else radius, int(height), int(width), bool(cull_backfaces))
    ends = np.cumsum(nx * ny)
    inv = _reciprocals(tri)
    parts = []
    for start, stop, capacity in face_chunks(ends):
        # buffers from NumPy (whose large allocations are backed by huge pages: far fewer page faults
        # than numba's own), reused from call to call once free; the pages of the unused tail are
        # never touched
        room = capacity if interpolate else 0
        buffers = (scratch("pixel", capacity, np.int64), scratch("face", capacity, np.int64),
                   scratch("dist", capacity, tri.dtype), scratch("bary", room, tri.dtype, (3,)),
                   scratch("depth", room, tri.dtype), scratch("edge", capacity, np.int8),
                   scratch("coef", capacity, np.float64, (3,)))
        n = _SEARCH[bool(interpolate)](tri, inv, image, start, stop, c0, r0, nx, ny, int(height), int(width), radius,
                                       scale, bool(perspective), bool(inside_only), *buffers)
        parts.append(tuple(b[:n] for b in buffers))
    if not parts:
        empty = np.zeros(0, np.int64)
        return (empty, empty, tri[:0, 0, 0].copy(), np.zeros((0, 3), tri.dtype), tri[:0, 0, 0].copy(),
                (np.zeros(0, np.int8), np.zeros((0, 3))))
    if len(parts) == 1:                                  # trimmed views: the buffers hold < 2x the pairs
        out = parts[0] if 2 * len(parts[0][0]) >= ends[-1] else tuple(a.copy() for a in parts[0])
    else:
        out = tuple(np.concatenate([p[i] for p in parts]) for i in range(7))
    if not interpolate:
        out = out[:3] + (None, None) + out[5:]
    return out[:5] + (out[5:],)


@njit(inline="always", error_model="numpy")
def _pixel_centre(p, hw, width, inv_hw, inv_w):
    """Centre (x, y) of flat pixel p (= image * hw + row * width + col) without integer divisions
    (quotients from a float product, then corrected: exact for any index). Pixels of the first
    image (all of them with one camera) skip the image quotient: a shorter chain of dependent
    operations before the pair's geometry can start (a predictable branch)."""
    local = p
    if p >= hw:
        q = np.int64((p + 0.5) * inv_hw)
        local = p - q * hw
        if local < 0:
            local += hw
        elif local >= hw:
            local -= hw
    row = np.int64((local + 0.5) * inv_w)
    col = local - row * width
    if col < 0:
        col += width
        row -= 1
    elif col >= width:
        col -= width
        row += 1
    return col + 0.5, row + 0.5


@njit(cache=True, error_model="numpy")
def _geometry(tri, pixel, face, height, width, scale, perspective, dist, bary, depth):
    P = len(face)
    s2 = scale ** 2
    inv = _reciprocals(tri)
    hw = height * width
    inv_hw, inv_w = 1.0 / hw, 1.0 / width
    for j in range(P):
        f = face[j]
        X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
        px, py = _pixel_centre(pixel[j], hw, width, inv_hw, inv_w)
        t = _terms(X0, X1, X2, Y0, Y1, Y2, px, py, inv[f, 0], inv[f, 1], inv[f, 2])
        ip = _interp(t[6], t[7], t[8], t[9], Z0, Z1, Z2, inv[f, 3], inv[f, 4], inv[f, 5], perspective)
        dist[j] = (1.0 if t[10] else -1.0) * t[13] * s2
        bary[j, 0], bary[j, 1], bary[j, 2] = ip[9], ip[10], ip[11]
        depth[j] = ip[12]


def pair_geometry(tri, pixel, face, height, width, scale, perspective):
    """See ``numpy_pairs.pair_geometry``."""
    tri = np.ascontiguousarray(tri)
    P = len(face)
    out = np.empty(P, tri.dtype), np.empty((P, 3), tri.dtype), np.empty(P, tri.dtype)
    _geometry(tri, np.ascontiguousarray(pixel), np.ascontiguousarray(face), int(height), int(width), float(scale),
              bool(perspective), *out)
    return out


@njit(inline="always", error_model="numpy")
def _add_edge_grad(total, f, k, tk, ax, ay):
    """Scatter the gradient (ax, ay) with respect to the closest point of edge k (at parameter tk)
    into face f's corners k (share 1 - tk) and k + 1 (share tk)."""
    sa, sb = 1.0 - tk, tk
    a = 3 * k
    b = 3 * (k + 1) if k < 2 else 0
    c = 3 * (k + 2) if k < 1 else 3 * (k - 1)          # the third corner: 0 * gradient (NaN propagates)
    total[f, a] += sa * ax
    total[f, a + 1] += sa * ay
    total[f, b] += sb * ax
    total[f, b + 1] += sb * ay
    total[f, c] += 0.0 * ax
    total[f, c + 1] += 0.0 * ay


@njit(inline="always", error_model="numpy")
def _edge_shares(k, tk):
    """Shares of corners 0, 1, 2 in a gradient with respect to the closest point of edge k (at
    parameter tk): 1 - tk for corner k, tk for corner k + 1, 0 for the third (``_add_edge_grad``)."""
    sa, sb = 1.0 - tk, tk
    w0 = sa if k == 0 else (sb if k == 2 else 0.0)
    w1 = sa if k == 1 else (sb if k == 0 else 0.0)
    w2 = sa if k == 2 else (sb if k == 1 else 0.0)
    return w0, w1, w2


@njit(cache=True, error_model="numpy")
def _add_row(total, f, t0, t1, t2, t3, t4, t5, t6, t7, t8):
    """total[f] += (t0, ..., t8): a face's run of pairs, summed in registers (called once per run)."""
    if f >= 0:
        total[f, 0] += t0
        total[f, 1] += t1
        total[f, 2] += t2
        total[f, 3] += t3
        total[f, 4] += t4
        total[f, 5] += t5
        total[f, 6] += t6
        total[f, 7] += t7
        total[f, 8] += t8


@njit(inline="always", error_model="numpy")
def _edge_shares_select(k, tk):
    """``_edge_shares`` with one select per share and case (nested ones, or a switch on k, become
    branches)."""
    sa, sb = 1.0 - tk, tk
    kf = np.float64(k)                                   # (compared as a float: LLVM makes integer compares a switch)
    w0 = sa if kf == 0.0 else 0.0
    w0 = sb if kf == 2.0 else w0
    w1 = sa if kf == 1.0 else 0.0
    w1 = sb if kf == 0.0 else w1
    w2 = sa if kf == 2.0 else 0.0
    w2 = sb if kf == 1.0 else w2
    return w0, w1, w2


@njit(inline="always", error_model="numpy")
def _centre_select(p, base, width, inv_w):
    """``_pixel_centre`` of pixel p of the image whose first pixel is ``base`` (p - base in [0,
    height * width)) in float arithmetic with selects instead of branches (so that a loop of it runs
    in SIMD lanes): the same quotient from the same float product, corrected the same way (exact:
    the indices are integers below 2^53)."""
    local = np.float64(p - base)
    wf = np.float64(width)
    row = np.floor((local + 0.5) * inv_w)
    col = local - row * wf
    low, high = col < 0, col >= wf                      # (one select per value and condition: no branches)
    up, down, prev, nxt = col + wf, col - wf, row - 1.0, row + 1.0
    col = up if low else col
    col = down if high else col
    row = prev if low else row
    row = nxt if high else row
    return col + 0.5, row + 0.5


@njit(inline="always", error_model="numpy")
def _image_base(p, hw, inv_hw):
    """First pixel of the image of flat pixel p (``_pixel_centre``'s quotient)."""
    base = np.int64(np.floor((p + 0.5) * inv_hw)) * hw
    if p - base < 0:
        base -= hw
    elif p - base >= hw:
        base += hw
    return base


BACK_BLOCK = 256       # pairs of a face's run whose gradients are formed in one SIMD loop at most
BACK_LANES = 8         # that loop runs over a multiple of this many pairs (the vector width: no scalar remainder)


@njit(inline="always", error_model="numpy")
def _pair_gradient(p, gb0, gb1, gb2, gz, gd, k, tk, cx, cy, corners, consts, perspective, use_dist, use_bary,
                   use_saved):
    """One pair's gradient with respect to its face's corner coordinates (9 values) from its pixel p
    and cotangents (gb0..2, gz: barycentrics and depth; gd: distance) and for the distances
    (``use_saved``) what the search saved (edge k, parameter tk, gradient (cx, cy) of the distance
    with respect to the closest point); no branches but on the (loop-invariant) flags. ``corners``: the
    face's (X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2, ie0, ie1, ie2, iZ0, iZ1, iZ2) (``_reciprocals``) and
    the first pixel of the image of p; ``consts``: (s2, width, 1 / width). (Tuples: a call with more
    than 30 arguments is compiled to one with *args, which numba does not inline.)"""
    X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2, ie0, ie1, ie2, iZ0, iZ1, iZ2, base = corners
    s2, width, inv_w = consts
    v0 = v1 = v2 = v3 = v4 = v5 = v6 = v7 = v8 = 0.0
    if use_bary or not use_saved:
        px, py = _centre_select(p, base, width, inv_w)
        rX0, rX1, rX2, rY0, rY1, rY2, E0, E1, E2, area = _edge_functions(X0, X1, X2, Y0, Y1, Y2, px, py)
    else:
        rX0 = rX1 = rX2 = rY0 = rY1 = rY2 = E0 = E1 = E2 = area = 0.0
    if use_bary:
        sg = 1.0 if area > 0 else -1.0
        c0, c1, c2 = _clamp0(sg * E0), _clamp0(sg * E1), _clamp0(sg * E2)
        if perspective:                                  # b = u r, depth = S r, r = 1 / sum(u), u = c / Z
            u0, u1, u2 = c0 * iZ0, c1 * iZ1, c2 * iZ2
            r = 1.0 / ((u0 + u1) + u2)
            b0, b1, b2, dz = u0 * r, u1 * r, u2 * r, ((c0 + c1) + c2) * r
            gu = r * (gz * -dz - ((gb0 * b0 + gb1 * b1) + gb2 * b2))
            gu0, gu1, gu2 = gu + gb0 * r, gu + gb1 * r, gu + gb2 * r
            gS = gz * r
            gc0, gc1, gc2 = gu0 * iZ0 + gS, gu1 * iZ1 + gS, gu2 * iZ2 + gS
            v2, v5, v8 = -gu0 * u0 * iZ0, -gu1 * u1 * iZ1, -gu2 * u2 * iZ2
        else:                                            # b = c r, r = 1 / sum(c), depth = b . Z
            r = 1.0 / ((c0 + c1) + c2)
            b0, b1, b2 = c0 * r, c1 * r, c2 * r
            gn0, gn1, gn2 = gb0 + gz * Z0, gb1 + gz * Z1, gb2 + gz * Z2
            dot = (gn0 * b0 + gn1 * b1) + gn2 * b2
            gc0, gc1, gc2 = (gn0 - dot) * r, (gn1 - dot) * r, (gn2 - dot) * r
            v2, v5, v8 = gz * b0, gz * b1, gz * b2
        gE0 = sg * gc0 * np.float64(c0 > 0)              # c = max(sign E, 0)
        gE1 = sg * gc1 * np.float64(c1 > 0)
        gE2 = sg * gc2 * np.float64(c2 > 0)
        # E_i = r_{i+1} x r_{i+2}: corner c gets gE[c-1] * rY[c+1] - gE[c+1] * rY[c-1] in x
        v0 = gE2 * rY1 - gE1 * rY2
        v1 = gE1 * rX2 - gE2 * rX1
        v3 = gE0 * rY2 - gE2 * rY0
        v4 = gE2 * rX0 - gE0 * rX2
        v6 = gE1 * rY0 - gE0 * rY1
        v7 = gE0 * rX1 - gE1 * rX0
    if use_dist:
        if use_saved:
            ax, ay = gd * cx, gd * cy
        else:
            inside = (E0 * area >= 0) & (E1 * area >= 0) & (E2 * area >= 0)
            k, tk, d2k, dxk, dyk = _closest_edge(X0, X1, X2, Y0, Y1, Y2, rX0, rX1, rX2, rY0, rY1, rY2, ie0, ie1, ie2)
            g_d2 = gd * (1.0 if inside else -1.0) * s2
            ax, ay = -2.0 * g_d2 * dxk, -2.0 * g_d2 * dyk
        w0, w1, w2 = _edge_shares_select(k, tk)
        v0 += w0 * ax
        v1 += w0 * ay
        v3 += w1 * ax
        v4 += w1 * ay
        v6 += w2 * ax
        v7 += w2 * ay
    return v0, v1, v2, v3, v4, v5, v6, v7, v8


GEOMETRY_BACKWARD_MODES = ("barycentrics and saved distances", "barycentrics", "saved distances",
                           "recomputed distances")


def _geometry_backward_kernel(MODE):
    """The compiled geometry backward of one mode (``GEOMETRY_BACKWARD_MODES``: which cotangents it
    takes), adding into ``total`` (M, 9). The mode is a constant of the kernel (a closure value:
    numba prunes the other modes' loops before compiling, and caches each mode apart), so a render
    compiles only the loops it runs."""
    BARY, DIST = MODE <= 1, MODE != 1                     # which cotangents the mode takes
    SAVED = MODE == 0 or MODE == 2                       # distances from what the search saved
    PIXELS = MODE != 2                                   # (pixel centres needed)

    @njit(cache=True, error_model="numpy")
    def geometry_backward(tri, pixel, face, height, width, scale, perspective, g_dist, g_bary, g_depth, edge, coef,
                          total):
        """Per pair the gradient with respect to its face's corners; the per-pair terms are recomputed
        from the corners, or for the distances (modes 0 and 2) taken from what ``search_pairs`` saved
        (``edge``, ``coef``). Pairs are taken in runs of one face and one image (the search's order;
        any order is correct, a face's pairs may form several runs): a run's gradients are formed in
        a loop with no stores but into a small (9, ``BACK_BLOCK``) array and no branches
        (``_pair_gradient``), so it runs in SIMD lanes, up to ``BACK_BLOCK`` pairs at a time, over a
        multiple of ``BACK_LANES`` pairs (the extra ones, of the next run, never read); then they are
        summed serially in pair order and added to the face's row once per run (deterministic). The
        loop is written out (through an inlined helper taking the arrays, every call increments and
        decrements their reference counts); ``perspective`` is loop-invariant (LLVM still
        vectorizes)."""
        P = len(face)
        s2 = scale ** 2
        inv = _reciprocals(tri)
        hw = height * width
        inv_hw, inv_w = 1.0 / hw, 1.0 / width
        consts = (s2, width, inv_w)
        g_bary, coef = g_bary.reshape(-1), coef.reshape(-1)  # (flat: loops over (P, 3) rows do not vectorize)
        one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
        out = np.empty((9, BACK_BLOCK))
        j = 0
        while j < P:
            f = face[j]
            e = j + 1
            if PIXELS:                                   # a run: one face, pixels of one image
                base = _image_base(pixel[j], hw, inv_hw)
                while e < P and face[e] == f and np.uint64(pixel[e] - base) < np.uint64(hw):
                    e += 1
            else:
                base = 0
                while e < P and face[e] == f:
                    e += 1
            X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
            corners = (X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2, inv[f, 0], inv[f, 1], inv[f, 2], inv[f, 3], inv[f, 4],
                       inv[f, 5], base)
            t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = t8 = 0.0
            for j0 in range(j, e, BACK_BLOCK):
                n = min(e - j0, BACK_BLOCK)
                lanes = min((n + BACK_LANES - 1) // BACK_LANES * BACK_LANES, P - j0)
                # the loop: pair index q unsigned (no negative-index wraparound), cotangents converted to float64
                # (the mode's constants choose what it reads: numba drops the other branches; as statements,
                # not conditional expressions, which it keeps and which then cost the distances-only loop 45%)
                for i in range(lanes):
                    q = np.uint64(j0 + i)
                    q3 = q * three
                    p, gb0, gb1, gb2, gz, gd, k, tk, cx, cy = 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0.0
                    if PIXELS:
                        p = pixel[q]
                    if BARY:
                        gb0, gb1 = np.float64(g_bary[q3]), np.float64(g_bary[q3 + one])
                        gb2 = np.float64(g_bary[q3 + two])
                        gz = np.float64(g_depth[q])
                    if DIST:
                        gd = np.float64(g_dist[q])
                    if SAVED:
                        k, tk, cx, cy = edge[q], coef[q3], coef[q3 + one], coef[q3 + two]
                    out[0, i], out[1, i], out[2, i], out[3, i], out[4, i], out[5, i], out[6, i], out[7, i], \
                        out[8, i] = _pair_gradient(p, gb0, gb1, gb2, gz, gd, k, tk, cx, cy, corners, consts,
                                                   perspective if BARY else True, DIST, BARY, SAVED)
                for i in range(n):                       # serially, in pair order
                    t0 += out[0, i]
                    t1 += out[1, i]
                    t2 += out[2, i]
                    t3 += out[3, i]
                    t4 += out[4, i]
                    t5 += out[5, i]
                    t6 += out[6, i]
                    t7 += out[7, i]
                    t8 += out[8, i]
            _add_row(total, f, t0, t1, t2, t3, t4, t5, t6, t7, t8)
            j = e

    return geometry_backward


_GEOMETRY_BACKWARD = tuple(_geometry_backward_kernel(mode) for mode in range(len(GEOMETRY_BACKWARD_MODES)))


def _geometry_backward(tri, pixel, face, height, width, scale, perspective, g_dist, g_bary, g_depth, use_dist,
                       use_bary, edge, coef, use_saved, dtype_like):
    """(M, 3, 3) gradient with respect to ``tri`` from the cotangents the flags name: the kernels of
    the modes they need (barycentrics with recomputed distances: two passes into one sum)."""
    if use_bary and use_dist:
        modes = (0,) if use_saved else (1, 3)
    elif use_bary or use_dist:
        modes = (1,) if use_bary else ((2,) if use_saved else (3,))
    else:
        modes = ()
    total = np.zeros((tri.shape[0], 9), np.float64)
    for mode in modes:
        _GEOMETRY_BACKWARD[mode](tri, pixel, face, height, width, scale, perspective, g_dist, g_bary, g_depth, edge,
                                 coef, total)
    return total.astype(dtype_like.dtype).reshape(tri.shape[0], 3, 3)


def pair_geometry_backward(tri, pixel, face, height, width, scale, perspective, g_dist, g_bary, g_depth,
                           saved=None):
    """See ``numpy_pairs.pair_geometry_backward``; ``saved``: what ``search_pairs`` saved for these
    pairs, used for the distances' part instead of recomputing their closest edges."""
    tri = np.ascontiguousarray(tri)
    use_bary = g_bary is not None or g_depth is not None
    if use_bary:
        g_bary = np.zeros((len(face), 3), tri.dtype) if g_bary is None else np.ascontiguousarray(g_bary)
        g_depth = np.zeros(len(face), tri.dtype) if g_depth is None else np.ascontiguousarray(g_depth)
    else:
        g_bary, g_depth = np.zeros((0, 3), tri.dtype), np.zeros(0, tri.dtype)
    use_dist = g_dist is not None
    g_dist = np.zeros(0, tri.dtype) if g_dist is None else np.ascontiguousarray(g_dist)
    use_saved = use_dist and saved is not None
    edge, coef = saved if use_saved else (np.zeros(0, np.int8), np.zeros((0, 3)))
    return _geometry_backward(tri, np.ascontiguousarray(pixel), np.ascontiguousarray(face), int(height), int(width),
                              float(scale), bool(perspective), g_dist, g_bary, g_depth, use_dist, use_bary, edge, coef,
                              use_saved, tri[:0, 0, 0])


def pair_distance_backward(tri, face, saved, g_dist):
    """(M, 3, 3) gradient with respect to ``tri`` of the pairs' ``dist`` given its cotangent, from
    what ``search_pairs`` saved (each pair's closest edge, its parameter and the gradient of dist
    with respect to the closest point): one short pass, no per-pair geometry recomputed."""
    return pair_geometry_backward(tri, face, face, 1, 1, 1.0, True, g_dist, None, None, saved)   # (pixels unread)


@njit(cache=True, error_model="numpy")
def _nearest(pixel, face, depth):
    npix = 0
    for p in pixel:
        npix = max(npix, p + 1)
    best = np.full(npix, -1, np.int64)
    for j in range(len(pixel)):
        p = pixel[j]
        b = best[p]
        if b < 0 or depth[j] < depth[b] or (depth[j] == depth[b] and face[j] < face[b]):
            best[p] = j
    n = 0
    for p in range(npix):
        if best[p] >= 0:
            n += 1
    out = np.empty(n, np.int64)
    n = 0
    for p in range(npix):
        if best[p] >= 0:
            out[n] = best[p]
            n += 1
    return out


def nearest_pairs(pixel, face, depth):
    """See ``numpy_pairs.nearest_pairs``."""
    return _nearest(np.ascontiguousarray(pixel), np.ascontiguousarray(face), np.ascontiguousarray(depth))
