"""Reference (NumPy) kernels of the soft blend, forward and backward (see ``render.blend``).

Pairs are (pixel (P,), dist (P,), depth (P,)) over ``npix`` pixels. The forward returns the
(npix, C + 1) blended image (or (npix, 1) silhouette) and the residuals its backward needs;
residuals are private to the kernel set that made them.
"""
import numpy as np

BACKGROUND_EPS = 1e-10       # normalized inverse depth of the background


def softplus(x):
    """log(1 + exp(x)) without overflow."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def blend_forward(dist, depth, colors, background, pixel, npix, sigma, gamma, znear, zfar):
    """colors: (P, C) or None (silhouette only); background: (C,) or (npix, C)."""
    x = dist / sigma
    log_alpha_c = np.bincount(pixel, weights=-softplus(x), minlength=npix)      # log(1 - alpha)
    alpha = (0.0 - np.expm1(log_alpha_c)).astype(dist.dtype, copy=False)     # bincount sums in float64
    res = dict(x=x, alpha=alpha)
    if colors is None:
        return alpha[:, None], res
    zn = (zfar - depth) / (zfar - znear)
    s = -softplus(-x) + zn / gamma                                                 # log D + z / gamma
    sb = BACKGROUND_EPS / gamma
    m = np.full(npix, sb, dtype=s.dtype)
    np.maximum.at(m, pixel, s)
    e = np.exp(s - m[pixel])
    eb = np.exp(sb - m)
    Z = np.bincount(pixel, weights=e, minlength=npix) + eb
    wgt = e / Z[pixel]
    wb = eb / Z
    C = colors.shape[1]
    rgb = np.empty((npix, C), dtype=colors.dtype)
    for c in range(C):
        rgb[:, c] = np.bincount(pixel, weights=wgt * colors[:, c], minlength=npix)
    rgb += (wb[:, None] * background).astype(rgb.dtype, copy=False)
    res.update(wgt=wgt, wb=wb, rgb=rgb)
    return np.concatenate([rgb, alpha[:, None]], axis=1), res


def blend_backward(res, g, colors, background, pixel, sigma, gamma, znear, zfar, bg_per_pixel):
    """(g_dist, g_depth, g_colors, g_background) from the output cotangent g (npix, C + 1)."""
    x, alpha = res["x"], res["alpha"]
    g_alpha = g[:, -1]
    g_x = (g_alpha * (1.0 - alpha))[pixel] * sigmoid(x)
    g_colors = g_depth = g_bg = None
    if colors is not None:
        g_rgb = g[:, :-1]
        wgt, wb, rgb = res["wgt"], res["wb"], res["rgb"]
        g_pix = g_rgb[pixel]
        g_colors = wgt[:, None] * g_pix
        g_out = np.einsum("ij,ij->i", g_rgb, rgb)
        g_s = wgt * (np.einsum("ij,ij->i", g_pix, colors) - g_out[pixel])
        g_x = g_x + g_s * sigmoid(-x)
        g_depth = g_s * (-1.0 / (gamma * (zfar - znear)))
        g_bg = wb[:, None] * g_rgb if bg_per_pixel else (wb[:, None] * g_rgb).sum(axis=0)
        g_colors, g_bg = g_colors.astype(colors.dtype, copy=False), g_bg.astype(colors.dtype, copy=False)
    return g_x / sigma, g_depth, g_colors, g_bg
