"""Near-plane clipping: mesh faces seen by N cameras -> screen triangles.

Each camera's faces are clipped against the plane ``depth = znear``: faces fully in front are kept,
faces fully behind are dropped, and a face straddling the plane becomes one or two triangles whose
new vertices lie on the plane (their positions are differentiable, including where along the edge
they fall). Each screen triangle remembers its image, its parent mesh face and the barycentric
coordinates of its corners over the parent's vertices, so fragments map back to mesh attributes.
"""
import numpy as np

import diffprog.autodiff as dp
from . import kernels
from .camera import _sum_to, look_at_values, look_at_vjp


class ProjectTriangles(dp.Function):
    """(verts (V, 3) or (N, V, 3), R (N, 3, 3), T (N, 3), focal (N, 2), principal point (N, 2),
    (camera (K,), vertex index (K, 3), perspective)) -> (K, 3, 3) screen triangles, as one op
    (compiled kernel set; reference: the engine code of ``screen_triangles``)."""

    @staticmethod
    def forward(ctx, verts, R, T, focal, center, options):
        ctx.kernels, ctx.inputs, ctx.options = kernels.active(), (verts, R, T, focal, center), options
        return ctx.kernels.project_triangles(verts, R, T, focal, center, *options)

    @staticmethod
    def backward(ctx, g):
        grads = ctx.kernels.project_triangles_backward(*ctx.inputs, *ctx.options, g)
        return tuple(gr.astype(x.dtype, copy=False) if need else None
                     for gr, x, need in zip(grads, ctx.inputs, ctx.needs_input_grad)) + (None,)


class ProjectLookAt(dp.Function):
    """``ProjectTriangles`` of ``look_at`` cameras from their leaves: (verts, eye, at, up, fov or
    height, principal point (2,) or (N, 2), (cameras, camera index (K,), vertex index (K, 3),
    perspective)) -> (K, 3, 3) screen triangles, as one op: the rotations, translations and focal
    lengths are derived inside (``camera.look_at_values``, the engine code's arithmetic on arrays)
    and differentiated by hand (``camera.look_at_vjp``) instead of some forty recorded small ops
    per render (reference: the engine code of ``look_at`` and ``screen_triangles``)."""

    @staticmethod
    def forward(ctx, verts, eye, at, up, lens, center, options):
        cams, image, index, perspective, (R, T, f, ctx.look) = options
        ctx.dtypes = tuple(np.asarray(a).dtype for a in (eye, at, up, lens))
        c = np.broadcast_to(np.reshape(center, (-1, 2)), (cams.n, 2))
        ctx.kernels, ctx.options = kernels.active(), (cams.orthographic, image, index, perspective)
        ctx.inputs = (verts, R, T, f, c)
        ctx.center_shape = np.shape(center)
        return ctx.kernels.project_triangles(verts, R, T, f, c, image, index, perspective)

    @staticmethod
    def backward(ctx, g):
        orthographic, image, index, perspective = ctx.options
        verts = ctx.inputs[0]
        g_v, g_R, g_T, g_f, g_c = ctx.kernels.project_triangles_backward(*ctx.inputs, image, index, perspective, g)
        needs = ctx.needs_input_grad
        look = look_at_vjp(ctx.look, orthographic, g_R, g_T, g_f) if any(needs[1:5]) else (None,) * 4
        g_c = _sum_to(g_c, (1, 2) if len(ctx.center_shape) == 1 else ctx.center_shape).reshape(ctx.center_shape)
        look = tuple(None if gr is None else gr.astype(dt, copy=False) for gr, dt in zip(look, ctx.dtypes))
        grads = (g_v.astype(verts.dtype, copy=False),) + look + (g_c,)
        return tuple(gr if need else None for gr, need in zip(grads, needs)) + (None,)


class ScreenTriangles:
    """tri: (M, 3, 3) Tensor (x pixel, y pixel, depth); image: (M,) camera index; parent: (M,)
    mesh face index; corners: (M, 3, 3) Tensor or None (row i: barycentrics of corner i over
    the parent's vertices; None means the identity for every triangle)."""

    def __init__(self, tri, image, parent, corners):
        self.tri, self.image, self.parent, self.corners = tri, image, parent, corners

    def __len__(self):
        return len(self.image)


def screen_triangles(verts, faces, cams):
    """verts: (V, 3) Tensor (one mesh for all cameras) or (N, V, 3); faces (F, 3); cams: N cameras."""
    if getattr(kernels.active(), "project_triangles", None) is not None:
        fused = _fused_screen_triangles(verts, faces, cams)
        if fused is not None:
            return fused
    camera = cams._parts()                               # (R, T, focal, principal point), derived once
    n, f = len(cams), len(faces)
    view = cams.world_to_view(verts, camera)             # (N, V, 3)
    in_front = -view.data[..., 2] > cams.znear           # (N, V)
    front = in_front[:, faces]                           # (N, F, 3)
    count = front[..., 0].view(np.uint8) + front[..., 1].view(np.uint8) + front[..., 2].view(np.uint8)
    keep = count == 3
    clip1, clip2 = count == 1, count == 2
    img, par = np.nonzero(keep)
    # faces fully in front: their vertices projected once, then gathered by one integer index
    # (whose backward is a fast scatter-add): the same values as projecting each corner
    corner_index = (img * view.shape[1])[:, None] + faces[par]                # (K, 3) into (N * V)
    used = np.zeros(view.shape[0] * view.shape[1], dtype=bool)
    used[corner_index] = True
    screen = dp.reshape(_project_vertices(view, cams, camera, used.reshape(view.shape[:2])), (-1, 3))
    tri_keep = screen[corner_index]                                           # (K, 3, 3)
    parts = []
    images, parents = [img], [par]
    corner_parts = []
    if clip1.any() or clip2.any():
        corner_parts.append(np.broadcast_to(np.eye(3), (len(img), 3, 3)))
        for mask, n_front in ((clip1, 1), (clip2, 2)):
            if not mask.any():
                continue
            ci, cf = np.nonzero(mask)
            fr = front[ci, cf]                           # (C, 3) which corners are in front
            # rotate each face's corners so that the lone vertex (in front for n_front=1, behind for 2) is first
            lone = np.argmax(fr if n_front == 1 else ~fr, axis=1)
            order = (lone[:, None] + np.arange(3)) % 3   # keeps the winding
            idx = faces[cf][np.arange(len(cf))[:, None], order]
            vv = view[ci[:, None], idx]                  # (C, 3, 3)
            zz = -vv[..., 2]
            a, b, c = vv[:, 0], vv[:, 1], vv[:, 2]
            za, zb, zc = zz[:, 0], zz[:, 1], zz[:, 2]
            tb = (za - cams.znear) / (za - zb)           # position of the plane along a -> b
            tc = (za - cams.znear) / (za - zc)
            pb = a + tb[:, None] * (b - a)
            pc = a + tc[:, None] * (c - a)
            eye3 = np.eye(3)
            rows = np.arange(len(cf))
            ea = dp.tensor(np.broadcast_to(eye3[0], (len(cf), 3)))
            wb = ea * (1.0 - tb[:, None]) + tb[:, None] * eye3[1]
            wc = ea * (1.0 - tc[:, None]) + tc[:, None] * eye3[2]
            perm = np.zeros((len(cf), 3, 3))
            perm[rows[:, None], np.arange(3), order] = 1.0   # corner over rotated -> over original
            if n_front == 1:                             # triangle (a, pb, pc)
                parts.append(dp.stack([a, pb, pc], axis=1))
                corner = dp.stack([ea, wb, wc], axis=1)
                corner_parts.append(dp.matmul(corner, perm))
                images.append(ci)
                parents.append(cf)
            else:                                        # quad (pb, b, c, pc) -> (pb, b, c), (pb, c, pc)
                eb = np.broadcast_to(eye3[1], (len(cf), 3))
                ec = np.broadcast_to(eye3[2], (len(cf), 3))
                parts.append(dp.stack([pb, b, c], axis=1))
                parts.append(dp.stack([pb, c, pc], axis=1))
                corner_parts.append(dp.matmul(dp.stack([wb, eb, ec], axis=1), perm))
                corner_parts.append(dp.matmul(dp.stack([wb, ec, wc], axis=1), perm))
                images += [ci, ci]
                parents += [cf, cf]
    image = np.concatenate(images)
    parent = np.concatenate(parents)
    corners = None
    tri = tri_keep
    if corner_parts:
        corners = dp.concatenate([c if hasattr(c, "data") else dp.tensor(np.ascontiguousarray(c))
                                  for c in corner_parts], axis=0)
        clipped = dp.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        tri = dp.concatenate([tri_keep, _project(clipped, image[len(img):], cams, camera)], axis=0)
    dtype = np.asarray(verts.data if hasattr(verts, "data") else verts).dtype
    if dtype == np.float32:                              # float32 meshes rasterize in float32
        tri = dp.astype(tri, np.float32)
        corners = None if corners is None else dp.astype(corners, np.float32)
    return ScreenTriangles(tri, image, parent, corners)


def _fused_screen_triangles(verts, faces, cams):
    """``screen_triangles`` as one compiled op when every face is in front of the near plane or
    behind the eye (no face to clip), else None. ``look_at`` cameras (of the usual shapes, not a
    sub-batch) are derived from their leaves inside the op (``ProjectLookAt``)."""
    look = cams._look is not None and cams._index is None and cams.center.ndim <= 2
    if look:
        values = look_at_values(cams)
        R, T = values[:2]
    else:
        camera = cams._parts()
        R, T = camera[0].data, camera[1].data
    v = verts.data
    depth = -(np.einsum("nj,vj->nv" if v.ndim == 2 else "nj,nvj->nv", R[:, 2], v) + T[:, 2, None])      # (N, V)
    in_front = depth > cams.znear                        # (N, V)
    if in_front.all():                                   # every face of every camera (np.nonzero's order)
        n, f = in_front.shape[0], len(faces)
        img, par = np.repeat(np.arange(n), f), np.tile(np.arange(f), n)
        index = faces if n == 1 else faces[par]
    else:
        front = in_front[:, faces]                       # (N, F, 3)
        count = front[..., 0].view(np.uint8) + front[..., 1].view(np.uint8) + front[..., 2].view(np.uint8)
        if ((count == 1) | (count == 2)).any():
            return None
        img, par = np.nonzero(count == 3)
        index = faces[par]
    if look:
        tri = ProjectLookAt.apply(verts, *cams._look, cams.center, (cams, img, index, not cams.orthographic, values))
    else:
        tri = ProjectTriangles.apply(verts, camera[0], camera[1], camera[2], camera[3],
                                     (img, index, not cams.orthographic))
    if v.dtype == np.float32:                            # float32 meshes rasterize in float32
        tri = dp.astype(tri, np.float32)
    return ScreenTriangles(tri, img, par, None)


def _project_vertices(view, cams, camera, used):
    """(N, V, 3) view-space vertices of the N cameras -> (N, V, 3) screen vertices (``_project``'s
    arithmetic, per vertex); vertices not ``used`` (N, V) are divided by depth 1 instead of theirs
    (they may sit on the eye plane), so their values and gradients stay finite."""
    divisor = None if cams.orthographic else dp.where(used, -view[..., 2], 1.0)
    return _to_screen(view, divisor, camera[2][:, None, :], camera[3][:, None, :])


def _project(tri_view, image, cams, camera):
    """(M, 3, 3) view-space triangles of cameras ``image`` -> (M, 3, 3) screen triangles; ``camera``:
    the cameras' (R, T, focal, principal point)."""
    divisor = None if cams.orthographic else -tri_view[..., 2]
    return _to_screen(tri_view, divisor, camera[2][image][:, None, :], camera[3][image][:, None, :])


def _to_screen(view, divisor, f, c):
    """(x pixel, y pixel, depth) of view-space points: x, y over ``divisor`` (their depth; None for
    orthographic), scaled by the focal lengths ``f`` and shifted by the principal points ``c``."""
    depth = -view[..., 2]
    xy = view[..., :2]
    if divisor is not None:
        xy = xy / divisor[..., None]
    x = c[..., 0] + f[..., 0] * xy[..., 0]
    y = c[..., 1] - f[..., 1] * xy[..., 1]
    return dp.stack([x, y, depth], axis=-1)
