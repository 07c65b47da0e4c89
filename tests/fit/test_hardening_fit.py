"""``diffprog fit`` under faults (issue 18): stale checkpoints, output folders that cannot be written,
Ctrl-C and SIGTERM at every stage, damaged checkpoints, divergence, misleading scene messages. Signals
go to a ``diffprog fit`` process the test started; files are damaged by the test."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffprog.cli import main
from diffprog.fit import Diverged, InputsChangedError, run_scene
from diffprog.fit.checkpoint import CheckpointError

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "assets" / "horseshoe" / "photos"
# A fit of about a second: 16x16 images, a level-1 sphere, a checkpoint every 2 steps.
TINY = {"render.image_size": 16, "schedule.iterations": 8, "schedule.color_iterations": 0, "schedule.views_per_iteration": 2,
        "schedule.checkpoint_every": 2, "output.turntable_frames": 2, "mesh.level": 1}


def _sets(overrides):
    return [word for key, value in overrides.items() for word in ("--set", f"{key}={json.dumps(value)}")]


@pytest.fixture
def scene(tmp_path):
    """A scene file over copies of the horseshoe's photographs (which the test may change)."""
    photos = tmp_path / "photos"
    shutil.copytree(PHOTOS, photos)
    path = tmp_path / "scene.toml"
    path.write_text(f'[photos]\ntransforms = "{photos / "transforms.json"}"\n\n[mesh]\nlevel = 1\n\n'
                    f'[render]\nimage_size = 16\n\n[schedule]\noptimizer = "adam"\nlearning_rate = 0.01\n')
    return path


def _edit_photograph(path):
    image = np.array(Image.open(path))
    image[0, 0, :3] = 255 - image[0, 0, :3]
    Image.fromarray(image).save(path)


def _start(args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "diffprog.cli", "fit", *map(str, args), "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _wait_for(condition, process, deadline=120):
    stop = time.monotonic() + deadline
    while time.monotonic() < stop and process.poll() is None:
        if condition():
            return True
        time.sleep(0.002)
    return False


def _one_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---- 1. resuming onto changed inputs ----------------------------------------------------------------
def test_resume_onto_a_changed_photograph_names_it_and_force_starts_over(scene, tmp_path, capsys):
    out = tmp_path / "out"
    run_scene(scene, out_dir=out, overrides=TINY, progress=False)
    _edit_photograph(tmp_path / "photos" / "006.png")
    with pytest.raises(InputsChangedError, match=r"006.png' changed since it was written; run with --force"):
        run_scene(scene, out_dir=out, overrides=TINY, resume=True, progress=False)
    assert main(["fit", str(scene), "--out", str(out), "--quiet", "--resume", *_sets(TINY)]) == 2
    assert "006.png" in _one_line(capsys.readouterr().err)
    again = run_scene(scene, out_dir=out, overrides=TINY, resume=True, force=True, progress=False)
    assert again["iterations"] == 8
    assert run_scene(scene, out_dir=out, overrides=TINY, resume=True, progress=False)["iterations"] == 8


# ---- 2. output folders -----------------------------------------------------------------------------
@pytest.mark.parametrize("where, words", [
    (lambda tmp: tmp / "taken.txt", "is an existing file"),
    (lambda tmp: tmp / "taken.txt" / "out", "which is a file, not a folder"),
    (lambda tmp: Path("/sys/kernel/diffprog-test-out"), "is not writable"),
])
def test_unusable_output_folder_is_one_line_before_any_work(scene, tmp_path, capsys, where, words):
    (tmp_path / "taken.txt").write_text("keep")
    if "sys" in str(where(tmp_path)) and not os.path.isdir("/sys/kernel"):
        pytest.skip("needs Linux's /sys")
    (tmp_path / "photos" / "003.png").write_bytes(b"not a photograph")  # loading photographs would fail
    assert main(["fit", str(scene), "--out", str(where(tmp_path)), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("diffprog fit: error: output folder") and words in line
    assert (tmp_path / "taken.txt").read_text() == "keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_folder_without_permission(scene, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["fit", str(scene), "--out", str(locked / "out"), "--quiet"]) == 2
        assert "is not writable (permission denied" in _one_line(capsys.readouterr().err)
    finally:
        locked.chmod(0o700)


def test_write_error_mid_fit_is_one_line_and_keeps_the_checkpoint(scene, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "fitted.obj").mkdir(parents=True)                  # the first output cannot be renamed into place
    assert main(["fit", str(scene), "--out", str(out), "--quiet", *_sets(TINY)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "cannot write" in line and "fitted.obj" in line and "checkpoint.npz', is kept" in line
    assert line.endswith("--resume") and "resume with: diffprog fit" in line
    assert not (out / "metrics.json").exists()
    assert not [name for name in os.listdir(out) if ".partial-" in name]
    (out / "fitted.obj").rmdir()
    assert main(["fit", str(scene), "--out", str(out), "--quiet", "--resume", *_sets(TINY)]) == 0
    assert (out / "metrics.json").is_file()


# ---- 3. interrupts and preemption ------------------------------------------------------------------
def test_sigterm_checkpoints_like_ctrl_c_and_resumes_exactly(scene, tmp_path):
    schedule = {**TINY, "schedule.iterations": 40}
    straight = tmp_path / "straight"
    run_scene(scene, out_dir=straight, overrides=schedule, progress=False)
    out = tmp_path / "out"
    process = _start([scene, "--out", out, *_sets(schedule)])
    assert _wait_for(lambda: (out / "checkpoint.npz").exists(), process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143
    line = _one_line(err)
    assert line.startswith("interrupted after iteration") and line.endswith("--resume")
    assert f"resume with: diffprog fit {scene} --out {out}" in line
    assert (out / "checkpoint.npz").is_file() and not (out / "metrics.json").exists()
    resumed = run_scene(scene, out_dir=out, overrides=schedule, resume=True, progress=False)
    assert resumed["iterations"] == 40
    assert (out / "fitted.obj").read_bytes() == (straight / "fitted.obj").read_bytes()


def _slow_start_scene(tmp_path, frames=200):
    """A scene whose start-up takes seconds: 200 frames of a 1024x1024 photograph."""
    big = tmp_path / "big"
    big.mkdir()
    image = np.asarray(Image.open(PHOTOS / "000.png").resize((1024, 1024)))
    Image.fromarray(image).save(big / "photo.png")
    meta = json.loads((PHOTOS / "transforms.json").read_text())
    first = meta["frames"][0]
    meta["frames"] = [dict(first, file_path="photo.png", split="train") for _ in range(frames)]
    (big / "transforms.json").write_text(json.dumps(meta))
    path = tmp_path / "slow.toml"
    path.write_text(f'[photos]\ntransforms = "{big / "transforms.json"}"\n')
    return path, big


def _reading(process, folder):
    """True while the process has a file of ``folder`` open."""
    try:
        return any(os.readlink(f"/proc/{process.pid}/fd/{fd}").startswith(str(folder))
                   for fd in os.listdir(f"/proc/{process.pid}/fd"))
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux's /proc")
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_during_start_up_is_one_line(tmp_path, signum, status):
    path, big = _slow_start_scene(tmp_path)
    out = tmp_path / "out"
    process = _start([path, "--out", out, *_sets(TINY)])
    assert _wait_for(lambda: _reading(process, big), process), process.communicate()
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == status
    assert _one_line(err) == f"interrupted; resume with: diffprog fit {path} --out {out} " + " ".join(
        f"--set {key}={json.dumps(value)}" for key, value in TINY.items()) + " --resume"
    assert not out.exists() or not os.listdir(out)


def test_ctrl_c_while_outputs_are_written_leaves_a_resumable_run(scene, tmp_path):
    schedule = {**TINY, "output.turntable_frames": 48, "render.image_size": 32}    # a slower turntable
    out = tmp_path / "out"
    process = _start([scene, "--out", out, *_sets(schedule)])
    assert _wait_for(lambda: (out / "fitted.obj").exists(), process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert _one_line(err).startswith("interrupted; resume with: diffprog fit")
    assert not (out / "metrics.json").exists() and (out / "checkpoint.npz").is_file()
    assert not [name for name in os.listdir(out) if ".partial-" in name]
    assert run_scene(scene, out_dir=out, overrides=schedule, resume=True, progress=False)["iterations"] == 8
    assert (out / "turntable.gif").is_file() and (out / "metrics.json").is_file()


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(scene, tmp_path):
    schedule = {**TINY, "schedule.iterations": 400}
    out = tmp_path / "out"
    process = _start([scene, "--out", out, *_sets(schedule)])
    assert _wait_for(lambda: (out / "checkpoint.npz").exists(), process)
    process.kill()                                                   # kill -9
    process.communicate(timeout=60)
    (out / ".checkpoint.npz.partial-k1ll3d_9.npz").write_bytes(b"PK half")   # as a kill inside a write leaves
    (out / "previews").mkdir()
    (out / "previews" / ".iteration_000004.png.partial-abcdefgh.png").write_bytes(b"")
    run_scene(scene, out_dir=out, overrides=TINY, progress=False)
    assert not [name for _, _, names in os.walk(out) for name in names if ".partial-" in name]


# ---- 4. damaged checkpoints ------------------------------------------------------------------------
@pytest.mark.parametrize("damage, words", [
    (lambda data: data[: len(data) // 3], "is damaged"),
    (lambda data: b"", "is empty"),
])
def test_damaged_checkpoint_with_resume_is_one_line(scene, tmp_path, capsys, damage, words):
    out = tmp_path / "out"
    run_scene(scene, out_dir=out, overrides=TINY, progress=False)
    checkpoint = out / "checkpoint.npz"
    checkpoint.write_bytes(damage(checkpoint.read_bytes()))
    assert main(["fit", str(scene), "--out", str(out), "--quiet", "--resume", *_sets(TINY)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert words in line and str(checkpoint) in line and "to start over" in line


def test_checkpoint_of_another_version_with_resume(scene, tmp_path):
    out = tmp_path / "out"
    run_scene(scene, out_dir=out, overrides=TINY, progress=False)
    with np.load(out / "checkpoint.npz") as data:
        arrays = {key: data[key] for key in data.files if key != "checkpoint_version"}
    np.savez(out / "checkpoint.npz", **arrays)
    with pytest.raises(CheckpointError, match="written by an earlier version of diffprog"):
        run_scene(scene, out_dir=out, overrides=TINY, resume=True, progress=False)


# ---- 5. divergence ---------------------------------------------------------------------------------
def test_divergence_stops_with_the_learning_rate_and_keeps_the_last_good_checkpoint(scene, tmp_path, capsys):
    out = tmp_path / "out"
    wild = {**TINY, "schedule.optimizer": "sgd", "schedule.learning_rate": 1e8, "schedule.checkpoint_every": 1,
            "schedule.iterations": 50}
    with pytest.raises(Diverged) as info:
        run_scene(scene, out_dir=out, overrides=wild, progress=False)
    stopped = info.value.iteration
    assert str(info.value).startswith(f"the fit diverged at iteration {stopped} (loss ")
    assert "lower schedule.learning_rate (now 1e8)" in str(info.value)
    if stopped == 1:                        # the mesh flew off at the first step: nothing good to keep
        assert "no checkpoint was written yet" in str(info.value)
        assert os.listdir(out) == []
    else:
        with np.load(out / "checkpoint.npz") as data:
            assert int(data["iteration"]) == stopped - 1
            assert np.all(np.isfinite(data["verts"]))
        assert sorted(os.listdir(out)) == ["checkpoint.npz"]              # no half output set
    shutil.rmtree(out)
    with _no_warnings():
        assert main(["fit", str(scene), "--out", str(out), "--quiet", *_sets(wild)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("diffprog fit: error: the fit diverged at iteration")


def test_divergence_after_good_steps_keeps_their_checkpoint(scene, tmp_path, monkeypatch):
    from diffprog.fit import fitter as fitter_module
    step = fitter_module.Fitter.step

    def step_then_blow_up(self):
        values = step(self)
        if self.iteration == 4:
            self.history["total"][-1] = float("inf")
        return values

    monkeypatch.setattr(fitter_module.Fitter, "step", step_then_blow_up)
    out = tmp_path / "out"
    with pytest.raises(Diverged) as info:
        run_scene(scene, out_dir=out, overrides={**TINY, "schedule.checkpoint_every": 1}, progress=False)
    assert info.value.iteration == 4 and "(loss inf)" in str(info.value) and "is kept" in str(info.value)
    with np.load(out / "checkpoint.npz") as data:
        assert int(data["iteration"]) == 3
        assert np.all(np.isfinite(data["verts"]))
    assert sorted(os.listdir(out)) == ["checkpoint.npz"]                  # no half output set


def test_a_mesh_that_flies_off_is_divergence_even_with_a_finite_loss(scene, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(Diverged, match="lower schedule.learning_rate"):
        run_scene(scene, out_dir=out, overrides={**TINY, "schedule.optimizer": "sgd", "schedule.learning_rate": 1e8},
                  progress=False)


class _no_warnings:
    def __enter__(self):
        import warnings
        self.catcher = warnings.catch_warnings(record=True)
        self.caught = self.catcher.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self.catcher.__exit__(*exc)
        assert not [w for w in self.caught if issubclass(w.category, RuntimeWarning)], self.caught


# ---- 6. scene-file messages ------------------------------------------------------------------------
def test_empty_frames_list_says_so(scene, tmp_path, capsys):
    transforms = tmp_path / "photos" / "transforms.json"
    transforms.write_text(json.dumps({**json.loads(transforms.read_text()), "frames": []}))
    assert main(["fit", str(scene), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "'frames' is empty" in line and str(transforms) in line and "set photos.transforms" not in line


def test_override_of_a_path_is_blamed_on_the_override(scene, tmp_path, capsys):
    assert main(["fit", str(scene), "--out", str(tmp_path / "out"), "--quiet",
                 "--set", "photos.transforms=/nope.json"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "override photos.transforms='/nope.json'" in line and "line 2" not in line and "/nope.json" in line


@pytest.mark.parametrize("text", ["\n[bogus]\nx = 1\n", "\n[bogus.sub]\nx = 1\n"])
def test_unknown_section_names_its_line(scene, tmp_path, capsys, text):
    line_number = len(scene.read_text().splitlines()) + 2
    scene.write_text(scene.read_text() + text)
    assert main(["fit", str(scene), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{scene}, line {line_number}: unknown section [bogus]" in line
