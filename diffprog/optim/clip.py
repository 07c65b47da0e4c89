"""Gradient clipping by global norm and by value (replaces each parameter's ``grad``)."""
import numpy as np

from diffprog.autodiff import Tensor


def _grads(params, name):
    params = [params] if type(params) is Tensor else list(params)
    for i, p in enumerate(params):
        if type(p) is not Tensor:
            raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, expected a diffprog Tensor")
    return [p for p in params if p.grad is not None]


def global_grad_norm(params, norm_type=2.0):
    """The ``norm_type``-norm of all gradients taken together (as one long vector)."""
    params = _grads(params, "global_grad_norm")
    if not params:
        return 0.0
    if norm_type == np.inf:
        return float(max(np.max(np.abs(p.grad)) for p in params))
    return float(sum(np.sum(np.abs(p.grad) ** norm_type) for p in params) ** (1.0 / norm_type))


def clip_grad_norm(params, max_norm, norm_type=2.0):
    """Scale all gradients by ``min(1, max_norm / (total_norm + 1e-6))`` (PyTorch's rule) and
    return the total norm measured before clipping."""
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be > 0, got {max_norm}")
    total = global_grad_norm(params, norm_type)
    coef = min(1.0, max_norm / (total + 1e-6))
    if coef < 1.0:
        for p in _grads(params, "clip_grad_norm"):
            p.grad = p.grad * np.asarray(coef, dtype=p.grad.dtype)
    return total


def clip_grad_value(params, clip_value):
    """Clip every gradient entry into ``[-clip_value, clip_value]``."""
    if not clip_value > 0:
        raise ValueError(f"clip_grad_value: clip_value must be > 0, got {clip_value}")
    for p in _grads(params, "clip_grad_value"):
        p.grad = np.clip(p.grad, -clip_value, clip_value)
