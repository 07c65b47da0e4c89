"""Plain NumPy programs differentiate: ``dp.grad`` of every program of ``numpy_corpus`` equals HIPS
autograd's gradient of the same source (run with ``np`` bound to ``autograd.numpy``) to 1e-10, or,
where autograd has no rule for a function the program calls, PyTorch's gradient of a twin program."""
import pathlib

import numpy as np
import pytest

import diffprog as dp

import numpy_corpus

autograd = pytest.importorskip("autograd")
pytest.importorskip("torch")

_SOURCE = pathlib.Path(numpy_corpus.__file__).read_text()


def _under_autograd():
    """The corpus module executed with ``import numpy as np`` replaced by autograd's NumPy."""
    assert _SOURCE.count("import numpy as np") == 1
    namespace = {"__name__": "numpy_corpus_autograd"}
    exec(compile(_SOURCE.replace("import numpy as np", "import autograd.numpy as np"),
                 "numpy_corpus_autograd", "exec"), namespace)
    return namespace["PROGRAMS"]


REFERENCE = _under_autograd()


def _torch_twins():
    import torch
    t = torch

    def ar(n):
        return t.arange(float(n), dtype=t.float64)

    def conv_full(a, v, valid=False):
        pad = 0 if valid else v.shape[0] - 1
        return t.nn.functional.conv1d(a.view(1, 1, -1), v.flip(0).view(1, 1, -1), padding=pad).view(-1)

    def horner(p, x):
        y = t.zeros_like(x)
        for i in range(p.shape[0]):
            y = y * x + p[i]
        return y

    def meshgrid_field(x, y):
        X, Y = t.meshgrid(x, y, indexing="xy")
        return t.sum(t.sin(X) * t.cos(Y) * ar(6).reshape(2, 3))

    return {
        "broadcast_and_squeeze": lambda x: t.sum(x.broadcast_to(4, 3) * ar(12).reshape(4, 3))
        + t.sum(x.unsqueeze(0).squeeze() ** 2),
        "convolution": lambda a, v: t.sum(conv_full(a, v) ** 2) + t.sum(conv_full(a, v, valid=True)),
        "covariance": lambda X: t.sum(t.cov(X.T) ** 2),
        "cumulative_product": lambda x: t.sum(t.cumprod(x, 0)),
        "flip_tile_repeat": lambda x: t.sum(t.flip(x, [1]) * x) + t.sum(x.tile((2, 1)) ** 2)
        + t.sum(t.repeat_interleave(x.reshape(-1), 2) ** 3),
        "matrix_square": lambda A: t.sum(t.linalg.matrix_power(A, 3)),
        "median_of_five": lambda x: t.median(x) * t.sum(x),
        "meshgrid_field": meshgrid_field,
        "pad_weighted": lambda x: t.sum(t.nn.functional.pad(x, (2, 2)) * ar(8)),
        "polynomial_values": lambda p, x: t.sum(horner(p, x)),
        "special_functions": lambda x: t.sum(t.asinh(x) + t.atanh(x) + t.log2(2 + x) + t.exp2(x)
                                             + (x + 2) ** (1 / 3) + t.log10(3 + x) + t.sinc(x + 0.1)),
        "take_along_and_argsort": lambda X: t.sum(t.sort(X, dim=1).values * ar(4)),
        "take_with_repeats": lambda x: t.sum(x[[0, 2, 2, 4]] ** 3),
        "trapezoid_integral": lambda y: t.trapezoid(y ** 2, dx=0.5),
        "ufunc_accumulate": lambda x: t.sum(t.cumsum(x, 0) ** 2) + t.sum(t.cumprod(x, 0)),
        "ufunc_outer": lambda x, y: t.sum(t.outer(x, y) ** 2) + t.sum((x[:, None] - y[None, :]) ** 2),
        "ufunc_reductions": lambda X: (X ** 2).sum(1).sum() + (X + 3).prod(0).sum() + X.max(),
        "weighted_average": lambda X, w: t.sum(((X * w).sum(1) / w.sum()) ** 2),
    }


TORCH_TWINS = _torch_twins()


def _torch_reference(name, inputs):
    import torch
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out = TORCH_TWINS[name](*ts)
    grads = torch.autograd.grad(out, ts)
    return out.item(), [g.numpy() for g in grads]


def make(gen, shape, rng):
    if gen == "normal":
        return rng.standard_normal(shape)
    if gen == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if gen == "unit":
        return rng.uniform(-0.8, 0.8, shape)
    if gen == "spd":
        a = rng.standard_normal(shape)
        return a @ a.T + shape[0] * np.eye(shape[0])
    if gen == "distinct":
        n = int(np.prod(shape))
        return ((rng.permutation(n) - n / 2) * 0.37 + 0.05).reshape(shape)
    raise ValueError(gen)


def test_the_corpus_is_large_and_plain():
    assert len(numpy_corpus.PROGRAMS) >= 60
    assert "diffprog" not in _SOURCE and "dp." not in _SOURCE


@pytest.mark.parametrize("name", sorted(numpy_corpus.PROGRAMS))
def test_gradient_equals_autograd(name):
    fn, specs = numpy_corpus.PROGRAMS[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    inputs = [make(gen, shape, rng) for gen, shape in specs]
    argnums = tuple(range(len(inputs)))
    value, grads = dp.value_and_grad(fn, argnums=argnums)(*inputs)
    if name in TORCH_TWINS:
        ref_value, expected = _torch_reference(name, inputs)
    else:
        ref_fn = REFERENCE[name][0]
        ref_value = ref_fn(*inputs)
        expected = autograd.grad(ref_fn, argnums)(*inputs) if len(inputs) > 1 else (autograd.grad(ref_fn)(*inputs),)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12, atol=1e-12)
    for i, (g, e) in enumerate(zip(grads, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10, err_msg=f"{name}: argument {i}")
