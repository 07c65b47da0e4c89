"""joblib work (estimators' n_jobs) scales out on Dask inside ``scale.joblib_on_dask``."""
import os

import numpy as np
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


def test_lasso_cv_folds_run_on_the_cluster():
    from diffprog.sparse import LassoCV
    if "n_jobs" not in LassoCV().get_params():
        pytest.skip("diffprog.sparse.LassoCV has no n_jobs parameter yet (its folds run in one process)")
    from distributed import get_task_stream
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 30))
    y = X[:, :3] @ np.array([1.5, -2.0, 1.0]) + 0.1 * rng.standard_normal(120)
    serial = LassoCV(cv=4, n_alphas=20).fit(X, y)
    with scale.joblib_on_dask(workers=2) as client:
        with get_task_stream(client) as stream:
            parallel = LassoCV(cv=4, n_alphas=20, n_jobs=-1).fit(X, y)
    assert len(stream.data) >= 4                                            # the folds were Dask tasks
    assert parallel.alpha_ == serial.alpha_
    np.testing.assert_array_equal(parallel.mse_path_, serial.mse_path_)
    np.testing.assert_array_equal(parallel.coef_, serial.coef_)
