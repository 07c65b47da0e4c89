"""The adjoint sensitivity method as one primitive of the engine.

Forward: integrate the state without recording a graph, keeping only the states at the output
times. Backward: integrate the augmented system (state y, adjoint a = dL/dy, parameter gradient
q = dL/dtheta) backward in time,

    dy/dt = f(t, y),   da/dt = -a^T df/dy,   dq/dt = -a^T df/dtheta,

from the last output time to the first, adding each observation's cotangent to ``a`` when its time
is reached (and restarting y from the stored forward state there). With q(t_N) = 0, ``a(t0)`` is
the gradient with respect to ``y0`` and ``q(t0)`` the gradient with respect to the parameters.
Memory: the output states and one step's stages, whatever the number of steps. Each stage costs
one evaluation of ``f`` with its vector-Jacobian product (one small graph, freed at once).
"""
import numpy as np

from diffprog.autodiff import Tensor, enable_grad, no_grad
from diffprog.autodiff.extend import Primitive, cotangents

from .solvers import integrate


def _field(f, params):
    """f(t, y) on raw arrays (no graph), returning an array."""
    def call(t, y):
        out = f(t, y, params) if params is not None else f(t, y)
        return out.data if type(out) is Tensor else np.asarray(out)
    return call


def _forward(y0, *leaves, f, rebuild, options):
    with no_grad():
        states, stats = integrate(_field(f, rebuild(list(leaves)) if rebuild else None), y0, options["times"],
                                  **options["solver"])
    options["stats"].update(forward=stats)
    return np.stack(states)


def _vjp_all(g, ans, args, needs, kw):
    if type(g) is Tensor:
        raise NotImplementedError("odeint(adjoint=True) is differentiable once (its backward pass is a solve "
                                  "on arrays); for higher derivatives use adjoint=False")
    f, rebuild, options = kw["f"], kw["rebuild"], kw["options"]
    y0, leaves = args[0], list(args[1:])
    originals = options["leaves"]       # the caller's objects: Tensors the field closes over stay themselves
    shape, size = np.shape(y0), int(np.size(y0))
    param_sizes = [int(np.size(p.data if type(p) is Tensor else p)) for p in leaves]
    inputs = [o if type(o) is Tensor else Tensor(np.asarray(v), requires_grad=True)
              for o, v in zip(originals, leaves)]
    params = rebuild(inputs) if rebuild else None
    dtype = np.result_type(y0, *leaves) if leaves else np.result_type(y0)
    g = np.asarray(g)

    def augmented(t, z):
        y = Tensor(z[:size].reshape(shape), requires_grad=True)
        a = z[size:2 * size].reshape(shape)
        with enable_grad():
            out = f(t, y, params) if rebuild else f(t, y)
        if type(out) is not Tensor or not out.requires_grad:
            cots = [None] * (1 + len(inputs))
        else:
            cots = cotangents([out], [a.astype(out.data.dtype, copy=False)], [y] + inputs)
        parts = [np.asarray(out.data if type(out) is Tensor else out).reshape(-1)]
        for c, n in zip(cots, [size] + param_sizes):
            parts.append(np.zeros(n, dtype) if c is None else -np.asarray(c).reshape(-1))
        return np.concatenate(parts)

    n_out = len(options["times"])
    z = np.concatenate([np.asarray(ans[-1]).reshape(-1), g[-1].reshape(-1), np.zeros(sum(param_sizes), dtype)])

    def jump(i, z):                    # reached output time index n_out - 1 - i going backward
        z = z.copy()
        z[:size] = np.asarray(ans[n_out - 1 - i]).reshape(-1)      # restart from the stored state
        z[size:2 * size] += g[n_out - 1 - i].reshape(-1)
        return z

    times = options["times"][::-1]
    with no_grad():
        states, stats = integrate(augmented, z, times, jumps=jump, **options["solver"])
    options["stats"].update(backward=stats)
    z = states[-1]
    grads = [z[size:2 * size].reshape(shape)]
    offset = 2 * size
    for leaf, n in zip(leaves, param_sizes):
        grads.append(z[offset:offset + n].reshape(np.shape(leaf.data if type(leaf) is Tensor else leaf)))
        offset += n
    return [gr if need else None for gr, need in zip(grads, needs)]


ODE_ADJOINT = Primitive("odeint_adjoint", _forward, vjp_all=_vjp_all)
