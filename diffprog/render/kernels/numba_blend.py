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


LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01      # ln 2 split: the high part has 21 trailing zero bits (k * LN2_HI exact)
LN2_LO = 1.90821492927058770002e-10
SHIFT = 6755399441055744.0               # 1.5 * 2^52: x + SHIFT rounds x to an integer held in the low bits
SHIFT_BITS = int(np.float64(SHIFT).view(np.int64))


@njit(inline="always", error_model="numpy")
def _exp_neg(t):
    """exp(t) for t <= 0 (NaN for NaN) in plain arithmetic, so that a loop of it runs in SIMD lanes:
    t = k ln 2 + r with |r| <= ln 2 / 2 (Cody-Waite), exp(r) by its Taylor series to r^13 (truncation
    below 1e-17 relative), 2^k from the exponent bits in two factors (normal down to k = -1075, so
    the subnormal results round once). Within 1 ulp of ``math.exp`` (tests/render/test_silhouette_kernel.py)."""
    tt = max(t, -746.0)                                  # exp(-746) rounds to 0
    kf = (tt * LOG2E + SHIFT) - SHIFT
    r = (tt - kf * LN2_HI) - kf * LN2_LO
    r2 = r * r                                           # Estrin's scheme: short dependency chains
    r4 = r2 * r2
    q0 = 0.5 + r * (1.0 / 6.0)
    q1 = (1.0 / 24.0) + r * (1.0 / 120.0)
    q2 = (1.0 / 720.0) + r * (1.0 / 5040.0)
    q3 = (1.0 / 40320.0) + r * (1.0 / 362880.0)
    q4 = (1.0 / 3628800.0) + r * (1.0 / 39916800.0)
    q5 = (1.0 / 479001600.0) + r * (1.0 / 6227020800.0)
    p = ((q0 + q1 * r2) + (q2 + q3 * r2) * r4) + ((q4 + q5 * r2) * r4) * r4      # (exp(r) - 1 - r) / r^2
    e = 1.0 + (r + r2 * p)
    a1 = max(kf, -1000.0)
    a2 = kf - a1
    s1 = np.int64((np.float64(a1 + SHIFT).view(np.int64) - SHIFT_BITS + 1023) << 52).view(np.float64)
    s2 = np.int64((np.float64(a2 + SHIFT).view(np.int64) - SHIFT_BITS + 1023) << 52).view(np.float64)
    return (e * s1) * s2


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
    """Silhouette and colour in passes over the pairs, into the outputs: the per-pair weights
    ``w`` (P,) and exp(-|dist / sigma|) ``ex`` (P,) (the backward's sigmoids), and per pixel the max
    shift ``m``, the normalizer ``Z``, ``alpha``, the background weight ``wb`` and ``rgb`` (npix, C)
    (``lin``, ``excess`` (``_add_softplus``), ``Z``, ``rgb`` zero-filled on entry; ``Z`` holds 1 / Z on
    return). The exponentials run in loops of their own with no stores but into per-pair arrays, so
    they run in SIMD lanes (``_exp_neg``); the per-pixel sums and maxima run serially in pair order."""
    P, C = colors.shape
    npix = len(m)
    sb = BACKGROUND_EPS / gamma
    m[:] = sb
    for j in range(P):                                   # in SIMD lanes: the exponentials, the shifts
        x = np.float64(dist[j]) / sigma
        ex[j] = _exp_neg(-abs(x))                        # softplus(x) and softplus(-x) from one exp
        w[j] = -max(-x, 0.0) + ((zfar - np.float64(depth[j])) / (zfar - znear)) / gamma  # + log(1 + e): below
    for j in range(P):                                   # the per-pixel sums and maxima, in pair order
        p = pixel[j]
        _add_softplus(lin, excess, p, np.float64(dist[j]) / sigma, ex[j])
        s = w[j]
        mp = m[p]
        m[p] = s if s > mp else mp                       # a select, no branch
    for j in range(P):
        w[j] -= m[pixel[j]]
    for j in range(P):                                   # in SIMD lanes
        w[j] = _exp_neg(w[j]) / (1.0 + ex[j])
    for j in range(P):
        Z[pixel[j]] += w[j]
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
    if C == 3:                                           # RGB: the channels unrolled (SIMD lanes, gathers)
        for j in range(P):
            p = pixel[j]
            x = dist[j] / sigma
            e = ex[j]
            inv = 1.0 / (1.0 + e)
            sig_pos = (1.0 if x >= 0 else e) * inv
            sig_neg = (1.0 if -x >= 0 else e) * inv
            w = wgt[j]
            h0, h1, h2 = g[p, 0], g[p, 1], g[p, 2]
            g_colors[j, 0] = w * h0
            g_colors[j, 1] = w * h1
            g_colors[j, 2] = w * h2
            dot = (h0 * colors[j, 0] + h1 * colors[j, 1]) + h2 * colors[j, 2]
            g_s = w * (dot - g_out[p])
            g_dist[j] = ((g[p, 3] * (1.0 - alpha[p])) * sig_pos + g_s * sig_neg) / sigma
            g_depth[j] = g_s * k
    else:
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
