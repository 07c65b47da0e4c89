"""Jobs, grids and summaries: expansion of scene arguments, names, records, ranking, CSV (no Dask needed)."""
import csv
import sys
from pathlib import Path

import pytest

from diffprog import scale


def test_scene_arguments_expand_files_folders_and_globs(make_scenes, tmp_path):
    folder = make_scenes(3)
    assert [p.name for p in scale.expand_scene_paths([folder])] == ["s1.toml", "s2.toml", "s3.toml"]
    assert [p.name for p in scale.expand_scene_paths([str(folder / "s[23].toml")])] == ["s2.toml", "s3.toml"]
    # duplicates (a file also matched by a glob) are run once, in first-seen order
    paths = scale.expand_scene_paths([folder / "s3.toml", str(folder / "*.toml")])
    assert [p.name for p in paths] == ["s3.toml", "s1.toml", "s2.toml"]
    with pytest.raises(FileNotFoundError, match="nothing.toml"):
        scale.expand_scene_paths([folder / "nothing.toml"])
    with pytest.raises(FileNotFoundError, match="matched no files"):
        scale.expand_scene_paths([str(folder / "*.yaml")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\*.toml"):
        scale.expand_scene_paths([tmp_path / "empty"])


def test_jobs_get_distinct_names_and_output_directories(make_scenes, tmp_path):
    first, second = make_scenes(2), make_scenes(1)
    jobs = scale.jobs_from_scenes([first, second], tmp_path / "out", overrides={"render.sigma": 2e-4})
    assert [job.name for job in jobs] == [f"{first.name}-s1", "s2", f"{second.name}-s1"]
    assert len({job.out_dir for job in jobs}) == 3
    assert all(job.overrides == {"render.sigma": 2e-4} for job in jobs)
    with pytest.raises(ValueError, match="distinct names"):
        scale.run_jobs([jobs[0], jobs[0]], workers=0, progress=False)
    with pytest.raises(TypeError, match="jobs\\[0\\]"):
        scale.run_jobs(["a.toml"], workers=0, progress=False)


def test_fingerprint_changes_with_scene_and_overrides(make_scenes, tmp_path):
    scene = make_scenes(1) / "s1.toml"
    job = scale.Job("s1", str(scene), str(tmp_path / "o"))
    same = scale.Job("s1", str(scene), str(tmp_path / "o"), {})
    other = scale.Job("s1", str(scene), str(tmp_path / "o"), {"render.sigma": 2e-4})
    assert job.fingerprint() == same.fingerprint() != other.fingerprint()
    before = job.fingerprint()
    scene.write_text(scene.read_text() + "# edited\n")
    assert job.fingerprint() != before


def test_finished_job_needs_its_outputs(baseline):
    folder, serial = baseline
    job = scale.Job("s1", str(folder / "s1.toml"), serial[0]["out_dir"])
    assert serial[0]["status"] == "done" and serial[0]["attempts"] == 1 and not serial[0]["resumed"]
    assert scale.is_finished(job)
    turntable = Path(job.out_dir, "turntable.gif")
    kept = turntable.read_bytes()
    turntable.write_bytes(kept[:-1])                   # an output is truncated: not complete any more
    assert not scale.is_finished(job)
    turntable.write_bytes(kept)
    assert scale.is_finished(job)


def test_grid_parsing_and_expansion():
    grid = scale.parse_grid(["render.sigma=[1e-4, 3e-5]", "loss.laplacian=[0.5,1,2]", 'optimizer.name="adam"'])
    assert grid == {"render.sigma": [1e-4, 3e-5], "loss.laplacian": [0.5, 1, 2], "optimizer.name": ["adam"]}
    points = scale.expand_grid(grid)
    assert len(points) == 6
    assert points[0] == {"render.sigma": 1e-4, "loss.laplacian": 0.5, "optimizer.name": "adam"}
    assert points[-1] == {"render.sigma": 3e-5, "loss.laplacian": 2, "optimizer.name": "adam"}
    for bad, message in [("render.sigma", "expected 'dotted.key="), ("=[1]", "not a dotted scene key"),
                         ("a.b=[1, oops]", "TOML"), ("a.b=[]", "empty")]:
        with pytest.raises(ValueError, match=message):
            scale.parse_grid([bad])
    with pytest.raises(ValueError, match="given twice"):
        scale.parse_grid(["a.b=[1]", "a.b=[2]"])


def test_sweep_jobs_are_named_by_their_point(make_scenes, tmp_path):
    scene = make_scenes(1) / "s1.toml"
    jobs = scale.sweep_jobs(scene, ["render.sigma=[1e-4, 3e-5]", "loss.laplacian=[0.5,1,2]"], tmp_path / "sweep",
                            overrides={"schedule.seed": 7})
    assert len(jobs) == 6 and len({job.out_dir for job in jobs}) == 6
    assert jobs[0].name == "sigma=0.0001,laplacian=0.5" and jobs[-1].name == "sigma=3e-05,laplacian=2"
    assert jobs[0].overrides == {"schedule.seed": 7, "render.sigma": 1e-4, "loss.laplacian": 0.5}
    clash = scale.sweep_jobs(scene, ["a.step=[1]", "b.step=[2]"], tmp_path / "sweep2")
    assert clash[0].name == "a.step=1,b.step=2"


def test_ranking_puts_failures_last_and_follows_the_metric_direction():
    results = [{"name": n, "status": s, "metrics": m} for n, s, m in [
        ("a", "done", {"iou": 0.8, "loss": 3.0}), ("b", "failed", None),
        ("c", "skipped", {"iou": 0.9, "loss": 1.0}), ("d", "done", {"iou": 0.7, "loss": 2.0})]]
    assert [r["name"] for r in scale.rank_results(results, "iou")] == ["c", "a", "d", "b"]
    assert [r["name"] for r in scale.rank_results(results, "loss")] == ["c", "d", "a", "b"]
    assert [r["name"] for r in scale.rank_results(results, "loss", order="max")] == ["a", "d", "c", "b"]
    with pytest.raises(ValueError, match="iou, loss"):
        scale.rank_results(results, "psnr")


def test_summary_csv_reads_back_exactly(tmp_path):
    results = [{"name": "a", "status": "done", "metrics": {"loss": 0.1 + 0.2}, "overrides": {"x.y": 1e-4},
                "seconds": 1.5, "attempts": 1, "scene": "a.toml", "out_dir": "o/a", "error": None},
               {"name": "b", "status": "failed", "metrics": None, "overrides": {"x.y": 3e-5}, "seconds": None,
                "attempts": None, "scene": "b.toml", "out_dir": "o/b", "error": "ValueError: bad, really"}]
    scale.write_summary(tmp_path / "summary.csv", results, ranked=True)
    rows = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert float(rows[0]["loss"]) == 0.1 + 0.2 and rows[0]["rank"] == "1" and rows[1]["rank"] == ""
    assert rows[1]["error"] == "ValueError: bad, really" and rows[1]["x.y"] == "3e-05"
    table = scale.format_table(results, ranked=True)
    assert "0.3" in table and "b failed: ValueError: bad, really" in table
    for result in results:
        result["overrides"]["shared.key"] = 7                 # the same in every job: in the CSV, not the table
    assert "shared.key" not in scale.format_table(results) and "x.y" in scale.format_table(results)
    scale.write_summary(tmp_path / "summary.csv", results)
    assert [row["shared.key"] for row in csv.DictReader(open(tmp_path / "summary.csv"))] == ["7", "7"]


def test_missing_dask_gives_a_clear_error(baseline, tmp_path, monkeypatch, capsys):
    folder, serial = baseline
    monkeypatch.setitem(sys.modules, "distributed", None)         # makes `import distributed` fail
    jobs = scale.jobs_from_scenes([folder], tmp_path)
    with pytest.raises(scale.DaskMissingError, match=r"diffprog\[scale\].*--workers 0"):
        scale.run_jobs(jobs, workers=2, progress=False)
    with pytest.raises(scale.DaskMissingError):
        scale.run_jobs(jobs, progress=False)                       # several jobs: Dask by default
    from diffprog.cli import main
    assert main(["fit", str(folder), "--out", str(tmp_path), "--quiet"]) == 2
    assert "pip install 'diffprog[scale]'" in capsys.readouterr().err


def test_importing_scale_does_not_import_dask():
    import subprocess
    code = ("import sys, diffprog, diffprog.scale, diffprog.scale.cli, diffprog.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
