"""The compiled pair geometry backward (``numba_pairs.pair_geometry_backward``) on its own against
the NumPy reference, for every combination of cotangents (distances recomputed or from what the
search saved, barycentrics, depths), perspective and orthographic, with the pairs in the search's
order (runs of one face, some longer than a SIMD block), shuffled (a face's pairs in many short
runs) and with random pixels (a face's pairs over several images), several cameras, float32 and
no pairs."""
import numpy as np
import pytest

from diffprog.render import kernels as K

pytest.importorskip("numba")


def scene(seed, dtype=np.float64):
    """Screen triangles over two 24 x 30 images: a random soup, large faces (runs of several hundred
    pairs) and slivers."""
    rng = np.random.default_rng(seed)
    soup = rng.uniform(-2, 31, (120, 1, 2)) + rng.normal(0, 3.0, (120, 3, 2))
    big = np.array([[[-10, -8], [40, -5], [8, 45]], [[28, 26], [-6, 22], [5, -9]]], float)
    sliver = np.array([[[2.2, 3.1], [25.7, 19.4], [2.3, 3.4]]])
    xy = np.concatenate([soup, big, sliver])
    z = rng.uniform(1, 3, xy.shape[:2] + (1,))
    tri = np.concatenate([xy, z], 2).astype(dtype)
    image = np.concatenate([rng.integers(0, 2, 120), [0, 1], [1]])
    return tri, image


def close(a, b, rtol):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("order", ["search", "shuffled", "any pixel"])
def test_geometry_backward_equals_the_reference(perspective, order):
    from diffprog.render.kernels import numba_pairs as N
    ref = K._load("numpy")
    tri, image = scene(1)
    h, w, scale = 24, 30, 2.0 / 24
    pixel, face, dist, bary, depth, saved = N.search_pairs(tri, image, h, w, 1.5, False, scale, perspective, False)
    pixel, face, edge, coef = pixel.copy(), face.copy(), saved[0].copy(), saved[1].copy()
    P = len(face)
    runs = np.diff(np.flatnonzero(np.r_[True, face[1:] != face[:-1], True]))
    assert P > 3000 and runs.max() > 2 * N.BACK_BLOCK
    if order == "shuffled":                              # a face's pairs in several runs, any order
        perm = np.random.default_rng(2).permutation(P)
        perm[: P // 2] = np.sort(perm[: P // 2])
        pixel, face, edge, coef = pixel[perm], face[perm], edge[perm], coef[perm]
    if order == "any pixel":                             # a face's run over pixels of both images
        pixel = np.random.default_rng(2).integers(0, 2 * h * w, P)
    rng = np.random.default_rng(3)
    g_dist, g_bary, g_depth = rng.normal(size=P), rng.normal(size=(P, 3)), rng.normal(size=P)
    args = (tri, pixel, face, h, w, scale, perspective)
    for gd, gb, gz in [(g_dist, g_bary, g_depth), (g_dist, None, None), (None, g_bary, g_depth), (None, g_bary, None),
                       (None, None, g_depth)]:
        expected = ref.pair_geometry_backward(*args, gd, gb, gz)
        got = N.pair_geometry_backward(*args, gd, gb, gz)
        close(got, expected, 1e-10)
        np.testing.assert_array_equal(N.pair_geometry_backward(*args, gd, gb, gz), got)     # run to run
        if gd is not None and order != "any pixel":      # the distances' part from what the search saved
            close(N.pair_geometry_backward(*args, gd, gb, gz, (edge, coef)), expected, 1e-10)
    if order != "any pixel":
        close(N.pair_distance_backward(tri, face, (edge, coef), g_dist),
              ref.pair_geometry_backward(*args, g_dist, None, None), 1e-10)


def test_geometry_backward_float32_and_without_pairs():
    from diffprog.render.kernels import numba_pairs as N
    ref = K._load("numpy")
    tri, image = scene(4, np.float32)
    h, w, scale = 24, 30, 2.0 / 24
    pixel, face, dist, bary, depth, saved = N.search_pairs(tri, image, h, w, 1.5, False, scale, True, False)
    rng = np.random.default_rng(5)
    P = len(face)
    g_dist, g_bary, g_depth = (rng.normal(size=P).astype(np.float32), rng.normal(size=(P, 3)).astype(np.float32),
                               rng.normal(size=P).astype(np.float32))
    got = N.pair_geometry_backward(tri, pixel, face, h, w, scale, True, g_dist, g_bary, g_depth, saved)
    expected = ref.pair_geometry_backward(tri.astype(np.float64), pixel, face, h, w, scale, True, g_dist, g_bary,
                                          g_depth)
    assert got.dtype == np.float32
    close(got, expected, 1e-4)
    empty = np.zeros(0, np.int64)
    for gd, gb, gz, sv in [(np.zeros(0), np.zeros((0, 3)), np.zeros(0), None), (np.zeros(0), None, None, None),
                           (np.zeros(0), None, None, (np.zeros(0, np.int8), np.zeros((0, 3))))]:
        out = N.pair_geometry_backward(tri, empty, empty, h, w, scale, True, gd, gb, gz, sv)
        assert out.shape == tri.shape and not out.any()
