"""The compiled soft silhouette kernel (``numba_silhouette``) on its own: its vectorizable
exponential against libm's, and the fused op against the reference composition (``find_pairs``,
``blend_forward``, ``blend_backward``, ``pair_geometry_backward`` of the NumPy kernels) on crowded
pixels (thousands of pairs on one pixel), culling, several cameras and float32."""
import math

import numpy as np
import pytest

from diffprog.render import kernels as K

pytest.importorskip("numba")


def ulps(a, b):
    return np.abs(a.view(np.int64) - b.view(np.int64))


def test_exp_neg_is_within_one_ulp_of_libm():
    from diffprog.render.kernels.numba_silhouette import _exp_neg_array
    rng = np.random.default_rng(0)
    t = np.concatenate([-rng.uniform(0, 1e-12, 10**5), -rng.uniform(0, 0.5, 10**6), -rng.uniform(0, 20, 10**6),
                        -rng.uniform(0, 760, 10**6), -rng.uniform(700, 760, 10**5),     # subnormal results
                        -np.arange(0, 50, 1 / 64), -np.log(2) * np.arange(1100) / 2,     # range-reduction edges
                        [0.0, -0.0, -5e-324, -1e-300, -745.1, -745.2, -746.0, -1e4, -np.inf]])
    out = np.empty_like(t)
    _exp_neg_array(t, out)
    ref = np.array([math.exp(v) for v in t])
    assert ulps(out, ref).max() <= 1
    assert (out == ref).mean() > 0.85
    nan = np.empty(1)
    _exp_neg_array(np.array([np.nan]), nan)
    assert np.isnan(nan[0])


def reference(tri, image, h, w, radius, cull, scale, npix, sigma, g):
    k = K._load("numpy")
    pixel, face, dist, bary, depth = k.find_pairs(tri, image, h, w, radius, cull, scale, True, False)
    out, res = k.blend_forward(dist, depth, None, None, pixel, npix, sigma, 1e-4, 0.1, 10.0)
    g_dist = k.blend_backward(res, g, None, None, pixel, sigma, 1e-4, 0.1, 10.0, False)[0]
    return out[:, 0], k.pair_geometry_backward(tri, pixel, face, h, w, scale, True, g_dist, None, None), len(pixel)


def crowded_scene(seed, dtype=np.float64):
    """Screen triangles: 1500 slivers with an edge through the middle of pixel (5, 5) (x near 0 for
    ~1500 pairs there: a product of (1 + e) past any float, which the kernel folds), a random soup
    over two cameras, huge faces (deep insides: exp(-|x|) underflows) and degenerate ones."""
    rng = np.random.default_rng(seed)
    n = 1500
    a = np.stack([5.5 + rng.normal(0, 0.02, n), 5.5 + rng.normal(0, 0.02, n)], 1)
    ang = rng.uniform(0, 2 * np.pi, n)
    b = a + 3 * np.stack([np.cos(ang), np.sin(ang)], 1)
    c = a + rng.uniform(0.2, 2.0, (n, 2)) * rng.choice([-1, 1], (n, 2))
    slivers = np.stack([a, b, c], 1)
    soup = rng.uniform(-3, 26, (300, 1, 2)) + rng.normal(0, 2.5, (300, 3, 2))
    big = np.array([[[-40, -40], [60, -30], [10, 70]], [[30, 30], [-20, 25], [5, -30]]], float)
    bad = np.array([[[1, 1], [2, 2], [3, 3]], [[4, 4], [4, 4], [5, 6]]], float)
    xy = np.concatenate([slivers, soup, big, bad])
    z = rng.uniform(1, 3, xy.shape[:2] + (1,))
    tri = np.concatenate([xy, z], 2).astype(dtype)
    image = np.concatenate([np.zeros(n, np.int64), rng.integers(0, 2, 300), [1, 0], [0, 1]])
    return tri, image


@pytest.mark.parametrize("cull,sigma,size", [(False, 1e-4, (21, 23)), (True, 1e-4, (21, 23)), (False, 3e-3, (21, 23)),
                                             (True, 3e-3, (21, 23)), (False, 1e-4, (45, 52))])
def test_fused_silhouette_equals_the_reference_composition(cull, sigma, size):
    # (45, 52): boxes of more candidates than the search tests at once (``BLOCK``)
    from diffprog.render.kernels import numba_silhouette as S
    tri, image = crowded_scene(3)
    (h, w), n = size, 2
    npix = n * h * w
    scale = 2.0 / 21
    radius = math.sqrt(sigma * math.log((1 - 1e-4) / 1e-4)) / scale
    g = np.random.default_rng(5).random((npix, 1))
    ref_alpha, ref_grad, pairs = reference(tri, image, h, w, radius, cull, scale, npix, sigma, g)
    assert pairs > 3000
    runs = []
    for _ in range(2):
        alpha, saved = S.soft_silhouette(tri, image, h, w, radius, cull, scale, npix, sigma)
        grad = S.soft_silhouette_backward(tri, saved, g)
        runs.append((alpha.copy(), grad))
        del saved
    alpha, grad = runs[0]
    np.testing.assert_allclose(alpha, ref_alpha, rtol=1e-10, atol=0)       # elementwise, tiny alphas too
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-10 * np.abs(ref_grad).max())
    np.testing.assert_array_equal(runs[1][0], alpha)                      # bit-identical run to run
    np.testing.assert_array_equal(runs[1][1], grad)
    # channels: their cotangents summed
    g4 = np.random.default_rng(6).random((npix, 4))
    grad4 = S.soft_silhouette_backward(tri, saved_of(S, tri, image, h, w, radius, cull, scale, npix, sigma), g4)
    _, ref4, _ = reference(tri, image, h, w, radius, cull, scale, npix, sigma, g4.sum(1, keepdims=True))
    np.testing.assert_allclose(grad4, ref4, rtol=1e-10, atol=1e-10 * np.abs(ref4).max())


def saved_of(S, *args):
    return S.soft_silhouette(*args)[1]


def test_fused_silhouette_float32_equals_the_composed_compiled_kernels():
    from diffprog.render.kernels import numba_silhouette as S
    tri, image = crowded_scene(4, np.float32)
    h, w, n = 21, 23, 2
    npix, scale, sigma = n * h * w, 2.0 / 21, 1e-4
    radius = math.sqrt(sigma * math.log((1 - 1e-4) / 1e-4)) / scale
    g = np.random.default_rng(7).random((npix, 1)).astype(np.float32)
    ref_alpha, ref_grad, _ = reference(tri, image, h, w, radius, False, scale, npix, sigma, g)
    alpha, saved = S.soft_silhouette(tri, image, h, w, radius, False, scale, npix, sigma)
    grad = S.soft_silhouette_backward(tri, saved, g)
    assert alpha.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(alpha, ref_alpha, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-4 * np.abs(ref_grad).max())


def test_fused_silhouette_without_pairs():
    from diffprog.render.kernels import numba_silhouette as S
    tri = np.array([[[100.0, 100.0, 1.0], [110.0, 100.0, 1.0], [100.0, 110.0, 1.0]]])
    alpha, saved = S.soft_silhouette(tri, np.zeros(1, np.int64), 8, 8, 2.0, False, 0.25, 64, 1e-4)
    assert alpha.shape == (64,) and not alpha.any()
    grad = S.soft_silhouette_backward(tri, saved, np.ones(64))
    assert grad.shape == (1, 3, 3) and not grad.any()
