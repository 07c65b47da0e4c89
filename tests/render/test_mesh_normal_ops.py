"""Face and vertex normals as single ops (``face_cross``, ``corner_sum``) against the same formulas
written op by op: values, gradients, forward-mode tangents, second derivatives, finite differences."""
import numpy as np
import pytest
import trimesh

import diffprog as dp
from diffprog.render import mesh as M


def _bumpy_sphere(subdivisions=2, seed=0):
    m = trimesh.creation.icosphere(subdivisions)
    scale = np.random.default_rng(seed).uniform(0.8, 1.2, (len(m.vertices), 1))
    return np.asarray(m.vertices) * scale, np.asarray(m.faces)


def _vertex_normals_ops(v, faces):
    n = M._face_cross_ops(v, faces)
    idx = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    acc = dp.index_add(dp.zeros(v.shape, dtype=np.float64), 0, idx, dp.concatenate([n, n, n], axis=0))
    return M._normalize(acc)


@pytest.mark.parametrize("which", ["face", "vertex"])
def test_normal_ops_equal_the_op_by_op_formulas(which):
    verts, faces = _bumpy_sphere()
    rng = np.random.default_rng(1)
    if which == "face":
        w = rng.random((len(faces), 3))
        new = lambda v: dp.sum(M.face_normals(v, faces) * w)                         # noqa: E731
        old = lambda v: dp.sum(M._normalize(M._face_cross_ops(v, faces)) * w)         # noqa: E731
    else:
        w = rng.random(verts.shape)
        new = lambda v: dp.sum(M.vertex_normals(v, faces) * w)                       # noqa: E731
        old = lambda v: dp.sum(_vertex_normals_ops(v, faces) * w)                    # noqa: E731
    np.testing.assert_allclose(float(new(verts).data), float(old(verts).data), rtol=1e-13)
    np.testing.assert_allclose(dp.grad(new)(verts), dp.grad(old)(verts), rtol=1e-10, atol=1e-13)
    t = rng.random(verts.shape)
    np.testing.assert_allclose(dp.jvp(new, (verts,), (t,))[1], dp.jvp(old, (verts,), (t,))[1], rtol=1e-11)

    def hvp(f):
        return dp.grad(lambda v: dp.sum(dp.grad(f)(v) * t))(verts)
    np.testing.assert_allclose(hvp(new), hvp(old), rtol=1e-9, atol=1e-12)
    assert dp.gradcheck(new, verts)


def test_normal_ops_keep_float32_and_match_trimesh():
    verts, faces = _bumpy_sphere(1)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    np.testing.assert_allclose(M.face_normals(dp.tensor(verts), faces).data, mesh.face_normals, atol=1e-12)
    v32 = dp.tensor(verts.astype(np.float32))
    assert M.face_normals(v32, faces).dtype == np.float32
    assert M.vertex_normals(v32, faces).dtype == np.float32


def test_normal_consistency_as_one_op_equals_the_op_by_op_formula():
    from diffprog.render import losses as L
    verts, faces = _bumpy_sphere()
    a, b = L._adjacent_face_pairs(faces)

    def old(v):
        n = M._normalize(M._face_cross_ops(v, faces))
        return dp.mean(1.0 - dp.sum(n[a] * n[b], axis=1))

    def new(v):
        return L.normal_consistency(M.Mesh(v, faces))
    np.testing.assert_allclose(float(new(verts).data), float(old(verts).data), rtol=1e-13)
    np.testing.assert_allclose(dp.grad(new)(verts), dp.grad(old)(verts), rtol=1e-9, atol=1e-14)
    t = np.random.default_rng(4).random(verts.shape)
    np.testing.assert_allclose(dp.jvp(new, (verts,), (t,))[1], dp.jvp(old, (verts,), (t,))[1], rtol=1e-10)

    def hvp(f):
        return dp.grad(lambda v: dp.sum(dp.grad(f)(v) * t))(verts)
    np.testing.assert_allclose(hvp(new), hvp(old), rtol=1e-8, atol=1e-12)
    assert dp.gradcheck(new, verts)
