"""joblib work (estimators' n_jobs) scales out on Dask inside ``scale.joblib_on_dask``."""
import os

import pytest

from diffprog import scale

pytest.importorskip("distributed", reason="the Dask tests need the 'scale' extra (dask[distributed])")
joblib = pytest.importorskip("joblib")


def square_in_process(value):
    return value * value, os.getpid()


def test_joblib_parallel_runs_on_the_cluster_workers():
    with scale.joblib_on_dask(workers=2) as client:
        outputs = joblib.Parallel(n_jobs=-1)(joblib.delayed(square_in_process)(value) for value in range(8))
        worker_pids = set(client.run(os.getpid).values())
    assert [square for square, _ in outputs] == [value * value for value in range(8)]
    pids = {pid for _, pid in outputs}
    assert pids <= worker_pids and os.getpid() not in pids
