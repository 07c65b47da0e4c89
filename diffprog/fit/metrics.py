"""Quality measures of a fit: silhouette IoU, masked PSNR and the chamfer distance between surfaces.

All take and return plain NumPy values (they judge a result; nothing here is differentiated).
"""
import itertools

import numpy as np


def silhouette_iou(predicted_alpha, target_alpha, threshold=0.5):
    """Intersection over union of the masks ``alpha > threshold`` of two (..., H, W) arrays; 1.0
    when both masks are empty."""
    predicted = np.asarray(predicted_alpha) > threshold
    target = np.asarray(target_alpha) > threshold
    if predicted.shape != target.shape:
        raise ValueError(f"predicted_alpha: shape {predicted.shape} differs from target_alpha's {target.shape}")
    union = np.count_nonzero(predicted | target)
    return 1.0 if union == 0 else np.count_nonzero(predicted & target) / union


def masked_psnr(predicted_rgb, target_rgb, mask):
    """Peak signal-to-noise ratio in dB (peak 1) over the pixels where ``mask`` is true.

    predicted_rgb, target_rgb: (..., H, W, 3) in [0, 1]; mask: (..., H, W) bool (usually the
    photograph's alpha > 0.5). Returns ``inf`` for identical colours."""
    predicted, target = np.asarray(predicted_rgb, float), np.asarray(target_rgb, float)
    mask = np.asarray(mask, bool)
    if predicted.shape != target.shape or predicted.shape[:-1] != mask.shape:
        raise ValueError(f"predicted_rgb {predicted.shape}, target_rgb {target.shape} and mask {mask.shape}: "
                         f"expected (..., H, W, 3), (..., H, W, 3) and (..., H, W)")
    if not mask.any():
        raise ValueError("mask: is empty; expected at least one pixel to compare")
    mse = np.mean((predicted[mask] - target[mask]) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def sample_surface(verts, faces, count, rng):
    """(count, 3) points uniformly distributed over the triangles' area."""
    verts, faces = np.asarray(verts, float), np.asarray(faces)
    tri = verts[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not area.sum() > 0:
        raise ValueError("faces: the mesh has zero surface area; cannot sample points on it")
    chosen = rng.choice(len(faces), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = tri[chosen]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def point_mesh_distance(points, verts, faces):
    """(P,) exact Euclidean distance from each point to the surface (``verts``, ``faces``).

    A KD-tree over the triangles' centroids (scipy) proposes the candidates and trimesh's
    closest-point-on-triangle measures them: the triangle with the nearest centroid gives an upper
    bound ``u`` on the distance, and only triangles whose centroid lies within ``u`` plus their own
    circumradius-about-the-centroid can beat it, so the minimum over those is exact."""
    from scipy.spatial import cKDTree
    from trimesh.triangles import closest_point
    points, verts, faces = np.asarray(points, float), np.asarray(verts, float), np.asarray(faces)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points: expected a (P, 3) array, got shape {points.shape}")
    if len(faces) == 0:
        raise ValueError("faces: the mesh has no triangles; cannot measure distances to it")
    tri = verts[faces]
    centroid = tri.mean(axis=1)
    radius = np.linalg.norm(tri - centroid[:, None, :], axis=2).max(axis=1)
    tree = cKDTree(centroid)
    _, nearest = tree.query(points)
    upper = np.linalg.norm(closest_point(tri[nearest], points) - points, axis=1)
    found = tree.query_ball_point(points, upper + radius.max() * (1 + 1e-9) + 1e-12)
    counts = np.fromiter(map(len, found), np.int64, len(points))
    face = np.fromiter(itertools.chain.from_iterable(found), np.int64, int(counts.sum()))
    point = np.repeat(np.arange(len(points)), counts)
    keep = np.linalg.norm(points[point] - centroid[face], axis=1) - radius[face] <= upper[point] * (1 + 1e-9) + 1e-12
    point, face = point[keep], face[keep]
    distance = np.linalg.norm(closest_point(tri[face], points[point]) - points[point], axis=1)
    out = upper.copy()                                  # ``point`` is sorted: reduce each point's run
    counts = np.bincount(point, minlength=len(points))
    has = counts > 0
    out[has] = np.minimum(upper[has], np.minimum.reduceat(distance, (np.cumsum(counts) - counts)[has]))
    return out


def chamfer_over_diagonal(verts, faces, reference_verts, reference_faces, count=10000, seed=0):
    """Symmetric chamfer distance between two surfaces divided by the reference's bounding-box
    diagonal: ``(mean d(a, B) + mean d(b, A)) / 2 / diagonal`` over ``count`` points sampled
    uniformly on each surface (``d``: point-to-surface distance, not squared)."""
    rng = np.random.default_rng(seed)
    reference_verts = np.asarray(reference_verts, float)
    a = sample_surface(verts, faces, count, rng)
    b = sample_surface(reference_verts, reference_faces, count, rng)
    forward = point_mesh_distance(a, reference_verts, reference_faces).mean()
    backward = point_mesh_distance(b, verts, faces).mean()
    diagonal = np.linalg.norm(reference_verts.max(axis=0) - reference_verts.min(axis=0))
    return float(0.5 * (forward + backward) / diagonal)


def euler_characteristic(faces):
    """V - E + F of a triangle mesh over the vertices its faces use (2 - 2 genus for one closed surface)."""
    faces = np.asarray(faces, np.int64)
    sides = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    base = int(faces.max()) + 1 if faces.size else 1
    edges = np.unique(sides[:, 0] * base + sides[:, 1])          # one integer per edge: a 1-D sort
    return int(len(np.unique(faces)) - len(edges) + len(faces))
