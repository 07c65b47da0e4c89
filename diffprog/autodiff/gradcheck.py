"""``gradcheck``: compare automatic derivatives with central finite differences in float64."""
import numpy as np

from .tensor import Tensor
from . import transforms as T


def _as64(x):
    x = x.data if type(x) is Tensor else x
    return np.array(x, dtype=np.float64, order="C")   # C order: reshape(-1) below must be a view


def _projected(f, u):
    """The scalar u . f(x) (a random projection, so one reverse pass gives the whole check)."""
    def scalar(*xs):
        out = f(*xs)
        return (out * u).sum() if np.ndim(out.data if type(out) is Tensor else out) else out * u
    return scalar


def gradcheck(f, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, modes=("rev",), order=1, seed=0):
    """Check ``f``'s derivatives with respect to every input against central differences.

    The inputs are converted to float64. The output is projected on a fixed random vector ``u``;
    reverse mode must give ``d(u.f)/dx`` and forward mode (``'fwd'`` in ``modes``) ``u.(df/dx e_j)``
    for every input element j. ``order=2`` also checks second derivatives (differentiating the
    reverse-mode gradient, i.e. double backward). Returns True, or raises ``AssertionError``
    naming the mode, the input index, the element index and both values.
    """
    if isinstance(modes, str):
        modes = (modes,)
    if not modes or any(m not in ("rev", "fwd") for m in modes):
        raise ValueError(f"gradcheck: modes must be a non-empty tuple of 'rev' and/or 'fwd', got {modes!r}")
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"gradcheck: order must be a positive integer (1: first derivatives, 2: also "
                         f"second derivatives through double backward), got {order!r}")
    rng = np.random.default_rng(seed)
    xs = [_as64(x) for x in inputs]
    out0 = f(*[x.copy() for x in xs])
    out0 = np.asarray(out0.data if type(out0) is Tensor else out0, dtype=np.float64)
    u = rng.standard_normal(out0.shape) if out0.ndim else np.float64(rng.standard_normal())
    scalar = _projected(f, u)

    def numeric(i):
        x = xs[i]
        num = np.zeros_like(x)
        flat = num.reshape(-1)
        for j in range(x.size):
            plus = [v.copy() for v in xs]
            minus = [v.copy() for v in xs]
            plus[i].reshape(-1)[j] += eps
            minus[i].reshape(-1)[j] -= eps
            fp = scalar(*plus)
            fm = scalar(*minus)
            fp = float(np.asarray(fp.data if type(fp) is Tensor else fp))
            fm = float(np.asarray(fm.data if type(fm) is Tensor else fm))
            flat[j] = (fp - fm) / (2 * eps)
        return num

    def compare(mode, i, analytic, num):
        analytic = np.asarray(analytic, dtype=np.float64).reshape(num.shape)
        bad = ~np.isclose(analytic, num, atol=atol, rtol=rtol)
        if np.any(bad):
            j = tuple(int(k) for k in np.argwhere(bad)[0])
            raise AssertionError(_element_message(f, xs, out0, mode, i, j, eps, atol, rtol,
                                                  analytic[j], num[j]))

    nums = [numeric(i) for i in range(len(xs))]
    if "rev" in modes:
        grads = T.grad(scalar, argnums=tuple(range(len(xs))))(*[x.copy() for x in xs])
        for i, (g, num) in enumerate(zip(grads, nums)):
            compare("rev", i, g, num)
    if "fwd" in modes:
        for i, num in enumerate(nums):
            col = np.zeros_like(num)
            for j in range(xs[i].size):
                tangents = [np.zeros_like(x) for x in xs]
                tangents[i].reshape(-1)[j] = 1.0
                _, t = T.jvp(f, [x.copy() for x in xs], tangents)
                col.reshape(-1)[j] = np.sum(np.asarray(t) * u)
            compare("fwd", i, col, num)
    if order >= 2:
        ws = [rng.standard_normal(x.shape) for x in xs]

        def second(*ys):
            gs = T.grad(scalar, argnums=tuple(range(len(ys))))(*ys)
            total = 0.0
            for g, w in zip(gs, ws):
                total = total + (g * w).sum()
            return total
        gradcheck(second, *xs, eps=eps, atol=atol, rtol=rtol, modes=("rev",), order=order - 1, seed=seed + 1)
    return True


def _element_message(f, xs, out0, mode, i, j, eps, atol, rtol, projected_auto, projected_num):
    """The failure message: the derivatives of the output with respect to input ``i``'s element
    ``j`` itself (automatic and by central differences), at the output entry where they differ most."""
    flat_j = int(np.ravel_multi_index(j, xs[i].shape)) if xs[i].ndim else 0

    def value(shift):
        ys = [v.copy() for v in xs]
        ys[i].reshape(-1)[flat_j] += shift
        out = f(*ys)
        return np.asarray(out.data if type(out) is Tensor else out, dtype=np.float64)
    numeric = ((value(eps) - value(-eps)) / (2 * eps)).reshape(-1)
    if mode == "fwd":
        tangents = [np.zeros_like(x) for x in xs]
        tangents[i].reshape(-1)[flat_j] = 1.0
        _, t = T.jvp(f, [x.copy() for x in xs], tangents)
        auto = np.asarray(t, dtype=np.float64).reshape(-1)
    else:
        def of_input(v):
            return f(*[v if k == i else x.copy() for k, x in enumerate(xs)])
        jac = np.asarray(T.jacobian(of_input, mode="rev")(xs[i].copy()), dtype=np.float64)
        auto = jac.reshape(out0.size, xs[i].size)[:, flat_j]
    k = int(np.argmax(np.abs(auto - numeric))) if auto.size else 0
    where = "" if out0.ndim == 0 else f"[{', '.join(map(str, np.unravel_index(k, out0.shape)))}]"
    return (f"gradcheck ({mode}) failed for input {i} at element {j}: automatic {auto[k]:.10g} vs finite "
            f"difference {numeric[k]:.10g} for d out{where} / d x{i}{list(j)} (|diff| "
            f"{abs(auto[k] - numeric[k]):.3g}, atol {atol}, rtol {rtol}; on the random projection checked: "
            f"{projected_auto:.10g} vs {projected_num:.10g})")
