"""Fixtures for the batch tests: tiny real scene files (the bundled horseshoe at 16x16, a few iterations)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # Dask worker processes inherit sys.path: they import scale_helpers

from scale_helpers import TINY, write_scene  # noqa: E402


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
