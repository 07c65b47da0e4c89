"""Compiled (numba) kernels of the soft blend: the same functions, arguments and arithmetic as
``numpy_blend`` (the reference), one pair at a time, in float64.

Per-pixel sums run serially in pair order (as ``np.bincount`` does), so results are
deterministic. The residuals are smaller than the reference's: per-pixel max shift and
normalizer instead of per-pair weights, which the backward recomputes.
"""
import math

import numpy as np
from numba import njit

from .numpy_blend import BACKGROUND_EPS


@njit(cache=True)
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True)
def _sigmoid(x):
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


@njit(cache=True)
def _silhouette(dist, pixel, npix, sigma):
    log_c = np.zeros(npix)                               # log(1 - alpha)
    for j in range(len(pixel)):
        log_c[pixel[j]] += -_softplus(dist[j] / sigma)
    alpha = np.empty(npix)
    for p in range(npix):
        alpha[p] = 0.0 - math.expm1(log_c[p])
    return alpha


@njit(cache=True)
def _colour(dist, depth, colors, background, pixel, npix, sigma, gamma, znear, zfar):
    P, C = colors.shape
    sb = BACKGROUND_EPS / gamma
    m = np.full(npix, sb)
    for j in range(P):
        s = -_softplus(-(dist[j] / sigma)) + ((zfar - depth[j]) / (zfar - znear)) / gamma
        if s > m[pixel[j]]:
            m[pixel[j]] = s
    Z = np.zeros(npix)
    for j in range(P):
        s = -_softplus(-(dist[j] / sigma)) + ((zfar - depth[j]) / (zfar - znear)) / gamma
        Z[pixel[j]] += math.exp(s - m[pixel[j]])
    wb = np.empty(npix)
    for p in range(npix):
        eb = math.exp(sb - m[p])
        Z[p] += eb
        wb[p] = eb / Z[p]
    rgb = np.zeros((npix, C))
    for j in range(P):
        p = pixel[j]
        s = -_softplus(-(dist[j] / sigma)) + ((zfar - depth[j]) / (zfar - znear)) / gamma
        wgt = math.exp(s - m[p]) / Z[p]
        for c in range(C):
            rgb[p, c] += wgt * colors[j, c]
    per_pixel = background.shape[0] > 1
    for p in range(npix):
        b = p if per_pixel else 0
        for c in range(C):
            rgb[p, c] += wb[p] * background[b, c]
    return m, Z, wb, rgb


def blend_forward(dist, depth, colors, background, pixel, npix, sigma, gamma, znear, zfar):
    """See ``numpy_blend.blend_forward``."""
    dist, pixel = np.ascontiguousarray(dist), np.ascontiguousarray(pixel)
    alpha = _silhouette(dist, pixel, npix, sigma).astype(dist.dtype, copy=False)
    if colors is None:
        return alpha[:, None], dict(dist=dist, alpha=alpha)
    colors, depth = np.ascontiguousarray(colors), np.ascontiguousarray(depth)
    bg = np.ascontiguousarray(background).reshape(-1, colors.shape[1])
    m, Z, wb, rgb = _colour(dist, depth, colors, bg, pixel, npix, sigma, gamma, znear, zfar)
    rgb = rgb.astype(colors.dtype, copy=False)
    res = dict(dist=dist, depth=depth, alpha=alpha, m=m, Z=Z, wb=wb, rgb=rgb)
    return np.concatenate([rgb, alpha[:, None]], axis=1), res


@njit(cache=True)
def _silhouette_backward(dist, alpha, g, pixel, sigma):
    P = len(pixel)
    g_dist = np.empty(P)
    last = g.shape[1] - 1
    for j in range(P):
        p = pixel[j]
        x = dist[j] / sigma
        g_dist[j] = (g[p, last] * (1.0 - alpha[p])) * _sigmoid(x) / sigma
    return g_dist


@njit(cache=True)
def _colour_backward(dist, depth, colors, alpha, m, Z, wb, rgb, g, pixel, sigma, gamma, znear, zfar, bg_per_pixel):
    P, C = colors.shape
    npix = len(m)
    g_out = np.empty(npix)
    for p in range(npix):
        acc = 0.0
        for c in range(C):
            acc += g[p, c] * rgb[p, c]
        g_out[p] = acc
    g_dist = np.empty(P)
    g_depth = np.empty(P)
    g_colors = np.empty((P, C))
    k = -1.0 / (gamma * (zfar - znear))
    for j in range(P):
        p = pixel[j]
        x = dist[j] / sigma
        s = -_softplus(-x) + ((zfar - depth[j]) / (zfar - znear)) / gamma
        wgt = math.exp(s - m[p]) / Z[p]
        dot = 0.0
        for c in range(C):
            g_colors[j, c] = wgt * g[p, c]
            dot += g[p, c] * colors[j, c]
        g_s = wgt * (dot - g_out[p])
        g_x = (g[p, C] * (1.0 - alpha[p])) * _sigmoid(x) + g_s * _sigmoid(-x)
        g_dist[j] = g_x / sigma
        g_depth[j] = g_s * k
    if bg_per_pixel:
        g_bg = np.empty((npix, C))
        for p in range(npix):
            for c in range(C):
                g_bg[p, c] = wb[p] * g[p, c]
    else:
        g_bg = np.zeros((1, C))
        for p in range(npix):
            for c in range(C):
                g_bg[0, c] += wb[p] * g[p, c]
    return g_dist, g_depth, g_colors, g_bg


def blend_backward(res, g, colors, background, pixel, sigma, gamma, znear, zfar, bg_per_pixel):
    """See ``numpy_blend.blend_backward``."""
    g, pixel = np.ascontiguousarray(g), np.ascontiguousarray(pixel)
    dist, alpha = res["dist"], res["alpha"]
    if colors is None:
        return _silhouette_backward(dist, alpha, g, pixel, sigma).astype(dist.dtype, copy=False), None, None, None
    g_dist, g_depth, g_colors, g_bg = _colour_backward(
        dist, res["depth"], np.ascontiguousarray(colors), alpha, res["m"], res["Z"], res["wb"], res["rgb"], g, pixel,
        sigma, gamma, znear, zfar, bool(bg_per_pixel))
    return (g_dist.astype(dist.dtype, copy=False), g_depth.astype(res["depth"].dtype, copy=False),
            g_colors.astype(colors.dtype, copy=False),
            g_bg.astype(colors.dtype, copy=False) if bg_per_pixel else g_bg[0].astype(colors.dtype, copy=False))
