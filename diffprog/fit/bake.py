"""Bake a surface colour field into a UV texture, and export it as ``fitted.obj`` + ``.mtl`` + PNG.

UVs (``unwrap``): from ``xatlas`` (the unwrapper of Blender's and many engines' pipelines;
``pip install xatlas``, optional) when it is installed, else from a per-face atlas made here (every
triangle its own right triangle in a grid cell: no seams to hide, ~half the texels used, always
works). ``method=`` picks one explicitly.

Baking (``bake_texture``): every texel centre within ``gutter`` texels of a triangle in UV space is
mapped to the nearest triangle's surface point (barycentrics of the texel centre, clamped onto the
triangle for gutter texels) and gets the field's colour there; so bilinear lookups inside a
triangle, and across its border into the gutter, return the field's colours.
Texel convention as ``render.sample_texture``: texel (row i, column j) has its centre at
``u = (j + 0.5) / W``, ``v = 1 - (i + 0.5) / H``.
"""
import warnings

import numpy as np

from diffprog.io.obj import write_textured_obj

UNWRAP_METHODS = ("auto", "xatlas", "per_face")


def has_xatlas():
    try:
        import xatlas  # noqa: F401
    except ImportError:
        return False
    return True


def unwrap(verts, faces, size=1024, method="auto", padding=2):
    """UVs for a mesh: returns ``(uvs (T, 2), face_uvs (F, 3), method used)`` with uvs in [0, 1].

    method: 'xatlas', 'per_face' or 'auto' (xatlas when installed, else per_face); size: the
    texture's width in texels (charts are packed for it); padding: texels between charts."""
    if method not in UNWRAP_METHODS:
        raise ValueError(f"method: expected one of {UNWRAP_METHODS}, got {method!r}")
    if method == "auto":
        method = "xatlas" if has_xatlas() else "per_face"
    faces = np.asarray(faces, np.int64)
    if method == "xatlas":
        try:
            import xatlas
        except ImportError:
            raise ImportError("method='xatlas' needs the xatlas package: pip install xatlas "
                              "(or use method='per_face')") from None
        atlas = xatlas.Atlas()
        atlas.add_mesh(np.asarray(verts, np.float32), faces.astype(np.uint32))
        pack = xatlas.PackOptions()
        pack.resolution, pack.padding, pack.bilinear = int(size), int(padding), True
        atlas.generate(xatlas.ChartOptions(), pack)
        vmapping, indices, uvs = atlas[0]
        return np.asarray(uvs, np.float64), np.asarray(indices, np.int64).reshape(-1, 3), "xatlas"
    return (*per_face_atlas(len(faces), size, padding), "per_face")


def per_face_size(num_faces, padding=2):
    """The smallest power-of-two texture width whose per-face atlas fits ``num_faces`` faces."""
    cells = int(np.ceil(np.sqrt((num_faces + 1) // 2)))
    size = 1
    while size / max(cells, 1) < 3 * padding + 3:
        size *= 2
    return size


def per_face_atlas(num_faces, size=1024, padding=2):
    """A seam-per-face atlas: faces in pairs per square grid cell, each a right triangle with
    ``padding`` texels to its cell's border and its partner. Returns (uvs (3 F, 2), face_uvs (F, 3))."""
    cells = int(np.ceil(np.sqrt((num_faces + 1) // 2)))
    cell = size / cells                                              # texels per cell
    if cell < 3 * padding + 3:
        raise ValueError(f"size: {size} texels are too few for {num_faces} faces in a per-face atlas "
                         f"(each cell gets {cell:.1f} texels; need >= {3 * padding + 3})")
    k = np.arange(num_faces)
    pair, upper = k // 2, k % 2 == 1
    x0, y0 = (pair % cells) * cell, (pair // cells) * cell           # cell corner in texels
    a, b = padding + 0.5, cell - padding - 0.5 - padding * np.sqrt(2)  # leg ends (gap along the diagonal)
    lower_corners = np.array([[a, a], [b, a], [a, b]])
    upper_corners = cell - lower_corners                              # the point reflection through the centre
    local = np.where(upper[:, None, None], upper_corners, lower_corners)   # (F, 3, 2) in texels
    texels = local + np.stack([x0, y0], axis=1)[:, None, :]
    uvs = (texels / size).reshape(-1, 2)
    return uvs, np.arange(3 * num_faces).reshape(-1, 3)


def _texel_pairs(corners, height, width, gutter):
    """Candidate (face, texel row, texel column) triples: texels in each face's bounding box grown
    by ``gutter``. corners: (F, 3, 2) in texel-centre units (x = column, y = row)."""
    low = np.maximum(np.floor(corners.min(axis=1) - gutter), 0).astype(np.int64)
    high = np.minimum(np.ceil(corners.max(axis=1) + gutter), [width - 1, height - 1]).astype(np.int64)
    nx, ny = np.maximum(high[:, 0] - low[:, 0] + 1, 0), np.maximum(high[:, 1] - low[:, 1] + 1, 0)
    counts = nx * ny
    face = np.repeat(np.arange(len(corners)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return face, low[face, 1] + k // nx[face], low[face, 0] + k % nx[face]


def texel_surface_points(verts, faces, uvs, face_uvs, size, gutter=2.0):
    """For each texel of a (size, size) texture near a triangle in UV space: its face, the
    barycentrics of the texel centre (clamped onto the nearest triangle) and the 3-D point.
    Returns (rows, cols, face, bary (K, 3), points (K, 3))."""
    verts, uvs = np.asarray(verts, float), np.asarray(uvs, float)
    faces, face_uvs = np.asarray(faces, np.int64), np.asarray(face_uvs, np.int64)
    h = w = int(size)
    tex = uvs[face_uvs]                                              # (F, 3, 2)
    corners = np.stack([tex[..., 0] * w - 0.5, (1.0 - tex[..., 1]) * h - 0.5], axis=-1)
    face, row, col = _texel_pairs(corners, h, w, gutter)
    c = corners[face]                                                # (K, 3, 2)
    p = np.stack([col, row], axis=1).astype(float)
    e1, e2, d = c[:, 1] - c[:, 0], c[:, 2] - c[:, 0], p - c[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-12
    det = np.where(ok, det, 1.0)
    b1 = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / det
    b2 = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / det
    bary = np.stack([1.0 - b1 - b2, b1, b2], axis=1)
    distance = np.full(len(face), np.inf)                            # to the triangle, in texels
    for i in range(3):
        a, b = c[:, i], c[:, (i + 1) % 3]
        ab = b - a
        t = np.clip(np.einsum("ki,ki->k", p - a, ab) / np.maximum(np.einsum("ki,ki->k", ab, ab), 1e-300), 0, 1)
        distance = np.minimum(distance, np.linalg.norm(p - a - t[:, None] * ab, axis=1))
    inside = np.all(bary >= 0, axis=1)
    distance = np.where(inside, 0.0, distance)
    keep = ok & (distance <= gutter)
    face, row, col, bary, distance = face[keep], row[keep], col[keep], bary[keep], distance[keep]
    texel = row * w + col
    order = np.lexsort((distance, texel))                            # per texel, the nearest face first
    first = order[np.r_[True, texel[order][1:] != texel[order][:-1]]]
    face, row, col, bary = face[first], row[first], col[first], bary[first]
    bary = np.maximum(bary, 0.0)
    bary /= bary.sum(axis=1, keepdims=True)
    points = np.einsum("ki,kic->kc", bary, verts[faces[face]])
    return row, col, face, bary, points


def bake_texture(field, verts, faces, uvs, face_uvs, size=1024, gutter=2.0, fill=None):
    """(size, size, 3) texture in [0, 1]: the ``field``'s colours (``field.colors_at(points)``) at
    the surface points of the texels (see ``texel_surface_points``); texels far from every
    triangle get ``fill`` (default: the mean baked colour)."""
    rows, cols, face, bary, points = texel_surface_points(verts, faces, uvs, face_uvs, size, gutter)
    if getattr(field, "in_dim", 3) == 2:
        points = np.einsum("ki,kic->kc", bary, np.asarray(uvs, float)[np.asarray(face_uvs)[face]])
    colors = np.clip(field.colors_at(points), 0.0, 1.0)
    fill = colors.mean(axis=0) if fill is None and len(colors) else (np.zeros(3) if fill is None else fill)
    texture = np.empty((size, size, 3))
    texture[:] = fill
    texture[rows, cols] = colors
    return texture


def export_textured(path, field, verts, faces, size=1024, method="auto", colors=None):
    """Unwrap, bake and write ``path`` (.obj) + .mtl + ``texture.png``; ``colors``: per-vertex
    colours for the ``v`` lines (default: the field at the vertices). Returns the unwrap method used."""
    if method == "auto" and not has_xatlas():
        fits = per_face_size(len(faces))
        if size < fits:                                  # (after a whole fit: grown, not refused)
            warnings.warn(f"texture_size: {size} texels are too few for a per-face atlas of {len(faces)} faces; "
                          f"baking a {fits} x {fits} texture instead (pip install xatlas packs charts into fewer "
                          f"texels)", stacklevel=2)
            size = fits
    uvs, face_uvs, used = unwrap(verts, faces, size, method)
    texture = bake_texture(field, verts, faces, uvs, face_uvs, size)
    if colors is None and getattr(field, "in_dim", 3) == 3:
        colors = np.clip(field.colors_at(verts), 0.0, 1.0)
    write_textured_obj(path, verts, faces, uvs, face_uvs, texture, colors=colors)
    return used
