"""A lit soft render as one recorded op (compiled kernel set): search, lighting and blend.

``render(mesh, cams, shader='flat' | 'phong')`` with the soft rasterizer gives the same image as
rasterizing into ``Fragments``, shading them and blending; when the kernel set has the compiled
lighting, the mesh has no texture, no face straddles the near plane and every face counts
(``faces_per_pixel=None``), it runs the same kernels in one ``dp.Function`` instead: the pairs'
geometry, colours and blend residuals stay inside the op, so the tape records one node for them
and their backward passes run back to back (no per-pair cotangents through the engine).
"""
import numpy as np

import diffprog.autodiff as dp
from . import kernels
from .mesh import face_normals, vertex_normals
from .rasterize_soft import SoftRasterizer
from .shading import light_arrays, vertex_albedo


class FusedLitRender(dp.Function):
    """(tri, base, verts, normal_source, view_source, light vectors, light colours, ambient, diffuse,
    specular, shininess, background, options) -> (npix, 4) blended colours and silhouette."""

    @staticmethod
    def forward(ctx, tri, base, verts, normal_source, view_source, vec, color, ambient, diffuse, specular, shininess,
                background, options):
        k = ctx.kernels = kernels.active()
        (image, parent_of, faces, height, width, radius, cull, scale, perspective, npix, sigma, gamma, znear, zfar,
         phong, base_mode, orthographic, kind, attenuation) = options
        pixel, face, dist, bary, depth, saved = k.search_pairs(tri, image, height, width, radius, cull, scale,
                                                               perspective, False)
        if hasattr(k, "scratch"):                        # into a reused buffer ('clip': valid indices, fast path)
            parent = np.take(parent_of, face, out=k.scratch("parent", len(face), np.int64), mode="clip")
        else:
            parent = parent_of[face]
        lighting = (faces, parent, pixel, height * width, verts, normal_source, phong, base_mode,
                    view_source, orthographic, kind, vec, color, attenuation, ambient, diffuse, specular)
        colors, state = k.light_pairs(base, bary, *lighting, shininess)
        colors = colors.astype(tri.dtype, copy=False)
        out, res = k.blend_forward(dist, depth, colors, background, pixel, npix, sigma, gamma, znear, zfar)
        ctx.saved = (tri, base, bary, pixel, face, saved, lighting, shininess, state, colors, background, res,
                     options)
        ctx.inputs = (tri, base, verts, normal_source, view_source, vec, color, ambient, diffuse, specular, shininess,
                      background)
        return out

    @staticmethod
    def backward(ctx, g):
        k = ctx.kernels
        tri, base, bary, pixel, face, saved, lighting, shininess, state, colors, background, res, options = ctx.saved
        height, width, scale, perspective = options[3], options[4], options[7], options[8]
        sigma, gamma, znear, zfar = options[10:14]
        g_dist, g_depth, g_colors, g_bg = k.blend_backward(res, g, colors, background, pixel, sigma, gamma, znear,
                                                           zfar, background.ndim > 1)
        needs = ctx.needs_input_grad
        lit = k.light_pairs_backward(base, bary, *lighting, shininess, state, g_colors, need_shininess=needs[10])
        g_base, g_bary, rest = lit[0], lit[1], lit[2:]
        g_tri = None
        if needs[0]:
            g_tri = k.pair_geometry_backward(tri, pixel, face, height, width, scale, perspective, g_dist, g_bary,
                                             g_depth, saved)              # one pass: distances from ``saved``
        inputs = ctx.inputs
        grads = (g_tri, g_base) + tuple(rest) + (g_bg,)
        return tuple(None if gr is None or not need else np.asarray(gr).astype(x.dtype, copy=False).reshape(x.shape)
                     for gr, x, need in zip(grads, inputs, needs)) + (None,)


class VertexNormals(dp.Function):
    """verts (V, 3) -> (V, 3) area-weighted unit vertex normals over ``faces`` as one op (compiled
    kernel set; reference: ``mesh.vertex_normals``, engine code)."""

    @staticmethod
    def forward(ctx, verts, faces):
        ctx.kernels, ctx.dtype = kernels.active(), verts.dtype
        out, ctx.saved = ctx.kernels.vertex_normals(verts, faces)
        return out.astype(verts.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.vertex_normals_backward(ctx.saved, g).astype(ctx.dtype, copy=False), None


def lit_soft_render(screen, mesh, cams, lights, material, shader, rasterizer, background):
    """(N, H, W, 4) image of ``render`` for the 'flat' and 'phong' shaders as one op, or None where
    the composed path must run (see the module doc). ``lights``: a validated list; ``background``:
    a Tensor (C,), (H, W, C) or (N, H, W, C)."""
    active = kernels.active()
    if (shader not in ("flat", "phong") or type(rasterizer) is not SoftRasterizer
            or rasterizer.faces_per_pixel is not None or screen.corners is not None or mesh.texture is not None
            or getattr(active, "light_pairs", None) is None or getattr(active, "search_pairs", None) is None):
        return None
    phong = shader == "phong"
    if not phong:
        normal_source = face_normals(mesh.verts, mesh.faces)
    elif getattr(active, "vertex_normals", None) is not None and mesh.verts.ndim == 2:
        normal_source = VertexNormals.apply(mesh.verts, mesh.faces)
    else:
        normal_source = vertex_normals(mesh.verts, mesh.faces)
    view_source = cams.R[:, 2, :] if cams.orthographic else cams.centers
    base, base_mode = vertex_albedo(mesh)
    tensors, (kind, attenuation) = light_arrays(lights, material)
    bg, options = _blend_inputs(screen, mesh, cams, rasterizer, background)
    options += (phong, base_mode, bool(cams.orthographic), kind, attenuation)
    out = FusedLitRender.apply(screen.tri, base, mesh.verts, normal_source, view_source, *tensors, bg, options)
    return dp.reshape(out, (len(cams),) + tuple(cams.image_size) + (4,))


def _blend_inputs(screen, mesh, cams, rasterizer, background):
    """The background as (npix, C) (or (C,)) and the options the fused ops share: (image, parent,
    faces, height, width, radius in pixels, cull, scale, perspective, npix, sigma, gamma, znear, zfar)."""
    n, (h, w) = len(cams), cams.image_size
    npix = n * h * w
    bg = background
    if bg.ndim > 1:
        bg = dp.reshape(dp.broadcast_to(bg, (n, h, w, bg.shape[-1])), (npix, bg.shape[-1]))
    options = (screen.image, screen.parent, mesh.faces, h, w, rasterizer.radius / cams.ndc_per_pixel,
               rasterizer.cull_backfaces, float(cams.ndc_per_pixel), not cams.orthographic, npix, rasterizer.sigma,
               rasterizer.gamma, float(cams.znear), float(cams.zfar))
    return bg, options


class FusedUnlitRender(dp.Function):
    """(tri, vertex colours, background, options) -> (npix, C + 1) blended colours and silhouette:
    the 'unlit' shader's soft render (search, interpolation of the vertex colours, blend) as one
    op, the same kernels as the composed path run back to back."""

    @staticmethod
    def forward(ctx, tri, colors, background, options):
        k = ctx.kernels = kernels.active()
        image, parent_of, faces, height, width, radius, cull, scale, perspective, npix, sigma, gamma, znear, zfar = options
        pixel, face, dist, bary, depth, saved = k.search_pairs(tri, image, height, width, radius, cull, scale,
                                                               perspective, False)
        index = np.take(faces, np.take(parent_of, face), axis=0)            # (P, 3) vertices of each pair's face
        values = k.interpolate(colors, bary, index).astype(tri.dtype, copy=False)
        out, res = k.blend_forward(dist, depth, values, background, pixel, npix, sigma, gamma, znear, zfar)
        ctx.saved = (tri, colors, bary, index, pixel, face, saved, values, background, res, options)
        return out

    @staticmethod
    def backward(ctx, g):
        k = ctx.kernels
        tri, colors, bary, index, pixel, face, saved, values, background, res, options = ctx.saved
        height, width, scale, perspective = options[3], options[4], options[7], options[8]
        sigma, gamma, znear, zfar = options[10:14]
        g_dist, g_depth, g_values, g_bg = k.blend_backward(res, g, values, background, pixel, sigma, gamma, znear,
                                                           zfar, background.ndim > 1)
        needs = ctx.needs_input_grad
        g_colors, g_bary = k.interpolate_backward(colors, bary, index, g_values)
        g_tri = None
        if needs[0]:
            g_tri = k.pair_geometry_backward(tri, pixel, face, height, width, scale, perspective, g_dist, g_bary,
                                             g_depth, saved)
        grads = (g_tri, g_colors, g_bg)
        return tuple(None if gr is None or not need else np.asarray(gr).astype(x.dtype, copy=False).reshape(x.shape)
                     for gr, x, need in zip(grads, (tri, colors, background), needs)) + (None,)


def unlit_soft_render(screen, mesh, cams, rasterizer, background):
    """(N, H, W, 4) image of ``render(..., shader='unlit')`` as one op, or None where the composed
    path must run: the conditions of ``lit_soft_render``, and the mesh has vertex colours (V, 3)."""
    active = kernels.active()
    colors = mesh.colors
    if (type(rasterizer) is not SoftRasterizer or rasterizer.faces_per_pixel is not None
            or screen.corners is not None or mesh.texture is not None or colors is None or colors.ndim != 2
            or colors.shape[-1] != 3 or getattr(active, "search_pairs", None) is None):
        return None
    bg, options = _blend_inputs(screen, mesh, cams, rasterizer, background)
    out = FusedUnlitRender.apply(screen.tri, colors, bg, options)
    return dp.reshape(out, (len(cams),) + tuple(cams.image_size) + (4,))
