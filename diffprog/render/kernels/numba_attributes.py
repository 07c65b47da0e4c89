"""Compiled (numba) kernels of attribute interpolation and bilinear texture sampling with their
VJPs: the same functions, arguments and arithmetic as ``numpy_attributes`` (the reference).
Scatter-adds run serially (deterministic): in the reference's order, except the interpolation's
VJP, which adds each pair's three corners in one pass (the same sums in another order)."""
import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _interpolate(values, bary, index, out):
    P, C = index.shape[0], values.shape[1]
    for j in range(P):
        i0, i1, i2 = index[j, 0], index[j, 1], index[j, 2]
        b0, b1, b2 = bary[j, 0], bary[j, 1], bary[j, 2]
        for c in range(C):
            out[j, c] = (b0 * values[i0, c] + b1 * values[i1, c]) + b2 * values[i2, c]


def interpolate(values, bary, index):
    """See ``numpy_attributes.interpolate``."""
    values, bary = np.ascontiguousarray(values), np.ascontiguousarray(bary)
    out = np.empty((len(index), values.shape[1]))       # from NumPy: fewer page faults than numba's own
    _interpolate(values, bary, np.ascontiguousarray(index), out)
    return out.astype(np.result_type(values, bary), copy=False)


@njit(inline="always", error_model="numpy")
def _scatter3(g_values, values, i0, i1, i2, b0, b1, b2, g0, g1, g2):
    """VJP of ``_interp3``: g_values[i_k] += b_k g; returns the barycentrics' (g . values[i_k])."""
    g_values[i0, 0] += b0 * g0
    g_values[i0, 1] += b0 * g1
    g_values[i0, 2] += b0 * g2
    g_values[i1, 0] += b1 * g0
    g_values[i1, 1] += b1 * g1
    g_values[i1, 2] += b1 * g2
    g_values[i2, 0] += b2 * g0
    g_values[i2, 1] += b2 * g1
    g_values[i2, 2] += b2 * g2
    return ((g0 * values[i0, 0] + g1 * values[i0, 1]) + g2 * values[i0, 2],
            (g0 * values[i1, 0] + g1 * values[i1, 1]) + g2 * values[i1, 2],
            (g0 * values[i2, 0] + g1 * values[i2, 1]) + g2 * values[i2, 2])


@njit(cache=True, error_model="numpy")
def _interpolate_backward(values, bary, index, g, g_bary):
    """One pass over the pairs: each pair's corners scatter into g_values and its barycentrics'
    cotangents are the dot products of g with the corners' values (three channels written out)."""
    P, C = index.shape[0], values.shape[1]
    g_values = np.zeros(values.shape)
    if C == 3:
        for j in range(P):
            g_bary[j, 0], g_bary[j, 1], g_bary[j, 2] = _scatter3(
                g_values, values, index[j, 0], index[j, 1], index[j, 2], bary[j, 0], bary[j, 1], bary[j, 2],
                g[j, 0], g[j, 1], g[j, 2])
        return g_values, g_bary
    for j in range(P):
        for i in range(3):
            v = index[j, i]
            b = bary[j, i]
            acc = 0.0
            for c in range(C):
                g_values[v, c] += b * g[j, c]
                acc += g[j, c] * values[v, c]
            g_bary[j, i] = acc
    return g_values, g_bary


def interpolate_backward(values, bary, index, g):
    """See ``numpy_attributes.interpolate_backward``."""
    g_bary = np.empty((len(index), 3))
    g_values, g_bary = _interpolate_backward(np.ascontiguousarray(values), np.ascontiguousarray(bary),
                                             np.ascontiguousarray(index), np.ascontiguousarray(g), g_bary)
    dtype = np.result_type(bary, g)
    return g_values.astype(dtype, copy=False), g_bary.astype(np.result_type(g, values), copy=False)


@njit(inline="always", error_model="numpy")
def _tap(u, v, h, w):
    x = u * w - 0.5
    y = (1.0 - v) * h - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    # clamped before the integer conversion (NaN and huge values included); same taps after clipping
    xi = int(min(x0, w)) if x0 >= -1.0 else -1
    yi = int(min(y0, h)) if y0 >= -1.0 else -1
    xa, xb = min(max(xi, 0), w - 1), min(max(xi + 1, 0), w - 1)
    ya, yb = min(max(yi, 0), h - 1), min(max(yi + 1, 0), h - 1)
    return ya * w + xa, ya * w + xb, yb * w + xa, yb * w + xb, fx, fy


@njit(cache=True, error_model="numpy")
def _sample(tex, uvs, h, w, out):
    P, C = uvs.shape[0], tex.shape[1]
    for j in range(P):
        i00, i01, i10, i11, fx, fy = _tap(np.float64(uvs[j, 0]), np.float64(uvs[j, 1]), h, w)
        for k in range(C):
            t00, t01, t10, t11 = tex[i00, k], tex[i01, k], tex[i10, k], tex[i11, k]
            top = t00 + fx * (t01 - t00)
            out[j, k] = top + fy * (t10 + fx * (t11 - t10) - top)


def sample_bilinear(texture, uvs):
    """See ``numpy_attributes.sample_bilinear``."""
    h, w, c = texture.shape
    out = np.empty((len(uvs), c))
    _sample(np.ascontiguousarray(texture).reshape(h * w, c), np.ascontiguousarray(uvs), h, w, out)
    return out.astype(np.result_type(texture, uvs), copy=False)


@njit(cache=True, error_model="numpy")
def _sample_backward(tex, uvs, g, h, w, g_uv, taps, frac):
    """(g_tex, g_uv) with g_uv (P, 2) given; taps (P, 4) int64 and frac (P, 2): work space."""
    P, C = uvs.shape[0], tex.shape[1]
    g_tex = np.zeros((h * w, C))
    for j in range(P):
        i00, i01, i10, i11, fx, fy = _tap(np.float64(uvs[j, 0]), np.float64(uvs[j, 1]), h, w)
        taps[j, 0], taps[j, 1], taps[j, 2], taps[j, 3] = i00, i01, i10, i11
        frac[j, 0], frac[j, 1] = fx, fy
        gu = gv = 0.0
        for k in range(C):
            t00, t01, t10, t11 = tex[i00, k], tex[i01, k], tex[i10, k], tex[i11, k]
            gk = g[j, k]
            gu += gk * ((1 - fy) * (t01 - t00) + fy * (t11 - t10))
            gv += gk * ((t10 + fx * (t11 - t10)) - (t00 + fx * (t01 - t00)))
        g_uv[j, 0], g_uv[j, 1] = gu * w, -gv * h
    for k in range(C):                                   # reference order: channel, tap, pair
        for tap in range(4):
            for j in range(P):
                fx, fy = frac[j, 0], frac[j, 1]
                if tap == 0:
                    wt = (1 - fx) * (1 - fy)
                elif tap == 1:
                    wt = fx * (1 - fy)
                elif tap == 2:
                    wt = (1 - fx) * fy
                else:
                    wt = fx * fy
                g_tex[taps[j, tap], k] += wt * g[j, k]
    return g_tex, g_uv


def sample_bilinear_backward(texture, uvs, g):
    """See ``numpy_attributes.sample_bilinear_backward``."""
    h, w, c = texture.shape
    P = len(uvs)
    g_tex, g_uv = _sample_backward(np.ascontiguousarray(texture).reshape(h * w, c), np.ascontiguousarray(uvs),
                                   np.ascontiguousarray(g), h, w, np.empty((P, 2)), np.empty((P, 4), np.int64),
                                   np.empty((P, 2)))
    return g_tex.reshape(h, w, c).astype(g.dtype, copy=False), g_uv.astype(g.dtype, copy=False)
