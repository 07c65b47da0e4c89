"""Many fits and parameter sweeps, one by one or on Dask (``dask.distributed``).

    >>> from diffprog import scale
    >>> jobs = scale.jobs_from_scenes(["scenes/"], out_root="out/batch")
    >>> results = scale.run_jobs(jobs, workers=2)              # embedded LocalCluster, 2 processes
    >>> scale.write_summary("out/batch/summary.csv", results)

Dask is optional (the ``scale`` extra) and is imported only when jobs actually run on it.
"""
from .jobs import Job, expand_scene_paths, jobs_from_scenes, is_finished, run_job
from .batch import run_jobs, failed_jobs
from .sweep import parse_grid, expand_grid, sweep_jobs
from .summary import rank_results, write_summary, format_table, metric_order
from .cluster import connect, joblib_on_dask, DaskMissingError
