"""Proximal-gradient solvers for ``min_x f(x) + g(x)``: ``ista`` and ``fista``.

``f`` is any differentiable diffprog function of one array (its gradient comes from reverse mode);
``g`` is a proximal operator from :mod:`diffprog.optim.prox` (``g(x, step)`` and ``g.value(x)``).
The step is ``1 / L`` from a power-iteration estimate of the Lipschitz constant of ``grad f``, a
number you pass, or ``"backtracking"`` (Beck and Teboulle's line search: the step shrinks by
``shrink`` until the quadratic upper bound holds). FISTA restarts its momentum adaptively
(O'Donoghue and Candes: when the momentum points uphill). Stopping: the relative change
``||x_k+1 - x_k|| <= tol ||x_k+1||``, or, when ``duality_gap`` is given (a function ``x -> gap``,
e.g. for Lasso-type problems), ``gap <= gap_tol``. The result carries a history of objective,
gap and step per iteration, for plotting.
"""
import numpy as np

from diffprog import autodiff as ad
from . import prox  # noqa: F401  (the operators; re-exported as diffprog.optim.prox)

__all__ = ["ista", "fista", "lipschitz_constant", "ProximalResult", "prox"]


class ProximalResult:
    """What ``ista``/``fista`` return: ``x`` (the last iterate), ``n_iter``, ``converged`` (bool),
    ``objective`` (final ``f(x) + g(x)``) and ``history`` (dict of 1-D arrays ``objective``,
    ``gap`` (NaN without ``duality_gap``), ``step``, one entry per iteration)."""

    def __init__(self, x, n_iter, converged, history):
        self.x, self.n_iter, self.converged, self.history = x, n_iter, converged, history
        self.objective = float(history["objective"][-1]) if len(history["objective"]) else float("nan")

    def __repr__(self):
        return (f"ProximalResult(n_iter={self.n_iter}, converged={self.converged}, "
                f"objective={self.objective:.6g})")


def _value_and_grad(f):
    vg = ad.value_and_grad(f)

    def call(x):
        value, grad = vg(x)
        return float(np.asarray(value)), np.asarray(grad, dtype=float)
    return call


def _value(f, x):
    with ad.no_grad():
        out = f(x)
    return float(np.asarray(out.data if type(out) is ad.Tensor else out))


def lipschitz_constant(f, x0, n_iter=30, seed=0, rtol=1e-6):
    """Estimate the Lipschitz constant of ``grad f`` near ``x0`` by power iteration on the Hessian,
    each Hessian-vector product taken as a difference of reverse-mode gradients (exact for
    quadratic ``f``, which is what least-squares losses are). Returns a float > 0."""
    x0 = np.asarray(x0, dtype=float)
    grad = _value_and_grad(f)
    _, g0 = grad(x0)
    v = np.random.default_rng(seed).standard_normal(x0.shape)
    v /= np.linalg.norm(v)
    scale = max(1.0, float(np.linalg.norm(x0)))
    estimate = 0.0
    for _ in range(n_iter):
        eps = 1e-4 * scale
        hv = (grad(x0 + eps * v)[1] - g0) / eps
        new = float(np.linalg.norm(hv))
        if new == 0.0:
            return 1e-12
        v = hv / new
        if abs(new - estimate) <= rtol * new:
            estimate = new
            break
        estimate = new
    return estimate


def _check(f, prox, x0, step, max_iter, tol):
    if not callable(f):
        raise TypeError(f"f must be a callable x -> scalar, got {type(f).__name__}")
    if not (callable(prox) and hasattr(prox, "value")):
        raise TypeError("prox must be a proximal operator with __call__(x, step) and value(x) (see "
                        f"diffprog.prox), got {type(prox).__name__}")
    x0 = np.array(x0.data if type(x0) is ad.Tensor else x0, dtype=float)
    if not np.all(np.isfinite(x0)):
        raise ValueError("x0 contains NaN or inf")
    if not (step is None or step == "backtracking" or (np.isscalar(step) and step > 0)):
        raise ValueError(f"step must be a positive number, None (1/L by power iteration) or "
                         f"'backtracking', got {step!r}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    return x0


def _solve(f, prox, x0, step, max_iter, tol, duality_gap, gap_tol, accelerated, restart, shrink, callback):
    x = _check(f, prox, x0, step, max_iter, tol)
    vg = _value_and_grad(f)
    backtracking = step == "backtracking"
    if step is None:
        step = 1.0 / lipschitz_constant(f, x)
    elif backtracking:
        step = 1.0 / lipschitz_constant(f, x, n_iter=3)    # a rough start; the search corrects it
    step = float(step)
    if restart not in (None, "gradient", "function"):
        raise ValueError(f"restart must be None, 'gradient' or 'function', got {restart!r}")
    history = {"objective": [], "gap": [], "step": []}
    y, t = x.copy(), 1.0
    objective = _value(f, x) + prox.value(x)
    converged = False
    n_iter = 0
    for n_iter in range(1, int(max_iter) + 1):
        fy, gy = vg(y)
        while True:
            x_new = np.asarray(prox(y - step * gy, step), dtype=float)
            if not backtracking:
                break
            d = x_new - y
            f_new = _value(f, x_new)
            if f_new <= fy + np.vdot(gy, d) + np.vdot(d, d) / (2 * step) + 1e-12 * abs(fy):
                break
            step *= shrink
        new_objective = _value(f, x_new) + prox.value(x_new)
        change = np.linalg.norm(x_new - x)
        if accelerated:
            restart_now = ((restart == "gradient" and np.vdot(y - x_new, x_new - x) > 0)
                           or (restart == "function" and new_objective > objective))
            if restart_now and restart == "function":
                t = 1.0                                  # reject the uphill step, restart from x
                x_new, new_objective, y = x, objective, x.copy()
            elif restart_now:
                t = 1.0
                y = x_new.copy()
            else:
                t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
                y = x_new + ((t - 1.0) / t_new) * (x_new - x)
                t = t_new
        else:
            y = x_new
        x, objective = x_new, new_objective
        gap = float(duality_gap(x)) if duality_gap is not None else float("nan")
        history["objective"].append(objective)
        history["gap"].append(gap)
        history["step"].append(step)
        if callback is not None:
            callback(n_iter, x)
        if duality_gap is not None:
            if gap <= gap_tol:
                converged = True
                break
        elif change <= tol * max(np.linalg.norm(x), np.finfo(float).tiny):
            converged = True
            break
    history = {k: np.asarray(v, dtype=float) for k, v in history.items()}
    return ProximalResult(x, n_iter, converged, history)


def ista(f, prox, x0, step=None, max_iter=1000, tol=1e-8, duality_gap=None, gap_tol=1e-8,
         shrink=0.5, callback=None):
    """Proximal gradient descent ``x <- prox(x - step grad f(x), step)``.

    Args: ``f`` (diffprog function array -> scalar), ``prox`` (operator with ``value``), ``x0``
    (array, any shape), ``step`` (number, ``None`` for ``1/L`` by power iteration, or
    ``"backtracking"``), ``max_iter``, ``tol`` (relative change), ``duality_gap`` (optional
    ``x -> float``; when given, stop on ``gap <= gap_tol`` instead), ``shrink`` (backtracking
    factor), ``callback(k, x)``. Returns a :class:`ProximalResult`. The objective decreases like
    O(1/k) for convex ``f``.
    """
    return _solve(f, prox, x0, step, max_iter, tol, duality_gap, gap_tol, False, None, shrink, callback)


def fista(f, prox, x0, step=None, max_iter=1000, tol=1e-8, duality_gap=None, gap_tol=1e-8,
          restart="gradient", shrink=0.5, callback=None):
    """Accelerated proximal gradient (Beck and Teboulle's FISTA): like :func:`ista` but the
    gradient step is taken at the extrapolated point ``y = x_k + (t_k-1)/t_k+1 (x_k - x_k-1)``;
    O(1/k^2) for convex ``f``. ``restart``: ``"gradient"`` (default; reset the momentum when
    ``(y - x_k+1).(x_k+1 - x_k) > 0``), ``"function"`` (when the objective would increase: the
    step is rejected and the momentum reset, so the objective is monotone) or ``None``.
    """
    return _solve(f, prox, x0, step, max_iter, tol, duality_gap, gap_tol, True, restart, shrink, callback)
