"""Loss functions (PyTorch's names and conventions). ``reduction`` is 'mean', 'sum' or 'none'.

Classification losses work from logits through ``log_softmax`` / softplus, so they stay finite
for any logits.
"""
import numpy as np

import diffprog.autodiff as ad
from diffprog.autodiff import Tensor


def _shape(x):
    return np.shape(x.data if type(x) is Tensor else x)


def _reduce(loss, reduction, name):
    if reduction == "mean":
        return ad.mean(loss)
    if reduction == "sum":
        return ad.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(name, input, target):
    if _shape(input) != _shape(target):
        raise ValueError(f"{name}: input shape {_shape(input)} and target shape {_shape(target)} must match")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (input - target)^2."""
    _same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error |input - target| (gradient 0 at equality)."""
    _same_shape("l1_loss", input, target)
    return _reduce(ad.abs(input - target), reduction, "l1_loss")


def huber_loss(input, target, delta=1.0, reduction="mean"):
    """0.5 d^2 for |d| <= delta, delta (|d| - 0.5 delta) beyond, with d = input - target."""
    _same_shape("huber_loss", input, target)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    d = input - target
    a = ad.abs(d)
    small = ad.minimum(a, delta)     # |d| clipped: quadratic part
    return _reduce(0.5 * small * small + delta * (a - small), reduction, "huber_loss")


def _labels(name, target, n, num_classes):
    t = np.asarray(target.data if type(target) is Tensor else target)
    if t.dtype.kind not in "iu":
        return None
    if t.shape != (n,):
        raise ValueError(f"{name}: integer target must have shape ({n},) (one label per row), got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"{name}: labels must be in [0, {num_classes}), got values in [{t.min()}, {t.max()}]")
    return t


def nll_loss(log_probs, target, reduction="mean"):
    """Negative log-likelihood: -log_probs[i, target[i]] for (N, C) log-probabilities and integer labels."""
    shape = _shape(log_probs)
    if len(shape) != 2:
        raise ValueError(f"nll_loss: expected log-probabilities of shape (N, C), got {shape}")
    t = _labels("nll_loss", target, shape[0], shape[1])
    if t is None:
        raise TypeError(f"nll_loss: target must be integer class labels, got dtype {np.asarray(target).dtype}")
    picked = log_probs[np.arange(shape[0]), t]
    return _reduce(-picked, reduction, "nll_loss")


def cross_entropy(logits, target, label_smoothing=0.0, reduction="mean"):
    """Softmax cross-entropy from (N, C) logits and integer labels (N,) or class probabilities
    (N, C). With ``label_smoothing`` eps the target is (1 - eps) one-hot + eps / C (PyTorch)."""
    shape = _shape(logits)
    if len(shape) != 2:
        raise ValueError(f"cross_entropy: expected logits of shape (N, C), got {shape}")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    n, c = shape
    logp = ad.log_softmax(logits, axis=-1)
    t = _labels("cross_entropy", target, n, c)
    if t is not None:
        loss = -logp[np.arange(n), t]
        if label_smoothing:
            loss = (1 - label_smoothing) * loss - label_smoothing * ad.mean(logp, axis=-1)
        return _reduce(loss, reduction, "cross_entropy")
    if _shape(target) != shape:
        raise ValueError(f"cross_entropy: probability target must have the logits' shape {shape}, got "
                         f"{_shape(target)}")
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / c
    return _reduce(-ad.sum(target * logp, axis=-1), reduction, "cross_entropy")


def binary_cross_entropy_with_logits(logits, target, pos_weight=None, reduction="mean"):
    """-[w y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] computed as
    (1 - y) x + (1 + (w - 1) y) softplus(-x), stable for any x (w = pos_weight, default 1)."""
    _same_shape("binary_cross_entropy_with_logits", logits, target)
    soft = ad.softplus(-logits)
    if pos_weight is None:
        loss = (1 - target) * logits + soft
    else:
        loss = (1 - target) * logits + (1 + (pos_weight - 1) * target) * soft
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")
