"""Errors a user can act on: each names the operation, the shapes or dtypes received and what was
expected, and is raised at the call that is wrong (never a deep NumPy traceback)."""
import numpy as np
import pytest

import diffprog as dp


def leaf(values):
    return dp.tensor(np.asarray(values, dtype=float), requires_grad=True)


@pytest.mark.parametrize("op,name", [(lambda a, b: a + b, "add"), (lambda a, b: a * b, "multiply"),
                                     (lambda a, b: a - b, "subtract"), (lambda a, b: a / b, "divide"),
                                     (lambda a, b: dp.maximum(a, b), "maximum"),
                                     (lambda a, b: a @ b, "matmul")])
def test_shape_mismatch_names_both_shapes_and_the_operation(op, name):
    a, b = leaf(np.ones((2, 3))), leaf(np.ones((4, 5)))
    with pytest.raises(ValueError) as info:
        op(a, b)
    msg = str(info.value)
    assert f"dp.{name}" in msg and "(2, 3)" in msg and "(4, 5)" in msg, msg
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_shape_mismatch_with_a_plain_array_operand():
    with pytest.raises(ValueError, match=r"dp\.add.*\(3,\).*\(2,\)"):
        leaf([1.0, 2.0, 3.0]) + np.ones(2)


def test_einsum_and_concatenate_shape_errors():
    with pytest.raises(ValueError, match=r"dp\.einsum.*\(2, 3\), \(2, 3\)"):
        dp.einsum("ij,jk->ik", leaf(np.ones((2, 3))), leaf(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"dp\.concatenate.*\(2, 3\), \(2, 2\)"):
        dp.concatenate([np.ones((2, 3)), np.ones((2, 2))], axis=0)
    with pytest.raises(ValueError, match="stack.*same shape"):
        dp.stack([np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match="need at least one"):
        dp.concatenate([])


def test_reshape_error_names_the_shapes():
    with pytest.raises(ValueError, match=r"dp\.reshape.*\(2, 3\)"):
        dp.reshape(leaf(np.ones((2, 3))), (4,))


def test_backward_on_a_non_scalar_without_grad_says_so():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"non-scalar.*\(2,\).*grad="):
        y.backward()
    y.backward(grad=np.array([1.0, 0.5]))


def test_backward_with_a_wrong_grad_shape():
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(grad=np.ones(3))


def test_backward_on_something_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="requires_grad"):
        dp.sum(dp.tensor([1.0, 2.0])).backward()
    x = leaf([1.0])
    with dp.no_grad():
        y = dp.sum(x * 2)
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()


@pytest.mark.parametrize("data", [[1, 2], np.array([True, False]), np.arange(3, dtype=np.int32)])
def test_integer_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(TypeError, match="floating-point.*dtype"):
        dp.tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        dp.tensor(data).requires_grad_()


def test_differentiating_with_respect_to_an_integer_array_says_so():
    with pytest.raises(TypeError, match=r"argument 0.*int64"):
        dp.grad(lambda x: dp.sum(x * 1.0))(np.array([1, 2]))
    with pytest.raises(TypeError, match="argument 1"):
        dp.grad(lambda x, n: dp.sum(x * n), argnums=(0, 1))(np.ones(2), np.array([1, 2]))
    # not differentiating the integer argument is fine
    g = dp.grad(lambda x, n: dp.sum(x * n))(np.ones(2), np.array([1, 2]))
    np.testing.assert_array_equal(g, [1.0, 2.0])


def test_detect_anomaly_names_the_primitive_whose_backward_made_a_nan():
    x = leaf([1.0, 0.5])                     # arcsin'(1) = inf, but arcsin(1) is finite
    with dp.detect_anomaly(), np.errstate(divide="ignore"):
        loss = dp.sum(dp.exp(dp.arcsin(x)) * 2)
        with pytest.raises(FloatingPointError, match=r"dp\.arcsin.*argument 0"):
            loss.backward()


def test_detect_anomaly_as_a_decorator_and_only_inside():
    @dp.detect_anomaly()
    def run(x):
        dp.sum(dp.tanh(dp.arccos(x) + dp.sqrt(1 - x * x))).backward()

    with np.errstate(all="ignore"):
        with pytest.raises(FloatingPointError, match=r"dp\.arccos"):
            run(leaf([1.0, 0.5]))
        x = leaf([0.5, 0.25])
        run(x)
        assert np.all(np.isfinite(x.grad))
        with dp.detect_anomaly():             # sqrt'(0) is taken as 0: no anomaly there
            dp.sum(dp.sqrt(leaf([0.0, 1.0]))).backward()
        x = leaf([0.0, 1.0])
        dp.sum(dp.arccos(x)).backward()       # outside anomaly mode: silent, like NumPy
    assert not np.all(np.isfinite(x.grad))


def test_transform_errors_name_the_problem():
    with pytest.raises(TypeError, match=r"scalar output.*\(2,\)"):
        dp.grad(lambda x: x * 2)(np.ones(2))
    with pytest.raises(ValueError, match="argnums"):
        dp.grad(lambda x: dp.sum(x), argnums=3)(np.ones(2))
    with pytest.raises(TypeError, match="has_aux"):
        dp.grad(lambda x: dp.sum(x), has_aux=True)(np.ones(2))
    out, vjp_fn = dp.vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        vjp_fn(np.ones(2))


def test_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="ord"):
        dp.norm(np.ones(3), ord="nuclear")
    with pytest.raises(ValueError, match=r"squeeze: axis 0 has size 2"):
        dp.squeeze(np.ones((2, 1)), axis=0)
    with pytest.raises(ValueError, match="axis 3 is out of bounds"):
        dp.sum(np.ones((2, 2)), axis=3)
    with pytest.raises(TypeError, match="subscripts"):
        dp.einsum(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="split"):
        dp.split(np.ones(5), 2)
    with pytest.raises(ValueError, match="take_along_axis"):
        dp.take_along_axis(np.ones((2, 3)), np.array([0, 1]), axis=1)


def test_index_add_errors():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"source has shape \(2, 2\), expected \(3, 2\)"):
        dp.index_add(x, 0, [0, 1, 2], np.ones((2, 2)))
    with pytest.raises(ValueError, match="index must be 1-D"):
        dp.index_add(x, 0, [[0]], np.ones((1, 1, 2)))
    with pytest.raises(IndexError, match="out of range for axis 0 of size 3"):
        dp.index_add(x, 0, [0, 3], np.ones((2, 2)))


def test_index_out_of_range_names_the_operation():
    with pytest.raises(IndexError, match=r"dp\.getitem.*\(3,\)"):
        leaf([1.0, 2.0, 3.0])[5]


def test_gradcheck_reports_the_mode_input_element_and_both_values():
    from diffprog.autodiff.tape import Primitive, apply
    wrong = Primitive("wrong_sin", np.sin, vjps=[lambda g, ans, x: g * np.cos(x) * (x > 0.5)],
                      jvps=[lambda t, ans, x: t * np.cos(x)])
    x = np.array([0.9, 0.1, 0.7])
    with pytest.raises(AssertionError, match=r"gradcheck \(rev\) failed for input 1 at element \(1,\): "
                                             r"automatic .* vs finite difference .*"):
        dp.gradcheck(lambda a, b: a * 2 + apply(wrong, b), x, x)
    assert dp.gradcheck(lambda a: apply(wrong, a), x, modes=("fwd",))     # its JVP is right
    wrong_jvp = Primitive("wrong_jvp", np.sin, vjps=[lambda g, ans, x: g * np.cos(x)],
                          jvps=[lambda t, ans, x: t * np.sin(x)])
    with pytest.raises(AssertionError, match=r"gradcheck \(fwd\) failed for input 0 at element \(0,\)"):
        dp.gradcheck(lambda a: apply(wrong_jvp, a), x, modes=("rev", "fwd"))


def test_gradcheck_finds_a_wrong_second_derivative():
    from diffprog.autodiff.tape import Primitive, apply
    # first derivative right on arrays, but written with np.cos, so it is a constant to a second pass
    # (x.data leaves the graph on purpose: np.asarray(x) of a recorded Tensor is refused)
    opaque = Primitive("opaque_sin", np.sin, vjps=[lambda g, ans, x: g * np.cos(getattr(x, "data", x))])
    x = np.array([0.3, -0.4])
    assert dp.gradcheck(lambda a: apply(opaque, a), x)
    with pytest.raises(AssertionError, match="gradcheck"):
        dp.gradcheck(lambda a: apply(opaque, a), x, order=2)


def test_gradcheck_accepts_float32_and_tensor_inputs():
    x = np.array([0.5, 1.5], np.float32)
    assert dp.gradcheck(lambda a: dp.exp(a) * a, x)
    assert dp.gradcheck(lambda a: dp.exp(a) * a, dp.tensor(x))



@dp.custom_vjp
def _square_sum_with_wrong_gradient(a):
    return (a * a).sum()


_square_sum_with_wrong_gradient.defvjp(lambda a: ((a * a).sum(), a), lambda a, g: (g * 3 * a,))


def test_gradcheck_perturbs_non_contiguous_inputs():
    x = np.arange(1.0, 7.0).reshape(2, 3).T          # a transposed (Fortran-ordered) view
    assert dp.gradcheck(lambda v: dp.sum(v * v), x)
    with pytest.raises(AssertionError, match="input 0"):
        dp.gradcheck(_square_sum_with_wrong_gradient, x)
