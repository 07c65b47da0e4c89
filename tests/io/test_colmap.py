"""COLMAP models: text and binary round trips, the conversion to OpenGL cameras (the sparse points
reproject onto their observations through diffprog's cameras), and one-line errors."""
import numpy as np
import pytest

import diffprog.autodiff as dp
from diffprog import render as R
from diffprog.io import SceneError, colmap
from diffprog.io.distortion import distort_points

from capture_helpers import synthetic_model


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip_and_reprojection(tmp_path, binary):
    model, truth = synthetic_model()
    colmap.write_model(model, tmp_path / "sparse" / "0", binary=binary)
    back = colmap.read_model(tmp_path / "sparse" / "0")
    assert back.files["cameras"].endswith(".bin" if binary else ".txt")
    assert set(back.cameras) == {1, 2} and set(back.images) == {1, 2, 3, 4} and len(back.points) == 40
    for i, image in model.images.items():
        got = back.images[i]
        assert got.name == image.name and got.camera_id == image.camera_id
        np.testing.assert_allclose(got.qvec, image.qvec, rtol=0, atol=1e-15)
        np.testing.assert_allclose(got.xys, image.xys, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(got.point3D_ids, image.point3D_ids)
    np.testing.assert_array_equal(back.points[7].image_ids, model.points[7].image_ids)
    frames = colmap.frames_of_model(back, str(tmp_path / "images"))
    xyz = np.stack([back.points[i].xyz for i in sorted(back.points)])
    worst = 0.0
    for frame in frames:
        np.testing.assert_allclose(frame.camera_to_world, truth[frame.image.split("/")[-1]], atol=1e-12)
        cams = R.Cameras.from_camera_to_world(frame.camera_to_world, np.array(frame.focal),
                                              np.array(frame.principal_point), image_size=(frame.height, frame.width))
        screen = np.asarray(cams.transform_points_screen(dp.tensor(xyz)).data)[0]      # pinhole pixels
        fx, fy = frame.focal
        cx, cy = frame.principal_point
        xy = distort_points(np.stack([(screen[:, 0] - cx) / fx, (screen[:, 1] - cy) / fy], axis=1), frame.distortion)
        uv = np.stack([cx + fx * xy[:, 0], cy + fy * xy[:, 1]], axis=1)
        image = next(im for im in back.images.values() if frame.image.endswith(im.name))
        worst = max(worst, np.abs(uv - image.xys[np.argsort(image.point3D_ids)]).max())
    assert worst < 1e-6
    assert colmap.reprojection_errors(back, frames).max() < 1e-6


def test_quaternions_match_scipy_and_round_trip():
    from scipy.spatial.transform import Rotation
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=4)
        q = q / np.linalg.norm(q) * np.sign(q[0])
        matrix = colmap.quaternion_to_rotation(q)
        np.testing.assert_allclose(matrix, Rotation.from_quat(np.roll(q, -1)).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(colmap.rotation_to_quaternion(matrix), q, atol=1e-12)


def test_bad_models_are_one_line_errors(tmp_path):
    model, _ = synthetic_model()
    model.images[3].camera_id = 9
    colmap.write_model(model, tmp_path / "a")
    with pytest.raises(SceneError) as info:
        colmap.frames_of_model(colmap.read_model(tmp_path / "a"), str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "images.txt: image 3 (frame_002.png): camera 9 is not in" in message
    model, _ = synthetic_model()
    model.cameras[2] = colmap.Camera(2, "OPENCV_FISHEYE", 64, 48, np.array([55.0, 55, 32, 24, 0.1, 0, 0, 0]))
    colmap.write_model(model, tmp_path / "b", binary=True)
    with pytest.raises(SceneError, match=r"cameras.bin \(used by image frame_001.png\): camera 2 has model "
                                         r"OPENCV_FISHEYE, which is not supported"):
        colmap.frames_of_model(colmap.read_model(tmp_path / "b"), str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no cameras.bin or cameras.txt"):
        colmap.read_model(tmp_path)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cameras.txt").write_text("1 PINHOLE 64\n")
    (tmp_path / "c" / "images.txt").write_text("")
    with pytest.raises(SceneError, match=r"cameras.txt, line 1: expected CAMERA_ID MODEL WIDTH HEIGHT"):
        colmap.read_model(tmp_path / "c")
