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


@njit(inline="always", error_model="numpy")
def _flush(n, acc, g_R, g_T, g_focal, g_center):
    for i in range(3):
        for j in range(3):
            g_R[n, i, j] += acc[3 * i + j]
        g_T[n, i] += acc[9 + i]
    g_focal[n, 0] += acc[12]
    g_focal[n, 1] += acc[13]
    g_center[n, 0] += acc[14]
    g_center[n, 1] += acc[15]
    acc[:] = 0.0


@njit(cache=True, error_model="numpy")
def _project_backward(verts, R, T, focal, center, image, index, perspective, g, g_verts, g_R, g_T, g_focal,
                      g_center):
    """The camera gradients of a run of triangles of one camera (the clipping's order) are summed
    in ``acc`` and added to the camera's rows once."""
    per_camera = verts.shape[0] > 1
    acc = np.zeros(16)                                   # R (9), T (3), focal (2), centre (2)
    cur = -1
    for k in range(index.shape[0]):
        n = image[k]
        if n != cur:
            if cur >= 0:
                _flush(cur, acc, g_R, g_T, g_focal, g_center)
            cur = n
        for c in range(3):
            v = index[k, c]
            b = n if per_camera else 0
            q0, q1, q2, p0, p1, p2 = _view(verts, R, T, b, v, n)
            gx, gy, gd = g[k, c, 0], g[k, c, 1], g[k, c, 2]
            fx, fy = focal[n, 0], focal[n, 1]
            if perspective:
                inv = 1.0 / -q2                              # one division (the forward's quotients to rounding)
                x, y = q0 * inv, q1 * inv
                gxs, gys = gx * fx, -gy * fy                 # d loss / d (view_x / depth), (view_y / depth)
                g0, g1 = gxs * inv, gys * inv
                g2 = -gd + (gxs * x + gys * y) * inv         # through depth = -view_z in both quotients
            else:
                x, y = q0, q1
                g0, g1 = gx * fx, -gy * fy
                g2 = -gd
            acc[0] += g0 * p0
            acc[1] += g0 * p1
            acc[2] += g0 * p2
            acc[3] += g1 * p0
            acc[4] += g1 * p1
            acc[5] += g1 * p2
            acc[6] += g2 * p0
            acc[7] += g2 * p1
            acc[8] += g2 * p2
            acc[9] += g0
            acc[10] += g1
            acc[11] += g2
            acc[12] += gx * x
            acc[13] += -gy * y
            acc[14] += gx
            acc[15] += gy
            g_verts[b, v, 0] += (R[n, 0, 0] * g0 + R[n, 1, 0] * g1) + R[n, 2, 0] * g2
            g_verts[b, v, 1] += (R[n, 0, 1] * g0 + R[n, 1, 1] * g1) + R[n, 2, 1] * g2
            g_verts[b, v, 2] += (R[n, 0, 2] * g0 + R[n, 1, 2] * g1) + R[n, 2, 2] * g2
    if cur >= 0:
        _flush(cur, acc, g_R, g_T, g_focal, g_center)


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
