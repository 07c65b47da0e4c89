"""RMSprop (optionally centered, with momentum)."""
import numpy as np

from .optimizer import Optimizer


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: ``s = alpha s + (1 - alpha) g^2``; the step divides ``g`` by
    ``sqrt(s) + eps`` (``sqrt(s - mean(g)^2) + eps`` when ``centered``), through a momentum buffer
    when ``momentum > 0``."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False, prox=None):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum < 0 or not 0 <= alpha <= 1:
            raise ValueError(f"RMSprop: need lr, eps, weight_decay, momentum >= 0 and 0 <= alpha <= 1, got "
                             f"lr={lr}, eps={eps}, weight_decay={weight_decay}, momentum={momentum}, alpha={alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize), prox)

    def _update(self, x, grad, state, group):
        g = -grad if group["maximize"] else grad
        alpha = group["alpha"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * x
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(x)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(x)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(x)
        state["step"] += 1
        s = state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * g * g
        if group["centered"]:
            a = state["grad_avg"] = state["grad_avg"] + (1 - alpha) * (g - state["grad_avg"])
            avg = np.sqrt(s - a * a) + group["eps"]
        else:
            avg = np.sqrt(s) + group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"] = group["momentum"] * state["momentum_buffer"] + g / avg
            return x - group["lr"] * buf
        return x - group["lr"] * (g / avg)
