"""The compiled lighting forward (``numba_shading.light_pairs``, lit in blocks of pairs and runs of
one face) on cases the render tests do not reach: more pairs than a block, runs of one face that
straddle blocks or are split (the same face in several runs, pairs in any order), a face whose pairs
fall into two cameras within one run, runs of one pair, every base mode, flat and phong,
perspective and orthographic, point lights with attenuation, integral shininess up to 64 and
beyond, non-integral shininess; against a NumPy transcription of the module doc to 1e-10
relative, bit-identical run to run; the backward's gradients (checked against the engine code by
test_lighting_kernels.py) the same up to the order of their sums when the pairs come in another order."""
import numpy as np
import pytest

pytest.importorskip("numba")

from diffprog.render.kernels import numba_shading as S


def pairs(rng, F, cameras, hw):
    """(parent, pixel): runs of random lengths (1 to 700) of random faces, faces repeated; a few
    runs whose pixels change camera midway."""
    parent, pixel = [], []
    while len(parent) < 4000:
        f = rng.integers(F)
        n = int(rng.choice([1, 2, 3, 7, 30, 64, 200, 700]))
        cam = np.full(n, rng.integers(cameras))
        if rng.random() < 0.2:
            cam[n // 2:] = rng.integers(cameras)
        parent += [f] * n
        pixel += list(cam * hw + rng.integers(hw, size=n))
    return np.array(parent), np.array(pixel)


def reference(base, bary, faces, parent, pixel, hw, verts, normal_source, phong, base_mode, view_source,
              orthographic, kind, vec, color, att, ambient, diffuse, specular, shininess):
    idx = faces[parent]
    b = bary[:, :, None]

    def interp(values):
        return (b[:, 0] * values[idx[:, 0]] + b[:, 1] * values[idx[:, 1]]) + b[:, 2] * values[idx[:, 2]]

    def unit(x):
        sq = np.sum(x * x, axis=1, keepdims=True)
        s = np.where(sq > S.NORMAL_EPS, 1.0 / np.sqrt(np.where(sq > S.NORMAL_EPS, sq, 1.0)), 0.0)
        return x * s, s[:, 0]

    p = interp(verts)
    n, sn = unit(interp(normal_source)) if phong else (normal_source[parent], np.ones(len(p)))
    cam = pixel // hw
    v, sv = (view_source[cam], np.ones(len(p))) if orthographic else unit(view_source[cam] - p)
    a = interp(base) if base_mode == 1 else base if base_mode == 0 else np.broadcast_to(base[0], p.shape)
    dif, spe = np.zeros_like(p), np.zeros_like(p)
    for l in range(len(kind)):
        if kind[l] == 0:
            L, scale = np.broadcast_to(vec[l], p.shape), np.ones(len(p))
        else:
            q = vec[l] - p
            d2 = np.sum(q * q, axis=1)
            d = np.sqrt(np.maximum(d2, 1e-24))
            L, scale = q / d[:, None], 1.0 / (att[l, 0] + att[l, 1] * d + att[l, 2] * d2)
        ndotl = np.sum(n * L, axis=1)
        lit = ndotl > 0
        rv = np.where(lit, np.sum((2 * ndotl[:, None] * n - L) * v, axis=1), 0.0)
        power = np.where(rv > 0, np.abs(rv) ** shininess, 0.0)
        dif += color[l] * (np.where(lit, ndotl, 0.0) * scale)[:, None]
        spe += color[l] * (power * scale)[:, None]
    out = a * (ambient + diffuse * dif) + specular * spe
    return out, np.concatenate([n, sn[:, None], v, sv[:, None]], axis=1)


@pytest.mark.parametrize("phong", [True, False])
@pytest.mark.parametrize("orthographic", [False, True])
@pytest.mark.parametrize("base_mode", [0, 1, 2])
@pytest.mark.parametrize("shininess,nlights", [(32.0, 1), (7.5, 3), (5.0, 3), (100.0, 2), (64.0, 1)])
def test_block_and_run_lighting_equals_numpy(phong, orthographic, base_mode, shininess, nlights):
    rng = np.random.default_rng(int(shininess) + 10 * nlights + 100 * base_mode + 1000 * phong + 2000 * orthographic)
    V, F, cameras, hw = 40, 60, 3, 50
    verts = rng.normal(0, 0.5, (V, 3))
    faces = np.array([rng.choice(V, 3, replace=False) for _ in range(F)])
    parent, pixel = pairs(rng, F, cameras, hw)
    P = len(parent)
    bary = rng.dirichlet((1.0, 1.0, 1.0), P)
    normal_source = rng.normal(0, 1, (V if phong else F, 3))
    if phong:
        normal_source[faces[0]] = 0.0                  # face 0's zero normal normalizes to 0
    else:
        normal_source /= np.linalg.norm(normal_source, axis=1, keepdims=True)
    base = rng.random({0: (P, 3), 1: (V, 3), 2: (1, 3)}[base_mode])
    if orthographic:
        view_source = rng.normal(0, 1, (cameras, 3))
        view_source /= np.linalg.norm(view_source, axis=1, keepdims=True)
    else:
        view_source = rng.normal(0, 1, (cameras, 3)) + np.array([0.0, 0.0, 3.0])
    kind = np.array([0, 1, 1])[:nlights]
    vec = np.array([[0.3, 0.5, 0.8], [0.5, 1.0, 2.0], [-1.0, 0.5, 1.5]])[:nlights]
    vec[0] /= np.linalg.norm(vec[0])
    color = rng.random((nlights, 3))
    att = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.3, 0.2]])[:nlights]
    ambient, diffuse, specular = rng.random(3), rng.random(3), rng.random(3)
    args = (base, bary, faces, parent, pixel, hw, verts, normal_source, phong, base_mode, view_source, orthographic,
            kind, vec, color, att, ambient, diffuse, specular, shininess)
    out, state = (x.copy() for x in S.light_pairs(*args))
    ref_out, ref_state = reference(*args)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-10 * np.abs(ref_out).max())
    np.testing.assert_allclose(state, ref_state, rtol=1e-10, atol=1e-12)
    again, again_state = S.light_pairs(*args)
    np.testing.assert_array_equal(out, again)
    np.testing.assert_array_equal(state, again_state)
    # the pairs in another order (runs of one pair mostly): the same values per pair
    perm = rng.permutation(P)
    moved = list(args)
    moved[1], moved[3], moved[4] = bary[perm], parent[perm], pixel[perm]
    if base_mode == 0:
        moved[0] = base[perm]
    out2, state2 = S.light_pairs(*moved)
    np.testing.assert_array_equal(out2, out[perm])
    np.testing.assert_array_equal(state2, state[perm])
    g = rng.normal(0, 1, (P, 3))
    grads = [np.array(x, copy=True) for x in S.light_pairs_backward(*args, state, g)]
    again = S.light_pairs_backward(*args, state, g)
    for a, b in zip(grads, again):
        np.testing.assert_array_equal(a, b)
    moved_grads = S.light_pairs_backward(*moved, state[perm], g[perm])
    for k, (a, b) in enumerate(zip(grads, moved_grads)):
        a, b = np.asarray(a), np.asarray(b)
        if k == 1 or (k == 0 and base_mode == 0):      # per pair: g_bary, g_base
            b = b[np.argsort(perm)]
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10 * max(np.abs(a).max(), 1e-300))
