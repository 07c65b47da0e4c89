"""Cameras: conventions, projections, rotations, transforms.json, bad input."""
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import diffprog as dp
from diffprog import render as R


def test_look_at_conventions():
    cams = R.look_at(eye=(0.0, 0.0, 3.0), fov=90, image_size=(20, 40))
    R0 = cams.R.data[0]
    np.testing.assert_allclose(R0 @ R0.T, np.eye(3), atol=1e-12)
    pts = dp.tensor(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]))
    s = cams.transform_points_screen(pts).data[0]
    np.testing.assert_allclose(s[0], [20.0, 10.0, 3.0])                 # centre of the image, depth 3
    # fov 90 vertical: focal = H/2 = 10 pixels; +x goes right, +y goes up (smaller row)
    np.testing.assert_allclose(s[1], [20.0 + 10.0 / 3.0, 10.0, 3.0])
    np.testing.assert_allclose(s[2], [20.0, 10.0 - 10.0 / 3.0, 3.0])
    np.testing.assert_allclose(s[3, 2], 1.0)
    ndc = cams.transform_points_ndc(pts).data[0]
    np.testing.assert_allclose(ndc[:3, :2], [[0.0, 0.0], [1.0 / 3.0, 0.0], [0.0, 1.0 / 3.0]], atol=1e-12)
    np.testing.assert_allclose(cams.eye.data, [0.0, 0.0, 3.0])
    np.testing.assert_allclose(cams.camera_to_world().data[0][:3, 3], [0.0, 0.0, 3.0], atol=1e-12)


def test_orbit():
    eyes = R.orbit(n=8, elev=20, dist=2.7)
    assert eyes.shape == (8, 3)
    np.testing.assert_allclose(np.linalg.norm(eyes, axis=1), 2.7)
    np.testing.assert_allclose(np.arcsin(eyes[:, 1] / 2.7), np.deg2rad(20))
    np.testing.assert_allclose(eyes[0], [0.0, 2.7 * np.sin(np.deg2rad(20)), 2.7 * np.cos(np.deg2rad(20))])


def test_rotations_match_scipy():
    rng = np.random.default_rng(0)
    aa = rng.normal(size=(5, 3))
    np.testing.assert_allclose(R.axis_angle_to_matrix(aa).data, Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    q = rng.normal(size=(5, 4))
    ref = Rotation.from_quat(np.roll(q, -1, axis=1)).as_matrix()       # scipy: (x, y, z, w)
    np.testing.assert_allclose(R.quaternion_to_matrix(q).data, ref, atol=1e-12)
    np.testing.assert_allclose(R.axis_angle_to_matrix(np.zeros(3)).data, np.eye(3))
    assert dp.gradcheck(R.axis_angle_to_matrix, np.array([1e-6, -2e-6, 0.5e-6]))
    assert dp.gradcheck(R.axis_angle_to_matrix, aa[:2])
    assert dp.gradcheck(R.quaternion_to_matrix, q[:2])


def test_cameras_from_axis_angle_equal_matrix():
    aa = np.array([[0.1, -0.3, 0.2]])
    T = np.array([[0.1, 0.0, -3.0]])
    a = R.Cameras(aa, T, 50.0, image_size=(16, 16))
    b = R.Cameras(Rotation.from_rotvec(aa).as_matrix(), T, 50.0, image_size=(16, 16))
    np.testing.assert_allclose(a.R.data, b.R.data, atol=1e-12)
    mesh = R.ico_sphere(1)
    # rendering twice from the same camera object and differentiating both works
    for _ in range(2):
        dp.sum(R.render(mesh, a, shader="silhouette")).backward()
    assert np.all(np.isfinite(a.rotation.grad))


def test_transforms_json_roundtrip(tmp_path):
    cams = R.look_at(eye=R.orbit(3, elev=30, dist=3.0), fov=40, image_size=(30, 40))
    files = [f"images/{i}.png" for i in range(3)]
    R.save_transforms(cams, tmp_path / "transforms.json", files)
    meta = json.loads((tmp_path / "transforms.json").read_text())
    assert meta["w"] == 40 and meta["h"] == 30 and len(meta["frames"]) == 3
    np.testing.assert_allclose(meta["camera_angle_x"], 2 * np.arctan(20 / cams.focal_length.data[0, 0]))
    back, paths = R.load_transforms(tmp_path / "transforms.json")
    assert paths == [str(tmp_path / f) for f in files]
    np.testing.assert_allclose(back.R.data, cams.R.data, atol=1e-12)
    np.testing.assert_allclose(back.T.data, cams.T.data, atol=1e-12)
    np.testing.assert_allclose(back.focal_length.data, cams.focal_length.data)
    assert back.image_size == (30, 40)
    a = R.render(R.ico_sphere(2), cams, rasterizer=R.HardRasterizer(), shader="silhouette")
    b = R.render(R.ico_sphere(2), back, rasterizer=R.HardRasterizer(), shader="silhouette")
    np.testing.assert_array_equal(a.data, b.data)


def test_transforms_json_nerf_synthetic_style(tmp_path):
    """camera_angle_x only, file paths without extension, image size from the image file."""
    from diffprog.io import write_image
    (tmp_path / "train").mkdir()
    write_image(tmp_path / "train" / "r_0.png", np.zeros((8, 10, 3)))
    c2w = np.eye(4)
    c2w[:3, 3] = [0.0, 0.0, 4.0]
    meta = {"camera_angle_x": 0.6911, "frames": [{"file_path": "./train/r_0", "transform_matrix": c2w.tolist()}]}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    cams, paths = R.load_transforms(tmp_path / "transforms.json")
    assert paths == [str(tmp_path / "train" / "r_0.png")]
    assert cams.image_size == (8, 10)
    np.testing.assert_allclose(cams.focal_length.data[0], 5.0 / np.tan(0.6911 / 2))
    np.testing.assert_allclose(cams.eye.data[0], [0.0, 0.0, 4.0], atol=1e-12)
    s = cams.transform_points_screen(dp.tensor(np.zeros((1, 3)))).data[0, 0]
    np.testing.assert_allclose(s, [5.0, 4.0, 4.0])                      # camera looks down -z at the origin


def test_bad_camera_input(tmp_path):
    with pytest.raises(ValueError, match=r"up: .* parallel to the view direction"):
        R.look_at(eye=(0.0, 3.0, 0.0), up=(0.0, 1.0, 0.0))
    with pytest.raises(ValueError, match=r"up: .* parallel .*\(camera 1\)"):
        R.look_at(eye=np.array([[0.0, 0.0, 2.0], [0.0, 2.0, 0.0]]), up=(0.0, 1.0, 0.0))
    with pytest.raises(ValueError, match=r"image_size: expected \(H, W\) positive integers, got \(0, 64\)"):
        R.look_at(eye=(0.0, 0.0, 3.0), image_size=(0, 64))
    with pytest.raises(ValueError, match=r"image_size"):
        R.look_at(eye=(0.0, 0.0, 3.0), image_size=(64, -1))
    with pytest.raises(ValueError, match=r"eye, at: the camera position equals the target"):
        R.look_at(eye=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"fov: expected a vertical field of view"):
        R.look_at(eye=(0.0, 0.0, 3.0), fov=0)
    with pytest.raises(ValueError, match=r"eye: expected finite"):
        R.look_at(eye=(np.nan, 0.0, 3.0))
    with pytest.raises(ValueError, match=r"znear, zfar"):
        R.look_at(eye=(0.0, 0.0, 3.0), znear=0.0)
    with pytest.raises(ValueError, match=r"R: expected"):
        R.Cameras(np.eye(2), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"focal_length: expected positive"):
        R.Cameras(np.eye(3), np.zeros(3), -1.0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        R.load_transforms(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        R.load_transforms(tmp_path / "bad.json")
    (tmp_path / "noframes.json").write_text("{}")
    with pytest.raises(ValueError, match="no 'frames'"):
        R.load_transforms(tmp_path / "noframes.json")
    with pytest.raises(ValueError, match="file_paths: expected 1 paths"):
        R.save_transforms(R.look_at(eye=(0.0, 0.0, 3.0)), tmp_path / "t.json", ["a.png", "b.png"])


def test_from_camera_to_world_matches_look_at_and_is_differentiable():
    cams = R.look_at(eye=R.orbit(3, elev=25, dist=3.0), fov=40, image_size=(20, 30), requires_grad=False)
    c2w = np.asarray(cams.camera_to_world().data)
    back = R.Cameras.from_camera_to_world(c2w, cams.focal_length.data, image_size=(20, 30))
    np.testing.assert_allclose(back.R.data, cams.R.data, atol=1e-12)
    np.testing.assert_allclose(back.T.data, cams.T.data, atol=1e-12)
    points = np.random.default_rng(0).normal(size=(5, 3)) * 0.3

    def project(matrix):
        moved = R.Cameras.from_camera_to_world(matrix, cams.focal_length.data, image_size=(20, 30))
        return dp.sum(moved.transform_points_screen(dp.tensor(points))[..., :2] ** 2)

    dp.gradcheck(project, c2w[:, :3, :])
