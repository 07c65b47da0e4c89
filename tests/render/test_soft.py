"""The soft rasterizer: agreement with a dense composition of engine operations, limits,
stability and invariances."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import render as R
from render_scenes import tiny_cams


def dense_fragments(screen, cams):
    """Every pixel against every screen triangle, written with engine operations only."""
    h, w = cams.image_size
    M = len(screen)
    rows, cols = np.divmod(np.arange(h * w), w)
    pixel = (screen.image[None, :] * h * w + np.arange(h * w)[:, None]).ravel()          # (Q*M,)
    face = np.tile(np.arange(M), h * w)
    p = np.stack([cols + 0.5, rows + 0.5], axis=1)[:, None, None, :]                   # (Q, 1, 1, 2)
    tri = screen.tri
    r = tri[None, :, :, :2] - p                                                          # (Q, M, 3, 2)
    rx, ry = r[..., 0], r[..., 1]
    E = dp.stack([rx[..., 1] * ry[..., 2] - ry[..., 1] * rx[..., 2],
                  rx[..., 2] * ry[..., 0] - ry[..., 2] * rx[..., 0],
                  rx[..., 0] * ry[..., 1] - ry[..., 0] * rx[..., 1]], axis=-1)
    wts = E / dp.sum(E, axis=-1, keepdims=True)
    inside = np.all(wts.data >= 0, axis=-1)
    d2s = []
    for k in range(3):
        a, b = tri[None, :, k, :2], tri[None, :, (k + 1) % 3, :2]
        e = b - a
        q = p[:, :, 0, :] - a
        t = dp.clip(dp.sum(q * e, axis=-1) / dp.sum(e * e, axis=-1), 0.0, 1.0)
        d = q - t[..., None] * e
        d2s.append(dp.sum(d * d, axis=-1))
    d2 = dp.min(dp.stack(d2s, axis=-1), axis=-1)
    dist = dp.where(inside, d2, -d2) * cams.ndc_per_pixel ** 2
    wc = dp.relu(wts)
    wn = wc / dp.sum(wc, axis=-1, keepdims=True)
    z = tri[None, :, :, 2]
    u = wn / z
    bary = u / dp.sum(u, axis=-1, keepdims=True)
    depth = 1.0 / dp.sum(u, axis=-1)
    if screen.corners is not None:
        bary = dp.einsum("qmi,mij->qmj", bary, screen.corners)
    flat = lambda x: dp.reshape(x, (h * w * M,) + x.shape[2:])        # noqa: E731
    return R.Fragments(pixel, face, screen.parent[face], flat(dist), flat(bary), flat(depth), (len(cams), h, w))


def dense_blend(frags, colors, background, sigma, gamma, znear, zfar, M):
    """The SoftRas aggregation with engine operations on the dense (pixels, faces) layout."""
    n, h, w = frags.image_shape
    x = dp.reshape(frags.dist, (-1, M)) / sigma
    alpha = 1.0 - dp.exp(dp.sum(-dp.softplus(x), axis=1))
    zn = (zfar - dp.reshape(frags.depth, (-1, M))) / (zfar - znear)
    s = -dp.softplus(-x) + zn / gamma
    sb = np.full((s.shape[0], 1), 1e-10 / gamma)
    logits = dp.concatenate([s, sb], axis=1)
    weights = dp.softmax(logits, axis=1)
    c = dp.reshape(colors, (-1, M, 3))
    rgb = dp.einsum("pm,pmc->pc", weights[:, :M], c) + weights[:, M:] * background
    return dp.reshape(dp.concatenate([rgb, alpha[:, None]], axis=1), (n, h, w, 4))


@pytest.mark.parametrize("shader", ["silhouette", "phong"])
def test_fused_kernel_matches_engine_composition(tiny_scene, shader):
    verts, faces, colors = tiny_scene
    opts = dict(sigma=2e-3, gamma=5e-2)
    ras = R.SoftRasterizer(min_coverage=1e-300, **opts)
    light = R.DirectionalLight(requires_grad=False)
    bg = np.array([0.1, 0.2, 0.3])

    def fused(v, c):
        mesh = R.Mesh(v, faces, colors=c, requires_grad=False)
        return R.render(mesh, tiny_cams(), light, rasterizer=ras, shader=shader, background=bg)

    def composed(v, c):
        mesh = R.Mesh(v, faces, colors=c, requires_grad=False)
        cams = tiny_cams()
        screen = R.screen_triangles(mesh.verts, mesh.faces, cams)
        frags = dense_fragments(screen, cams)
        col = R.shade(frags, mesh, cams, light, "phong")
        out = dense_blend(frags, col, bg, opts["sigma"], opts["gamma"], cams.znear, cams.zfar, len(screen))
        if shader == "silhouette":
            a = out[..., 3:]
            out = dp.concatenate([a, a, a, a], axis=-1)
        return out
    a, b = fused(verts, colors), composed(verts, colors)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-10, atol=1e-12)
    assert a.data[..., 3].max() > 0.5 and a.data[..., 3].min() < 0.1       # a real image
    ga = dp.grad(lambda v, c: dp.sum(fused(v, c) ** 2), argnums=(0, 1))(verts, colors)
    gb = dp.grad(lambda v, c: dp.sum(composed(v, c) ** 2), argnums=(0, 1))(verts, colors)
    for x, y in zip(ga, gb):
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-10)
    assert np.abs(ga[0]).max() > 0


def _one_triangle(tri_px, size=(128, 128)):
    """A camera at the origin looking down -z at depth 2 and a triangle with the given pixel corners."""
    h, w = size
    f = 100.0
    cams = R.Cameras(np.eye(3), np.zeros(3), f, image_size=size, requires_grad=False)
    tri_px = np.asarray(tri_px, float)
    depth = 2.0
    x = (tri_px[:, 0] - w / 2) / f * depth
    y = -(tri_px[:, 1] - h / 2) / f * depth
    verts = np.stack([x, y, -np.full(3, depth)], axis=1)
    return R.Mesh(verts, np.array([[0, 1, 2]]), requires_grad=False), cams


def test_single_triangle_coverage_integrates_to_its_area():
    tri = np.array([[20.3, 30.7], [101.9, 44.2], [47.5, 110.4]])
    mesh, cams = _one_triangle(tri)
    d1, d2 = tri[1] - tri[0], tri[2] - tri[0]
    area = 0.5 * abs(d1[0] * d2[1] - d1[1] * d2[0])
    for sigma in (1e-5, 1e-4, 3e-4):
        img = R.render(mesh, cams, rasterizer=R.SoftRasterizer(sigma=sigma), shader="silhouette")
        assert abs(img.data[..., 3].sum() - area) / area < 0.01


def test_soft_silhouette_converges_to_hard():
    mesh = R.load_mesh("assets/spot/spot_triangulated.obj", requires_grad=False)
    cams = R.look_at(eye=R.orbit(2, elev=20, dist=2.5), fov=45, image_size=(64, 64), requires_grad=False)
    hard = R.render(mesh, cams, rasterizer=R.HardRasterizer(), shader="silhouette").data[..., 3]
    ious = []
    for sigma in (1e-4, 1e-5, 1e-6):
        soft = R.render(mesh, cams, rasterizer=R.SoftRasterizer(sigma=sigma), shader="silhouette").data[..., 3]
        ious.append(np.minimum(soft, hard).sum() / np.maximum(soft, hard).sum())
    assert ious[-1] > 0.99
    assert ious[0] < ious[1] < ious[2]


def _finite(img, *grads):
    assert np.all(np.isfinite(img.data))
    for g in grads:
        assert g is not None and np.all(np.isfinite(g))


@pytest.mark.parametrize("case", ["zero_area", "same_screen_position", "edge_on", "straddling_near", "behind",
                                  "empty_image", "tiny_sigma_gamma"])
@pytest.mark.parametrize("shader", ["silhouette", "phong"])
@pytest.mark.parametrize("hard", [False, True])
def test_degenerate_cases_give_no_nan(case, shader, hard):
    verts = np.array([[-0.5, -0.5, 0.0], [0.5, -0.4, 0.1], [0.0, 0.5, -0.1], [0.6, 0.6, 0.2],
                      [0.2, 0.1, 0.0], [0.2, 0.1, 0.0], [0.1, 0.2, 0.0]])
    faces = [[0, 1, 2], [1, 3, 2]]
    eye = (0.0, 0.0, 2.5)
    ras = R.SoftRasterizer(sigma=1e-4, gamma=1e-4)
    if case == "zero_area":
        faces += [[4, 5, 6], [4, 4, 4]]                               # repeated vertices
    elif case == "same_screen_position":
        verts = np.vstack([verts, [[0.1, 0.1, 0.5], [0.1, 0.1, 1.0]]])  # two corners on one camera ray
        verts[-2:] = np.array([0.0, 0.0, 2.5]) + (verts[-2:] - eye) * 1.0
        faces += [[7, 8, 0]]
        verts[8] = np.array(eye) + 0.5 * (verts[7] - np.array(eye))
    elif case == "edge_on":
        verts = np.vstack([verts, [[0.0, -0.3, 1.0], [0.0, 0.3, 1.0], [0.0, 0.0, -1.0]]])   # plane x = 0 holds the eye
        faces += [[7, 8, 9]]
    elif case == "straddling_near":
        eye = (0.0, 0.0, 0.3)                                         # znear 0.1 cuts through the faces
        verts[:, 2] += np.array([0.0, 0.25, -0.3, 0.22, 0, 0, 0])
    elif case == "behind":
        eye = (0.0, 0.0, -0.05)                                       # part of the mesh behind the camera
        verts[3, 2] = -3.0
    elif case == "empty_image":
        verts = verts + np.array([50.0, 0.0, 0.0])
    elif case == "tiny_sigma_gamma":
        ras = R.SoftRasterizer(sigma=1e-7, gamma=1e-6)
    if hard:
        ras = R.HardRasterizer()
    colors = np.random.default_rng(0).random((len(verts), 3))
    mesh = R.Mesh(verts, np.array(faces), colors=colors)
    cams = R.look_at(eye=eye, at=(0.0, 0.0, -5.0), fov=60, image_size=(32, 32))
    img = R.render(mesh, cams, R.DirectionalLight(), rasterizer=ras, shader=shader)
    if hard and (shader == "silhouette" or case == "empty_image"):    # a step function / nothing in view: no graph
        assert not img.requires_grad and np.all(np.isfinite(img.data))
        return
    dp.sum(img * np.random.default_rng(1).random(img.shape)).backward()
    _finite(img, mesh.verts.grad, cams.eye.grad)
    if shader == "phong":
        _finite(img, mesh.colors.grad)
    if case == "empty_image":
        assert np.all(img.data[..., 3] == 0)
    else:
        assert img.data[..., 3].max() > 0.4
    if hard and shader == "phong" and case != "empty_image":
        assert np.abs(mesh.verts.grad).max() > 0


def test_tiny_sigma_gamma_values_are_sane(tiny_scene):
    verts, faces, colors = tiny_scene
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)
    cams = tiny_cams(size=(24, 24))
    sharp = R.render(mesh, cams, rasterizer=R.SoftRasterizer(sigma=1e-7, gamma=1e-6), shader="flat").data
    hard = R.render(mesh, cams, rasterizer=R.HardRasterizer(), shader="flat").data
    # away from edges the soft image is the hard one
    same = np.isclose(sharp, hard, atol=1e-6).all(axis=-1)
    assert same.mean() > 0.8
    assert np.all((sharp >= -1e-12) & (sharp <= 1 + 1e-12))


def test_invariant_to_moving_mesh_and_camera_together(tiny_scene):
    verts, faces, colors = tiny_scene
    shift = np.array([3.0, -2.0, 5.0])
    ras = R.SoftRasterizer(sigma=1e-3, gamma=1e-2)
    light = R.PointLight(position=(1.0, 2.0, 3.0), requires_grad=False)
    moved_light = R.PointLight(position=np.array([1.0, 2.0, 3.0]) + shift, requires_grad=False)
    a = R.render(R.Mesh(verts, faces, colors=colors), tiny_cams(size=(16, 16)), light, rasterizer=ras)
    cams = R.look_at(eye=np.array([0.3, 0.2, 2.5]) + shift, at=shift, fov=50, image_size=(16, 16))
    b = R.render(R.Mesh(verts + shift, faces, colors=colors), cams, moved_light, rasterizer=ras)
    np.testing.assert_allclose(a.data, b.data, atol=1e-9)


@pytest.mark.parametrize("rasterizer", [R.SoftRasterizer(sigma=1e-4, gamma=1e-3), R.HardRasterizer()])
def test_batch_equals_each_alone(rasterizer):
    mesh = R.ico_sphere(2)
    mesh.colors = dp.tensor(np.random.default_rng(0).random((mesh.num_verts, 3)), requires_grad=True)
    cams = R.look_at(eye=R.orbit(3, elev=30, dist=3.0), fov=40, image_size=(20, 24))
    batch = R.render(mesh, cams, rasterizer=rasterizer)
    dp.sum(batch ** 2).backward()
    g_batch = mesh.colors.grad.copy()
    g_sum = 0.0
    for i in range(3):
        mesh.colors.grad = None
        one = R.render(mesh, cams[i], rasterizer=rasterizer)
        np.testing.assert_allclose(one.data[0], batch.data[i], atol=1e-12)
        dp.sum(one ** 2).backward()
        g_sum = g_sum + mesh.colors.grad
    np.testing.assert_allclose(g_sum, g_batch, rtol=1e-9, atol=1e-12)
    # a list of meshes (one per camera) renders like the batch
    listed = R.render([mesh, mesh, mesh], cams, rasterizer=rasterizer)
    np.testing.assert_allclose(listed.data, batch.data, atol=1e-12)


def test_faces_per_pixel_keeps_the_nearest():
    mesh = R.ico_sphere(3)
    cams = R.look_at(eye=(0.0, 0.0, 3.0), fov=40, image_size=(32, 32))
    full = R.rasterize(mesh, cams, R.SoftRasterizer(sigma=1e-4))
    capped = R.rasterize(mesh, cams, R.SoftRasterizer(sigma=1e-4, faces_per_pixel=4))
    counts = np.bincount(capped.pixel, minlength=32 * 32)
    assert counts.max() == 4 and len(capped) < len(full)
    # the kept pairs are the nearest of their pixel
    for p in np.flatnonzero(counts == 4)[:20]:
        kept = np.sort(capped.depth.data[capped.pixel == p])
        all_ = np.sort(full.depth.data[full.pixel == p])[:4]
        np.testing.assert_allclose(kept, all_)
    # with a large cap the image is the exact one
    a = R.render(mesh, cams, rasterizer=R.SoftRasterizer(sigma=1e-4, faces_per_pixel=1000)).data
    b = R.render(mesh, cams, rasterizer=R.SoftRasterizer(sigma=1e-4)).data
    np.testing.assert_array_equal(a, b)


def test_fragments_expose_pairs(tiny_scene):
    verts, faces, colors = tiny_scene
    frags = R.rasterize(R.Mesh(verts, faces), tiny_cams(size=(12, 12)), R.SoftRasterizer(sigma=1e-3))
    assert frags.bary.shape == (len(frags), 3) and frags.dist.shape == frags.depth.shape == (len(frags),)
    np.testing.assert_allclose(frags.bary.data.sum(axis=1), 1.0)
    assert np.all(frags.bary.data >= 0)
    ids = frags.pixel_to_face()
    assert ids.shape == (1, 12, 12) and set(np.unique(ids)) <= {-1, 0, 1}
    inside = frags.dist.data > 0
    assert inside.any() and (~inside).any()


def test_backface_culling():
    mesh = R.ico_sphere(2)
    cams = R.look_at(eye=(0.0, 0.0, 3.0), fov=40, image_size=(32, 32))
    both = R.rasterize(mesh, cams, R.HardRasterizer())
    front = R.rasterize(mesh, cams, R.HardRasterizer(cull_backfaces=True))
    np.testing.assert_array_equal(both.pixel_to_face(), front.pixel_to_face())   # a closed mesh
    flipped = R.Mesh(mesh.verts.data, mesh.faces[:, ::-1])
    inner = R.rasterize(flipped, cams, R.HardRasterizer(cull_backfaces=True))
    # with reversed winding only the far side survives culling
    near, far = both.depth_map(), inner.depth_map()
    covered = np.isfinite(near)
    np.testing.assert_array_equal(np.isfinite(far), covered)
    assert np.all(far[covered] >= near[covered]) and far[covered].mean() > 3.0 > near[covered].mean()
    soft = R.rasterize(mesh, cams, R.SoftRasterizer(cull_backfaces=True))
    assert len(soft) < len(R.rasterize(mesh, cams, R.SoftRasterizer()))


@pytest.mark.parametrize("shader", ["flat", "phong"])
def test_chunked_checkpointed_shading_equals_direct(monkeypatch, shader):
    """Per-pair lighting in checkpointed blocks gives the same image and gradients."""
    from diffprog.render import shading
    plane = R.plane(size=1.5, segments=2)
    tex = np.random.default_rng(0).random((5, 6, 3))

    def run():
        mesh = R.Mesh(plane.verts.data + [0.0, 0.0, 0.1], plane.faces, uvs=plane.uvs.data, texture=tex)
        cams = R.look_at(eye=(0.3, 0.4, 2.0), fov=50, image_size=(20, 20))
        light = R.PointLight(position=(0.5, 1.0, 2.0))
        img = R.render(mesh, cams, light, rasterizer=R.SoftRasterizer(sigma=1e-3, gamma=1e-2), shader=shader)
        dp.sum(img * np.random.default_rng(1).random(img.shape)).backward()
        return img.data, mesh.verts.grad, mesh.texture.grad, cams.eye.grad, light.position.grad
    direct = run()
    monkeypatch.setattr(shading, "SHADE_CHUNK", 37)
    chunked = run()
    for a, b in zip(direct, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_float32_mesh_renders_in_float32():
    m64 = R.ico_sphere(3)
    m32 = R.ico_sphere(3, dtype=np.float32)
    cams = R.look_at(eye=(0.4, 0.5, 3.0), fov=45, image_size=(32, 32))
    a = R.render(m64, cams, shader="phong")
    b = R.render(m32, cams, shader="phong")
    assert b.dtype == np.float32
    np.testing.assert_allclose(b.data, a.data, atol=2e-4)
    dp.sum(b).backward()
    assert np.all(np.isfinite(m32.verts.grad))


def test_silhouette_fitting_decreases_the_loss():
    """An image loss drives the vertices: a few gradient steps move a sphere towards an ellipsoid."""
    sphere = R.ico_sphere(2)
    cams = R.look_at(eye=R.orbit(4, elev=20, dist=3.5), fov=45, image_size=(32, 32), requires_grad=False)
    ras = R.SoftRasterizer(sigma=3e-4, gamma=1e-3)
    target = R.render(R.Mesh(sphere.verts.data * [1.3, 0.8, 1.0], sphere.faces), cams, rasterizer=ras,
                      shader="silhouette").data[..., 3]
    v = sphere.verts.data.copy()
    losses = []
    for _ in range(25):
        mesh = R.Mesh(v, sphere.faces)
        loss = R.mse_loss(R.render(mesh, cams, rasterizer=ras, shader="silhouette")[..., 3], target)
        loss.backward()
        losses.append(loss.item())
        v = v - 0.015 * mesh.verts.grad / np.abs(mesh.verts.grad).max()
    assert losses[-1] < 0.6 * losses[0]
