"""The hard rasterizer against an independent reference: trimesh ray casting through pixel centres."""
import numpy as np
import pytest
import trimesh

from diffprog import render as R
from render_scenes import SPOT

pytest.importorskip("rtree")


def _rays(cams, n):
    h, w = cams.image_size
    c2w = cams.camera_to_world().data[n]
    f, c = cams.focal_length.data[n], cams.principal_point.data[n]
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    d_cam = np.stack([(cols - c[0]) / f[0], -(rows - c[1]) / f[1], -np.ones_like(cols)], -1).reshape(-1, 3)
    d_world = d_cam @ c2w[:3, :3].T
    return np.broadcast_to(c2w[:3, 3], d_world.shape).copy(), d_world, c2w


def _check_against_ray_casting(azimuths):
    mesh = R.load_mesh(SPOT, requires_grad=False)
    eyes = np.concatenate([R.orbit(1, elev=25, dist=2.2, azim_start=a) for a in azimuths])
    cams = R.look_at(eye=eyes, fov=45, image_size=(64, 64), requires_grad=False)
    frags = R.rasterize(mesh, cams, R.HardRasterizer())
    ids, depth = frags.pixel_to_face(), frags.depth_map()
    ref_mesh = trimesh.Trimesh(mesh.verts.data, mesh.faces, process=False)
    for n in range(len(cams)):
        origin, direction, c2w = _rays(cams, n)
        ref_ids = ref_mesh.ray.intersects_first(origin, direction)
        assert (ref_ids >= 0).mean() > 0.15                                   # Spot fills part of the view
        assert np.mean(ref_ids == ids[n].ravel()) >= 0.995
        # depth of the hit along the view axis: the ray meets the plane of trimesh's triangle
        hit = np.flatnonzero((ref_ids >= 0) & (ref_ids == ids[n].ravel()))
        tri = mesh.verts.data[mesh.faces[ref_ids[hit]]]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        t = np.einsum("ij,ij->i", tri[:, 0] - origin[hit], normal) / np.einsum("ij,ij->i", direction[hit], normal)
        ref_depth = t * -(direction[hit] @ c2w[:3, 2])
        np.testing.assert_allclose(depth[n].ravel()[hit], ref_depth, rtol=1e-5)


def test_spot_matches_trimesh_ray_casting():
    _check_against_ray_casting([30.0])


@pytest.mark.slow
def test_spot_matches_trimesh_ray_casting_more_views():
    _check_against_ray_casting([120.0, 210.0, 300.0])


def test_perspective_correct_barycentrics_reproduce_the_surface_point():
    mesh = R.load_mesh(SPOT, requires_grad=False)
    cams = R.look_at(eye=(0.5, 0.6, 2.0), fov=45, image_size=(48, 48), requires_grad=False)
    frags = R.rasterize(mesh, cams, R.HardRasterizer())
    point = np.einsum("pi,pic->pc", frags.bary.data, mesh.verts.data[mesh.faces[frags.parent]])
    view = point @ cams.R.data[0].T + cams.T.data[0]
    np.testing.assert_allclose(-view[:, 2], frags.depth.data, rtol=1e-10)
    h, w = cams.image_size
    f, c = cams.focal_length.data[0], cams.principal_point.data[0]
    x = c[0] + f[0] * view[:, 0] / -view[:, 2]
    np.testing.assert_allclose(x, frags.pixel % w + 0.5, atol=1e-7)


def test_hard_image_is_flat_colour_inside_and_background_outside():
    plane = R.plane(size=1.0)
    mesh = R.Mesh(plane.verts.data, plane.faces, colors=np.tile([0.2, 0.4, 0.6], (4, 1)))
    cams = R.look_at(eye=(0.0, 0.0, 3.0), fov=40, image_size=(32, 32))
    img = R.render(mesh, cams, R.DirectionalLight(direction=(0, 0, -1), ambient=0.0), rasterizer=R.HardRasterizer(),
                   shader="flat", background=(1.0, 0.0, 0.0), material=R.Material(specular=0.0)).data[0]
    inside = img[..., 3] == 1
    assert 0.1 < inside.mean() < 0.6
    np.testing.assert_allclose(img[inside][:, :3], np.tile([0.2, 0.4, 0.6], (inside.sum(), 1)), atol=1e-12)
    np.testing.assert_allclose(img[~inside][:, :3], np.tile([1.0, 0.0, 0.0], ((~inside).sum(), 1)))


def test_orthographic_square_covers_expected_pixels():
    plane = R.plane(size=1.0)
    cams = R.look_at(eye=(0.0, 0.0, 5.0), image_size=(40, 40), orthographic=True, height=2.0)
    img = R.render(plane, cams, rasterizer=R.HardRasterizer(), shader="silhouette").data[0, ..., 3]
    # 1 world unit = 20 pixels: the square covers columns/rows 10..29
    expected = np.zeros((40, 40))
    expected[10:30, 10:30] = 1
    np.testing.assert_array_equal(img, expected)
