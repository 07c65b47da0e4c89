"""gradcheck (float64, tiny scenes) of the fused soft rasterizer through every parameter."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import render as R
from render_scenes import SMOOTH, tiny_cams


@pytest.mark.parametrize("shader", ["silhouette", "flat", "gouraud", "phong"])
def test_vertices_and_colors(tiny_scene, shader):
    verts, faces, colors = tiny_scene
    ras = R.SoftRasterizer(**SMOOTH)

    def f(v, c):
        mesh = R.Mesh(v, faces, colors=c, requires_grad=False)
        return R.render(mesh, tiny_cams(), R.DirectionalLight(requires_grad=False), rasterizer=ras, shader=shader)
    if shader == "silhouette":
        assert dp.gradcheck(lambda v: f(v, colors), verts)
    else:
        assert dp.gradcheck(f, verts, colors)


def test_texture_and_uvs():
    plane = R.plane(size=1.6, segments=1)
    tex = np.random.default_rng(2).random((3, 4, 3))
    uvs = plane.uvs.data * 0.8 + 0.1
    ras = R.SoftRasterizer(**SMOOTH)

    def f(texture, uv, v):
        mesh = R.Mesh(v, plane.faces, uvs=uv, texture=texture, requires_grad=False)
        cams = tiny_cams(eye=(0.2, -0.1, 2.0))
        return R.render(mesh, cams, R.DirectionalLight(requires_grad=False), rasterizer=ras, shader="phong")
    assert dp.gradcheck(f, tex, uvs, plane.verts.data + 0.05)


def test_look_at_camera_and_lights(tiny_scene):
    verts, faces, colors = tiny_scene
    ras = R.SoftRasterizer(**SMOOTH)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)

    def f(eye, at, fov, direction, color, ambient):
        cams = R.look_at(eye=eye, at=at, fov=fov, image_size=(6, 7))
        light = R.DirectionalLight(direction=direction, color=color, ambient=ambient)
        return R.render(mesh, cams, light, rasterizer=ras, shader="phong")
    assert dp.gradcheck(f, np.array([0.3, 0.2, 2.5]), np.array([0.05, 0.0, -0.1]), np.array(50.0),
                        np.array([0.2, -1.0, -1.0]), np.array([0.9, 0.8, 1.0]), np.array(0.3))


def test_rotation_translation_focal_point_light_material(tiny_scene):
    verts, faces, colors = tiny_scene
    ras = R.SoftRasterizer(**SMOOTH)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)

    def f(axis_angle, translation, focal, position, specular, shininess):
        cams = R.Cameras(axis_angle[None], translation[None], focal[None], image_size=(6, 7))
        light = R.PointLight(position=position, ambient=0.2)
        material = R.Material(specular=specular, shininess=shininess)
        return R.render(mesh, cams, light, rasterizer=ras, shader="phong", material=material)
    assert dp.gradcheck(f, np.array([0.05, -0.1, 0.02]), np.array([-0.1, 0.05, -2.6]), np.array([7.0, 7.5]),
                        np.array([0.5, 1.5, 2.0]), np.array(0.6), np.array(8.0))


def test_quaternion_camera_orthographic(tiny_scene):
    verts, faces, colors = tiny_scene
    ras = R.SoftRasterizer(**SMOOTH)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)

    def f(q, v):
        cams = R.Cameras(q[None], np.array([[0.0, 0.0, -3.0]]), 3.2, image_size=(6, 7), orthographic=True,
                         requires_grad=False)
        return R.render(R.Mesh(v, faces, colors=colors, requires_grad=False), cams,
                        R.DirectionalLight(requires_grad=False), rasterizer=ras, shader="gouraud")
    assert dp.gradcheck(f, np.array([0.99, 0.05, -0.08, 0.02]), verts)


def test_background_color_and_image(tiny_scene):
    verts, faces, colors = tiny_scene
    ras = R.SoftRasterizer(**SMOOTH)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)
    bg_image = np.random.default_rng(3).random((6, 7, 3))
    assert dp.gradcheck(lambda bg: R.render(mesh, tiny_cams(), rasterizer=ras, shader="flat", background=bg),
                        np.array([0.2, 0.5, 0.9]))
    assert dp.gradcheck(lambda bg: R.render(mesh, tiny_cams(), rasterizer=ras, shader="flat", background=bg),
                        bg_image)


@pytest.mark.parametrize("znear", [1.4, 1.7])
def test_near_plane_clipping_gradients(tiny_scene, znear):
    """Faces straddling the near plane (one or two corners in front): the clipped corners move
    with the vertices, including along the clipped edges."""
    verts, faces, colors = tiny_scene
    ras = R.SoftRasterizer(**SMOOTH)

    def f(v):
        cams = tiny_cams(eye=(0.0, 0.0, 1.6), znear=znear)
        return R.render(R.Mesh(v, faces, colors=colors, requires_grad=False), cams,
                        R.DirectionalLight(requires_grad=False), rasterizer=ras, shader="phong")
    view_depth = 1.6 - verts[:, 2]
    assert (view_depth < znear).any() and (view_depth > znear).any()      # really straddling
    assert dp.gradcheck(f, verts)


def test_hard_rasterizer_colors_and_texture(tiny_scene):
    verts, faces, colors = tiny_scene
    mesh_of = lambda c: R.Mesh(verts, faces, colors=c, requires_grad=False)      # noqa: E731
    assert dp.gradcheck(lambda c: R.render(mesh_of(c), tiny_cams(), rasterizer=R.HardRasterizer(), shader="phong"),
                        colors)


def test_faces_per_pixel_gradients(tiny_scene):
    verts, faces, colors = tiny_scene
    ras = R.SoftRasterizer(faces_per_pixel=1, **SMOOTH)
    # keep the two faces apart in depth so the nearest-face choice does not flip under eps
    v2 = verts.copy()
    v2[3, 2] = -1.5

    def f(c):
        return R.render(R.Mesh(v2, faces, colors=c, requires_grad=False), tiny_cams(), rasterizer=ras, shader="flat")
    assert dp.gradcheck(f, colors)
