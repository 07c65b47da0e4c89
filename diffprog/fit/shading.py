"""Unlit rendering for fitting: each surface point shows its interpolated vertex colour.

The photographs are of a diffuse object under lights fixed to it, so the radiance a camera sees
from a surface point does not depend on the camera: vertex colours that hold that radiance
("baked" lighting, shadows included) reproduce every view. No light or normal enters the image.
A photograph's exposure (and white balance) scales that radiance: ``gain`` (N, 3) per camera, and
an optional ``bias`` (N, 3), apply to the surface colour before it is blended over the background.
"""
import diffprog.autodiff as dp
from diffprog import render as R


def exposed(colors, fragments, gain=None, bias=None):
    """(P, 3) colours of the pixel-face pairs times their camera's ``gain`` plus its ``bias``."""
    if gain is None and bias is None:
        return colors
    camera = fragments.pixel // (fragments.image_shape[1] * fragments.image_shape[2])
    if gain is not None:
        colors = colors * gain[camera]
    if bias is not None:
        colors = colors + bias[camera]
    return colors


def render_unlit(mesh, cams, rasterizer, background, silhouette_only=False, gain=None, bias=None):
    """(N, H, W, 4) RGBA Tensor: RGB the blended vertex colours (times ``gain``, plus ``bias``: (N, 3)
    per camera, optional) over ``background`` (RGB), A the coverage; ``silhouette_only``: skip the
    colours (RGB channels are then zero)."""
    if silhouette_only:
        alpha = R.render(mesh, cams, rasterizer=rasterizer, shader="silhouette", background=background)[..., 3:]
        return dp.concatenate([dp.zeros(alpha.shape[:-1] + (3,), dtype=alpha.dtype), alpha], axis=-1)
    if gain is None and bias is None:
        return R.render(mesh, cams, rasterizer=rasterizer, shader="unlit", background=background)

    def shader(fragments, mesh, cams, lights):
        return exposed(R.interpolate(mesh.colors, mesh.faces, fragments), fragments, gain, bias)

    return R.render(mesh, cams, rasterizer=rasterizer, shader=shader, background=background)
