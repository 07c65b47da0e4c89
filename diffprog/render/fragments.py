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


def edge_functions(p, v):
    """p: (P, 2) points; v: (P, 3, 2) triangles -> E: (P, 3) with E_i twice the signed area of
    the sub-triangle opposite vertex i (E.sum(1) is twice the triangle's signed area)."""
    r = v - p[:, None, :]
    rx, ry = r[..., 0], r[..., 1]
    e0 = rx[:, 1] * ry[:, 2] - ry[:, 1] * rx[:, 2]
    e1 = rx[:, 2] * ry[:, 0] - ry[:, 2] * rx[:, 0]
    e2 = rx[:, 0] * ry[:, 1] - ry[:, 0] * rx[:, 1]
    return np.stack([e0, e1, e2], axis=1), r


def edge_distance(p, v):
    """Squared distance from p (P, 2) to the boundary of triangles v (P, 3, 2).

    Returns (d2 (P,), edge k (P,) of the closest edge v_k -> v_{k+1}, its parameter t (P,),
    and the offset p - closest point (P, 2))."""
    best = None
    for k in range(3):
        a, b = v[:, k], v[:, (k + 1) % 3]
        e = b - a
        w = p - a
        ee = np.einsum("ij,ij->i", e, e)
        t = np.einsum("ij,ij->i", w, e) / np.where(ee > 0, ee, 1.0)
        t = np.clip(t, 0.0, 1.0)
        d = w - t[:, None] * e
        d2 = np.einsum("ij,ij->i", d, d)
        if best is None:
            best = [d2, np.zeros(len(d2), np.int64), t, d]
        else:
            closer = d2 < best[0]
            best[0] = np.where(closer, d2, best[0])
            best[1] = np.where(closer, k, best[1])
            best[2] = np.where(closer, t, best[2])
            best[3] = np.where(closer[:, None], d, best[3])
    return tuple(best)


def inside_mask(E):
    """All edge functions share the sign of their sum (points on an edge count as inside)."""
    area = E.sum(axis=1, keepdims=True)
    return np.all(E * area >= 0, axis=1)


def _forward(tri, px, py, face, scale, perspective):
    v = tri[face]                                        # (P, 3, 3)
    p = np.stack([px, py], axis=1)
    xy, z = v[..., :2], v[..., 2]
    E, r = edge_functions(p, xy)
    area = E.sum(axis=1)
    w = E / area[:, None]
    inside = np.all(w >= 0, axis=1)
    d2, edge, t, offset = edge_distance(p, xy)
    sign = np.where(inside, 1.0, -1.0).astype(tri.dtype)
    dist = sign * d2 * scale ** 2
    wc = np.maximum(w, 0.0)
    S = wc.sum(axis=1)
    wn = wc / S[:, None]
    if perspective:
        u = wn / z
        U = u.sum(axis=1)
        bary = u / U[:, None]
        depth = 1.0 / U
    else:
        u = U = None
        bary = wn
        depth = np.einsum("ij,ij->i", wn, z)
    res = dict(face=face, r=r, z=z, area=area, w=w, sign=sign, edge=edge, t=t, offset=offset, S=S, wn=wn,
               u=u, U=U, n=len(tri), scale=scale, perspective=perspective, dtype=tri.dtype)
    return (dist, bary, depth), res


def _backward(res, g):
    g_dist, g_bary, g_depth = g
    z, wn, w, area, r = res["z"], res["wn"], res["w"], res["area"], res["r"]
    P = len(w)
    if res["perspective"]:
        u, U = res["u"], res["U"]
        gU = -(g_depth + np.einsum("ij,ij->i", g_bary, u)) / U ** 2
        g_u = g_bary / U[:, None] + gU[:, None]
        g_wn = g_u / z
        g_z = -g_u * u / z
    else:
        g_wn = g_bary + g_depth[:, None] * z
        g_z = g_depth[:, None] * wn
    g_wc = (g_wn - np.einsum("ij,ij->i", g_wn, wn)[:, None]) / res["S"][:, None]
    g_w = g_wc * (w > 0)
    g_E = g_w / area[:, None]
    g_E += (-np.einsum("ij,ij->i", g_w, w) / area)[:, None]
    rx, ry = r[..., 0], r[..., 1]
    gxy = np.empty((P, 3, 2), dtype=res["dtype"])
    gxy[:, 0, 0] = -g_E[:, 1] * ry[:, 2] + g_E[:, 2] * ry[:, 1]
    gxy[:, 0, 1] = g_E[:, 1] * rx[:, 2] - g_E[:, 2] * rx[:, 1]
    gxy[:, 1, 0] = g_E[:, 0] * ry[:, 2] - g_E[:, 2] * ry[:, 0]
    gxy[:, 1, 1] = -g_E[:, 0] * rx[:, 2] + g_E[:, 2] * rx[:, 0]
    gxy[:, 2, 0] = -g_E[:, 0] * ry[:, 1] + g_E[:, 1] * ry[:, 0]
    gxy[:, 2, 1] = g_E[:, 0] * rx[:, 1] - g_E[:, 1] * rx[:, 0]
    # squared distance to the closest edge k: d2 = |p - a - t (b - a)|^2, a = v_k, b = v_{k+1}
    g_d2 = g_dist * res["sign"] * res["scale"] ** 2
    t, k = res["t"], res["edge"]
    common = -2.0 * g_d2[:, None] * res["offset"]
    rows = np.arange(P)
    gxy[rows, k] += common * (1.0 - t)[:, None]
    gxy[rows, (k + 1) % 3] += common * t[:, None]
    grad = np.concatenate([gxy, g_z[..., None]], axis=2)         # (P, 3, 3)
    index = (res["face"] * 9)[:, None] + np.arange(9)
    out = np.bincount(index.ravel(), weights=grad.reshape(-1), minlength=res["n"] * 9)
    return out.reshape(res["n"], 3, 3).astype(res["dtype"], copy=False)


def pair_geometry(tri, px, py, face, scale, perspective=True):
    """The fused op: tri (M, 3, 3) Tensor of screen triangles (x pixel, y pixel, depth); px, py:
    (P,) pixel centres; face: (P,) triangle indices; scale: NDC units per pixel.
    Returns (dist (P,), bary (P, 3), depth (P,)) Tensors, differentiable with respect to tri."""

    class _PairGeometry(dp.Function):
        @staticmethod
        def forward(ctx, tri_array):
            out, ctx.res = _forward(tri_array, px, py, face, scale, perspective)
            return out

        @staticmethod
        def backward(ctx, g_dist, g_bary, g_depth):
            return _backward(ctx.res, (g_dist, g_bary, g_depth))

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
        return len(self.pixel)

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
