"""Property-based tests: random compositions of primitives on random shapes pass gradcheck."""
import numpy as np
from hypothesis import HealthCheck, given, note, settings

import diffprog as dp
from autodiff_programs import DpLib, programs, run

LIB = DpLib()
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(programs())
def test_random_programs_pass_gradcheck(case):
    steps, inputs = case
    note(f"program {steps} on shapes {[x.shape for x in inputs]}")
    with np.errstate(all="ignore"):
        assert dp.gradcheck(lambda *xs: run(steps, xs, LIB), *inputs, atol=1e-6, rtol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(programs(max_steps=4, max_inputs=2))
def test_random_programs_forward_mode_matches(case):
    steps, inputs = case
    note(f"program {steps} on shapes {[x.shape for x in inputs]}")
    assert dp.gradcheck(lambda *xs: run(steps, xs, LIB), *inputs, modes=("rev", "fwd"), atol=1e-6, rtol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(programs(max_steps=5))
def test_random_programs_keep_float32(case):
    steps, inputs = case
    xs = [dp.tensor(x.astype(np.float32), requires_grad=True) for x in inputs]
    out = run(steps, xs, LIB)
    assert out.dtype == np.float32
    if out.requires_grad:
        dp.sum(out).backward()
    for x in xs:
        assert x.grad is None or (x.grad.dtype == np.float32 and x.grad.shape == x.shape)


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(programs(max_steps=4, max_inputs=1))
def test_random_programs_second_order(case):
    steps, inputs = case
    note(f"program {steps} on shapes {[x.shape for x in inputs]}")
    assert dp.gradcheck(lambda *xs: run(steps, xs, LIB), *inputs, order=2, atol=1e-4, rtol=1e-3)
