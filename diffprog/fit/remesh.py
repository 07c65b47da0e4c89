"""Isotropic remeshing of a closed manifold triangle mesh toward a target edge length (``remesh``).

One iteration is Botsch and Kobbelt's (2004): split edges longer than 4/3 of the target at their
midpoints, collapse edges shorter than 4/5 of it, flip edges to bring vertex valences toward 6,
then relax vertices tangentially toward their neighbours' centroid. The target may vary per vertex
(an edge's target is the mean of its ends'), which is how the fit refines where the image loss is
still large (Palfinger 2022 adapts it the same way).

Every pass is vectorized over edges: it picks an independent set of candidates (no two splits in
one face; collapses and flips whose neighbourhoods do not touch) by a priority that is the same
for every vertex, applies them all at once, and repeats. Collapses keep the mesh manifold by the
link condition (the two ends share exactly two neighbours), never leave a valence-3 vertex to
collapse further, refuse to make edges longer than 4/3 of the target, and refuse to turn any
remaining face over; flips refuse folds and existing edges. Per-vertex ``attributes`` (colours,
optimizer moments, ...) are carried along: a split vertex gets the mean of the edge's ends, a
collapsed pair gets the mean of the pair, relaxation keeps them.
"""
import numpy as np


# ---- topology ----------------------------------------------------------------------------------------
def edge_topology(faces):
    """Edges of a closed manifold mesh: ``edges`` (E, 2) sorted vertex pairs, ``face_edges`` (F, 3)
    the edge of each face corner's outgoing half-edge (``faces[:, i] -> faces[:, (i + 1) % 3]``),
    ``edge_faces`` (E, 2) the two faces of each edge. Raises ValueError for a non-manifold or open mesh."""
    edges, face_edges, half_edges = _topology(faces)
    return edges, face_edges, half_edges // 3


def _topology(faces):
    """``edge_topology`` with ``half_edges`` (E, 2) in place of ``edge_faces``: the two half-edges
    (flat corner indices ``3 * face + corner``) of each edge, in increasing order.

    One sort of the half-edges by (undirected edge key, half-edge index): a closed manifold mesh
    has every key exactly twice, so sorted positions ``2e`` and ``2e + 1`` are edge ``e``'s two sides."""
    faces = np.asarray(faces, np.int64)
    start, end = faces.ravel(), faces[:, [1, 2, 0]].ravel()
    n = np.int64(faces.max()) + 1 if faces.size else 1
    keys = np.minimum(start, end) * n + np.maximum(start, end)
    if float(n) * float(n) * max(len(keys), 1) < 2.0 ** 62:        # unique keys: an unstable sort is stable
        order = np.argsort(keys * len(keys) + np.arange(len(keys)))
    else:
        order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first, second = ordered[0::2], ordered[1::2]
    if len(keys) % 2 or np.any(first != second) or np.any(first[1:] == first[:-1]):
        unique, counts = np.unique(keys, return_counts=True)
        bad = np.argmax(counts != 2)
        key = unique[bad]
        raise ValueError(f"faces: edge {[int(key // n), int(key % n)]} has {counts[bad]} faces; "
                         f"remeshing needs a closed manifold mesh (every edge in exactly two faces)")
    edges = np.stack([first // n, first % n], 1)
    face_edges = np.empty(len(keys), np.int64)
    face_edges[order] = np.arange(len(keys)) // 2
    return edges, face_edges.reshape(-1, 3), order.reshape(-1, 2)


def _opposite(faces, half_edges):
    """(E, 2) the vertex opposite each edge in each of its two faces (``half_edges`` from ``_topology``)."""
    face, corner = half_edges // 3, half_edges % 3
    return faces[face, (corner + 2) % 3]


def _neighbour_min(value, edges, rings):
    """``value`` (V,) replaced by its minimum over the vertex's ``rings``-ring neighbourhood."""
    for _ in range(rings):
        out = value.copy()
        np.minimum.at(out, edges[:, 0], value[edges[:, 1]])
        np.minimum.at(out, edges[:, 1], value[edges[:, 0]])
        value = out
    return value


def _face_normals(verts, faces):
    p = verts[faces]
    return np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])


def _compact(verts, faces, attributes):
    used = np.zeros(len(verts), bool)
    used[faces.ravel()] = True
    remap = np.cumsum(used) - 1
    return verts[used], remap[faces], {k: v[used] for k, v in attributes.items()}


def _edge_target(target, edges):
    return 0.5 * (target[edges[:, 0]] + target[edges[:, 1]])


# ---- the four operations --------------------------------------------------------------------------------
def split_long_edges(verts, faces, attributes, target, ratio=4.0 / 3.0):
    """Split, at their midpoints, a face-disjoint set of the edges longer than ``ratio`` x target.
    Returns (verts, faces, attributes, number split)."""
    edges, face_edges, edge_faces = edge_topology(faces)
    length = np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1)
    excess = length / (ratio * _edge_target(target, edges))
    candidate = excess > 1
    if not candidate.any():
        return verts, faces, attributes, 0
    # Each face keeps its most excessive candidate edge; an edge splits when both its faces keep it.
    score = np.where(candidate, excess, -1.0)[face_edges]
    best = np.take_along_axis(face_edges, np.argmax(score, axis=1)[:, None], 1)[:, 0]
    best = np.where(score.max(1) > 0, best, -1)
    chosen = candidate & (best[edge_faces[:, 0]] == np.arange(len(edges))) \
        & (best[edge_faces[:, 1]] == np.arange(len(edges)))
    ids = np.flatnonzero(chosen)
    new_index = np.full(len(edges), -1)
    new_index[ids] = len(verts) + np.arange(len(ids))
    a, b = edges[ids, 0], edges[ids, 1]
    verts = np.concatenate([verts, 0.5 * (verts[a] + verts[b])])
    attributes = {k: np.concatenate([v, 0.5 * (v[a] + v[b])]) for k, v in attributes.items()}
    split_face = np.flatnonzero(chosen[best.clip(0)] & (best >= 0))
    local = np.argmax(face_edges[split_face] == best[split_face, None], axis=1)
    f = faces[split_face]
    p = f[np.arange(len(f)), local]
    q = f[np.arange(len(f)), (local + 1) % 3]
    o = f[np.arange(len(f)), (local + 2) % 3]
    m = new_index[best[split_face]]
    faces = faces.copy()
    faces[split_face] = np.stack([p, m, o], 1)
    faces = np.concatenate([faces, np.stack([m, q, o], 1)])
    return verts, faces, attributes, len(ids)


def collapse_short_edges(verts, faces, attributes, target, ratio=4.0 / 5.0, max_ratio=4.0 / 3.0):
    """Collapse, to their midpoints, a well-separated set of the edges shorter than ``ratio`` x
    target that pass the link condition, keep every valence at 3 or more, make no edge
    longer than ``max_ratio`` x target and turn no face over. Returns (verts, faces, attributes, count)."""
    edges, _, half_edges = _topology(faces)
    nv = len(verts)
    length = np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1)
    edge_target = _edge_target(target, edges)
    candidate = np.flatnonzero(length < ratio * edge_target)
    if len(candidate) == 0:
        return verts, faces, attributes, 0
    valence = np.bincount(edges.ravel(), minlength=nv)
    a, b = edges[candidate, 0], edges[candidate, 1]
    # Link condition: the ends share exactly the two opposite vertices as neighbours.
    common = _common_neighbours(edges, nv, a, b)
    candidate, a, b = candidate[common == 2], a[common == 2], b[common == 2]
    opposite = _opposite(faces, half_edges)[candidate]
    if len(candidate) == 0:
        return verts, faces, attributes, 0
    midpoint = 0.5 * (verts[a] + verts[b])
    # Priority: shortest first. A collapse goes ahead when it is the best within one ring of both
    # ends (so no face is touched by two collapses); rounds add the best of the rest whose ends are
    # clear of every chosen collapse's ring, up to a maximal set.
    order = np.argsort(length[candidate], kind="stable")
    priority = np.empty(len(candidate), np.int64)
    priority[order] = np.arange(len(candidate))
    chosen = np.zeros(len(candidate), bool)
    blocked = np.zeros(nv, bool)
    for _ in range(8):
        open_ = ~chosen & ~blocked[a] & ~blocked[b]
        if not open_.any():
            break
        rank = np.full(nv, np.iinfo(np.int64).max)
        np.minimum.at(rank, a[open_], priority[open_])
        np.minimum.at(rank, b[open_], priority[open_])
        rank = _neighbour_min(rank, edges, 1)
        new = open_ & (rank[a] == priority) & (rank[b] == priority)
        chosen |= new
        touched = np.zeros(nv, bool)
        touched[a[new]] = touched[b[new]] = True
        blocked |= touched | _near(touched, edges)
    # Two collapses may share an opposite vertex: keep every vertex's valence at 3 or more.
    loss = np.bincount(opposite[chosen].ravel(), minlength=nv)
    chosen &= ((valence - loss)[opposite] >= 3).all(1)
    a, b, midpoint, limit = a[chosen], b[chosen], midpoint[chosen], max_ratio * edge_target[candidate[chosen]]
    # Geometric checks on the faces around the pair (each face belongs to at most one collapse).
    moved = np.full(nv, -1)
    moved[a] = np.arange(len(a))
    moved[b] = np.arange(len(a))
    owner = moved[faces].max(1)
    touched = np.flatnonzero(owner >= 0)
    f = faces[touched]
    which = owner[touched]
    removed = (f == a[which][:, None]).any(1) & (f == b[which][:, None]).any(1)
    new_pos = verts[f].copy()
    hit = moved[f] >= 0
    new_pos[hit] = midpoint[moved[f][hit]]
    old_normal = _face_normals(verts, f)
    new_normal = np.cross(new_pos[:, 1] - new_pos[:, 0], new_pos[:, 2] - new_pos[:, 0])
    flips = (np.einsum("ij,ij->i", old_normal, new_normal) <= 0.2 * np.linalg.norm(old_normal, axis=1)
             * np.linalg.norm(new_normal, axis=1)) & ~removed
    too_long = np.zeros(len(f), bool)
    for i in range(3):
        stretched = np.linalg.norm(new_pos[:, i] - new_pos[:, (i + 1) % 3], axis=1) > limit[which]
        too_long |= stretched & ~removed
    bad = np.zeros(len(a), bool)
    bad[which[flips | too_long]] = True
    a, b, midpoint = a[~bad], b[~bad], midpoint[~bad]
    if len(a) == 0:
        return verts, faces, attributes, 0
    verts = verts.copy()
    verts[a] = midpoint
    attributes = {k: v.copy() for k, v in attributes.items()}
    for v in attributes.values():
        v[a] = 0.5 * (v[a] + v[b])
    remap = np.arange(nv)
    remap[b] = a
    faces = remap[faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    verts, faces, attributes = _compact(verts, faces[keep], attributes)
    return verts, faces, attributes, len(a)


def _common_neighbours(edges, nv, a, b):
    """(K,) how many vertices are neighbours of both ``a[k]`` and ``b[k]``: their rows of a padded
    neighbour table compared all against all (a vertex has a handful of neighbours)."""
    ends = np.concatenate([edges[:, 0], edges[:, 1]])
    order = np.argsort(ends, kind="stable")
    valence = np.bincount(ends, minlength=nv)
    first = np.cumsum(valence) - valence
    table = np.full((nv, max(int(valence.max(initial=0)), 1)), -1, np.int32 if nv < 2 ** 31 else np.int64)
    table[ends[order], np.arange(len(ends)) - first[ends[order]]] = np.concatenate([edges[:, 1], edges[:, 0]])[order]
    width = table.shape[1]
    count = np.empty(len(a), np.int64)
    step = max(1, (1 << 22) // (width * width))                 # bounded temporaries for any valence
    for lo in range(0, len(a), step):
        rows_a, rows_b = table[a[lo:lo + step]], table[b[lo:lo + step]]
        rows_b[rows_b < 0] = -2                                 # padding never matches padding
        count[lo:lo + step] = np.count_nonzero(rows_a[:, :, None] == rows_b[:, None, :], axis=(1, 2))
    return count


def _near(marked, edges):
    """(V,) bool: the vertex has a neighbour in ``marked`` (V,) bool."""
    out = np.zeros(len(marked), bool)
    out[edges[marked[edges[:, 1]], 0]] = True
    out[edges[marked[edges[:, 0]], 1]] = True
    return out


def flip_edges(verts, faces):
    """Flip a vertex-disjoint set of the edges whose flip brings the four vertices' valences closer
    to 6 (closed meshes), without folding a face or duplicating an edge. Returns (faces, count)."""
    edges, face_edges, half_edges = _topology(faces)
    edge_faces = half_edges // 3
    nv = len(verts)
    valence = np.bincount(edges.ravel(), minlength=nv)
    opposite = _opposite(faces, half_edges)
    a, b = edges[:, 0], edges[:, 1]
    c, d = opposite[:, 0], opposite[:, 1]
    before = sum((valence[x] - 6.0) ** 2 for x in (a, b, c, d))
    after = (valence[a] - 7.0) ** 2 + (valence[b] - 7.0) ** 2 + (valence[c] - 5.0) ** 2 + (valence[d] - 5.0) ** 2
    gain = before - after
    candidate = np.flatnonzero((gain > 0) & (valence[a] > 3) & (valence[b] > 3) & (c != d))
    if len(candidate) == 0:
        return faces, 0
    # The new edge c-d must not exist already.
    existing = edges[:, 0] * nv + edges[:, 1]                                   # ascending
    new_key = np.minimum(c, d)[candidate] * nv + np.maximum(c, d)[candidate]
    candidate = candidate[existing[np.minimum(np.searchsorted(existing, new_key), len(existing) - 1)] != new_key]
    # Fold check: the two new triangles face the same way as the old pair.
    fa = faces[edge_faces[candidate, 0]]
    local = half_edges[candidate, 0] % 3
    p = fa[np.arange(len(fa)), local]                     # face 0 is (p, q, c) counter-clockwise
    q = fa[np.arange(len(fa)), (local + 1) % 3]
    cc, dd = opposite[candidate, 0], opposite[candidate, 1]
    old = _face_normals(verts, np.stack([p, q, cc], 1)) + _face_normals(verts, np.stack([q, p, dd], 1))
    n1 = _face_normals(verts, np.stack([p, dd, cc], 1))
    n2 = _face_normals(verts, np.stack([dd, q, cc], 1))
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)  # noqa: E731
    ok = (np.einsum("ij,ij->i", unit(n1), unit(old)) > 0.5) & (np.einsum("ij,ij->i", unit(n2), unit(old)) > 0.5)
    candidate, p, q, cc, dd = candidate[ok], p[ok], q[ok], cc[ok], dd[ok]
    if len(candidate) == 0:
        return faces, 0
    order = np.argsort(-gain[candidate], kind="stable")
    priority = np.empty(len(candidate), np.int64)
    priority[order] = np.arange(len(candidate))
    rank = np.full(nv, np.iinfo(np.int64).max)
    for x in (p, q, cc, dd):
        np.minimum.at(rank, x, priority)
    chosen = np.ones(len(candidate), bool)
    for x in (p, q, cc, dd):
        chosen &= rank[x] == priority
    faces = faces.copy()
    e = candidate[chosen]
    p, q, cc, dd = p[chosen], q[chosen], cc[chosen], dd[chosen]
    faces[edge_faces[e, 0]] = np.stack([p, dd, cc], 1)
    faces[edge_faces[e, 1]] = np.stack([dd, q, cc], 1)
    return faces, len(e)


def relax(verts, faces, weight=0.5):
    """Move each vertex ``weight`` of the way to its neighbours' centroid, within its tangent plane."""
    edges, _, _ = edge_topology(faces)
    nv = len(verts)
    total = np.zeros_like(verts)
    for i in range(3):
        total[:, i] = np.bincount(edges[:, 0], verts[edges[:, 1], i], nv) + np.bincount(edges[:, 1], verts[edges[:, 0], i], nv)
    count = np.bincount(edges.ravel(), minlength=nv)[:, None]
    step = total / np.maximum(count, 1) - verts
    normal = np.zeros_like(verts)
    face_normal = _face_normals(verts, faces)
    for corner in range(3):
        for i in range(3):
            normal[:, i] += np.bincount(faces[:, corner], face_normal[:, i], nv)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-300)
    step -= np.einsum("ij,ij->i", step, normal)[:, None] * normal
    return verts + weight * step


# ---- the whole remesher ---------------------------------------------------------------------------------
def remesh(verts, faces, target_length, attributes=None, iterations=3, relax_weight=0.5):
    """Remesh a closed manifold mesh toward ``target_length`` (a number, or (V,) per vertex).

    attributes: dict of (V, ...) per-vertex arrays carried along (the per-vertex target is carried
    too). Returns ``(verts, faces, attributes)``; the mesh stays closed, manifold and consistently
    oriented. ``iterations`` rounds of split, collapse, flip, relax (each op repeated while it still
    changes something, at most a few times per round).
    """
    verts = np.asarray(verts, np.float64)
    faces = np.asarray(faces, np.int64)
    attributes = {k: np.asarray(v, np.float64) for k, v in (attributes or {}).items()}
    for name, value in attributes.items():
        if len(value) != len(verts):
            raise ValueError(f"attributes[{name!r}]: expected one row per vertex ({len(verts)}), got {len(value)}")
    target = np.broadcast_to(np.asarray(target_length, np.float64), (len(verts),)).copy()
    if not np.all(target > 0):
        raise ValueError(f"target_length: expected positive lengths, got minimum {target.min()}")
    attributes["__target"] = target
    for _ in range(iterations):
        for _ in range(8):
            verts, faces, attributes, count = split_long_edges(verts, faces, attributes, attributes["__target"])
            if not count:
                break
        for _ in range(8):
            verts, faces, attributes, count = collapse_short_edges(verts, faces, attributes, attributes["__target"])
            if not count:
                break
        for _ in range(4):
            faces, count = flip_edges(verts, faces)
            if not count:
                break
        if relax_weight:
            verts = relax(verts, faces, relax_weight)
    attributes.pop("__target")
    return verts, faces, attributes
