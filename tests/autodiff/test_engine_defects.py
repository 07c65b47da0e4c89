"""The four defects of issue 17, each pinned by a test."""
import threading

import numpy as np
import pytest

import diffprog as dp
from diffprog.autodiff.extend import Primitive, apply


def test_custom_jvp_of_a_function_returning_an_array_keeps_the_rule_tangent():
    @dp.custom_jvp
    def f(x):
        return np.sin(np.asarray(getattr(x, "data", x)))          # a NumPy result, not a Tensor

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return np.sin(x), np.cos(x) * t

    x = np.array([0.3, -1.2])
    value, tangent = dp.jvp(f, (x,), (np.array([1.0, 2.0]),))
    np.testing.assert_allclose(value, np.sin(x))
    np.testing.assert_allclose(tangent, np.cos(x) * [1.0, 2.0])


def test_gradcheck_message_prints_the_elements_own_derivatives():
    wrong = Primitive("wrong_scale", lambda x: 0.6 * x, vjps=[lambda g, ans, x: g * 0.3])
    with pytest.raises(AssertionError) as info:
        dp.gradcheck(lambda a: apply(wrong, a), np.array([1.0, 2.0]))
    message = str(info.value)
    assert "input 0 at element (0,)" in message
    assert "automatic 0.3 vs finite difference 0.6" in message      # d out[0]/dx[0], not projected


def test_gradcheck_message_in_forward_mode():
    wrong = Primitive("wrong_jvp", lambda x: 0.6 * x, vjps=[lambda g, ans, x: g * 0.6],
                      jvps=[lambda t, ans, x: t * 0.3])
    with pytest.raises(AssertionError, match=r"gradcheck \(fwd\).*automatic 0\.3 vs finite difference 0\.6"):
        dp.gradcheck(lambda a: apply(wrong, a), np.array([1.0, 2.0]), modes=("fwd",))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_names_the_primitive_whose_forward_output_is_not_finite():
    x = dp.tensor([-1.0, 4.0], requires_grad=True)
    with dp.detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"dp\.sqrt returned non-finite values .*forward"):
            dp.sqrt(x) * 2.0
        with pytest.raises(FloatingPointError, match=r"dp\.log returned non-finite"):
            np.log(x)
        with pytest.raises(FloatingPointError, match=r"dp\.divide"):
            x / dp.tensor([0.0, 1.0])
        y = dp.exp(x) * 2.0                                   # finite values pass
        masked = dp.tensor([np.inf, 1.0]) + x                 # non-finite inputs are not blamed
    assert np.isinf(masked.data[0]) and y.requires_grad
    assert np.isnan(dp.sqrt(x).data[0])                       # outside anomaly mode: NumPy's result


def test_one_no_grad_object_is_reentrant_and_per_thread():
    ng = dp.no_grad()
    with ng:
        with ng:
            assert not dp.is_grad_enabled()
        assert not dp.is_grad_enabled()
    assert dp.is_grad_enabled()

    inside, release = threading.Barrier(2), threading.Event()
    seen, errors = {}, []

    def worker(name, hold):
        try:
            with ng:
                inside.wait(timeout=5)
                if hold:
                    release.wait(timeout=5)
                seen[name] = dp.is_grad_enabled()
            seen[name + "_after"] = dp.is_grad_enabled()
        except Exception as e:                                  # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            if not hold:
                release.set()

    threads = [threading.Thread(target=worker, args=("a", True)), threading.Thread(target=worker, args=("b", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors
    assert seen == {"a": False, "b": False, "a_after": True, "b_after": True}
    assert dp.is_grad_enabled()
