"""Smooth losses on a :class:`~diffprog.sparse.design.Design` as diffprog functions of the
coefficients (one fused node each, so dense and ``scipy.sparse`` X cost one matrix-vector
product per value-and-gradient), for use with :func:`diffprog.optim.fista`."""
import numpy as np

from diffprog import autodiff as ad


def least_squares(design, y):
    """``w -> 0.5 ||y - X w||^2 / n`` (w (p,)); gradient ``-X^T r / n``."""
    n = design.n

    def forward(w):
        residual = y - design.dot(w)
        return np.asarray(0.5 * residual @ residual / n), residual

    def backward(residual, g):
        return (-g * design.rdot(residual) / n,)

    @ad.custom_vjp
    def loss(w):
        return forward(w)[0]
    loss.defvjp(forward, backward)
    return loss


def logistic(design, y_sign, fit_intercept):
    """``v -> mean log(1 + exp(-y_i (x_i.w + b)))`` with ``v = [w, b]`` when ``fit_intercept``
    (else ``v = w``); ``y_sign`` in {-1, +1}. Returns the loss and ``margins(v) -> y (Xw + b)``."""
    n, p = design.n, design.p

    def margins(v):
        z = design.dot(v[:p])
        if fit_intercept:
            z = z + v[p]
        return y_sign * z

    def forward(v):
        m = margins(v)
        return np.asarray(np.mean(np.logaddexp(0.0, -m))), m

    def backward(m, g):
        weight = -y_sign * np.exp(-np.logaddexp(0.0, m)) / n          # d loss / d z_i
        grad = design.rdot(weight)
        if fit_intercept:
            grad = np.concatenate([grad, [weight.sum()]])
        return (g * grad,)

    @ad.custom_vjp
    def loss(v):
        return forward(v)[0]
    loss.defvjp(forward, backward)
    return loss, margins
