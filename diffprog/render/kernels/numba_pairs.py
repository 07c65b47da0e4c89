"""Compiled (numba) kernels of the pair search and the per-pair geometry.

Same functions, arguments, outputs and arithmetic as ``numpy_pairs`` (the reference), one pair at
a time. Work runs in float64 and outputs take the triangles' dtype. Scatter-adds run serially in
pair order, so results are deterministic.
"""
import math

import numpy as np
from numba import njit

from .numpy_pairs import AREA_EPS, PAIR_CHUNK


@njit(cache=True)
def _terms(X0, X1, X2, Y0, Y1, Y2, px, py):
    """Per pair: edge functions E, area, inside, and the closest edge (k, t, d2, dx, dy)."""
    rX0, rX1, rX2 = X0 - px, X1 - px, X2 - px
    rY0, rY1, rY2 = Y0 - py, Y1 - py, Y2 - py
    E0 = rX1 * rY2 - rY1 * rX2
    E1 = rX2 * rY0 - rY2 * rX0
    E2 = rX0 * rY1 - rY0 * rX1
    area = E0 + E1 + E2
    inside = E0 * area >= 0 and E1 * area >= 0 and E2 * area >= 0
    k = 0
    tk = dxk = dyk = d2k = 0.0
    for i in range(3):
        if i == 0:
            ax, ay, rx, ry, bx, by = X0, Y0, rX0, rY0, X1, Y1
        elif i == 1:
            ax, ay, rx, ry, bx, by = X1, Y1, rX1, rY1, X2, Y2
        else:
            ax, ay, rx, ry, bx, by = X2, Y2, rX2, rY2, X0, Y0
        eX, eY = bx - ax, by - ay
        ee = eX * eX + eY * eY
        t = -(rx * eX + ry * eY) / (ee if ee > 0 else 1.0)
        t = min(max(t, 0.0), 1.0)
        dX, dY = -rx - t * eX, -ry - t * eY
        d2 = dX * dX + dY * dY
        if i == 0 or d2 < d2k:
            k, tk, dxk, dyk, d2k = i, t, dX, dY, d2
    return rX0, rX1, rX2, rY0, rY1, rY2, E0, E1, E2, area, inside, k, tk, d2k, dxk, dyk


@njit(cache=True)
def _clamp0(w):
    return w if (w > 0.0 or w != w) else 0.0          # np.maximum(w, 0) (NaN propagates)


@njit(cache=True)
def _interp(E0, E1, E2, area, Z0, Z1, Z2, perspective):
    """(w0..2, S, wn0..2, u0..2, U, b0..2, depth) as ``numpy_pairs._interpolation``."""
    w0, w1, w2 = E0 / area, E1 / area, E2 / area
    c0, c1, c2 = _clamp0(w0), _clamp0(w1), _clamp0(w2)
    S = c0 + c1 + c2
    n0, n1, n2 = c0 / S, c1 / S, c2 / S
    if perspective:
        u0, u1, u2 = n0 / Z0, n1 / Z1, n2 / Z2
        U = u0 + u1 + u2
        return w0, w1, w2, S, n0, n1, n2, u0, u1, u2, U, u0 / U, u1 / U, u2 / U, 1.0 / U
    return w0, w1, w2, S, n0, n1, n2, 0.0, 0.0, 0.0, 0.0, n0, n1, n2, n0 * Z0 + n1 * Z1 + n2 * Z2


@njit(cache=True)
def _corner_values(tri, f):
    return (np.float64(tri[f, 0, 0]), np.float64(tri[f, 1, 0]), np.float64(tri[f, 2, 0]),
            np.float64(tri[f, 0, 1]), np.float64(tri[f, 1, 1]), np.float64(tri[f, 2, 1]),
            np.float64(tri[f, 0, 2]), np.float64(tri[f, 1, 2]), np.float64(tri[f, 2, 2]))


@njit(cache=True)
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


CHUNK = 1 << 18        # candidate pairs searched per kernel call (bounds the output buffers)
REJECT_MARGIN = 1e-6   # relative slack of the quick rejection (never drops a pair the exact test keeps)


@njit(cache=True)
def _search_chunk(tri, image, f0, f1, c0, r0, nx, ny, capacity, height, width, radius, scale, perspective,
                  inside_only, dtype_like):
    """Pairs of faces [f0, f1) in one pass: the exact test of ``numpy_pairs`` (edge functions, then
    the distance to the closest edge), preceded by a quick rejection of candidates farther than the
    radius from one of the triangle's edge lines."""
    pixel = np.empty(capacity, np.int64)
    face = np.empty(capacity, np.int64)
    dist = np.empty(capacity, dtype_like.dtype)
    bary = np.empty((capacity, 3), dtype_like.dtype)
    depth = np.empty(capacity, dtype_like.dtype)
    r2 = radius * radius
    s2 = scale ** 2
    j = 0
    for f in range(f0, f1):
        if nx[f] == 0 or ny[f] == 0:
            continue
        X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
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
                if not inside:
                    if inside_only:
                        continue
                    if ((E0 * area < 0 and E0 * E0 > L0) or (E1 * area < 0 and E1 * E1 > L1)
                            or (E2 * area < 0 and E2 * E2 > L2)):
                        continue
                t = _terms(X0, X1, X2, Y0, Y1, Y2, px, py)
                if not (inside or t[13] <= r2):
                    continue
                ip = _interp(E0, E1, E2, area, Z0, Z1, Z2, perspective)
                pixel[j] = base + row * width + col
                face[j] = f
                dist[j] = (1.0 if inside else -1.0) * t[13] * s2
                bary[j, 0], bary[j, 1], bary[j, 2] = ip[11], ip[12], ip[13]
                depth[j] = ip[14]
                j += 1
    return pixel[:j], face[:j], dist[:j], bary[:j], depth[:j]


def find_pairs(tri, image, height, width, radius, cull_backfaces, scale, perspective, inside_only):
    """See ``numpy_pairs.find_pairs``."""
    tri = np.ascontiguousarray(tri)
    image = np.ascontiguousarray(image, dtype=np.int64)
    radius, scale = float(radius), float(scale)
    c0, r0, nx, ny = _face_ranges(tri, 0.0 if inside_only else radius, int(height), int(width), bool(cull_backfaces))
    ends = np.cumsum(nx * ny)
    parts = []
    start = 0
    while start < len(ends):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + CHUNK, side="right")), start + 1)
        parts.append(_search_chunk(tri, image, start, stop, c0, r0, nx, ny, int(ends[stop - 1] - base), int(height),
                                   int(width), radius, scale, bool(perspective), bool(inside_only), tri[:0, 0, 0]))
        start = stop
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, tri[:0, 0, 0].copy(), np.zeros((0, 3), tri.dtype), tri[:0, 0, 0].copy()
    if len(parts) == 1:
        return tuple(a.copy() for a in parts[0])         # trimmed views would keep the whole buffers alive
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(5))


@njit(cache=True)
def _geometry(tri, pixel, face, height, width, scale, perspective, dtype_like):
    P = len(face)
    dist = np.empty(P, dtype_like.dtype)
    bary = np.empty((P, 3), dtype_like.dtype)
    depth = np.empty(P, dtype_like.dtype)
    s2 = scale ** 2
    for j in range(P):
        X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, face[j])
        local = pixel[j] % (height * width)
        px, py = local % width + 0.5, local // width + 0.5
        t = _terms(X0, X1, X2, Y0, Y1, Y2, px, py)
        ip = _interp(t[6], t[7], t[8], t[9], Z0, Z1, Z2, perspective)
        dist[j] = (1.0 if t[10] else -1.0) * t[13] * s2
        bary[j, 0], bary[j, 1], bary[j, 2] = ip[11], ip[12], ip[13]
        depth[j] = ip[14]
    return dist, bary, depth


def pair_geometry(tri, pixel, face, height, width, scale, perspective):
    """See ``numpy_pairs.pair_geometry``."""
    tri = np.ascontiguousarray(tri)
    return _geometry(tri, np.ascontiguousarray(pixel), np.ascontiguousarray(face), int(height), int(width),
                     float(scale), bool(perspective), tri[:0, 0, 0])


@njit(cache=True)
def _pair_grad(tri, f, px, py, s2, perspective, use_bary, gd, gb0, gb1, gb2, gz, out, j):
    """Write the (9,) gradient (corner * 3 + component) of pair j into out[j]."""
    X0, X1, X2, Y0, Y1, Y2, Z0, Z1, Z2 = _corner_values(tri, f)
    t = _terms(X0, X1, X2, Y0, Y1, Y2, px, py)
    rX0, rX1, rX2, rY0, rY1, rY2, E0, E1, E2, area, inside, k, tk = t[:13]
    dxk, dyk = t[14], t[15]
    gx0 = gx1 = gx2 = gy0 = gy1 = gy2 = gz0 = gz1 = gz2 = 0.0
    if use_bary:
        ip = _interp(E0, E1, E2, area, Z0, Z1, Z2, perspective)
        w0, w1, w2, S, n0, n1, n2, u0, u1, u2, U = ip[:11]
        if perspective:
            gU = -(gz + ((gb0 * u0 + gb1 * u1) + gb2 * u2)) / (U * U)
            gu0, gu1, gu2 = gb0 / U + gU, gb1 / U + gU, gb2 / U + gU
            gn0, gn1, gn2 = gu0 / Z0, gu1 / Z1, gu2 / Z2
            gz0, gz1, gz2 = -gu0 * u0 / Z0, -gu1 * u1 / Z1, -gu2 * u2 / Z2
        else:
            gn0, gn1, gn2 = gb0 + gz * Z0, gb1 + gz * Z1, gb2 + gz * Z2
            gz0, gz1, gz2 = gz * n0, gz * n1, gz * n2
        dot = (gn0 * n0 + gn1 * n1) + gn2 * n2
        gc0, gc1, gc2 = (gn0 - dot) / S, (gn1 - dot) / S, (gn2 - dot) / S
        gw0 = gc0 * (1.0 if w0 > 0 else 0.0)
        gw1 = gc1 * (1.0 if w1 > 0 else 0.0)
        gw2 = gc2 * (1.0 if w2 > 0 else 0.0)
        dot = (gw0 * w0 + gw1 * w1) + gw2 * w2
        gE0, gE1, gE2 = (gw0 - dot) / area, (gw1 - dot) / area, (gw2 - dot) / area
        # E_i = r_{i+1} x r_{i+2}: corner c gets gE[c-1] * rY[c+1] - gE[c+1] * rY[c-1] in x
        gx0 = gE2 * rY1 - gE1 * rY2
        gx1 = gE0 * rY2 - gE2 * rY0
        gx2 = gE1 * rY0 - gE0 * rY1
        gy0 = gE1 * rX2 - gE2 * rX1
        gy1 = gE2 * rX0 - gE0 * rX2
        gy2 = gE0 * rX1 - gE1 * rX0
    g_d2 = gd * (1.0 if inside else -1.0) * s2
    ax = -2.0 * g_d2 * dxk
    ay = -2.0 * g_d2 * dyk
    sa, sb = 1.0 - tk, tk                                # shares of corners k and k + 1
    if k == 0:
        gx0 += sa * ax
        gy0 += sa * ay
        gx1 += sb * ax
        gy1 += sb * ay
        gx2 += 0.0 * ax
        gy2 += 0.0 * ay
    elif k == 1:
        gx1 += sa * ax
        gy1 += sa * ay
        gx2 += sb * ax
        gy2 += sb * ay
        gx0 += 0.0 * ax
        gy0 += 0.0 * ay
    else:
        gx2 += sa * ax
        gy2 += sa * ay
        gx0 += sb * ax
        gy0 += sb * ay
        gx1 += 0.0 * ax
        gy1 += 0.0 * ay
    out[j, 0], out[j, 1], out[j, 2] = gx0, gy0, gz0
    out[j, 3], out[j, 4], out[j, 5] = gx1, gy1, gz1
    out[j, 6], out[j, 7], out[j, 8] = gx2, gy2, gz2


@njit(cache=True)
def _geometry_backward(tri, pixel, face, height, width, scale, perspective, g_dist, g_bary, g_depth, use_bary,
                       dtype_like):
    m = tri.shape[0]
    P = len(face)
    total = np.zeros((m, 9), np.float64)
    s2 = scale ** 2
    buf = np.empty((min(P, PAIR_CHUNK), 9), np.float64)
    for a in range(0, P, PAIR_CHUNK):
        b = min(a + PAIR_CHUNK, P)
        for j in range(a, b):
            local = pixel[j] % (height * width)
            px, py = local % width + 0.5, local // width + 0.5
            gb0 = gb1 = gb2 = gz = 0.0
            if use_bary:
                gb0, gb1, gb2, gz = g_bary[j, 0], g_bary[j, 1], g_bary[j, 2], g_depth[j]
            _pair_grad(tri, face[j], px, py, s2, perspective, use_bary, np.float64(g_dist[j]), np.float64(gb0),
                       np.float64(gb1), np.float64(gb2), np.float64(gz), buf, j - a)
        for j in range(a, b):                            # serial scatter-add in pair order
            f = face[j]
            for c in range(9):
                total[f, c] += buf[j - a, c]
    return total.astype(dtype_like.dtype).reshape(m, 3, 3)


def pair_geometry_backward(tri, pixel, face, height, width, scale, perspective, g_dist, g_bary, g_depth):
    """See ``numpy_pairs.pair_geometry_backward``."""
    tri = np.ascontiguousarray(tri)
    use_bary = bool(np.any(g_bary) or np.any(g_depth))
    return _geometry_backward(tri, np.ascontiguousarray(pixel), np.ascontiguousarray(face), int(height), int(width),
                              float(scale), bool(perspective), np.ascontiguousarray(g_dist),
                              np.ascontiguousarray(g_bary), np.ascontiguousarray(g_depth), use_bary, tri[:0, 0, 0])


@njit(cache=True)
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
