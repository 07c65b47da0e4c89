"""Blending: fragments' per-pair colours -> image, apart from the rasterizers (as in PyTorch3D).

Soft blend (SoftRas formulation; a fused kernel with its own VJP). Per pixel p and face j the
coverage is ``D_j = sigmoid(dist_j / sigma)``, with ``dist_j`` the signed squared NDC distance.

- silhouette ``alpha = 1 - prod_j (1 - D_j)``, computed as ``-expm1(-sum_j softplus(dist_j / sigma))``;
- colour ``sum_j w_j C_j + w_b background`` with ``w_j ∝ D_j exp(z_j / gamma)``,
  ``w_b ∝ exp(eps / gamma)`` and ``z_j = (zfar - depth_j) / (zfar - znear)`` the normalized
  inverse depth (1 at the near plane, 0 at the far plane); the weights are formed in log space with
  a per-pixel max shift, so sigma = 1e-7 and gamma = 1e-6 neither overflow nor give NaN.

As in SoftRas's and PyTorch3D's implementations, only faces within the influence radius take part
in a pixel's colour softmax (the rasterizer's pairs), so the colour footprint ends at that radius.

Hard blend: the single pair per covered pixel shows its colour; coverage is a 0/1 step.
"""
import numpy as np

import diffprog.autodiff as dp
from . import kernels
from .kernels.numpy_blend import BACKGROUND_EPS  # noqa: F401  (part of the documented convention)


class SoftBlend(dp.Function):
    """(dist, depth, colors (P, C), background (C,) or (npix, C), pixel, params) -> (npix, C + 1);
    params = (npix, sigma, gamma, znear, zfar)."""

    @staticmethod
    def forward(ctx, dist, depth, colors, background, pixel, params):
        ctx.kernels = kernels.active()
        ctx.colors, ctx.background, ctx.pixel, ctx.params = colors, background, pixel, params
        out, ctx.res = ctx.kernels.blend_forward(dist, depth, colors, background, pixel, *params)
        return out

    @staticmethod
    def backward(ctx, g):
        _, sigma, gamma, znear, zfar = ctx.params
        grads = ctx.kernels.blend_backward(ctx.res, g, ctx.colors, ctx.background, ctx.pixel, sigma, gamma,
                                           znear, zfar, ctx.background.ndim > 1)
        return grads + (None, None)


class SoftSilhouette(dp.Function):
    """(dist, pixel, params) -> (npix, 1) soft coverage; params as ``SoftBlend``'s."""

    @staticmethod
    def forward(ctx, dist, pixel, params):
        ctx.kernels = kernels.active()
        ctx.pixel, ctx.params = pixel, params
        out, ctx.res = ctx.kernels.blend_forward(dist, None, None, None, pixel, *params)
        return out

    @staticmethod
    def backward(ctx, g):
        _, sigma, gamma, znear, zfar = ctx.params
        g_dist = ctx.kernels.blend_backward(ctx.res, g, None, None, ctx.pixel, sigma, gamma, znear, zfar, False)[0]
        return g_dist, None, None


def soft_blend(fragments, colors, background, sigma, gamma, znear, zfar):
    """The fused soft aggregation (see module doc). fragments: pairs with ``dist`` and ``depth``;
    colors: (P, C) Tensor of each pair's shaded colour, or None for the silhouette only;
    background: (C,) colour or (N, H, W, C) image. Returns (N, H, W, C + 1) or (N, H, W, 1)."""
    n, h, w = fragments.image_shape
    npix = n * h * w
    params = (npix, float(sigma), float(gamma), float(znear), float(zfar))
    if colors is None:
        return dp.reshape(SoftSilhouette.apply(fragments.dist, fragments.pixel, params), (n, h, w, 1))
    C = colors.shape[1]
    bg = background if type(background) is dp.Tensor else dp.tensor(np.asarray(background, dtype=colors.dtype))
    if bg.ndim > 1:
        bg = dp.reshape(dp.broadcast_to(bg, (n, h, w, C)), (npix, C))
    out = SoftBlend.apply(fragments.dist, fragments.depth, colors, bg, fragments.pixel, params)
    return dp.reshape(out, (n, h, w, C + 1))


def hard_blend(fragments, colors, background):
    """(N, H, W, C + 1): each covered pixel's single pair colour, else ``background``; the last
    channel is the 0/1 coverage. (N, H, W, 1) when ``colors`` is None. With no pair at all the
    image does not depend on the colours (nothing is in view)."""
    n, h, w = fragments.image_shape
    npix = n * h * w
    covered = np.zeros(npix, dtype=bool)
    covered[fragments.pixel] = True
    dtype = fragments.depth.dtype
    alpha = dp.tensor(covered.astype(dtype)[:, None])
    if colors is None:
        return dp.reshape(alpha, (n, h, w, 1))
    C = colors.shape[1]
    bg = background if type(background) is dp.Tensor else dp.tensor(np.asarray(background, dtype=colors.dtype))
    if bg.ndim > 1:
        bg = dp.reshape(dp.broadcast_to(bg, (n, h, w, C)), (npix, C))
    image = bg * (1.0 - covered.astype(dtype))[:, None]
    # into zeros, then added: a scatter into zeros takes the bincount path (add.at into the background was
    # ~10x slower); each covered pixel has one pair, so the sums are the pair colours exactly
    if len(fragments):
        image = image + dp.index_add(dp.zeros((npix, C), dtype=colors.dtype), 0, fragments.pixel, colors)
    else:
        image = image + dp.zeros((npix, C), dtype=colors.dtype)
    return dp.reshape(dp.concatenate([image, alpha], axis=1), (n, h, w, C + 1))
