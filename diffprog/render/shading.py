"""Shaders: per pixel-face pair colours from fragments, mesh attributes, lights and material.

Interpolation and texture sampling are small fused ops (gathers with bincount backward passes);
lighting is plain engine code over the (P, ...) pair arrays. All of it is differentiable with
respect to vertices, colours, UVs, texture, camera, lights and material. Shaders:

- ``silhouette``: no colour (the blend gives the coverage only);
- ``unlit``: the albedo alone (texture, vertex colours or white), no light, no normal;
- ``flat``: lighting with the face normal at each pixel's surface point;
- ``gouraud``: lighting evaluated at the vertices and interpolated;
- ``phong``: lighting per pixel with interpolated, renormalized vertex normals.

Lighting: ``albedo * (ambient + diffuse) + specular`` with ``ambient = material.ambient * sum of
light ambients``, ``diffuse = material.diffuse * sum color * max(n.l, 0)``, ``specular =
material.specular * sum color * max(r.v, 0) ** shininess`` (r: l reflected about n; zero where
n.l <= 0). Lighting is one-sided: surfaces facing away from a light get only ambient light.
The albedo is the bilinearly sampled texture, else the interpolated vertex colours, else white.
"""
import copy

import numpy as np

import diffprog.autodiff as dp
from . import kernels
from .fragments import Fragments
from .lights import DirectionalLight, Material, PointLight
from .mesh import _normalize, vertex_normals, face_normals
from .texture import sample_texture

SHADERS = ("silhouette", "unlit", "flat", "gouraud", "phong")


class Interpolate(dp.Function):
    """(values (V, C), bary (P, 3), index (P, 3)) -> (P, C) = sum_i bary_i values[index_i]."""

    @staticmethod
    def forward(ctx, values, bary, index):
        ctx.kernels, ctx.values, ctx.bary, ctx.index = kernels.active(), values, bary, index
        return ctx.kernels.interpolate(values, bary, index)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.interpolate_backward(ctx.values, ctx.bary, ctx.index, g) + (None,)


def _vertex_index(faces, fragments):
    """faces[fragments.parent], computed once per (fragments, faces) pair (shaders interpolate
    several attributes over the same faces)."""
    cache = fragments.__dict__.setdefault("_vertex_index", {})
    key = id(faces)
    if key not in cache or cache[key][0] is not faces:
        cache[key] = (faces, np.take(faces, fragments.parent, axis=0))     # np.take: ~3x a fancy index
    return cache[key][1]


def interpolate(values, faces, fragments, image=None):
    """Interpolate per-vertex ``values`` (V, C) — or per camera (N, V, C) with ``image`` the pairs'
    camera indices — over the fragments' faces with their barycentrics -> (P, C).
    One fused op: differentiable with respect to ``values`` and the barycentrics."""
    index = _vertex_index(faces, fragments)                           # (P, 3)
    if image is not None:
        index = index + (image * values.shape[1])[:, None]
        values = dp.reshape(values, (-1, values.shape[-1]))
    return Interpolate.apply(values, fragments.bary, index)


def albedo(mesh, fragments):
    """(P, 3) base colour of each pair."""
    for name in ("texture", "colors"):
        value = getattr(mesh, name)
        if value is not None and value.shape[-1] != 3:
            raise ValueError(f"mesh.{name}: shading needs RGB (3 channels), got shape {value.shape}")
    if mesh.texture is not None:
        uv = interpolate(mesh.uvs, mesh.face_uvs, fragments)
        return sample_texture(mesh.texture, uv)
    if mesh.colors is not None:
        return interpolate(mesh.colors, mesh.faces, fragments)
    return dp.ones((len(fragments), 3), dtype=mesh.verts.dtype)


def light_terms(lights, material, points, normals, view):
    """(ambient (3,), diffuse (P, 3), specular (P, 3)) from ``lights`` at ``points`` (P, 3)."""
    ambient = 0.0
    diffuse = 0.0
    specular = 0.0
    for light in lights:
        to_light, scale = light.to_light(points)
        ndotl = dp.sum(normals * to_light, axis=-1, keepdims=True)
        lit = ndotl.data > 0
        diffuse = diffuse + light.color * (dp.relu(ndotl) * scale)
        reflect = 2.0 * ndotl * normals - to_light
        rdotv = dp.where(lit, dp.relu(dp.sum(reflect * view, axis=-1, keepdims=True)), 0.0)
        specular = specular + light.color * (rdotv ** material.shininess * scale)
        ambient = ambient + light.ambient
    return material.ambient * ambient, material.diffuse * diffuse, material.specular * specular


def light_list(lights):
    """``lights`` (None: one white ``DirectionalLight``; a light; a list) as a validated list."""
    if lights is None:
        lights = [DirectionalLight(requires_grad=False)]
    elif not isinstance(lights, (list, tuple)):
        lights = [lights]
    lights = list(lights)
    if not lights or not all(isinstance(li, (DirectionalLight, PointLight)) for li in lights):
        raise TypeError(f"lights: expected a DirectionalLight, a PointLight or a non-empty list of them, "
                        f"got {lights!r}")
    return lights


SHADE_CHUNK = 1 << 15     # pairs lit per checkpointed block (bounds the memory of the shading graph)


def shade(fragments, mesh, cams, lights=None, shader="phong", material=None):
    """(P, 3) colour of each pair (None for ``shader='silhouette'``).

    Per-pair lighting (flat, Phong) runs in blocks of ``SHADE_CHUNK`` pairs, checkpointed: only
    the blocks' inputs are kept for the backward pass, which recomputes each block, so memory does
    not grow with the length of the shading code times the number of pairs."""
    if shader not in SHADERS:
        raise ValueError(f"shader: expected one of {SHADERS}, got {shader!r}")
    if shader == "silhouette":
        return None
    if shader == "unlit":
        return albedo(mesh, fragments)
    lights = light_list(lights)
    material = Material() if material is None else material
    h, w = cams.image_size
    image = None if shader != "gouraud" else fragments.pixel // (h * w)
    if shader == "gouraud":
        base = albedo(mesh, fragments)
        if len(fragments) == 0:
            return base
        vn = vertex_normals(mesh.verts, mesh.faces)                          # (V, 3)
        n_cam = len(cams)
        verts = dp.broadcast_to(mesh.verts, (n_cam,) + mesh.verts.shape)
        normals = dp.broadcast_to(vn, verts.shape)
        if cams.orthographic:
            view = dp.broadcast_to(cams.R[:, 2, None, :], verts.shape)
        else:
            view = _normalize(cams.centers[:, None, :] - verts)
        flat = lambda t: dp.reshape(t, (-1, 3))                              # noqa: E731
        amb, dif, spe = light_terms(lights, material, flat(verts), flat(normals), flat(view))
        shape = (n_cam, mesh.num_verts, 3)
        dif = interpolate(dp.reshape(dif, shape), mesh.faces, fragments, image)
        spe = interpolate(dp.reshape(spe, shape), mesh.faces, fragments, image)
        return base * (amb + dif) + spe
    if shader == "flat":
        normal_source = face_normals(mesh.verts, mesh.faces)                # (F, 3), indexed by parent
    else:
        normal_source = vertex_normals(mesh.verts, mesh.faces)              # (V, 3), interpolated
    view_source = cams.R[:, 2, :] if cams.orthographic else cams.centers     # (N, 3)
    if len(fragments) and getattr(kernels.active(), "light_pairs", None) is not None:
        return _lit_pairs_fused(fragments, mesh, normal_source, view_source, lights, material, shader == "phong",
                                cams.orthographic)
    base = albedo(mesh, fragments)                   # fused ops with small residuals: outside the blocks
    image = fragments.pixel // (h * w)
    objects = lights + [material]
    fields = [(i, k) for i, o in enumerate(objects) for k, v in vars(o).items() if type(v) is dp.Tensor]
    values = [getattr(objects[i], k) for i, k in fields]

    P = len(fragments)
    parent = fragments.parent

    def run(start, stop, bary, base_, verts, normal_src, view_src, *vals):
        copies = [copy.copy(o) for o in objects]
        for (i, k), v in zip(fields, vals):
            setattr(copies[i], k, v)
        frag = Fragments(None, None, parent[start:stop], None, bary, None, fragments.image_shape)
        return _lit_pairs(frag, base_, verts, mesh.faces, normal_src, view_src, image[start:stop], copies[:-1],
                          copies[-1], shader, cams.orthographic)
    args = [fragments.bary, base, mesh.verts, normal_source, view_source] + values
    if P <= SHADE_CHUNK:
        return run(0, P, *args)
    return _chunked(run, P, args)


class CheckpointedBlocks(dp.Function):
    """``run(start, stop, *arrays)`` over blocks ``bounds`` of pairs as one recorded op: the forward
    keeps only the inputs; the backward recomputes each block with its own small graph and writes
    the blocks' cotangents into place (the first two arrays are per pair and are sliced; the others
    are shared)."""

    @staticmethod
    def forward(ctx, run, bounds, *arrays):
        ctx.run, ctx.bounds, ctx.arrays = run, bounds, arrays
        with dp.no_grad():
            outs = [run(a, b, arrays[0][a:b], arrays[1][a:b], *arrays[2:]).data for a, b in bounds]
        return np.concatenate(outs, axis=0)

    @staticmethod
    def backward(ctx, g):
        arrays, needs = ctx.arrays, ctx.needs_input_grad[2:]
        grads = [np.zeros_like(x) if n else None for x, n in zip(arrays, needs)]
        for a, b in ctx.bounds:
            leaves = [dp.tensor(x[a:b] if i < 2 else x, requires_grad=n)
                      for i, (x, n) in enumerate(zip(arrays, needs))]
            with dp.enable_grad():
                out = ctx.run(a, b, *leaves)
                if out.requires_grad:
                    out.backward(g[a:b])
            for i, leaf in enumerate(leaves):
                if grads[i] is not None and leaf.grad is not None:
                    if i < 2:
                        grads[i][a:b] += leaf.grad
                    else:
                        grads[i] += leaf.grad
        return (None, None) + tuple(grads)


def _chunked(run, P, args):
    bounds = [(a, min(a + SHADE_CHUNK, P)) for a in range(0, P, SHADE_CHUNK)]
    return CheckpointedBlocks.apply(run, bounds, *args)


class LitPairs(dp.Function):
    """Fused per-pair lighting with the interpolation of its inputs (compiled kernel set):
    (base, bary, verts, normal_source, view_source, light vectors, light colours, ambient, diffuse,
    specular, shininess, options) -> (P, 3); see ``kernels.numba_shading``."""

    @staticmethod
    def forward(ctx, base, bary, verts, normal_source, view_source, vec, color, ambient, diffuse, specular,
                shininess, options):
        ctx.kernels = kernels.active()
        ctx.arrays = (base, bary, verts, normal_source, view_source, vec, color, ambient, diffuse, specular, shininess)
        ctx.options = options
        colors, ctx.state = ctx.kernels.light_pairs(*_kernel_args(ctx.arrays, options), shininess)
        return colors

    @staticmethod
    def backward(ctx, g):
        shininess = ctx.arrays[-1]
        grads = ctx.kernels.light_pairs_backward(*_kernel_args(ctx.arrays, ctx.options), shininess, ctx.state, g,
                                                 need_shininess=ctx.needs_input_grad[10])
        return tuple(None if not need else gr.astype(x.dtype, copy=False).reshape(x.shape)
                     for gr, x, need in zip(grads, ctx.arrays, ctx.needs_input_grad)) + (None,)


def _kernel_args(arrays, options):
    base, bary, verts, normal_source, view_source, vec, color, ambient, diffuse, specular, _ = arrays
    faces, parent, pixel, hw, phong, base_mode, orthographic, kind, attenuation = options
    return (base, bary, faces, parent, pixel, hw, verts, normal_source, phong, base_mode, view_source, orthographic,
            kind, vec, color, attenuation, ambient, diffuse, specular)


def _lit_pairs_fused(fragments, mesh, normal_source, view_source, lights, material, phong, orthographic):
    """The same colours as ``albedo`` and ``_lit_pairs`` from one compiled kernel that also
    interpolates the points, normals and vertex colours (the light and material parameters are
    gathered into small arrays by engine code, so their gradients flow)."""
    if mesh.texture is not None:
        base, base_mode = albedo(mesh, fragments), 0
    else:
        base, base_mode = vertex_albedo(mesh)
    tensors, (kind, attenuation) = light_arrays(lights, material)
    n, h, w = fragments.image_shape
    options = (mesh.faces, fragments.parent, fragments.pixel, h * w, bool(phong), base_mode, bool(orthographic), kind,
               attenuation)
    return LitPairs.apply(base, fragments.bary, mesh.verts, normal_source, view_source, *tensors, options)


def vertex_albedo(mesh):
    """(base, mode) of an untextured mesh for the compiled lighting: its vertex colours (mode 1)
    or white (a (1, 3) constant, mode 2)."""
    if mesh.colors is None:
        return dp.ones((1, 3), dtype=mesh.verts.dtype), 2
    if mesh.colors.shape[-1] != 3:
        raise ValueError(f"mesh.colors: shading needs RGB (3 channels), got shape {mesh.colors.shape}")
    return mesh.colors, 1


def light_arrays(lights, material):
    """The lights and material as the compiled lighting takes them: Tensors (light vectors (L, 3),
    colours (L, 3), ambient, diffuse, specular (3,), shininess ()) made by engine code (so their
    gradients flow) and constant arrays (kind (L,), attenuation (L, 3))."""
    vec = dp.stack([l.position if isinstance(l, PointLight) else -l.direction / dp.norm(l.direction)
                    for l in lights])
    color = dp.stack([dp.broadcast_to(l.color, (3,)) for l in lights])
    ambient = 0.0
    for light in lights:
        ambient = ambient + light.ambient
    kind = np.array([isinstance(l, PointLight) for l in lights], dtype=np.int64)
    attenuation = np.array([[1.0, 0.0, 0.0] if getattr(l, "attenuation", None) is None else l.attenuation.data
                            for l in lights], dtype=np.float64)
    tensors = (vec, color, dp.broadcast_to(material.ambient * ambient, (3,)), dp.broadcast_to(material.diffuse, (3,)),
               dp.broadcast_to(material.specular, (3,)), dp.reshape(material.shininess, ()))
    return tensors, (kind, attenuation)


def _lit_pairs(fragments, base, verts, faces, normal_source, view_source, image, lights, material, shader,
               orthographic):
    """Lit colours (P, 3) of pairs: base * (ambient + diffuse) + specular at each pair's point."""
    if len(fragments) == 0:
        return base
    points = interpolate(verts, faces, fragments)
    if shader == "flat":
        normals = normal_source[fragments.parent]
    else:
        normals = _normalize(interpolate(normal_source, faces, fragments))
    view = view_source[image] if orthographic else _normalize(view_source[image] - points)
    amb, dif, spe = light_terms(lights, material, points, normals, view)
    return base * (amb + dif) + spe
