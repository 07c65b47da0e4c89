"""A 2x3 sweep: six jobs on a 2-worker LocalCluster and a summary ranked by the chosen metric."""
import csv

import pytest

from diffprog import scale
from diffprog.scale.summary import format_table

pytest.importorskip("distributed", reason="the Dask tests need the 'scale' extra (dask[distributed])")


def test_two_by_three_sweep_is_six_ranked_jobs(make_scenes, client, tmp_path):
    scene = make_scenes(1) / "s1.toml"
    grid = ["schedule.learning_rate=[0.01, 0.001]", "loss.laplacian=[0.5, 1, 2]"]
    jobs = scale.sweep_jobs(scene, grid, tmp_path)
    assert len(jobs) == 6 and jobs[0].overrides == {"schedule.learning_rate": 0.01, "loss.laplacian": 0.5}
    results = scale.run_jobs(jobs, client=client, progress=False, timeout=180)
    assert [r["status"] for r in results] == ["done"] * 6
    assert len({r["metrics"]["final_loss"] for r in results}) == 6          # six different fits
    ranked = scale.rank_results(results, "held_out_silhouette_iou")
    scale.write_summary(tmp_path / "summary.csv", ranked, ranked=True)
    rows = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert [row["rank"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    ious = [float(row["held_out_silhouette_iou"]) for row in rows]
    assert ious == sorted(ious, reverse=True)                               # IoU: higher is better
    assert {(row["schedule.learning_rate"], row["loss.laplacian"]) for row in rows} == {
        (lr, w) for lr in ("0.01", "0.001") for w in ("0.5", "1", "2")}
    assert format_table(ranked, ranked=True).splitlines()[2].startswith("1 ")
