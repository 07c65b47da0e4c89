"""Compiled (numba) per-pair lighting of the ``flat`` and ``phong`` shaders, fused with the
interpolation of its inputs and with its VJP.

Reference: the engine code of ``render.shading`` (``interpolate``, ``light_terms`` and
``_lit_pairs``), which the NumPy kernel set runs as it is. Per pair j of mesh face f = parent[j]
with vertices i_k = faces[f, k] and barycentrics b_k = bary[j, k], camera ``image`` (from the
flat pixel index), and lights l:

    point = sum_k b_k verts[i_k];
    n = sum_k b_k normal_source[i_k], unit-normalized (phong), or normal_source[f] (flat);
    base = sum_k b_k base_source[i_k] (vertex colours), base_source[j] (per pair) or base_source[0];
    v = view direction,
    L_l = unit vector to light l, s_l = its attenuation (1 without),
    out = base * (ambient + diffuse * sum_l color_l max(n.L_l, 0) s_l)
          + specular * sum_l color_l [n.L_l > 0] max(r_l.v, 0) ** shininess s_l,   r_l = 2 (n.L_l) n - L_l.

Lights are given as arrays: ``kind`` (0 directional, 1 point), ``vec`` (unit to-light direction or
position), ``color`` (L, 3), ``attenuation`` (L, 3) (1, 0, 0 for none). Reductions over pairs (the
light and material gradients) and scatter-adds into cameras run serially in pair order, the
scatter-adds into mesh rows per run of one face in a fixed order (``_run_sums``): deterministic.
The per-pair work runs in SIMD lanes: pairs in blocks of ``BLOCK``, work arrays as rows of one
buffer (structure of arrays), see ``_forward``.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from .numba_attributes import _scatter3
from .numba_pairs import scratch

NORMAL_EPS = 1e-20       # as ``mesh._normalize``: squared length below which a vector normalizes to 0


@njit(inline="always", error_model="numpy")
def _unit(x0, x1, x2):
    sq = x0 * x0 + x1 * x1 + x2 * x2
    s = 1.0 / math.sqrt(sq) if sq > NORMAL_EPS else 0.0
    return x0 * s, x1 * s, x2 * s, s


@njit(inline="always", error_model="numpy")
def _camera(pixel, hw, inv_hw):
    """Camera index of flat pixel index ``pixel`` (pixel // hw without an integer division; 0 for
    the first image's pixels without arithmetic: a predictable branch, a shorter dependency chain)."""
    if pixel < hw:
        return np.int64(0)
    q = np.int64((pixel + 0.5) * inv_hw)
    if q * hw > pixel:
        q -= 1
    elif (q + 1) * hw <= pixel:
        q += 1
    return q


LANES = 8               # the per-run loops run over a multiple of this many pairs (the extra lanes are never read)
BLOCK = 512             # pairs lit per block (the work arrays stay in the L2 cache; 256: no faster)
ROW = BLOCK + LANES     # one work array's length: the rows of the block's work array ``w`` (one buffer and
                        # constant offsets, so LLVM sees that its rows do not overlap)
WB0, WB1, WB2 = 0 * ROW, 1 * ROW, 2 * ROW                    # barycentrics
WX0, WX1, WX2 = 3 * ROW, 4 * ROW, 5 * ROW                    # point
WN0, WN1, WN2, WSN = 6 * ROW, 7 * ROW, 8 * ROW, 9 * ROW      # unit normal, 1 / |interpolated normal|
WV0, WV1, WV2, WSV = 10 * ROW, 11 * ROW, 12 * ROW, 13 * ROW  # view direction, 1 / |camera - point|
WA0, WA1, WA2 = 14 * ROW, 15 * ROW, 16 * ROW                 # base colour
WD0, WD1, WD2 = 17 * ROW, 18 * ROW, 19 * ROW                 # sums over the lights: diffuse
WS0, WS1, WS2 = 20 * ROW, 21 * ROW, 22 * ROW                 # specular
WRV = 23 * ROW                                               # the last light's r.v
WROWS = 24


def _shuffle_masks(h):
    """Lane masks of round h (1, 2, 4) of an 8 x 8 transpose: lanes j with bit h clear from the first
    vector and the rest from the second (h lanes along), and the other half."""
    lo = [j if (j & h) == 0 else 8 + j - h for j in range(8)]
    hi = [j + h if (j & h) == 0 else 8 + j for j in range(8)]
    return lo, hi


def _transposer(src_stride, dst_stride):
    """An intrinsic f(src, src_off, dst, dst_off): dst[dst_off + u dst_stride + k] =
    src[src_off + k src_stride + u] for k, u < 8 (1-d float64 arrays; eight rows of eight values
    become eight columns): eight 8-lane loads, an 8 x 8 transpose in registers (three rounds of
    shuffles) and eight 8-lane stores. Rows of ``state`` (P, 8) from work rows and back: written as
    plain loops, LLVM stores them with scatters (or 64 scalar stores), slower."""
    @intrinsic
    def transpose(typingctx, src, src_off, dst, dst_off):
        if not (isinstance(src, types.Array) and isinstance(dst, types.Array) and src.ndim == dst.ndim == 1
                and src.dtype == dst.dtype == types.float64):
            return None
        sig = types.void(src, src_off, dst, dst_off)

        def codegen(context, builder, signature, args):
            s = context.make_array(signature.args[0])(context, builder, args[0])
            d = context.make_array(signature.args[2])(context, builder, args[2])
            i64, vec8 = ir.IntType(64), ir.VectorType(ir.DoubleType(), 8)
            src0 = context.cast(builder, args[1], signature.args[1], types.int64)
            dst0 = context.cast(builder, args[3], signature.args[3], types.int64)
            v = []
            for k in range(8):
                ptr = builder.gep(s.data, [builder.add(src0, ir.Constant(i64, k * src_stride))])
                v.append(builder.load(builder.bitcast(ptr, vec8.as_pointer()), align=8))
            h = 1
            while h < 8:                                 # after round h, blocks of h x h are transposed
                lo, hi = (ir.Constant(ir.VectorType(ir.IntType(32), 8), x) for x in _shuffle_masks(h))
                new = list(v)
                for i in range(8):
                    if not i & h:
                        new[i] = builder.shuffle_vector(v[i], v[i + h], lo)
                        new[i + h] = builder.shuffle_vector(v[i], v[i + h], hi)
                v = new
                h *= 2
            for u in range(8):
                ptr = builder.gep(d.data, [builder.add(dst0, ir.Constant(i64, u * dst_stride))])
                builder.store(v[u], builder.bitcast(ptr, vec8.as_pointer()), align=8)
            return context.get_dummy_value()
        return sig, codegen
    return transpose


_store_transposed = _transposer(ROW, 8)      # eight work rows -> eight pairs' rows of ``state``
_load_transposed = _transposer(8, ROW)       # and back


@njit(inline="always", error_model="numpy")
def _power_bits(x, e0, e1, e2, e3, e4, e5, e6):
    """x ** k for x > 0 and an integral k (0 .. 64) with bits e0..e6 (loop invariants), by repeated
    squaring (a few ulp from pow) without a loop or branch: the factors of the bits not set are 1
    (exact), so the value of the loop over the set bits."""
    out = x if e0 else 1.0
    x = x * x
    out = out * (x if e1 else 1.0)
    x = x * x
    out = out * (x if e2 else 1.0)
    x = x * x
    out = out * (x if e3 else 1.0)
    x = x * x
    out = out * (x if e4 else 1.0)
    x = x * x
    out = out * (x if e5 else 1.0)
    x = x * x
    return out * (x if e6 else 1.0)


@njit(inline="always", error_model="numpy")
def _pad(n):
    return (n + LANES - 1) // LANES * LANES


@njit(inline="always", error_model="numpy")
def _point_light(y0, y1, y2, c, k1, k2, p0, p1, p2):
    """The unit vector L from the point p to a point light at y with attenuation (c, k1, k2), and
    the light's scale 1 / (c + k1 d + k2 d^2) at the distance d (at least 1e-12)."""
    q0, q1, q2 = y0 - p0, y1 - p1, y2 - p2
    d2 = q0 * q0 + q1 * q1 + q2 * q2
    d = math.sqrt(max(d2, 1e-24))
    scale = 1.0 / (c + k1 * d + k2 * d2)
    return q0 / d, q1 / d, q2 / d, scale


@njit(inline="always", error_model="numpy")
def _add_light(w, t, L0, L1, L2, scale, k0, k1, k2, integral, e0, e1, e2, e3, e4, e5, e6):
    """Light (L, scale) at pair t of the block: n.L, its ReLU, r.v = (2 (n.L) n - L).v where n.L > 0
    (else 0) and the power (0 where r.v <= 0), every value computed for every pair and
    selected (lit and unlit pairs, highlight or not, alternate too often for branches; selects run
    in SIMD lanes), added to its sums; r.v kept for ``pow``."""
    n0, n1, n2, v0, v1, v2 = w[WN0 + t], w[WN1 + t], w[WN2 + t], w[WV0 + t], w[WV1 + t], w[WV2 + t]
    ndotl = n0 * L0 + n1 * L1 + n2 * L2
    lit = ndotl > 0
    relu = ndotl if lit else 0.0
    rv = (2.0 * ndotl * n0 - L0) * v0 + (2.0 * ndotl * n1 - L1) * v1 + (2.0 * ndotl * n2 - L2) * v2
    rv = rv if lit else 0.0
    power = _power_bits(rv, e0, e1, e2, e3, e4, e5, e6)
    power = power if rv > 0 else 0.0
    power = power if integral else 0.0                   # (else added by ``pow`` after)
    w[WD0 + t] += k0 * (relu * scale)
    w[WD1 + t] += k1 * (relu * scale)
    w[WD2 + t] += k2 * (relu * scale)
    w[WS0 + t] += k0 * (power * scale)
    w[WS1 + t] += k1 * (power * scale)
    w[WS2 + t] += k2 * (power * scale)
    w[WRV + t] = rv


@njit(cache=True, error_model="numpy")
def _forward(bary, faces, parent, pixel, hw, verts, normal_source, phong, base_source, base_mode, view_source,
             orthographic, kind, vec, color, att, ambient, diffuse, specular, shininess, out, state):
    """Colours into ``out`` (P, 3); per pair into ``state`` (P, 8) the unit normal and view
    direction and their normalizing scales (n, |r|^-1, v, |w|^-1), which the backward reuses.

    The pairs are lit ``BLOCK`` at a time in loops that run in SIMD lanes: first, per run of
    consecutive pairs of one face and camera (the search's order; any order is correct, a run may
    be one pair), the point, unit normal, view direction and base colour with the face's values
    hoisted, into the block's work arrays (structure of arrays); then per light, over the whole
    block, its diffuse and specular sums; then the colours and the state into ``out`` and
    ``state``. The arithmetic of the per-pair loop of before, pair by pair (the same values, bit
    for bit); an integral shininess up to 64 by ``_power_bits``, another by ``pow`` in a scalar
    loop of its own."""
    P = bary.shape[0]
    nl = kind.shape[0]
    inv_hw = 1.0 / hw
    integral = shininess == math.floor(shininess) and 0.0 <= shininess <= 64.0
    nk = int(shininess) if integral else 0
    e0, e1, e2, e3 = (nk & 1) != 0, (nk & 2) != 0, (nk & 4) != 0, (nk & 8) != 0
    e4, e5, e6 = (nk & 16) != 0, (nk & 32) != 0, (nk & 64) != 0
    w = np.zeros(WROWS * ROW)
    out_flat, state_flat = out.reshape(3 * P), state.reshape(8 * P)
    amb0, amb1, amb2 = ambient[0], ambient[1], ambient[2]
    dif0, dif1, dif2 = diffuse[0], diffuse[1], diffuse[2]
    spe0, spe1, spe2 = specular[0], specular[1], specular[2]
    for start in range(0, P, BLOCK):
        m = min(BLOCK, P - start)
        mp = _pad(m)
        # views from the block's or the run's first pair: indices that LLVM sees are >= 0 (from 0 in the
        # loops), so the loops run in SIMD lanes
        bb = bary[start:start + m]
        ob, sb = out_flat[3 * start:3 * (start + m)], state_flat[8 * start:8 * (start + m)]
        for t in range(m):
            w[WB0 + t] = np.float64(bb[t, 0])
            w[WB1 + t] = np.float64(bb[t, 1])
            w[WB2 + t] = np.float64(bb[t, 2])
        t0 = 0
        while t0 < m:                                    # the runs of one face and camera
            f = parent[start + t0]
            i = _camera(pixel[start + t0], hw, inv_hw)
            lo, hi = i * hw, (i + 1) * hw
            t1 = t0 + 1
            while t1 < m and parent[start + t1] == f and lo <= pixel[start + t1] < hi:
                t1 += 1
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            x00, x01, x02 = verts[i0, 0], verts[i0, 1], verts[i0, 2]
            x10, x11, x12 = verts[i1, 0], verts[i1, 1], verts[i1, 2]
            x20, x21, x22 = verts[i2, 0], verts[i2, 1], verts[i2, 2]
            if phong:
                n00, n01, n02 = normal_source[i0, 0], normal_source[i0, 1], normal_source[i0, 2]
                n10, n11, n12 = normal_source[i1, 0], normal_source[i1, 1], normal_source[i1, 2]
                n20, n21, n22 = normal_source[i2, 0], normal_source[i2, 1], normal_source[i2, 2]
            else:
                n00, n01, n02 = normal_source[f, 0], normal_source[f, 1], normal_source[f, 2]
                n10 = n11 = n12 = n20 = n21 = n22 = 0.0
            if base_mode == 1:
                a00, a01, a02 = base_source[i0, 0], base_source[i0, 1], base_source[i0, 2]
                a10, a11, a12 = base_source[i1, 0], base_source[i1, 1], base_source[i1, 2]
                a20, a21, a22 = base_source[i2, 0], base_source[i2, 1], base_source[i2, 2]
            else:
                a00, a01, a02 = base_source[0, 0], base_source[0, 1], base_source[0, 2]
                a10 = a11 = a12 = a20 = a21 = a22 = 0.0
            c0, c1, c2 = view_source[i, 0], view_source[i, 1], view_source[i, 2]
            wr = w[t0:]
            for t in range(_pad(t1 - t0)):               # in SIMD lanes
                b0, b1, b2 = wr[WB0 + t], wr[WB1 + t], wr[WB2 + t]
                p0 = (b0 * x00 + b1 * x10) + b2 * x20
                p1 = (b0 * x01 + b1 * x11) + b2 * x21
                p2 = (b0 * x02 + b1 * x12) + b2 * x22
                wr[WX0 + t], wr[WX1 + t], wr[WX2 + t] = p0, p1, p2
                if phong:
                    n0, n1, n2, sn = _unit((b0 * n00 + b1 * n10) + b2 * n20, (b0 * n01 + b1 * n11) + b2 * n21,
                                           (b0 * n02 + b1 * n12) + b2 * n22)
                else:
                    n0, n1, n2, sn = n00, n01, n02, 1.0
                wr[WN0 + t], wr[WN1 + t], wr[WN2 + t], wr[WSN + t] = n0, n1, n2, sn
                if orthographic:
                    v0, v1, v2, sv = c0, c1, c2, 1.0
                else:
                    v0, v1, v2, sv = _unit(c0 - p0, c1 - p1, c2 - p2)
                wr[WV0 + t], wr[WV1 + t], wr[WV2 + t], wr[WSV + t] = v0, v1, v2, sv
                if base_mode == 1:
                    wr[WA0 + t] = (b0 * a00 + b1 * a10) + b2 * a20
                    wr[WA1 + t] = (b0 * a01 + b1 * a11) + b2 * a21
                    wr[WA2 + t] = (b0 * a02 + b1 * a12) + b2 * a22
                else:
                    wr[WA0 + t], wr[WA1 + t], wr[WA2 + t] = a00, a01, a02
            t0 = t1
        if base_mode == 0:
            ab = base_source[start:start + m]
            for t in range(m):
                w[WA0 + t], w[WA1 + t], w[WA2 + t] = ab[t, 0], ab[t, 1], ab[t, 2]
        for t in range(mp):
            w[WD0 + t] = w[WD1 + t] = w[WD2 + t] = w[WS0 + t] = w[WS1 + t] = w[WS2 + t] = 0.0
        for l in range(nl):
            k0, k1, k2 = color[l, 0], color[l, 1], color[l, 2]
            y0, y1, y2 = vec[l, 0], vec[l, 1], vec[l, 2]
            ac, a1, a2 = att[l, 0], att[l, 1], att[l, 2]
            if kind[l] == 0:
                for t in range(mp):                      # in SIMD lanes
                    _add_light(w, t, y0, y1, y2, 1.0, k0, k1, k2, integral, e0, e1, e2, e3, e4, e5, e6)
            else:
                for t in range(mp):                      # in SIMD lanes
                    L0, L1, L2, scale = _point_light(y0, y1, y2, ac, a1, a2, w[WX0 + t], w[WX1 + t], w[WX2 + t])
                    _add_light(w, t, L0, L1, L2, scale, k0, k1, k2, integral, e0, e1, e2, e3, e4, e5, e6)
            if not integral:                             # x ** k: a libm call
                for t in range(m):
                    rv = w[WRV + t]
                    if rv > 0:
                        scale = 1.0
                        if kind[l] != 0:
                            scale = _point_light(y0, y1, y2, ac, a1, a2, w[WX0 + t], w[WX1 + t], w[WX2 + t])[3]
                        power = rv ** shininess
                        w[WS0 + t] += k0 * (power * scale)
                        w[WS1 + t] += k1 * (power * scale)
                        w[WS2 + t] += k2 * (power * scale)
        for t in range(m):                               # (flat views: rows of a constant stride)
            ob[3 * t] = w[WA0 + t] * (amb0 + dif0 * w[WD0 + t]) + spe0 * w[WS0 + t]
            ob[3 * t + 1] = w[WA1 + t] * (amb1 + dif1 * w[WD1 + t]) + spe1 * w[WS1 + t]
            ob[3 * t + 2] = w[WA2 + t] * (amb2 + dif2 * w[WD2 + t]) + spe2 * w[WS2 + t]
        m8 = m // 8 * 8
        for t in range(0, m8, 8):                        # (rows N0 .. SV: consecutive work rows)
            _store_transposed(w, WN0 + t, sb, 8 * t)
        for t in range(m8, m):
            sb[8 * t], sb[8 * t + 1], sb[8 * t + 2], sb[8 * t + 3] = w[WN0 + t], w[WN1 + t], w[WN2 + t], w[WSN + t]
            sb[8 * t + 4], sb[8 * t + 5], sb[8 * t + 6], sb[8 * t + 7] = w[WV0 + t], w[WV1 + t], w[WV2 + t], w[WSV + t]


@njit(inline="always", error_model="numpy")
def _run9(acc, r):
    return (acc[r], acc[r + 1], acc[r + 2], acc[r + 3], acc[r + 4], acc[r + 5], acc[r + 6], acc[r + 7], acc[r + 8])


@njit(inline="always", error_model="numpy")
def _flush_run(g_values, i0, i1, i2, t):
    """g_values[i_k] += t[3 k:3 k + 3]: a run of pairs of one face, summed per corner (``_backward``)."""
    g_values[i0, 0] += t[0]
    g_values[i0, 1] += t[1]
    g_values[i0, 2] += t[2]
    g_values[i1, 0] += t[3]
    g_values[i1, 1] += t[4]
    g_values[i1, 2] += t[5]
    g_values[i2, 0] += t[6]
    g_values[i2, 1] += t[7]
    g_values[i2, 2] += t[8]


@njit(inline="always", error_model="numpy")
def _flush_runs(phong, base_mode, cur, i0, i1, i2, g_verts, g_normals, g_base, run_p, run_n, run_a):
    _flush_run(g_verts, i0, i1, i2, run_p)
    if phong:
        _flush_run(g_normals, i0, i1, i2, run_n)
    else:
        g_normals[cur, 0] += run_n[0]
        g_normals[cur, 1] += run_n[1]
        g_normals[cur, 2] += run_n[2]
    if base_mode == 1:
        _flush_run(g_base, i0, i1, i2, run_a)
    elif base_mode == 2:
        g_base[0, 0] += run_a[0]
        g_base[0, 1] += run_a[1]
        g_base[0, 2] += run_a[2]


# the backward's work rows (``ROW`` long, in one buffer): barycentrics, points, the state's eight
# rows (consecutive, as in the forward), base colours, cotangents, per-pair sums over the lights
# (diffuse, specular, and the cotangents of n, v, p), one light's per-pair terms of its gradients
# (colour, vector, r.v, power, g_power power), base cotangents, view-source cotangents, g_bary
(GB0, GX0, GN0, GA0, GG0, GDIF0, GSPE0, GGN0, GGV0, GGP0, GCOL0, GVEC0, GRV, GPOW, GSH, GGA0, GGW0,
 GBARY0) = (0 * ROW, 3 * ROW, 6 * ROW, 14 * ROW, 17 * ROW, 20 * ROW, 23 * ROW, 26 * ROW, 29 * ROW, 32 * ROW,
            35 * ROW, 38 * ROW, 41 * ROW, 42 * ROW, 43 * ROW, 44 * ROW, 47 * ROW, 50 * ROW)
GROWS = 53


@intrinsic
def _run_sums(typingctx, w, base, n, phong, vertex_colors, acc):
    """A run's scatter-add sums into ``acc`` (27): at 9 q + 3 k + c the sum over its n pairs (work
    rows from ``base``) of wt_k g_c for the cotangents g of the points (q = 0, weights wt = the
    barycentrics), of the normals (1: the barycentrics, or 1, 0, 0 for flat: the face's row) and of
    the base colours (2: the barycentrics, or 1, 0, 0 for the one colour). In 8-lane vectors with
    eight partial sums per value (lanes past the run masked to 0), then the lanes summed in a fixed
    order: deterministic. (LLVM vectorizes no floating-point sum without reassociation, and these
    sums serially, 27 per pair, took a quarter of the backward.)"""
    sig = types.void(w, base, n, phong, vertex_colors, acc)

    def codegen(context, builder, signature, args):
        wa = context.make_array(signature.args[0])(context, builder, args[0])
        out = context.make_array(signature.args[5])(context, builder, args[5])
        i64, i32, vec8 = ir.IntType(64), ir.IntType(32), ir.VectorType(ir.DoubleType(), 8)
        base = context.cast(builder, args[1], signature.args[1], types.int64)
        n = context.cast(builder, args[2], signature.args[2], types.int64)
        phong = context.cast(builder, args[3], signature.args[3], types.boolean)
        vertex_colors = context.cast(builder, args[4], signature.args[4], types.boolean)
        zero, one = ir.Constant(vec8, [0.0] * 8), ir.Constant(vec8, [1.0] * 8)
        sums = [cgutils.alloca_once_value(builder, zero) for _ in range(27)]
        lanes = ir.Constant(ir.VectorType(i64, 8), list(range(8)))
        blocks = builder.sdiv(builder.add(n, ir.Constant(i64, 7)), ir.Constant(i64, 8))
        with cgutils.for_range(builder, blocks) as loop:
            u = builder.mul(loop.index, ir.Constant(i64, 8))

            def row(offset):
                ptr = builder.gep(wa.data, [builder.add(builder.add(base, u), ir.Constant(i64, offset))])
                return builder.load(builder.bitcast(ptr, vec8.as_pointer()), align=8)
            left = builder.insert_element(ir.Constant(ir.VectorType(i64, 8), ir.Undefined), builder.sub(n, u),
                                          ir.Constant(i32, 0))
            left = builder.shuffle_vector(left, left, ir.Constant(ir.VectorType(i32, 8), [0] * 8))
            keep = builder.icmp_signed("<", lanes, left)
            b = [row(GB0 + k * ROW) for k in range(3)]
            weights = (b, [builder.select(phong, b[0], one), builder.select(phong, b[1], zero),
                           builder.select(phong, b[2], zero)],
                       [builder.select(vertex_colors, b[0], one), builder.select(vertex_colors, b[1], zero),
                        builder.select(vertex_colors, b[2], zero)])
            for q, first in enumerate((GGP0, GGN0, GGA0)):
                g = [row(first + c * ROW) for c in range(3)]
                for k in range(3):
                    for c in range(3):
                        term = builder.select(keep, builder.fmul(weights[q][k], g[c]), zero)
                        slot = sums[9 * q + 3 * k + c]
                        builder.store(builder.fadd(builder.load(slot), term), slot)
        for r in range(27):
            v = builder.load(sums[r])
            e = [builder.extract_element(v, ir.Constant(i32, i)) for i in range(8)]
            total = builder.fadd(builder.fadd(builder.fadd(e[0], e[1]), builder.fadd(e[2], e[3])),
                                 builder.fadd(builder.fadd(e[4], e[5]), builder.fadd(e[6], e[7])))
            builder.store(total, builder.gep(out.data, [ir.Constant(i64, r)]))
        return context.get_dummy_value()
    return sig, codegen


@njit(inline="always", error_model="numpy")
def _light_grads(w, t, L0, L1, L2, scale, c0, c1, c2, shininess, diffuse, specular):
    """The terms of one light's gradient of pair t of the block (``_backward`` before: its branches as
    selects, every value as there): the light's share of the per-pair sums and of the cotangents of
    n, v (added to their rows), its colour's per-pair terms (into the GCOL rows), g_power power (for
    the shininess) and the cotangent of L (returned); r.v and the power from the RV, POW rows."""
    n0, n1, n2 = w[GN0 + t], w[GN0 + ROW + t], w[GN0 + 2 * ROW + t]
    v0, v1, v2 = w[GN0 + 4 * ROW + t], w[GN0 + 5 * ROW + t], w[GN0 + 6 * ROW + t]
    g0, g1, g2 = w[GG0 + t], w[GG0 + ROW + t], w[GG0 + 2 * ROW + t]
    gdif0 = g0 * w[GA0 + t] * diffuse[0]
    gdif1 = g1 * w[GA0 + ROW + t] * diffuse[1]
    gdif2 = g2 * w[GA0 + 2 * ROW + t] * diffuse[2]
    gspe0, gspe1, gspe2 = g0 * specular[0], g1 * specular[1], g2 * specular[2]
    ndotl = n0 * L0 + n1 * L1 + n2 * L2
    relu = ndotl if ndotl > 0 else 0.0
    rv, power = w[GRV + t], w[GPOW + t]
    w[GDIF0 + t] += c0 * (relu * scale)
    w[GDIF0 + ROW + t] += c1 * (relu * scale)
    w[GDIF0 + 2 * ROW + t] += c2 * (relu * scale)
    w[GSPE0 + t] += c0 * (power * scale)
    w[GSPE0 + ROW + t] += c1 * (power * scale)
    w[GSPE0 + 2 * ROW + t] += c2 * (power * scale)
    w[GCOL0 + t] = gdif0 * (relu * scale) + gspe0 * (power * scale)
    w[GCOL0 + ROW + t] = gdif1 * (relu * scale) + gspe1 * (power * scale)
    w[GCOL0 + 2 * ROW + t] = gdif2 * (relu * scale) + gspe2 * (power * scale)
    g_relu = ((gdif0 * c0 * scale) + gdif1 * c1 * scale) + gdif2 * c2 * scale
    g_power = ((gspe0 * c0 * scale) + gspe1 * c1 * scale) + gspe2 * c2 * scale
    g_ndotl = g_relu if ndotl > 0 else 0.0
    high = power > 0
    g_rv = g_power * shininess * (power / rv) if high else 0.0     # d rv^k / d rv = k rv^(k - 1)
    w[GSH + t] = g_power * power
    # rv = (2 ndotl n - L) . v (terms of 0 where power = 0)
    gR0, gR1, gR2 = g_rv * v0, g_rv * v1, g_rv * v2
    ref0, ref1, ref2 = 2.0 * ndotl * n0 - L0, 2.0 * ndotl * n1 - L1, 2.0 * ndotl * n2 - L2
    w[GGV0 + t] += g_rv * ref0 if high else 0.0
    w[GGV0 + ROW + t] += g_rv * ref1 if high else 0.0
    w[GGV0 + 2 * ROW + t] += g_rv * ref2 if high else 0.0
    g_ndotl += 2.0 * (gR0 * n0 + gR1 * n1 + gR2 * n2) if high else 0.0
    gn0 = 2.0 * ndotl * gR0 if high else 0.0
    gn1 = 2.0 * ndotl * gR1 if high else 0.0
    gn2 = 2.0 * ndotl * gR2 if high else 0.0
    gL0 = 0.0 - gR0 if high else 0.0
    gL1 = 0.0 - gR1 if high else 0.0
    gL2 = 0.0 - gR2 if high else 0.0
    x0, x1, x2 = w[GGN0 + t], w[GGN0 + ROW + t], w[GGN0 + 2 * ROW + t]
    x0, x1, x2 = (x0 + gn0, x1 + gn1, x2 + gn2) if high else (x0, x1, x2)
    w[GGN0 + t] = x0 + g_ndotl * L0
    w[GGN0 + ROW + t] = x1 + g_ndotl * L1
    w[GGN0 + 2 * ROW + t] = x2 + g_ndotl * L2
    gL0 += g_ndotl * n0
    gL1 += g_ndotl * n1
    gL2 += g_ndotl * n2
    g_scale = (((gdif0 * c0 * relu + gspe0 * c0 * power) + (gdif1 * c1 * relu + gspe1 * c1 * power))
               + (gdif2 * c2 * relu + gspe2 * c2 * power))
    return gL0, gL1, gL2, g_scale


@njit(cache=True, error_model="numpy")
def _backward(bary, faces, parent, pixel, hw, verts, normal_source, phong, base_source, base_mode, view_source,
              orthographic, kind, vec, color, att, ambient, diffuse, specular, shininess, state, need_shininess, g,
              g_bary, g_base):
    """Gradients; ``state``: the forward's; ``g_bary`` (P, 3) is written, ``g_base`` (base_source's
    shape) given zero-filled. The VJP of x |x|^-1 is written with the unit vector u and the scale
    s: s (g - (g . u) u). ``BLOCK`` pairs at a time, as the forward: the per-pair terms in loops
    that run in SIMD lanes (per run of one face with the face's values hoisted, or per light over
    the block; the branches of the terms as selects), into work rows. The scatter-adds into vertex
    (and face) rows are summed per run of consecutive pairs of one mesh face within a block (the
    search's order) in 8-lane partial sums (``_run_sums``) and added once per run; the other sums
    over pairs (each light's colour and vector, the material's, the view sources') in serial loops
    in pair order. All in a fixed order: deterministic."""
    P = bary.shape[0]
    nl = kind.shape[0]
    inv_hw = 1.0 / hw
    points_needed = False
    for l in range(nl):
        points_needed = points_needed or kind[l] != 0
    integral = shininess == math.floor(shininess) and 0.0 <= shininess <= 64.0
    nk = int(shininess) if integral else 0
    e0, e1, e2, e3 = (nk & 1) != 0, (nk & 2) != 0, (nk & 4) != 0, (nk & 8) != 0
    e4, e5, e6 = (nk & 16) != 0, (nk & 32) != 0, (nk & 64) != 0
    g_verts = np.zeros(verts.shape)
    g_normals = np.zeros(normal_source.shape)
    g_view = np.zeros(view_source.shape)
    g_vec = np.zeros((nl, 3))
    g_color = np.zeros((nl, 3))
    g_shininess = 0.0
    # sums over pairs kept in registers (per channel c: ambient, diffuse, specular)
    gA0 = gA1 = gA2 = gD0 = gD1 = gD2 = gS0 = gS1 = gS2 = 0.0
    acc = np.zeros(27)                                   # a run's scatter-add sums (``_run_sums``)
    cam, vlo, vhi = -1, 0, 0                               # the camera of the last pair, its pixels
    vw0 = vw1 = vw2 = 0.0                                # and its g_view row (added to in pair order)
    w = np.zeros(GROWS * ROW)
    state_flat, g_flat, g_bary_flat = state.reshape(8 * P), g.reshape(3 * P), g_bary.reshape(3 * P)
    for start in range(0, P, BLOCK):
        m = min(BLOCK, P - start)
        mp = _pad(m)
        bb, gb, sb = bary[start:start + m], g_flat[3 * start:3 * (start + m)], state_flat[8 * start:8 * (start + m)]
        for t in range(m):
            w[GB0 + t] = np.float64(bb[t, 0])
            w[GB0 + ROW + t] = np.float64(bb[t, 1])
            w[GB0 + 2 * ROW + t] = np.float64(bb[t, 2])
        for t in range(m):
            w[GG0 + t], w[GG0 + ROW + t], w[GG0 + 2 * ROW + t] = gb[3 * t], gb[3 * t + 1], gb[3 * t + 2]
        m8 = m // 8 * 8
        for t in range(0, m8, 8):
            _load_transposed(sb, 8 * t, w, GN0 + t)
        for t in range(m8, m):
            for k in range(8):
                w[GN0 + k * ROW + t] = sb[8 * t + k]
        if base_mode == 0:
            ab = base_source[start:start + m]
            for t in range(m):
                w[GA0 + t], w[GA0 + ROW + t], w[GA0 + 2 * ROW + t] = ab[t, 0], ab[t, 1], ab[t, 2]
        t0 = 0
        while t0 < m:                                    # the runs of one face: points, base colours
            f = parent[start + t0]
            t1 = t0 + 1
            while t1 < m and parent[start + t1] == f:
                t1 += 1
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            x00, x01, x02 = verts[i0, 0], verts[i0, 1], verts[i0, 2]
            x10, x11, x12 = verts[i1, 0], verts[i1, 1], verts[i1, 2]
            x20, x21, x22 = verts[i2, 0], verts[i2, 1], verts[i2, 2]
            if base_mode == 1:
                a00, a01, a02 = base_source[i0, 0], base_source[i0, 1], base_source[i0, 2]
                a10, a11, a12 = base_source[i1, 0], base_source[i1, 1], base_source[i1, 2]
                a20, a21, a22 = base_source[i2, 0], base_source[i2, 1], base_source[i2, 2]
            else:
                a00, a01, a02 = base_source[0, 0], base_source[0, 1], base_source[0, 2]
                a10 = a11 = a12 = a20 = a21 = a22 = 0.0
            wr = w[t0:]
            for t in range(_pad(t1 - t0)):               # in SIMD lanes
                b0, b1, b2 = wr[GB0 + t], wr[GB0 + ROW + t], wr[GB0 + 2 * ROW + t]
                if points_needed:
                    wr[GX0 + t] = (b0 * x00 + b1 * x10) + b2 * x20
                    wr[GX0 + ROW + t] = (b0 * x01 + b1 * x11) + b2 * x21
                    wr[GX0 + 2 * ROW + t] = (b0 * x02 + b1 * x12) + b2 * x22
                if base_mode == 1:
                    wr[GA0 + t] = (b0 * a00 + b1 * a10) + b2 * a20
                    wr[GA0 + ROW + t] = (b0 * a01 + b1 * a11) + b2 * a21
                    wr[GA0 + 2 * ROW + t] = (b0 * a02 + b1 * a12) + b2 * a22
                elif base_mode == 2:
                    wr[GA0 + t], wr[GA0 + ROW + t], wr[GA0 + 2 * ROW + t] = a00, a01, a02
            t0 = t1
        for q in range(15 * ROW):                        # the rows DIF, SPE, GN, GV, GP (consecutive)
            w[GDIF0 + q] = 0.0
        for l in range(nl):
            c0, c1, c2 = color[l, 0], color[l, 1], color[l, 2]
            y0, y1, y2 = vec[l, 0], vec[l, 1], vec[l, 2]
            ac, ak1, ak2 = att[l, 0], att[l, 1], att[l, 2]
            point = kind[l] != 0
            for t in range(mp):                          # r.v and the power (in SIMD lanes)
                L0, L1, L2, scale = y0, y1, y2, 1.0
                if point:
                    L0, L1, L2, scale = _point_light(y0, y1, y2, ac, ak1, ak2, w[GX0 + t], w[GX0 + ROW + t],
                                                     w[GX0 + 2 * ROW + t])
                n0, n1, n2 = w[GN0 + t], w[GN0 + ROW + t], w[GN0 + 2 * ROW + t]
                v0, v1, v2 = w[GN0 + 4 * ROW + t], w[GN0 + 5 * ROW + t], w[GN0 + 6 * ROW + t]
                ndotl = n0 * L0 + n1 * L1 + n2 * L2
                lit = ndotl > 0
                rv = (2.0 * ndotl * n0 - L0) * v0 + (2.0 * ndotl * n1 - L1) * v1 + (2.0 * ndotl * n2 - L2) * v2
                rv = rv if lit else 0.0
                power = _power_bits(rv, e0, e1, e2, e3, e4, e5, e6)
                w[GRV + t] = rv
                w[GPOW + t] = power if rv > 0 else 0.0
            if not integral:                             # x ** k: a libm call
                for t in range(m):
                    rv = w[GRV + t]
                    w[GPOW + t] = rv ** shininess if rv > 0 else 0.0
            if not point:
                for t in range(mp):                      # in SIMD lanes
                    gL0, gL1, gL2, g_scale = _light_grads(w, t, y0, y1, y2, 1.0, c0, c1, c2, shininess, diffuse,
                                                          specular)
                    w[GVEC0 + t], w[GVEC0 + ROW + t], w[GVEC0 + 2 * ROW + t] = gL0, gL1, gL2
            else:
                for t in range(mp):                      # in SIMD lanes
                    # L = q / d, d = sqrt(max(d2, 1e-24)), scale = 1 / (c + k1 d + k2 d2), q = position - p
                    q0, q1, q2 = y0 - w[GX0 + t], y1 - w[GX0 + ROW + t], y2 - w[GX0 + 2 * ROW + t]
                    d2 = q0 * q0 + q1 * q1 + q2 * q2
                    d = math.sqrt(max(d2, 1e-24))
                    scale = 1.0 / (ac + ak1 * d + ak2 * d2)
                    gL0, gL1, gL2, g_scale = _light_grads(w, t, q0 / d, q1 / d, q2 / d, scale, c0, c1, c2, shininess,
                                                          diffuse, specular)
                    g_d = -(gL0 * q0 + gL1 * q1 + gL2 * q2) / (d * d)
                    g_den = -g_scale * scale * scale
                    g_d += g_den * ak1
                    g_d2 = g_den * ak2
                    g_d2 = g_d2 + g_d * 0.5 / d if d2 > 1e-24 else g_d2
                    gq0 = gL0 / d + 2.0 * q0 * g_d2
                    gq1 = gL1 / d + 2.0 * q1 * g_d2
                    gq2 = gL2 / d + 2.0 * q2 * g_d2
                    w[GVEC0 + t], w[GVEC0 + ROW + t], w[GVEC0 + 2 * ROW + t] = gq0, gq1, gq2
                    w[GGP0 + t] -= gq0
                    w[GGP0 + ROW + t] -= gq1
                    w[GGP0 + 2 * ROW + t] -= gq2
            # this light's sums over the block's pairs, in pair order
            s0, s1, s2, u0, u1, u2 = g_color[l, 0], g_color[l, 1], g_color[l, 2], g_vec[l, 0], g_vec[l, 1], g_vec[l, 2]
            for t in range(m):
                s0 += w[GCOL0 + t]
                s1 += w[GCOL0 + ROW + t]
                s2 += w[GCOL0 + 2 * ROW + t]
                u0 += w[GVEC0 + t]
                u1 += w[GVEC0 + ROW + t]
                u2 += w[GVEC0 + 2 * ROW + t]
            g_color[l, 0], g_color[l, 1], g_color[l, 2], g_vec[l, 0], g_vec[l, 1], g_vec[l, 2] = s0, s1, s2, u0, u1, u2
            if need_shininess:
                for t in range(m):
                    if w[GPOW + t] > 0:
                        g_shininess += w[GSH + t] * math.log(w[GRV + t])
        amb0, amb1, amb2 = ambient[0], ambient[1], ambient[2]
        dif0, dif1, dif2 = diffuse[0], diffuse[1], diffuse[2]
        for t in range(mp):                              # base, view and normal cotangents (in SIMD lanes)
            g0, g1, g2 = w[GG0 + t], w[GG0 + ROW + t], w[GG0 + 2 * ROW + t]
            w[GGA0 + t] = g0 * (amb0 + dif0 * w[GDIF0 + t])
            w[GGA0 + ROW + t] = g1 * (amb1 + dif1 * w[GDIF0 + ROW + t])
            w[GGA0 + 2 * ROW + t] = g2 * (amb2 + dif2 * w[GDIF0 + 2 * ROW + t])
            gv0, gv1, gv2 = w[GGV0 + t], w[GGV0 + ROW + t], w[GGV0 + 2 * ROW + t]
            if orthographic:
                w[GGW0 + t], w[GGW0 + ROW + t], w[GGW0 + 2 * ROW + t] = gv0, gv1, gv2
            else:
                v0, v1, v2 = w[GN0 + 4 * ROW + t], w[GN0 + 5 * ROW + t], w[GN0 + 6 * ROW + t]
                sv = w[GN0 + 7 * ROW + t]
                dot = gv0 * v0 + gv1 * v1 + gv2 * v2
                gw0, gw1, gw2 = sv * (gv0 - dot * v0), sv * (gv1 - dot * v1), sv * (gv2 - dot * v2)
                w[GGW0 + t], w[GGW0 + ROW + t], w[GGW0 + 2 * ROW + t] = gw0, gw1, gw2
                w[GGP0 + t] -= gw0
                w[GGP0 + ROW + t] -= gw1
                w[GGP0 + 2 * ROW + t] -= gw2
            if phong:
                n0, n1, n2, sn = w[GN0 + t], w[GN0 + ROW + t], w[GN0 + 2 * ROW + t], w[GN0 + 3 * ROW + t]
                gn0, gn1, gn2 = w[GGN0 + t], w[GGN0 + ROW + t], w[GGN0 + 2 * ROW + t]
                dot = gn0 * n0 + gn1 * n1 + gn2 * n2
                w[GGN0 + t] = sn * (gn0 - dot * n0)
                w[GGN0 + ROW + t] = sn * (gn1 - dot * n1)
                w[GGN0 + 2 * ROW + t] = sn * (gn2 - dot * n2)
        t0 = 0
        while t0 < m:                                    # g_bary per run of one face (in SIMD lanes)
            f = parent[start + t0]
            t1 = t0 + 1
            while t1 < m and parent[start + t1] == f:
                t1 += 1
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            x00, x01, x02 = verts[i0, 0], verts[i0, 1], verts[i0, 2]
            x10, x11, x12 = verts[i1, 0], verts[i1, 1], verts[i1, 2]
            x20, x21, x22 = verts[i2, 0], verts[i2, 1], verts[i2, 2]
            n00 = n01 = n02 = n10 = n11 = n12 = n20 = n21 = n22 = 0.0
            if phong:
                n00, n01, n02 = normal_source[i0, 0], normal_source[i0, 1], normal_source[i0, 2]
                n10, n11, n12 = normal_source[i1, 0], normal_source[i1, 1], normal_source[i1, 2]
                n20, n21, n22 = normal_source[i2, 0], normal_source[i2, 1], normal_source[i2, 2]
            a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = 0.0
            if base_mode == 1:
                a00, a01, a02 = base_source[i0, 0], base_source[i0, 1], base_source[i0, 2]
                a10, a11, a12 = base_source[i1, 0], base_source[i1, 1], base_source[i1, 2]
                a20, a21, a22 = base_source[i2, 0], base_source[i2, 1], base_source[i2, 2]
            wr = w[t0:]
            for t in range(_pad(t1 - t0)):
                gp0, gp1, gp2 = wr[GGP0 + t], wr[GGP0 + ROW + t], wr[GGP0 + 2 * ROW + t]
                gb0 = (gp0 * x00 + gp1 * x01) + gp2 * x02
                gb1 = (gp0 * x10 + gp1 * x11) + gp2 * x12
                gb2 = (gp0 * x20 + gp1 * x21) + gp2 * x22
                if phong:
                    gn0, gn1, gn2 = wr[GGN0 + t], wr[GGN0 + ROW + t], wr[GGN0 + 2 * ROW + t]
                    gb0 += (gn0 * n00 + gn1 * n01) + gn2 * n02
                    gb1 += (gn0 * n10 + gn1 * n11) + gn2 * n12
                    gb2 += (gn0 * n20 + gn1 * n21) + gn2 * n22
                if base_mode == 1:
                    ga0, ga1, ga2 = wr[GGA0 + t], wr[GGA0 + ROW + t], wr[GGA0 + 2 * ROW + t]
                    gb0 += (ga0 * a00 + ga1 * a01) + ga2 * a02
                    gb1 += (ga0 * a10 + ga1 * a11) + ga2 * a12
                    gb2 += (ga0 * a20 + ga1 * a21) + ga2 * a22
                wr[GBARY0 + t], wr[GBARY0 + ROW + t], wr[GBARY0 + 2 * ROW + t] = gb0, gb1, gb2
            _run_sums(w, t0, t1 - t0, phong, base_mode == 1, acc)   # the run's scatter-adds, added once
            _flush_runs(phong, base_mode, f, i0, i1, i2, g_verts, g_normals, g_base, _run9(acc, 0), _run9(acc, 9),
                        _run9(acc, 18))
            t0 = t1
        gbo = g_bary_flat[3 * start:3 * (start + m)]
        for t in range(m):
            gbo[3 * t], gbo[3 * t + 1], gbo[3 * t + 2] = w[GBARY0 + t], w[GBARY0 + ROW + t], w[GBARY0 + 2 * ROW + t]
        for t in range(m):                               # the sums over pairs, in pair order
            g0, g1, g2 = w[GG0 + t], w[GG0 + ROW + t], w[GG0 + 2 * ROW + t]
            a0, a1, a2 = w[GA0 + t], w[GA0 + ROW + t], w[GA0 + 2 * ROW + t]
            gA0 += g0 * a0
            gA1 += g1 * a1
            gA2 += g2 * a2
            gD0 += g0 * a0 * w[GDIF0 + t]
            gD1 += g1 * a1 * w[GDIF0 + ROW + t]
            gD2 += g2 * a2 * w[GDIF0 + 2 * ROW + t]
            gS0 += g0 * w[GSPE0 + t]
            gS1 += g1 * w[GSPE0 + ROW + t]
            gS2 += g2 * w[GSPE0 + 2 * ROW + t]
        for t in range(m):                               # (apart: fewer sums live at once)
            px = pixel[start + t]
            if px < vlo or px >= vhi:                    # another camera: its row in registers
                if cam >= 0:
                    g_view[cam, 0], g_view[cam, 1], g_view[cam, 2] = vw0, vw1, vw2
                cam = _camera(px, hw, inv_hw)
                vlo, vhi = cam * hw, (cam + 1) * hw
                vw0, vw1, vw2 = g_view[cam, 0], g_view[cam, 1], g_view[cam, 2]
            vw0 += w[GGW0 + t]
            vw1 += w[GGW0 + ROW + t]
            vw2 += w[GGW0 + 2 * ROW + t]
        if base_mode == 0:
            gab = g_base[start:start + m]
            for t in range(m):
                gab[t, 0] += w[GGA0 + t]
                gab[t, 1] += w[GGA0 + ROW + t]
                gab[t, 2] += w[GGA0 + 2 * ROW + t]
    if cam >= 0:
        g_view[cam, 0], g_view[cam, 1], g_view[cam, 2] = vw0, vw1, vw2
    return (g_base, g_bary, g_verts, g_normals, g_view, g_vec, g_color, np.array([gA0, gA1, gA2]),
            np.array([gD0, gD1, gD2]), np.array([gS0, gS1, gS2]), np.array(g_shininess))


def _arrays(args):
    return tuple(np.ascontiguousarray(a, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                 else a for a in args)


def _kernel_args(base, bary, faces, parent, pixel, hw, verts, normal_source, phong, base_mode, view_source,
                 orthographic, kind, vec, color, attenuation, ambient, diffuse, specular):
    return _arrays((bary, np.ascontiguousarray(faces, dtype=np.int64), np.ascontiguousarray(parent, dtype=np.int64),
                    np.ascontiguousarray(pixel, dtype=np.int64), int(hw), verts, normal_source, bool(phong), base,
                    int(base_mode), view_source, bool(orthographic), np.ascontiguousarray(kind, dtype=np.int64), vec,
                    color, attenuation, ambient, diffuse, specular))


def light_pairs(base, bary, faces, parent, pixel, hw, verts, normal_source, phong, base_mode, view_source,
                orthographic, kind, vec, color, attenuation, ambient, diffuse, specular, shininess):
    """((P, 3) lit colours, state) of pairs (barycentrics ``bary`` (P, 3) over mesh faces ``parent`` (P,),
    camera ``pixel // hw``); see the module doc. ``base``: (V, 3) vertex colours (base_mode 1), (P, 3)
    per pair (0) or (1, 3) for all (2); ``normal_source``: (V, 3) vertex normals (phong) or (F, 3) face
    normals (flat); ``view_source``: (N, 3) camera centres, or view directions when orthographic;
    ``shininess`` a number; ``state``: what ``light_pairs_backward`` reuses (P, 8)."""
    args = _kernel_args(base, bary, faces, parent, pixel, hw, verts, normal_source, phong, base_mode, view_source,
                        orthographic, kind, vec, color, attenuation, ambient, diffuse, specular)
    out = scratch("light_out", len(bary), np.float64, (3,))   # reused once free (``numba_pairs.scratch``)
    state = scratch("light_state", len(bary), np.float64, (8,))
    _forward(*args, float(shininess), out, state)
    return out, state


def light_pairs_backward(base, bary, faces, parent, pixel, hw, verts, normal_source, phong, base_mode, view_source,
                         orthographic, kind, vec, color, attenuation, ambient, diffuse, specular, shininess, state,
                         g, need_shininess=True):
    """Gradients of ``light_pairs`` with respect to (base, bary, verts, normal_source, view_source,
    vec, color, ambient, diffuse, specular, shininess) given the forward's ``state`` and the
    cotangent g (P, 3);
    ``need_shininess=False`` skips the shininess gradient (returned as 0)."""
    args = _kernel_args(base, bary, faces, parent, pixel, hw, verts, normal_source, phong, base_mode, view_source,
                        orthographic, kind, vec, color, attenuation, ambient, diffuse, specular)
    return _backward(*args, float(shininess), np.ascontiguousarray(state), bool(need_shininess),
                     np.ascontiguousarray(g, dtype=np.float64), scratch("light_g_bary", len(bary), np.float64, (3,)),
                     np.zeros(np.shape(base)))
