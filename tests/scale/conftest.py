"""Fixtures for the batch tests: tiny scene files and the fit function the jobs call."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # Dask worker processes inherit sys.path: they import these helpers

from stand_in_fit import stand_in_run_scene  # noqa: E402

SCENE = """[fit]
seed = {seed}
iterations = {iterations}
step = 0.1
seconds_per_iteration = {pause}
"""


@pytest.fixture
def runner():
    """The fit function the jobs call (``run_scene``'s signature)."""
    return stand_in_run_scene


@pytest.fixture
def make_scenes(tmp_path):
    """make_scenes(n, iterations=..., pause=...) -> folder with scene files s1.toml ... sn.toml (seeds 1..n)."""
    def make(n, iterations=20, pause=0.02, folder="scenes"):
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        for index in range(1, n + 1):
            (root / f"s{index}.toml").write_text(SCENE.format(seed=index, iterations=iterations, pause=pause))
        return root
    return make
