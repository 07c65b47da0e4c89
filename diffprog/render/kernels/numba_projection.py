"""Compiled (numba) projection of mesh corners to screen triangles, and its VJP.

Reference: the engine code of ``clipping.screen_triangles`` for faces fully in front of the near
plane (``world_to_view``, then ``_project_vertices``, then a gather of each face's corners): per
corner c of screen triangle k, vertex v = index[k, c] seen by camera n = image[k],

    view = R[n] @ verts[v] + T[n]      (verts[n, v] when each camera has its own vertices),
    x = cx[n] + fx[n] * view_x / d,  y = cy[n] - fy[n] * view_y / d,  depth = -view_z,

with d = -view_z (perspective) or 1 (orthographic). Each corner is projected where it is read
(a vertex shared by six faces six times: the same values, cheaper than a gather's backward);
the backward runs serially in corner order (deterministic).
"""
import numpy as np
from numba import njit


@njit(inline="always", error_model="numpy")
def _view(verts, R, T, b, v, n):
    p0, p1, p2 = verts[b, v, 0], verts[b, v, 1], verts[b, v, 2]
    return ((R[n, 0, 0] * p0 + R[n, 0, 1] * p1) + R[n, 0, 2] * p2 + T[n, 0],
            (R[n, 1, 0] * p0 + R[n, 1, 1] * p1) + R[n, 1, 2] * p2 + T[n, 1],
            (R[n, 2, 0] * p0 + R[n, 2, 1] * p1) + R[n, 2, 2] * p2 + T[n, 2], p0, p1, p2)


@njit(cache=True, error_model="numpy")
def _project(verts, R, T, focal, center, image, index, perspective, out):
    per_camera = verts.shape[0] > 1
    for k in range(index.shape[0]):
        n = image[k]
        for c in range(3):
            v = index[k, c]
            q0, q1, q2, p0, p1, p2 = _view(verts, R, T, n if per_camera else 0, v, n)
            depth = -q2
            x, y = q0, q1
            if perspective:
                x, y = x / depth, y / depth
            out[k, c, 0] = center[n, 0] + focal[n, 0] * x
            out[k, c, 1] = center[n, 1] - focal[n, 1] * y
            out[k, c, 2] = depth


@njit(cache=True, error_model="numpy")
def _project_backward(verts, R, T, focal, center, image, index, perspective, g, g_verts, g_R, g_T, g_focal,
                      g_center):
    per_camera = verts.shape[0] > 1
    for k in range(index.shape[0]):
        n = image[k]
        for c in range(3):
            v = index[k, c]
            b = n if per_camera else 0
            q0, q1, q2, p0, p1, p2 = _view(verts, R, T, b, v, n)
            gx, gy, gd = g[k, c, 0], g[k, c, 1], g[k, c, 2]
            if perspective:
                inv = 1.0 / -q2                              # one division (the forward's quotients to rounding)
                x, y = q0 * inv, q1 * inv
            else:
                inv, x, y = 1.0, q0, q1
            gxs, gys = gx * focal[n, 0], -gy * focal[n, 1]  # d loss / d (view_x / depth), (view_y / depth)
            g0, g1 = gxs * inv, gys * inv
            g2 = -gd + (gxs * x + gys * y) * inv if perspective else -gd     # through depth = -view_z
            g_focal[n, 0] += gx * x
            g_focal[n, 1] += -gy * y
            g_center[n, 0] += gx
            g_center[n, 1] += gy
            g_T[n, 0] += g0
            g_T[n, 1] += g1
            g_T[n, 2] += g2
            for i, gi in ((0, g0), (1, g1), (2, g2)):
                g_R[n, i, 0] += gi * p0
                g_R[n, i, 1] += gi * p1
                g_R[n, i, 2] += gi * p2
            g_verts[b, v, 0] += (R[n, 0, 0] * g0 + R[n, 1, 0] * g1) + R[n, 2, 0] * g2
            g_verts[b, v, 1] += (R[n, 0, 1] * g0 + R[n, 1, 1] * g1) + R[n, 2, 1] * g2
            g_verts[b, v, 2] += (R[n, 0, 2] * g0 + R[n, 1, 2] * g1) + R[n, 2, 2] * g2


def _inputs(verts, R, T, focal, center):
    f64 = [np.ascontiguousarray(a, dtype=np.float64) for a in (verts, R, T, focal, center)]
    if f64[0].ndim == 2:
        f64[0] = f64[0][None]
    return f64


def project_triangles(verts, R, T, focal, center, image, index, perspective):
    """(K, 3, 3) float64 screen triangles (x pixel, y pixel, depth) of the corners ``index`` (K, 3)
    (vertex indices) of ``verts`` (V, 3) or (N, V, 3) seen by cameras ``image`` (K,) (R (N, 3, 3),
    T (N, 3), focal (N, 2), principal point ``center`` (N, 2)); see the module doc."""
    out = np.empty((len(index), 3, 3))
    _project(*_inputs(verts, R, T, focal, center), np.ascontiguousarray(image, dtype=np.int64),
             np.ascontiguousarray(index, dtype=np.int64), bool(perspective), out)
    return out


def project_triangles_backward(verts, R, T, focal, center, image, index, perspective, g):
    """Gradients of ``project_triangles`` with respect to (verts, R, T, focal, center) (float64,
    their shapes) given the cotangent g (K, 3, 3)."""
    args = _inputs(verts, R, T, focal, center)
    grads = [np.zeros(a.shape) for a in args]
    _project_backward(*args, np.ascontiguousarray(image, dtype=np.int64), np.ascontiguousarray(index, dtype=np.int64),
                      bool(perspective),
                      np.ascontiguousarray(g, dtype=np.float64), *grads)
    grads[0] = grads[0].reshape(np.shape(verts))
    return tuple(grads)
