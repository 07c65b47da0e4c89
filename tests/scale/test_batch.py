"""Batches of real (tiny) fits on a 2-worker Dask LocalCluster: same metrics as one by one, a killed worker
loses nothing, a crash is retried, a bad scene fails alone, finished jobs are skipped."""
import os
import subprocess
import sys
import threading

import pytest

from diffprog import scale
from diffprog.fit import run_scene
from diffprog.cli import main

from scale_helpers import TINY, FailFirstAttempt, kill_worker_running, metrics_by_name, write_scene

pytest.importorskip("distributed", reason="the Dask tests need the 'scale' extra (dask[distributed])")

BATCH_TIMEOUT = 180  # seconds; a hung cluster fails the test instead of hanging CI


def test_cluster_gives_the_same_metrics_as_one_by_one(baseline, client, tmp_path):
    folder, serial = baseline
    results = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path), client=client, progress=False,
                             timeout=BATCH_TIMEOUT)
    assert [r["status"] for r in results] == ["done"] * 3
    assert metrics_by_name(results) == metrics_by_name(serial)          # bit for bit
    assert len({r["worker"] for r in results}) == 2                      # both workers took jobs


def test_killed_worker_is_rescheduled_and_resumes(baseline, client, tmp_path):
    folder, serial = baseline
    jobs = scale.jobs_from_scenes([folder], tmp_path)
    killed = []
    killer = threading.Thread(target=kill_worker_running, args=(jobs[0].out_dir, killed), daemon=True)
    killer.start()
    results = scale.run_jobs(jobs, client=client, progress=False, timeout=BATCH_TIMEOUT,
                             log_path=tmp_path / "batch.log")
    killer.join()
    assert killed, "the job finished before its worker could be killed"
    assert [r["status"] for r in results] == ["done"] * 3
    assert results[0]["attempts"] == 2 and results[0]["resumed"]        # rescheduled, resumed from checkpoint
    assert results[0]["worker"] != f"{os.uname().nodename}:{killed[0]}"
    assert metrics_by_name(results) == metrics_by_name(serial)


def test_crash_is_retried_and_resumes(make_scenes, client, tmp_path):
    folder = make_scenes(1)
    on_dask = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path / "dask"), client=client, retries=1,
                             progress=False, runner=FailFirstAttempt(run_scene),
                             timeout=BATCH_TIMEOUT)
    assert [(r["status"], r["attempts"], r["resumed"]) for r in on_dask] == [("done", 2, True)]
    one_by_one = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path / "serial"), workers=0, progress=False,
                                runner=FailFirstAttempt(run_scene))
    assert [(r["status"], r["attempts"], r["resumed"]) for r in one_by_one] == [("done", 2, True)]
    assert metrics_by_name(one_by_one) == metrics_by_name(on_dask)
    no_retry = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path / "no-retry"), workers=0, retries=0,
                              progress=False, runner=FailFirstAttempt(run_scene))
    assert no_retry[0]["status"] == "failed" and "RuntimeError: injected crash" in no_retry[0]["error"]


def test_bad_scene_fails_alone_and_is_named(make_scenes, tmp_path, capsys):
    folder = make_scenes(2)
    write_scene(folder / "s3.toml", {**TINY, "schedule.iterations": "many"})
    status = main(["fit", str(folder), "--workers", "2", "--out", str(tmp_path), "--quiet", "--timeout", "180"])
    captured = capsys.readouterr()
    assert status == 1
    assert "1 of 3 jobs failed: s3 (" in captured.err and "schedule.iterations" in captured.err
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in summary[1:]] == [["s1", "done"], ["s2", "done"], ["s3", "failed"]]
    assert "s3: FAILED: SceneTypeError" in (tmp_path / "batch.log").read_text()
    assert all((tmp_path / name / "metrics.json").is_file() for name in ("s1", "s2"))


def test_single_fit_never_imports_dask(make_scenes, tmp_path):
    code = ("import sys; from diffprog.cli import main; "
            f"status = main(['fit', {str(make_scenes(1) / 's1.toml')!r}, '--out', {str(tmp_path)!r}, '--quiet']); "
            "print(status, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert output.stdout.splitlines()[-1] == "0 []", output.stderr
    assert (tmp_path / "metrics.json").is_file()


def test_rerun_skips_finished_jobs_unless_forced(baseline, client, tmp_path):
    folder, serial = baseline
    jobs = scale.jobs_from_scenes([folder], os.path.dirname(serial[0]["out_dir"]))
    again = scale.run_jobs(jobs, client=client, progress=False, timeout=BATCH_TIMEOUT)
    assert [r["status"] for r in again] == ["skipped"] * 3
    assert [r["metrics"] for r in again] == [r["metrics"] for r in serial]
    changed = [scale.Job(job.name, job.scene, job.out_dir, {"schedule.iterations": 4}) if i == 2 else job
               for i, job in enumerate(jobs)]                              # another job in s3's directory
    rerun = scale.run_jobs(changed, client=client, progress=False, timeout=BATCH_TIMEOUT)
    assert [r["status"] for r in rerun] == ["skipped", "skipped", "done"]
    assert not rerun[2]["resumed"] and rerun[2]["metrics"]["iterations"] == 4
    forced = scale.run_jobs(changed[:1], workers=0, force=True, progress=False)
    assert forced[0]["status"] == "done" and not forced[0]["resumed"]
    assert metrics_by_name(forced) == metrics_by_name(serial[:1])


def test_embedded_workers_keep_the_default_allocator_and_one_blas_thread(client):
    def environment():
        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")
    expected = (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS", "1"))
    assert set(client.run(environment).values()) == {expected}
