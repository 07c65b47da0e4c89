"""Batches on a 2-worker Dask LocalCluster: same metrics as one by one, a killed worker loses nothing,
a bad scene fails alone, finished jobs are skipped."""
import os
import threading

import pytest

from diffprog import scale
from diffprog.scale.cli import run_and_report

from fault_injection import FailFirstAttempt, kill_worker_running

pytest.importorskip("distributed", reason="the Dask tests need the 'scale' extra (dask[distributed])")

BATCH_TIMEOUT = 120  # seconds; a hung cluster fails the test instead of hanging CI


def metrics_by_name(results):
    return {result["name"]: result["metrics"] for result in results}


def test_cluster_gives_the_same_metrics_as_one_by_one(make_scenes, tmp_path, runner):
    folder = make_scenes(3)
    serial = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path / "serial"), workers=0, progress=False,
                            runner=runner)
    parallel = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path / "dask"), workers=2, progress=False,
                              runner=runner, timeout=BATCH_TIMEOUT)
    assert [r["status"] for r in parallel] == ["done"] * 3
    assert metrics_by_name(parallel) == metrics_by_name(serial)          # bit for bit
    assert len({r["worker"] for r in parallel}) == 2                      # both workers took jobs


def test_killed_worker_is_rescheduled_and_resumes(make_scenes, tmp_path, runner):
    folder = make_scenes(3, iterations=40, pause=0.03)
    serial = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path / "serial"), workers=0, progress=False,
                            runner=runner)
    jobs = scale.jobs_from_scenes([folder], tmp_path / "dask")
    killed = []
    killer = threading.Thread(target=kill_worker_running, args=(jobs[0].out_dir, killed), daemon=True)
    killer.start()
    results = scale.run_jobs(jobs, workers=2, progress=False, runner=runner, timeout=BATCH_TIMEOUT,
                             log_path=tmp_path / "dask" / "batch.log")
    killer.join()
    assert killed, "the job finished before its worker could be killed"
    assert [r["status"] for r in results] == ["done"] * 3
    assert results[0]["attempts"] == 2 and results[0]["resumed"]        # rescheduled, resumed from checkpoint
    assert results[0]["worker"] != f"{os.uname().nodename}:{killed[0]}"
    assert metrics_by_name(results) == metrics_by_name(serial)


def test_bad_scene_fails_alone_and_is_named(make_scenes, tmp_path, runner, capsys):
    folder = make_scenes(3)
    (folder / "s2.toml").write_text("[fit]\nseed = 2\niterations = \"many\"\nstep = 0.1\n")
    jobs = scale.jobs_from_scenes([folder], tmp_path / "out")
    status = run_and_report("fit", jobs, tmp_path / "out", workers=2, progress=False, runner=runner)
    captured = capsys.readouterr()
    assert status == 1
    assert "1 of 3 jobs failed: s2 (" in captured.err and "iterations" in captured.err
    summary = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in summary[1:]] == [["s1", "done"], ["s2", "failed"], ["s3", "done"]]
    assert "s2: FAILED: TypeError" in (tmp_path / "out" / "batch.log").read_text()


def test_rerun_skips_finished_jobs_unless_forced(make_scenes, tmp_path, runner):
    folder = make_scenes(3)
    jobs = scale.jobs_from_scenes([folder], tmp_path / "out")
    first = scale.run_jobs(jobs, workers=2, progress=False, runner=runner, timeout=BATCH_TIMEOUT)
    (folder / "s3.toml").write_text((folder / "s3.toml").read_text().replace("step = 0.1", "step = 0.05"))
    again = scale.run_jobs(jobs, progress=False, runner=runner, timeout=BATCH_TIMEOUT)
    assert [r["status"] for r in again] == ["skipped", "skipped", "done"]   # s3's scene changed: run again
    assert metrics_by_name(again)["s1"] == metrics_by_name(first)["s1"]
    assert metrics_by_name(again)["s3"] != metrics_by_name(first)["s3"]
    forced = scale.run_jobs(jobs, workers=0, force=True, progress=False, runner=runner)
    assert [r["status"] for r in forced] == ["done"] * 3
    assert [r["resumed"] for r in forced] == [False] * 3


def test_crash_is_retried_and_resumes(make_scenes, tmp_path, runner):
    folder = make_scenes(2)
    jobs = scale.jobs_from_scenes([folder], tmp_path / "out")
    results = scale.run_jobs(jobs, workers=2, retries=1, progress=False, runner=FailFirstAttempt(runner),
                             timeout=BATCH_TIMEOUT)
    assert [(r["status"], r["attempts"], r["resumed"]) for r in results] == [("done", 2, True)] * 2
    serial = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path / "serial"), workers=0, progress=False,
                            runner=FailFirstAttempt(runner))
    assert [(r["status"], r["attempts"], r["resumed"]) for r in serial] == [("done", 2, True)] * 2
    assert metrics_by_name(serial) == metrics_by_name(results)
    no_retry = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path / "no-retry"), workers=0, retries=0,
                              progress=False, runner=FailFirstAttempt(runner))
    assert [r["status"] for r in no_retry] == ["failed"] * 2
    assert "RuntimeError: injected crash" in no_retry[0]["error"]
