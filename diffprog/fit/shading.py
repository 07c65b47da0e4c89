"""Unlit rendering for fitting: each surface point shows its interpolated vertex colour.

The photographs are of a diffuse object under lights fixed to it, so the radiance a camera sees
from a surface point does not depend on the camera: vertex colours that hold that radiance
("baked" lighting, shadows included) reproduce every view. No light or normal enters the image.
"""
import numpy as np

from diffprog import render as R


def render_unlit(mesh, cams, rasterizer, background, silhouette_only=False):
    """(N, H, W, 4) RGBA Tensor: RGB the blended vertex colours over ``background`` (RGB), A the
    coverage; ``silhouette_only``: skip the colours (RGB channels are then zero)."""
    fragments = R.rasterize(mesh, cams, rasterizer)
    background = np.asarray(background, dtype=mesh.verts.dtype)
    if silhouette_only:
        import diffprog.autodiff as dp
        alpha = rasterizer.blend(fragments, None, background, cams.znear, cams.zfar)
        return dp.concatenate([dp.zeros(alpha.shape[:-1] + (3,), dtype=alpha.dtype), alpha], axis=-1)
    colors = R.interpolate(mesh.colors, mesh.faces, fragments)
    return rasterizer.blend(fragments, colors, background, cams.znear, cams.zfar)
