"""Run many jobs: one by one in this process, or on Dask (an embedded LocalCluster or an existing
scheduler), with one progress bar, a per-job log, skipping of finished jobs and fault tolerance.

Fault tolerance, in two kinds:
- the job's worker process dies (killed, out of memory): the scheduler reschedules the job on another
  worker (up to ``allowed_failures`` deaths), and the new attempt resumes from the fit's last checkpoint;
  an exception other than a bad-input error is retried ``retries`` times, also resuming;
- the job fails on its own (bad scene file: ValueError, TypeError, FileNotFoundError...): it is reported
  at once with its error and every other job still runs.
"""
import datetime
import os
import sys
import time
import uuid
from pathlib import Path

from .jobs import Job, is_finished, read_record, rerun_reason, run_job


def run_jobs(jobs, workers=None, scheduler=None, force=False, progress=True, log_path=None, retries=1,
             allowed_failures=3, timeout=None, runner=None, client=None):
    """Run ``jobs`` (a list of Job) and return one result dict per job, in the same order
    (``name, scene, out_dir, overrides, status ("done" | "skipped" | "failed"), metrics, seconds,
    cpu_seconds, attempts, resumed, worker, error, traceback, reason``; reason: why a job ran again although
    its output directory held an earlier run, e.g. ``"re-run: 3 photographs changed"``, else None).

    workers: 0 runs the jobs one by one in this process (Dask is not imported); N >= 1 starts an embedded
        LocalCluster of N processes with one thread each; None (default) means one by one for a single job
        to run and a LocalCluster of ``min(jobs to run, CPU count)`` workers for several.
    scheduler: address of an existing Dask scheduler (``"tcp://host:8786"``) to submit the jobs to instead;
        its workers must import the same diffprog and see the same paths (a shared file system).
    force: run finished jobs again (by default a job whose output directory holds a finished run of the
        same overrides and input files -- scene, transforms.json, photographs, meshes, compared by content --
        is skipped and reported with its recorded metrics).
    log_path: file to append the per-job log to (start, end, metrics, errors with tracebacks).
    retries: how many times a job that raised an error other than a bad-input error is run again (resuming).
    allowed_failures: how many worker deaths a job may suffer on the embedded cluster before it fails.
    timeout: seconds to wait for the whole batch before raising TimeoutError (None: no limit).
    runner: callable with ``diffprog.fit.run_scene``'s signature (default: that function).
    client: a ``distributed.Client`` to run the jobs with (e.g. one kept open across batches, or one
        from ``connect``); it is left open. Overrides ``workers`` and ``scheduler``.
    """
    jobs = _check_jobs(jobs)
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 0):
        raise ValueError(f"workers must be an int >= 0 or None, got {workers!r}")
    if scheduler is not None and workers is not None:
        raise ValueError(f"give either workers ({workers!r}) or scheduler ({scheduler!r}), not both")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    log = _BatchLog(log_path)
    batch_id = uuid.uuid4().hex
    results, inputs, reasons = {}, {}, {}
    for job in jobs:
        record = read_record(job.out_dir)
        inputs[job.name] = job.inputs((record or {}).get("inputs"))
        if not force and is_finished(job, record, job.fingerprint(inputs[job.name])):
            results[job.name] = _skipped(job, record)
            log.write(f"{job.name}: skipped, finished earlier in {job.out_dir} (--force runs it again)")
        else:
            reasons[job.name] = rerun_reason(job, record, inputs[job.name], force)
            if reasons[job.name]:
                log.write(f"{job.name}: {reasons[job.name]}")
    to_run = [job for job in jobs if job.name not in results]
    log.write(f"batch {batch_id[:8]}: {len(jobs)} jobs, {len(to_run)} to run, {len(results)} skipped")
    in_process = client is None and scheduler is None and (workers == 0 or (workers is None and len(to_run) <= 1))
    if in_process or not to_run:  # nothing to run needs no cluster
        outcomes = _run_serially(to_run, batch_id, force, runner, log, retries, inputs)
    else:
        if client is None and scheduler is None and workers is None:
            workers = min(len(to_run), os.cpu_count() or 1)
        if client is None and scheduler is None:
            from .cluster import quiet_resource_tracker
            quiet_resource_tracker()            # before the progress bar's lock starts the tracker
        outcomes = _run_on_dask(to_run, batch_id, force, runner, log, client, workers, scheduler, retries,
                                allowed_failures, timeout, inputs)
    bar = _progress_bar(len(jobs), len(results), progress)
    try:
        for result in outcomes:
            result["reason"] = reasons.get(result["name"])
            results[result["name"]] = result
            _log_result(log, result)
            bar.update(1)
            failures = sum(result["status"] == "failed" for result in results.values())
            if failures:
                bar.set_postfix(failed=failures)
    finally:
        outcomes.close()  # a generator: closing it shuts the cluster down even when the loop was interrupted
        bar.close()
        log.close()
    return [results[job.name] for job in jobs]


def failed_jobs(results):
    """The results whose status is "failed"."""
    return [result for result in results if result["status"] == "failed"]


def _run_serially(jobs, batch_id, force, runner, log, retries, inputs):
    for job in jobs:
        log.write(f"{job.name}: started in this process ({job.scene} -> {job.out_dir})")
        for attempt in range(retries + 1):
            try:
                result = run_job(job, batch_id, force, runner, inputs[job.name])
                break
            except Exception as error:  # one job's crash must not stop the others; reported with its traceback
                result = _failed(job, error, _traceback_text(error))
                if attempt < retries:
                    log.write(f"{job.name}: attempt {attempt + 1} raised {result['error']}; retrying")
        yield result


def _run_on_dask(jobs, batch_id, force, runner, log, client, workers, scheduler, retries, allowed_failures,
                 timeout, inputs):
    if client is not None:
        log.write(f"using the given Dask client of {client.scheduler.address}")
        yield from _submit_and_collect(client, jobs, batch_id, force, runner, log, retries, timeout, inputs)
        return
    from .cluster import connect
    start = time.perf_counter()
    def notify(line):
        log.write(line)
        print(f"diffprog: {line}", file=sys.stderr, flush=True)

    with connect(workers=workers, scheduler=scheduler, allowed_failures=allowed_failures, notify=notify) as client:
        where = scheduler or f"embedded LocalCluster of {workers} worker processes"
        dashboard = client.scheduler_info().get("services", {}).get("dashboard")
        log.write(f"connected to {where} in {time.perf_counter() - start:.1f} s"
                  + (f", dashboard {client.dashboard_link}" if dashboard else ""))
        yield from _submit_and_collect(client, jobs, batch_id, force, runner, log, retries, timeout, inputs)


def _submit_and_collect(client, jobs, batch_id, force, runner, log, retries, timeout, inputs):
    from .cluster import import_distributed
    distributed = import_distributed()
    futures = {}
    for job in jobs:
        future = client.submit(run_job, job, batch_id, force, runner, inputs[job.name],
                               key=f"{job.name}-{batch_id[:8]}",
                               pure=False, retries=retries)
        futures[future] = job
        log.write(f"{job.name}: submitted ({job.scene} -> {job.out_dir})")
    pending = set(futures)
    try:
        for future in distributed.as_completed(futures, timeout=timeout):
            pending.discard(future)
            try:
                yield future.result()
            except Exception as error:
                yield _failed(futures[future], error, _traceback_text(error, future.traceback()))
    except TimeoutError as error:
        names = ", ".join(sorted(futures[future].name for future in pending))
        raise TimeoutError(f"batch did not finish within timeout={timeout} s; unfinished jobs: {names}") from error
    finally:
        if pending:
            client.cancel(list(pending))  # interrupted or timed out: do not leave jobs running on a shared cluster


def _check_jobs(jobs):
    jobs = list(jobs)
    for index, job in enumerate(jobs):
        if not isinstance(job, Job):
            raise TypeError(f"jobs[{index}] must be a diffprog.scale.Job, got {type(job).__name__}")
    for attribute in ("name", "out_dir"):
        values = [os.path.abspath(getattr(job, attribute)) if attribute == "out_dir" else getattr(job, attribute)
                  for job in jobs]
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            raise ValueError(f"jobs must have distinct {attribute}s, got {', '.join(map(str, duplicates))} "
                             "more than once")
    return jobs


def _skipped(job, record):
    keys = ("metrics", "seconds", "cpu_seconds", "attempts", "resumed", "worker")
    return {"name": job.name, "scene": job.scene, "out_dir": job.out_dir, "overrides": dict(job.overrides),
            "status": "skipped", **{key: record.get(key) for key in keys}, "error": None, "traceback": None,
            "reason": None}


def _failed(job, error, traceback_text):
    message = " ".join(str(error).split())
    keys = ("metrics", "seconds", "cpu_seconds", "attempts", "resumed", "worker")
    return {"name": job.name, "scene": job.scene, "out_dir": job.out_dir, "overrides": dict(job.overrides),
            "status": "failed", **dict.fromkeys(keys), "traceback": traceback_text,
            "error": f"{type(error).__name__}: {message}" if message else type(error).__name__}


def _traceback_text(error, frames=None):
    import traceback
    frames = error.__traceback__ if frames is None else frames
    return "".join(traceback.format_exception(type(error), error, frames))


def _log_result(log, result):
    name = result["name"]
    if result["status"] == "failed":
        log.write(f"{name}: FAILED: {result['error']}\n{(result.get('traceback') or '').rstrip()}")
    elif result["status"] == "done":
        metrics = ", ".join(f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value}"
                            for key, value in (result.get("metrics") or {}).items())
        resumed = ", resumed from checkpoint" if result.get("resumed") else ""
        log.write(f"{name}: done in {result['seconds']:.1f} s on {result['worker']} "
                  f"(attempt {result['attempts']}{resumed}): {metrics}")


def _progress_bar(total, skipped, enabled):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=skipped, unit="job", desc="jobs", disable=not enabled, dynamic_ncols=True)


class _BatchLog:
    """Append timestamped lines to the batch log file (nothing if no path)."""

    def __init__(self, path):
        self.handle = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(path, "a", encoding="utf-8")

    def write(self, line):
        if self.handle is not None:
            stamp = datetime.datetime.now().isoformat(timespec="seconds")
            self.handle.write(f"{stamp} {line}\n")
            self.handle.flush()

    def close(self):
        if self.handle is not None:
            self.handle.close()
