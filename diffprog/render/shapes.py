"""Primitive meshes: ``ico_sphere``, ``plane``, ``cube``, ``subdivide``."""
import numpy as np

from .mesh import Mesh


def _subdivide_arrays(verts, faces):
    """Split each triangle into four at its edge midpoints (shared midpoints are shared vertices)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], axis=0)
    e = np.sort(e, axis=1)
    uniq, inverse = np.unique(e, axis=0, return_inverse=True)
    mid = len(verts) + inverse.reshape(3, -1).T                          # (F, 3): midpoints of 01, 12, 20
    verts = np.concatenate([verts, 0.5 * (verts[uniq[:, 0]] + verts[uniq[:, 1]])], axis=0)
    a, b, c = faces.T
    m01, m12, m20 = mid.T
    new = np.stack([np.stack([a, m01, m20], 1), np.stack([m01, b, m12], 1),
                    np.stack([m20, m12, c], 1), np.stack([m01, m12, m20], 1)], axis=1).reshape(-1, 3)
    return verts, new


def ico_sphere(level=0, radius=1.0, center=(0.0, 0.0, 0.0), dtype=np.float64, requires_grad=True):
    """A unit-radius icosphere: the icosahedron subdivided ``level`` times (20 * 4**level faces;
    level 3: 1,280, level 4: 5,120, level 5: 20,480), faces wound counter-clockwise from outside."""
    if int(level) != level or level < 0:
        raise ValueError(f"ico_sphere: level must be a non-negative integer, got {level!r}")
    t = (1.0 + 5 ** 0.5) / 2
    verts = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
                      [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=float)
    faces = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                      [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                      [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    verts /= np.linalg.norm(verts, axis=1, keepdims=True)
    for _ in range(int(level)):
        verts, faces = _subdivide_arrays(verts, faces)
        verts /= np.linalg.norm(verts, axis=1, keepdims=True)
    verts = verts * radius + np.asarray(center, dtype=float)
    return Mesh(verts.astype(dtype), faces, requires_grad=requires_grad)


def plane(size=2.0, segments=1, dtype=np.float64, requires_grad=True):
    """A square in the z = 0 plane centred at the origin, facing +z, split into ``segments`` x
    ``segments`` quads of two triangles; UVs span [0, 1] (u along +x, v along +y)."""
    if int(segments) != segments or segments < 1:
        raise ValueError(f"plane: segments must be a positive integer, got {segments!r}")
    n = int(segments)
    s = np.linspace(0.0, 1.0, n + 1)
    u, v = np.meshgrid(s, s)                                            # v rows, u columns
    uvs = np.stack([u.ravel(), v.ravel()], axis=1)
    verts = np.concatenate([(uvs - 0.5) * size, np.zeros((len(uvs), 1))], axis=1)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)], axis=0)
    return Mesh(verts.astype(dtype), faces, uvs=uvs.astype(dtype), requires_grad=requires_grad)


def cube(size=2.0, dtype=np.float64, requires_grad=True):
    """An axis-aligned cube centred at the origin (8 vertices, 12 faces wound outward)."""
    verts = (np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float) - 0.5) * size
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return Mesh(verts.astype(dtype), faces, requires_grad=requires_grad)


def subdivide(mesh):
    """Loop-free midpoint subdivision of a mesh's topology and positions (colours interpolated);
    UVs and texture are dropped. Returns a new Mesh whose vertices are new leaves."""
    v, f = _subdivide_arrays(np.asarray(mesh.verts.data), mesh.faces)
    colors = None
    if mesh.colors is not None:
        c, _ = _subdivide_arrays(np.asarray(mesh.colors.data), mesh.faces)
        colors = c
    return Mesh(v, f, colors=colors, requires_grad=mesh.verts.requires_grad)
