"""Connecting to Dask: an embedded LocalCluster, or an existing scheduler. Dask is imported only here,
and only when a batch asks for it, so that a single fit never imports it."""
import contextlib
import logging
import sys

MISSING_DASK = ("running jobs on Dask needs the optional 'scale' extra (dask[distributed]), which is not "
                "installed: pip install 'diffprog[scale]' -- or run the jobs one by one in this process "
                "with --workers 0")


# Dask settings for the embedded cluster, tuned for a few long CPU-bound jobs on few cores:
EMBEDDED_CLUSTER_SETTINGS = {
    # Dask sets MALLOC_TRIM_THRESHOLD_=65536 in its workers to hand memory back to the system early; a fit
    # allocates many short-lived NumPy temporaries and then takes about twice the CPU time (measured: 2.2 s
    # instead of 1.2 s for the same small fit), so keep glibc's default.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # The statistical profiler samples every worker thread's stack each 10 ms (for the dashboard's profile
    # page): 2.6% of a core per idle worker, and GIL contention with the job; jobs here last seconds to hours.
    "distributed.worker.profile.enabled": False,
    # Event-loop latency checks and resource monitors at a calmer pace (diagnostics only).
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class DaskMissingError(ImportError):
    """Raised when a Dask-backed batch is asked for and ``dask.distributed`` is not installed."""


def import_distributed():
    """Return the ``distributed`` module, or raise DaskMissingError saying how to install it."""
    try:
        import distributed
    except ImportError as error:
        raise DaskMissingError(MISSING_DASK) from error
    return distributed


# How the embedded cluster starts when worker processes die while it starts (out of memory, killed):
# the whole start is retried at full size, then with half as many workers each time, down to one.
START_ATTEMPTS_AT_FULL_SIZE = 2


def quiet_resource_tracker():
    """Keep multiprocessing's resource tracker from warning "There appear to be N leaked semaphore
    objects to clean up at shutdown" after a worker process was killed: the tracker cleans them up
    anyway, the warning only alarms. Effective when called before the tracker starts (it starts with the
    first worker process or the first multiprocessing lock, e.g. a progress bar's): it runs with this
    interpreter's ``-W`` options."""
    option = "ignore:resource_tracker:UserWarning"
    if option not in sys.warnoptions:
        sys.warnoptions.append(option)


def start_local_cluster(workers, notify=None, settings=None):
    """Start an embedded ``distributed.LocalCluster`` of ``workers`` processes (one thread each).

    A worker process that dies while the cluster starts (out of memory, killed) makes Dask give up on the
    whole start; the start is then retried, at full size ``START_ATTEMPTS_AT_FULL_SIZE`` times in all, then
    with half as many workers each time down to one, and ``notify(line)`` says so. Raises RuntimeError if
    not even one worker starts. ``settings``: a dict of Dask configuration for the cluster."""
    distributed = import_distributed()
    import dask
    sizes = [workers] * START_ATTEMPTS_AT_FULL_SIZE
    while sizes[-1] > 1:
        sizes.append(sizes[-1] // 2)
    errors = []
    for attempt, size in enumerate(sizes):
        try:
            with dask.config.set(settings or {}):
                cluster = distributed.LocalCluster(n_workers=size, threads_per_worker=1, processes=True,
                                                   dashboard_address=":0", silence_logs=logging.ERROR)
        except (RuntimeError, OSError, TimeoutError) as error:
            errors.append(" ".join(str(error).split()) or type(error).__name__)
            if attempt + 1 < len(sizes) and notify is not None:
                following = sizes[attempt + 1]
                notify(f"a Dask worker process died while the embedded cluster of {size} workers started "
                       f"({errors[-1]}); retrying with {following} worker{'s' if following > 1 else ''}")
            continue
        if size < workers and notify is not None:
            notify(f"the embedded Dask cluster started with {size} of the {workers} workers asked for")
        return cluster
    raise RuntimeError(f"the embedded Dask cluster did not start: worker processes died while it started "
                       f"({len(sizes)} attempts, down to 1 worker; last error: {errors[-1]}); check the memory "
                       f"available, or run the jobs one by one with --workers 0")


@contextlib.contextmanager
def connect(workers=None, scheduler=None, allowed_failures=3, notify=None):
    """Yield a ``distributed.Client``: to the scheduler at ``scheduler`` (e.g. ``"tcp://host:8786"``),
    or else to an embedded LocalCluster of ``workers`` processes with one thread each, closed on exit.

    allowed_failures: how many times a job may be running on a worker that dies before the scheduler
    gives up on it (Dask's ``distributed.scheduler.allowed-failures``; applies to the embedded cluster,
    an existing cluster keeps its own setting).
    notify: called with a line of text when worker processes die while the embedded cluster starts and
    the start is retried (see ``start_local_cluster``).
    """
    if scheduler is None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers must be a positive int when no scheduler is given, got {workers!r}")
    if scheduler is not None and workers is not None:
        raise ValueError(f"give either workers ({workers!r}) or scheduler ({scheduler!r}), not both")
    distributed = import_distributed()
    if scheduler is not None:
        with distributed.Client(scheduler, timeout="30s") as client:
            yield client
        return
    quiet_resource_tracker()
    settings = {"distributed.scheduler.allowed-failures": int(allowed_failures), **EMBEDDED_CLUSTER_SETTINGS}
    cluster = start_local_cluster(workers, notify, settings)
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


@contextlib.contextmanager
def joblib_on_dask(workers=None, scheduler=None):
    """Within the block, ``joblib.Parallel`` work -- what an estimator with ``n_jobs`` runs in parallel,
    e.g. cross-validation folds -- runs on Dask: an existing scheduler, or an embedded LocalCluster of
    ``workers`` processes (default: one per CPU core). Yields the ``distributed.Client``. Equivalent to
    ``with Client(...): with joblib.parallel_backend("dask"): ...`` (scikit-learn's convention)."""
    try:
        import joblib
    except ImportError as error:
        raise ImportError("joblib_on_dask needs joblib (pip install joblib)") from error
    if scheduler is None and workers is None:
        import os
        workers = os.cpu_count() or 1
    with connect(workers=workers, scheduler=scheduler) as client:
        with joblib.parallel_backend("dask"):
            yield client
