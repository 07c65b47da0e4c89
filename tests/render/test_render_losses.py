"""Image and mesh losses: values against direct computations or torch, gradients by gradcheck."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

import diffprog as dp
from diffprog import render as R
from diffprog.render.losses import _cot_weights


def test_image_losses_match_torch():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 4, 5, 3)), rng.random((2, 4, 5, 3))
    np.testing.assert_allclose(R.mse_loss(dp.tensor(a), b).data,
                               torch.nn.functional.mse_loss(torch.tensor(a), torch.tensor(b)).item())
    np.testing.assert_allclose(R.l1_loss(dp.tensor(a), b).data,
                               torch.nn.functional.l1_loss(torch.tensor(a), torch.tensor(b)).item())
    assert dp.gradcheck(lambda x: R.mse_loss(x, b), a)
    with pytest.raises(ValueError, match="same shape"):
        R.mse_loss(dp.tensor(a), b[0])


def test_silhouette_iou_loss():
    s = np.zeros((1, 4, 4))
    s[0, :2] = 1
    t = np.zeros((1, 4, 4))
    t[0, 1:3] = 1
    assert R.silhouette_iou_loss(dp.tensor(s), t).item() == pytest.approx(1 - 4 / 12, abs=1e-6)
    assert R.silhouette_iou_loss(dp.tensor(t), t).item() == pytest.approx(0.0, abs=1e-6)
    soft = np.random.default_rng(0).random((2, 3, 3))
    assert dp.gradcheck(lambda x: R.silhouette_iou_loss(x, np.broadcast_to(t[0, :3, :3], soft.shape)), soft)


def test_laplacian_uniform_and_cot():
    mesh = R.ico_sphere(1)
    v, f = mesh.verts.data, mesh.faces
    # uniform: v_i minus mean of neighbours, by a direct loop
    nbrs = [set() for _ in range(len(v))]
    for a, b, c in f:
        nbrs[a] |= {b, c}
        nbrs[b] |= {a, c}
        nbrs[c] |= {a, b}
    lap = np.array([v[sorted(n)].mean(0) - v[i] for i, n in enumerate(nbrs)])
    np.testing.assert_allclose(R.laplacian_smoothing(mesh).item(), np.linalg.norm(lap, axis=1).mean(), rtol=1e-10)
    # cot weights on a flat fan: an interior vertex of a plane has zero Laplacian
    plane = R.plane(segments=2)
    val = R.laplacian_smoothing(R.Mesh(plane.verts.data, plane.faces), method="cot")
    centre = 4
    assert val.item() > 0
    i, j, w = _cot_weights(plane.verts.data, plane.faces)
    w = w.data
    lap_c = np.zeros(3)
    for a, b, ww in zip(i, j, w):
        if a == centre:
            lap_c += ww * (plane.verts.data[b] - plane.verts.data[centre])
    np.testing.assert_allclose(lap_c, 0.0, atol=1e-12)
    noisy = v + np.random.default_rng(0).normal(scale=0.05, size=v.shape)
    for method in ("uniform", "cot"):
        assert dp.gradcheck(lambda x: R.laplacian_smoothing(R.Mesh(x, f, requires_grad=False), method), noisy)
    with pytest.raises(ValueError, match="method: expected 'uniform' or 'cot'"):
        R.laplacian_smoothing(mesh, method="cotan2")


def test_edge_length_and_normal_consistency():
    cube = R.cube(size=2.0)
    e = cube.edges()
    assert len(e) == 18
    lengths = np.linalg.norm(cube.verts.data[e[:, 0]] - cube.verts.data[e[:, 1]], axis=1)
    np.testing.assert_allclose(R.edge_length(cube).item(), np.mean(lengths ** 2))
    np.testing.assert_allclose(R.edge_length(cube, target_length=2.0).item(), np.mean((lengths - 2) ** 2))
    assert R.normal_consistency(R.plane(segments=3)).item() == pytest.approx(0.0, abs=1e-12)
    # cube: 12 edges between perpendicular faces (1 - cos 90 = 1), 6 diagonals in flat faces (0)
    assert R.normal_consistency(cube).item() == pytest.approx(12 / 18)
    v = R.ico_sphere(1).verts.data * [1.0, 1.3, 0.7]
    f = R.ico_sphere(1).faces
    assert dp.gradcheck(lambda x: R.normal_consistency(R.Mesh(x, f, requires_grad=False)), v)
    assert dp.gradcheck(lambda x: R.edge_length(R.Mesh(x, f, requires_grad=False), 0.3), v)


def test_chamfer_distance_matches_kdtree():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3000, 3)), rng.normal(size=(2500, 3))
    da, _ = cKDTree(b).query(a)
    db, _ = cKDTree(a).query(b)
    np.testing.assert_allclose(R.chamfer_distance(a, b).item(), np.mean(da ** 2) + np.mean(db ** 2), rtol=1e-10)
    assert dp.gradcheck(R.chamfer_distance, a[:20], b[:15])
    with pytest.raises(ValueError, match=r"a: expected a non-empty \(N, D\) point set"):
        R.chamfer_distance(np.zeros((0, 3)), b)
    with pytest.raises(ValueError, match="same dimension"):
        R.chamfer_distance(a[:, :2], b)


def test_sample_points_on_surface():
    sphere = R.ico_sphere(3)
    pts = R.sample_points(sphere, 5000, seed=1)
    assert pts.shape == (5000, 3)
    r = np.linalg.norm(pts.data, axis=1)
    assert r.max() <= 1 + 1e-12 and r.min() > 0.98
    np.testing.assert_allclose(pts.data.mean(axis=0), 0.0, atol=0.03)            # uniform over the sphere
    small = R.ico_sphere(0)
    assert dp.gradcheck(lambda v: R.sample_points(R.Mesh(v, small.faces, requires_grad=False), 7), small.verts.data)
    # chamfer between two samplings of the same surface is small, of different surfaces large
    other = R.sample_points(R.ico_sphere(3, radius=1.5), 5000, seed=2)
    same = R.sample_points(sphere, 5000, seed=3)
    assert R.chamfer_distance(pts, same).item() < 0.01 < R.chamfer_distance(pts, other).item()
