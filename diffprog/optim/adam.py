"""Adam and AdamW (decoupled weight decay)."""
import numpy as np

from .optimizer import Optimizer


class Adam(Optimizer):
    """``torch.optim.Adam``: moments ``m, v`` of ``g = grad + weight_decay * x``, bias-corrected;
    ``x -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``; ``amsgrad`` uses the running
    maximum of ``v``."""

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, prox=None):
        name = type(self).__name__
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"{name}: lr, eps and weight_decay must be >= 0, got lr={lr}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        betas = tuple(float(b) for b in betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize), prox)

    def _update(self, x, grad, state, group):
        g = -grad if group["maximize"] else grad
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        if wd:
            if self._decoupled:
                x = x * (1 - lr * wd)
            else:
                g = g + wd * x
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(x)
            state["exp_avg_sq"] = np.zeros_like(x)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(x)
        t = state["step"] = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]          # owned by the optimizer: updated in place
        delta = g - m
        delta *= 1 - beta1
        m += delta
        v *= beta2
        v += (1 - beta2) * (g * g)
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = np.sqrt(v)
        denom /= np.sqrt(1 - beta2 ** t)
        denom += eps
        np.divide(m, denom, out=denom)
        denom *= lr / (1 - beta1 ** t)
        return x - denom


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay ``x *= 1 - lr * weight_decay``
    applied before the Adam step (default ``weight_decay=1e-2``)."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False, prox=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, prox=prox)
