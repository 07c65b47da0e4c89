"""Meshes, primitives, normals and mesh/image files."""
import numpy as np
import pytest
import trimesh

import diffprog as dp
from diffprog import render as R
from diffprog import io
from render_scenes import SPOT


def test_spot_loads_welded_with_uvs_and_texture():
    mesh = R.load_mesh(SPOT)
    ref = trimesh.load(SPOT, process=False, force="mesh")
    assert mesh.num_faces == len(ref.faces) == 5856
    assert mesh.num_verts == 2930                                     # welded across UV seams
    assert mesh.uvs.shape == (3225, 2) and mesh.face_uvs.shape == (5856, 3)
    assert mesh.texture.shape == (1024, 1024, 3) and 0 <= mesh.texture.data.min() <= mesh.texture.data.max() <= 1
    # same triangles in space
    np.testing.assert_allclose(mesh.verts.data[mesh.faces], np.asarray(ref.vertices)[ref.faces])
    np.testing.assert_allclose(mesh.uvs.data[mesh.face_uvs], np.asarray(ref.visual.uv)[ref.faces])
    assert mesh.verts.requires_grad and mesh.texture.requires_grad


def test_normals_match_trimesh_and_are_differentiable():
    mesh = R.load_mesh(SPOT, requires_grad=False)
    ref = trimesh.Trimesh(mesh.verts.data, mesh.faces, process=False)
    np.testing.assert_allclose(mesh.face_normals().data, ref.face_normals, atol=1e-10)
    np.testing.assert_allclose(mesh.face_areas().data, ref.area_faces, rtol=1e-10)
    # area-weighted vertex normals
    acc = np.zeros_like(mesh.verts.data)
    np.add.at(acc, mesh.faces.ravel(), np.repeat(ref.face_normals * ref.area_faces[:, None], 3, axis=0))
    np.testing.assert_allclose(mesh.vertex_normals().data, acc / np.linalg.norm(acc, axis=1, keepdims=True),
                               atol=1e-10)
    small = R.ico_sphere(0)
    f = small.faces
    assert dp.gradcheck(lambda v: R.vertex_normals(v, f), small.verts.data * [1.0, 1.2, 0.8])


def test_primitives():
    for level, faces in ((0, 20), (3, 1280), (4, 5120)):
        s = R.ico_sphere(level)
        assert s.num_faces == faces and s.num_verts == faces // 2 + 2
        np.testing.assert_allclose(np.linalg.norm(s.verts.data, axis=1), 1.0)
        tm = trimesh.Trimesh(s.verts.data, s.faces, process=False)
        assert tm.is_watertight and tm.is_winding_consistent and tm.volume > 0     # outward winding
    p = R.plane(size=2.0, segments=3)
    assert p.num_faces == 18 and np.allclose(p.face_normals().data, [0, 0, 1])
    assert trimesh.Trimesh(R.cube().verts.data, R.cube().faces).volume == pytest.approx(8.0)


@pytest.mark.parametrize("ext", [".obj", ".ply", ".off", ".glb"])
def test_save_load_roundtrip(tmp_path, ext):
    mesh = R.ico_sphere(1)
    colors = np.random.default_rng(0).random((mesh.num_verts, 3))
    mesh = R.Mesh(mesh.verts.data, mesh.faces, colors=colors if ext == ".ply" else None)
    path = tmp_path / f"m{ext}"
    R.save_mesh(mesh, path)
    back = R.load_mesh(path)
    np.testing.assert_allclose(back.verts.data, mesh.verts.data, atol=1e-6)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    if mesh.colors is not None:
        np.testing.assert_allclose(back.colors.data, colors, atol=1 / 255)


@pytest.mark.parametrize("ext", [".obj", ".glb"])
def test_save_load_textured(tmp_path, ext):
    p = R.plane(segments=2)
    tex = np.random.default_rng(0).random((4, 5, 3))
    mesh = R.Mesh(p.verts.data, p.faces, uvs=p.uvs.data, texture=tex)
    R.save_mesh(mesh, tmp_path / f"t{ext}")
    back = R.load_mesh(tmp_path / f"t{ext}")
    np.testing.assert_allclose(back.verts.data[back.faces], mesh.verts.data[mesh.faces], atol=1e-6)
    np.testing.assert_allclose(back.uvs.data[back.face_uvs], mesh.uvs.data[mesh.face_uvs], atol=1e-6)
    np.testing.assert_allclose(back.texture.data, tex, atol=1 / 255)


def test_images_roundtrip(tmp_path):
    img = np.random.default_rng(0).random((5, 7, 3))
    io.write_image(tmp_path / "a.png", img)
    back = io.read_image(tmp_path / "a.png")
    assert back.shape == (5, 7, 3)
    np.testing.assert_allclose(back, img, atol=0.5 / 255 + 1e-12)
    # row 0 at the top, as files store it
    from PIL import Image
    arr = np.asarray(Image.open(tmp_path / "a.png"))
    np.testing.assert_array_equal(arr[0], np.round(img[0] * 255).astype(np.uint8))


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        R.load_mesh(tmp_path / "missing.obj")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        R.load_mesh(SPOT, texture=tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read"):
        io.read_image(bad)
    junk = tmp_path / "junk.ply"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError, match="path"):
        R.load_mesh(junk)
    empty = tmp_path / "empty.obj"
    empty.write_text("# nothing\n")
    with pytest.raises(ValueError, match="empty"):
        R.load_mesh(empty)
    with pytest.raises(FileNotFoundError, match="folder"):
        R.save_mesh(R.ico_sphere(0), tmp_path / "no" / "such" / "dir.obj")


def test_bad_meshes():
    v = np.random.default_rng(0).random((4, 3))
    with pytest.raises(ValueError, match=r"faces: vertex index 4 out of range for 4 vertices"):
        R.Mesh(v, [[0, 1, 4]])
    with pytest.raises(ValueError, match=r"faces: vertex index -1"):
        R.Mesh(v, [[0, 1, -1]])
    with pytest.raises(ValueError, match=r"faces: expected an \(F, 3\).*shape \(1, 4\).*triangulate"):
        R.Mesh(v, [[0, 1, 2, 3]])
    bad = v.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"verts: vertex 2 is not finite"):
        R.Mesh(bad, [[0, 1, 2]])
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"verts: vertex 2 is not finite"):
        R.Mesh(bad, [[0, 1, 2]])
    with pytest.raises(ValueError, match=r"verts: the mesh is empty"):
        R.Mesh(np.zeros((0, 3)), np.zeros((0, 3), int))
    with pytest.raises(ValueError, match=r"faces: the mesh is empty"):
        R.Mesh(v, np.zeros((0, 3), int))
    with pytest.raises(ValueError, match=r"verts: expected a \(V, 3\)"):
        R.Mesh(v[:, :2], [[0, 1, 2]])
    with pytest.raises(ValueError, match=r"colors: expected one colour row per vertex"):
        R.Mesh(v, [[0, 1, 2]], colors=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"texture: a texture needs uvs"):
        R.Mesh(v, [[0, 1, 2]], texture=np.ones((2, 2, 3)))
