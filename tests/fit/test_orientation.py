"""Back-face culling in the fit (render.cull_backfaces, on by default) needs outward-wound faces: the
starting mesh is oriented outward, and a mesh whose winding is inconsistent is a one-line error."""
import numpy as np
import pytest

from diffprog import render as R
from diffprog.cli import main
from diffprog.fit.initial import orient_outward, signed_volume


def _sphere():
    mesh = R.ico_sphere(2, requires_grad=False)
    return np.asarray(mesh.verts.data, float), np.asarray(mesh.faces)


def test_signed_volume_of_a_sphere_and_its_inside_out_twin():
    verts, faces = _sphere()
    volume = signed_volume(verts, faces)
    assert 0.9 * 4 / 3 * np.pi < volume < 4 / 3 * np.pi
    assert signed_volume(verts, faces[:, ::-1]) == pytest.approx(-volume)


def test_orient_outward_flips_an_inside_out_mesh_and_keeps_an_outward_one():
    verts, faces = _sphere()
    np.testing.assert_array_equal(orient_outward(verts, faces, "x"), faces)
    flipped = orient_outward(verts, faces[:, ::-1], "x")
    assert signed_volume(verts, flipped) > 0
    np.testing.assert_array_equal(np.sort(flipped, axis=1), np.sort(faces, axis=1))


def test_inconsistent_winding_is_an_error_naming_the_mesh():
    verts, faces = _sphere()
    faces = faces.copy()
    faces[:7] = faces[:7, ::-1]
    with pytest.raises(ValueError, match="mesh.initial 'cow.obj': the faces' winding is inconsistent.*"
                                         "render.cull_backfaces = false"):
        orient_outward(verts, faces, "mesh.initial 'cow.obj'")


def test_a_fit_from_an_inside_out_mesh_file_culls_the_right_faces(tmp_path, capsys):
    """An inside-out starting mesh is turned outward (culling would otherwise keep only the far side);
    a mesh with inconsistent winding stops the fit with one line, unless culling is off."""
    import trimesh
    verts, faces = _sphere()
    trimesh.Trimesh(verts * 0.5, faces[:, ::-1], process=False).export(tmp_path / "inside_out.obj")
    bad = faces.copy()
    bad[:7] = bad[:7, ::-1]
    trimesh.Trimesh(verts * 0.5, bad, process=False).export(tmp_path / "bad.obj")
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    scene = os.path.join(root, "scenes", "horseshoe_tiny.toml")
    common = ["--iterations", "2", "--image-size", "16", "--quiet", "--set", "output.turntable_frames=2",
              "--set", "schedule.remesh_every=0"]
    assert main(["fit", scene, "--out", str(tmp_path / "a"), "--set", f"mesh.initial={tmp_path / 'inside_out.obj'!s}",
                 *common]) == 0
    fitted = trimesh.load(tmp_path / "a" / "fitted.obj", process=False)
    assert fitted.volume > 0
    assert main(["fit", scene, "--out", str(tmp_path / "b"), "--set", f"mesh.initial={tmp_path / 'bad.obj'!s}",
                 *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.obj" in err[0] and "winding is inconsistent" in err[0]
    assert main(["fit", scene, "--out", str(tmp_path / "c"), "--set", f"mesh.initial={tmp_path / 'bad.obj'!s}",
                 "--set", "render.cull_backfaces=false", *common]) == 0
