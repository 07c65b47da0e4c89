"""Layers: Linear, Sequential, MLP, Residual, Embedding, Dropout, LayerNorm, BatchNorm1d.

Inputs put features on the last axis (``(..., in_features)``), except BatchNorm1d which follows
PyTorch: ``(N, C)`` or ``(N, C, L)``. Wrong feature sizes raise ValueError naming the layer and the
expected size.
"""
import numpy as np

import diffprog.autodiff as ad
from diffprog.autodiff import Tensor
from .module import Module, Parameter
from . import init as _init
from .activations import get_activation


def _shape(x):
    return np.shape(x.data if type(x) is Tensor else x)


def check_features(layer, x, expected, axis=-1, what="last dimension"):
    """Raise ValueError unless ``x.shape[axis] == expected``."""
    shape = _shape(x)
    if len(shape) == 0 or shape[axis] != expected:
        raise ValueError(f"{layer}: expected input with {what} {expected}, got input of shape {shape}")


def linear_map(x, weight):
    """x @ weight.T for x of shape (..., in) and weight (out, in). Inputs with more than two
    dimensions are flattened to one matrix product, so the weight's gradient is one product
    too (not a batch of per-row products summed afterwards)."""
    shape = _shape(x)
    if len(shape) <= 2:
        return ad.matmul(x, weight.T)
    y = ad.matmul(ad.reshape(x, (-1, shape[-1])), weight.T)
    return ad.reshape(y, shape[:-1] + (_shape(weight)[0],))


def _make_weight(init, shape, rng, dtype):
    if callable(init):
        w = np.asarray(init(shape, rng=rng))
        if w.shape != tuple(shape):
            raise ValueError(f"init callable returned shape {w.shape}, expected {tuple(shape)}")
        return w.astype(dtype)
    if init not in _init.INITIALIZERS:
        raise ValueError(f"unknown init {init!r}; expected a callable init(shape, rng=...) or one of "
                         f"{sorted(_init.INITIALIZERS)}")
    return _init.INITIALIZERS[init](shape, rng=rng, dtype=dtype)


class Linear(Module):
    """y = x W^T + b with ``weight`` (out_features, in_features) and ``bias`` (out_features,).

    ``init`` names an initializer in :mod:`diffprog.nn.init` ('default' is PyTorch's
    U(-1/sqrt(in), 1/sqrt(in)) for weight and bias; any other leaves the bias at zero) or is a
    callable ``init(shape, rng=...)``. ``rng``: Generator or seed.
    """

    def __init__(self, in_features, out_features, bias=True, init="default", rng=None, dtype=np.float64):
        super().__init__()
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(f"Linear: in_features and out_features must be positive, got {in_features}, "
                             f"{out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = _init.as_generator(rng)
        self.weight = Parameter(_make_weight(init, (self.out_features, self.in_features), rng, dtype))
        if bias:
            b = (_init.uniform((self.out_features,), -1 / np.sqrt(self.in_features), 1 / np.sqrt(self.in_features),
                               rng, dtype) if init == "default" else np.zeros(self.out_features, dtype))
            self.bias = Parameter(b)
        else:
            self.bias = None

    def forward(self, x):
        check_features(f"Linear(in_features={self.in_features}, out_features={self.out_features})",
                       x, self.in_features)
        y = linear_map(x, self.weight)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Apply modules (or plain callables) in order; index and iterate like a list."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, expected a Module or callable")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return Sequential(*self.layers[i]) if isinstance(i, slice) else self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)


class MLP(Sequential):
    """Linear layers with ``activation`` between them and ``output_activation`` after the last.

    ``hidden_features`` is a list of widths (or an int with ``num_hidden_layers``). ``init`` is
    passed to every Linear ('siren' uses SIREN's first/other-layer rule with ``activation='sin'``).
    """

    def __init__(self, in_features, hidden_features, out_features, num_hidden_layers=None, activation="relu",
                 output_activation=None, init="default", bias=True, rng=None, dtype=np.float64):
        if isinstance(hidden_features, (int, np.integer)):
            hidden_features = [int(hidden_features)] * (1 if num_hidden_layers is None else int(num_hidden_layers))
        widths = [int(in_features)] + [int(h) for h in hidden_features] + [int(out_features)]
        rng = _init.as_generator(rng)
        layers = []
        for i in range(len(widths) - 1):
            layer_init = init
            if init == "siren":
                layer_init = (lambda shape, rng, first=(i == 0): _init.siren_uniform(shape, is_first=first, rng=rng))
            layers.append(Linear(widths[i], widths[i + 1], bias=bias, init=layer_init, rng=rng, dtype=dtype))
            if i < len(widths) - 2:
                layers.append(get_activation(activation))
            elif output_activation is not None:
                layers.append(get_activation(output_activation))
        super().__init__(*layers)

    @property
    def linears(self):
        return [m for m in self.layers if isinstance(m, Linear)]


class Residual(Module):
    """y = x + block(x) (the block must keep the shape)."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        y = self.block(x)
        if _shape(y) != _shape(x):
            raise ValueError(f"Residual: the block maps shape {_shape(x)} to {_shape(y)}; a residual "
                             f"connection needs the same shape")
        return x + y


class Embedding(Module):
    """A lookup table ``weight`` (num_embeddings, embedding_dim), N(0, 1) initialised; integer
    indices of any shape give (..., embedding_dim). Repeated indices accumulate gradients."""

    def __init__(self, num_embeddings, embedding_dim, rng=None, dtype=np.float64):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(_init.normal((self.num_embeddings, self.embedding_dim), rng=rng, dtype=dtype))

    def forward(self, indices):
        idx = np.asarray(indices.data if type(indices) is Tensor else indices)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): indices must be integers, "
                            f"got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise ValueError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): indices must be in "
                             f"[0, {self.num_embeddings}), got values in [{idx.min()}, {idx.max()}]")
        return ad.take(self.weight, idx, axis=0)


class Dropout(Module):
    """In training, zero each entry with probability ``p`` and scale the rest by 1/(1-p); the
    identity in eval mode. The mask comes from the module's own Generator (``rng``)."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = _init.as_generator(rng)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random(_shape(x)) >= self.p
        dtype = x.dtype if type(x) is Tensor else np.asarray(x).dtype
        return ad.multiply(x, keep.astype(dtype if dtype.kind == "f" else np.float64) / (1 - self.p))


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes: (x - mean) / sqrt(var + eps) (biased
    variance), then ``* weight + bias`` (ones/zeros initialised) when ``elementwise_affine``."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=np.float64):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype))
        else:
            self.weight = self.bias = None

    def forward(self, x):
        k = len(self.normalized_shape)
        shape = _shape(x)
        if shape[len(shape) - k:] != self.normalized_shape or len(shape) < k:
            raise ValueError(f"LayerNorm({self.normalized_shape}): expected input whose trailing dimensions are "
                             f"{self.normalized_shape}, got input of shape {shape}")
        axes = tuple(range(-k, 0))
        centered = x - ad.mean(x, axis=axes, keepdims=True)
        var = ad.mean(centered * centered, axis=axes, keepdims=True)
        y = centered / ad.sqrt(var + self.eps)
        return y if self.weight is None else y * self.weight + self.bias


class BatchNorm1d(Module):
    """Batch normalisation over ``(N, C)`` or ``(N, C, L)`` inputs, per channel C.

    Training mode normalises with the batch mean and biased variance and updates the buffers
    ``running_mean``/``running_var`` (unbiased variance) with ``momentum``; eval mode uses them.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float64):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype))
        else:
            self.weight = self.bias = None
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype))
        self.register_buffer("running_var", np.ones(self.num_features, dtype))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, x):
        shape = _shape(x)
        name = f"BatchNorm1d({self.num_features})"
        if len(shape) not in (2, 3):
            raise ValueError(f"{name}: expected input of shape (N, C) or (N, C, L), got {shape}")
        check_features(name, x, self.num_features, axis=1, what="channel dimension (axis 1)")
        axes = (0,) if len(shape) == 2 else (0, 2)
        param_shape = (1, self.num_features) if len(shape) == 2 else (1, self.num_features, 1)
        if self.training or not self.track_running_stats:
            count = shape[0] * (1 if len(shape) == 2 else shape[2])
            if count < 2 and self.training:
                raise ValueError(f"{name}: training mode needs more than one value per channel, got input of "
                                 f"shape {shape}")
            mean = ad.mean(x, axis=axes, keepdims=True)
            centered = x - mean
            var = ad.mean(centered * centered, axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                m = self.momentum
                batch_mean = np.asarray(mean.data if type(mean) is Tensor else mean).reshape(-1)
                batch_var = np.asarray(var.data if type(var) is Tensor else var).reshape(-1) * count / (count - 1)
                self.running_mean = ((1 - m) * self.running_mean + m * batch_mean).astype(self.running_mean.dtype)
                self.running_var = ((1 - m) * self.running_var + m * batch_var).astype(self.running_var.dtype)
                self.num_batches_tracked = self.num_batches_tracked + 1
            y = centered / ad.sqrt(var + self.eps)
        else:
            y = (x - self.running_mean.reshape(param_shape)) / np.sqrt(self.running_var.reshape(param_shape) + self.eps)
        if self.weight is None:
            return y
        return y * ad.reshape(self.weight, param_shape) + ad.reshape(self.bias, param_shape)
