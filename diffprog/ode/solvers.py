"""Explicit Runge-Kutta integration (Euler, classic RK4, adaptive Dormand-Prince 5(4)).

The stepping code is written with Python operators only, so the same lines integrate plain NumPy
arrays (no graph: the adjoint method's forward and backward passes) and Tensors (the graph of every
stage is recorded: backpropagation through the solver).
"""
import math

import numpy as np

from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import Primitive, apply


class Tableau:
    """Butcher tableau: nodes ``c``, stage weights ``a`` (lower triangle), solution weights ``b``;
    ``b_error`` = b - b_hat of the embedded lower-order solution (adaptive methods only)."""

    def __init__(self, c, a, b, b_error=None, order=None, fsal=False):
        self.c, self.a, self.b, self.b_error, self.order, self.fsal = c, a, b, b_error, order, fsal


EULER = Tableau(c=[0.0], a=[[]], b=[1.0])
RK4 = Tableau(c=[0.0, 0.5, 0.5, 1.0], a=[[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]],
              b=[1 / 6, 1 / 3, 1 / 3, 1 / 6])
_DOPRI_B = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0]
_DOPRI_B_HAT = [5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40]
DOPRI5 = Tableau(
    c=[0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0],
    a=[[], [1 / 5], [3 / 40, 9 / 40], [44 / 45, -56 / 15, 32 / 9],
       [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
       [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
       _DOPRI_B[:6]],
    b=_DOPRI_B, b_error=[p - q for p, q in zip(_DOPRI_B, _DOPRI_B_HAT)], order=5, fsal=True)
METHODS = {"euler": EULER, "rk4": RK4, "dopri5": DOPRI5}


def _data(x):
    return getattr(x, "data", x) if not isinstance(x, np.ndarray) else x


def _combination_forward(*xs, coefficients):
    out = xs[0] * coefficients[0] if coefficients[0] != 1.0 else xs[0].copy()
    for c, x in zip(coefficients[1:], xs[1:]):
        out += c * x
    return out


# sum_j c_j x_j as one node of the graph (a Runge-Kutta stage costs one node, not two per term)
LINEAR_COMBINATION = Primitive(
    "linear_combination", _combination_forward, linear=True, variadic=True, save=(),
    vjps=[lambda g, ans, *xs, coefficients, argnum: g * coefficients[argnum] if coefficients[argnum] != 1.0 else g])


def combine(y, h, weights, ks):
    """y + h * sum_j weights[j] * ks[j] (zero weights skipped), as one primitive."""
    terms = [(h * w, k) for w, k in zip(weights, ks) if w != 0.0]
    coefficients = (1.0,) + tuple(c for c, _ in terms)
    xs = (y,) + tuple(k for _, k in terms)
    if any(type(x) is Tensor for x in xs):
        return apply(LINEAR_COMBINATION, *xs, coefficients=coefficients)
    return _combination_forward(*[np.asarray(x) for x in xs], coefficients=coefficients)


def rk_step(func, t, y, h, tableau, k1=None):
    """One explicit RK step: returns (y_next, stages). ``k1`` reuses a known first stage (FSAL)."""
    ks = [func(t, y) if k1 is None else k1]
    for c, a in zip(tableau.c[1:], tableau.a[1:]):
        ks.append(func(t + c * h, combine(y, h, a, ks)))
    if tableau.fsal:                                  # last stage is evaluated at the new solution
        return combine(y, h, tableau.a[-1], ks[:-1]), ks
    return combine(y, h, tableau.b, ks), ks


def fixed_grid(t0, t1, step_size):
    """Number of equal steps covering [t0, t1] with steps no longer than ``step_size``."""
    if step_size is None:
        return 1
    return max(1, int(math.ceil(abs(t1 - t0) / step_size - 1e-9)))


def rms_error(err, y0, y1, rtol, atol):
    e, a, b = _data(err), _data(y0), _data(y1)
    scale = atol + rtol * np.maximum(np.abs(a), np.abs(b))
    return float(np.sqrt(np.mean(np.square(e / scale)))) if np.size(e) else 0.0


def initial_step(func, t0, y0, f0, direction, order, rtol, atol):
    """Hairer, Norsett & Wanner's starting step (Solving ODEs I, II.4)."""
    y, f = _data(y0), _data(f0)
    scale = atol + np.abs(y) * rtol
    d0 = np.sqrt(np.mean(np.square(y / scale)))
    d1 = np.sqrt(np.mean(np.square(f / scale)))
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = _data(func(t0 + direction * h0, y + direction * h0 * f))
    d2 = np.sqrt(np.mean(np.square((f1 - f) / scale))) / h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** (1.0 / order)
    return min(100 * h0, h1)


def integrate(func, y0, times, method="dopri5", rtol=1e-7, atol=1e-9, step_size=None, max_steps=100000,
              jumps=None):
    """Integrate dy/dt = func(t, y) from ``times[0]`` through every later entry of ``times``.

    ``times`` is a monotonic sequence of floats (increasing or decreasing). Fixed-step methods take
    ``fixed_grid`` equal steps per interval; ``dopri5`` adapts its step to the error estimate
    (error-per-step control on the RMS norm of err / (atol + rtol max(|y|, |y_new|))), shortening
    the step that would cross an output time so it lands on it exactly. ``jumps(i, y)``, if given,
    replaces the state when output time i is reached (the adjoint method adds observation
    cotangents there). Returns (states at ``times``, statistics dict).
    """
    tableau = METHODS[method]
    states = [y0]
    y = y0
    stats = {"steps": 0, "rejected": 0, "evaluations": 0}
    counted = _counting(func, stats)
    if tableau.b_error is None:
        for i in range(1, len(times)):
            t0, t1 = times[i - 1], times[i]
            n = fixed_grid(t0, t1, step_size)
            h = (t1 - t0) / n
            for j in range(n):
                y, _ = rk_step(counted, t0 + j * h, y, h, tableau)
            stats["steps"] += n
            if jumps is not None:
                y = jumps(i, y)
            states.append(y)
        return states, stats
    direction = 1.0 if len(times) < 2 or times[-1] >= times[0] else -1.0
    t = times[0]
    k1 = counted(t, y)
    h = None if step_size is None else step_size
    for i in range(1, len(times)):
        target = times[i]
        while direction * (target - t) > 0:
            if h is None:
                h = initial_step(counted, t, y, k1, direction, tableau.order, rtol, atol)
            step = min(h, abs(target - t))
            last = step >= abs(target - t) * (1 - 1e-12)
            step = abs(target - t) if last else step
            y_new, ks = rk_step(counted, t, y, direction * step, tableau, k1)
            error = combine(0.0 * _data(y), direction * step, tableau.b_error, [_data(k) for k in ks])
            norm = rms_error(error, y, y_new, rtol, atol)
            if not np.isfinite(norm):
                raise FloatingPointError(f"odeint: the solution became non-finite near t = {t:.6g}")
            factor = 10.0 if norm == 0 else min(10.0, max(0.2, 0.9 * norm ** (-1.0 / tableau.order)))
            if norm <= 1.0:
                t = target if last else t + direction * step
                y, k1 = y_new, ks[-1]
                stats["steps"] += 1
                h = step * factor if not last else max(h, step * factor)
            else:
                stats["rejected"] += 1
                h = step * min(1.0, factor)
            if stats["steps"] + stats["rejected"] > max_steps:
                raise RuntimeError(f"odeint: more than max_steps={max_steps} steps between t = {times[0]:.6g} "
                                   f"and t = {target:.6g}; the problem may be stiff (increase max_steps, "
                                   f"loosen rtol/atol, or use a fixed-step method)")
        if jumps is not None:
            y = jumps(i, y)
            k1 = counted(t, y)
        states.append(y)
    return states, stats


def _counting(func, stats):
    def counted(t, y):
        stats["evaluations"] += 1
        return func(t, y)
    return counted
