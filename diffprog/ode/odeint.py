"""``odeint``: differentiable ODE solutions, by backpropagation through the solver or by the
adjoint sensitivity method."""
import numpy as np

from diffprog.autodiff import Tensor, stack
import diffprog.autodiff as F
from diffprog.autodiff.extend import apply, backend as B
from diffprog.autodiff.pytree import flatten

from .adjoint import ODE_ADJOINT
from .solvers import METHODS, integrate


def odeint(f, y0, t, params=None, method="dopri5", rtol=1e-7, atol=1e-9, adjoint=False, step_size=None,
           max_steps=100000, stats=None):
    """Solve dy/dt = f(t, y, params) (or f(t, y) when ``params`` is None) at the times ``t``.

    Parameters
    ----------
    f : callable returning dy/dt with the shape of y, written with diffprog functions.
    y0 : array or Tensor, the state at ``t[0]`` (any shape, floating point).
    t : 1-D array or Tensor of output times, strictly increasing or strictly decreasing; ``t[0]`` is
        the initial time.
    params : pytree (list/tuple/dict) of arrays or Tensors passed to ``f`` as its third argument
        (e.g. an MLP's parameter list). With ``adjoint=True`` gradients reach exactly these leaves;
        Tensors that ``f`` closes over without listing them here get no gradient in that mode. A
        ``dp.nn`` module works either way: ``odeint(lambda t, y, p: model(y), y0, t,
        params=list(model.parameters()), adjoint=True)`` fills each parameter's ``.grad``.
    method : ``"dopri5"`` (adaptive Dormand-Prince 5(4), error per step within ``rtol``/``atol`` in
        the RMS norm), ``"rk4"`` or ``"euler"`` (fixed steps: ceil(interval / step_size) equal steps
        per output interval, one step when ``step_size`` is None).
    adjoint : False: gradients flow through the recorded steps (memory grows with the number of
        steps). True: gradients come from solving the augmented adjoint system backward in time
        with the same method and tolerances (same grid for fixed-step methods); memory does not grow
        with the number of steps. The adaptive step sizes are treated as constants (not
        differentiated) in both modes.
    stats : optional dict, filled with step and evaluation counts (``forward``; ``backward`` after a
        backward pass in adjoint mode).

    Returns a Tensor of shape ``(len(t),) + y0.shape``; entry 0 is ``y0``. Gradients with respect
    to ``y0``, the leaves of ``params`` and ``t`` (dL/dt_i = g_i . f(t_i, y_i) for i >= 1 and
    dL/dt_0 = -a(t_0) . f(t_0, y_0)).
    """
    if not callable(f):
        raise TypeError(f"odeint: f must be callable as f(t, y{', params' if params is not None else ''}), "
                        f"got {type(f).__name__}")
    if method not in METHODS:
        raise ValueError(f"odeint: method must be one of {sorted(METHODS)}, got {method!r}")
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not (np.isscalar(v) and v >= 0):
            raise ValueError(f"odeint: {name} must be a non-negative number, got {v!r}")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"odeint: step_size must be positive, got {step_size!r}")
    times = np.asarray(B.data(t), dtype=np.float64)
    if times.ndim != 1 or times.size < 1:
        raise ValueError(f"odeint: t must be a 1-D sequence of output times, got shape {times.shape}")
    steps = np.diff(times)
    if steps.size and not (np.all(steps > 0) or np.all(steps < 0)):
        raise ValueError(f"odeint: t must be strictly increasing or strictly decreasing, got {times}")
    y0_raw = np.asarray(B.data(y0))
    if y0_raw.dtype.kind not in "fc":
        if type(y0) is Tensor:
            raise TypeError(f"odeint: y0 must be floating point, got dtype {y0_raw.dtype}")
        y0 = y0_raw = y0_raw.astype(np.float64)
    leaves, rebuild = flatten(params) if params is not None else ([], None)
    with_params = params is not None

    def field(tt, y):
        return f(tt, y, params) if with_params else f(tt, y)

    out = field(float(times[0]), y0)
    if np.shape(B.data(out)) != y0_raw.shape:
        raise ValueError(f"odeint: f returned shape {np.shape(B.data(out))} for a state of shape "
                         f"{y0_raw.shape}; dy/dt must have the shape of y")
    time_grad = type(t) is Tensor and t.requires_grad
    start = y0
    if time_grad:         # dy_i/dt_0 = -(dy_i/dy_0) f(t_0, y_0): feed it through the initial state
        start = y0 - (t[0] - times[0]) * out
    solver = dict(method=method, rtol=float(rtol), atol=float(atol), step_size=step_size, max_steps=max_steps)
    info = stats if stats is not None else {}
    time_list = [float(v) for v in times]
    if adjoint:
        options = {"times": time_list, "solver": solver, "stats": info, "leaves": leaves}
        ys = apply(ODE_ADJOINT, start, *leaves, f=f, rebuild=rebuild, options=options)
        states = [ys[i] for i in range(len(time_list))]
    else:
        states, forward = integrate(lambda tt, y: field(tt, y), start, time_list, **solver)
        info.update(forward=forward)
        states = [s if type(s) is Tensor else Tensor(s) for s in states]
    states[0] = y0 if type(y0) is Tensor else Tensor(y0_raw)
    if time_grad:         # dy_i/dt_i = f(t_i, y_i)
        states = states[:1] + [s + (t[i] - times[i]) * field(time_list[i], s)
                               for i, s in enumerate(states) if i > 0]
    if adjoint and not time_grad:
        return ys
    return stack(states)
