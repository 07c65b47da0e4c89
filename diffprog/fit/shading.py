"""Unlit rendering for fitting: each surface point shows its interpolated vertex colour.

The photographs are of a diffuse object under lights fixed to it, so the radiance a camera sees
from a surface point does not depend on the camera: vertex colours that hold that radiance
("baked" lighting, shadows included) reproduce every view. No light or normal enters the image.
"""
import diffprog.autodiff as dp
from diffprog import render as R


def render_unlit(mesh, cams, rasterizer, background, silhouette_only=False):
    """(N, H, W, 4) RGBA Tensor: RGB the blended vertex colours over ``background`` (RGB), A the
    coverage; ``silhouette_only``: skip the colours (RGB channels are then zero)."""
    if silhouette_only:
        alpha = R.render(mesh, cams, rasterizer=rasterizer, shader="silhouette", background=background)[..., 3:]
        return dp.concatenate([dp.zeros(alpha.shape[:-1] + (3,), dtype=alpha.dtype), alpha], axis=-1)
    return R.render(mesh, cams, rasterizer=rasterizer, shader="unlit", background=background)
