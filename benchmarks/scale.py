"""Benchmark: eight small fits one by one in one process versus on a 2-worker Dask LocalCluster.

    python benchmarks/scale.py                                # 8 fits of SCENE, serial vs 2 workers
    python benchmarks/scale.py --scheduler tcp://host:8786    # the same jobs on an existing cluster

Reports the wall-clock time of each way (median of --repeats), the speed-up (target >= 1.7x on 2 cores),
the cluster's start-up time, and the scheduler's overhead per job, measured two ways: (a) jobs that do
nothing, run through the same machinery (submission, records, result transfer), wall time x workers / jobs;
(b) in the fit batch, worker time not spent inside ``run_scene``: (wall x workers - sum of fit times) / jobs.
Each job is a distinct fit (a different ``schedule.seed``), so none is skipped; every run uses --force.
"""
import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from diffprog import scale  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "scenes" / "horseshoe_tiny.toml"


def do_nothing(scene_path, out_dir=None, overrides=None, resume=False, progress=True):
    """A job that does no work: what is left of its time is the machinery's."""
    return {"nothing": 0.0}


def spin(seconds):
    """Busy-loop for ``seconds`` of wall-clock time; return the CPU time this process got meanwhile."""
    start, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        pass
    return time.process_time() - cpu


def parallel_capacity(seconds=2.0):
    """CPU time two busy processes get together, over what one gets alone, in the same wall time:
    about 2 on two free cores, about 1 when this session's share of the machine is one core or less
    (other users' work; Linux's per-session autogroup scheduling)."""
    import multiprocessing
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.map(spin, [0.1, 0.1])                      # start-up outside the measurement
        one = pool.apply(spin, (seconds,))
        two = sum(pool.map(spin, [seconds, seconds]))
    return two / one


def warm_up(scene, out_dir):
    """One 1-iteration fit, so that this process has imported what a fit needs (trimesh, matplotlib...)."""
    from diffprog.fit import run_scene
    run_scene(scene, out_dir=out_dir, overrides={"schedule.iterations": 1}, progress=False)
    return os.getpid()


def make_jobs(scene, count, out_root, overrides):
    grid = {"schedule.seed": list(range(count))}
    return scale.sweep_jobs(scene, grid, out_root, overrides=overrides)


def timed(function):
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", default=str(SCENE), help="scene file of the small fit (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=8, help="number of fits (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default: %(default)s)")
    parser.add_argument("--scheduler", default=None, help="existing Dask scheduler instead of a LocalCluster")
    parser.add_argument("--iterations", type=int, default=None, help="override schedule.iterations")
    parser.add_argument("--image-size", type=int, default=None, help="override render.image_size")
    parser.add_argument("--repeats", type=int, default=1, help="repeats of each way; medians reported")
    parser.add_argument("--no-op-jobs", type=int, default=64, help="jobs that do nothing, for the overhead")
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    overrides = {}
    if args.iterations is not None:
        overrides["schedule.iterations"] = args.iterations
    if args.image_size is not None:
        overrides["render.image_size"] = args.image_size
    work = Path(tempfile.mkdtemp(prefix="diffprog-scale-bench-"))
    serial_jobs = make_jobs(args.scene, args.jobs, work / "serial", overrides)
    dask_jobs = make_jobs(args.scene, args.jobs, work / "dask", overrides)
    noop_jobs = make_jobs(args.scene, args.no_op_jobs, work / "noop", {})

    load_before = os.getloadavg()[0]
    capacity_before = parallel_capacity()
    warm_up(args.scene, work / "warm-up" / "serial")
    serial_times, dask_times, fit_seconds, serial_cpu, worker_cpu = [], [], [], [], []
    for _ in range(args.repeats):
        seconds, serial = timed(lambda: scale.run_jobs(serial_jobs, workers=0, force=True, progress=False))
        _check(serial)
        serial_times.append(seconds)
        serial_cpu.append(sum(result["cpu_seconds"] for result in serial) / args.jobs)
    start_seconds, connection = timed(lambda: _enter(scale.connect(
        workers=None if args.scheduler else args.workers, scheduler=args.scheduler)))
    context, client = connection
    try:
        workers = len(client.scheduler_info()["workers"])
        warm_seconds, _ = timed(lambda: client.run(
            lambda: warm_up(args.scene, work / "warm-up" / f"worker-{os.getpid()}")))
        for _ in range(args.repeats):
            seconds, parallel = timed(lambda: scale.run_jobs(dask_jobs, client=client, force=True, progress=False))
            _check(parallel)
            dask_times.append(seconds)
            fit_seconds.append(sum(result["seconds"] for result in parallel))
            worker_cpu.append(sum(result["cpu_seconds"] for result in parallel) / args.jobs)
        noop_seconds, _ = timed(lambda: scale.run_jobs(noop_jobs, client=client, force=True, progress=False,
                                                       runner=do_nothing))
    finally:
        context.__exit__(None, None, None)

    capacity_after = parallel_capacity()
    same = all(_quality(a["metrics"]) == _quality(b["metrics"]) for a, b in zip(serial, parallel))
    serial_wall, dask_wall = statistics.median(serial_times), statistics.median(dask_times)
    overhead_noop = noop_seconds * workers / args.no_op_jobs
    overhead_fit = (dask_wall * workers - statistics.median(fit_seconds)) / args.jobs
    startup = start_seconds + warm_seconds
    serial_cpu_job, worker_cpu_job = statistics.median(serial_cpu), statistics.median(worker_cpu)
    projected = workers * serial_cpu_job / (worker_cpu_job + overhead_noop)
    capacity = (capacity_before + capacity_after) / 2
    import dask
    import distributed
    where = args.scheduler or f"LocalCluster, {workers} worker processes x 1 thread"
    lines = [
        f"## Scale: {args.jobs} small fits, one by one vs Dask ({where}) (benchmarks/scale.py, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Command: `python benchmarks/scale.py {' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip(),
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, dask {dask.__version__}, distributed {distributed.__version__}; "
        f"scene {Path(args.scene).name}, overrides {overrides or 'none'}; wall-clock seconds, median of {args.repeats}; "
        f"1-minute load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after (other work on the machine).",
        "",
        "| way | wall (s) | per job (s) | speed-up |",
        "|---|---|---|---|",
        f"| one by one, 1 process | {serial_wall:.2f} | {serial_wall / args.jobs:.2f} | 1.00x |",
        f"| Dask, {workers} workers (cluster already up) | {dask_wall:.2f} | {dask_wall / args.jobs:.2f} | "
        f"{serial_wall / dask_wall:.2f}x |",
        f"| Dask, {workers} workers, including cluster start-up | {dask_wall + startup:.2f} | "
        f"{(dask_wall + startup) / args.jobs:.2f} | {serial_wall / (dask_wall + startup):.2f}x |",
        "",
        f"Cluster start-up {start_seconds:.2f} s, then {warm_seconds:.2f} s for the workers' first imports (a "
        f"1-iteration fit each; the one-by-one process was warmed the same way before timing). Scheduler overhead per job: {overhead_noop * 1e3:.1f} ms "
        f"({args.no_op_jobs} jobs that do nothing), {overhead_fit * 1e3:.0f} ms of worker time outside the fit "
        f"in the fit batch (includes idle time at the end when {args.jobs} jobs do not divide evenly). "
        f"Metrics identical to the one-by-one run (all but the timings): {'yes' if same else 'NO'}.",
        "",
        f"CPU time per fit: {serial_cpu_job:.2f} s one by one, {worker_cpu_job:.2f} s on a worker (the whole worker "
        f"process, Dask's own threads included). Parallel capacity of this machine for this session while "
        f"measuring: two busy processes got {capacity_before:.2f}x / {capacity_after:.2f}x the CPU time of one "
        f"(before / after; 2.00x = two free cores). Speed-up measured {serial_wall / dask_wall:.2f}x; "
        f"projected for {workers} free cores from the CPU times and the per-job overhead: "
        f"{workers} x {serial_cpu_job:.2f} / ({worker_cpu_job:.2f} + {overhead_noop:.3f}) = {projected:.2f}x. "
        f"Target >= 1.7x: measured {'met' if serial_wall / dask_wall >= 1.7 else 'NOT met'}"
        + (f" (on this shared machine two processes got only {capacity:.2f}x the CPU time of one)"
           if capacity < 1.8 else "")
        + f", projected {'met' if projected >= 1.7 else 'NOT met'}.",
        "",
        "The same command on a multi-machine cluster: start `dask scheduler` on one machine (it listens on "
        "tcp://HOST:8786) and `dask worker tcp://HOST:8786 --nworkers N --nthreads 1` on each machine, all with "
        "the same diffprog installed and the scenes and output folders on a shared file system at the same "
        "paths; then `python benchmarks/scale.py --scheduler tcp://HOST:8786` (or `diffprog fit scenes/*.toml "
        "--scheduler tcp://HOST:8786 --out /shared/out/batch`). The embedded cluster's tuning for CPU-bound "
        "fits (glibc's default memory trimming, no statistical profiler) goes in the workers' Dask config, "
        "e.g. `~/.config/dask/diffprog.yaml`: `distributed: {nanny: {pre-spawn-environ: "
        "{MALLOC_TRIM_THRESHOLD_: null}}, worker: {profile: {enabled: false}}}`.",
    ]
    print("\n".join(lines))
    if args.append:
        with open(ROOT / "benchmarks" / "RESULTS.md", "a", encoding="utf-8") as handle:
            handle.write("\n" + "\n".join(lines) + "\n")
    return 0 if same else 1


def _quality(metrics):
    """The metrics but the timings, which differ from run to run."""
    return {key: value for key, value in metrics.items() if not key.endswith("seconds")}


def _enter(context):
    return context, context.__enter__()


def _check(results):
    failed = scale.failed_jobs(results)
    if failed:
        raise SystemExit(f"benchmark jobs failed: {failed[0]['name']}: {failed[0]['error']}")


if __name__ == "__main__":
    sys.exit(main())
