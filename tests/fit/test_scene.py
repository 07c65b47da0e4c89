"""Scene files: defaults, overrides, and one-line errors naming the key, the file and the line."""
import json
import math
import os

import numpy as np
import pytest

from diffprog.fit.scene import SceneError, SceneTypeError, load_scene, read_views
from diffprog.io import parse_override, read_photograph

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPOT = os.path.join(ROOT, "assets", "spot", "photos")


def _write_photo(path, size=16, alpha=None):
    from PIL import Image
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255 if alpha is None else alpha
    Image.fromarray(rgba).save(path)


def _scene(tmp_path, body, photo="photo.png"):
    if photo:
        _write_photo(tmp_path / photo)
    path = tmp_path / "scene.toml"
    path.write_text(body)
    return str(path)


VIEW = """
[[photos.views]]
image = "photo.png"
camera_to_world = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]
fov = 40
"""


def test_bundled_scenes_parse_with_defaults():
    scene = load_scene(os.path.join(ROOT, "scenes", "spot_pytorch3d_recipe.toml"))
    assert len(scene.views) == 24 and len(scene.fit_views) == 20 and len(scene.held_out_views) == 4
    assert scene["schedule.iterations"] == 2000 and scene["render.faces_per_pixel"] == 50
    assert scene["schedule.optimizer"] == "sgd" and scene["mesh.level"] == 4
    assert scene["output.turntable_frames"] == 36                     # a default filled in
    assert math.isclose(scene.views[0].fov, 40.0)


def test_view_tables_and_defaults(tmp_path):
    scene = load_scene(_scene(tmp_path, VIEW))
    (view,) = scene.views
    assert view.image == str(tmp_path / "photo.png") and view.fov == 40.0 and not view.held_out
    np.testing.assert_array_equal(view.camera_to_world[:3, 3], [0, 0, 3])
    assert scene["render.image_size"] == 128 and scene["loss.rgb"] == 3.0
    assert read_views(scene, 8).shape == (1, 8, 8, 4)


@pytest.mark.parametrize("text, line, words", [
    ("[render]\nimage_size = 64\nsigmaa = 1e-4\n", 3, ["unknown key 'render.sigmaa'", "sigma"]),
    ("[renderer]\nsigma = 1\n", 1, ["unknown section [renderer]"]),
    ("[schedule]\n\n# comment\niterations = 10\noptimizer = 'lbfgs'\n", 5, ["schedule.optimizer", "'lbfgs'", "'adam'"]),
    ("[render]\nsigma = -1.0\n", 2, ["render.sigma", "positive"]),
])
def test_bad_keys_name_key_file_and_line(tmp_path, text, line, words):
    path = _scene(tmp_path, text + VIEW)
    with pytest.raises(SceneError) as info:
        load_scene(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{path}, line {line}" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("text, line, key", [
    ("[schedule]\niterations = \"many\"\n", 2, "schedule.iterations"),
    ("[render]\nimage_size = 12.5\n", 2, "render.image_size"),
    ("[mesh]\noptimize = \"vertices\"\n", 2, "mesh.optimize"),
    ("[render]\ncull_backfaces = 1\n", 2, "render.cull_backfaces"),
    ("[loss]\nrgb = true\n", 2, "loss.rgb"),
])
def test_wrong_types_are_type_errors(tmp_path, text, line, key):
    path = _scene(tmp_path, text + VIEW)
    with pytest.raises(SceneTypeError) as info:
        load_scene(path)
    assert isinstance(info.value, TypeError)
    assert f"{path}, line {line}: {key}: expected" in str(info.value)


def test_view_table_errors_point_at_their_lines(tmp_path):
    nan_view = VIEW.replace("[0, 0, 1, 3]", "[0, 0, 1, nan]")
    path = _scene(tmp_path, VIEW + nan_view)
    with pytest.raises(SceneError, match=r"line 9: photos.views\[1\].camera_to_world: .*NaN"):
        load_scene(path)
    path = _scene(tmp_path, VIEW.replace("photo.png", "missing.png"))
    with pytest.raises(FileNotFoundError, match=r"line 3: photos.views\[0\].image: file .*missing.png"):
        load_scene(path)
    path = _scene(tmp_path, VIEW.replace("fov = 40", "fov = 40\nzoom = 2"))
    with pytest.raises(SceneError, match=r"line 6: unknown key 'photos.views.zoom'"):
        load_scene(path)
    path = _scene(tmp_path, VIEW.replace("[0, 1, 0, 0]", "[0, 2, 0, 0]"))
    with pytest.raises(SceneError, match="not a rotation"):
        load_scene(path)


def _transforms(tmp_path, matrix, file_path="photo.png"):
    _write_photo(tmp_path / "photo.png")
    (tmp_path / "transforms.json").write_text(json.dumps(
        {"camera_angle_x": 0.7, "frames": [{"file_path": file_path, "transform_matrix": matrix}]}))
    return _scene(tmp_path, '[photos]\ntransforms = "transforms.json"\n', photo=None)


def test_transforms_json_errors(tmp_path):
    good = np.eye(4).tolist()
    scene = load_scene(_transforms(tmp_path, good))
    assert math.isclose(scene.views[0].fov, math.degrees(0.7))
    bad = [row[:] for row in good]
    bad[1][3] = float("nan")
    with pytest.raises(SceneError, match="frame 0.*non-finite"):
        load_scene(_transforms(tmp_path, bad))
    with pytest.raises(FileNotFoundError, match="frame 0: image .*gone.png"):
        load_scene(_transforms(tmp_path, good, "gone.png"))
    with pytest.raises(FileNotFoundError, match="line 2: photos.transforms"):
        load_scene(_scene(tmp_path, '[photos]\ntransforms = "nowhere.json"\n', photo=None))


def test_overrides_are_checked_like_the_file(tmp_path):
    path = _scene(tmp_path, VIEW)
    scene = load_scene(path, {"render.sigma": 1e-5, "schedule.iterations": 7})
    assert scene["render.sigma"] == 1e-5 and scene["schedule.iterations"] == 7
    with pytest.raises(SceneError, match="override 'render.sigmaa': unknown key"):
        load_scene(path, {"render.sigmaa": 1.0})
    with pytest.raises(SceneTypeError, match="schedule.iterations: expected an integer"):
        load_scene(path, {"schedule.iterations": "ten"})
    assert parse_override("render.sigma=1e-5") == ("render.sigma", 1e-5)
    assert parse_override("output.directory=out/x") == ("output.directory", "out/x")
    with pytest.raises(SceneError, match="expected section.key=value"):
        parse_override("render.sigma")


def test_no_views_and_all_held_out(tmp_path):
    with pytest.raises(SceneError, match="no photographs"):
        load_scene(_scene(tmp_path, "[render]\nimage_size = 32\n"))
    with pytest.raises(SceneError, match="every view is held out"):
        load_scene(_scene(tmp_path, VIEW.replace("fov = 40", "fov = 40\nheld_out = true")))
    with pytest.raises(SceneError, match="line 2: photos.held_out: view index 3 out of range"):
        load_scene(_scene(tmp_path, "[photos]\nheld_out = [3]\n" + VIEW))
    with pytest.raises(SceneError, match="not valid TOML"):
        load_scene(_scene(tmp_path, "[render\n"))


def test_photograph_resize_premultiplies(tmp_path):
    """Hidden colour under alpha 0 must not bleed into the edge pixels of a downsized photograph."""
    from PIL import Image
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:, :2] = [255, 0, 0, 255]                   # opaque red left half
    rgba[:, 2:] = [0, 255, 0, 0]                     # transparent (green hidden) right half
    rgba[:, 1:3] = [[255, 0, 0, 255], [0, 255, 0, 0]]
    Image.fromarray(rgba).save(tmp_path / "edge.png")
    out = read_photograph(str(tmp_path / "edge.png"), 2)
    np.testing.assert_allclose(out[..., 3], [[1, 0], [1, 0]])
    np.testing.assert_allclose(out[:, 0, :3], [[1, 0, 0], [1, 0, 0]])
    rgba[:, 1, 3] = 128
    Image.fromarray(rgba).save(tmp_path / "edge.png")
    out = read_photograph(str(tmp_path / "edge.png"), 1)
    assert out[0, 0, 1] == 0 and out[0, 0, 0] == 1.0     # colour stays pure red


def test_bundled_transforms_match_the_renderer_reader():
    from diffprog import render as R
    scene = load_scene(os.path.join(ROOT, "scenes", "spot.toml"))
    cams, files = R.load_transforms(os.path.join(SPOT, "transforms.json"))
    c2w = np.asarray(cams.camera_to_world().data)
    np.testing.assert_allclose(c2w, np.stack([v.camera_to_world for v in scene.views]), atol=1e-6)
    assert files == [v.image for v in scene.views]
