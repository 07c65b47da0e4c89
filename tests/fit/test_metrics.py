"""Fit metrics against direct computations and trimesh."""
import numpy as np
import pytest

from diffprog.fit import chamfer_over_diagonal, masked_psnr, point_mesh_distance, silhouette_iou


def test_silhouette_iou():
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    a[:2] = 1
    b[1:3] = 1
    assert silhouette_iou(a, b) == pytest.approx(4 / 12)
    assert silhouette_iou(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    with pytest.raises(ValueError, match="shape"):
        silhouette_iou(a, b[:3])


def test_masked_psnr(rng):
    target = rng.random((8, 8, 3))
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    noisy = target.copy()
    noisy[mask] += 0.1
    noisy[~mask] = 0.0                                           # outside the mask: ignored
    assert masked_psnr(noisy, target, mask) == pytest.approx(20.0)
    assert masked_psnr(target, target, mask) == float("inf")
    with pytest.raises(ValueError, match="empty"):
        masked_psnr(target, target, np.zeros((8, 8), bool))


def test_point_mesh_distance_matches_trimesh(rng):
    trimesh = pytest.importorskip("trimesh")
    pytest.importorskip("rtree")
    mesh = trimesh.creation.icosphere(2)
    points = rng.normal(size=(300, 3)) * 0.8
    _, expected, _ = trimesh.proximity.closest_point(mesh, points)
    np.testing.assert_allclose(point_mesh_distance(points, mesh.vertices, mesh.faces), expected, atol=1e-10)


def test_chamfer_over_diagonal():
    trimesh = __import__("trimesh")
    sphere = trimesh.creation.icosphere(3)
    v, f = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    assert chamfer_over_diagonal(v, f, v, f) < 1e-12
    # a sphere 5% larger: every point is ~0.05 from the other surface; diagonal 2 * sqrt(3)
    value = chamfer_over_diagonal(1.05 * v, f, v, f)
    assert value == pytest.approx(0.05 / (2 * np.sqrt(3)), rel=0.05)


def _brute_force_distance(points, verts, faces):
    """The former hand-written reference: every point against every triangle, distance to the plane
    where the projection falls inside, else to the nearest edge."""
    tri = np.asarray(verts, float)[np.asarray(faces)][None]            # (1, F, 3, 3)
    p = np.asarray(points, float)[:, None, :]                           # (P, 1, 3)
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    normal = np.cross(b - a, c - a)
    length = np.linalg.norm(normal, axis=-1)
    n = normal / np.maximum(length, 1e-300)[..., None]
    plane = np.einsum("...i,...i", p - a, n)
    q = p - plane[..., None] * n
    inside = length > 0
    for u, v in ((a, b), (b, c), (c, a)):
        inside = inside & (np.einsum("...i,...i", np.cross(v - u, q - u), n) >= 0)

    def segment(u, v):
        t = np.clip(np.einsum("...i,...i", p - u, v - u) / np.maximum(np.einsum("...i,...i", v - u, v - u), 1e-300),
                    0, 1)
        return np.linalg.norm(p - (u + t[..., None] * (v - u)), axis=-1)
    edges = np.minimum(np.minimum(segment(a, b), segment(b, c)), segment(c, a))
    return np.where(inside, np.abs(plane), edges).min(axis=1)


@pytest.mark.parametrize("shape", ["icosphere", "box", "uneven"])
def test_point_mesh_distance_matches_brute_force(rng, shape):
    trimesh = pytest.importorskip("trimesh")
    if shape == "icosphere":
        mesh = trimesh.creation.icosphere(1)
    elif shape == "box":
        mesh = trimesh.creation.box((1.0, 2.0, 0.5))
    else:                                   # one long sliver next to many small faces: the bound must hold
        mesh = trimesh.util.concatenate([trimesh.creation.icosphere(2),
                                         trimesh.Trimesh([[-3, 0, 1.2], [3, 0, 1.2], [0, 0.05, 1.2]], [[0, 1, 2]])])
    points = np.concatenate([rng.normal(size=(200, 3)) * 1.5, np.asarray(mesh.vertices)[:20],
                             rng.normal(size=(5, 3)) * 50])
    np.testing.assert_allclose(point_mesh_distance(points, mesh.vertices, mesh.faces),
                               _brute_force_distance(points, mesh.vertices, mesh.faces), atol=1e-10)


def test_euler_characteristic_of_a_sphere_and_a_torus():
    import trimesh
    from diffprog.fit.metrics import euler_characteristic
    sphere = trimesh.creation.icosphere(2)
    torus = trimesh.creation.torus(1.0, 0.3)
    assert euler_characteristic(sphere.faces) == 2
    assert euler_characteristic(torus.faces) == torus.euler_number == 0
    assert euler_characteristic(sphere.faces + 5) == 2                      # unused vertices do not count
