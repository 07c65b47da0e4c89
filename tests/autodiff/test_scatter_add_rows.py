"""The bincount fast path of scatter-add / index_add (integer rows into zeros, float64) gives exactly
what ``np.add.at`` gives: the same sums in the same order; other cases still go through ``add.at``."""
import numpy as np
import pytest

import diffprog as dp
from diffprog.autodiff.primitives import _index_add_forward, scatter_add_forward


@pytest.mark.parametrize("shape, index_shape", [((50, 3), (1000,)), ((50,), (20, 30)), ((7, 2, 3), (5, 4)),
                                                ((5, 3), (0,)), ((1,), (9,))])
def test_bit_identical_to_add_at(shape, index_shape):
    rng = np.random.default_rng(0)
    index = rng.integers(-shape[0], shape[0], index_shape)
    values = rng.normal(size=index_shape + shape[1:]) * 10.0 ** rng.integers(-8, 8, index_shape + shape[1:])
    expected = np.zeros(shape)
    np.add.at(expected, index, values)
    assert np.array_equal(scatter_add_forward(values, index, shape), expected)
    for start in (np.zeros(shape), rng.normal(size=shape)):
        expected = start.copy()
        np.add.at(expected, index, values)
        assert np.array_equal(_index_add_forward(start, values, 0, index), expected)


def test_float32_broadcast_and_out_of_range_keep_add_at_semantics():
    out = scatter_add_forward(np.ones(4, np.float32), np.array([0, 0, 1, 1]), (3,))
    assert out.dtype == np.float32 and out.tolist() == [2, 2, 0]
    out = _index_add_forward(np.zeros((3, 2)), np.ones(2), 0, np.array([1, 1]))    # broadcast source
    assert out.tolist() == [[0, 0], [2, 2], [0, 0]]
    with pytest.raises(IndexError):
        scatter_add_forward(np.ones(2), np.array([0, 5]), (3,))


def test_gradient_of_a_gather_accumulates_repeated_rows():
    x = dp.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    index = np.array([2, 0, 2, 2])
    dp.sum(x[index] * np.arange(8.0).reshape(4, 2)).backward()
    np.testing.assert_array_equal(x.grad, [[2, 3], [0, 0], [0 + 4 + 6, 1 + 5 + 7]])
