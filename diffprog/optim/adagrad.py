"""Adagrad."""
import numpy as np

from .optimizer import Optimizer


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``: ``sum += g^2``; ``x -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps)``."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 maximize=False, prox=None):
        if lr < 0 or lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError(f"Adagrad: lr, lr_decay, weight_decay, initial_accumulator_value and eps must be "
                             f">= 0, got {lr}, {lr_decay}, {weight_decay}, {initial_accumulator_value}, {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize), prox)

    def _update(self, x, grad, state, group):
        g = -grad if group["maximize"] else grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * x
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(x, group["initial_accumulator_value"])
        t = state["step"] = state["step"] + 1
        clr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        s = state["sum"] = state["sum"] + g * g
        return x - clr * (g / (np.sqrt(s) + group["eps"]))
