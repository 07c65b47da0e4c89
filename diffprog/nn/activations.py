"""Activation functions (on Tensors or arrays) and their Module wrappers.

``relu leaky_relu gelu elu sigmoid tanh softplus sin``; ``erf`` is a primitive defined here (the
error function is not in NumPy) so that ``gelu`` is the exact, erf-based GELU as in PyTorch.
"""
import math

import numpy as np

import diffprog.autodiff as ad
from diffprog.autodiff.extend import backend as B
from diffprog.autodiff.extend import Primitive, apply
from .module import Module

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_forward(x):
    """erf by the all-positive series erf(z) = 2/sqrt(pi) e^{-z^2} sum_n 2^n z^{2n+1} / (2n+1)!!
    (no cancellation; |z| is capped at 6 where erf = +-1 to double precision)."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    z = np.minimum(np.abs(x), 6.0).astype(np.float64)
    z2 = z * z
    term = z.copy()
    total = z.copy()
    for n in range(1, 160):
        term *= 2.0 * z2 / (2 * n + 1)
        total += term
        if n > 2 * 36 + 20:   # enough for z <= 6 (terms peak near n = z^2 and decay after ~2 z^2)
            break
    out = _TWO_OVER_SQRT_PI * np.exp(-z2) * total
    return (np.sign(x) * np.minimum(out, 1.0)).astype(dtype)


ERF = Primitive("erf", _erf_forward, vjps=[lambda g, ans, x: g * (_TWO_OVER_SQRT_PI * B.exp(-x * x))],
                jvps=[lambda t, ans, x: t * (_TWO_OVER_SQRT_PI * B.exp(-x * x))], save="inputs")


def erf(x):
    """The error function 2/sqrt(pi) int_0^x exp(-t^2) dt (accurate to ~1e-15 absolute)."""
    return apply(ERF, x)


def relu(x):
    """max(x, 0); relu'(0) = 0."""
    return ad.relu(x)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise (slope at 0: negative_slope, as PyTorch)."""
    return ad.where(B.data(x) > 0, x, x * negative_slope)


def gelu(x, approximate="none"):
    """x * Phi(x) with Phi the standard normal CDF (``approximate='tanh'``: the tanh formula)."""
    if approximate == "none":
        return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + ad.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise (slope alpha at 0, as PyTorch; the exp only
    sees the non-positive entries, so large inputs never overflow into a NaN gradient)."""
    positive = B.data(x) > 0
    return ad.where(positive, x, alpha * ad.expm1(ad.where(positive, 0.0, x)))


def sigmoid(x):
    return ad.sigmoid(x)


def tanh(x):
    return ad.tanh(x)


def softplus(x, beta=1.0):
    """log(1 + exp(beta x)) / beta, computed stably."""
    return ad.softplus(x) if beta == 1.0 else ad.softplus(x * beta) / beta


def sin(x, omega_0=1.0):
    """sin(omega_0 x): SIREN's periodic activation (omega_0 = 30 in the paper's first layer)."""
    return ad.sin(x) if omega_0 == 1.0 else ad.sin(x * omega_0)


class _Activation(Module):
    fn = None

    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def forward(self, x):
        return type(self).fn(x, **self.kwargs)

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.kwargs.items())


class ReLU(_Activation):
    fn = staticmethod(relu)


class LeakyReLU(_Activation):
    fn = staticmethod(leaky_relu)

    def __init__(self, negative_slope=0.01):
        super().__init__(negative_slope=negative_slope)


class GELU(_Activation):
    fn = staticmethod(gelu)

    def __init__(self, approximate="none"):
        super().__init__(approximate=approximate)


class ELU(_Activation):
    fn = staticmethod(elu)

    def __init__(self, alpha=1.0):
        super().__init__(alpha=alpha)


class Sigmoid(_Activation):
    fn = staticmethod(sigmoid)


class Tanh(_Activation):
    fn = staticmethod(tanh)


class Softplus(_Activation):
    fn = staticmethod(softplus)

    def __init__(self, beta=1.0):
        super().__init__(beta=beta)


class Sine(_Activation):
    fn = staticmethod(sin)

    def __init__(self, omega_0=30.0):
        super().__init__(omega_0=omega_0)


class Identity(_Activation):
    fn = staticmethod(lambda x: x)


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "gelu": GELU, "elu": ELU, "sigmoid": Sigmoid,
               "tanh": Tanh, "softplus": Softplus, "sin": Sine, "identity": Identity, "linear": Identity}


def get_activation(spec):
    """A Module from a name in ``ACTIVATIONS``, a Module (returned as is), or None (identity)."""
    if spec is None:
        return Identity()
    if isinstance(spec, Module):
        return spec
    if isinstance(spec, str) and spec in ACTIVATIONS:
        return ACTIVATIONS[spec]()
    raise ValueError(f"unknown activation {spec!r}; expected one of {sorted(ACTIVATIONS)} or a Module")
