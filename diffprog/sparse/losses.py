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


def multinomial(design, codes, n_classes, fit_intercept):
    """``V -> mean_i [logsumexp(z_i) - z_i[codes_i]]`` with ``z_i = W x_i (+ b)``, ``V = [W, b]``
    (K, p + 1) when ``fit_intercept`` else ``V = W`` (K, p); ``codes`` (n,) in 0..K-1. Returns the
    loss and ``probabilities(V) -> (softmax(z) (n, K), per-sample loss (n,))``."""
    n, p = design.n, design.p
    rows = np.arange(n)

    def probabilities(V):
        z = design.dot(V[:, :p].T)
        if fit_intercept:
            z = z + V[:, p]
        log_partition = np.logaddexp.reduce(z, axis=1)
        return np.exp(z - log_partition[:, None]), log_partition - z[rows, codes]

    def forward(V):
        P, losses = probabilities(V)
        return np.asarray(np.mean(losses)), P

    def backward(P, g):
        weight = P.copy()
        weight[rows, codes] -= 1.0                                     # d loss_i / d z_i, times n
        grad = design.rdot(weight / n).T
        if fit_intercept:
            grad = np.concatenate([grad, weight.sum(axis=0)[:, None] / n], axis=1)
        return (g * grad,)

    @ad.custom_vjp
    def loss(V):
        return forward(V)[0]
    loss.defvjp(forward, backward)
    return loss, probabilities
