"""Compiled (numba) per-pair lighting of the ``flat`` and ``phong`` shaders, fused with its VJP.

Reference: the engine code of ``render.shading`` (``light_terms`` and ``_lit_pairs``), which the
NumPy kernel set runs as it is. Per pair j (camera ``image[j]``), with lights l:

    n = normals[j] (unit-normalized first when ``normalize``), v = view direction,
    L_l = unit vector to light l, s_l = its attenuation (1 without),
    out = base * (ambient + diffuse * sum_l color_l max(n.L_l, 0) s_l)
          + specular * sum_l color_l [n.L_l > 0] max(r_l.v, 0) ** shininess s_l,   r_l = 2 (n.L_l) n - L_l.

Lights are given as arrays: ``kind`` (0 directional, 1 point), ``vec`` (unit to-light direction or
position), ``color`` (L, 3), ``attenuation`` (L, 3) (1, 0, 0 for none). Reductions over pairs (the
light and material gradients) and scatter-adds into cameras run serially in pair order.
"""
import math

import numpy as np
from numba import njit

NORMAL_EPS = 1e-20       # as ``mesh._normalize``: squared length below which a vector normalizes to 0


@njit(cache=True)
def _unit(x0, x1, x2):
    sq = x0 * x0 + x1 * x1 + x2 * x2
    s = 1.0 / math.sqrt(sq) if sq > NORMAL_EPS else 0.0
    return x0 * s, x1 * s, x2 * s, s


@njit(cache=True)
def _unit_backward(x0, x1, x2, s, g0, g1, g2):
    """VJP of x * s(x) with s = |x|^-1 (0 below the threshold)."""
    if s == 0.0:
        return 0.0, 0.0, 0.0
    dot = (g0 * x0 + g1 * x1 + g2 * x2) * s * s * s
    return g0 * s - dot * x0, g1 * s - dot * x1, g2 * s - dot * x2


@njit(cache=True)
def _to_light(kind, vec, att, l, p0, p1, p2):
    """(L, d, d2, scale, diff) of light l at point p."""
    if kind[l] == 0:
        return vec[l, 0], vec[l, 1], vec[l, 2], 1.0, 1.0, 1.0, 0.0, 0.0, 0.0
    q0, q1, q2 = vec[l, 0] - p0, vec[l, 1] - p1, vec[l, 2] - p2
    d2 = q0 * q0 + q1 * q1 + q2 * q2
    d = math.sqrt(max(d2, 1e-24))
    scale = 1.0 / (att[l, 0] + att[l, 1] * d + att[l, 2] * d2)
    return q0 / d, q1 / d, q2 / d, d, d2, scale, q0, q1, q2


@njit(cache=True)
def _forward(base, points, normals, image, view_source, orthographic, normalize, kind, vec, color, att,
             ambient, diffuse, specular, shininess):
    P = base.shape[0]
    out = np.empty((P, 3))
    for j in range(P):
        p0, p1, p2 = points[j, 0], points[j, 1], points[j, 2]
        n0, n1, n2 = normals[j, 0], normals[j, 1], normals[j, 2]
        if normalize:
            n0, n1, n2, _ = _unit(n0, n1, n2)
        i = image[j]
        if orthographic:
            v0, v1, v2 = view_source[i, 0], view_source[i, 1], view_source[i, 2]
        else:
            v0, v1, v2, _ = _unit(view_source[i, 0] - p0, view_source[i, 1] - p1, view_source[i, 2] - p2)
        dif = np.zeros(3)
        spe = np.zeros(3)
        for l in range(kind.shape[0]):
            L0, L1, L2, d, d2, scale, q0, q1, q2 = _to_light(kind, vec, att, l, p0, p1, p2)
            ndotl = n0 * L0 + n1 * L1 + n2 * L2
            relu = ndotl if ndotl > 0 else 0.0
            power = 0.0
            if ndotl > 0:
                rv = (2.0 * ndotl * n0 - L0) * v0 + (2.0 * ndotl * n1 - L1) * v1 + (2.0 * ndotl * n2 - L2) * v2
                if rv > 0:
                    power = rv ** shininess
            for c in range(3):
                dif[c] += color[l, c] * (relu * scale)
                spe[c] += color[l, c] * (power * scale)
        for c in range(3):
            out[j, c] = base[j, c] * (ambient[c] + diffuse[c] * dif[c]) + specular[c] * spe[c]
    return out


@njit(cache=True)
def _backward(base, points, normals, image, view_source, orthographic, normalize, kind, vec, color, att,
              ambient, diffuse, specular, shininess, g):
    P = base.shape[0]
    nl = kind.shape[0]
    g_base = np.empty((P, 3))
    g_points = np.zeros((P, 3))
    g_normals = np.empty((P, 3))
    g_view = np.zeros(view_source.shape)
    g_vec = np.zeros((nl, 3))
    g_color = np.zeros((nl, 3))
    g_ambient = np.zeros(3)
    g_diffuse = np.zeros(3)
    g_specular = np.zeros(3)
    g_shininess = 0.0
    dif = np.empty(3)
    spe = np.empty(3)
    g_dif = np.empty(3)
    g_spe = np.empty(3)
    for j in range(P):
        p0, p1, p2 = points[j, 0], points[j, 1], points[j, 2]
        r0, r1, r2 = normals[j, 0], normals[j, 1], normals[j, 2]
        sn = 1.0
        n0, n1, n2 = r0, r1, r2
        if normalize:
            n0, n1, n2, sn = _unit(r0, r1, r2)
        i = image[j]
        w0, w1, w2 = view_source[i, 0] - p0, view_source[i, 1] - p1, view_source[i, 2] - p2
        sv = 1.0
        if orthographic:
            v0, v1, v2 = view_source[i, 0], view_source[i, 1], view_source[i, 2]
        else:
            v0, v1, v2, sv = _unit(w0, w1, w2)
        dif[:] = 0.0
        spe[:] = 0.0
        for l in range(nl):                              # forward again: the per-pair sums
            L0, L1, L2, d, d2, scale, q0, q1, q2 = _to_light(kind, vec, att, l, p0, p1, p2)
            ndotl = n0 * L0 + n1 * L1 + n2 * L2
            relu = ndotl if ndotl > 0 else 0.0
            power = 0.0
            if ndotl > 0:
                rv = (2.0 * ndotl * n0 - L0) * v0 + (2.0 * ndotl * n1 - L1) * v1 + (2.0 * ndotl * n2 - L2) * v2
                if rv > 0:
                    power = rv ** shininess
            for c in range(3):
                dif[c] += color[l, c] * (relu * scale)
                spe[c] += color[l, c] * (power * scale)
        for c in range(3):
            gc = g[j, c]
            g_base[j, c] = gc * (ambient[c] + diffuse[c] * dif[c])
            g_ambient[c] += gc * base[j, c]
            g_diffuse[c] += gc * base[j, c] * dif[c]
            g_specular[c] += gc * spe[c]
            g_dif[c] = gc * base[j, c] * diffuse[c]
            g_spe[c] = gc * specular[c]
        gn0 = gn1 = gn2 = 0.0
        gv0 = gv1 = gv2 = 0.0
        gp0 = gp1 = gp2 = 0.0
        for l in range(nl):
            L0, L1, L2, d, d2, scale, q0, q1, q2 = _to_light(kind, vec, att, l, p0, p1, p2)
            ndotl = n0 * L0 + n1 * L1 + n2 * L2
            relu = ndotl if ndotl > 0 else 0.0
            rv = 0.0
            power = 0.0
            if ndotl > 0:
                rv = (2.0 * ndotl * n0 - L0) * v0 + (2.0 * ndotl * n1 - L1) * v1 + (2.0 * ndotl * n2 - L2) * v2
                if rv > 0:
                    power = rv ** shininess
            g_relu = 0.0
            g_scale = 0.0
            g_power = 0.0
            for c in range(3):
                g_color[l, c] += g_dif[c] * (relu * scale) + g_spe[c] * (power * scale)
                g_relu += g_dif[c] * color[l, c] * scale
                g_power += g_spe[c] * color[l, c] * scale
                g_scale += g_dif[c] * color[l, c] * relu + g_spe[c] * color[l, c] * power
            g_ndotl = g_relu if ndotl > 0 else 0.0
            gL0 = gL1 = gL2 = 0.0
            if power > 0:
                g_rv = g_power * shininess * rv ** (shininess - 1.0)
                g_shininess += g_power * power * math.log(rv)
                # rv = (2 ndotl n - L) . v
                gR0, gR1, gR2 = g_rv * v0, g_rv * v1, g_rv * v2
                ref0, ref1, ref2 = 2.0 * ndotl * n0 - L0, 2.0 * ndotl * n1 - L1, 2.0 * ndotl * n2 - L2
                gv0 += g_rv * ref0
                gv1 += g_rv * ref1
                gv2 += g_rv * ref2
                g_ndotl += 2.0 * (gR0 * n0 + gR1 * n1 + gR2 * n2)
                gn0 += 2.0 * ndotl * gR0
                gn1 += 2.0 * ndotl * gR1
                gn2 += 2.0 * ndotl * gR2
                gL0 -= gR0
                gL1 -= gR1
                gL2 -= gR2
            gn0 += g_ndotl * L0
            gn1 += g_ndotl * L1
            gn2 += g_ndotl * L2
            gL0 += g_ndotl * n0
            gL1 += g_ndotl * n1
            gL2 += g_ndotl * n2
            if kind[l] == 0:
                g_vec[l, 0] += gL0
                g_vec[l, 1] += gL1
                g_vec[l, 2] += gL2
            else:
                # L = q / d, d = sqrt(max(d2, 1e-24)), scale = 1 / (c + k1 d + k2 d2), q = position - p
                g_d = -(gL0 * q0 + gL1 * q1 + gL2 * q2) / (d * d)
                g_den = -g_scale * scale * scale
                g_d += g_den * att[l, 1]
                g_d2 = g_den * att[l, 2]
                if d2 > 1e-24:
                    g_d2 += g_d * 0.5 / d
                gq0 = gL0 / d + 2.0 * q0 * g_d2
                gq1 = gL1 / d + 2.0 * q1 * g_d2
                gq2 = gL2 / d + 2.0 * q2 * g_d2
                g_vec[l, 0] += gq0
                g_vec[l, 1] += gq1
                g_vec[l, 2] += gq2
                gp0 -= gq0
                gp1 -= gq1
                gp2 -= gq2
        if normalize:
            gn0, gn1, gn2 = _unit_backward(r0, r1, r2, sn, gn0, gn1, gn2)
        g_normals[j, 0], g_normals[j, 1], g_normals[j, 2] = gn0, gn1, gn2
        if orthographic:
            g_view[i, 0] += gv0
            g_view[i, 1] += gv1
            g_view[i, 2] += gv2
        else:
            gw0, gw1, gw2 = _unit_backward(w0, w1, w2, sv, gv0, gv1, gv2)
            g_view[i, 0] += gw0
            g_view[i, 1] += gw1
            g_view[i, 2] += gw2
            gp0 -= gw0
            gp1 -= gw1
            gp2 -= gw2
        g_points[j, 0], g_points[j, 1], g_points[j, 2] = gp0, gp1, gp2
    return (g_base, g_points, g_normals, g_view, g_vec, g_color, g_ambient, g_diffuse, g_specular,
            np.array(g_shininess))


def _arrays(args):
    return tuple(np.ascontiguousarray(a, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                 else a for a in args)


def light_pairs(base, points, normals, image, view_source, orthographic, normalize, kind, vec, color, attenuation,
                ambient, diffuse, specular, shininess):
    """(P, 3) lit colours; see the module doc. All float arrays; ``image`` (P,) int; ``shininess`` ()."""
    args = _arrays((base, points, normals, np.ascontiguousarray(image, dtype=np.int64), view_source,
                    bool(orthographic), bool(normalize), np.ascontiguousarray(kind, dtype=np.int64), vec, color,
                    attenuation, ambient, diffuse, specular))
    return _forward(*args, float(shininess))


def light_pairs_backward(base, points, normals, image, view_source, orthographic, normalize, kind, vec, color,
                         attenuation, ambient, diffuse, specular, shininess, g):
    """Gradients of ``light_pairs`` with respect to (base, points, normals, view_source, vec, color,
    ambient, diffuse, specular, shininess) given the cotangent g (P, 3)."""
    args = _arrays((base, points, normals, np.ascontiguousarray(image, dtype=np.int64), view_source,
                    bool(orthographic), bool(normalize), np.ascontiguousarray(kind, dtype=np.int64), vec, color,
                    attenuation, ambient, diffuse, specular))
    return _backward(*args, float(shininess), np.ascontiguousarray(g, dtype=np.float64))
