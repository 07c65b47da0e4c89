"""Jobs: one scene file plus overrides, writing to its own output directory.

A job's output directory holds, beside the fit's own outputs, a small record ``batch_job.json``
(written atomically) that says what ran there and how it ended::

    {"name": ..., "scene": ..., "overrides": {...}, "fingerprint": "<sha256 of inputs and overrides>",
     "inputs": {"/data/photos/r_0.png": {"role": "photograph", "size": ..., "mtime_ns": ..., "sha256": ...}, ...},
     "status": "running" | "done" | "failed", "batch_id": ..., "attempts": 2, "resumed": true,
     "metrics": {...}, "seconds": 12.3, "outputs": {"metrics.json": 812, ...}, "error": "..."}

The record is how a re-run knows a job is finished (status "done", same fingerprint, every listed
output still there with its size) and how a rescheduled attempt knows to resume from the fit's
checkpoint (status "running" left by an earlier attempt of the same job). The fingerprint covers the
content of every file the fit reads (scene file, ``transforms.json``, photographs, reference and
initial mesh: ``diffprog.fit.inputs``) and the overrides; the record's ``inputs`` keep each file's
size and modification time, so a re-run re-hashes only the files that were touched, and says which
changed (``rerun_reason``).
"""
import dataclasses
import glob
import hashlib
import json
import os
import socket
import time
import traceback
from pathlib import Path

from diffprog.fit import run_scene
from diffprog.fit.files import write_json
from diffprog.fit.inputs import describe_changes, hash_inputs

RECORD_NAME = "batch_job.json"

# Exceptions a job raises because its own input is wrong (bad scene file, bad override): retrying cannot
# help, so they are reported as the job's failure at once. Anything else propagates so that Dask retries it.
INPUT_ERRORS = (ValueError, TypeError, LookupError, FileNotFoundError, IsADirectoryError, NotADirectoryError)


@dataclasses.dataclass(frozen=True)
class Job:
    """One fit: ``run_scene(scene, out_dir=out_dir, overrides=overrides)``.

    name: unique within a batch; it names the job in the summary, the log and the Dask dashboard.
    scene: path of the scene TOML file. out_dir: the job's own output directory.
    overrides: dotted scene keys to values, e.g. ``{"render.sigma": 1e-4}``.
    """
    name: str
    scene: str
    out_dir: str
    overrides: dict = dataclasses.field(default_factory=dict)

    def inputs(self, known=None):
        """The content hashes of every file the job's fit reads (``diffprog.fit.inputs.hash_inputs`` of its
        scene with its overrides), reusing those of ``known`` for files of unchanged size and mtime; None
        if the scene file does not parse or names a missing file (the job then fails with that error)."""
        from diffprog.fit.scene import load_scene
        try:
            return hash_inputs(load_scene(self.scene, self.overrides), known)
        except (ValueError, TypeError, OSError):
            return None

    def fingerprint(self, inputs=None):
        """sha256 of the content of every input file (``inputs()``, computed when not given) and of the
        overrides; a finished job with another fingerprint is stale. Moving the files keeps it."""
        inputs = self.inputs() if inputs is None else inputs
        digest = hashlib.sha256()
        if inputs is None:
            try:
                digest.update(Path(self.scene).read_bytes())
            except OSError:
                digest.update(b"<unreadable scene>")
            digest.update(b"<scene does not load>")
        else:
            for entry in inputs.values():
                digest.update(f"{entry['role']}\0{entry['sha256']}\n".encode())
        digest.update(json.dumps(self.overrides, sort_keys=True, default=repr).encode())
        return digest.hexdigest()


def expand_scene_paths(paths):
    """Scene files named by ``paths``: files as given, folders as their ``*.toml`` files (sorted), and
    glob patterns (``scenes/*.toml``, ``scenes/**/*.toml``) as their sorted matches. Duplicates are dropped,
    first occurrence kept. Raises FileNotFoundError naming the argument that matched nothing."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found = []
    for raw in paths:
        text = os.fspath(raw)
        path = Path(text)
        if path.is_dir():
            matches = sorted(path.glob("*.toml"))
            if not matches:
                raise FileNotFoundError(f"scene folder {text!r} contains no *.toml scene files")
        elif path.exists():
            matches = [path]
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
            if not matches:
                raise FileNotFoundError(f"scene pattern {text!r} matched no files")
        else:
            raise FileNotFoundError(f"scene file {text!r} does not exist (expected a .toml file, a folder or a glob)")
        found.extend(matches)
    unique = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def jobs_from_scenes(paths, out_root, overrides=None):
    """One Job per scene file (see ``expand_scene_paths``), each writing to ``out_root/<scene stem>``.

    Scenes whose file names collide (``a/spot.toml``, ``b/spot.toml``) get their parent folder's name
    prepended (``a-spot``), then a counter if still ambiguous."""
    scenes = expand_scene_paths(paths)
    names = _unique_names(scenes)
    out_root = Path(out_root)
    return [Job(name=name, scene=str(scene), out_dir=str(out_root / name), overrides=dict(overrides or {}))
            for name, scene in zip(names, scenes)]


def _unique_names(scenes):
    stems = [scene.stem for scene in scenes]
    names = [stem if stems.count(stem) == 1 else f"{scene.resolve().parent.name}-{stem}"
             for stem, scene in zip(stems, scenes)]
    seen = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if names.count(name) == 1 else f"{name}-{seen[name]}")
    return unique


def read_record(out_dir):
    """The job record in ``out_dir`` as a dict, or None if there is none (or it is unreadable)."""
    try:
        return json.loads((Path(out_dir) / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None


def write_record(out_dir, record):
    """Write the job record atomically (the fit's own atomic writer: temporary file, then rename)."""
    write_json(Path(out_dir) / RECORD_NAME, record)


def is_finished(job, record=None, fingerprint=None):
    """True if ``job``'s output directory holds a finished run of this very job: record status "done",
    the same fingerprint (of the current inputs, unless ``fingerprint`` is given), and every output it
    listed still present with the same size."""
    record = read_record(job.out_dir) if record is None else record
    if not record or record.get("status") != "done":
        return False
    if fingerprint is None:
        fingerprint = job.fingerprint(job.inputs(record.get("inputs")))
    return record.get("fingerprint") == fingerprint and _outputs_present(job, record)


def _outputs_present(job, record):
    out_dir = Path(job.out_dir)
    for relative, size in record.get("outputs", {}).items():
        path = out_dir / relative
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def rerun_reason(job, record, inputs, force=False):
    """Why ``job`` runs although its output directory holds the record ``record`` of an earlier run (None
    if there is none): e.g. ``"re-run: 3 photographs changed"``, ``"re-run: overrides changed"``,
    ``"re-run: outputs missing"``, ``"resumed: unfinished earlier run"``. ``inputs``: its current input
    hashes (``Job.inputs``)."""
    if not record:
        return None
    if force and record.get("status") == "done":
        return "re-run: --force"
    changes = []
    if record.get("fingerprint") != job.fingerprint(inputs):
        if record.get("inputs") is None:
            changes.append("inputs not recorded by the earlier run")
        elif inputs is None:
            changes.append("the scene does not load any more")
        else:
            changes += describe_changes(record["inputs"], inputs)
        if json.dumps(record.get("overrides") or {}, sort_keys=True, default=repr) != json.dumps(
                job.overrides, sort_keys=True, default=repr):
            changes.append("overrides changed")
        changes = changes or ["scene changed"]
    if changes:
        return "re-run: " + ", ".join(changes)
    if record.get("status") == "done":
        return "re-run: outputs missing or changed"
    if record.get("status") == "failed":
        return "re-run: failed before"
    return None if force else "resumed: unfinished earlier run"


def _list_outputs(out_dir):
    out_dir = Path(out_dir)
    return {str(path.relative_to(out_dir)): path.stat().st_size
            for path in sorted(out_dir.rglob("*")) if path.is_file() and path.name != RECORD_NAME}


def run_job(job, batch_id, force=False, runner=None, inputs=None):
    """Run one job where it is called (in this process or on a Dask worker) and return its result dict
    (``name, scene, out_dir, overrides, status, metrics, seconds, cpu_seconds, attempts, resumed, worker,
    error``; seconds and cpu_seconds: wall-clock and this process's CPU time of the last attempt).

    The fit resumes from its checkpoint (``resume=True``) when an earlier attempt of the same job left
    it unfinished: a rescheduled attempt of this batch (same ``batch_id``, e.g. after its worker process
    was killed), or an interrupted earlier batch with the same fingerprint unless ``force``.
    Errors in the job's own input (INPUT_ERRORS) come back as ``status="failed"`` with the message;
    other exceptions propagate so that the scheduler can retry the job.
    runner: a callable with ``diffprog.fit.run_scene``'s signature (default: that function).
    inputs: the job's input hashes (``Job.inputs``) if the caller has them; hashed here otherwise.
    """
    runner = run_scene if runner is None else runner
    previous = read_record(job.out_dir) or {}
    inputs = job.inputs(previous.get("inputs")) if inputs is None else inputs
    fingerprint = job.fingerprint(inputs)
    same_job = previous.get("fingerprint") == fingerprint and previous.get("status") == "running"
    retry = same_job and previous.get("batch_id") == batch_id
    resume = retry or (same_job and not force)
    attempts = previous.get("attempts", 0) + 1 if retry else 1
    record = {"name": job.name, "scene": job.scene, "overrides": job.overrides, "fingerprint": fingerprint,
              "inputs": inputs, "status": "running", "batch_id": batch_id, "attempts": attempts, "resumed": resume,
              "worker": f"{socket.gethostname()}:{os.getpid()}", "started": time.time()}
    write_record(job.out_dir, record)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        metrics = runner(job.scene, out_dir=job.out_dir, overrides=dict(job.overrides) or None,
                         resume=resume, progress=False)
    except INPUT_ERRORS as error:
        record.update(status="failed", seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start,
                      error=_one_line(error),
                      traceback=traceback.format_exc())
        write_record(job.out_dir, record)
        return _result(job, record)
    record.update(status="done", seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start,
                  metrics=_plain(metrics),
                  outputs=_list_outputs(job.out_dir))
    write_record(job.out_dir, record)
    return _result(job, record)


def _result(job, record):
    keys = ("status", "metrics", "seconds", "cpu_seconds", "attempts", "resumed", "worker", "error", "traceback")
    return {"name": job.name, "scene": job.scene, "out_dir": job.out_dir, "overrides": dict(job.overrides),
            **{key: record.get(key) for key in keys}}


def _one_line(error):
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _plain(metrics):
    """Metrics as JSON-ready Python scalars (NumPy scalars become float/int)."""
    if not isinstance(metrics, dict):
        raise TypeError(f"run_scene must return a dict of metrics, got {type(metrics).__name__}")
    plain = {}
    for key, value in metrics.items():
        if hasattr(value, "item") and getattr(value, "shape", None) == ():
            value = value.item()
        plain[str(key)] = value
    return plain
