"""Behaviour of the reverse-mode engine that users rely on: accumulation, control flow, graph
lifetime, grad mode, kink conventions, indexing and NumPy interop."""
import gc
import threading
import weakref

import numpy as np
import pytest

import diffprog as dp
from diffprog import Tensor


def leaf(values, dtype=np.float64):
    return dp.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- accumulation --------------------------------------------------------------------------------

def test_fan_out_accumulates_the_sum_of_adjoints():
    x = leaf([0.3, -1.2])
    y = dp.sin(x)
    z = y * y + 3 * y + dp.exp(y)          # y used three times, x once through y
    dp.sum(z).backward()
    s, c = np.sin(x.data), np.cos(x.data)
    np.testing.assert_allclose(x.grad, (2 * s + 3 + np.exp(s)) * c, rtol=1e-14)


def test_same_tensor_as_both_operands():
    x = leaf([1.5, -2.0])
    dp.sum(x * x).backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data)
    x.zero_grad()
    dp.sum(x / x + x - x).backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.0], atol=1e-15)


def test_grad_accumulates_across_backward_calls_until_zero_grad():
    x = leaf([1.0, 2.0])
    dp.sum(3 * x).backward()
    dp.sum(x * x).backward()
    np.testing.assert_array_equal(x.grad, 3 + 2 * x.data)
    x.zero_grad()
    assert x.grad is None
    dp.sum(x).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_broadcast_gradients_are_summed_back_to_each_shape():
    a, b, c = leaf(np.ones((2, 1, 3))), leaf(np.full(3, 2.0)), leaf(4.0)
    dp.sum(a * b * c).backward()
    assert a.grad.shape == (2, 1, 3) and b.grad.shape == (3,) and c.grad.shape == ()
    np.testing.assert_array_equal(a.grad, np.full((2, 1, 3), 8.0))
    np.testing.assert_array_equal(b.grad, np.full(3, 8.0))
    assert c.grad == 12.0


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = leaf([0.1])
    y = x
    for _ in range(20000):
        y = y * 1.0 + 0.0
    dp.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_wide_diamond_graph():
    x = leaf([0.5])
    branches = [dp.sin(x * k) for k in range(1, 50)]
    total = branches[0]
    for b in branches[1:]:
        total = total + b
    dp.sum(total).backward()
    np.testing.assert_allclose(x.grad, [sum(k * np.cos(0.5 * k) for k in range(1, 50))], rtol=1e-12)


# ---- Python control flow ---------------------------------------------------------------------------

def piecewise(x):
    if dp.sum(x).item() > 0:               # branch on data
        return dp.sum(x ** 3)
    return dp.sum(dp.sin(x))


def test_if_on_data_differentiates_the_branch_taken():
    np.testing.assert_allclose(dp.grad(piecewise)(np.array([1.0, 2.0])), 3 * np.array([1.0, 4.0]))
    np.testing.assert_allclose(dp.grad(piecewise)(np.array([-1.0, -2.0])), np.cos([-1.0, -2.0]))


def test_loop_with_data_dependent_trip_count_and_early_return():
    def newton_sqrt(a):
        x = a
        for step in range(100):
            x = 0.5 * (x + a / x)
            if abs(float(x.data * x.data - a.data)) < 1e-14:
                return x, step                   # early return
        return x, 100

    a = leaf(2.0)
    root, steps = newton_sqrt(a)
    root.backward()
    assert steps < 10
    np.testing.assert_allclose(a.grad, 0.5 / np.sqrt(2.0), rtol=1e-10)


def test_while_loop_over_tensor_values():
    def f(x):
        y = x
        while dp.max(dp.abs(y)).item() < 10:
            y = y * 2
        return dp.sum(y)
    g = dp.grad(f)(np.array([1.0, -0.5]))      # 1 -> 16 after four doublings
    np.testing.assert_array_equal(g, [16.0, 16.0])


# ---- graph lifetime ----------------------------------------------------------------------------------

def test_second_backward_through_freed_graph_says_how_to_keep_it():
    x = leaf([1.0, 2.0])
    loss = dp.sum(dp.exp(x))
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    loss = dp.sum(dp.exp(x) * x)
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_freed_graph_through_a_shared_intermediate():
    x = leaf([1.0, 2.0])
    h = dp.tanh(x)
    dp.sum(h).backward()
    with pytest.raises(RuntimeError, match="second time"):
        dp.sum(h * 2).backward()


def _build_and_release(retain):
    x = leaf(np.linspace(-1, 1, 5))
    h1 = dp.sin(x)
    h2 = h1 * h1 + dp.exp(h1)
    loss = dp.sum(h2)
    refs = [weakref.ref(h1), weakref.ref(h2), weakref.ref(loss)]
    loss.backward(retain_graph=retain)
    del h1, h2, loss
    return x, refs


@pytest.mark.parametrize("retain", [False, True])
def test_no_reference_cycles_keep_a_finished_graph_alive(retain):
    gc.collect()
    gc.disable()                              # freed by reference counting alone, i.e. no cycles
    try:
        x, refs = _build_and_release(retain)
        assert all(r() is None for r in refs), "a finished graph is kept alive by a reference cycle"
        assert x.grad is not None
    finally:
        gc.enable()


def test_backward_frees_saved_intermediates_while_the_output_lives_on():
    x = leaf(np.linspace(-1, 1, 5))
    h = dp.exp(dp.sin(x))
    ref = weakref.ref(h.data)                 # (the graph keeps values, not Tensors)
    loss = dp.sum(h * 2)
    del h
    assert ref() is not None                  # kept by the graph of loss: exp and multiply read it
    loss.backward()
    assert ref() is None and loss.item() != 0  # freed by backward, loss itself still usable


def test_transforms_leave_no_graph_behind():
    created = []

    def f(x):
        y = dp.tanh(x) * 3
        created.append(weakref.ref(y))
        return dp.sum(y ** 2)

    gc.collect()
    gc.disable()
    try:
        dp.grad(f)(np.ones(3))
        dp.value_and_grad(f)(np.ones(3))
        out, vjp_fn = dp.vjp(f, np.ones(3))
        vjp_fn(1.0)
        del vjp_fn
        assert all(r() is None for r in created)
    finally:
        gc.enable()


def test_unused_graph_is_released_without_backward():
    gc.collect()
    gc.disable()
    try:
        x = leaf([1.0])
        y = dp.exp(x) * 2
        r = weakref.ref(y)
        del y
        assert r() is None
    finally:
        gc.enable()


# ---- grad mode ----------------------------------------------------------------------------------------

def test_no_grad_context_manager():
    x = leaf([1.0])
    with dp.no_grad():
        assert not dp.is_grad_enabled()
        y = x * 2
        with dp.enable_grad():
            z = x * 3
    assert dp.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad
    np.testing.assert_array_equal(y.data, [2.0])


def test_no_grad_decorator_and_nesting():
    @dp.no_grad()
    def update(w):
        return w - 0.1 * w

    x = leaf([1.0])
    assert not update(x).requires_grad
    assert dp.is_grad_enabled()
    with dp.no_grad():
        with dp.no_grad():
            pass
        assert not dp.is_grad_enabled()
    assert dp.is_grad_enabled()


def test_no_grad_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with dp.no_grad():
            1 / 0
    assert dp.is_grad_enabled()


def test_grad_mode_is_per_thread():
    x = leaf([1.0, 2.0])
    inside = threading.Event()
    done = threading.Event()
    results = {}

    def quiet():
        with dp.no_grad():
            inside.set()
            results["quiet"] = (x * 2).requires_grad
            done.wait(5)

    def busy():
        inside.wait(5)                       # the other thread is inside no_grad right now
        y = dp.sum(x * x)
        results["busy"] = y.requires_grad
        y.backward()
        results["grad"] = x.grad.copy()
        done.set()

    threads = [threading.Thread(target=quiet), threading.Thread(target=busy)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results["quiet"] is False and results["busy"] is True
    np.testing.assert_array_equal(results["grad"], [2.0, 4.0])


def test_detach_cuts_the_graph():
    x = leaf([2.0])
    y = x * x
    z = y.detach() * x
    dp.sum(z).backward()
    np.testing.assert_array_equal(x.grad, [4.0])
    assert not y.detach().requires_grad and np.shares_memory(y.detach().data, y.data)


# ---- conventions at kinks (never NaN where the function is finite) ------------------------------------

def grad_of(fn, values):
    x = leaf(values)
    dp.sum(fn(x)).backward()
    assert np.all(np.isfinite(x.grad)), f"non-finite gradient {x.grad}"
    return x.grad


def test_abs_and_relu_at_zero_have_zero_gradient():
    np.testing.assert_array_equal(grad_of(dp.abs, [-1.0, 0.0, 2.0]), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(grad_of(dp.relu, [-1.0, 0.0, 2.0]), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(grad_of(dp.sign, [-1.0, 0.0, 2.0]), [0.0, 0.0, 0.0])


def test_max_and_min_split_ties_evenly():
    np.testing.assert_allclose(grad_of(dp.max, [1.0, 3.0, 3.0, 3.0]), [0, 1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(grad_of(dp.min, [1.0, 1.0, 3.0]), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(grad_of(lambda x: dp.max(x, axis=1), [[2.0, 2.0], [1.0, 5.0]]),
                               [[0.5, 0.5], [0.0, 1.0]])
    a, b = leaf([1.0, 2.0, 3.0]), leaf([1.0, 1.0, 4.0])
    dp.sum(dp.maximum(a, b) + 10 * dp.minimum(a, b)).backward()
    np.testing.assert_allclose(a.grad, [5.5, 1.0, 10.0])
    np.testing.assert_allclose(b.grad, [5.5, 10.0, 1.0])


def test_sqrt_norm_and_std_at_zero_are_zero_not_nan():
    np.testing.assert_array_equal(grad_of(dp.sqrt, [0.0, 4.0]), [0.0, 0.25])
    for ord_ in (None, 1, 2, np.inf, 3, 1.5):
        np.testing.assert_array_equal(grad_of(lambda x: dp.norm(x, ord=ord_), [0.0, 0.0, 0.0]), 0.0)
    np.testing.assert_allclose(grad_of(lambda x: dp.norm(x, axis=1), [[0.0, 0.0], [3.0, 4.0]]),
                                  [[0.0, 0.0], [0.6, 0.8]])
    np.testing.assert_array_equal(grad_of(dp.std, [2.0, 2.0, 2.0]), 0.0)


@pytest.mark.parametrize("fn,phrase", [(dp.abs, "abs'(0) = 0"), (dp.relu, "relu'(0) = 0"), (dp.max, "evenly"),
                                       (dp.min, "evenly"), (dp.maximum, "evenly"), (dp.minimum, "evenly"),
                                       (dp.sqrt, "at 0"), (dp.norm, "at 0"), (dp.std, "not NaN"),
                                       (dp.clip, "at the bounds")])
def test_kink_conventions_are_documented(fn, phrase):
    assert phrase in " ".join(fn.__doc__.split()), f"{fn.__name__}: {fn.__doc__!r}"


def test_clip_passes_gradient_at_its_bounds():
    np.testing.assert_array_equal(grad_of(lambda x: dp.clip(x, -1, 1), [-2.0, -1.0, 0.0, 1.0, 2.0]),
                                  [0.0, 1.0, 1.0, 1.0, 0.0])


def test_power_and_arctan2_at_zero():
    np.testing.assert_array_equal(grad_of(lambda x: x ** 2, [0.0, 1.0]), [0.0, 2.0])
    np.testing.assert_array_equal(grad_of(lambda x: x ** 0, [0.0, 1.0]), [0.0, 0.0])
    np.testing.assert_array_equal(grad_of(lambda x: dp.arctan2(x, x), [0.0]), [0.0])
    np.testing.assert_array_equal(grad_of(lambda x: 0.0 ** x, [1.0, 2.0]), [0.0, 0.0])


def test_softmax_and_logsumexp_are_stable_for_large_inputs():
    g = grad_of(lambda x: dp.logsumexp(x), [1000.0, 1000.0, -1000.0])
    np.testing.assert_allclose(g, [0.5, 0.5, 0.0])
    g = grad_of(lambda x: dp.log_softmax(x)[0], [800.0, 0.0])
    np.testing.assert_allclose(g, [0.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(dp.sigmoid(np.array([-800.0, 800.0])).data, [0.0, 1.0])


# ---- indexing ----------------------------------------------------------------------------------------

def index_grad(index, shape=(3, 4)):
    x = leaf(np.arange(np.prod(shape), dtype=float).reshape(shape))
    y = x[index]
    np.testing.assert_array_equal(y.data, x.data[index])
    dp.sum(y * 2).backward()
    expected = np.zeros(shape)
    np.add.at(expected, index, 2.0)
    np.testing.assert_array_equal(x.grad, expected)
    return y


def test_basic_slices_and_negative_steps():
    index_grad((slice(1, None), slice(None, None, -2)))
    index_grad(-1)
    index_grad((0, 2))


def test_integer_arrays_with_repeats_accumulate():
    index_grad(np.array([0, 2, 2, 2, 0]))
    index_grad((np.array([0, 0, 1]), np.array([3, 3, 3])))
    index_grad((slice(None), [1, 1]))


def test_empty_index_selects_nothing():
    x = leaf([1.0, 2.0, 3.0])
    y = x[[]]
    assert y.shape == (0,)
    dp.sum(y + 1).backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))


def test_boolean_masks():
    x_mask = np.array([[True, False, False, True]] * 3)
    index_grad(x_mask)
    index_grad(np.array([False, True, True]))


def test_none_and_ellipsis():
    assert index_grad((None, Ellipsis, 1)).shape == (1, 3)
    assert index_grad((Ellipsis, None)).shape == (3, 4, 1)
    assert index_grad((Ellipsis, slice(None, 2), None)).shape == (3, 2, 1)


def test_tensor_as_index():
    x = leaf([1.0, 2.0, 3.0])
    y = x[dp.tensor([2, 0])]
    np.testing.assert_array_equal(y.data, [3.0, 1.0])


def test_tensors_are_immutable():
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 5.0


# ---- NumPy interop and Python protocols -----------------------------------------------------------

@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow", "matmul"])
def test_numpy_array_on_the_left_keeps_the_graph(op):
    a = np.array([[1.5, 2.0], [0.5, 3.0]])
    x = leaf([[0.5, 1.0], [2.0, 1.5]])
    fn = {"add": lambda: a + x, "sub": lambda: a - x, "mul": lambda: a * x, "truediv": lambda: a / x,
          "pow": lambda: a ** x, "matmul": lambda: a @ x}[op]
    y = fn()
    assert isinstance(y, Tensor) and y.requires_grad
    ref = {"add": a + x.data, "sub": a - x.data, "mul": a * x.data, "truediv": a / x.data,
           "pow": a ** x.data, "matmul": a @ x.data}[op]
    np.testing.assert_allclose(y.data, ref)
    dp.sum(y).backward()
    assert x.grad is not None and np.all(x.grad != 0)
    dp.gradcheck(lambda t: {"add": a + t, "sub": a - t, "mul": a * t, "truediv": a / t, "pow": a ** t,
                            "matmul": a @ t}[op], x.data)


def test_scalars_on_either_side_and_numpy_ufuncs():
    x = leaf([1.0, 2.0])
    for y in (2 + x, x + 2, 2 - x, 2 * x, 2 / x, 2 ** x, x ** 2, -x, np.float64(2) * x,
              np.sin(x), np.exp(x), np.maximum(x, 1.5)):
        assert isinstance(y, Tensor) and y.requires_grad
    np.testing.assert_allclose(np.sin(x).data, np.sin(x.data))


def test_comparisons_return_plain_boolean_arrays():
    x = leaf([1.0, 2.0, 3.0])
    for r in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, np.array([0, 5, 5]) < x):
        assert type(r) is np.ndarray and r.dtype == bool
    np.testing.assert_array_equal(x > 1.5, [False, True, True])


def test_array_protocol_and_conversions():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    with dp.no_grad():                # a Tensor that requires grad converts only outside the graph
        arr = np.asarray(x)
        assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert type(arr) is np.ndarray and np.array_equal(arr, x.data)
    assert np.asarray(x.detach(), dtype=np.float32).dtype == np.float32
    assert x.numpy() is x.data or np.shares_memory(x.numpy(), x.data)
    assert leaf(3.5).item() == 3.5 and float(leaf(2.0)) == 2.0
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert x.ndim == 2 and x.size == 4 and x.shape == (2, 2) and x.dtype == np.float64
    np.testing.assert_array_equal(x.T.data, x.data.T)


def test_len_and_iteration_keep_the_graph():
    x = leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, Tensor) and r.shape == (2,) for r in rows)
    total = rows[0] * 1 + rows[1] * 2 + rows[2] * 3
    dp.sum(total).backward()
    np.testing.assert_array_equal(x.grad, [[1, 1], [2, 2], [3, 3]])
    with pytest.raises(TypeError, match="0-d"):
        len(leaf(1.0))
    with pytest.raises(TypeError):
        iter(leaf(1.0))


def test_repr_is_readable():
    x = leaf([1.0, 2.0])
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(dp.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=float32" in repr(dp.tensor(np.ones(2, np.float32)))
    assert "exp" in repr(dp.exp(x))
    assert "\n" not in repr(dp.tensor(3.0)) and repr(dp.tensor(3.0)) == "tensor(3.)"


def test_methods_mirror_the_functions():
    data = np.arange(6.0).reshape(2, 3) + 1
    x = leaf(data)
    np.testing.assert_allclose(x.sum(axis=0).data, data.sum(axis=0))
    np.testing.assert_allclose(x.mean().data, data.mean())
    np.testing.assert_allclose(x.reshape(3, 2).data, data.reshape(3, 2))
    np.testing.assert_allclose(x.reshape((6,)).data, data.reshape(6))
    np.testing.assert_allclose(x.transpose().data, data.T)
    np.testing.assert_allclose(x.transpose(1, 0).data, data.T)
    np.testing.assert_allclose(x.max(axis=1).data, data.max(axis=1))
    np.testing.assert_allclose(x.exp().log().data, data)
    np.testing.assert_allclose(x.astype(np.float32).data, data.astype(np.float32))
    np.testing.assert_allclose(x.flatten().data, data.ravel())
    assert x.astype(np.float32).dtype == np.float32
    y = x.astype(np.float32)
    dp.sum(y * y).backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, 2 * data)


@pytest.mark.parametrize("call", [
    lambda a: a.sum(), lambda a: a.sum(axis=1, keepdims=True), lambda a: a.mean(axis=0), lambda a: a.prod(axis=1),
    lambda a: a.max(axis=0), lambda a: a.min(), lambda a: a.var(axis=1), lambda a: a.std(ddof=1),
    lambda a: a.cumsum(axis=1), lambda a: a.clip(-0.5, 0.5), lambda a: a.swapaxes(0, 1), lambda a: a.repeat(2, axis=0),
    lambda a: a.take([0, 2], axis=1), lambda a: a.dot(np.ones(3)), lambda a: a.conj(), lambda a: a.ravel(),
    lambda a: a.trace(), lambda a: a.diagonal(), lambda a: a.flatten(), lambda a: a.T, lambda a: a.reshape(3, 2),
    lambda a: a.reshape((-1, 1)), lambda a: a.transpose(), lambda a: a.transpose(1, 0), lambda a: a[None].squeeze(0),
    lambda a: abs(a), lambda a: -a, lambda a: +a,
])
def test_methods_behave_like_ndarray_methods(call):
    data = np.array([[0.3, -1.2, 0.7], [2.0, 0.1, -0.4]])
    x = leaf(data)
    out = call(x)
    assert isinstance(out, Tensor) and out.requires_grad
    np.testing.assert_allclose(out.data, call(data), rtol=1e-14)
    dp.gradcheck(call, data)


def test_casting_to_integer_or_bool_leaves_the_graph():
    x = leaf([1.5, 2.5])
    for dtype in (np.int64, np.int32, bool):
        y = x.astype(dtype)
        assert y.dtype == dtype and not y.requires_grad
    y = dp.astype(x, np.int64)
    dp.sum(y * x).backward()                   # y is a constant: d/dx sum(y * x) = y
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_float32_graph_stays_float32_end_to_end():
    rng = np.random.default_rng(0)
    x = dp.tensor(rng.standard_normal((8, 4)).astype(np.float32))
    W = dp.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    b = dp.tensor(np.zeros(3, np.float32), requires_grad=True)
    h = dp.tanh(x @ W + b)
    loss = dp.mean((dp.softmax(h, axis=1) - 0.5) ** 2) + 1e-3 * dp.sum(W * W) + dp.logsumexp(h) / 2.0
    assert loss.dtype == np.float32
    loss.backward()
    assert W.grad.dtype == np.float32 and b.grad.dtype == np.float32
