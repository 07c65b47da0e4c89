"""Random differentiable programs, written once and run on diffprog or on PyTorch.

A program is a list of steps ``(op, i, j, axis)``: apply ``op`` to the values number ``i`` and
``j`` (modulo how many exist; unary ops ignore ``j``) and append the result. The inputs have
shapes that broadcast against one base shape, and every op keeps that property (reductions keep
their dimensions), so any step can combine any two values. The ops are smooth, or kinked only on
sets that random inputs miss, and keep values moderate, so central differences are accurate.
"""
import numpy as np
from hypothesis import strategies as st


class DpLib:
    """The subset of the dp namespace that the programs use."""

    def __init__(self):
        import diffprog
        self.dp = diffprog

    def __getattr__(self, name):
        return getattr(self.dp, name)

    def data(self, x):
        return np.asarray(getattr(x, "data", x))      # the numbers, out of the graph

    def ndim(self, x):
        return np.ndim(self.data(x))

    def shape(self, x):
        return np.shape(self.data(x))

    def flip(self, x, axis):
        return self.dp.flip(x, axis=axis)

    def pad_last(self, x):
        return self.dp.pad(x, [(0, 0)] * (self.ndim(x) - 1) + [(1, 1)])


class TorchLib:
    """The same names and NumPy-style signatures, implemented with torch."""

    def __init__(self):
        import torch
        self.torch = torch

    def __getattr__(self, name):
        return getattr(self.torch, name)

    def data(self, x):
        return x.detach().numpy()

    def ndim(self, x):
        return x.ndim

    def shape(self, x):
        return tuple(x.shape)

    def pad_last(self, x):
        return self.torch.nn.functional.pad(x, (1, 1))

    def _dims(self, x, axis):
        return tuple(range(x.ndim)) if axis is None else axis

    def sum(self, x, axis=None, keepdims=False):
        return x if x.ndim == 0 else self.torch.sum(x, dim=self._dims(x, axis), keepdim=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return x if x.ndim == 0 else self.torch.mean(x, dim=self._dims(x, axis), keepdim=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return x if x.ndim == 0 else self.torch.amax(x, dim=self._dims(x, axis), keepdim=keepdims)

    def min(self, x, axis=None, keepdims=False):
        return x if x.ndim == 0 else self.torch.amin(x, dim=self._dims(x, axis), keepdim=keepdims)

    def prod(self, x, axis=None, keepdims=False):
        if x.ndim == 0:
            return x
        if axis is None:
            out = self.torch.prod(x.reshape(-1))
            return out.reshape((1,) * x.ndim) if keepdims else out
        return self.torch.prod(x, dim=axis, keepdim=keepdims)

    def logsumexp(self, x, axis=None, keepdims=False):
        return x if x.ndim == 0 else self.torch.logsumexp(x, dim=self._dims(x, axis), keepdim=keepdims)

    def var(self, x, axis=None, keepdims=False, ddof=0):
        return self.torch.var(x, dim=self._dims(x, axis), keepdim=keepdims, correction=ddof)

    def std(self, x, axis=None, keepdims=False, ddof=0):
        return self.torch.std(x, dim=self._dims(x, axis), keepdim=keepdims, correction=ddof)

    def norm(self, x, axis=None, keepdims=False):
        return self.torch.linalg.vector_norm(x, dim=self._dims(x, axis), keepdim=keepdims)

    def softmax(self, x, axis=-1):
        return x / x if x.ndim == 0 else self.torch.softmax(x, dim=axis)

    def log_softmax(self, x, axis=-1):
        return x - x if x.ndim == 0 else self.torch.log_softmax(x, dim=axis)

    def cumsum(self, x, axis):
        return x if x.ndim == 0 else self.torch.cumsum(x, dim=axis)

    def flip(self, x, axis):
        return x if x.ndim == 0 else self.torch.flip(x, dims=(axis,))

    def softplus(self, x):
        return self.torch.nn.functional.softplus(x)

    def sigmoid(self, x):
        return self.torch.sigmoid(x)

    def relu(self, x):
        return self.torch.relu(x)

    def square(self, x):
        return x * x

    def arctan(self, x):
        return self.torch.atan(x)

    def arctan2(self, y, x):
        return self.torch.atan2(y, x)

    def where(self, cond, x, y):
        return self.torch.where(self.torch.as_tensor(cond), x, y)

    def clip(self, x, a_min, a_max):
        return self.torch.clamp(x, a_min, a_max)

    def maximum(self, a, b):
        return self.torch.maximum(*self._tensors(a, b))

    def minimum(self, a, b):
        return self.torch.minimum(*self._tensors(a, b))

    def _tensors(self, *xs):
        return [x if isinstance(x, self.torch.Tensor) else self.torch.as_tensor(x, dtype=self.torch.float64)
                for x in xs]

    def matmul(self, a, b):
        return a @ b

    def einsum(self, subscripts, *ops):
        return self.torch.einsum(subscripts, *ops)

    def transpose(self, x, axes=None):
        return x.permute(*(axes if axes is not None else range(x.ndim - 1, -1, -1)))

    def swapaxes(self, x, a, b):
        return self.torch.swapaxes(x, a, b)

    def reshape(self, x, shape):
        return x.reshape(shape)

    def concatenate(self, xs, axis=0):
        return self.torch.cat(list(xs), dim=axis)

    def stack(self, xs, axis=0):
        return self.torch.stack(list(xs), dim=axis)

    def take_along_axis(self, x, idx, axis):
        return self.torch.take_along_dim(x, self.torch.as_tensor(idx), dim=axis)

    def index_add(self, x, axis, index, source):
        return self.torch.index_add(x, axis, self.torch.as_tensor(index), source)

    def cross(self, a, b, axis=-1):
        return self.torch.linalg.cross(a, b, dim=axis)


def _axis(x, k, L):
    n = L.ndim(x)
    return k % n if n else None


def _keep(L, name):
    def op(a, b, k):
        return getattr(L, name)(a, axis=_axis(a, k, L), keepdims=True)
    return op


def make_ops(L):
    """name -> (arity, fn(a, b, k)); every fn keeps inputs broadcastable to the base shape."""
    along = lambda name: lambda a, b, k: a if L.ndim(a) == 0 else getattr(L, name)(a, axis=_axis(a, k, L))  # noqa
    return {
        "sin": (1, lambda a, b, k: L.sin(a)),
        "cos": (1, lambda a, b, k: L.cos(a)),
        "tanh": (1, lambda a, b, k: L.tanh(a)),
        "exp_tanh": (1, lambda a, b, k: L.exp(L.tanh(a))),
        "log1p_sq": (1, lambda a, b, k: L.log(1 + a * a)),
        "sqrt_1p_sq": (1, lambda a, b, k: L.sqrt(1 + L.square(a))),
        "sigmoid": (1, lambda a, b, k: L.sigmoid(a)),
        "softplus": (1, lambda a, b, k: L.softplus(a)),
        "arctan": (1, lambda a, b, k: L.arctan(a)),
        "abs": (1, lambda a, b, k: L.abs(a)),
        "relu": (1, lambda a, b, k: L.relu(a)),
        "neg_scale": (1, lambda a, b, k: -0.5 * a + 0.25),
        "pow": (1, lambda a, b, k: (1 + a * a) ** 0.75),
        "add": (2, lambda a, b, k: a + b),
        "sub": (2, lambda a, b, k: a - b),
        "mul": (2, lambda a, b, k: a * b),
        "div": (2, lambda a, b, k: a / (1 + b * b)),
        "rdiv": (2, lambda a, b, k: 2.0 / (2 + L.sin(a)) - b),
        "maximum": (2, lambda a, b, k: L.maximum(a, b)),
        "minimum": (2, lambda a, b, k: L.minimum(a, b)),
        "arctan2": (2, lambda a, b, k: L.arctan2(a, 1.5 + L.tanh(b))),
        "where": (2, lambda a, b, k: L.where(L.data(a) > 0, a, b)),
        "sum": (1, _keep(L, "sum")),
        "mean": (1, _keep(L, "mean")),
        "max": (1, _keep(L, "max")),
        "min": (1, _keep(L, "min")),
        "logsumexp": (1, _keep(L, "logsumexp")),
        "prod": (1, lambda a, b, k: _keep(L, "prod")(L.tanh(a) + 1.5, b, k)),
        "norm": (1, lambda a, b, k: _keep(L, "norm")(a + 0.1, b, k)),
        "softmax": (1, along("softmax")),
        "log_softmax": (1, along("log_softmax")),
        "cumsum": (1, lambda a, b, k: a if L.ndim(a) == 0 else L.cumsum(a, _axis(a, k, L))),
        "flip": (1, lambda a, b, k: a if L.ndim(a) == 0 else L.flip(a, _axis(a, k, L))),
        # shape-preserving uses of indexing, scatter, stacking, padding and matrix products
        "gather_roll": (1, lambda a, b, k: a if L.ndim(a) == 0 else a[..., np.roll(np.arange(L.shape(a)[-1]), 1)]),
        "gather_repeat": (1, lambda a, b, k: a if L.ndim(a) == 0 else a[..., np.zeros(L.shape(a)[-1], dtype=np.int64)]),
        "take_along": (1, lambda a, b, k: a if L.ndim(a) == 0 else L.take_along_axis(
            a, np.ascontiguousarray(np.broadcast_to(np.arange(L.shape(a)[-1])[::-1], L.shape(a))), axis=L.ndim(a) - 1)),
        "index_add": (1, lambda a, b, k: a if L.ndim(a) == 0 else L.index_add(
            a, L.ndim(a) - 1, np.arange(L.shape(a)[-1]) // 2, a * 0.5)),
        "reverse_flat": (1, lambda a, b, k: L.reshape(L.flip(L.reshape(a, (-1,)), 0), L.shape(a))),
        "stack_sum": (1, lambda a, b, k: L.sum(L.stack([a, a * a]), axis=0)),
        "stencil": (1, lambda a, b, k: a if L.ndim(a) == 0 else _stencil(L, a)),
        "swap_square": (1, lambda a, b, k: L.swapaxes(a, -1, -2) if _square(L, a) else a),
        "matmul_square": (2, lambda a, b, k: a @ b if _square(L, a) and L.shape(a)[-2:] == L.shape(b)[-2:]
                          else a * b),
    }


def _square(L, a):
    return L.ndim(a) >= 2 and L.shape(a)[-1] == L.shape(a)[-2]


def _stencil(L, a):
    p = L.pad_last(a)
    return p[..., :-2] + p[..., 2:] - 2 * a


OP_NAMES = sorted(make_ops(None).keys())


def run(program, inputs, L):
    """Interpret ``program`` on ``inputs`` with library ``L``; returns the last value."""
    ops = make_ops(L)
    values = list(inputs)
    for name, i, j, k in program:
        _, fn = ops[name]
        values.append(fn(values[i % len(values)], values[j % len(values)], k))
    return values[-1]


@st.composite
def programs(draw, max_steps=6, max_inputs=3):
    """(program, inputs): base shape of up to 3 dims of size 1-3; inputs broadcast to it."""
    base = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    n_inputs = draw(st.integers(1, max_inputs))
    shapes = []
    for _ in range(n_inputs):
        keep = draw(st.lists(st.booleans(), min_size=len(base), max_size=len(base)))
        shape = tuple(n if kept else 1 for n, kept in zip(base, keep))
        drop = draw(st.integers(0, len(shape)))
        shapes.append(shape[drop:])
    steps = draw(st.lists(st.tuples(st.sampled_from(OP_NAMES), st.integers(0, 10), st.integers(0, 10),
                                    st.integers(0, 2)), min_size=1, max_size=max_steps))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(s) for s in shapes]
    return steps, inputs
