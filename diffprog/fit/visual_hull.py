"""Visual hull: the largest shape consistent with every view's silhouette (``visual_hull``).

A grid of points is carved by the masks: each view's silhouette (mask > 0.5) becomes a signed
distance to its outline in pixels, and a point's value is the smallest, over the views, of that
distance where the point projects, scaled to world units at its depth; so a point is inside only
where every view sees the object, and the field varies smoothly across the hull's boundary (a
plain coverage test would put the surface half-way between grid points whatever the pixels say).
Points behind a camera or outside its image count as empty (the photographs show the whole
object). The surface is the zero level of that field, extracted by marching tetrahedra, so it
lies within a fraction of a grid cell of the carved boundary, is closed
and manifold, and has the genus the silhouettes imply (a mug's handle opening is carved out when
some view sees through it). A coarse pass over a generous box finds the object first, so the fine
grid spends its ``resolution`` cells on the object's bounding box.
"""
import numpy as np

from .cameras import focal_from_fov, look_at_point, silhouette_radius
from .isosurface import isosurface


def _project(points, camera_to_world, focal, principal_point):
    """(P,) continuous pixel column and row (pixel centres at integers) and (P,) depth of ``points``
    in a view with focal lengths ``focal`` (fx, fy) and principal point (cx, cy) in pixels (the
    image's corner at 0, pixel centres at half-integers, as ``render.Cameras``)."""
    rotation, centre = camera_to_world[:3, :3], camera_to_world[:3, 3]
    offset = points - centre
    local = [offset @ rotation[:, i] for i in range(3)]  # camera frame: x right, y up, -z forward
    depth = -local[2]
    safe = np.where(depth > 1e-9, depth, 1.0)
    column = principal_point[0] + focal[0] * local[0] / safe - 0.5
    row = principal_point[1] - focal[1] * local[1] / safe - 0.5
    return column, row, depth


def _sample(image, column, row, outside):
    """Bilinear sample of ``image`` (H, W) at continuous pixel positions; ``outside`` beyond the image."""
    height, width = image.shape
    c = np.clip(column, 0, width - 1 - 1e-9)
    r = np.clip(row, 0, height - 1 - 1e-9)
    c0, r0 = np.floor(c).astype(np.int64), np.floor(r).astype(np.int64)
    c1, r1 = np.minimum(c0 + 1, width - 1), np.minimum(r0 + 1, height - 1)
    fc, fr = c - c0, r - r0
    value = ((1 - fr) * ((1 - fc) * image[r0, c0] + fc * image[r0, c1])
             + fr * ((1 - fc) * image[r1, c0] + fc * image[r1, c1]))
    beyond = (column < 0) | (column > width - 1) | (row < 0) | (row > height - 1)
    return np.where(beyond, outside, value)


def signed_distance(mask):
    """(H, W) signed distance in pixels to the silhouette's outline (positive inside, mask > 0.5),
    the outline placed on the outer edge of the boundary pixels: each view's pixel-quantized outline
    is then never inside the true one, so the minimum over many views does not cut into the object."""
    from scipy.ndimage import distance_transform_edt
    inside = np.asarray(mask) > 0.5
    if not inside.any():
        return np.full(inside.shape, -float(sum(inside.shape)))
    return np.where(inside, distance_transform_edt(inside), 1.0 - distance_transform_edt(~inside))


def carve(points, camera_to_world, focal, principal_point, masks):
    """(P,) carving field at world ``points`` (P, 3): the smallest over views of the silhouette's
    signed distance at the point's projection, in world units at the point's depth (a lower bound
    on how far the point is inside the view's silhouette cone); > 0 inside the visual hull.
    focal, principal_point: (N, 2) per view in pixels of its mask; masks: N (H, W) arrays."""
    field = np.full(len(points), np.inf)
    for matrix, f, c, mask in zip(camera_to_world, focal, principal_point, masks):
        column, row, depth = _project(points, matrix, f, c)
        distance = _sample(signed_distance(mask), column, row, outside=-float(sum(np.shape(mask))))
        world = distance * np.maximum(depth, 0.0) / float(np.mean(f))
        np.minimum(field, np.where(depth > 0, world, -np.inf), out=field)
    return field


def _grid(lower, upper, cells):
    """Grid points covering the box with about ``cells`` cells along its longest side."""
    spacing = float(np.max(upper - lower)) / cells
    counts = np.maximum(np.ceil((upper - lower) / spacing).astype(int) + 1, 2)
    axes = [lower[i] + spacing * np.arange(counts[i]) for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return points, counts, spacing


def visual_hull(camera_to_world, fov, masks, resolution=64, center=None, radius=None, focal=None,
                principal_point=None):
    """Closed triangle mesh of the visual hull of ``masks`` seen by the cameras.

    camera_to_world: (N, 4, 4) OpenGL matrices; fov: horizontal field(s) of view in degrees of
    square masks, or None when ``focal`` and ``principal_point`` ((N, 2) pixels of each mask, the
    convention of ``render.Cameras``) are given; masks: (N, S, S) array or N (H, W) arrays of object
    coverage in [0, 1]; resolution: grid cells along the hull's longest side; center, radius: where
    to look first (default: the point the cameras look at and the radius of a sphere with the masks'
    mean area). Returns ``(verts (V, 3), faces (F, 3), spacing)`` with ``spacing`` the grid cell
    size. Raises ValueError when the masks carve everything away.
    """
    c2w = np.asarray(camera_to_world, np.float64)
    masks = [np.asarray(m, np.float64) for m in masks]
    if len(masks) != len(c2w) or any(m.ndim != 2 for m in masks):
        raise ValueError(f"masks: expected {len(c2w)} 2-D masks, one per camera, got "
                         f"{[m.shape for m in masks]}")
    if focal is None:
        if fov is None or any(m.shape[0] != m.shape[1] or m.shape != masks[0].shape for m in masks):
            raise ValueError("masks: without focal and principal_point, expected (N, S, S) square masks and fov")
        size = masks[0].shape[-1]
        focal = np.repeat(focal_from_fov(np.broadcast_to(np.asarray(fov, np.float64), (len(c2w),)), size)[:, None],
                          2, axis=1)
        principal_point = np.full((len(c2w), 2), 0.5 * size)
    focal = np.asarray(focal, np.float64).reshape(len(c2w), 2)
    principal_point = np.asarray(principal_point, np.float64).reshape(len(c2w), 2)
    center = look_at_point(c2w) if center is None else np.asarray(center, np.float64)
    if radius is None:
        radius = silhouette_radius(c2w, focal.mean(axis=1), masks, center)
    reach = 3.0 * radius
    lower, upper = center - reach, center + reach
    for first, cells in ((True, 32), (False, resolution)):
        points, counts, spacing = _grid(lower, upper, cells)
        field = carve(points, c2w, focal, principal_point, masks).reshape(counts)
        inside = np.argwhere(field > 0)
        if len(inside) == 0:
            raise ValueError("masks: the visual hull is empty (no point is inside every view's silhouette); "
                             "check the cameras' convention (OpenGL camera-to-world) and the masks")
        if first:
            lower, upper = (lower + spacing * (inside.min(0) - 1.5), lower + spacing * (inside.max(0) + 1.5))
    verts, faces = isosurface(np.maximum(field, -spacing), 0.0, origin=lower, spacing=spacing)
    verts, faces = largest_parts(verts, faces)
    return verts, faces, spacing


def largest_parts(verts, faces, fraction=0.05):
    """Drop connected parts with fewer than ``fraction`` of the largest part's faces (carving specks)."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components
    n = len(verts)
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    count, label = connected_components(sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)),
                                        directed=False)
    if count == 1:
        return verts, faces
    sizes = np.bincount(label[faces[:, 0]], minlength=count)
    keep = sizes[label[faces[:, 0]]] >= fraction * sizes.max()
    faces = faces[keep]
    used = np.zeros(n, bool)
    used[faces.ravel()] = True
    return verts[used], (np.cumsum(used) - 1)[faces]
