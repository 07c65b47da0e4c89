"""Lean nodes: a recorded node keeps only what its VJP reads (the row's ``save``), so intermediates
die as soon as no rule needs them, and the gradients are those of a graph that keeps everything.

The engine tests run with ``node.STUB_MIN_BYTES = 0`` (conftest.py): every unsaved array, however
small, is replaced by a stub that refuses to be read, so a wrong ``save`` declaration fails here.
"""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import diffprog as dp
from diffprog.autodiff import mode, node, primitives as P
from diffprog.autodiff.tape import Primitive, apply, toposort

import test_primitive_table as table

ROWS = {name: row for name, row in vars(P).items() if isinstance(row, Primitive)}


def _complex(rng, *shapes):
    return tuple(rng.standard_normal(s) + 1j * rng.standard_normal(s) for s in shapes)


# Rows that no case of the table-driven suite (test_primitive_table.py) records: each gets a
# program here, (inputs generator, call of the row on the input Tensors).
EXTRA = {
    "ANGLE": (lambda rng: _complex(rng, (4,)), lambda z: apply(P.ANGLE, z)),
    "REAL": (lambda rng: _complex(rng, (4,)), lambda z: apply(P.REAL, z)),
    "IMAG": (lambda rng: _complex(rng, (4,)), lambda z: apply(P.IMAG, z)),
    "ARCCOSH": (lambda rng: (rng.uniform(1.5, 3, (2, 3)),), lambda x: dp.arccosh(x)),
    "ARCSINH": (lambda rng: (rng.standard_normal((2, 3)),), lambda x: dp.arcsinh(x)),
    "ARCTANH": (lambda rng: (rng.uniform(-0.9, 0.9, (2, 3)),), lambda x: dp.arctanh(x)),
    "CBRT": (lambda rng: (rng.uniform(0.5, 2, (2, 3)),), lambda x: dp.cbrt(x)),
    "EXP2": (lambda rng: (rng.standard_normal((2, 3)),), lambda x: dp.exp2(x)),
    "LOG2": (lambda rng: (rng.uniform(0.5, 2, (2, 3)),), lambda x: dp.log2(x)),
    "LOG10": (lambda rng: (rng.uniform(0.5, 2, (2, 3)),), lambda x: dp.log10(x)),
    "CUMPROD": (lambda rng: (rng.uniform(0.5, 2, (3, 2)),), lambda x: dp.cumprod(x, axis=0)),
    "HYPOT": (lambda rng: (rng.standard_normal((2, 3)), rng.standard_normal(3)), lambda x, y: dp.hypot(x, y)),
    "LOGADDEXP": (lambda rng: (rng.standard_normal((2, 3)), rng.standard_normal(3)),
                  lambda x, y: dp.logaddexp(x, y)),
    "IDENTITY": (lambda rng: (rng.standard_normal(3),), lambda x: dp.copy(x)),
    "SCATTER_ADD": (lambda rng: (rng.standard_normal(2),),
                    lambda g: apply(P.SCATTER_ADD, g, idx=np.array([1, 1]), shape=(3,))),
    "SUM_TO": (lambda rng: (rng.standard_normal((2, 3)),), lambda x: apply(P.SUM_TO, x, shape=(1, 3))),
}


def _gradients(fn, xs, keep_everything):
    """Cotangents of ``fn``'s inputs for a fixed random seed; with ``keep_everything`` every node
    keeps all its values (what backward saw before nodes were lean)."""
    ts = [dp.tensor(x, requires_grad=True) for x in xs]
    if keep_everything:
        with mode.keep_values():
            out = fn(*ts)
    else:
        out = fn(*ts)
    rng = np.random.default_rng(1)
    seed = rng.standard_normal(out.shape)
    if out.dtype.kind == "c":
        seed = seed + 1j * rng.standard_normal(out.shape)
    out.backward(seed.astype(out.dtype))
    return [t.grad for t in ts]


def test_every_row_of_the_table_declares_what_it_saves():
    undeclared = [name for name, row in ROWS.items() if row.save is None]
    assert not undeclared, f"rows without a save= declaration: {undeclared}"


def test_every_row_is_exercised_with_stubs():
    """The table-driven suite and EXTRA together record every row (so every declaration is
    checked with every unsaved array stubbed)."""
    seen = set()
    for case in table.CASES:
        ts = [dp.tensor(x, requires_grad=True) for x in table._inputs(case, case.shapes[0])]
        seen |= {n.prim for n in toposort([case.fn(*ts, **case.kw)]) if n.prim is not None}
    missing = {name for name, row in ROWS.items() if row not in seen} - set(EXTRA)
    assert not missing, f"rows no test records: {sorted(missing)}; add them to EXTRA"


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_rows_outside_the_table_suite_give_the_same_gradients_when_lean(name):
    gen, fn = EXTRA[name]
    xs = gen(np.random.default_rng(0))
    lean = _gradients(fn, xs, keep_everything=False)
    full = _gradients(fn, xs, keep_everything=True)
    for a, b in zip(lean, full):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", table.CASES, ids=lambda c: c.name)
def test_table_rows_give_the_same_gradients_when_lean(case):
    xs = table._inputs(case, case.shapes[-1])
    fn = lambda *ts: case.fn(*ts, **case.kw)                          # noqa: E731
    for a, b in zip(_gradients(fn, xs, False), _gradients(fn, xs, True)):
        np.testing.assert_array_equal(a, b)


def test_reading_an_undeclared_value_fails_loudly():
    leaky = Primitive("leaky_square", np.square, vjps=[lambda g, ans, x: 2 * g * x], save=())
    x = dp.tensor(np.arange(3.0), requires_grad=True)
    loss = dp.sum(apply(leaky, x))
    with pytest.raises(RuntimeError, match="backward rule of dp.leaky_square read a value .* save="):
        loss.backward()


def test_a_save_declaration_is_checked():
    with pytest.raises(ValueError, match="save="):
        Primitive("bad", np.negative, vjps=[lambda g, ans, x: -g], save=("outputs",))


def test_an_intermediate_no_rule_needs_dies_after_forward(rng):
    x = dp.tensor(rng.standard_normal(1000), requires_grad=True)
    h = dp.sin(x)                       # sin keeps x, not its output
    y = h + 1.0                         # add keeps nothing
    z = dp.exp(y)                       # exp keeps its output
    h_value, y_value, z_value = weakref.ref(h.data), weakref.ref(y.data), weakref.ref(z.data)
    loss = dp.sum(z * 3.0)              # multiply keeps z
    del h, y, z
    gc.collect()
    assert h_value() is None and y_value() is None
    assert z_value() is not None
    loss.backward()
    np.testing.assert_allclose(x.grad, 3 * np.exp(np.sin(x.data) + 1) * np.cos(x.data))
    assert z_value() is None            # freed by backward


def test_memory_held_for_backward_is_what_the_rules_read(rng):
    """A chain of tanh(y + 1): tanh keeps its output, add nothing, so the graph holds one array
    per layer (it held two when nodes kept their parents' values)."""
    x = dp.tensor(rng.standard_normal(100_000), requires_grad=True)
    layers = 10
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(layers):
            y = dp.tanh(y + 1.0)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert layers * x.data.nbytes <= held < 1.2 * layers * x.data.nbytes
    dp.sum(y).backward()
    value, expected = x.data, np.ones_like(x.data)
    for _ in range(layers):
        value = np.tanh(value + 1.0)
        expected = expected * (1 - value * value)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


def test_forward_over_reverse_through_a_constant_that_carries_a_tangent(rng):
    """jvp over x of grad over y of sum(sin(x * y)): x is no leaf of the inner graph, yet the
    recorded backward must see its tangent (d/dx of x cos(xy) = cos(xy) - xy sin(xy))."""
    x, y, v = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)

    def inner_grad(x_):
        return dp.grad(lambda y_: dp.sum(dp.sin(x_ * y_)))(y)
    _, tangent = dp.jvp(inner_grad, (x,), (v,))
    np.testing.assert_allclose(tangent, v * (np.cos(x * y) - x * y * np.sin(x * y)), rtol=1e-12)


def test_stubs_only_above_the_threshold(monkeypatch):
    monkeypatch.setattr(node, "STUB_MIN_BYTES", 1024)
    small = dp.tensor(np.ones(4), requires_grad=True)
    big = dp.tensor(np.ones(1024), requires_grad=True)
    for x in (small, big):
        out = dp.reshape(x + 1.0, (-1, 1))          # add and reshape save nothing
        saved = out._node.args[0]
        assert (type(saved) is np.ndarray) == (x is small)
        assert saved.shape == x.shape
