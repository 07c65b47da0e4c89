"""Compiled (numba) kernels of the soft blend: the same functions, arguments and arithmetic as
``numpy_blend`` (the reference), one pair at a time, in float64.

Per-pixel sums run serially in pair order (as ``np.bincount`` does), so results are
deterministic. softplus(x) and softplus(-x) (and, backward, the two sigmoids) share one exponential.
No logarithm per pair: with e = exp(-|x|), softplus(x) = max(x, 0) + log(1 + e), so a pixel's
sum of softplus terms is (sum of max(x, 0)) + log(prod of (1 + e)), and the product is carried as
its excess over 1 (q <- q + e (1 + q): no cancellation, relative accuracy kept however small the
terms), taking one ``log1p`` per pixel; the softmax weight exp(-softplus(-x) + z / gamma) is
exp(-max(-x, 0) + z / gamma) / (1 + e).
"""
import math

import numpy as np
from numba import njit

from .numba_pairs import scratch
from .numpy_blend import BACKGROUND_EPS


EXCESS_FOLD = 1e300      # a pixel's excess product beyond this is folded into its linear sum (no overflow)


@njit(inline="always", error_model="numpy")
def _add_softplus(lin, excess, p, x, e):
    """Add softplus(x) (e = exp(-|x|)) to pixel p's (linear sum, excess product) pair; the sum is
    lin[p] + log1p(excess[p]) (``_softplus_sum``)."""
    q = excess[p]
    q = q + e * (1.0 + q)
    if q > EXCESS_FOLD:
        lin[p] += math.log1p(q)
        q = 0.0
    excess[p] = q
    lin[p] += max(x, 0.0)


@njit(inline="always", error_model="numpy")
def _softplus_sum(lin, excess, p):
    return lin[p] + math.log1p(excess[p])


@njit(inline="always", error_model="numpy")
def _sigmoid(x):
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


@njit(cache=True, error_model="numpy")
def _silhouette(dist, pixel, sigma, lin, excess, alpha):
    """alpha from the pairs; ``lin``, ``excess`` (npix,) zeros (``_add_softplus``)."""
    for j in range(len(pixel)):
        x = dist[j] / sigma
        _add_softplus(lin, excess, pixel[j], x, math.exp(-abs(x)))
    for p in range(len(alpha)):
        alpha[p] = 0.0 - math.expm1(-_softplus_sum(lin, excess, p)) if lin[p] != 0.0 or excess[p] != 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def _colour(dist, depth, colors, background, pixel, sigma, gamma, znear, zfar, w, ex, m, lin, excess, Z, alpha, wb,
            rgb):
    """Silhouette and colour in three passes over the pairs, into the outputs: the per-pair weights
    ``w`` (P,) and exp(-|dist / sigma|) ``ex`` (P,) (the backward's sigmoids), and per pixel the max
    shift ``m``, the normalizer ``Z``, ``alpha``, the background weight ``wb`` and ``rgb`` (npix, C)
    (``lin``, ``excess`` (``_add_softplus``), ``Z``, ``rgb`` zero-filled on entry; ``Z`` holds 1 / Z on
    return)."""
    P, C = colors.shape
    npix = len(m)
    sb = BACKGROUND_EPS / gamma
    m[:] = sb
    for j in range(P):
        p = pixel[j]
        x = dist[j] / sigma
        e = math.exp(-abs(x))                            # softplus(x) and softplus(-x) from one exp
        ex[j] = e
        _add_softplus(lin, excess, p, x, e)
        s = -max(-x, 0.0) + ((zfar - depth[j]) / (zfar - znear)) / gamma      # + log(1 + e): a factor below
        w[j] = s
        mp = m[p]
        m[p] = s if s > mp else mp                       # a select, no branch
    for j in range(P):
        e = math.exp(w[j] - m[pixel[j]]) / (1.0 + ex[j])
        w[j] = e
        Z[pixel[j]] += e
    for p in range(npix):
        if Z[p] == 0.0 and m[p] == sb and lin[p] == 0.0 and excess[p] == 0.0:
            alpha[p], wb[p], Z[p] = 0.0, 1.0, 1.0       # no pair: the values below, exactly, without libm
            continue
        alpha[p] = 0.0 - math.expm1(-_softplus_sum(lin, excess, p))
        eb = math.exp(sb - m[p])
        z = Z[p] + eb
        wb[p] = eb / z
        Z[p] = 1.0 / z                                   # Z now holds 1 / Z (a product per pair below)
    for j in range(P):
        p = pixel[j]
        wgt = w[j] * Z[p]
        w[j] = wgt
        for c in range(C):
            rgb[p, c] += wgt * colors[j, c]
    per_pixel = background.shape[0] > 1
    for p in range(npix):
        b = p if per_pixel else 0
        for c in range(C):
            rgb[p, c] += wb[p] * background[b, c]


def blend_forward(dist, depth, colors, background, pixel, npix, sigma, gamma, znear, zfar):
    """See ``numpy_blend.blend_forward``. (Outputs and work arrays come from NumPy, whose large
    allocations take far fewer page faults than numba's own; per-pair ones are reused from call to
    call once free, ``numba_pairs.scratch``.)"""
    dist, pixel = np.ascontiguousarray(dist), np.ascontiguousarray(pixel)
    if colors is None:
        alpha = np.empty(npix)
        _silhouette(dist, pixel, sigma, np.zeros(npix), np.zeros(npix), alpha)
        alpha = alpha.astype(dist.dtype, copy=False)
        return alpha[:, None], dict(dist=dist, alpha=alpha)
    colors, depth = np.ascontiguousarray(colors), np.ascontiguousarray(depth)
    bg = np.ascontiguousarray(background).reshape(-1, colors.shape[1])
    wgt, ex = scratch("blend_wgt", len(pixel), np.float64), scratch("blend_ex", len(pixel), np.float64)
    alpha, wb, rgb = np.empty(npix), np.empty(npix), np.zeros((npix, colors.shape[1]))
    _colour(dist, depth, colors, bg, pixel, sigma, gamma, znear, zfar, wgt, ex, np.empty(npix), np.zeros(npix),
            np.zeros(npix), np.zeros(npix), alpha, wb, rgb)
    alpha = alpha.astype(dist.dtype, copy=False)
    rgb = rgb.astype(colors.dtype, copy=False)
    res = dict(dist=dist, depth=depth, alpha=alpha, wgt=wgt, ex=ex, wb=wb, rgb=rgb)
    return np.concatenate([rgb, alpha[:, None]], axis=1), res


@njit(cache=True, error_model="numpy")
def _silhouette_backward(dist, alpha, g, pixel, sigma, g_dist):
    P = len(pixel)
    last = g.shape[1] - 1
    for j in range(P):
        p = pixel[j]
        x = dist[j] / sigma
        g_dist[j] = (g[p, last] * (1.0 - alpha[p])) * _sigmoid(x) / sigma


@njit(cache=True, error_model="numpy")
def _colour_backward(dist, colors, alpha, wgt, ex, wb, rgb, g, pixel, sigma, gamma, znear, zfar, bg_per_pixel, g_out,
                     g_dist, g_depth, g_colors, g_bg):
    """Into g_dist, g_depth (P,), g_colors (P, C), g_bg ((npix, C), or (1, C) zero-filled);
    g_out (npix,) is work space."""
    P, C = colors.shape
    npix = len(wb)
    for p in range(npix):
        acc = 0.0
        for c in range(C):
            acc += g[p, c] * rgb[p, c]
        g_out[p] = acc
    k = -1.0 / (gamma * (zfar - znear))
    for j in range(P):
        p = pixel[j]
        x = dist[j] / sigma
        e = ex[j]                                        # sigmoid(x) and sigmoid(-x) from the forward's exp
        sig_pos = (1.0 if x >= 0 else e) / (1.0 + e)
        sig_neg = (1.0 if -x >= 0 else e) / (1.0 + e)
        dot = 0.0
        for c in range(C):
            g_colors[j, c] = wgt[j] * g[p, c]
            dot += g[p, c] * colors[j, c]
        g_s = wgt[j] * (dot - g_out[p])
        g_x = (g[p, C] * (1.0 - alpha[p])) * sig_pos + g_s * sig_neg
        g_dist[j] = g_x / sigma
        g_depth[j] = g_s * k
    if bg_per_pixel:
        for p in range(npix):
            for c in range(C):
                g_bg[p, c] = wb[p] * g[p, c]
    else:
        for p in range(npix):
            for c in range(C):
                g_bg[0, c] += wb[p] * g[p, c]


def blend_backward(res, g, colors, background, pixel, sigma, gamma, znear, zfar, bg_per_pixel):
    """See ``numpy_blend.blend_backward``."""
    g, pixel = np.ascontiguousarray(g), np.ascontiguousarray(pixel)
    dist, alpha = res["dist"], res["alpha"]
    P = len(pixel)
    g_dist = scratch("blend_g_dist", P, np.float64)
    if colors is None:
        _silhouette_backward(dist, alpha, g, pixel, sigma, g_dist)
        return g_dist.astype(dist.dtype, copy=False), None, None, None
    npix, C = len(alpha), colors.shape[1]
    g_depth, g_colors = scratch("blend_g_depth", P, np.float64), scratch("blend_g_colors", P, np.float64, (C,))
    g_bg = np.empty((npix, C)) if bg_per_pixel else np.zeros((1, C))
    _colour_backward(dist, np.ascontiguousarray(colors), alpha, res["wgt"], res["ex"], res["wb"], res["rgb"], g, pixel,
                     sigma, gamma, znear, zfar, bool(bg_per_pixel), np.empty(npix), g_dist, g_depth, g_colors, g_bg)
    return (g_dist.astype(dist.dtype, copy=False), g_depth.astype(res["depth"].dtype, copy=False),
            g_colors.astype(colors.dtype, copy=False),
            g_bg.astype(colors.dtype, copy=False) if bg_per_pixel else g_bg[0].astype(colors.dtype, copy=False))
