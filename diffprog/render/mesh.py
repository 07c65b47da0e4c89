"""``Mesh``: a triangle mesh with optional per-vertex colours or a UV-mapped texture.

Vertices, colours, UVs and texture are Tensors (differentiable); faces are a plain integer array.
Normals are computed with engine operations, so they are differentiable with respect to the
vertices. Convention: a face's normal follows the right-hand rule over its vertex order
(counter-clockwise seen from the front), and vertex normals are area-weighted sums of face normals.
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import Primitive, apply


def _as_tensor(x, name, requires_grad, dtype=None):
    if x is None:
        return None
    if type(x) is Tensor:
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected numbers, got dtype {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype.kind == "f" else np.float64
    return dp.tensor(arr.astype(dtype), requires_grad=requires_grad)


def check_finite_verts(v):
    """Raise ValueError naming the first vertex of ``v`` (V, 3) that is not finite."""
    if not np.all(np.isfinite(v)):
        bad = int(np.argwhere(~np.isfinite(v))[0, 0])
        raise ValueError(f"verts: vertex {bad} is not finite ({v[bad].tolist()}); expected finite numbers")


def check_faces(faces, num_verts, name="faces"):
    """Return ``faces`` as an (F, 3) int64 array, raising ValueError on bad shape or indices."""
    arr = np.asarray(faces.data if type(faces) is Tensor else faces)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name}: expected an (F, 3) array of triangle vertex indices, got shape {arr.shape}"
                         + (" (only triangles are supported: triangulate first)" if arr.ndim == 2 else ""))
    if arr.size and arr.dtype.kind not in "iu":
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name}: expected integer vertex indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= num_verts):
        bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
        raise ValueError(f"{name}: vertex index {bad} out of range for {num_verts} vertices "
                         f"(expected 0 <= index < {num_verts})")
    return arr


class Mesh:
    """A triangle mesh.

    verts: (V, 3) float Tensor; faces: (F, 3) int array; colors: optional (V, C) Tensor (usually
    RGB in [0, 1]); uvs: optional (T, 2) Tensor of texture coordinates (u right, v up, in [0, 1])
    with face_uvs: (F, 3) int array indexing uvs (defaults to ``faces`` when uvs has one row per
    vertex); texture: optional (H, W, C) Tensor, row 0 at the top.

    Plain arrays given here become leaf Tensors with ``requires_grad`` (default True), so that a
    loss's ``backward`` fills ``mesh.verts.grad`` etc.; Tensors are kept as given.
    """

    def __init__(self, verts, faces, colors=None, uvs=None, face_uvs=None, texture=None, requires_grad=True):
        self.verts = _as_tensor(verts, "verts", requires_grad)
        v = self.verts.data
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"verts: expected a (V, 3) array of vertex positions, got shape {v.shape}")
        if v.shape[0] == 0:
            raise ValueError("verts: the mesh is empty (0 vertices); expected at least 3 vertices")
        check_finite_verts(v)
        self.faces = check_faces(faces, v.shape[0])
        if self.faces.shape[0] == 0:
            raise ValueError("faces: the mesh is empty (0 faces); expected at least one triangle")
        dtype = v.dtype
        self.colors = _as_tensor(colors, "colors", requires_grad, dtype)
        if self.colors is not None:
            c = self.colors.data
            if c.ndim != 2 or c.shape[0] != v.shape[0]:
                raise ValueError(f"colors: expected one colour row per vertex, shape ({v.shape[0]}, C), "
                                 f"got shape {c.shape}")
        self.uvs = _as_tensor(uvs, "uvs", requires_grad, dtype)
        self.texture = _as_tensor(texture, "texture", requires_grad, dtype)
        if self.uvs is not None:
            if self.uvs.data.ndim != 2 or self.uvs.data.shape[1] != 2:
                raise ValueError(f"uvs: expected a (T, 2) array of texture coordinates, got shape {self.uvs.shape}")
            if face_uvs is None:
                if self.uvs.shape[0] != v.shape[0]:
                    raise ValueError(f"face_uvs: needed because uvs has {self.uvs.shape[0]} rows but there are "
                                     f"{v.shape[0]} vertices")
                face_uvs = self.faces
            self.face_uvs = check_faces(face_uvs, self.uvs.shape[0], "face_uvs")
            if self.face_uvs.shape[0] != self.faces.shape[0]:
                raise ValueError(f"face_uvs: expected {self.faces.shape[0]} rows (one per face), "
                                 f"got {self.face_uvs.shape[0]}")
        else:
            self.face_uvs = None
        if self.texture is not None:
            if self.texture.data.ndim != 3 or min(self.texture.shape[:2]) == 0:
                raise ValueError(f"texture: expected an (H, W, C) image, got shape {self.texture.shape}")
            if self.uvs is None:
                raise ValueError("texture: a texture needs uvs (texture coordinates) too")

    @property
    def num_verts(self):
        return self.verts.shape[0]

    @property
    def num_faces(self):
        return self.faces.shape[0]

    def face_normals(self, normalize=True):
        """(F, 3) unit face normals (``normalize=False``: cross products, length twice the area)."""
        return face_normals(self.verts, self.faces, normalize)

    def face_areas(self):
        """(F,) face areas."""
        return 0.5 * dp.norm(face_normals(self.verts, self.faces, normalize=False), axis=-1)

    def vertex_normals(self):
        """(V, 3) unit vertex normals: area-weighted averages of the adjacent face normals."""
        return vertex_normals(self.verts, self.faces)

    def edges(self):
        """(E, 2) sorted unique undirected edges."""
        return unique_edges(self.faces)

    def replace(self, **changes):
        """A new Mesh with some fields replaced (e.g. ``mesh.replace(verts=new_verts)``)."""
        fields = dict(verts=self.verts, faces=self.faces, colors=self.colors, uvs=self.uvs,
                      face_uvs=self.face_uvs, texture=self.texture)
        fields.update(changes)
        return Mesh(**fields, requires_grad=False)

    def detach(self):
        """A copy whose Tensors are new leaves (no graph history, no requires_grad)."""
        det = {k: (getattr(self, k).detach() if getattr(self, k) is not None else None)
               for k in ("verts", "colors", "uvs", "texture")}
        return Mesh(faces=self.faces, face_uvs=self.face_uvs, requires_grad=False, **det)

    def __repr__(self):
        extra = "".join(f", {k}" for k in ("colors", "uvs", "texture") if getattr(self, k) is not None)
        return f"Mesh({self.num_verts} verts, {self.num_faces} faces{extra})"


def face_normals(verts, faces, normalize=True):
    """(F, 3) normals of ``faces`` over ``verts`` (V, 3); zero-area faces get a zero normal."""
    faces = np.asarray(faces)
    if np.ndim(verts) == 2 and faces.ndim == 2 and faces.dtype.kind in "iu" and \
            (verts.data if type(verts) is Tensor else np.asarray(verts)).dtype.kind == "f":
        n = apply(FACE_CROSS, verts, faces=faces)
    else:                                        # batched or unusual inputs: the same formula, op by op
        n = _face_cross_ops(verts, faces)
    return _normalize(n) if normalize else n


def _face_cross_ops(verts, faces, tangent=None):
    """(e1 x e2) with e1 = v1 - v0, e2 = v2 - v0 per face, in recorded engine operations; with
    ``tangent`` (V, 3), its directional derivative along ``tangent``."""
    v0, v1, v2 = verts[..., faces[:, 0], :], verts[..., faces[:, 1], :], verts[..., faces[:, 2], :]
    if tangent is None:
        return dp.cross(v1 - v0, v2 - v0)
    t0, t1, t2 = tangent[..., faces[:, 0], :], tangent[..., faces[:, 1], :], tangent[..., faces[:, 2], :]
    return dp.cross(t1 - t0, v2 - v0) + dp.cross(v1 - v0, t2 - t0)


def _cross(a, b):
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b))
    np.subtract(a[:, 1] * b[:, 2], a[:, 2] * b[:, 1], out=out[:, 0])
    np.subtract(a[:, 2] * b[:, 0], a[:, 0] * b[:, 2], out=out[:, 1])
    np.subtract(a[:, 0] * b[:, 1], a[:, 1] * b[:, 0], out=out[:, 2])
    return out


def _face_edges(verts, faces):
    corners = np.ascontiguousarray(faces.T)                  # np.take by contiguous rows: ~5x a fancy index
    v0 = np.take(verts, corners[0], axis=0)
    return np.take(verts, corners[1], axis=0) - v0, np.take(verts, corners[2], axis=0) - v0


def _corner_sum_forward(x, faces, num_verts):
    """(num_verts, C): each face's row of ``x`` (F, C) added to its three vertices."""
    index = np.ascontiguousarray(faces.T).reshape(-1)
    out = np.empty((num_verts, x.shape[1]), dtype=x.dtype)
    for c in range(x.shape[1]):
        column = np.ascontiguousarray(x[:, c])
        out[:, c] = np.bincount(index, weights=np.concatenate([column, column, column]), minlength=num_verts)
    return out


def _corner_sum_vjp(g, ans, x, faces, num_verts):
    if type(g) is Tensor:
        return g[faces[:, 0]] + g[faces[:, 1]] + g[faces[:, 2]]
    corners = np.ascontiguousarray(faces.T)
    return np.take(g, corners[0], axis=0) + np.take(g, corners[1], axis=0) + np.take(g, corners[2], axis=0)


# (V, C) sums over each vertex's faces of a per-face (F, C) quantity: linear (its own JVP)
CORNER_SUM = Primitive("corner_sum", _corner_sum_forward, vjps=[_corner_sum_vjp], linear=True, save=())


def _face_cross_forward(verts, faces):
    return _cross(*_face_edges(verts, faces))


def _face_cross_vjp(g, ans, verts, faces):
    e1, e2 = _face_edges(verts, faces)
    if type(g) is Tensor or type(verts) is Tensor:           # create_graph: recorded, differentiable again
        d1, d2 = dp.cross(e2, g), dp.cross(g, e1)
        out = dp.zeros(verts.shape, dtype=(verts.data if type(verts) is Tensor else verts).dtype)
        for k, d in enumerate((-(d1 + d2), d1, d2)):
            out = dp.index_add(out, 0, faces[:, k], d)
        return out
    d1, d2 = _cross(e2, g), _cross(g, e1)                      # cotangents of v1 and v2; v0 gets -(d1 + d2)
    index = np.ascontiguousarray(faces.T).reshape(-1)
    n = verts.shape[0]
    out = np.empty((n, 3), dtype=np.result_type(verts, g))
    for c in range(3):
        a, b = d1[:, c], d2[:, c]
        out[:, c] = np.bincount(index, weights=np.concatenate([-(a + b), a, b]), minlength=n)
    return out


def _face_cross_jvp(t, ans, verts, faces):
    if type(t) is Tensor or type(verts) is Tensor:
        return _face_cross_ops(verts, faces, tangent=t)
    e1, e2 = _face_edges(verts, faces)
    t1, t2 = _face_edges(t, faces)
    return _cross(t1, e2) + _cross(e1, t2)


# (F, 3) unnormalized face normals (e1 x e2) of (V, 3) vertices: one op, its VJP one scatter (bincount)
FACE_CROSS = Primitive("face_cross", _face_cross_forward, vjps=[_face_cross_vjp], jvps=[_face_cross_jvp],
                       save="inputs")


def vertex_normals(verts, faces):
    """(V, 3) area-weighted unit vertex normals; isolated vertices get a zero normal."""
    n = face_normals(verts, faces, normalize=False)
    if np.ndim(n) == 2:
        return _normalize(apply(CORNER_SUM, n, faces=np.asarray(faces), num_verts=verts.shape[0]))
    acc = dp.zeros(verts.shape, dtype=verts.dtype)
    idx = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    acc = dp.index_add(acc, 0, idx, dp.concatenate([n, n, n], axis=0))
    return _normalize(acc)


def _normalize(x, eps=1e-20):
    """x / |x| along the last axis, with 0 (value and gradient) where |x| is 0."""
    if np.ndim(x) == 2:               # a matrix product: NumPy's sum over a 3-wide last axis is ~10x slower
        sq = dp.matmul(x * x, np.ones((np.shape(x)[1], 1), dtype=(x.data if type(x) is Tensor else x).dtype))
    else:
        sq = dp.sum(x * x, axis=-1, keepdims=True)
    safe = dp.where(sq > eps, sq, 1.0)
    return x * dp.where(sq > eps, 1.0 / dp.sqrt(safe), 0.0)


def unique_edges(faces, return_inverse=False):
    """(E, 2) sorted unique undirected edges of (F, 3) faces, in lexicographic order; with
    ``return_inverse``, also the (3F,) edge index of each face side (sides 01 of every face, then 12,
    then 20). Edges are encoded as one integer each, so this is a 1-D sort (``np.unique(axis=0)`` sorts
    rows several times slower)."""
    faces = np.asarray(faces)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], axis=0).astype(np.int64)
    e = np.sort(e, axis=1)
    base = int(e.max()) + 1 if len(e) else 1
    keys, inverse = np.unique(e[:, 0] * base + e[:, 1], return_inverse=True)
    edges = np.stack([keys // base, keys % base], axis=1)
    return (edges, inverse.reshape(-1)) if return_inverse else edges


def join_meshes(meshes):
    """One Mesh holding all of ``meshes`` (faces re-indexed); fields missing in any are dropped."""
    meshes = list(meshes)
    if not meshes:
        raise ValueError("join_meshes: expected at least one mesh, got none")
    offsets = np.cumsum([0] + [m.num_verts for m in meshes[:-1]])
    verts = dp.concatenate([m.verts for m in meshes], axis=0)
    faces = np.concatenate([m.faces + o for m, o in zip(meshes, offsets)], axis=0)
    colors = None
    if all(m.colors is not None for m in meshes):
        colors = dp.concatenate([m.colors for m in meshes], axis=0)
    return Mesh(verts, faces, colors=colors, requires_grad=False)
