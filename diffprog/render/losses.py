"""Losses: image MSE/L1, silhouette IoU, mesh regularizers and chamfer distance (differentiable).

Mesh regularizers follow PyTorch3D's definitions: ``laplacian_smoothing`` is the mean norm of the
Laplacian at the vertices (``uniform``: the mean of its neighbours minus v_i; ``cot``: cotangent
weights normalized per vertex, differentiated along with the vertices);
``edge_length`` is the mean of (|e| - target_length)^2; ``normal_consistency`` is the mean over
edges shared by two faces of 1 - cos(angle between their normals).
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import Primitive, apply
from diffprog.autodiff.extend import backend as B
from .mesh import Mesh, face_normals, unique_edges


def _channel_squared_errors_forward(x, t):
    r = np.subtract(x, t)
    r = r.reshape(-1, r.shape[-1] if r.ndim else 1)
    return np.einsum("ij,ij->j", r, r)


def _scaled_difference(x, t, scale):
    """(x - t) * scale: on arrays in one buffer (two passes), on Tensors recorded (create_graph)."""
    if type(x) is Tensor or type(t) is Tensor or type(scale) is Tensor:
        return (x - t) * scale
    r = np.subtract(x, t)
    if r.ndim == 0 or np.result_type(r, scale) != r.dtype:
        return r * scale
    r *= scale
    return r


def _leading_sum(y):
    return B.sum(y, axis=tuple(range(B.ndim(y) - 1))) if B.ndim(y) > 1 else y


# (C,) sums over every axis but the last of (x - t)^2: one pass forward, one pass back (the engine's
# subtract, square and strided sum took five passes and three image-sized temporaries)
CHANNEL_SQUARED_ERRORS = Primitive(
    "channel_squared_errors", _channel_squared_errors_forward,
    vjps=[lambda g, ans, x, t: _scaled_difference(x, t, 2.0 * g),
          lambda g, ans, x, t: _scaled_difference(x, t, -2.0 * g)],
    jvps=[lambda tx, ans, x, t: _leading_sum(2.0 * (x - t) * tx),
          lambda tt, ans, x, t: _leading_sum(-2.0 * (x - t) * tt)],
    save="inputs")


def channel_squared_errors(image, target):
    """(C,) summed squared errors of ``image`` against ``target`` (same shape, channels last) per
    channel: ``((image - target) ** 2).sum(axis=all but the last)``, as one differentiable op."""
    _pair(image, target, "channel_squared_errors")
    return apply(CHANNEL_SQUARED_ERRORS, image, target)


def _pair(a, b, name):
    sa = a.shape if hasattr(a, "shape") else np.shape(a)
    sb = b.shape if hasattr(b, "shape") else np.shape(b)
    if tuple(sa) != tuple(sb):
        raise ValueError(f"{name}: image and target must have the same shape, got {tuple(sa)} and {tuple(sb)}")


def mse_loss(image, target):
    """Mean squared error between two same-shaped arrays."""
    _pair(image, target, "mse_loss")
    size = int(np.prod(np.shape(image)))
    return dp.sum(apply(CHANNEL_SQUARED_ERRORS, image, target)) / size


def l1_loss(image, target):
    """Mean absolute error between two same-shaped arrays."""
    _pair(image, target, "l1_loss")
    return dp.mean(dp.abs(image - target))


def silhouette_iou_loss(silhouette, target, eps=1e-8):
    """1 - soft IoU of silhouettes in [0, 1]: ``1 - sum(s t) / sum(s + t - s t)`` per image
    (leading axis), averaged. Accepts (N, H, W) or (H, W) maps of the same shape."""
    _pair(silhouette, target, "silhouette_iou_loss")
    s = silhouette if type(silhouette) is Tensor else dp.tensor(np.asarray(silhouette, float))
    if s.ndim < 2:
        raise ValueError(f"silhouette_iou_loss: expected (H, W) or (N, H, W) maps, got shape {s.shape}")
    axes = (-2, -1)
    inter = dp.sum(s * target, axis=axes)
    union = dp.sum(s + target - s * target, axis=axes)
    return dp.mean(1.0 - inter / (union + eps))


def _check_mesh(mesh, name="mesh"):
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{name}: expected a diffprog.render.Mesh, got {type(mesh).__name__}")


def _neighbours(faces, num_verts):
    e = unique_edges(faces)
    i = np.concatenate([e[:, 0], e[:, 1]])
    j = np.concatenate([e[:, 1], e[:, 0]])
    return i, j


def _cot_weights(verts, faces):
    """Half the cotangent of each face corner's angle, paired with the opposite edge (i, j) in
    both directions: (i, j, w) with w a Tensor when ``verts`` is one (differentiable)."""
    v = verts[faces]                                                     # (F, 3, 3)
    out_i, out_j, out_w = [], [], []
    for k in range(3):
        a, b, c = v[:, k], v[:, (k + 1) % 3], v[:, (k + 2) % 3]
        u, w = b - a, c - a
        cr = dp.cross(u, w)
        sin = dp.sqrt(dp.sum(cr * cr, axis=1) + 1e-24)
        out_i.append(faces[:, (k + 1) % 3])
        out_j.append(faces[:, (k + 2) % 3])
        out_w.append(0.5 * dp.sum(u * w, axis=1) / sin)
    i, j = np.concatenate(out_i), np.concatenate(out_j)
    w = dp.concatenate(out_w, axis=0)
    return np.concatenate([i, j]), np.concatenate([j, i]), dp.concatenate([w, w], axis=0)


def laplacian_smoothing(mesh, method="uniform"):
    """Mean over vertices of |L v| (see module doc); ``method``: 'uniform' or 'cot'. With 'cot'
    the weights depend on the vertices too and are differentiated (they are not frozen)."""
    _check_mesh(mesh)
    V = mesh.num_verts
    verts = mesh.verts
    if method == "uniform":
        i, j = _neighbours(mesh.faces, V)
        w = np.ones(len(i), dtype=verts.dtype)
        total = np.bincount(i, weights=w, minlength=V)
        coef = w / np.where(total > 0, total, 1.0)[i]
    elif method in ("cot", "cotangent"):
        i, j, w = _cot_weights(verts, mesh.faces)
        total = dp.index_add(dp.zeros(V, dtype=verts.dtype), 0, i, w)
        safe = dp.where(np.abs(total.data) > 1e-12, total, 1.0)
        coef = w / safe[i]
    else:
        raise ValueError(f"method: expected 'uniform' or 'cot', got {method!r}")
    diff = (verts[j] - verts[i]) * coef[:, None]
    lap = dp.index_add(dp.zeros(verts.shape, dtype=verts.dtype), 0, i, diff)
    return dp.mean(dp.sqrt(dp.sum(lap * lap, axis=1)))


def edge_length(mesh, target_length=0.0):
    """Mean over unique edges of (|e| - target_length)^2."""
    _check_mesh(mesh)
    e = unique_edges(mesh.faces)
    d = mesh.verts[e[:, 0]] - mesh.verts[e[:, 1]]
    length = dp.sqrt(dp.sum(d * d, axis=1))
    return dp.mean((length - target_length) ** 2)


def normal_consistency(mesh):
    """Mean over edges shared by two faces of 1 - cos(angle between the face normals); 0 for a
    flat surface. Edges with more than two faces count every pair of their faces."""
    _check_mesh(mesh)
    a, b = _adjacent_face_pairs(mesh.faces)
    if a is None:
        return dp.sum(mesh.verts * 0.0)
    n = face_normals(mesh.verts, mesh.faces)
    if np.ndim(n) == 2:
        return dp.mean(1.0 - apply(ROW_DOTS, n, a=a, b=b))
    return dp.mean(1.0 - dp.sum(n[a] * n[b], axis=1))


def _row_dots_forward(x, a, b):
    return np.einsum("ij,ij->i", np.take(x, a, axis=0), np.take(x, b, axis=0))


def _row_dots_vjp(g, ans, x, a, b):
    if type(g) is Tensor or type(x) is Tensor:               # create_graph: recorded, differentiable again
        g = dp.reshape(g, (-1, 1))
        out = dp.index_add(dp.zeros(x.shape, dtype=x.dtype), 0, a, g * x[b])
        return dp.index_add(out, 0, b, g * x[a])
    index = np.concatenate([a, b])
    weights = np.concatenate([g[:, None] * np.take(x, b, axis=0), g[:, None] * np.take(x, a, axis=0)])
    out = np.empty(x.shape, dtype=np.result_type(x, g))
    for c in range(x.shape[1]):
        out[:, c] = np.bincount(index, weights=weights[:, c], minlength=x.shape[0])
    return out


def _row_dots_jvp(t, ans, x, a, b):
    if type(t) is Tensor or type(x) is Tensor:
        return dp.sum(t[a] * x[b] + x[a] * t[b], axis=1)
    return (np.einsum("ij,ij->i", np.take(t, a, axis=0), np.take(x, b, axis=0))
            + np.einsum("ij,ij->i", np.take(x, a, axis=0), np.take(t, b, axis=0)))


# (E,) dot products of the rows a and b of x (N, C): the normal-consistency loss's cosines as one op
# (the engine's two gathers, product and sum over a 3-wide axis, and two scatters back, were ~4x slower)
ROW_DOTS = Primitive("row_dots", _row_dots_forward, vjps=[_row_dots_vjp], jvps=[_row_dots_jvp], save="inputs")


_FACE_PAIRS = {}          # faces' bytes -> (a, b): fits call this every step on an unchanged topology


def _adjacent_face_pairs(f):
    """(a, b) index arrays of every pair of faces sharing an edge of ``f`` (None, None without any)."""
    f = np.ascontiguousarray(f)
    key = (f.shape, f.dtype.str, f.tobytes())
    if key in _FACE_PAIRS:
        return _FACE_PAIRS[key]
    F = len(f)
    face = np.tile(np.arange(F), 3)
    _, edge_id = unique_edges(f, return_inverse=True)
    order = np.argsort(edge_id, kind="stable")
    ids, faces_sorted = edge_id[order], face[order]
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[first, len(ids)])
    pairs_a, pairs_b = [], []
    for k in range(1, counts.max() if len(counts) else 1):
        for m in range(k):
            has = counts > k
            pairs_a.append(faces_sorted[first[has] + m])
            pairs_b.append(faces_sorted[first[has] + k])
    pairs = (np.concatenate(pairs_a), np.concatenate(pairs_b)) if pairs_a else (None, None)
    if len(_FACE_PAIRS) >= 8:
        _FACE_PAIRS.pop(next(iter(_FACE_PAIRS)))
    _FACE_PAIRS[key] = pairs
    return pairs


def _nearest(a, b, chunk=2048):
    """Index in b of each row of a's nearest point (squared Euclidean), chunked (no |a| x |b|)."""
    out = np.empty(len(a), dtype=np.int64)
    bb = np.einsum("ij,ij->i", b, b)
    for s in range(0, len(a), chunk):
        x = a[s:s + chunk]
        d = bb[None, :] - 2.0 * x @ b.T
        out[s:s + chunk] = np.argmin(d, axis=1)
    return out


def chamfer_distance(a, b):
    """Symmetric chamfer distance between point sets a (N, D) and b (M, D): the mean squared
    distance from each point to its nearest neighbour in the other set, summed over both
    directions. Differentiable in both (nearest neighbours are held fixed, as usual)."""
    a = a if type(a) is Tensor else dp.tensor(np.asarray(a, float))
    b = b if type(b) is Tensor else dp.tensor(np.asarray(b, float))
    for name, p in (("a", a), ("b", b)):
        if p.ndim != 2 or p.shape[0] == 0:
            raise ValueError(f"{name}: expected a non-empty (N, D) point set, got shape {p.shape}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a, b: points must have the same dimension, got {a.shape[1]} and {b.shape[1]}")
    ad, bd = np.asarray(a.data, float), np.asarray(b.data, float)
    nab, nba = _nearest(ad, bd), _nearest(bd, ad)
    da = a - b[nab]
    db = b - a[nba]
    return dp.mean(dp.sum(da * da, axis=1)) + dp.mean(dp.sum(db * db, axis=1))


def sample_points(mesh, n, seed=0):
    """(n, 3) points sampled uniformly on the surface (area-weighted faces, uniform barycentrics),
    differentiable with respect to the vertices (the samples' barycentrics are held fixed)."""
    _check_mesh(mesh)
    if int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive number of points, got {n!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    v = np.asarray(mesh.verts.data, float)
    f = mesh.faces
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    if area.sum() <= 0:
        raise ValueError("mesh: has zero surface area; cannot sample points")
    face = rng.choice(len(f), size=int(n), p=area / area.sum())
    r1, r2 = np.sqrt(rng.random(int(n))), rng.random(int(n))
    bary = np.stack([1 - r1, r1 * (1 - r2), r1 * r2], axis=1).astype(mesh.verts.dtype)
    corners = mesh.verts[f[face]]                                        # (n, 3, 3)
    return dp.einsum("pi,pic->pc", bary, corners)
