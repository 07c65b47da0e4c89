"""The soft rasterizer (SoftRas formulation): every pixel-face pair within the influence radius.

Faces whose coverage ``sigmoid(dist / sigma)`` would be below ``min_coverage`` (default 1e-4) are
skipped: the influence radius is ``sqrt(sigma * log((1 - min_coverage) / min_coverage))`` (NDC
units), derived from sigma alone. Blending is ``render.blend.soft_blend``.

Backface culling (``cull_backfaces=True``) drops faces whose vertices appear clockwise on screen
as seen by the camera (with y up), i.e. faces wound counter-clockwise are front faces.
"""
import numpy as np

import diffprog.autodiff as dp
from . import kernels
from .blend import soft_blend
from .pairs import find_pairs, fragments_from_pairs, nearest_per_pixel, take_pairs


class SoftRasterizer:
    """SoftRas-style rasterizer.

    sigma: sharpness of the coverage (squared NDC distance); gamma: depth-softmax temperature;
    faces_per_pixel: None (default, every face within the influence radius counts, exactly) or K
    (keep the K nearest per pixel, for speed); cull_backfaces: drop back faces (see module doc);
    min_coverage: coverage below which a face is skipped (sets the influence radius).
    """

    def __init__(self, sigma=1e-4, gamma=1e-4, faces_per_pixel=None, cull_backfaces=False, min_coverage=1e-4):
        if not (np.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
        if not (np.isfinite(gamma) and gamma > 0):
            raise ValueError(f"gamma: expected a positive number, got {gamma!r}")
        if faces_per_pixel is not None and (int(faces_per_pixel) != faces_per_pixel or faces_per_pixel < 1):
            raise ValueError(f"faces_per_pixel: expected None or a positive integer, got {faces_per_pixel!r}")
        if not 0 < min_coverage < 0.5:
            raise ValueError(f"min_coverage: expected a number in (0, 0.5), got {min_coverage!r}")
        self.sigma, self.gamma = float(sigma), float(gamma)
        self.faces_per_pixel = None if faces_per_pixel is None else int(faces_per_pixel)
        self.cull_backfaces = bool(cull_backfaces)
        self.min_coverage = float(min_coverage)

    @property
    def radius(self):
        """Influence radius in NDC units."""
        return float(np.sqrt(self.sigma * np.log((1.0 - self.min_coverage) / self.min_coverage)))

    def rasterize(self, screen, cams):
        """Fragments of ``screen`` triangles (from ``clipping.screen_triangles``) seen by ``cams``."""
        pixel, face, outputs = find_pairs(screen, cams, self.radius / cams.ndc_per_pixel, self.cull_backfaces)
        if self.faces_per_pixel is not None and len(pixel):
            keep = nearest_per_pixel(pixel, outputs[2], self.faces_per_pixel)
            if len(keep) < len(pixel):
                pixel, face, outputs = pixel[keep], face[keep], take_pairs(outputs, keep)
        return fragments_from_pairs(screen, pixel, face, cams, outputs)

    def silhouette(self, screen, cams, channels=1):
        """(N, H, W, channels) soft silhouette of ``screen`` triangles (repeated over the channels)
        straight from the triangles, in one fused op, when the kernel set has one and every face
        counts (``faces_per_pixel=None``); else None (then rasterize and blend)."""
        if self.faces_per_pixel is not None or getattr(kernels.active(), "soft_silhouette", None) is None:
            return None
        n, (h, w) = len(cams), cams.image_size
        params = (h, w, self.radius / cams.ndc_per_pixel, self.cull_backfaces, cams.ndc_per_pixel, n * h * w,
                  self.sigma, int(channels))
        return dp.reshape(FusedSilhouette.apply(screen.tri, screen.image, params), (n, h, w, int(channels)))

    def blend(self, fragments, colors, background, znear, zfar):
        """(N, H, W, C + 1) image: blended colours and the silhouette as last channel, or
        (N, H, W, 1) silhouette only when ``colors`` is None."""
        return soft_blend(fragments, colors, background, self.sigma, self.gamma, znear, zfar)

    def __repr__(self):
        return (f"SoftRasterizer(sigma={self.sigma}, gamma={self.gamma}, faces_per_pixel={self.faces_per_pixel}, "
                f"cull_backfaces={self.cull_backfaces})")


class FusedSilhouette(dp.Function):
    """tri (M, 3, 3) -> (npix, channels) soft silhouette, repeated over the channels (the pair
    search and the silhouette blend in one op); ``image``: the triangles' cameras; params = (height,
    width, radius in pixels, cull_backfaces, NDC units per pixel, npix, sigma, channels)."""

    @staticmethod
    def forward(ctx, tri, image, params):
        ctx.kernels, ctx.tri = kernels.active(), tri
        alpha, ctx.saved = ctx.kernels.soft_silhouette(tri, image, *params[:7])
        if params[7] == 1:
            return alpha[:, None]
        out = np.empty((len(alpha), params[7]), alpha.dtype)
        out[:] = alpha[:, None]
        return out

    @staticmethod
    def backward(ctx, g):
        # (npix, channels): the channels' cotangents are summed in the kernel
        return ctx.kernels.soft_silhouette_backward(ctx.tri, ctx.saved, g), None, None
