"""Stale results (issue 18, item 1): a finished job re-runs when any file its fit reads changes -- a
photograph, transforms.json, the reference mesh, the scene file -- and the summary says why; hashes are
reused for files whose size and modification time did not change."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from diffprog import scale
from diffprog.fit import inputs as fit_inputs
from scale_helpers import BASE_SCENE, TINY, write_scene

PHOTOS = BASE_SCENE.parent.parent / "assets" / "horseshoe" / "photos"


@pytest.fixture
def own_photos(tmp_path):
    """A scene whose photographs, transforms.json and reference mesh are copies this test may change."""
    photos = tmp_path / "photos"
    shutil.copytree(PHOTOS, photos)
    shutil.copy(PHOTOS.parent / "horseshoe.obj", tmp_path / "reference.obj")
    (tmp_path / "scenes").mkdir()
    scene = write_scene(tmp_path / "scenes" / "s1.toml", {**TINY, "mesh.initial": str(tmp_path / "reference.obj")})
    scene.write_text(scene.read_text().replace(str((PHOTOS / "transforms.json").resolve()), str(photos / "transforms.json")))
    return scene, photos


def _edit_photograph(path):
    image = np.array(Image.open(path))
    image[0, 0, :3] = 255 - image[0, 0, :3]
    Image.fromarray(image).save(path)


def _run(scene, out):
    results = scale.run_jobs(scale.jobs_from_scenes([scene], out), workers=0, progress=False)
    return results[0]


def test_changed_photographs_rerun_the_job_and_the_summary_says_why(own_photos, tmp_path):
    scene, photos = own_photos
    out = tmp_path / "out"
    first = _run(scene, out)
    assert first["status"] == "done" and first["reason"] is None, first["error"]
    assert _run(scene, out)["status"] == "skipped"
    for name in ("003.png", "007.png", "011.png"):
        _edit_photograph(photos / name)
    again = _run(scene, out)
    assert again["status"] == "done" and again["reason"] == "re-run: 3 photographs changed"
    assert not again["resumed"]
    table = scale.format_table([again])
    assert "s1: re-run: 3 photographs changed" in table
    scale.write_summary(tmp_path / "summary.csv", [again])
    assert "re-run: 3 photographs changed" in (tmp_path / "summary.csv").read_text()
    assert _run(scene, out)["status"] == "skipped"


def test_touched_but_unchanged_files_do_not_rerun(own_photos, tmp_path):
    scene, photos = own_photos
    out = tmp_path / "out"
    assert _run(scene, out)["status"] == "done"
    later = os.stat(photos / "000.png").st_mtime_ns + 5_000_000_000
    for path in photos.iterdir():
        os.utime(path, ns=(later, later))                           # touched, same bytes: hashed again, same
    assert _run(scene, out)["status"] == "skipped"


@pytest.mark.parametrize("edit, reason", [
    (lambda scene, photos: (photos / "transforms.json").write_text((photos / "transforms.json").read_text() + "\n"),
     "re-run: transforms.json changed"),
    (lambda scene, photos: (scene.parent.parent / "reference.obj").write_text(
        (scene.parent.parent / "reference.obj").read_text() + "# edited\n"), "re-run: initial mesh changed"),
    (lambda scene, photos: scene.write_text(scene.read_text() + "# edited\n"), "re-run: scene file changed"),
])
def test_other_input_files_rerun_the_job(own_photos, tmp_path, edit, reason):
    scene, photos = own_photos
    out = tmp_path / "out"
    assert _run(scene, out)["status"] == "done"
    edit(scene, photos)
    assert _run(scene, out)["reason"] == reason


def test_unchanged_files_are_not_hashed_again(own_photos, monkeypatch):
    scene, photos = own_photos
    job = scale.jobs_from_scenes([scene], "unused")[0]
    first = job.inputs()
    roles = [entry["role"] for entry in first.values()]
    assert roles.count("photograph") == 24 and {"scene", "transforms", "initial_mesh"} <= set(roles)
    fit_inputs._memory.clear()
    hashed = []
    real_sha256 = fit_inputs.hashlib.sha256
    monkeypatch.setattr(fit_inputs.hashlib, "sha256", lambda *a: hashed.append(1) or real_sha256(*a))
    again = job.inputs(known=first)
    assert again == first
    assert hashed == []                                                 # sizes and mtimes matched: nothing hashed
    _edit_photograph(photos / "004.png")
    monkeypatch.undo()
    changed = job.inputs(known=first)
    assert fit_inputs.describe_changes(first, changed) == ["1 photograph changed"]
    assert fit_inputs.changed_files(first, changed) == [str(photos / "004.png")]


def test_describe_changes_counts_by_role():
    def entry(role, sha):
        return {"role": role, "size": 1, "mtime_ns": 1, "sha256": sha}
    old = {"a.png": entry("photograph", "1"), "b.png": entry("photograph", "2"), "t.json": entry("transforms", "3")}
    new = {"a.png": entry("photograph", "9"), "c.png": entry("photograph", "4"), "t.json": entry("transforms", "8")}
    assert fit_inputs.describe_changes(old, new) == ["transforms.json changed", "1 photograph changed",
                                                     "1 photograph added", "1 photograph removed"]
