"""Compiled (numba) area-weighted unit vertex normals, and their VJP.

Reference: the engine code of ``mesh.vertex_normals``: per face n = (v1 - v0) x (v2 - v0), summed
into its three vertices (corner 0 of every face, then corner 1, then corner 2, in face order: the
order of the reference's index-add), then each sum divided by its length (0 where the squared
length is at most ``NORMAL_EPS``). The backward runs serially in face order (deterministic).
"""
import math

import numpy as np
from numba import njit

NORMAL_EPS = 1e-20       # as ``mesh._normalize``


@njit(inline="always", error_model="numpy")
def _face_normal(verts, faces, f):
    i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
    a0, a1, a2 = verts[i1, 0] - verts[i0, 0], verts[i1, 1] - verts[i0, 1], verts[i1, 2] - verts[i0, 2]
    b0, b1, b2 = verts[i2, 0] - verts[i0, 0], verts[i2, 1] - verts[i0, 1], verts[i2, 2] - verts[i0, 2]
    return a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0, a0, a1, a2, b0, b1, b2, i0, i1, i2


@njit(cache=True, error_model="numpy")
def _vertex_normals(verts, faces, acc, out, scale):
    """Unit normals into ``out`` (V, 3), their unnormalized sums into ``acc`` (zeros on entry) and
    the normalizing factors into ``scale`` (V,)."""
    for k in range(3):
        for f in range(faces.shape[0]):
            n0, n1, n2 = _face_normal(verts, faces, f)[:3]
            i = faces[f, k]
            acc[i, 0] += n0
            acc[i, 1] += n1
            acc[i, 2] += n2
    for i in range(acc.shape[0]):
        x0, x1, x2 = acc[i, 0], acc[i, 1], acc[i, 2]
        sq = (x0 * x0 + x1 * x1) + x2 * x2
        s = 1.0 / math.sqrt(sq) if sq > NORMAL_EPS else 0.0
        scale[i] = s
        out[i, 0], out[i, 1], out[i, 2] = x0 * s, x1 * s, x2 * s


@njit(cache=True, error_model="numpy")
def _vertex_normals_backward(verts, faces, out, scale, g, g_acc, g_verts):
    for i in range(out.shape[0]):                        # through x / |x|: s (g - (g . u) u)
        s = scale[i]
        u0, u1, u2 = out[i, 0], out[i, 1], out[i, 2]
        dot = (g[i, 0] * u0 + g[i, 1] * u1) + g[i, 2] * u2
        g_acc[i, 0] = s * (g[i, 0] - dot * u0)
        g_acc[i, 1] = s * (g[i, 1] - dot * u1)
        g_acc[i, 2] = s * (g[i, 2] - dot * u2)
    for f in range(faces.shape[0]):
        _, _, _, a0, a1, a2, b0, b1, b2, i0, i1, i2 = _face_normal(verts, faces, f)
        h0 = (g_acc[i0, 0] + g_acc[i1, 0]) + g_acc[i2, 0]
        h1 = (g_acc[i0, 1] + g_acc[i1, 1]) + g_acc[i2, 1]
        h2 = (g_acc[i0, 2] + g_acc[i1, 2]) + g_acc[i2, 2]
        ga0, ga1, ga2 = b1 * h2 - b2 * h1, b2 * h0 - b0 * h2, b0 * h1 - b1 * h0      # n = a x b: b x h
        gb0, gb1, gb2 = h1 * a2 - h2 * a1, h2 * a0 - h0 * a2, h0 * a1 - h1 * a0      # h x a
        g_verts[i1, 0] += ga0
        g_verts[i1, 1] += ga1
        g_verts[i1, 2] += ga2
        g_verts[i2, 0] += gb0
        g_verts[i2, 1] += gb1
        g_verts[i2, 2] += gb2
        g_verts[i0, 0] -= ga0 + gb0
        g_verts[i0, 1] -= ga1 + gb1
        g_verts[i0, 2] -= ga2 + gb2


def vertex_normals(verts, faces):
    """((V, 3) float64 unit vertex normals of ``verts`` (V, 3) over ``faces`` (F, 3), saved) (see the
    module doc); ``saved``: what ``vertex_normals_backward`` needs."""
    verts = np.ascontiguousarray(verts, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    out, scale = np.empty(verts.shape), np.empty(len(verts))
    _vertex_normals(verts, faces, np.zeros(verts.shape), out, scale)
    return out, (verts, faces, out, scale)


def vertex_normals_backward(saved, g):
    """(V, 3) float64 gradient with respect to the vertices of ``vertex_normals`` given the cotangent g."""
    verts, faces, out, scale = saved
    g_verts = np.zeros(verts.shape)
    _vertex_normals_backward(verts, faces, out, scale, np.ascontiguousarray(g, dtype=np.float64),
                             np.empty(verts.shape), g_verts)
    return g_verts
