"""Real captures: transforms.json variants load to the same cameras and masks as an RGBA set, COLMAP
models as scene input and through ``diffprog convert``, one-line errors naming the frame and the file,
and a tiny fit of the synthetic phone capture (assets/make_capture.py)."""
import json
import math
import os
import sys

import numpy as np
import pytest
from PIL import Image

from diffprog.cli import main
from diffprog.fit import load_scene, run_scene
from diffprog.io import SceneError, colmap, read_transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "io"))
from capture_helpers import look_at_opengl, synthetic_model, write_images  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
W, H, F = 40, 30, 35.0


def _frames():
    """Three RGBA photographs (smooth colours, a binary-alpha blob) and their cameras."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    out = []
    for k in range(3):
        rgb = np.stack([0.5 + 0.3 * np.sin(u / 9 + k), 0.4 + 0.2 * np.cos(v / 7), 0.3 + 0.002 * u * v / 4], -1)
        alpha = ((u - 18 - 2 * k) ** 2 / 100 + (v - 15) ** 2 / 49) < 1
        c2w = look_at_opengl([3 * math.sin(k), 0.5, 3 * math.cos(k)])
        out.append((np.clip(rgb, 0, 1), alpha, c2w))
    return out


def _save(path, array):
    Image.fromarray(np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)).save(path, quality=95)


def _variant(folder, kind):
    """Write a capture in the style ``kind``; returns the scene file."""
    folder.mkdir()
    frames, meta = [], {}
    if kind == "rgba_global":
        meta["camera_angle_x"] = 2 * math.atan(0.5 * W / F)
    elif kind != "mixed_sizes":
        meta.update(fl_x=F, fl_y=F, cx=W / 2, cy=H / 2, w=W, h=H)
    if kind == "jpeg_masks":
        meta.update(camera_model="OPENCV", k1=0.0, k2=0.0, p1=0.0, p2=0.0)
    for k, (rgb, alpha, c2w) in enumerate(_frames()):
        frame = {"file_path": f"{k}.png", "transform_matrix": c2w.tolist()}
        if kind == "jpeg_masks":
            frame["file_path"] = f"{k}.jpg"
            _save(folder / f"{k}.jpg", rgb)
            _save(folder / f"mask_{k}.png", alpha.astype(float))
            frame["mask_path"] = f"mask_{k}.png"
        elif kind == "mixed_sizes":
            scale = 2 if k == 1 else 1
            rgba = np.concatenate([rgb, alpha[..., None]], -1).repeat(scale, 0).repeat(scale, 1)
            _save(folder / f"{k}.png", rgba)
            frame.update(fl_x=F * scale, fl_y=F * scale, cx=W * scale / 2, cy=H * scale / 2, w=W * scale, h=H * scale)
        else:
            _save(folder / f"{k}.png", np.concatenate([rgb, alpha[..., None]], -1))
            if kind == "rgba_per_frame":
                frame.update(fl_x=F, cx=W / 2)
        frames.append(frame)
    meta["frames"] = frames
    (folder / "transforms.json").write_text(json.dumps(meta))
    scene = folder / "scene.toml"
    scene.write_text('[photos]\ntransforms = "transforms.json"\n[render]\nimage_size = 20\n')
    return scene


def _loaded(scene):
    scene = load_scene(scene)
    return scene, [(v.camera_to_world, *v.intrinsics(20), v.read(20)) for v in scene.views]


def test_transforms_variants_load_like_an_rgba_set(tmp_path):
    reference_scene, reference = _loaded(_variant(tmp_path / "rgba_global", "rgba_global"))
    assert reference_scene["mesh.optimize"] == ["vertices", "colors"]          # exact cameras, alpha masks
    for kind in ("rgba_per_frame", "jpeg_masks", "mixed_sizes"):
        scene, views = _loaded(_variant(tmp_path / kind, kind))
        for (c2w, size, focal, center, photo), (c2w0, size0, focal0, center0, photo0) in zip(views, reference):
            np.testing.assert_allclose(c2w, c2w0, atol=1e-12)
            assert size == size0 == (15, 20)
            np.testing.assert_allclose(focal, focal0, rtol=1e-12)
            np.testing.assert_allclose(center, center0, rtol=1e-12)
            np.testing.assert_allclose(photo[..., 3], photo0[..., 3], atol=1e-6, err_msg=kind)
            inside = photo0[..., 3] > 0.99
            np.testing.assert_allclose(photo[..., :3][inside], photo0[..., :3][inside],
                                       atol=0.04 if kind == "jpeg_masks" else 1e-6, err_msg=kind)
        if kind == "jpeg_masks":                                   # SfM cameras, no alpha, mask files
            assert scene["mesh.optimize"] == ["vertices", "colors", "cameras", "exposure", "mask_offset"]


def _fails(capsys, scene, *words):
    assert main(["fit", str(scene), "--quiet", "--out", str(scene.parent / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("diffprog fit: error: "), err
    for word in words:
        assert word in err, (word, err)
    assert not (scene.parent / "out").exists()


def test_bad_captures_are_one_line_errors_naming_frame_and_file(tmp_path, capsys):
    scene = _variant(tmp_path / "a", "jpeg_masks")
    Image.new("L", (10, 10)).save(tmp_path / "a" / "mask_1.png")
    _fails(capsys, scene, "frame 1 (1.jpg)", "mask_1.png", "10x10", "40x30")
    os.remove(tmp_path / "a" / "mask_1.png")
    _fails(capsys, scene, "frame 1 (1.jpg)", "mask_path", "mask_1.png", "does not exist")
    Image.new("L", (W, H)).save(tmp_path / "a" / "mask_1.png")
    meta = json.loads((tmp_path / "a" / "transforms.json").read_text())
    meta["frames"][2]["camera_model"] = "OPENCV_FISHEYE"
    (tmp_path / "a" / "transforms.json").write_text(json.dumps(meta))
    _fails(capsys, scene, "transforms.json: frame 2 (2.jpg)", "camera_model 'OPENCV_FISHEYE' is not supported")
    del meta["frames"][2]["camera_model"]
    for frame in meta["frames"]:
        del frame["mask_path"]
    (tmp_path / "a" / "transforms.json").write_text(json.dumps(meta))
    _fails(capsys, scene, "frame 0 (0.jpg)", "no mask", "0.jpg")


def _colmap_project(tmp_path, binary=False):
    model, truth = synthetic_model()
    colmap.write_model(model, tmp_path / "sparse" / "0", binary=binary)
    write_images(tmp_path / "images", [im.name for im in model.images.values()], masks=tmp_path / "masks")
    return model, truth


def test_colmap_scene_and_convert(tmp_path, capsys):
    model, truth = _colmap_project(tmp_path, binary=True)
    scene_file = tmp_path / "scene.toml"
    scene_file.write_text('[photos]\ncolmap = "sparse/0"\nmasks = "masks"\n[render]\nimage_size = 32\n')
    scene = load_scene(scene_file)
    assert [os.path.basename(v.image) for v in scene.views] == sorted(truth)
    assert scene["mesh.optimize"] == ["vertices", "colors", "cameras", "exposure", "mask_offset"]
    for view in scene.views:
        np.testing.assert_allclose(view.camera_to_world, truth[os.path.basename(view.image)], atol=1e-12)
        photo = view.read(32)
        assert photo.shape == (24, 32, 4) and 0.2 < photo[..., 3].mean() < 0.5
    assert main(["convert", "colmap", str(tmp_path / "sparse" / "0"), "-o", str(tmp_path / "transforms.json"),
                 "--masks", str(tmp_path / "masks")]) == 0
    assert "median error" in capsys.readouterr().out
    frames = read_transforms(tmp_path / "transforms.json")
    for frame, view in zip(frames, scene.views):
        assert frame.image == view.image and frame.mask == view.mask and frame.camera_model == "OPENCV"
        np.testing.assert_allclose(frame.camera_to_world, view.camera_to_world, atol=1e-12)
        np.testing.assert_allclose(frame.distortion, view.distortion, atol=0)
    model.images[2].camera_id = 7
    colmap.write_model(model, tmp_path / "sparse" / "0", binary=True)
    _fails(capsys, scene_file, "images.bin: image 2 (frame_001.png)", "camera 7 is not in", "cameras.bin")
    assert main(["convert", "colmap", str(tmp_path / "sparse" / "0"), "-o", str(tmp_path / "t.json")]) == 2
    assert "camera 7 is not in" in capsys.readouterr().err


def test_tiny_fit_of_the_phone_capture(tmp_path):
    """scenes/spot_capture.toml at 40 pixels and 30 steps: every capture feature runs end to end."""
    overrides = {"schedule.iterations": 30, "schedule.color_iterations": 4, "render.image_size": 40,
                 "schedule.subdivide_at": [], "output.turntable_frames": 2, "schedule.views_per_iteration": 3,
                 "schedule.camera_start": 0.2}
    metrics = run_scene(os.path.join(ROOT, "scenes", "spot_capture.toml"), out_dir=tmp_path, overrides=overrides,
                        progress=False)
    assert metrics["held_out_silhouette_iou"] > 0.8     # an ico-sphere start scores 0.52; this run 0.90 (its own masks)
    assert 0 < metrics["camera_rotation_change_degrees_max"] < 1
    low, high = metrics["exposure_gain_range"]
    assert 0.5 < low < 1 < high < 1.5
    low, high = metrics["mask_offset_range_pixels"]
    assert -2 < low < 0 < high < 2 and len(metrics["mask_offsets_pixels"]) == 20
    frames = read_transforms(tmp_path / "cameras.json")
    assert len(frames) == 24 and frames[0].image.endswith(os.path.join("capture", "images", "000.jpg"))
    assert frames[0].camera_model == "OPENCV" and frames[0].distortion[0] == -0.06
    assert (frames[0].width, frames[0].height) == (320, 256)


def _rotation(axis_angle):
    angle = np.linalg.norm(axis_angle)
    k = np.array([[0, -axis_angle[2], axis_angle[1]], [axis_angle[2], 0, -axis_angle[0]],
                  [-axis_angle[1], axis_angle[0], 0]]) / angle
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _fixed_mesh_scene(folder, optimize, image_size, iterations, schedule):
    """Write folder/scene.toml: the true horseshoe mesh held fixed, silhouettes only, ``optimize`` fitted
    against folder/transforms.json with every view in every step; ``schedule``: extra [schedule] lines."""
    mesh = os.path.join(ROOT, "assets", "horseshoe", "horseshoe.obj")
    (folder / "scene.toml").write_text(
        f'[photos]\ntransforms = "transforms.json"\n[mesh]\ninitial = "{mesh}"\noptimize = ["{optimize}"]\n'
        f'[render]\nimage_size = {image_size}\nsigma = 3e-5\n[loss]\nrgb = 0.0\nedge = 0.0\n'
        'normal_consistency = 0.0\nlaplacian = 0.0\n[schedule]\n'
        f'iterations = {iterations}\nviews_per_iteration = 20\noptimizer = "adam"\n{schedule}'
        '[output]\nturntable_frames = 2\n')
    return folder / "scene.toml"


def test_camera_refinement_moves_perturbed_cameras_towards_the_truth(tmp_path):
    """The true mesh held fixed, only the cameras fitted: poses perturbed by ~1.5 degrees and ~1.5% of
    their distance come back towards the true ones (cameras.json), measured by reprojection."""
    photos = os.path.join(ROOT, "assets", "horseshoe", "photos")
    meta = json.load(open(os.path.join(photos, "transforms.json")))
    rng = np.random.default_rng(0)
    truth = {}
    for frame in meta["frames"]:
        frame["file_path"] = os.path.join(photos, frame["file_path"])
        c2w = np.array(frame["transform_matrix"])
        truth[frame["file_path"]] = c2w.copy()
        c2w[:3, :3] = _rotation(rng.normal(0, np.radians(1.5) / np.sqrt(3), 3)) @ c2w[:3, :3]
        c2w[:3, 3] += rng.normal(0, 0.015 * np.linalg.norm(c2w[:3, 3]) / np.sqrt(3), 3)
        frame["transform_matrix"] = c2w.tolist()
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    mesh = os.path.join(ROOT, "assets", "horseshoe", "horseshoe.obj")
    _fixed_mesh_scene(tmp_path, "cameras", 48, 40,
                      "camera_learning_rate = 2e-3\ncamera_start = 0.0\nlearning_rate_decay = 0.3\n")
    metrics = run_scene(tmp_path / "scene.toml", out_dir=tmp_path / "out", progress=False)
    assert metrics["camera_rotation_change_degrees_mean"] > 0.3
    from diffprog import render as R
    points = np.asarray(R.load_mesh(mesh, requires_grad=False).verts.data)

    def reprojection(c2w, true):
        def project(m):
            view = (points - m[:3, 3]) @ m[:3, :3]
            return view[:, :2] / -view[:, 2:3]
        return np.mean(np.linalg.norm(project(c2w) - project(true), axis=1))

    given = {f.image: f.camera_to_world for f in read_transforms(tmp_path / "transforms.json")}
    refined = [f for f in read_transforms(tmp_path / "out" / "cameras.json") if f.split == "fit"]
    before = np.array([reprojection(given[f.image], truth[f.image]) for f in refined])
    after = np.array([reprojection(f.camera_to_world, truth[f.image]) for f in refined])
    assert np.sum(after < before) >= 16 and after.mean() < 0.6 * before.mean(), (before, after)


def test_camera_refinement_is_sideways_unless_camera_depth(tmp_path):
    """schedule.camera_depth = false (the default): each refined camera moved only across its line of sight
    to the look-at point; true: also along it. Either way the moves sum to zero."""
    from diffprog.fit import look_at_point
    photos = os.path.join(ROOT, "assets", "horseshoe", "photos")
    meta = json.load(open(os.path.join(photos, "transforms.json")))
    rng = np.random.default_rng(1)
    for frame in meta["frames"]:
        frame["file_path"] = os.path.join(photos, frame["file_path"])
        c2w = np.array(frame["transform_matrix"])
        c2w[:3, 3] *= 1 + rng.normal(0, 0.02)
        frame["transform_matrix"] = c2w.tolist()
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    given = {f.image: f.camera_to_world for f in read_transforms(tmp_path / "transforms.json")}
    fitting = [c2w for f, c2w in zip(read_transforms(tmp_path / "transforms.json"), given.values()) if f.split == "fit"]
    at = look_at_point(np.stack(fitting))
    along = {}
    for depth in (False, True):
        _fixed_mesh_scene(tmp_path, "cameras", 32, 8, "camera_learning_rate = 2e-3\ncamera_start = 0.0\n"
                          f"camera_depth = {str(depth).lower()}\n")
        out = tmp_path / f"out_{depth}"
        run_scene(tmp_path / "scene.toml", out_dir=out, progress=False)
        refined = [f for f in read_transforms(out / "cameras.json") if f.split == "fit"]
        moves, radial, total = [], [], np.zeros(3)
        for f in refined:
            move = f.camera_to_world[:3, 3] - given[f.image][:3, 3]
            outward = given[f.image][:3, 3] - at
            moves.append(np.linalg.norm(move))
            radial.append(abs(move @ outward) / np.linalg.norm(outward))
            total += move
        along[depth] = (np.max(moves), np.max(radial))
        assert np.linalg.norm(total) < 1e-9 * np.sum(moves), (depth, total)     # the cameras do not drift together
    assert along[False][0] > 1e-3 and along[False][1] < 1e-9 * along[False][0] + 1e-12, along
    assert along[True][1] > 1e-4, along


def test_mask_offset_moves_a_mask_boundary_by_its_offset():
    """target_alphas moves a mask's outline by d pixels (a disc's area grows by ~d x its perimeter), is the
    mask itself at d = 0, and its gradient in d is exact."""
    import diffprog as dp
    from diffprog.fit.fitter import Fitter, mask_signed_distance
    v, u = np.mgrid[0:64, 0:64] + 0.5
    # coverage of a disc of radius 20 (supersampled 8x8 per pixel: a photograph's anti-aliased mask)
    sub = (np.arange(8) + 0.5) / 8 - 0.5
    disc = np.mean([((u + a - 32) ** 2 + (v + b - 32) ** 2) < 400 for a in sub for b in sub], axis=0)
    fitter = Fitter.__new__(Fitter)
    fitter.target_alpha = [disc, disc.T[::-1]]
    fitter.target_distance = [mask_signed_distance(a) for a in fitter.target_alpha]
    fitter.optimize, fitter.iteration, fitter.geometry_iterations = {"mask_offset"}, 0, 10
    for d in (-0.6, 0.0, 0.4, 0.8):
        fitter.mask_offset = dp.tensor(np.array([d, -d]))      # mean zero: view 0 keeps d
        area = float(fitter.target_alphas(np.array([0])).data.sum())
        grown = np.pi * ((20 + d) ** 2 - 20 ** 2)       # exactly: a disc of radius 20 + d
        assert abs(area - disc.sum() - grown) <= 0.2 * abs(grown), (d, area)   # measured: 0.84-0.91 of it
    fitter.mask_offset = dp.tensor(np.zeros(2))
    assert np.array_equal(np.asarray(fitter.target_alphas(np.array([0])).data)[0], disc)
    check = dp.gradcheck(lambda o: dp.sum(Fitter.target_alphas(_with(fitter, o), np.array([0, 1])) ** 2),
                         np.array([0.3, -0.1]))
    assert check


def _with(fitter, offsets):
    fitter.mask_offset = offsets
    return fitter


def test_mask_offsets_are_fitted_against_each_photographs_boundary_error(tmp_path):
    """The true mesh held fixed, only the mask offsets fitted (optimize = ["mask_offset"]): masks dilated by
    two pixels of the 128-pixel photographs (one pixel of the fit's 64) get a negative offset, eroded ones a
    positive one, of about that size (metrics.json, mean zero over the fitting views)."""
    from scipy import ndimage
    photos = os.path.join(ROOT, "assets", "horseshoe", "photos")
    meta = json.load(open(os.path.join(photos, "transforms.json")))
    change = {}
    for k, frame in enumerate(meta["frames"]):
        name = frame["file_path"]
        alpha = np.asarray(Image.open(os.path.join(photos, name)))[..., 3] >= 128
        grow = 1 if k % 2 == 0 else -1
        mask = (ndimage.binary_dilation if grow > 0 else ndimage.binary_erosion)(alpha, iterations=2)
        Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / f"mask_{name}")
        frame["file_path"], frame["mask_path"] = os.path.join(photos, name), f"mask_{name}"
        change[name] = grow
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    _fixed_mesh_scene(tmp_path, "mask_offset", 64, 40,
                      "mask_offset_learning_rate = 0.05\nlearning_rate_decay = 0.3\ncolor_iterations = 0\n")
    metrics = run_scene(tmp_path / "scene.toml", out_dir=tmp_path / "out", progress=False)
    offsets = metrics["mask_offsets_pixels"]
    signs = [np.sign(d) == -change[name] for name, d in offsets.items()]
    assert len(offsets) == 20 and all(signs), offsets
    assert 0.4 < np.mean(np.abs(list(offsets.values()))) < 1.6, offsets


def test_mask_offset_is_in_the_default_recipe_only_for_separate_masks(tmp_path):
    assert "mask_offset" in load_scene(os.path.join(ROOT, "scenes", "spot_capture.toml")).sections["mesh"]["optimize"]
    assert "mask_offset" not in load_scene(os.path.join(ROOT, "scenes", "spot.toml")).sections["mesh"]["optimize"]
