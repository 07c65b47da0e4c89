"""Reference (NumPy) kernels of the pair search and the per-pair geometry.

Plain arrays in, plain arrays out; the compiled kernels in ``numba_pairs`` take the same arguments
and return the same outputs. Conventions (``diffprog.render.pairs`` documents them for users):

- screen triangles ``tri`` (M, 3, 3): x, y in pixels (pixel centres at +0.5), depth;
- a pair is (flat pixel index ``image * H * W + row * W + col``, triangle index); pairs come out
  ordered by triangle, then row, then column;
- ``dist``: signed squared distance in NDC units (``scale`` NDC units per pixel), positive inside;
- ``bary``: clamped, renormalized, perspective-corrected barycentrics; ``depth``: their depth.

Candidates come from each face's bounding box grown by the radius, enumerated chunk by chunk with
a repeat/cumsum trick, so cost and memory grow with the number of pairs, not pixels x faces.
"""
import numpy as np

AREA_EPS = 1e-10      # |twice the screen area| in pixels^2 below which a face is degenerate (skipped)
CHUNK = 1 << 17       # candidate pairs generated at once (bounds transient memory)
PAIR_CHUNK = 1 << 16  # pairs processed at once in the backward pass

_NEXT = [1, 2, 0]
_PREV = [2, 0, 1]


def usable_faces(tri, cull_backfaces):
    """(M,) mask of screen triangles that can cover pixels: finite, non-degenerate, front-facing
    when culling (front: counter-clockwise with y up, i.e. negative signed area in pixel axes)."""
    xy = tri[..., :2]
    d1, d2 = xy[:, 1] - xy[:, 0], xy[:, 2] - xy[:, 0]
    area2 = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    ok = np.isfinite(tri).all(axis=(1, 2)) & (np.abs(area2) > AREA_EPS)
    if cull_backfaces:
        ok &= area2 < 0
    return ok


def face_pixel_ranges(xy, radius, height, width):
    """Per face the first pixel column and row whose centres lie in its bounding box grown by
    ``radius`` pixels, and the numbers of columns and rows (0 for faces off screen)."""
    lo = xy.min(axis=1) - radius
    hi = xy.max(axis=1) + radius
    with np.errstate(invalid="ignore"):
        c0 = np.clip(np.ceil(lo[:, 0] - 0.5), 0, width)
        c1 = np.clip(np.floor(hi[:, 0] - 0.5), -1, width - 1)
        r0 = np.clip(np.ceil(lo[:, 1] - 0.5), 0, height)
        r1 = np.clip(np.floor(hi[:, 1] - 0.5), -1, height - 1)
    nx = np.maximum(c1 - c0 + 1, 0)
    ny = np.maximum(r1 - r0 + 1, 0)
    bad = ~np.isfinite(lo).all(axis=1) | ~np.isfinite(hi).all(axis=1)
    nx[bad] = 0
    return c0.astype(np.int64), r0.astype(np.int64), nx.astype(np.int64), ny.astype(np.int64)


def candidate_pairs(xy, radius, height, width, face_mask):
    """Yield (face, row, col) int arrays of the pixel-face pairs inside the grown bounding boxes,
    in chunks of about ``CHUNK`` pairs (the caller filters them)."""
    c0, r0, nx, ny = face_pixel_ranges(xy, radius, height, width)
    count = np.where(face_mask, nx * ny, 0)
    faces = np.flatnonzero(count)
    if faces.size == 0:
        return
    count = count[faces]
    ends = np.cumsum(count)
    start = 0
    while start < faces.size:
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + CHUNK, side="right")), start + 1)
        fc, n = faces[start:stop], count[start:stop]
        total = int(n.sum())
        face = np.repeat(fc, n)
        first = np.cumsum(n) - n
        local = np.arange(total, dtype=np.int64) - np.repeat(first, n)
        width_f = nx[face]
        yield face, r0[face] + local // width_f, c0[face] + local % width_f
        start = stop


def pair_terms(X, Y, px, py):
    """Edge functions and edge distances of points (px, py) (P,) against triangles X, Y (3, P).

    Returns a dict: ``rX, rY`` (3, P) corners relative to the point; ``E`` (3, P) with E_i twice
    the signed area of the sub-triangle opposite corner i; ``area`` (P,) = E.sum(0);
    ``inside`` (P,) (points on an edge count as inside); ``d2`` (P,) squared distance to the
    closest edge ``edge`` (P,) (from corner k to corner k + 1; the first on ties), its parameter
    ``t`` and the offset ``dx, dy`` from the closest point to the point."""
    rX, rY = X - px, Y - py
    E = rX[_NEXT] * rY[_PREV] - rY[_NEXT] * rX[_PREV]
    area = E.sum(axis=0)
    inside = np.all(E * area >= 0, axis=0)
    eX, eY = X[_NEXT] - X, Y[_NEXT] - Y
    ee = eX * eX + eY * eY
    t = -(rX * eX + rY * eY) / np.where(ee > 0, ee, 1.0)
    np.clip(t, 0.0, 1.0, out=t)
    dX, dY = -rX - t * eX, -rY - t * eY
    d2all = dX * dX + dY * dY
    edge = np.argmin(d2all, axis=0)
    cols = np.arange(len(px))
    return dict(rX=rX, rY=rY, E=E, area=area, inside=inside, d2=d2all[edge, cols], edge=edge,
                t=t[edge, cols], dx=dX[edge, cols], dy=dY[edge, cols])


def _subset(terms, keep):
    return {k: (v[:, keep] if v.ndim == 2 else v[keep]) for k, v in terms.items()}


def _interpolation(terms, Z, perspective):
    """Clamped, renormalized and perspective-corrected barycentrics (3, P) and depth (P,)."""
    w = terms["E"] / terms["area"]
    wc = np.maximum(w, 0.0)
    S = wc.sum(axis=0)
    wn = wc / S
    if perspective:
        u = wn / Z
        U = u.sum(axis=0)
        return dict(w=w, S=S, wn=wn, u=u, U=U), u / U, 1.0 / U
    return dict(w=w, S=S, wn=wn), wn, (wn * Z).sum(axis=0)


def _geometry(terms, Z, scale, perspective):
    """(dist (P,), bary (P, 3), depth (P,)) of pairs from their ``pair_terms``."""
    sign = np.where(terms["inside"], 1.0, -1.0)
    dist = sign * terms["d2"] * scale ** 2
    _, bary, depth = _interpolation(terms, Z, perspective)
    return dist.astype(Z.dtype, copy=False), np.ascontiguousarray(bary.T), depth


def _corners(tri, face):
    t = tri[face]
    return tuple(np.ascontiguousarray(t[:, :, c].T) for c in range(3))


def _pixel_centres(pixel, height, width, dtype):
    local = pixel % (height * width)
    return (local % width + 0.5).astype(dtype), (local // width + 0.5).astype(dtype)


def find_pairs(tri, image, height, width, radius, cull_backfaces, scale, perspective, inside_only):
    """All (pixel, face) pairs whose pixel centre is inside a usable screen triangle of ``tri``
    (M, 3, 3) or, unless ``inside_only``, within ``radius`` pixels of it; ``image`` (M,) the
    triangles' camera indices. Returns (pixel, face) int64 and (dist, bary, depth) arrays."""
    xy = np.ascontiguousarray(tri[..., :2])
    Xf, Yf, Zf = (np.ascontiguousarray(tri[..., c].T) for c in range(3))          # (3, M)
    r2 = radius * radius
    parts = []
    for face, row, col in candidate_pairs(xy, 0.0 if inside_only else radius, height, width,
                                          usable_faces(tri, cull_backfaces)):
        px, py = (col + 0.5).astype(tri.dtype), (row + 0.5).astype(tri.dtype)
        terms = pair_terms(Xf[:, face], Yf[:, face], px, py)
        ok = terms["inside"] if inside_only else terms["inside"] | (terms["d2"] <= r2)
        terms = _subset(terms, ok)
        face = face[ok]
        dist, bary, depth = _geometry(terms, Zf[:, face], scale, perspective)
        parts.append((image[face] * (height * width) + row[ok] * width + col[ok], face, dist, bary, depth))
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, tri.dtype), np.zeros((0, 3), tri.dtype), np.zeros(0, tri.dtype)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(5))


def pair_geometry(tri, pixel, face, height, width, scale, perspective):
    """(dist (P,), bary (P, 3), depth (P,)) of given pairs of ``tri`` (M, 3, 3)."""
    px, py = _pixel_centres(pixel, height, width, tri.dtype)
    X, Y, Z = _corners(tri, face)
    return _geometry(pair_terms(X, Y, px, py), Z, scale, perspective)


def _chunk_backward(terms, Z, scale, perspective, g_dist, g_bary, g_depth):
    """(3 corners, 3 components, P) gradient of one chunk of pairs."""
    P = len(g_dist)
    grad = np.zeros((3, 3, P), dtype=Z.dtype)
    if g_bary is not None:
        mid, _, _ = _interpolation(terms, Z, perspective)
        w, wn = mid["w"], mid["wn"]
        if perspective:
            u, U = mid["u"], mid["U"]
            gU = -(g_depth + (g_bary * u).sum(axis=0)) / (U * U)
            g_u = g_bary / U + gU
            g_wn = g_u / Z
            grad[:, 2] = -g_u * u / Z
        else:
            g_wn = g_bary + g_depth * Z
            grad[:, 2] = g_depth * wn
        g_wc = (g_wn - (g_wn * wn).sum(axis=0)) / mid["S"]
        g_w = g_wc * (w > 0)
        g_E = (g_w - (g_w * w).sum(axis=0)) / terms["area"]
        # E_i = r_{i+1} x r_{i+2}: dE_i/dv_{i+1} = (r_{i+2}.y, -r_{i+2}.x), dE_i/dv_{i+2} = (-r_{i+1}.y, r_{i+1}.x)
        rX, rY = terms["rX"], terms["rY"]
        grad[:, 0] = g_E[_PREV] * rY[_NEXT] - g_E[_NEXT] * rY[_PREV]
        grad[:, 1] = g_E[_NEXT] * rX[_PREV] - g_E[_PREV] * rX[_NEXT]
    # squared distance to the closest edge k: |p - a - t (b - a)|^2 with a = v_k, b = v_{k+1}
    g_d2 = g_dist * np.where(terms["inside"], 1.0, -1.0) * scale ** 2
    t, k = terms["t"], terms["edge"]
    corner = np.arange(3)[:, None]
    share = np.where(k == corner, 1.0 - t, 0.0) + np.where((k + 1) % 3 == corner, t, 0.0)     # (3, P)
    grad[:, 0] += share * (-2.0 * g_d2 * terms["dx"])
    grad[:, 1] += share * (-2.0 * g_d2 * terms["dy"])
    return grad


def pair_geometry_backward(tri, pixel, face, height, width, scale, perspective, g_dist, g_bary, g_depth):
    """(M, 3, 3) gradient with respect to ``tri`` of ``pair_geometry``'s outputs given their
    cotangents (None: that output is unused); the per-pair terms are recomputed chunk by chunk
    (memory stays small)."""
    n = len(tri)
    out = np.zeros(n * 9, dtype=tri.dtype)
    use_bary = g_bary is not None or g_depth is not None
    if use_bary:
        g_bary = np.zeros((len(face), 3), tri.dtype) if g_bary is None else g_bary
        g_depth = np.zeros(len(face), tri.dtype) if g_depth is None else g_depth
    if g_dist is None:
        g_dist = np.zeros(len(face), tri.dtype)
    for a in range(0, len(face), PAIR_CHUNK):
        b = a + PAIR_CHUNK
        f = face[a:b]
        px, py = _pixel_centres(pixel[a:b], height, width, tri.dtype)
        X, Y, Z = _corners(tri, f)
        grad = _chunk_backward(pair_terms(X, Y, px, py), Z, scale, perspective, g_dist[a:b],
                               g_bary[a:b].T if use_bary else None,
                               g_depth[a:b] if use_bary else None)
        index = (f * 9) + np.arange(9)[:, None]                  # (9, P): corner * 3 + component
        out += np.bincount(index.ravel(), weights=grad.reshape(9, -1).ravel(), minlength=n * 9)
    return out.reshape(n, 3, 3)


def nearest_pairs(pixel, face, depth):
    """Indices of the nearest pair of each pixel (smallest depth; ties: lowest face index),
    in increasing pixel order: the z-buffer."""
    if len(pixel) == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((face, depth, pixel))
    ps = pixel[order]
    return order[np.r_[True, ps[1:] != ps[:-1]]]
