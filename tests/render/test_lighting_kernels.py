"""The compiled lighting (forward and backward) against the NumPy reference with several lights:
directional and point lights (with and without attenuation) together, flat and phong, perspective
and orthographic cameras, vertex colours or none, a shininess that takes a gradient; images and
every gradient (mesh, colours, cameras, each light's parameters, material, background) to 1e-10
relative in float64, and bit-identical run to run."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import render as R

pytest.importorskip("numba")


def scene(seed, vertex_colors):
    rng = np.random.default_rng(seed)
    n = 30
    centres = rng.uniform(-0.7, 0.7, (n, 1, 3))
    verts = (centres + rng.normal(0, 0.3, (n, 3, 3))).reshape(-1, 3)
    faces = np.arange(len(verts)).reshape(-1, 3)
    colors = rng.random((len(verts), 3)) if vertex_colors else None
    return R.Mesh(verts, faces, colors=colors)


def run(kernels, seed, shader, orthographic, vertex_colors, nlights):
    R.set_kernels(kernels)
    mesh = scene(seed, vertex_colors)
    cams = R.look_at(eye=[(0.0, 0.2, 2.5), (0.5, 0.3, 2.2)], at=(0.0, 0.0, 0.0), fov=50, image_size=(17, 21),
                     orthographic=orthographic, requires_grad=True)
    lights = [R.DirectionalLight(direction=(0.2, -1.0, -1.0), color=(0.9, 0.7, 0.5), ambient=0.3),
              R.PointLight(position=(0.5, 1.0, 2.0), color=(0.6, 0.8, 1.0), ambient=0.1),
              R.PointLight(position=(-1.0, 0.5, 1.5), ambient=0.05, attenuation=(1.0, 0.3, 0.2)),
              R.DirectionalLight(direction=(-0.5, 0.3, -1.0), ambient=0.0)][:nlights]
    material = R.Material(ambient=0.8, diffuse=0.9, specular=0.4, shininess=dp.tensor(7.5, requires_grad=True))
    ras = R.SoftRasterizer(sigma=1e-4, gamma=1e-4)
    bg = dp.tensor(np.random.default_rng(seed + 7).random(3), requires_grad=True)
    img = R.render(mesh, cams, lights, rasterizer=ras, shader=shader, background=bg, material=material)
    weights = np.random.default_rng(seed + 1).random(img.shape)
    dp.sum(img * weights).backward()
    leaves = [mesh.verts, mesh.colors, cams.eye, material.shininess, bg]
    for light in lights:
        leaves += [light.position if isinstance(light, R.PointLight) else light.direction, light.color,
                   light.ambient]
    return [img.data] + [None if t is None else t.grad for t in leaves]


@pytest.mark.parametrize("shader,orthographic,vertex_colors,nlights", [
    ("phong", False, True, 4),
    ("phong", True, False, 3),
    ("flat", False, False, 4),
    ("flat", True, True, 2),
    ("phong", False, True, 1),
])
def test_compiled_lighting_with_several_lights_equals_reference(shader, orthographic, vertex_colors, nlights):
    ref = run("numpy", 3, shader, orthographic, vertex_colors, nlights)
    out = run("numba", 3, shader, orthographic, vertex_colors, nlights)
    assert ref[0][..., 3].max() > 0.3
    for a, b in zip(out, ref):
        if b is None:
            assert a is None
            continue
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())
    again = run("numba", 3, shader, orthographic, vertex_colors, nlights)
    for a, b in zip(out, again):
        if a is not None:
            np.testing.assert_array_equal(a, b)
