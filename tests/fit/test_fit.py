"""The fitting job end to end at 32x32: it converges, resumes exactly, and refuses bad scene files."""
import json
import os
import signal

import numpy as np
import pytest

from diffprog.cli import main
from diffprog.fit import Fitter, Interrupted, run_scene

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "scenes", "horseshoe_tiny.toml")
SHORT = {"schedule.iterations": 40, "schedule.color_iterations": 10, "schedule.color_subdivide": True,
         "schedule.checkpoint_every": 15, "output.turntable_frames": 4}


def _quality(metrics):
    return {k: v for k, v in metrics.items() if k not in ("seconds", "cpu_seconds")}


def test_tiny_fit_of_a_concave_shape_reaches_iou(tmp_path):
    metrics = run_scene(TINY, out_dir=tmp_path, progress=False)
    assert metrics["held_out_silhouette_iou"] >= 0.93            # the default recipe (visual-hull start)
    assert metrics["chamfer_over_diagonal"] < 0.04
    assert metrics["iterations"] == 150
    for name in ("fitted.obj", "fitted.ply", "turntable.gif", "loss_curve.png", "metrics.json",
                 "held_out_005.png", "checkpoint.npz"):
        assert os.path.getsize(tmp_path / name) > 0, name
    assert json.load(open(tmp_path / "metrics.json")) == pytest.approx(metrics)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]      # no temporary files left


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    return out, run_scene(TINY, out_dir=out, overrides=SHORT, progress=False)


@pytest.mark.parametrize("stop_at", [22, 45])                   # in the geometry and in the colour stage
def test_resume_after_interruption_gives_the_same_metrics(tmp_path, monkeypatch, straight, stop_at):
    straight_out, straight = straight
    step = Fitter.step

    def interrupted_step(self):
        values = step(self)
        if self.iteration == stop_at:
            os.kill(os.getpid(), signal.SIGINT)                  # as Ctrl-C: the step finishes first
        return values

    monkeypatch.setattr(Fitter, "step", interrupted_step)
    with pytest.raises(Interrupted) as info:
        run_scene(TINY, out_dir=tmp_path / "resumed", overrides=SHORT, progress=False)
    assert info.value.iteration == stop_at
    assert not os.path.exists(tmp_path / "resumed" / "metrics.json")
    monkeypatch.setattr(Fitter, "step", step)
    resumed = run_scene(TINY, out_dir=tmp_path / "resumed", overrides=SHORT, resume=True, progress=False)
    assert _quality(resumed) == _quality(straight)
    a = open(straight_out / "fitted.obj").read()
    assert open(tmp_path / "resumed" / "fitted.obj").read() == a


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    short = dict(SHORT, **{"schedule.iterations": 5, "schedule.color_iterations": 0})
    run_scene(TINY, out_dir=tmp_path, overrides=short, progress=False)
    with pytest.raises(ValueError, match=r"different settings \(loss.rgb\)"):
        run_scene(TINY, out_dir=tmp_path, overrides=dict(short, **{"loss.rgb": 2.0}), resume=True, progress=False)


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("[render]", "[render]\nsigmaa = 1e-4"), ["unknown key 'render.sigmaa'", "line"]),
    (lambda t: t.replace("image_size = 32", "image_size = \"32\""), ["render.image_size", "expected an integer"]),
    (lambda t: t.replace("../assets/horseshoe/photos/transforms.json", "transforms.json"),
     ["frame 0: image", "does not exist"]),
    (lambda t: t.replace("../assets/horseshoe/photos/transforms.json", "transforms.json"), ["non-finite"]),
])
def test_bad_scene_file_one_line_error_and_no_outputs(tmp_path, capsys, edit, words):
    text = open(TINY).read().replace("../assets/horseshoe/horseshoe.obj",
                                     os.path.join(ROOT, "assets", "horseshoe", "horseshoe.obj"))
    meta = json.load(open(os.path.join(ROOT, "assets", "horseshoe", "photos", "transforms.json")))
    for frame in meta["frames"]:
        frame["file_path"] = os.path.join(ROOT, "assets", "horseshoe", "photos", frame["file_path"])
    if "non-finite" in words:
        meta["frames"][3]["transform_matrix"][0][0] = float("nan")
    else:
        meta["frames"][0]["file_path"] = str(tmp_path / "missing.png")
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    scene = tmp_path / "scene.toml"
    scene.write_text(edit(text))
    out = tmp_path / "out"
    assert main(["fit", str(scene), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("diffprog fit: error: ")
    for word in words:
        assert word in err
    assert not out.exists()


def test_main_command_tiny(tmp_path, capsys):
    """The README's command (scenes/spot_quick.toml) with a tiny schedule."""
    out = tmp_path / "quick"
    code = main(["fit", os.path.join(ROOT, "scenes", "spot_quick.toml"), "--iterations", "4", "--image-size", "24",
                 "--out", str(out), "--quiet", "--set", "schedule.color_iterations=2",
                 "--set", "output.turntable_frames=2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"results in {out}/" in printed and "held_out_silhouette_iou" in printed
    metrics = json.load(open(out / "metrics.json"))
    assert metrics["iterations"] == 6 and 0 < metrics["held_out_silhouette_iou"] <= 1
    assert np.isfinite(metrics["chamfer_over_diagonal"])


def test_camera_refinement_and_mesh_file_start(tmp_path, monkeypatch):
    """optimize = cameras adds per-view rotation/translation refinements; a mesh file can be the start."""
    overrides = {"schedule.iterations": 6, "mesh.optimize": ["vertices", "colors", "cameras"],
                 "mesh.initial": os.path.join(ROOT, "assets", "horseshoe", "horseshoe.obj"),
                 "output.turntable_frames": 2, "schedule.camera_learning_rate": 1e-3}
    fitter_state = {}
    step = Fitter.step

    def recording_step(self):
        values = step(self)
        fitter_state["rotation"] = self.rotation.data.copy()
        return values

    monkeypatch.setattr(Fitter, "step", recording_step)
    metrics = run_scene(TINY, out_dir=tmp_path, overrides=overrides, progress=False)
    assert metrics["vertices"] == 2306 and metrics["held_out_silhouette_iou"] > 0.85   # started from the truth
    rotation = fitter_state["rotation"]
    assert rotation.shape == (20, 3) and 0 < np.abs(rotation).max() < 0.05
