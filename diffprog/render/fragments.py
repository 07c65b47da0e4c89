"""Per pixel-face pair geometry, fused with its own VJP: signed distance, barycentrics, depth.

For a pair (pixel centre p, screen triangle with vertices v0, v1, v2 and depths z0, z1, z2):

- ``dist``: signed squared distance from p to the triangle in NDC units (the shorter image side
  spans [-1, 1]); positive inside, negative outside, 0 on the boundary;
- ``bary``: perspective-correct barycentric coordinates of p's closest point in the triangle
  (screen barycentrics clamped at 0 and renormalized, then corrected for depth); they sum to 1;
- ``depth``: depth of that point (perspective-correct interpolation, 1 / sum(b_i / z_i)).

``Fragments`` holds the pairs: ``pixel`` (flat index n * H * W + row * W + col), ``face``
(index of the screen triangle) and the three Tensors above.
"""
import numpy as np

import diffprog.autodiff as dp

AREA_EPS = 1e-10      # |twice the screen area| in pixels^2 below which a face is degenerate (skipped)


_NEXT = [1, 2, 0]
_PREV = [2, 0, 1]


def corners(tri, face):
    """(X, Y, Z): (3, P) arrays of the screen x, y and depth of each pair's triangle corners."""
    t = tri[face]                                        # (P, 3, 3)
    return (np.ascontiguousarray(t[:, :, 0].T), np.ascontiguousarray(t[:, :, 1].T),
            np.ascontiguousarray(t[:, :, 2].T))


def pair_terms(X, Y, px, py):
    """Edge functions and edge distances of points (px, py) (P,) against triangles X, Y (3, P).

    Returns a dict: ``rX, rY`` (3, P) corners relative to the point; ``E`` (3, P) with E_i twice
    the signed area of the sub-triangle opposite corner i; ``area`` (P,) = E.sum(0);
    ``inside`` (P,) (points on an edge count as inside); ``d2`` (P,) squared distance to the
    closest edge ``edge`` (P,) (from corner k to corner k + 1), its parameter ``t`` and the
    offset ``dx, dy`` from the closest point to the point."""
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


PAIR_CHUNK = 1 << 16     # pairs processed at once in the backward pass (bounds transient memory)


def subset(terms, keep):
    """The terms of the pairs selected by ``keep`` (bool or index array)."""
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


def geometry(terms, Z, scale, perspective):
    """Outputs (dist (P,), bary (P, 3), depth (P,)) of pairs from their ``pair_terms``."""
    sign = np.where(terms["inside"], 1.0, -1.0)
    dist = sign * terms["d2"] * scale ** 2
    _, bary, depth = _interpolation(terms, Z, perspective)
    return dist.astype(Z.dtype, copy=False), bary.T, depth


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


def pixel_centres(pixel, image_size, dtype):
    """(px, py) pixel-centre coordinates of flat pixel indices."""
    h, w = image_size
    local = pixel % (h * w)
    return (local % w + 0.5).astype(dtype), (local // w + 0.5).astype(dtype)


def pair_geometry(tri, pixel, face, image_size, scale, perspective=True, outputs=None):
    """The fused op: tri (M, 3, 3) Tensor of screen triangles (x pixel, y pixel, depth); pixel,
    face: (P,) pairs (flat pixel index, triangle index); scale: NDC units per pixel; outputs: the
    forward values if already computed (by ``find_pairs``).
    Returns (dist (P,), bary (P, 3), depth (P,)) Tensors, differentiable with respect to tri.
    The backward pass recomputes the per-pair terms chunk by chunk, so memory stays proportional
    to the number of pairs times a few numbers."""

    class _PairGeometry(dp.Function):
        @staticmethod
        def forward(ctx, tri_array):
            ctx.tri = tri_array
            if outputs is not None:
                return outputs
            px, py = pixel_centres(pixel, image_size, tri_array.dtype)
            X, Y, Z = corners(tri_array, face)
            dist, bary, depth = geometry(pair_terms(X, Y, px, py), Z, scale, perspective)
            return dist, np.ascontiguousarray(bary), depth

        @staticmethod
        def backward(ctx, g_dist, g_bary, g_depth):
            tri_array = ctx.tri
            n = len(tri_array)
            out = np.zeros(n * 9, dtype=tri_array.dtype)
            use_bary = bool(np.any(g_bary) or np.any(g_depth))
            for a in range(0, len(face), PAIR_CHUNK):
                b = a + PAIR_CHUNK
                f = face[a:b]
                px, py = pixel_centres(pixel[a:b], image_size, tri_array.dtype)
                X, Y, Z = corners(tri_array, f)
                terms = pair_terms(X, Y, px, py)
                grad = _chunk_backward(terms, Z, scale, perspective, g_dist[a:b],
                                       g_bary[a:b].T if use_bary else None, g_depth[a:b])
                index = (f * 9) + np.arange(9)[:, None]                  # (9, P): corner * 3 + component
                out += np.bincount(index.ravel(), weights=grad.reshape(9, -1).ravel(), minlength=n * 9)
            return out.reshape(n, 3, 3)

    return _PairGeometry.apply(tri)


class Fragments:
    """Pixel-face pairs and their geometry (ragged: any number of faces per pixel).

    pixel: (P,) flat pixel index n * H * W + row * W + col; face: (P,) screen-triangle index;
    parent: (P,) index of the mesh face the triangle comes from; dist, depth: (P,) Tensors;
    bary: (P, 3) Tensor of barycentrics over the *mesh face's* vertices; image_shape: (N, H, W).
    """

    def __init__(self, pixel, face, parent, dist, bary, depth, image_shape):
        self.pixel, self.face, self.parent = pixel, face, parent
        self.dist, self.bary, self.depth = dist, bary, depth
        self.image_shape = tuple(image_shape)

    def __len__(self):
        return len(self.parent)

    def pixel_to_face(self):
        """(N, H, W) int array: the nearest face per pixel (mesh face index), -1 where none."""
        n = int(np.prod(self.image_shape))
        out = np.full(n, -1, dtype=np.int64)
        if len(self.pixel):
            order = np.lexsort((-self.depth.data, self.pixel))       # per pixel, nearest last
            out[self.pixel[order]] = self.parent[order]
        return out.reshape(self.image_shape)

    def depth_map(self, background=np.inf):
        """(N, H, W) float array: the nearest depth per pixel, ``background`` where none."""
        n = int(np.prod(self.image_shape))
        out = np.full(n, np.inf)
        np.minimum.at(out, self.pixel, self.depth.data)
        out[np.isinf(out)] = background
        return out.reshape(self.image_shape)

    def __repr__(self):
        return f"Fragments({len(self)} pixel-face pairs, image_shape={self.image_shape})"
