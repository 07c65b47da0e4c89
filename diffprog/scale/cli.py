"""Command-line glue for batches and sweeps, called by ``diffprog/cli.py``:

- ``add_batch_arguments(parser)`` adds ``--workers --scheduler --force`` to the ``fit`` command, and
  ``run_batch(args)`` runs ``diffprog fit a.toml b.toml ...`` (files, folders, globs) as a batch;
- ``add_sweep_parser(subparsers)`` adds ``diffprog sweep scene.toml --grid key=[...] ...``.

Importing this module does not import Dask; a batch imports it only when it runs jobs on it.
"""
import glob
import sys
from pathlib import Path

from diffprog.fit.outputs import check_output_folder

from .batch import failed_jobs, run_jobs
from .cluster import DaskMissingError
from .jobs import jobs_from_scenes
from .summary import format_table, metric_order, rank_results, write_summary
from .sweep import sweep_jobs

DEFAULT_BATCH_ROOT = Path("out", "batch")
# ``diffprog fit`` options that every job of a batch shares, and the scene keys they override.
FIT_OPTION_KEYS = {"seed": "schedule.seed", "iterations": "schedule.iterations", "image_size": "render.image_size"}


def add_batch_arguments(parser):
    """Add the batch options (``--workers``, ``--scheduler``, ``--force``, ``--timeout``) to the ``fit`` parser."""
    group = parser.add_argument_group("several scenes (Dask)")
    group.add_argument("--workers", type=_non_negative_int, default=None, metavar="N",
                       help="run the jobs on an embedded Dask LocalCluster of N processes (one thread each); "
                            "0 runs them one by one in this process (default with several scenes: one worker "
                            "per CPU core, at most one per job)")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="submit the jobs to an existing Dask scheduler, e.g. tcp://host:8786 (workers "
                            "need diffprog installed and the same paths, e.g. a shared file system)")
    group.add_argument("--force", action="store_true",
                       help="run jobs again even if their output directory holds a finished run; with --resume, "
                            "start over if the input files changed since the checkpoint")
    group.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="give up on the jobs still unfinished after SECONDS (on Dask; default: no limit)")
    return parser


def is_batch(args):
    """True if ``args`` of ``diffprog fit`` ask for a batch: several scenes, a folder, a glob, or a
    Dask option. A single scene file without Dask options is a plain fit."""
    scenes = _scene_arguments(args)
    if len(scenes) != 1 or getattr(args, "workers", None) is not None or getattr(args, "scheduler", None):
        return True
    scene = str(scenes[0])
    return Path(scene).is_dir() or (not Path(scene).exists() and glob.has_magic(scene))


def run_batch(args):
    """Run ``diffprog fit`` over several scenes; print the summary table; return the exit status
    (0 if every job finished, 1 naming the failed jobs, 2 for a usage error)."""
    try:
        out_root = Path(args.out) if getattr(args, "out", None) else DEFAULT_BATCH_ROOT
        jobs = jobs_from_scenes(_scene_arguments(args), out_root, overrides=fit_overrides(args))
        check_output_folder(out_root)
    except (FileNotFoundError, ValueError) as error:
        print(f"diffprog fit: error: {error}", file=sys.stderr)
        return 2
    return run_and_report("fit", jobs, out_root, workers=args.workers, scheduler=args.scheduler, force=args.force,
                          progress=not getattr(args, "quiet", False), timeout=args.timeout)


def add_sweep_parser(subparsers):
    """Add ``diffprog sweep`` to the CLI's subparsers and return its parser."""
    parser = subparsers.add_parser(
        "sweep", help="fit one scene over a grid of parameter values and rank the results",
        description="Expand a scene into one fit per point of a parameter grid (overrides on dotted scene "
                    "keys), run them like a batch of fits, and rank them by a metric.")
    parser.add_argument("scene", help="scene file (.toml)")
    parser.add_argument("--grid", action="append", required=True, metavar="KEY=[V1,V2,...]",
                        help="a dotted scene key and its values in TOML syntax, e.g. 'render.sigma=[1e-4,3e-5]'; "
                             "repeat for more axes (the grid is their product)")
    parser.add_argument("--rank-by", default=None, metavar="METRIC",
                        help="metric to rank the jobs by (default: the first metric the jobs report)")
    parser.add_argument("--order", choices=("min", "max"), default=None,
                        help="whether lower or higher METRIC is better (default from its name: iou, psnr, "
                             "accuracy... higher; losses, errors, distances lower)")
    parser.add_argument("--out", default=None,
                        help="folder for the jobs' output directories, summary.csv and batch.log (default out/<scene>-sweep)")
    parser.add_argument("--seed", type=int, default=None, help="override the scene's seed in every job")
    parser.add_argument("--iterations", type=int, default=None, help="override the scene's iterations in every job")
    parser.add_argument("--image-size", type=int, default=None, help="override the scene's image size in every job")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override any scene key in every job, e.g. --set schedule.iterations=200 (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_batch_arguments(parser)
    parser.set_defaults(run=run_sweep)
    return parser


def run_sweep(args):
    """Run ``diffprog sweep``; print the ranked summary; return the exit status as ``run_batch``."""
    try:
        out_root = Path(args.out) if args.out else Path("out", f"{Path(args.scene).stem}-sweep")
        jobs = sweep_jobs(args.scene, args.grid, out_root, overrides=fit_overrides(args))
        check_scenes(jobs)
        check_output_folder(out_root)
    except (FileNotFoundError, ValueError) as error:
        print(f"diffprog sweep: error: {error}", file=sys.stderr)
        return 2
    return run_and_report("sweep", jobs, out_root, workers=args.workers, scheduler=args.scheduler, force=args.force,
                          rank=True, rank_by=args.rank_by, order=args.order, progress=not args.quiet,
                          timeout=args.timeout)


def check_scenes(jobs):
    """Parse every job's scene with its overrides (``diffprog.fit.load_scene``) so that a misspelt grid key
    or an out-of-range value stops a sweep before it starts, with the scene parser's one-line message."""
    from diffprog.fit.scene import load_scene
    for job in jobs:
        load_scene(job.scene, job.overrides)


def fit_overrides(args):
    """Scene overrides from the fit options every job shares: ``--set KEY=VALUE`` (repeatable), then
    ``--seed``, ``--iterations``, ``--image-size``. Raises SceneError (a ValueError) for a bad ``--set``."""
    from diffprog.io.config import parse_override
    overrides = dict(parse_override(text) for text in getattr(args, "set", None) or [])
    overrides.update({key: getattr(args, attribute) for attribute, key in FIT_OPTION_KEYS.items()
                      if getattr(args, attribute, None) is not None})
    return overrides


def run_and_report(command, jobs, out_root, workers=None, scheduler=None, force=False, rank=False, rank_by=None,
                   order=None, progress=True, timeout=None, runner=None):
    """Run ``jobs`` (see ``run_jobs``), write ``summary.csv`` and ``batch.log`` under ``out_root``, print
    the summary table (ranked by ``rank_by``, default the first metric reported, if ``rank``) and return
    the exit status: 0 if every job finished, 1 if some failed (named on stderr), 2 if Dask is missing."""
    out_root = Path(out_root)
    log_path = out_root / "batch.log"
    try:
        results = run_jobs(jobs, workers=workers, scheduler=scheduler, force=force, progress=progress,
                           log_path=log_path, timeout=timeout, runner=runner)
    except (DaskMissingError, ValueError) as error:
        print(f"diffprog {command}: error: {error}", file=sys.stderr)
        return 2
    except TimeoutError as error:
        print(f"diffprog {command}: {error}; re-run the same command to resume them", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ndiffprog {command}: interrupted; finished jobs are kept and unfinished ones resume from their "
              f"checkpoints when the same command runs again (log: {log_path})", file=sys.stderr)
        return 130
    ranked, status = rank, 0
    heading = f"{len(results)} jobs"
    if ranked:
        metrics = [key for result in results for key in (result.get("metrics") or {})]
        rank_by = rank_by or (metrics[0] if metrics else None)
        if rank_by is not None:
            try:
                results = rank_results(results, rank_by, order)
            except ValueError as error:
                print(f"diffprog {command}: error: {error}", file=sys.stderr)
                ranked, status = False, 2
            else:
                better = "higher" if (order or metric_order(rank_by)) == "max" else "lower"
                heading += f", ranked by {rank_by} ({better} is better)"
    summary_path = out_root / "summary.csv"
    write_summary(summary_path, results, ranked=ranked)
    print(heading)
    print(format_table(results, ranked=ranked))
    print(f"summary: {summary_path}\nlog: {log_path}")
    failed = failed_jobs(results)
    if failed:
        names = "; ".join(f"{result['name']} ({result['scene']}): {result['error']}" for result in failed)
        print(f"diffprog {command}: {len(failed)} of {len(results)} jobs failed: {names}", file=sys.stderr)
        return 1
    return status


def _scene_arguments(args):
    scenes = getattr(args, "scenes", None)
    if scenes is None:
        scenes = getattr(args, "scene", None)
    return [scenes] if isinstance(scenes, str) else list(scenes or [])


def _non_negative_int(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of workers >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of workers >= 0, got {text!r}")
    return value
