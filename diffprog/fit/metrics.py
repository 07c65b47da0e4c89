"""Quality measures of a fit: silhouette IoU, masked PSNR and the chamfer distance between surfaces.

All take and return plain NumPy values (they judge a result; nothing here is differentiated).
"""
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


def _segment_distance(p, a, b):
    ab = b - a
    t = np.clip(np.einsum("...i,...i", p - a, ab) / np.maximum(np.einsum("...i,...i", ab, ab), 1e-300), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def point_triangle_distance(points, triangles):
    """Euclidean distance from each point (..., 3) to its triangle (..., 3, 3): the distance to the
    plane where the projection falls inside the triangle, else to the nearest edge."""
    a, b, c = triangles[..., 0, :], triangles[..., 1, :], triangles[..., 2, :]
    normal = np.cross(b - a, c - a)
    length = np.linalg.norm(normal, axis=-1)
    n = normal / np.maximum(length, 1e-300)[..., None]
    plane = np.einsum("...i,...i", points - a, n)
    q = points - plane[..., None] * n
    inside = np.ones(plane.shape, bool)
    for u, v in ((a, b), (b, c), (c, a)):
        inside &= np.einsum("...i,...i", np.cross(v - u, q - u), n) >= 0
    inside &= length > 0
    edges = np.minimum(np.minimum(_segment_distance(points, a, b), _segment_distance(points, b, c)),
                       _segment_distance(points, c, a))
    return np.where(inside, np.abs(plane), edges)


def point_mesh_distance(points, verts, faces, candidates=16, chunk=512):
    """(P,) distance from each point to the surface (``verts``, ``faces``), exact up to the choice
    of the ``candidates`` triangles with the nearest centroids (chunked brute force, NumPy only)."""
    points, verts, faces = np.asarray(points, float), np.asarray(verts, float), np.asarray(faces)
    tri = verts[faces]
    centroid = tri.mean(axis=1).astype(np.float32)
    c2 = np.einsum("ij,ij->i", centroid, centroid)
    k = min(candidates, len(faces))
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        p = points[start:start + chunk]
        d2 = c2[None, :] - 2.0 * (p.astype(np.float32) @ centroid.T)
        near = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(faces) else np.broadcast_to(
            np.arange(len(faces)), (len(p), k))
        out[start:start + chunk] = point_triangle_distance(p[:, None, :], tri[near]).min(axis=1)
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
