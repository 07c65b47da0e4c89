"""NumPy's own functions on Tensors: dispatch with NumPy's signatures, and loud refusals where a
derivative would be lost (never a silent detach)."""
import numpy as np
import pytest

import diffprog as dp


def leaf(values):
    return dp.tensor(np.asarray(values, dtype=float), requires_grad=True)


def test_the_issue_examples_differentiate():
    g = dp.grad(lambda x: dp.sum(np.clip(x, 0, 1) * x))(np.array([0.5, 1.0, 2.0]))
    np.testing.assert_allclose(g, [1.0, 2.0, 1.0])          # clip passes the gradient at its bounds
    g = dp.grad(lambda x: np.sum(np.concatenate([x, x]) ** 2))(np.array([0.5, 1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 4.0, 8.0])
    x = leaf([1.0, 2.0])
    s = np.sum(x)
    assert isinstance(s, dp.Tensor) and s.requires_grad


def test_numpy_signatures_are_bound_positionally_and_by_keyword():
    x = leaf(np.arange(6.0).reshape(2, 3))
    assert np.sum(x, 0, None, None, True).shape == (1, 3)          # keepdims is NumPy's 5th argument
    assert np.mean(x, axis=1, keepdims=True).shape == (2, 1)
    np.testing.assert_allclose(np.clip(x, min=1, max=3).data, np.clip(x.data, 1, 3))
    np.testing.assert_allclose(np.trace(x, offset=1).data, np.trace(x.data, offset=1))
    np.testing.assert_allclose(np.diagonal(x, 1).data, np.diagonal(x.data, 1))
    assert np.take_along_axis(x, np.argsort(x.data), -1).requires_grad
    assert np.einsum("ij->j", x, optimize=True).shape == (3,)


def test_functions_without_floating_results_run_on_the_data():
    x = leaf([3.0, 1.0, 2.0])
    assert np.argmax(x) == 0 and np.shape(x) == (3,) and np.ndim(x) == 1
    np.testing.assert_array_equal(np.isfinite(x), [True, True, True])
    np.testing.assert_array_equal(np.argsort(x), [1, 2, 0])
    np.testing.assert_array_equal(np.where(x > 1.5)[0], [0, 2])
    g = dp.grad(lambda v: np.sum(np.floor(v) * v))(np.array([1.5, 2.5]))
    np.testing.assert_allclose(g, [1.0, 2.0])                 # floor is a constant (derivative 0)


def test_functions_without_a_rule_are_refused_by_name():
    x = leaf([1.0, 2.0, 2.0])
    with pytest.raises(TypeError, match=r"np\.unique is not differentiable.*\.detach\(\)"):
        np.unique(x)
    with pytest.raises(TypeError, match=r"np\.interp is not differentiable"):
        np.interp(0.5, np.array([0.0, 1.0]), x[:2])
    with pytest.raises(TypeError, match=r"np\.sum\(\.\.\., initial=\.\.\.\) is not differentiable"):
        np.sum(x, initial=1.0)
    with pytest.raises(TypeError, match=r"out= writes into an array"):
        np.sum(x, out=np.zeros(()))


def test_refusals_do_not_apply_outside_the_graph():
    x = leaf([1.0, 2.0, 2.0])
    with dp.no_grad():
        np.testing.assert_array_equal(np.unique(x), [1.0, 2.0])
        assert type(np.asarray(x)) is np.ndarray
    plain = dp.tensor([1.0, 2.0, 2.0])                        # records nothing
    np.testing.assert_array_equal(np.unique(plain), [1.0, 2.0])
    assert type(np.asarray(plain)) is np.ndarray
    np.testing.assert_array_equal(np.asarray(x.detach()), [1.0, 2.0, 2.0])


def test_implicit_conversion_of_a_recorded_tensor_is_refused():
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="implicit conversion.*detach"):
        np.asarray(x)
    with pytest.raises(TypeError, match="implicit conversion"):
        np.array([x, x])
    with pytest.raises(TypeError, match="implicit conversion"):
        np.zeros(2)[:] = x * 2
    with pytest.raises(TypeError, match="only one-element"):
        float(x)
    assert float(leaf([3.0])) == 3.0
    with pytest.raises(TypeError, match="implicit conversion"):
        dp.jvp(lambda v: dp.tensor(np.asarray(v) * 2), (np.ones(2),), (np.ones(2),))


def test_ufunc_methods():
    x = leaf(np.arange(1.0, 7.0).reshape(2, 3))
    np.testing.assert_allclose(np.add.reduce(x).data, x.data.sum(0))
    np.testing.assert_allclose(np.multiply.reduce(x, axis=1, keepdims=True).data, x.data.prod(1, keepdims=True))
    np.testing.assert_allclose(np.add.accumulate(x, axis=1).data, np.cumsum(x.data, 1))
    np.testing.assert_allclose(np.multiply.outer(x[0], x[1]).data, np.outer(x.data[0], x.data[1]))
    assert np.add.reduce(x).requires_grad and np.multiply.outer(x[0], x[1]).requires_grad
    with pytest.raises(TypeError, match=r"np\.add\.at .*in place"):
        np.add.at(x, [0], 1.0)
    with pytest.raises(TypeError, match=r"np\.add\.reduce .*where= argument"):
        np.add.reduce(x, where=np.array([True, False, True]))
    with pytest.raises(TypeError, match=r"np\.exp.*out= writes"):
        np.exp(x, out=np.zeros((2, 3)))
    with pytest.raises(TypeError, match="immutable"):
        np.exp(x, out=x)
    with pytest.raises(TypeError, match=r"np\.frexp is not differentiable"):
        np.frexp(x)
    with dp.no_grad():
        buf = np.zeros((2, 3))
        np.exp(x, out=buf)
        np.testing.assert_allclose(buf, np.exp(x.data))


def test_dtype_keyword_and_methods():
    x = leaf([1.0, 4.0])
    assert np.sqrt(x, dtype=np.float32).dtype == np.float32
    assert x.copy().requires_grad and x.argmax() == 1
    with pytest.raises(TypeError, match="in place"):
        x.sort()


def test_every_dp_function_with_a_numpy_name_is_dispatched():
    from diffprog.autodiff import numpy_api
    names = [n for n in dp.autodiff.__all__ if callable(getattr(np, n, None))
             and not isinstance(getattr(np, n), np.ufunc)]
    missing = [n for n in names if getattr(np, n) not in numpy_api._HANDLERS]
    assert not missing
    ufuncs = [n for n in dp.autodiff.__all__ if isinstance(getattr(np, n, None), np.ufunc)]
    missing = [n for n in ufuncs if getattr(np, n) not in numpy_api._UFUNCS]
    assert not missing
    for name in ("solve", "inv", "det", "norm", "eigh", "svd", "cholesky"):
        assert getattr(np.linalg, name) in numpy_api._HANDLERS
    assert np.fft.fft in numpy_api._HANDLERS and np.fft.irfft in numpy_api._HANDLERS
