"""Parameter sweeps: one scene expanded into a job per point of a grid of overrides on dotted keys,
e.g. ``render.sigma=[1e-4,3e-5]`` x ``loss.laplacian=[0.5,1,2]`` -> 6 jobs."""
import itertools
import re
import tomllib
from pathlib import Path

from .jobs import Job, expand_scene_paths

_DOTTED_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


def parse_grid(specs):
    """Parse ``--grid`` strings ``"dotted.key=[v1, v2, ...]"`` (values in TOML syntax: numbers, strings in
    quotes, true/false, arrays; a single value without brackets is a one-point axis) into an ordered dict
    ``{"dotted.key": [v1, v2, ...]}``. Raises ValueError naming the bad spec."""
    if isinstance(specs, str):
        specs = [specs]
    grid = {}
    for spec in specs:
        if not isinstance(spec, str) or "=" not in spec:
            raise ValueError(f"--grid {spec!r}: expected 'dotted.key=[value, ...]', e.g. 'render.sigma=[1e-4,3e-5]'")
        key, text = (part.strip() for part in spec.split("=", 1))
        if not _DOTTED_KEY.fullmatch(key):
            raise ValueError(f"--grid {spec!r}: {key!r} is not a dotted scene key like 'loss.laplacian'")
        if key in grid:
            raise ValueError(f"--grid {spec!r}: key {key!r} is given twice")
        try:
            values = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"--grid {spec!r}: cannot read {text!r} as a TOML value or array ({error}); "
                             "write strings in quotes, e.g. optimizer.name=[\"adam\", \"sgd\"]") from None
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ValueError(f"--grid {spec!r}: the list of values is empty")
        grid[key] = values
    if not grid:
        raise ValueError("a sweep needs at least one --grid 'dotted.key=[value, ...]'")
    return grid


def expand_grid(grid):
    """Every point of ``grid`` (dict key -> list of values) as a dict of overrides; the first key varies
    slowest (``itertools.product`` order)."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[key] for key in keys))]


def sweep_jobs(scene, grid, out_root, overrides=None):
    """One Job per point of ``grid`` over the scene file ``scene``, writing to ``out_root/<point name>``
    (e.g. ``sigma=0.0001,laplacian=0.5``: last key components when they are distinct, else whole keys).
    ``overrides`` (dotted key -> value) apply to every job; a grid key wins over the same key there."""
    scenes = expand_scene_paths([scene])
    if len(scenes) != 1:
        raise ValueError(f"a sweep takes one scene file, but {str(scene)!r} names {len(scenes)} scene files")
    grid = parse_grid(grid) if not isinstance(grid, dict) else grid
    short = [key.rsplit(".", 1)[-1] for key in grid]
    labels = short if len(set(short)) == len(short) else list(grid)
    jobs = []
    for point in expand_grid(grid):
        name = ",".join(f"{label}={_format_value(value)}" for label, value in zip(labels, point.values()))
        name = _UNSAFE.sub("_", name)
        jobs.append(Job(name=name, scene=str(scenes[0]), out_dir=str(Path(out_root) / name),
                        overrides={**(overrides or {}), **point}))
    return jobs


def _format_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(_format_value(item) for item in value) + "]"
    return str(value)
