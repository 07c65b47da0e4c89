"""The soft rasterizer (SoftRas formulation) and its fused blend kernel.

Per pixel p and face j the coverage is ``D_j = sigmoid(dist_j / sigma)`` with ``dist_j`` the signed
squared distance in NDC units (positive inside; see ``fragments``). Faces whose coverage would be
below ``min_coverage`` (default 1e-4) are skipped: the influence radius is
``sqrt(sigma * log((1 - min_coverage) / min_coverage))``, derived from sigma alone.

Aggregation (``soft_blend``, one fused NumPy kernel with its own VJP):

- silhouette ``alpha = 1 - prod_j (1 - D_j)``, computed as ``-expm1(-sum_j softplus(dist_j / sigma))``;
- colour ``sum_j w_j C_j + w_b background`` with ``w_j ∝ D_j exp(z_j / gamma)``,
  ``w_b ∝ exp(eps / gamma)`` and ``z_j = (zfar - depth_j) / (zfar - znear)`` the normalized
  inverse depth (1 at the near plane, 0 at the far plane); the weights are formed in log space with
  a per-pixel max shift, so sigma = 1e-7 and gamma = 1e-6 neither overflow nor give NaN.

As in SoftRas's and PyTorch3D's implementations, only faces within the influence radius take part
in a pixel's colour softmax, so the colour footprint ends at that radius: beyond it a pixel shows
the background. (Counting every face, however far, would let faces with coverage 1e-50 outweigh the
background, whose weight exp(eps / gamma) is tiny next to exp(z / gamma).)

Backface culling (``cull_backfaces=True``) drops faces whose vertices appear clockwise on screen
as seen by the camera (with y up), i.e. faces wound counter-clockwise are front faces.
"""
import numpy as np

import diffprog.autodiff as dp
from .binning import candidate_pairs
from .fragments import AREA_EPS, Fragments, geometry, pair_geometry, pair_terms, subset

BACKGROUND_EPS = 1e-10       # normalized inverse depth of the background


def _softplus(x):
    """log(1 + exp(x)) without overflow."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def usable_faces(tri, cull_backfaces):
    """(M,) mask of screen triangles that can cover pixels: finite, non-degenerate, front-facing
    when culling (front: counter-clockwise with y up, i.e. negative signed area in pixel axes)."""
    xy = tri[..., :2]
    d1, d2 = xy[:, 1] - xy[:, 0], xy[:, 2] - xy[:, 0]
    area2 = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    ok = np.isfinite(tri).all(axis=(1, 2)) & (np.abs(area2) > AREA_EPS)
    if cull_backfaces:
        ok &= area2 < 0
    return ok


def find_pairs(tri, image, image_size, radius, cull_backfaces, scale, perspective, inside_only=False):
    """All (pixel, face) pairs whose pixel centre is inside a screen triangle of ``tri`` (M, 3, 3)
    or within ``radius`` pixels of it, with their geometry computed on the way.
    Returns flat pixel indices and face indices (int64) and the (dist, bary, depth) arrays."""
    h, w = image_size
    xy = np.ascontiguousarray(tri[..., :2])
    Xf, Yf, Zf = (np.ascontiguousarray(tri[..., c].T) for c in range(3))          # (3, M)
    r2 = radius * radius
    parts = []
    for face, row, col in candidate_pairs(xy, 0.0 if inside_only else radius, h, w,
                                          usable_faces(tri, cull_backfaces)):
        px, py = (col + 0.5).astype(tri.dtype), (row + 0.5).astype(tri.dtype)
        terms = pair_terms(Xf[:, face], Yf[:, face], px, py)
        ok = terms["inside"] if inside_only else terms["inside"] | (terms["d2"] <= r2)
        terms = subset(terms, ok)
        face = face[ok]
        dist, bary, depth = geometry(terms, Zf[:, face], scale, perspective)
        parts.append(((image[face] * (h * w) + row[ok] * w + col[ok]), face, dist, bary, depth))
        del terms
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, (np.zeros(0, tri.dtype), np.zeros((0, 3), tri.dtype), np.zeros(0, tri.dtype))
    pixel, face, dist, bary, depth = (np.concatenate([p[i] for p in parts]) for i in range(5))
    return pixel, face, (dist, bary, depth)


def fragments_from_pairs(screen, pixel, face, cams, outputs=None):
    """Fragments for given pairs of ``screen`` triangles (a ``clipping.ScreenTriangles``)."""
    h, w = cams.image_size
    dist, bary, depth = pair_geometry(screen.tri, pixel, face, (h, w), cams.ndc_per_pixel,
                                      perspective=not cams.orthographic, outputs=outputs)
    if screen.corners is not None:
        bary = dp.einsum("pi,pij->pj", bary, screen.corners[face])
    return Fragments(pixel, face, screen.parent[face], dist, bary, depth, (len(cams), h, w))


def nearest_per_pixel(pixel, depth, k):
    """Indices of the ``k`` nearest pairs (smallest depth) of each pixel."""
    order = np.lexsort((depth, pixel))
    ps = pixel[order]
    first = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    counts = np.diff(np.r_[first, len(ps)])
    rank = np.arange(len(ps)) - np.repeat(first, counts)
    return np.sort(order[rank < k])


class SoftRasterizer:
    """SoftRas-style rasterizer.

    sigma: sharpness of the coverage (squared NDC distance); gamma: depth-softmax temperature;
    faces_per_pixel: None (default, every face within the influence radius counts, exactly) or K
    (keep the K nearest per pixel, for speed); cull_backfaces: drop back faces (see module doc);
    min_coverage: coverage below which a face is skipped (sets the influence radius).
    """

    def __init__(self, sigma=1e-4, gamma=1e-4, faces_per_pixel=None, cull_backfaces=False, min_coverage=1e-4):
        if not (np.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
        if not (np.isfinite(gamma) and gamma > 0):
            raise ValueError(f"gamma: expected a positive number, got {gamma!r}")
        if faces_per_pixel is not None and (int(faces_per_pixel) != faces_per_pixel or faces_per_pixel < 1):
            raise ValueError(f"faces_per_pixel: expected None or a positive integer, got {faces_per_pixel!r}")
        if not 0 < min_coverage < 0.5:
            raise ValueError(f"min_coverage: expected a number in (0, 0.5), got {min_coverage!r}")
        self.sigma, self.gamma = float(sigma), float(gamma)
        self.faces_per_pixel = None if faces_per_pixel is None else int(faces_per_pixel)
        self.cull_backfaces = bool(cull_backfaces)
        self.min_coverage = float(min_coverage)

    @property
    def radius(self):
        """Influence radius in NDC units."""
        return float(np.sqrt(self.sigma * np.log((1.0 - self.min_coverage) / self.min_coverage)))

    def rasterize(self, screen, cams):
        """Fragments of ``screen`` triangles (from ``clipping.screen_triangles``) seen by ``cams``."""
        radius_px = self.radius / cams.ndc_per_pixel
        pixel, face, outputs = find_pairs(screen.tri.data, screen.image, cams.image_size, radius_px,
                                          self.cull_backfaces, cams.ndc_per_pixel, not cams.orthographic)
        if self.faces_per_pixel is not None and len(pixel):
            keep = nearest_per_pixel(pixel, outputs[2], self.faces_per_pixel)
            if len(keep) < len(pixel):
                pixel, face, outputs = pixel[keep], face[keep], tuple(o[keep] for o in outputs)
        return fragments_from_pairs(screen, pixel, face, cams, outputs)

    def blend(self, fragments, colors, background, znear, zfar):
        """(N, H, W, C + 1) image: blended colours and the silhouette as last channel, or
        (N, H, W, 1) silhouette only when ``colors`` is None."""
        return soft_blend(fragments, colors, background, self.sigma, self.gamma, znear, zfar)

    def __repr__(self):
        return (f"SoftRasterizer(sigma={self.sigma}, gamma={self.gamma}, faces_per_pixel={self.faces_per_pixel}, "
                f"cull_backfaces={self.cull_backfaces})")


def _blend_forward(dist, depth, colors, background, pixel, npix, sigma, gamma, znear, zfar):
    x = dist / sigma
    log_alpha_c = np.bincount(pixel, weights=-_softplus(x), minlength=npix)      # log(1 - alpha)
    alpha = (0.0 - np.expm1(log_alpha_c)).astype(dist.dtype, copy=False)     # bincount sums in float64
    res = dict(x=x, alpha=alpha)
    if colors is None:
        return alpha[:, None], res
    zn = (zfar - depth) / (zfar - znear)
    s = -_softplus(-x) + zn / gamma                                                 # log D + z / gamma
    sb = BACKGROUND_EPS / gamma
    m = np.full(npix, sb, dtype=s.dtype)
    np.maximum.at(m, pixel, s)
    e = np.exp(s - m[pixel])
    eb = np.exp(sb - m)
    Z = np.bincount(pixel, weights=e, minlength=npix) + eb
    wgt = e / Z[pixel]
    wb = eb / Z
    C = colors.shape[1]
    rgb = np.empty((npix, C), dtype=colors.dtype)
    for c in range(C):
        rgb[:, c] = np.bincount(pixel, weights=wgt * colors[:, c], minlength=npix)
    rgb += (wb[:, None] * background).astype(rgb.dtype, copy=False)
    res.update(wgt=wgt, wb=wb, rgb=rgb)
    return np.concatenate([rgb, alpha[:, None]], axis=1), res


def _blend_backward(res, g, colors, background, pixel, sigma, gamma, znear, zfar, bg_per_pixel):
    x, alpha = res["x"], res["alpha"]
    g_alpha = g[:, -1]
    g_x = (g_alpha * (1.0 - alpha))[pixel] * _sigmoid(x)
    g_colors = g_depth = g_bg = None
    if colors is not None:
        g_rgb = g[:, :-1]
        wgt, wb, rgb = res["wgt"], res["wb"], res["rgb"]
        g_pix = g_rgb[pixel]
        g_colors = wgt[:, None] * g_pix
        g_out = np.einsum("ij,ij->i", g_rgb, rgb)
        g_s = wgt * (np.einsum("ij,ij->i", g_pix, colors) - g_out[pixel])
        g_x = g_x + g_s * _sigmoid(-x)
        g_depth = g_s * (-1.0 / (gamma * (zfar - znear)))
        g_bg = wb[:, None] * g_rgb if bg_per_pixel else (wb[:, None] * g_rgb).sum(axis=0)
    return g_x / sigma, g_depth, g_colors, g_bg


def soft_blend(fragments, colors, background, sigma, gamma, znear, zfar):
    """The fused aggregation kernel (see module doc). fragments: pairs with ``dist`` and ``depth``;
    colors: (P, C) Tensor of each pair's shaded colour, or None for the silhouette only;
    background: (C,) colour or (N, H, W, C) image. Returns (N, H, W, C + 1) or (N, H, W, 1)."""
    n, h, w = fragments.image_shape
    npix = n * h * w
    pixel = fragments.pixel
    if colors is None:
        class _Silhouette(dp.Function):
            @staticmethod
            def forward(ctx, dist):
                out, ctx.res = _blend_forward(dist, None, None, None, pixel, npix, sigma, gamma, znear, zfar)
                return out

            @staticmethod
            def backward(ctx, g):
                return _blend_backward(ctx.res, g, None, None, pixel, sigma, gamma, znear, zfar, False)[0]

        out = _Silhouette.apply(fragments.dist)
        return dp.reshape(out, (n, h, w, 1))
    C = colors.shape[1]
    bg = background if type(background) is dp.Tensor else dp.tensor(np.asarray(background, dtype=colors.dtype))
    bg_per_pixel = bg.ndim > 1
    if bg_per_pixel:
        bg = dp.reshape(dp.broadcast_to(bg, (n, h, w, C)), (npix, C))

    class _SoftBlend(dp.Function):
        @staticmethod
        def forward(ctx, dist, depth, colors_, bg_):
            ctx.colors, ctx.bg = colors_, bg_
            out, ctx.res = _blend_forward(dist, depth, colors_, bg_, pixel, npix, sigma, gamma, znear, zfar)
            return out

        @staticmethod
        def backward(ctx, g):
            return _blend_backward(ctx.res, g, ctx.colors, ctx.bg, pixel, sigma, gamma, znear, zfar, bg_per_pixel)

    out = _SoftBlend.apply(fragments.dist, fragments.depth, colors, bg)
    return dp.reshape(out, (n, h, w, C + 1))
