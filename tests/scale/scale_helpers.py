"""Helpers for the batch tests: tiny real scene files, metrics without timings, and faults (kill the worker
process running a job, fail a job's first attempt). A module of its own, found on sys.path by the Dask
worker processes too, so that they can unpickle FailFirstAttempt."""
import json
import os
import signal
import time
import tomllib
from pathlib import Path

BASE_SCENE = Path(__file__).resolve().parents[2] / "scenes" / "horseshoe_tiny.toml"
# Small enough that a fit takes about a second; checkpoints every 2 steps so a killed job resumes mid-fit.
TINY = {"render.image_size": 16, "schedule.iterations": 8, "schedule.views_per_iteration": 2,
        "schedule.checkpoint_every": 2, "output.turntable_frames": 2, "mesh.level": 1}


def write_scene(path, overrides):
    """Write the bundled tiny horseshoe scene with ``overrides`` (dotted keys) to ``path``, its photographs'
    path made absolute so that the copy works from any folder."""
    sections = tomllib.loads(BASE_SCENE.read_text())
    sections["photos"].pop("reference_mesh", None)        # no chamfer metric: it would take most of the time
    sections["photos"]["transforms"] = str((BASE_SCENE.parent / sections["photos"]["transforms"]).resolve())
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        sections.setdefault(section, {})[key] = value
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]  # JSON scalars/lists are TOML
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def metrics_by_name(results):
    """{job name: metrics but the timings (``seconds``, ``cpu_seconds``...: they differ from run to run,
    everything else must not)}."""
    return {result["name"]: {key: value for key, value in (result["metrics"] or {}).items()
                             if not key.endswith("seconds")} for result in results}


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
