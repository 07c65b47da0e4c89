"""Fixtures for the batch tests: tiny real scene files (the bundled horseshoe at 16x16, a few iterations)."""
import json
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # Dask worker processes inherit sys.path: they import these helpers

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


@pytest.fixture(scope="session")
def make_scenes(tmp_path_factory):
    """make_scenes(n, overrides=None) -> a new folder with tiny scene files s1.toml ... sn.toml
    (``schedule.seed`` 1..n, then ``overrides``)."""
    def make(n, overrides=None):
        root = tmp_path_factory.mktemp("scenes")
        for index in range(1, n + 1):
            write_scene(root / f"s{index}.toml", {**TINY, "schedule.seed": index, **(overrides or {})})
        return root
    return make


@pytest.fixture(scope="session")
def baseline(make_scenes, tmp_path_factory):
    """Three tiny scenes (long enough to kill a worker mid-fit) and their results run one by one."""
    from diffprog import scale
    folder = make_scenes(3, {"schedule.iterations": 60})
    results = scale.run_jobs(scale.jobs_from_scenes([folder], tmp_path_factory.mktemp("serial")), workers=0,
                             progress=False)
    assert [result["status"] for result in results] == ["done"] * 3, results
    return folder, results


@pytest.fixture(scope="session")
def client():
    """A 2-worker Dask LocalCluster (processes, one thread each) shared by the tests of a session."""
    pytest.importorskip("distributed", reason="the Dask tests need the 'scale' extra (dask[distributed])")
    from diffprog import scale
    with scale.connect(workers=2) as client:
        yield client
