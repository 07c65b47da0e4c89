"""Shaders: per pixel-face pair colours from fragments, mesh attributes, lights and material.

Everything here is plain engine code over the (P, ...) pair arrays, so it is differentiable with
respect to vertices, colours, UVs, texture, camera, lights and material. Shaders:

- ``silhouette``: no colour (the blend gives the coverage only);
- ``flat``: lighting with the face normal at each pixel's surface point;
- ``gouraud``: lighting evaluated at the vertices and interpolated;
- ``phong``: lighting per pixel with interpolated, renormalized vertex normals.

Lighting: ``albedo * (ambient + diffuse) + specular`` with ``ambient = material.ambient * sum of
light ambients``, ``diffuse = material.diffuse * sum color * max(n.l, 0)``, ``specular =
material.specular * sum color * max(r.v, 0) ** shininess`` (r: l reflected about n; zero where
n.l <= 0). Lighting is one-sided: surfaces facing away from a light get only ambient light.
The albedo is the bilinearly sampled texture, else the interpolated vertex colours, else white.
"""
import numpy as np

import diffprog.autodiff as dp
from .lights import DirectionalLight, Material
from .mesh import _normalize, vertex_normals, face_normals
from .texture import sample_texture

SHADERS = ("silhouette", "flat", "gouraud", "phong")


def _scatter_rows(index, rows, size):
    """sum of ``rows`` (K, C) into ``size`` rows by ``index`` (K,): one bincount per channel."""
    out = np.empty((size, rows.shape[1]), dtype=rows.dtype)
    for c in range(rows.shape[1]):
        out[:, c] = np.bincount(index, weights=rows[:, c], minlength=size)
    return out


def interpolate(values, faces, fragments, image=None):
    """Interpolate per-vertex ``values`` (V, C) — or per camera (N, V, C) with ``image`` the pairs'
    camera indices — over the fragments' faces with their barycentrics -> (P, C).
    One fused op: differentiable with respect to ``values`` and the barycentrics."""
    shape = values.shape
    idx = faces[fragments.parent]                                   # (P, 3)
    if image is not None:
        idx = idx + (image * shape[1])[:, None]
        values = dp.reshape(values, (-1, shape[-1]))
    size = values.shape[0]

    class _Interpolate(dp.Function):
        @staticmethod
        def forward(ctx, vals, bary):
            ctx.vals, ctx.bary = vals, bary
            return np.einsum("pi,pic->pc", bary, vals[idx])

        @staticmethod
        def backward(ctx, g):
            vals, bary = ctx.vals, ctx.bary
            g_vals = _scatter_rows(idx.T.ravel(), (bary.T[:, :, None] * g[None]).reshape(-1, g.shape[1]), size)
            g_bary = np.stack([np.einsum("pc,pc->p", g, vals[idx[:, i]]) for i in range(3)], axis=1)
            return g_vals, g_bary

    return _Interpolate.apply(values, fragments.bary)


def albedo(mesh, fragments):
    """(P, C) base colour of each pair."""
    if mesh.texture is not None:
        uv = interpolate(mesh.uvs, mesh.face_uvs, fragments)
        return sample_texture(mesh.texture, uv)
    if mesh.colors is not None:
        return interpolate(mesh.colors, mesh.faces, fragments)
    return dp.ones((len(fragments), 3), dtype=mesh.verts.dtype)


def _view_dirs(cams, points, image):
    """Unit vectors from surface points towards the camera of each point."""
    if cams.orthographic:
        return cams.R[image][:, 2, :]
    return _normalize(cams.centers[image] - points)


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


def shade(fragments, mesh, cams, lights=None, shader="phong", material=None):
    """(P, 3) colour of each pair (None for ``shader='silhouette'``)."""
    if shader not in SHADERS:
        raise ValueError(f"shader: expected one of {SHADERS}, got {shader!r}")
    if shader == "silhouette":
        return None
    if lights is None:
        lights = [DirectionalLight(requires_grad=False)]
    elif not isinstance(lights, (list, tuple)):
        lights = [lights]
    material = Material() if material is None else material
    h, w = cams.image_size
    image = fragments.pixel // (h * w)
    base = albedo(mesh, fragments)
    if len(fragments) == 0:
        return base
    if shader == "gouraud":
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
        dif = interpolate(dp.reshape(dif + 0.0 * flat(verts), shape), mesh.faces, fragments, image)
        spe = interpolate(dp.reshape(spe + 0.0 * flat(verts), shape), mesh.faces, fragments, image)
        return base * (amb + dif) + spe
    points = interpolate(mesh.verts, mesh.faces, fragments)
    if shader == "flat":
        normals = face_normals(mesh.verts, mesh.faces)[fragments.parent]
    else:
        normals = _normalize(interpolate(vertex_normals(mesh.verts, mesh.faces), mesh.faces, fragments))
    view = _view_dirs(cams, points, image)
    amb, dif, spe = light_terms(lights, material, points, normals, view)
    return base * (amb + dif) + spe
