"""Isotropic remeshing and marching tetrahedra: closed, manifold, oriented, no degenerate faces."""
import numpy as np
import pytest
import trimesh

from diffprog import render as R
from diffprog.fit.isosurface import isosurface
from diffprog.fit.remesh import collapse_short_edges, edge_topology, flip_edges, remesh, split_long_edges


def _check_mesh(verts, faces, euler):
    mesh = trimesh.Trimesh(verts, faces, process=False)
    edges, _, _ = edge_topology(faces)                       # raises unless every edge has two faces
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.euler_number == euler
    assert mesh.volume > 0                                   # outward orientation
    assert len(np.unique(np.sort(faces, axis=1), axis=0)) == len(faces)
    areas = mesh.area_faces
    lengths = np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1)
    assert areas.min() > 1e-3 * lengths.mean() ** 2           # no degenerate (needle or cap) faces
    assert np.all(np.bincount(edges.ravel(), minlength=len(verts)) >= 3)
    return mesh


def _torus(spacing=0.05):
    g = np.arange(-1.2, 1.2 + spacing / 2, spacing)
    X, Y, Z = np.meshgrid(g, g, g, indexing="ij")
    field = 0.3 - np.sqrt((np.sqrt(X ** 2 + Z ** 2) - 0.7) ** 2 + Y ** 2)
    return isosurface(field, 0.0, origin=(-1.2, -1.2, -1.2), spacing=spacing)


def test_marching_tetrahedra_of_a_torus():
    verts, faces = _torus()
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.euler_number == 0
    np.testing.assert_allclose(mesh.volume, 2 * np.pi ** 2 * 0.7 * 0.3 ** 2, rtol=0.02)
    radius = np.sqrt((np.hypot(verts[:, 0], verts[:, 2]) - 0.7) ** 2 + verts[:, 1] ** 2)
    assert np.abs(radius - 0.3).max() < 0.05 * 0.3


def test_marching_tetrahedra_of_a_grid_that_touches_its_border_is_closed():
    field = np.ones((3, 4, 5))
    verts, faces = isosurface(field, 0.5)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight and mesh.euler_number == 2


def test_marching_tetrahedra_orients_triangles_whose_corners_sit_on_grid_points():
    """Samples just off the level put interpolated corners on grid points (near-degenerate triangles,
    whose computed normals have no reliable sign): every triangle is still wound outward."""
    rng = np.random.default_rng(3)
    field = rng.choice([-1.0, -1e-17, 1e-17, 1.0], size=(14, 14, 14), p=[0.3, 0.2, 0.2, 0.3])
    verts, faces = isosurface(field, 0.0)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    for body in mesh.split(only_watertight=True):
        assert body.volume > 0


@pytest.mark.parametrize("target", [0.06, 0.1, 0.15])
def test_remesh_reaches_the_target_and_keeps_the_torus(target):
    verts, faces = _torus()
    colours = np.cos(3 * verts) * 0.5 + 0.5                       # a smooth attribute of position
    new_verts, new_faces, carried = remesh(verts, faces, target, {"colors": colours}, iterations=8)
    mesh = _check_mesh(new_verts, new_faces, euler=0)
    lengths = mesh.edges_unique_length
    assert 0.7 * target < np.median(lengths) < 1.3 * target
    np.testing.assert_allclose(mesh.volume, 2 * np.pi ** 2 * 0.7 * 0.3 ** 2, rtol=0.1)
    # Carried colours follow the vertices (up to the tangential relaxation's slide).
    assert carried["colors"].shape == (len(new_verts), 3)
    assert np.abs(carried["colors"] - (np.cos(3 * new_verts) * 0.5 + 0.5)).max() < 1.5 * target


def test_remesh_refines_where_the_target_is_small():
    sphere = R.ico_sphere(3, requires_grad=False)
    verts, faces = np.asarray(sphere.verts.data), sphere.faces
    target = np.where(verts[:, 1] > 0, 0.08, 0.3)
    new_verts, new_faces, _ = remesh(verts, faces, target, iterations=4)
    _check_mesh(new_verts, new_faces, euler=2)
    top = (new_verts[new_faces].mean(1)[:, 1] > 0.3).sum()
    bottom = (new_verts[new_faces].mean(1)[:, 1] < -0.3).sum()
    assert top > 4 * bottom


def test_each_operation_keeps_the_mesh_manifold():
    rng = np.random.default_rng(0)
    sphere = R.ico_sphere(2, requires_grad=False)
    verts = np.asarray(sphere.verts.data) * (1 + 0.1 * rng.random((1, 3)))
    faces = sphere.faces
    target = np.full(len(verts), 0.2)
    v, f, a, n_split = split_long_edges(verts, faces, {"t": target}, target)
    assert n_split > 0
    _check_mesh(v, f, 2)
    np.testing.assert_allclose(a["t"], 0.2)
    v, f, a, n_collapse = collapse_short_edges(v, f, a, np.full(len(v), 0.5))
    assert n_collapse > 0
    _check_mesh(v, f, 2)
    f2, n_flip = flip_edges(v, f)
    _check_mesh(v, f2, 2)


def test_remesh_rejects_an_open_mesh():
    with pytest.raises(ValueError, match="closed manifold"):
        remesh(np.eye(3), np.array([[0, 1, 2]]), 0.1)


def test_edge_topology_matches_its_definition():
    """Edges in lexicographic order; each face corner's edge; each edge's two faces in increasing
    order; the opposite corners and the link-condition counts as a dense adjacency matrix gives them."""
    from diffprog.fit.remesh import _common_neighbours, _opposite, _topology
    verts, faces = _torus(0.2)
    edges, face_edges, edge_faces = edge_topology(faces)
    sides = np.sort(np.stack([faces, np.roll(faces, -1, axis=1)], -1), axis=-1)      # (F, 3, 2)
    np.testing.assert_array_equal(edges, np.unique(sides.reshape(-1, 2), axis=0))
    np.testing.assert_array_equal(edges[face_edges], sides)
    for side in range(2):
        assert np.all((face_edges[edge_faces[:, side]] == np.arange(len(edges))[:, None]).any(1))
    assert np.all(edge_faces[:, 0] < edge_faces[:, 1])
    _, _, half_edges = _topology(faces)
    opposite = _opposite(faces, half_edges)
    for side in range(2):
        corners = faces[edge_faces[:, side]]
        assert np.all((corners == opposite[:, side, None]).any(1))
        assert not np.any(opposite[:, side, None] == edges)
    adjacency = np.zeros((len(verts), len(verts)), int)
    adjacency[edges[:, 0], edges[:, 1]] = adjacency[edges[:, 1], edges[:, 0]] = 1
    a, b = edges[::3, 0], edges[::3, 1]
    np.testing.assert_array_equal(_common_neighbours(edges, len(verts), a, b), (adjacency[a] * adjacency[b]).sum(1))
