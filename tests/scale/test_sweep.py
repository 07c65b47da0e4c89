"""A 2x3 sweep: six jobs on a 2-worker LocalCluster and a summary ranked by the chosen metric."""
import csv

import pytest

from diffprog import scale
from diffprog.scale.cli import run_and_report

pytest.importorskip("distributed", reason="the Dask tests need the 'scale' extra (dask[distributed])")


def test_two_by_three_sweep_is_six_ranked_jobs(make_scenes, tmp_path, runner, capsys):
    scene = make_scenes(1, pause=0.0) / "s1.toml"
    jobs = scale.sweep_jobs(scene, ["fit.step=[0.1, 0.02]", "fit.iterations=[2, 5, 10]"], tmp_path / "sweep")
    assert len(jobs) == 6
    status = run_and_report("sweep", jobs, tmp_path / "sweep", workers=2, rank=True, rank_by="loss",
                            progress=False, runner=runner)
    assert status == 0
    rows = list(csv.DictReader(open(tmp_path / "sweep" / "summary.csv")))
    assert [row["rank"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    losses = [float(row["loss"]) for row in rows]
    assert losses == sorted(losses)                         # lower loss is better: ascending
    assert rows[0]["job"] == "step=0.1,iterations=10"       # the longest run with the larger step wins
    assert "ranked by loss (lower is better)" in capsys.readouterr().out
