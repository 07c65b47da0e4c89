"""``render``: camera -> clipping -> rasterizer -> shader -> blend, in one call."""
import numpy as np

import diffprog.autodiff as dp
from .camera import Cameras
from .clipping import screen_triangles
from .mesh import Mesh, check_finite_verts
from .rasterize_soft import SoftRasterizer
from .fused import lit_soft_render, unlit_soft_render
from .lights import Material
from .shading import SHADERS, light_list, shade


def rasterize(mesh, cams, rasterizer=None):
    """Fragments (pixel-face pairs with signed distance, barycentrics, depth) of ``mesh`` seen by
    ``cams``; ``rasterizer`` defaults to ``SoftRasterizer()``."""
    _check(mesh, cams)
    rasterizer = SoftRasterizer() if rasterizer is None else rasterizer
    screen = screen_triangles(mesh.verts, mesh.faces, cams)
    return rasterizer.rasterize(screen, cams)


def render(mesh, cams, lights=None, rasterizer=None, shader="phong", background=(0.0, 0.0, 0.0), material=None,
           return_fragments=False):
    """Render ``mesh`` (or a list of N meshes, one per camera) seen by N cameras.

    lights: a light or list of lights (default: one white ``DirectionalLight``); rasterizer:
    ``SoftRasterizer(...)`` (default) or ``HardRasterizer()``; shader: 'silhouette', 'unlit',
    'flat', 'gouraud' or 'phong' (see ``shading``), or any callable
    ``shader(fragments, mesh, cams, lights) -> (P, C)`` Tensor of colours per pixel-face pair
    (None: silhouette only); background: colour (C,) or image (H, W, C) / (N, H, W, C), Tensor
    or array (C = 3 for the built-in shaders); material: ``Material`` of the built-in lit shaders
    (default ambient 1, diffuse 1, specular 0.2, shininess 32).
    Returns an (N, H, W, C + 1) Tensor (row 0 at the top): the blended colours over the
    background, then the silhouette. For ``shader='silhouette'`` it is (N, H, W, 4), RGB repeating A.
    With ``return_fragments=True`` returns (image, fragments).
    """
    if isinstance(mesh, (list, tuple)):
        if len(mesh) != len(cams):
            raise ValueError(f"mesh: a list of meshes needs one per camera, got {len(mesh)} meshes and "
                             f"{len(cams)} cameras")
        outs = [render(m, cams[i], lights, rasterizer, shader, _bg_item(background, i, len(cams)), material,
                       return_fragments) for i, m in enumerate(mesh)]
        if return_fragments:
            return dp.concatenate([o[0] for o in outs], axis=0), [o[1] for o in outs]
        return dp.concatenate(outs, axis=0)
    if not callable(shader) and shader not in SHADERS:
        raise ValueError(f"shader: expected one of {SHADERS} or a callable (fragments, mesh, cams, lights) -> "
                         f"(P, C) colours, got {shader!r}")
    rasterizer = SoftRasterizer() if rasterizer is None else rasterizer
    _check(mesh, cams)
    screen = screen_triangles(mesh.verts, mesh.faces, cams)
    if shader == "silhouette" and not return_fragments and hasattr(rasterizer, "silhouette"):
        _check_background(background, cams, mesh.verts.dtype)
        if isinstance(rasterizer, SoftRasterizer):       # one fused op (RGBA) where the kernel set has it
            image = rasterizer.silhouette(screen, cams, channels=4)
            if image is not None:
                return image
        else:
            alpha = rasterizer.silhouette(screen, cams)
            if alpha is not None:
                return dp.concatenate([alpha, alpha, alpha, alpha], axis=-1)
    if shader in ("flat", "phong") and not return_fragments:
        bg = _check_background(background, cams, mesh.verts.dtype)
        image = lit_soft_render(screen, mesh, cams, light_list(lights), Material() if material is None else material,
                                shader, rasterizer, bg)                  # one fused op where the kernels allow
        if image is not None:
            return image
    if shader == "unlit" and not return_fragments:
        bg = _check_background(background, cams, mesh.verts.dtype)
        image = unlit_soft_render(screen, mesh, cams, rasterizer, bg)     # one fused op where the kernels allow
        if image is not None:
            return image
    frags = rasterizer.rasterize(screen, cams)
    if callable(shader):
        colors = _custom_colors(shader, frags, mesh, cams, lights)
    else:
        colors = shade(frags, mesh, cams, lights, shader, material)
    dtype = mesh.verts.dtype
    bg = _check_background(background, cams, dtype, 3 if colors is None else colors.shape[1])
    if colors is not None:
        colors = colors.astype(dtype) if colors.dtype != dtype else colors
    image = rasterizer.blend(frags, colors, bg, cams.znear, cams.zfar)
    if colors is None:
        image = dp.concatenate([image, image, image, image], axis=-1)
    return (image, frags) if return_fragments else image


def _bg_item(background, i, n):
    arr = background.data if type(background) is dp.Tensor else np.asarray(background)
    return background[i] if arr.ndim == 4 and arr.shape[0] == n else background


def _check(mesh, cams):
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh: expected a diffprog.render.Mesh (e.g. from load_mesh), got {type(mesh).__name__}")
    if not isinstance(cams, Cameras):
        raise TypeError(f"cams: expected Cameras (e.g. from look_at), got {type(cams).__name__}")
    check_finite_verts(mesh.verts.data)      # values written into mesh.verts after it was built


def _custom_colors(shader, fragments, mesh, cams, lights):
    name = getattr(shader, "__name__", type(shader).__name__)
    colors = shader(fragments, mesh, cams, lights)
    if colors is None:
        return None
    if type(colors) is not dp.Tensor:
        colors = dp.tensor(np.asarray(colors, dtype=mesh.verts.dtype))
    if colors.ndim != 2 or colors.shape[0] != len(fragments):
        raise ValueError(f"shader: {name} returned colours of shape {colors.shape}; expected ({len(fragments)}, C), "
                         f"one row per pixel-face pair")
    return colors


def _check_background(background, cams, dtype, channels=3):
    bg = background if type(background) is dp.Tensor else dp.tensor(np.asarray(background, dtype=dtype))
    h, w = cams.image_size
    c = channels
    ok = bg.shape in ((c,), (h, w, c), (len(cams), h, w, c))
    if not ok:
        kind = "an RGB colour" if c == 3 else "a colour"
        raise ValueError(f"background: expected {kind} ({c},) or an image ({h}, {w}, {c}) or "
                         f"({len(cams)}, {h}, {w}, {c}), got shape {bg.shape}")
    if not np.all(np.isfinite(bg.data)):
        raise ValueError("background: expected finite values")
    return bg
