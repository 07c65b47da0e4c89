"""Bad arguments to the renderer raise errors that name the argument."""
import numpy as np
import pytest

from diffprog import render as R


@pytest.fixture
def scene():
    return R.ico_sphere(1), R.look_at(eye=(0.0, 0.0, 3.0), image_size=(8, 8))


def test_bad_render_arguments(scene):
    mesh, cams = scene
    with pytest.raises(ValueError, match=r"shader: expected one of .*got 'toon'"):
        R.render(mesh, cams, shader="toon")
    with pytest.raises(ValueError, match=r"background: expected an RGB colour \(3,\).*got shape \(2,\)"):
        R.render(mesh, cams, background=(0.0, 1.0))
    with pytest.raises(TypeError, match="mesh: expected a diffprog.render.Mesh"):
        R.render(np.zeros((3, 3)), cams)
    with pytest.raises(TypeError, match="cams: expected Cameras"):
        R.render(mesh, "camera")
    with pytest.raises(TypeError, match="lights: expected a DirectionalLight"):
        R.render(mesh, cams, lights=[])
    with pytest.raises(TypeError, match="lights: expected a DirectionalLight"):
        R.render(mesh, cams, lights=(0.0, 1.0, 0.0))
    with pytest.raises(ValueError, match="mesh: a list of meshes needs one per camera"):
        R.render([mesh, mesh], cams)


def test_bad_rasterizer_and_lights():
    with pytest.raises(ValueError, match="sigma: expected a positive number, got 0"):
        R.SoftRasterizer(sigma=0)
    with pytest.raises(ValueError, match="gamma: expected a positive number"):
        R.SoftRasterizer(gamma=-1.0)
    with pytest.raises(ValueError, match="faces_per_pixel: expected None or a positive integer, got 0"):
        R.SoftRasterizer(faces_per_pixel=0)
    with pytest.raises(ValueError, match="direction: has zero length"):
        R.DirectionalLight(direction=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"direction: expected shape \(3,\)"):
        R.DirectionalLight(direction=(0.0, 1.0))
    with pytest.raises(ValueError, match="shininess: expected a positive exponent"):
        R.Material(shininess=0.0)
    with pytest.raises(ValueError, match="level: expected|level must be"):
        R.ico_sphere(-1)


def test_colors_must_be_rgb(scene):
    mesh, cams = scene
    four = R.Mesh(mesh.verts.data, mesh.faces, colors=np.ones((mesh.num_verts, 4)))
    with pytest.raises(ValueError, match=r"mesh.colors: shading needs RGB \(3 channels\), got shape \(42, 4\)"):
        R.render(four, cams, shader="phong")
    assert R.render(four, cams, shader="silhouette").shape == (1, 8, 8, 4)


def test_rgba_texture_file_loads_as_rgb(tmp_path):
    from diffprog.io import write_image
    write_image(tmp_path / "tex.png", np.random.default_rng(0).random((4, 4, 4)))
    plane = R.plane()
    R.save_mesh(R.Mesh(plane.verts.data, plane.faces, uvs=plane.uvs.data), tmp_path / "p.obj")
    mesh = R.load_mesh(tmp_path / "p.obj", texture=tmp_path / "tex.png")
    assert mesh.texture.shape == (4, 4, 3)
