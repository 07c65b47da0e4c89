"""Weight initializers. Each takes a shape ``(fan_out, fan_in, *receptive)`` (PyTorch's weight
layout) and ``rng`` (a ``numpy.random.Generator``, an integer seed, or None for a fresh one) and
returns a float64 NumPy array (``dtype=`` to change)."""
import math

import numpy as np

_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0),
          "selu": 0.75, "sin": 1.0}


def as_generator(rng):
    """A ``numpy.random.Generator`` from a Generator, an int seed, or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an integer seed or None, got {type(rng).__name__}")


def fans(shape):
    """(fan_in, fan_out) of a weight of ``shape`` = (out, in, *receptive)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"fan_in/fan_out need a weight shape with at least 2 dimensions, got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for an activation: sqrt(2) for relu, 5/3 for tanh,
    sqrt(2 / (1 + slope^2)) for leaky_relu, 1 for linear/sigmoid."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected one of "
                         f"{sorted(_GAINS) + ['leaky_relu']}")
    return _GAINS[nonlinearity]


def uniform(shape, low=0.0, high=1.0, rng=None, dtype=np.float64):
    return as_generator(rng).uniform(low, high, size=shape).astype(dtype)


def normal(shape, mean=0.0, std=1.0, rng=None, dtype=np.float64):
    return (mean + std * as_generator(rng).standard_normal(size=shape)).astype(dtype)


def xavier_uniform(shape, gain=1.0, rng=None, dtype=np.float64):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -bound, bound, rng, dtype)


def xavier_normal(shape, gain=1.0, rng=None, dtype=np.float64):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return normal(shape, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def _kaiming_std(shape, a, mode, nonlinearity):
    fan_in, fan_out = fans(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform(shape, a=0.0, mode="fan_in", nonlinearity="relu", rng=None, dtype=np.float64):
    """He init, uniform: variance gain^2 / fan (2 / fan_in for ReLU), bound sqrt(3) * std."""
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity)
    return uniform(shape, -bound, bound, rng, dtype)


def kaiming_normal(shape, a=0.0, mode="fan_in", nonlinearity="relu", rng=None, dtype=np.float64):
    """He init, normal: N(0, gain^2 / fan) (variance 2 / fan_in for ReLU)."""
    return normal(shape, 0.0, _kaiming_std(shape, a, mode, nonlinearity), rng, dtype)


def orthogonal(shape, gain=1.0, rng=None, dtype=np.float64):
    """A (semi-)orthogonal matrix (rows or columns orthonormal) times ``gain``, from the QR
    decomposition of a Gaussian matrix with the signs fixed so the distribution is uniform."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal: need a shape with at least 2 dimensions, got {shape}")
    rows, cols = shape[0], int(np.prod(shape[1:]))
    a = as_generator(rng).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype)


def siren_uniform(shape, omega_0=30.0, is_first=False, rng=None, dtype=np.float64):
    """SIREN (Sitzmann et al. 2020): U(-1/fan_in, 1/fan_in) for the first layer, else
    U(-sqrt(6/fan_in)/omega_0, sqrt(6/fan_in)/omega_0), so sin(omega_0 * (W x + b)) keeps its
    activation distribution across depth."""
    fan_in, _ = fans(shape)
    bound = 1.0 / fan_in if is_first else math.sqrt(6.0 / fan_in) / omega_0
    return uniform(shape, -bound, bound, rng, dtype)


def default_uniform(shape, rng=None, dtype=np.float64):
    """PyTorch's Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    fan_in, _ = fans(shape)
    bound = 1.0 / math.sqrt(fan_in)
    return uniform(shape, -bound, bound, rng, dtype)


INITIALIZERS = {"default": default_uniform, "xavier_uniform": xavier_uniform, "xavier_normal": xavier_normal,
                "kaiming_uniform": kaiming_uniform, "kaiming_normal": kaiming_normal, "orthogonal": orthogonal,
                "siren": siren_uniform}
