"""``diffprog sweep``: a 2x3 grid makes six jobs on a 2-worker LocalCluster and a summary ranked by a metric."""
import csv

import pytest

from diffprog.cli import main

pytest.importorskip("distributed", reason="the Dask tests need the 'scale' extra (dask[distributed])")


def sweep(argv):
    return main(["sweep", *argv])


def test_two_by_three_sweep_is_six_ranked_jobs(make_scenes, tmp_path, capsys):
    scene = make_scenes(1) / "s1.toml"
    status = sweep([str(scene), "--grid", "schedule.learning_rate=[0.01, 0.001]", "--grid", "loss.laplacian=[0.5,1,2]",
                    "--rank-by", "held_out_silhouette_iou", "--workers", "2", "--out", str(tmp_path), "--quiet",
                    "--timeout", "180"])
    out = capsys.readouterr().out
    assert status == 0
    assert "6 jobs, ranked by held_out_silhouette_iou (higher is better)" in out
    rows = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert [row["rank"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert [row["status"] for row in rows] == ["done"] * 6
    ious = [float(row["held_out_silhouette_iou"]) for row in rows]
    assert ious == sorted(ious, reverse=True)
    assert len({row["final_loss"] for row in rows}) == 6                   # six different fits
    assert {(row["schedule.learning_rate"], row["loss.laplacian"]) for row in rows} == {
        (rate, weight) for rate in ("0.01", "0.001") for weight in ("0.5", "1", "2")}
    assert all((tmp_path / row["job"] / "metrics.json").is_file() for row in rows)


def test_sweep_with_a_misspelt_key_stops_before_running(make_scenes, tmp_path, capsys):
    scene = make_scenes(1) / "s1.toml"
    status = sweep([str(scene), "--grid", "loss.laplacan=[1,2]", "--out", str(tmp_path)])
    assert status == 2
    assert "loss.laplacan" in capsys.readouterr().err
    assert not (tmp_path / "summary.csv").exists()
