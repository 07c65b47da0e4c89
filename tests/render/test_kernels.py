"""The compiled (numba) kernels against the NumPy reference kernels, and kernel selection.

Scenes are random meshes with degenerate, edge-on, behind-the-camera and near-plane faces, seen by
perspective and orthographic cameras; images and every gradient must agree to 1e-10 relative in
float64 (float32: to float32 precision), and repeated runs must be bit-identical.
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import diffprog as dp
from diffprog import render as R
from diffprog.render import kernels as K

pytest.importorskip("numba")


def random_scene(seed, dtype=np.float64, texture=False, near_plane=True, vertex_colors=True):
    """A random triangle soup in front of the camera plus awkward faces: a zero-area face, a face
    with repeated vertices, an edge-on face (its plane holds the eye), faces straddling the near
    plane and faces behind the camera."""
    rng = np.random.default_rng(seed)
    n = 40
    centres = rng.uniform(-0.8, 0.8, (n, 1, 3))
    verts = (centres + rng.normal(0, 0.25, (n, 3, 3))).reshape(-1, 3)
    extra = np.array([[0.1, 0.1, 0.2], [0.3, 0.3, 0.2], [0.5, 0.5, 0.2],        # collinear: zero area
                      [0.2, -0.2, 0.0], [0.2, -0.2, 0.0], [0.4, 0.1, 0.1],      # repeated vertex
                      [0.0, -0.3, 1.0], [0.0, 0.4, 1.0], [0.0, 0.0, -1.0],      # edge-on (plane x = 0)
                      [-0.3, 0.0, 2.45], [0.3, 0.1, 2.0], [0.0, 0.4, 2.55],     # straddles the near plane
                      [-0.5, 0.0, 3.0], [0.5, 0.0, 3.5], [0.0, 0.5, 3.2]])      # behind the camera
    if not near_plane:                                   # no face crosses the near plane or lies behind the eye
        extra = extra[:9]
    verts = np.concatenate([verts, extra]).astype(dtype)
    faces = np.arange(len(verts)).reshape(-1, 3)
    colors = rng.random((len(verts), 3))
    kw = {}
    if texture:
        kw = dict(uvs=rng.uniform(-0.1, 1.1, (len(verts), 2)), texture=rng.random((5, 7, 3)))
    return R.Mesh(verts, faces, colors=colors if vertex_colors and not texture else None, **kw)


def run(kernels, seed, shader, rasterizer, dtype=np.float64, orthographic=False, texture=False, size=(19, 23),
        **scene):
    R.set_kernels(kernels)
    mesh = random_scene(seed, dtype, texture, **scene)
    cams = R.look_at(eye=[(0.0, 0.0, 2.5), (0.4, 0.3, 2.2)], at=(0.0, 0.0, 0.0), fov=50, image_size=size,
                     orthographic=orthographic, requires_grad=True)
    light = R.PointLight(position=(0.5, 1.0, 2.0))
    h, w = size
    bg = dp.tensor(np.random.default_rng(seed + 7).random((h, w, 3)).astype(dtype), requires_grad=True)
    img = R.render(mesh, cams, light, rasterizer=rasterizer, shader=shader, background=bg)
    weights = np.random.default_rng(seed + 1).random(img.shape).astype(dtype)
    if img.requires_grad:
        dp.sum(img * weights).backward()
    leaves = [mesh.verts, mesh.colors, mesh.uvs, mesh.texture, cams.eye, light.position, bg]
    return [img.data] + [None if t is None else t.grad for t in leaves]


def assert_same(compiled, reference, rtol, same_dtype=True):
    for a, b in zip(compiled, reference):
        if b is None:
            assert a is None
            continue
        assert a.shape == b.shape and (a.dtype == b.dtype or not same_dtype)
        scale = np.abs(b).max() if b.size else 0.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


SOFT = dict(sigma=1e-4, gamma=1e-4)
CASES = [  # (shader, rasterizer keywords or "hard", orthographic, texture)
    ("silhouette", SOFT, False, False),
    ("silhouette", dict(sigma=1e-7, gamma=1e-6, cull_backfaces=True), True, False),
    ("silhouette", dict(sigma=3e-3, gamma=1e-2, faces_per_pixel=2), False, False),
    ("phong", SOFT, False, False),
    ("unlit", SOFT, False, True),
    ("flat", SOFT, True, False),
    ("gouraud", dict(sigma=1e-7, gamma=1e-6), False, False),
    ("phong", dict(sigma=3e-3, gamma=1e-2, cull_backfaces=True), False, True),
    ("phong", "hard", False, True),
]


@pytest.mark.parametrize("shader,ras,orthographic,texture", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_equals_reference_float64(shader, ras, orthographic, texture, seed):
    def rasterizer():
        return R.HardRasterizer() if ras == "hard" else R.SoftRasterizer(**ras)
    ref = run("numpy", seed, shader, rasterizer(), orthographic=orthographic, texture=texture)
    out = run("numba", seed, shader, rasterizer(), orthographic=orthographic, texture=texture)
    assert ref[0][..., 3].max() > 0.3                                     # the scene is in view
    assert_same(out, ref, 1e-10)


@pytest.mark.parametrize("shader", ["silhouette", "phong"])
def test_compiled_equals_reference_float32(shader):
    ref = run("numpy", 3, shader, R.SoftRasterizer(**SOFT), dtype=np.float32, texture=True)
    out = run("numba", 3, shader, R.SoftRasterizer(**SOFT), dtype=np.float32, texture=True)
    assert ref[0].dtype == np.float32 and out[0].dtype == np.float32
    # (the compiled lighting hands float32 leaves float32 gradients; the engine code float64 ones)
    assert_same(out, ref, 2e-3, same_dtype=False)


@pytest.mark.parametrize("shader,ras,orthographic,vertex_colors", [
    ("phong", SOFT, False, True),
    ("flat", SOFT, True, True),
    ("phong", dict(sigma=1e-7, gamma=1e-6, cull_backfaces=True), False, False),
    ("silhouette", SOFT, False, True),
])
def test_renders_fused_into_one_op_equal_the_reference(shader, ras, orthographic, vertex_colors, monkeypatch):
    # no face near the near plane: the compiled set renders silhouettes and lit images as one op
    from diffprog.render import fused, rasterize_soft
    ops = []
    for cls in (fused.FusedLitRender, rasterize_soft.FusedSilhouette):
        monkeypatch.setattr(cls, "forward", (lambda f: staticmethod(lambda ctx, *a: ops.append(1) or f(ctx, *a)))(
            cls.forward))
    ref = run("numpy", 8, shader, R.SoftRasterizer(**ras), orthographic=orthographic, near_plane=False,
                vertex_colors=vertex_colors)
    assert not ops
    out = run("numba", 8, shader, R.SoftRasterizer(**ras), orthographic=orthographic, near_plane=False,
                vertex_colors=vertex_colors)
    assert ops and ref[0][..., 3].max() > 0.3
    assert_same(out, ref, 1e-10)
    again = run("numba", 8, shader, R.SoftRasterizer(**ras), orthographic=orthographic, near_plane=False,
                vertex_colors=vertex_colors)
    for a, b in zip(out, again):                         # bit-identical run to run
        if a is not None:
            np.testing.assert_array_equal(a, b)
    # float32: the fused op equals the same kernels run op by op (float32 rounding of the scene
    # makes both differ from the reference beyond what the float64 comparison tests)
    out32 = run("numba", 8, shader, R.SoftRasterizer(**ras), np.float32, orthographic, near_plane=False,
                vertex_colors=vertex_colors)
    render_module = sys.modules["diffprog.render.render"]
    monkeypatch.setattr(render_module, "lit_soft_render", lambda *args: None)
    monkeypatch.setattr(R.SoftRasterizer, "silhouette", lambda self, screen, cams, channels=1: None)
    ops.clear()
    composed32 = run("numba", 8, shader, R.SoftRasterizer(**ras), np.float32, orthographic, near_plane=False,
                     vertex_colors=vertex_colors)
    assert not ops and out32[0].dtype == np.float32
    assert_same(out32, composed32, 1e-5)


def test_compiled_pair_search_finds_the_reference_pairs():
    mesh = random_scene(4)
    cams = R.look_at(eye=(0.2, 0.1, 2.5), fov=50, image_size=(31, 29))
    screen = R.screen_triangles(mesh.verts, mesh.faces, cams)
    args = (screen.tri.data, screen.image, 31, 29, 2.5, False, cams.ndc_per_pixel, True, False)
    ref, out = K._load("numpy").find_pairs(*args), K._load("numba").find_pairs(*args)
    assert len(ref[0]) > 100
    np.testing.assert_array_equal(out[0], ref[0])                        # the same pairs, in the same order
    np.testing.assert_array_equal(out[1], ref[1])
    for a, b in zip(out[2:], ref[2:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    pick_ref = K._load("numpy").nearest_pairs(ref[0], ref[1], ref[4])
    np.testing.assert_array_equal(K._load("numba").nearest_pairs(ref[0], ref[1], ref[4]), pick_ref)


def test_compiled_kernels_are_deterministic():
    first = run("numba", 5, "phong", R.SoftRasterizer(**SOFT), texture=True)
    second = run("numba", 5, "phong", R.SoftRasterizer(**SOFT), texture=True)
    for a, b in zip(first, second):
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_set_kernels_switches_and_validates():
    assert R.set_kernels("numpy") == "numpy" and R.get_kernels() == "numpy"
    assert R.set_kernels("numba") == "numba" and R.get_kernels() == "numba"
    with pytest.raises(ValueError, match="kernels: expected one of"):
        R.set_kernels("cuda")


def test_a_graph_built_with_one_kernel_set_differentiates_with_it():
    R.set_kernels("numpy")
    mesh = random_scene(6)
    cams = R.look_at(eye=(0.0, 0.0, 2.5), fov=50, image_size=(12, 12))
    img = R.render(mesh, cams, shader="phong")
    R.set_kernels("numba")                              # switching between forward and backward
    dp.sum(img).backward()
    assert np.all(np.isfinite(mesh.verts.grad)) and np.abs(mesh.verts.grad).max() > 0


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.getcwd(), **env})


def test_environment_variable_selects_the_kernels():
    code = "from diffprog import render as R; print(R.get_kernels())"
    assert _python(code, DIFFPROG_KERNELS="numpy").stdout.strip() == "numpy"
    bad = _python(code, DIFFPROG_KERNELS="fortran")
    assert "DIFFPROG_KERNELS: expected one of ('numba', 'numpy'), got 'fortran'" in bad.stderr


def test_without_numba_the_reference_kernels_are_used_with_one_warning(monkeypatch):
    monkeypatch.setattr(K, "_loaded", {k: v for k, v in K._loaded.items() if k == "numpy"})
    monkeypatch.setattr(K, "_warned", False)
    monkeypatch.setitem(sys.modules, "numba", None)          # import numba -> ImportError
    for name in [m for m in sys.modules if m.startswith("diffprog.render.kernels.numba_")]:
        monkeypatch.delitem(sys.modules, name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert R.set_kernels("numba") == "numpy"
        assert R.set_kernels("numba") == "numpy"
    assert len([w for w in caught if "compiled kernels are unavailable" in str(w.message)]) == 1


def test_numba_cache_goes_to_a_writable_folder_when_the_package_is_read_only(monkeypatch, tmp_path):
    import numba
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    package = os.path.dirname(os.path.abspath(K.__file__))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if path == package else real_access(path, mode))
    K._numba_cache()
    assert numba.config.CACHE_DIR == str(tmp_path / "diffprog" / "numba")
    assert os.path.isdir(numba.config.CACHE_DIR)


@pytest.mark.parametrize("colored", [False, True])
def test_compiled_blend_equals_reference_with_crowded_pixels_and_tiny_coverage(colored):
    # thousands of pairs on one pixel (a product of (1 + e) past any float: the compiled blend folds
    # it), pixels whose every term is tiny (coverage 1e-17: relative accuracy must hold), one pair
    rng = np.random.default_rng(11)
    sigma, gamma = 1e-4, 1e-4
    crowd = rng.uniform(-1e-4, 1e-4, 3000)                     # x in [-1, 1]: prod(1 + e) ~ 1e600
    tiny = rng.uniform(-4.1e-3, -3.9e-3, 5)                    # x about -40
    dist = np.concatenate([crowd, tiny, [2e-5]])
    pixel = np.concatenate([np.zeros(3000, np.int64), np.full(5, 1), [3]])
    order = rng.permutation(len(dist))
    dist, pixel = dist[order], pixel[order]
    depth = rng.uniform(1.0, 3.0, len(dist))
    colors = rng.random((len(dist), 3)) if colored else None
    background = rng.random(3)
    args = (dist, depth, colors, background, pixel, 4, sigma, gamma, 0.1, 10.0)
    outs = []
    for name in ("numpy", "numba"):
        k = K._load(name)
        out, res = k.blend_forward(*args)
        g = rng.random(out.shape) if not outs else outs[0][1]
        grads = k.blend_backward(res, g, colors, background, pixel, sigma, gamma, 0.1, 10.0, False)
        outs.append((out, g, grads))
    (ref, _, ref_grads), (out, _, out_grads) = outs
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=0)  # elementwise: tiny alphas too
    assert 0 < ref[1, -1] < 1e-15
    for a, b in zip(out_grads, ref_grads):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


@pytest.mark.parametrize("per_camera,orthographic,dtype", [(False, False, np.float64), (True, False, np.float64),
                                                           (False, True, np.float64), (False, False, np.float32)])
def test_compiled_projection_equals_the_engine_code(per_camera, orthographic, dtype):
    # every face in front of the near plane: the compiled set projects them in one op
    outs = []
    for name in ("numpy", "numba"):
        R.set_kernels(name)
        mesh = random_scene(9, dtype, near_plane=False)
        cams = R.look_at(eye=[(0.0, 0.0, 2.5), (0.4, 0.3, 2.2)], fov=50, image_size=(19, 23),
                         orthographic=orthographic, requires_grad=True)
        verts = mesh.verts
        if per_camera:
            verts = dp.stack([mesh.verts, mesh.verts * 1.1])
        screen = R.screen_triangles(verts, mesh.faces, cams)
        weights = np.random.default_rng(2).random(screen.tri.shape)
        dp.sum(screen.tri * weights).backward()
        outs.append((screen.tri.data, screen.image, screen.parent, mesh.verts.grad, cams.eye.grad))
    (tri, image, parent, *grads), (tri2, image2, parent2, *grads2) = outs
    np.testing.assert_array_equal(image2, image)
    np.testing.assert_array_equal(parent2, parent)
    assert tri2.dtype == tri.dtype == dtype
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    # (float32 leaves: float32 gradients from the compiled op, float64 ones from the engine code)
    assert_same([tri2] + grads2, [tri] + grads, rtol, same_dtype=dtype == np.float64)


@pytest.mark.parametrize("shader", ["silhouette", "phong"])
def test_search_buffers_are_reused_only_once_free(shader):
    # the compiled search reuses its buffers from call to call; a graph still alive keeps its own
    from diffprog.render.kernels import numba_pairs
    R.set_kernels("numba")
    cams = R.look_at(eye=(0.0, 0.0, 2.5), fov=50, image_size=(24, 24))

    def grad_of(img, mesh, weights):
        dp.sum(img * weights).backward()
        return mesh.verts.grad.copy()
    meshes = [random_scene(s, near_plane=False) for s in (12, 13)]
    weights = np.random.default_rng(3).random((1, 24, 24, 4))
    alone = [grad_of(R.render(m, cams, shader=shader), m, weights) for m in meshes]
    for m in meshes:
        m.verts.grad = None
    first = R.render(meshes[0], cams, shader=shader)                       # both graphs alive at once
    second = R.render(meshes[1], cams, shader=shader)
    np.testing.assert_array_equal(grad_of(second, meshes[1], weights), alone[1])
    np.testing.assert_array_equal(grad_of(first, meshes[0], weights), alone[0])
    del first, second
    kept = id(numba_pairs._scratch["pixel"])                             # (an id: no reference to it)
    R.render(meshes[0], cams, shader=shader)
    assert id(numba_pairs._scratch["pixel"]) == kept                      # free again: reused


def test_compiled_vertex_normals_equal_the_engine_code():
    from diffprog.render.fused import VertexNormals
    from diffprog.render.mesh import vertex_normals
    mesh = random_scene(14)                                  # with zero-area faces
    verts = np.concatenate([mesh.verts.data, [[5.0, 5.0, 5.0]]])      # and an isolated vertex
    weights = np.random.default_rng(4).random(verts.shape)
    outs = []
    for normals in (vertex_normals, VertexNormals.apply):
        R.set_kernels("numba")
        v = dp.tensor(verts, requires_grad=True)
        n = normals(v, mesh.faces)
        dp.sum(n * weights).backward()
        outs.append([n.data, v.grad])
    assert np.all(outs[0][0][-1] == 0) and np.all(outs[1][0][-1] == 0)
    assert_same(outs[1], outs[0], 1e-12)


@pytest.mark.parametrize("leaves", [
    dict(eye=(0.3, 0.5, 2.6), at=(0.01, -0.02, 0.03), up=(0.1, 1.0, 0.05), fov=45.0),
    dict(eye=[(0.2, -0.3, 2.9), (-0.5, 0.4, 2.4), (0.1, 0.2, 3.1)], at=(0.01, -0.02, 0.03), fov=[40.0, 50.0, 60.0]),
    dict(eye=[(0.2, -0.3, 2.9), (-0.5, 0.4, 2.4)], at=[(0.05, 0.0, 0.0), (0.0, -0.1, 0.02)],
         up=[(0.1, 1.0, 0.0), (-0.1, 0.9, 0.2)], fov=50.0),
    dict(eye=(0.3, 0.5, 2.6), up=(0.0, 1.0, 0.0), orthographic=True, height=2.5),
    dict(eye=[(0.2, -0.3, 2.9), (-0.5, 0.4, 2.4)], orthographic=True, height=[2.5, 3.0]),
])
def test_projection_from_look_at_leaves_equals_the_engine_code(leaves, monkeypatch):
    # compiled set: look_at cameras are derived and differentiated inside the projection op; the
    # engine code (cameras' R, T, focal from recorded ops) is the reference
    from diffprog.render.camera import look_at_values
    from diffprog.render.clipping import ProjectLookAt
    R.set_kernels("numba")
    calls = []
    monkeypatch.setattr(ProjectLookAt, "forward", (lambda f: staticmethod(lambda ctx, *a: calls.append(1) or f(ctx, *a)))(
        ProjectLookAt.forward))
    mesh = random_scene(15, near_plane=False)
    outs = []
    for fused in (True, False):
        tensors = {k: v if k == "orthographic" else dp.tensor(np.asarray(v, float), requires_grad=True)
                   for k, v in leaves.items()}
        cams = R.look_at(image_size=(21, 26), **tensors)
        if not fused:
            cams._look = None
        assert (cams._look is not None) == fused
        verts = dp.tensor(mesh.verts.data.copy(), requires_grad=True)
        screen = R.screen_triangles(verts, mesh.faces, cams)
        assert len(screen) > 10 and screen.corners is None and len(calls) == 1
        weights = np.random.default_rng(5).random(screen.tri.shape)
        dp.sum(screen.tri * weights).backward()
        tensors.pop("orthographic", None)
        outs.append([screen.tri.data, verts.grad] + [t.grad for t in tensors.values()])
        if fused:
            R0, T0, f0 = (x.data for x in cams._derive())
            values = look_at_values(cams)
            for a, b in zip(values[:3], (R0, T0, f0)):
                np.testing.assert_array_equal(a, b)                         # the engine code's values, bit for bit
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert_same(outs[0][1:], outs[1][1:], 1e-12)


def test_silhouette_image_is_one_op_with_four_channels():
    mesh = random_scene(16, near_plane=False)
    cams = R.look_at(eye=(0.0, 0.0, 2.5), fov=50, image_size=(17, 15))
    weights = np.random.default_rng(6).random((1, 17, 15, 4))
    grads = []
    for kernels in ("numba", "numpy"):
        R.set_kernels(kernels)
        mesh.verts.grad = None
        img = R.render(mesh, cams, shader="silhouette")
        assert img.shape == (1, 17, 15, 4) and np.all(img.data == img.data[..., :1])
        dp.sum(img * weights).backward()
        grads.append([img.data, mesh.verts.grad])
    assert_same(grads[0], grads[1], 1e-10)
