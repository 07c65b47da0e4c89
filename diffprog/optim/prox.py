"""Proximal operators: ``prox_{step g}(x) = argmin_z 0.5 ||z - x||^2 / step + g(z)``.

Each operator is a small object: ``op(x, step=1.0)`` returns the prox point and ``op.value(x)``
the penalty ``g(x)`` (``inf`` outside the set for indicator functions). On plain NumPy arrays the
result is a NumPy array (fast path for solvers and the optimizers' ``prox=`` hook); when ``x``, the
step or the operator's strength is a ``Tensor`` the result is a ``Tensor`` that is differentiable
with respect to all of them (almost everywhere: at kinks the derivative of the branch that
produces zeros is used, e.g. ``d soft(x, t)/dx = 0`` at ``|x| = t``), so a prox can sit inside a
learned network such as LISTA.

The operators act elementwise or on the whole array, except ``group_l1`` and ``tv1d`` (last axis,
leading axes are a batch) and ``nuclear`` (last two axes).
"""
import numpy as np

from diffprog.autodiff import Tensor
from diffprog import autodiff as ad

__all__ = ["l1", "elastic_net", "group_l1", "nonneg_l1", "l2_ball", "box", "nonneg", "nuclear", "tv1d",
           "soft_threshold"]


def _traced(*values):
    return any(type(v) is Tensor for v in values)


def _raw(v):
    return v.data if type(v) is Tensor else v


def _check_strength(name, value, what="strength"):
    raw = np.asarray(_raw(value), dtype=float)
    if np.any(np.isnan(raw)) or np.any(raw < 0):
        raise ValueError(f"{name}: {what} must be >= 0, got {value!r}")
    return value


def _check_step(name, step):
    raw = np.asarray(_raw(step), dtype=float)
    if np.any(np.isnan(raw)) or np.any(raw <= 0):
        raise ValueError(f"{name}: step must be > 0, got {step!r}")


def soft_threshold(x, threshold):
    """``sign(x) * max(|x| - threshold, 0)``; ``threshold`` broadcasts against ``x``."""
    if _traced(x, threshold):
        return ad.sign(x) * ad.relu(ad.abs(x) - threshold)
    x = np.asarray(x)
    return np.sign(x) * np.maximum(np.abs(x) - threshold, 0.0)


class Prox:
    """Base class: subclasses define ``__call__(x, step=1.0)`` and ``value(x)``."""

    def __call__(self, x, step=1.0):
        raise NotImplementedError

    def value(self, x):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class l1(Prox):
    """``g(x) = alpha * sum |x|``; prox: soft-thresholding at ``alpha * step``.

    ``alpha`` may be a scalar, an array broadcasting against ``x`` (per-coordinate weights) or a
    Tensor (a learnable threshold).
    """

    def __init__(self, alpha):
        self.alpha = _check_strength("l1", alpha, "alpha")

    def __call__(self, x, step=1.0):
        return soft_threshold(x, self.alpha * step)

    def value(self, x):
        if _traced(x, self.alpha):
            return ad.sum(self.alpha * ad.abs(x))
        return float(np.sum(self.alpha * np.abs(x)))


class elastic_net(Prox):
    """``g(x) = alpha * (l1_ratio * ||x||_1 + 0.5 * (1 - l1_ratio) * ||x||^2)`` (scikit-learn's
    ElasticNet penalty); prox: ``soft(x, step alpha l1_ratio) / (1 + step alpha (1 - l1_ratio))``."""

    def __init__(self, alpha, l1_ratio=0.5):
        self.alpha = _check_strength("elastic_net", alpha, "alpha")
        if not 0.0 <= float(np.asarray(_raw(l1_ratio))) <= 1.0:
            raise ValueError(f"elastic_net: l1_ratio must be in [0, 1], got {l1_ratio!r}")
        self.l1_ratio = l1_ratio

    def __call__(self, x, step=1.0):
        shrink = 1.0 + step * self.alpha * (1.0 - self.l1_ratio)
        return soft_threshold(x, step * self.alpha * self.l1_ratio) / shrink

    def value(self, x):
        a, r = self.alpha, self.l1_ratio
        if _traced(x, a, r):
            return a * (r * ad.sum(ad.abs(x)) + 0.5 * (1.0 - r) * ad.sum(x * x))
        x = np.asarray(x)
        return float(a * (r * np.abs(x).sum() + 0.5 * (1.0 - r) * (x * x).sum()))


def _group_labels(groups, size=None):
    """Turn ``groups`` (a list of index sequences, disjoint) into (labels, n_groups, sizes).

    Coordinates in no group get the label ``n_groups`` (unpenalized)."""
    if isinstance(groups, (int, np.integer)):
        raise TypeError("group_l1: groups must be a list of index sequences (one per group), got an int")
    groups = [np.asarray(g, dtype=np.int64).ravel() for g in groups]
    if len(groups) == 0:
        raise ValueError("group_l1: groups is empty; expected at least one non-empty index sequence")
    for k, g in enumerate(groups):
        if g.size == 0:
            raise ValueError(f"group_l1: group {k} is empty; every group needs at least one index")
        if g.min() < 0:
            raise ValueError(f"group_l1: group {k} has negative index {int(g.min())}")
    flat = np.concatenate(groups)
    if np.unique(flat).size != flat.size:
        raise ValueError("group_l1: groups overlap (an index appears in two groups); expected disjoint groups")
    n = int(flat.max()) + 1 if size is None else size
    if flat.max() >= n:
        raise ValueError(f"group_l1: group index {int(flat.max())} is out of range for length {n}")
    labels = np.full(n, len(groups), dtype=np.int64)
    for k, g in enumerate(groups):
        labels[g] = k
    return labels, len(groups), np.array([g.size for g in groups])


class group_l1(Prox):
    """``g(x) = alpha * sum_g weights[g] * ||x[..., group_g]||_2`` (group lasso), prox: block
    soft-thresholding ``x_g * max(0, 1 - step alpha w_g / ||x_g||)``.

    ``groups``: list of disjoint index sequences into the last axis; coordinates in no group are
    not penalized. ``weights``: one per group, default 1 (pass ``np.sqrt(group sizes)`` for the
    size-scaled variant).
    """

    def __init__(self, alpha, groups, weights=None):
        self.alpha = _check_strength("group_l1", alpha, "alpha")
        self.groups = groups
        self._labels, self._n_groups, sizes = _group_labels(groups)
        if weights is None:
            weights = np.ones(self._n_groups)
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (self._n_groups,) or np.any(weights < 0):
            raise ValueError(f"group_l1: weights must be {self._n_groups} non-negative numbers (one per "
                             f"group), got shape {weights.shape}")
        self.weights = weights

    def _labels_for(self, n):
        labels = self._labels
        if n < labels.size:
            raise ValueError(f"group_l1: x has {n} entries on its last axis but the groups index up to "
                             f"{labels.size - 1}")
        if n > labels.size:
            labels = np.concatenate([labels, np.full(n - labels.size, self._n_groups)])
        return labels

    def _group_norms(self, x):
        labels = self._labels_for(np.shape(_raw(x))[-1])
        batch = np.shape(_raw(x))[:-1]
        if _traced(x):
            sq = ad.index_add(ad.zeros(batch + (self._n_groups + 1,)), -1, labels, x * x)
            return ad.sqrt(sq[..., :self._n_groups]), labels
        x = np.asarray(x)
        sq = np.zeros(batch + (self._n_groups + 1,))
        np.add.at(sq, (..., labels), x * x) if batch else np.add.at(sq, labels, x * x)
        return np.sqrt(sq[..., :self._n_groups]), labels

    def __call__(self, x, step=1.0):
        norms, labels = self._group_norms(x)
        t = self.alpha * step * self.weights
        if _traced(x, t):
            safe = ad.maximum(norms, 1e-300)
            scale = ad.relu(1.0 - t / safe)
            scale = ad.concatenate([scale, ad.ones(np.shape(_raw(scale))[:-1] + (1,))], axis=-1)
            return x * ad.take(scale, labels, axis=-1)
        with np.errstate(divide="ignore"):
            scale = np.maximum(1.0 - t / np.maximum(norms, 1e-300), 0.0)
        scale = np.concatenate([scale, np.ones(scale.shape[:-1] + (1,))], axis=-1)
        return np.asarray(x) * scale[..., labels]

    def value(self, x):
        norms, _ = self._group_norms(x)
        if _traced(x, self.alpha):
            return self.alpha * ad.sum(norms * self.weights)
        return float(self.alpha * np.sum(norms * self.weights))


class nonneg_l1(Prox):
    """``g(x) = alpha * sum x`` for ``x >= 0`` (``inf`` otherwise); prox: ``max(x - step alpha, 0)``."""

    def __init__(self, alpha):
        self.alpha = _check_strength("nonneg_l1", alpha, "alpha")

    def __call__(self, x, step=1.0):
        if _traced(x, self.alpha, step):
            return ad.relu(x - self.alpha * step)
        return np.maximum(np.asarray(x) - self.alpha * step, 0.0)

    def value(self, x):
        if np.any(np.asarray(_raw(x)) < 0):
            return float("inf")
        if _traced(x, self.alpha):
            return ad.sum(self.alpha * x)
        return float(np.sum(self.alpha * np.asarray(x)))


class nonneg(Prox):
    """Indicator of ``x >= 0``; prox: ``max(x, 0)`` (the step does not matter)."""

    def __call__(self, x, step=1.0):
        if _traced(x):
            return ad.relu(x)
        return np.maximum(np.asarray(x), 0.0)

    def value(self, x):
        return float("inf") if np.any(np.asarray(_raw(x)) < 0) else 0.0


class box(Prox):
    """Indicator of ``lower <= x <= upper`` (elementwise, broadcasting); prox: ``clip``."""

    def __init__(self, lower=-1.0, upper=1.0):
        lo, hi = np.asarray(_raw(lower), dtype=float), np.asarray(_raw(upper), dtype=float)
        if np.any(lo > hi):
            raise ValueError(f"box: lower must be <= upper elementwise, got lower={lower!r}, upper={upper!r}")
        self.lower, self.upper = lower, upper

    def __call__(self, x, step=1.0):
        if _traced(x, self.lower, self.upper):
            return ad.minimum(ad.maximum(x, self.lower), self.upper)
        return np.minimum(np.maximum(np.asarray(x), self.lower), self.upper)

    def value(self, x):
        x = np.asarray(_raw(x))
        inside = np.all(x >= np.asarray(_raw(self.lower)) - 1e-12) and np.all(x <= np.asarray(_raw(self.upper)) + 1e-12)
        return 0.0 if inside else float("inf")


class l2_ball(Prox):
    """Indicator of ``||x||_2 <= radius`` (the whole array); prox: ``x * min(1, radius / ||x||)``."""

    def __init__(self, radius=1.0):
        self.radius = _check_strength("l2_ball", radius, "radius")

    def __call__(self, x, step=1.0):
        if _traced(x, self.radius):
            norm = ad.sqrt(ad.sum(x * x))
            return x * ad.minimum(1.0, self.radius / ad.maximum(norm, 1e-300))
        x = np.asarray(x)
        norm = np.sqrt(np.sum(x * x))
        return x * min(1.0, float(self.radius / max(norm, 1e-300)))

    def value(self, x):
        x = np.asarray(_raw(x))
        return 0.0 if np.sqrt(np.sum(x * x)) <= float(np.asarray(_raw(self.radius))) * (1 + 1e-12) else float("inf")


# ---- nuclear norm: singular-value thresholding -------------------------------------------------
def _svt_forward(x, t):
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    h = np.maximum(s - t[..., None], 0.0)
    return (u * h[..., None, :]) @ vt, (x, u, s, vt, h, t)


def _svt_backward(res, g):
    """VJP of ``U diag(h(s)) V^T`` (h(s) = max(s - t, 0)); the map is self-adjoint in X."""
    x, u, s, vt, h, t = res
    m, n = x.shape[-2:]
    wide = m < n
    if wide:                                     # work with the tall transpose
        x, g = np.swapaxes(x, -1, -2), np.swapaxes(g, -1, -2)
        u, vt = np.swapaxes(vt, -1, -2), np.swapaxes(u, -1, -2)
    v = np.swapaxes(vt, -1, -2)
    active = (s > t[..., None]).astype(float)
    gk = np.swapaxes(u, -1, -2) @ g @ v          # U^T G V, (k, k)
    si, sj = s[..., :, None], s[..., None, :]
    hi, hj = h[..., :, None], h[..., None, :]
    diff, total = si - sj, si + sj
    ai, aj = active[..., :, None], active[..., None, :]
    close = np.abs(diff) <= 1e-12 * np.maximum(1.0, np.abs(si))
    with np.errstate(divide="ignore", invalid="ignore"):
        phi_sym = np.where(close, 0.5 * (ai + aj), (hi - hj) / np.where(close, 1.0, diff))
        phi_skew = np.where(total > 0, (hi + hj) / np.where(total > 0, total, 1.0), 0.0)
    sym = 0.5 * (gk + np.swapaxes(gk, -1, -2))
    skew = 0.5 * (gk - np.swapaxes(gk, -1, -2))
    inner = phi_sym * sym + phi_skew * skew
    k = s.shape[-1]
    idx = np.arange(k)
    inner[..., idx, idx] = active * gk[..., idx, idx]
    grad = u @ inner @ vt
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(s > 0, h / np.where(s > 0, s, 1.0), 0.0)
    gv = g @ v
    grad = grad + (gv - u @ (np.swapaxes(u, -1, -2) @ gv)) * ratio[..., None, :] @ vt
    grad_t = -np.sum(active * gk.diagonal(axis1=-2, axis2=-1), axis=-1)   # dh/dt = -1 where kept
    if wide:
        grad = np.swapaxes(grad, -1, -2)
    return grad, grad_t


@ad.custom_vjp
def _svt(x, t):
    return _svt_forward(x, t)[0]


_svt.defvjp(_svt_forward, _svt_backward)


class nuclear(Prox):
    """``g(X) = alpha * sum of singular values of X`` over the last two axes; prox: singular-value
    thresholding ``U diag(max(s - step alpha, 0)) V^T``. Differentiable in X (where the kept
    singular values are distinct from the threshold) and in alpha."""

    def __init__(self, alpha):
        self.alpha = _check_strength("nuclear", alpha, "alpha")

    def __call__(self, x, step=1.0):
        if np.ndim(_raw(x)) < 2:
            raise ValueError(f"nuclear: x must be a matrix (..., m, n), got shape {np.shape(_raw(x))}")
        batch = np.shape(_raw(x))[:-2]
        t = self.alpha * step
        if _traced(x, t):
            tt = t * ad.ones(batch) if batch else t
            if type(tt) is not Tensor:
                tt = np.asarray(tt, dtype=float)
            return _svt(x, tt)
        return _svt_forward(np.asarray(x, dtype=float), np.broadcast_to(np.asarray(t, dtype=float), batch))[0]

    def value(self, x):
        s = np.linalg.svd(np.asarray(_raw(x)), compute_uv=False)
        return float(np.sum(np.asarray(_raw(self.alpha)) * np.sum(s, axis=-1)))


# ---- 1-D total variation: Condat's direct algorithm ----------------------------------------------
def _tv1d_condat(y, lam):
    """Exact ``argmin_x 0.5 ||x - y||^2 + lam * sum |x[i+1] - x[i]|`` for a 1-D array ``y``.

    L. Condat, "A direct algorithm for 1D total variation denoising" (IEEE SPL 2013). The
    algorithm is inherently sequential (it scans the signal once, occasionally restarting from the
    last segment boundary); it is exact and runs in O(n) in practice.
    """
    n = y.size
    x = np.empty(n)
    if n == 0:
        return x
    if lam <= 0 or n == 1:
        x[:] = y
        return x
    yl = y.tolist()
    out = [0.0] * n
    k = k0 = kminus = kplus = 0
    vmin = yl[0] - lam
    vmax = yl[0] + lam
    umin = lam
    umax = -lam
    while True:
        while k == n - 1:
            if umin < 0.0:
                for i in range(k0, kminus + 1):
                    out[i] = vmin
                k = k0 = kminus = kminus + 1
                vmin = yl[k]
                umin = lam
                umax = vmin + umin - vmax
            elif umax > 0.0:
                for i in range(k0, kplus + 1):
                    out[i] = vmax
                k = k0 = kplus = kplus + 1
                vmax = yl[k]
                umax = -lam
                umin = vmax + umax - vmin
            else:
                vmin += umin / (k - k0 + 1)
                for i in range(k0, k + 1):
                    out[i] = vmin
                x[:] = out
                return x
        umin += yl[k + 1] - vmin
        umax += yl[k + 1] - vmax
        if umin < -lam:
            for i in range(k0, kminus + 1):
                out[i] = vmin
            k = k0 = kminus = kplus = kminus + 1
            vmin = yl[k]
            vmax = yl[k] + 2.0 * lam
            umin = lam
            umax = -lam
        elif umax > lam:
            for i in range(k0, kplus + 1):
                out[i] = vmax
            k = k0 = kminus = kplus = kplus + 1
            vmax = yl[k]
            vmin = yl[k] - 2.0 * lam
            umin = lam
            umax = -lam
        else:
            k += 1
            if umin >= lam:
                vmin += (umin - lam) / (k - k0 + 1)
                umin = lam
                kminus = k
            if umax <= -lam:
                vmax += (umax + lam) / (k - k0 + 1)
                umax = -lam
                kplus = k


def _tv1d_rows(y, t):
    rows = y.reshape(-1, y.shape[-1])
    ts = np.broadcast_to(t, y.shape[:-1]).reshape(-1)
    return np.stack([_tv1d_condat(r, float(ti)) for r, ti in zip(rows, ts)]).reshape(y.shape)


def _tv1d_forward(y, t):
    x = _tv1d_rows(y, t)
    return x, (x, t)


def _tv1d_backward(res, g):
    """The prox is piecewise affine: on each constant run S of the output, ``x_S = mean(y_S) - t
    (u_in - u_out) / |S|`` with u the signs of the jumps entering and leaving S. So the VJP in y
    averages g over each run, and the one in t sums ``-(u_in - u_out)/|S| g`` over each run."""
    x, t = res
    shape = x.shape
    x2 = x.reshape(-1, shape[-1])
    g2 = g.reshape(-1, shape[-1])
    jump = np.diff(x2, axis=1)
    new_run = np.concatenate([np.ones((x2.shape[0], 1), bool), jump != 0], axis=1)
    run_id = np.cumsum(new_run.ravel()) - 1                       # global run index per element
    n_runs = run_id[-1] + 1
    length = np.bincount(run_id, minlength=n_runs).astype(float)
    g_sum = np.bincount(run_id, weights=g2.ravel(), minlength=n_runs)
    grad_y = (g_sum / length)[run_id].reshape(shape)
    sign = np.sign(jump)
    zero = np.zeros((x2.shape[0], 1))
    u_in = np.concatenate([zero, sign], axis=1)                   # sign of jump into element i
    u_out = np.concatenate([sign, zero], axis=1)                  # sign of jump out of element i
    first = new_run.ravel()
    last = np.concatenate([new_run[:, 1:], np.ones((x2.shape[0], 1), bool)], axis=1).ravel()
    coef = np.zeros(n_runs)
    np.add.at(coef, run_id[first], u_in.ravel()[first])
    np.add.at(coef, run_id[last], -u_out.ravel()[last])
    dx_dt = (-coef / length)[run_id]
    grad_t = np.sum((dx_dt * g2.ravel()).reshape(x2.shape), axis=1).reshape(shape[:-1])
    return grad_y, np.reshape(grad_t, np.shape(t)) if np.ndim(t) else np.sum(grad_t)


@ad.custom_vjp
def _tv1d(y, t):
    return _tv1d_rows(y, t)


_tv1d.defvjp(_tv1d_forward, _tv1d_backward)


class tv1d(Prox):
    """``g(x) = alpha * sum_i |x[..., i+1] - x[..., i]|`` (1-D total variation along the last axis);
    exact prox by Condat's direct algorithm (a sequential scan per row). Differentiable in x
    (averaging over the constant runs of the output) and in alpha."""

    def __init__(self, alpha):
        self.alpha = _check_strength("tv1d", alpha, "alpha")

    def __call__(self, x, step=1.0):
        if np.ndim(_raw(x)) < 1:
            raise ValueError(f"tv1d: x must have at least one axis, got shape {np.shape(_raw(x))}")
        t = self.alpha * step
        if _traced(x, t):
            if type(t) is not Tensor:
                t = np.asarray(t, dtype=float)
            return _tv1d(x, t)
        return _tv1d_rows(np.asarray(x, dtype=float), np.asarray(t, dtype=float))

    def value(self, x):
        if _traced(x, self.alpha):
            return self.alpha * ad.sum(ad.abs(x[..., 1:] - x[..., :-1]))
        x = np.asarray(x)
        return float(np.sum(self.alpha * np.sum(np.abs(np.diff(x, axis=-1)), axis=-1)))
