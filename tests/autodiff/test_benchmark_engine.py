"""The engines of benchmarks/engine.py compute the same thing (so its timings compare like with
like), and the matrix-product counter used for workload (c) works. No timing here."""
import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("engine_benchmark", os.path.join(ROOT, "benchmarks", "engine.py"))
    module = importlib.util.module_from_spec(spec)
    saved = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")}
    spec.loader.exec_module(module)
    for k, v in saved.items():                 # importing it pins BLAS threads: undo for other tests
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    return module


def _np(x):
    return np.asarray(x.detach().numpy() if hasattr(x, "detach") else x, dtype=np.float64)


def test_engines_agree_on_every_workload(bench):
    pytest.importorskip("torch")
    pytest.importorskip("autograd")
    d = bench.make_inputs()
    engines = {name: getattr(bench, f"engine_{name}")(d) for name in bench.ENGINES}
    ref = engines["numpy"]
    chain, forward = _np(ref["chain"]()), _np(ref["chain_forward"]())
    lsq = _np(ref["lsq"]())
    losses = [float(ref["mlp"]()), float(ref["mlp"]())]
    np.testing.assert_allclose(lsq, 2 * d["A"].T @ (d["A"] @ d["X"] - d["B"]), rtol=1e-10)
    assert losses[1] < losses[0]
    for name, fns in engines.items():
        np.testing.assert_allclose(_np(fns["chain"]()), chain, rtol=1e-12, err_msg=name)
        if "chain_forward" in fns:
            np.testing.assert_allclose(_np(fns["chain_forward"]()), forward, rtol=1e-12, err_msg=name)
        if "lsq" in fns:
            np.testing.assert_allclose(_np(fns["lsq"]()), lsq, rtol=1e-9, err_msg=name)
        if "mlp" in fns and name != "numpy":
            got = [float(_np(fns["mlp"]())), float(_np(fns["mlp"]()))]
            np.testing.assert_allclose(got, losses, rtol=1e-4, err_msg=name)   # float32, two SGD steps


def test_matmul_counter_sees_forward_and_backward_products(bench):
    import diffprog as dp
    original = np.matmul
    rng = np.random.default_rng(0)
    A, X, B = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    g = dp.grad(lambda A, X, B: dp.sum((A @ X - B) ** 2), argnums=1)
    assert bench.count_matmuls(lambda: g(A, X, B)) == 2
    both = dp.grad(lambda A, X, B: dp.sum((A @ X - B) ** 2), argnums=(0, 1))
    assert bench.count_matmuls(lambda: both(A, X, B)) == 3
    assert np.matmul is original and dp.autodiff.primitives.MATMUL.forward is original   # restored
    assert dp.autodiff.primitives._dot is np.ndarray.dot
