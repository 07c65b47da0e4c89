"""Faults for the batch tests: kill the worker process running a job, or fail a job's first attempt.
(Module-level so that Dask worker processes can unpickle them; they find this folder on sys.path.)"""
import json
import os
import signal
import time
from pathlib import Path


def checkpoint_written(out_dir):
    """True once the fit in ``out_dir`` has saved a checkpoint."""
    return os.path.isdir(out_dir) and any("checkpoint" in name for name in os.listdir(out_dir))


def kill_worker_running(out_dir, killed, deadline=60):
    """Kill (SIGKILL) the worker process running the job in ``out_dir`` once it has saved a checkpoint;
    append the killed process id to ``killed``."""
    record_path = os.path.join(out_dir, "batch_job.json")
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        try:
            with open(record_path) as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            record = None
        if record and record["status"] == "running" and checkpoint_written(out_dir):
            pid = int(record["worker"].rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.01)


class FailFirstAttempt:
    """A run_scene wrapper whose first call per output directory raises RuntimeError (a crash that is not
    the scene's fault, e.g. a full disk); later calls run the fit normally."""

    def __init__(self, run_scene):
        self.run_scene = run_scene

    def __call__(self, scene_path, out_dir=None, overrides=None, resume=False, progress=True):
        marker = Path(out_dir) / "crashed-once"
        if marker.exists():
            return self.run_scene(scene_path, out_dir=out_dir, overrides=overrides, resume=resume, progress=progress)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
        raise RuntimeError("injected crash (not the scene's fault)")
