"""The elastic-net solver behind Lasso, ElasticNet, lasso_path and LassoCV.

Problem (scikit-learn's unnormalized form, with ``l1 = n alpha l1_ratio`` and
``l2 = n alpha (1 - l1_ratio)``)::

    min_w  0.5 ||y - X w||^2 + l1 ||w||_1 + 0.5 l2 ||w||^2

Method: an outer *working-set* loop and an exact inner solver. Each outer pass computes the full
correlation ``X^T r`` (one BLAS matrix-vector product), the duality gap (scikit-learn's
formulation, so tolerances mean the same thing), and a working set: the current support plus the
features whose correlations most violate ``|x_j^T r| <= l1``. The sub-problem restricted to the
working set is a small quadratic program with an l1 term, solved *exactly* (to rounding) by a
feature-sign active-set method (Lee, Battle, Raina and Ng, 2007): guess the signs, solve the
linear system of the signed quadratic, line-search over the points where a sign flips, repeat.
Each step is one linear solve on the active set, so the ill-conditioned small-alpha end of a path
costs a few solves instead of thousands of gradient steps. For dense X the Gram matrix of features
that ever entered a working set is cached across passes and across a path's alphas (warm starts),
and the active set's inverse is kept by block updates (:mod:`~diffprog.sparse.active_inverse`), so
a step costs O(k^2 m) for m changes; for ``scipy.sparse`` X the Gram matrix is never formed and
large active systems are solved by conjugate gradients (:mod:`~diffprog.sparse.gram`). Along a
Lasso path, stretches without kinks are answered exactly by :mod:`~diffprog.sparse.homotopy`.
"""
import numpy as np

from .active_inverse import ActiveInverse
from .gram import DenseGram, GramCache, SparseGram

__all__ = ["duality_gap", "GramCache", "solve_l1_qp", "enet_working_set"]


def duality_gap(residual, y, correlation, w, l1, l2):
    """scikit-learn's gap for ``0.5||r||^2 + l1||w||_1 + 0.5 l2||w||^2`` (unnormalized).

    ``correlation = X^T residual``. The dual point is the residual rescaled into the dual feasible
    set ``||X^T theta - l2 w||_inf <= l1``; without an l1 term, the ridge dual at ``theta = r``
    (scikit-learn's formulation B), and for plain least squares ``max |X^T r|``."""
    r2 = float(residual @ residual)
    w2 = float(w @ w) if l2 > 0 else 0.0
    if l1 == 0:                                        # no l1 term: ridge dual, or the OLS gradient
        if l2 == 0:
            return float(np.max(np.abs(correlation), initial=0.0))
        dual = float(residual @ y) - 0.5 * r2 - float(correlation @ correlation) / (2.0 * l2)
        return 0.5 * (r2 + l2 * w2) - dual
    dual_norm = float(np.max(np.abs(correlation - l2 * w))) if correlation.size else 0.0
    scale = l1 / dual_norm if dual_norm > l1 else 1.0
    primal = 0.5 * (r2 + l2 * w2) + l1 * float(np.abs(w).sum())
    dual = -0.5 * scale ** 2 * (r2 + l2 * w2) + scale * float(residual @ y)
    return primal - dual


def _kkt_violation(grad, w, gamma):
    """Per-coordinate KKT violation of ``min 0.5 w'Gw - b'w + gamma |w|_1`` given ``grad = Gw - b``."""
    theta = np.sign(w)
    return np.where(theta != 0, np.abs(grad + gamma * theta), np.maximum(np.abs(grad) - gamma, 0.0))


def _sub_gap(grad, w, b, gamma, yy):
    """Duality gap of the sub-problem seen as a least-squares problem with ``||y||^2 = yy``:
    with ``G = X^T X (+ l2 I)`` and ``b = X^T y``, ``||r||^2 (+ l2||w||^2) = yy - 2b'w + w'Gw``,
    ``X^T r (- l2 w) = -grad`` and ``r'y = yy - b'w``, so no n-length vector is needed."""
    bw = float(b @ w)
    quad = yy - 2.0 * bw + float(w @ (grad + b))
    dual_norm = float(np.max(np.abs(grad), initial=0.0))
    scale = gamma / dual_norm if dual_norm > gamma else 1.0
    return 0.5 * quad + gamma * float(np.abs(w).sum()) + 0.5 * scale ** 2 * quad - scale * (yy - bw)


def _line_minimum(w, d, slope, curvature, gamma):
    """Exact minimizer ``t >= 0`` of the convex piecewise quadratic
    ``phi(t) = t slope + 0.5 t^2 curvature + gamma (|w + t d|_1 - |w|_1)`` (slope = grad.d).
    Returns ``(t, phi(t), crossing)`` with ``crossing`` the coordinates that reach 0 at t."""
    crossing = np.flatnonzero(w * d < 0)              # non-zero coordinates heading to zero
    # right-derivative of phi at 0+; each break (a coordinate reaching 0) adds 2 gamma |d_j|
    base = slope + gamma * float(np.where(w != 0, np.sign(w) * d, np.abs(d)).sum())
    t_zero = -w[crossing] / d[crossing]
    order = np.argsort(t_zero)
    breaks = t_zero[order]
    bases = base + 2.0 * gamma * np.concatenate([[0.0], np.cumsum(np.abs(d[crossing[order]]))])
    starts = np.concatenate([[0.0], breaks])
    ends = np.concatenate([breaks, [np.inf]])
    with np.errstate(invalid="ignore", over="ignore"):
        end_slope = bases + curvature * ends
    stop = np.flatnonzero(~(end_slope < 0))            # first segment whose end is not downhill
    if stop.size == 0:
        return np.inf, -np.inf, None
    k = int(stop[0])
    if bases[k] + curvature * starts[k] >= 0:
        t = starts[k]
    else:
        t = min(-bases[k] / curvature, ends[k]) if curvature > 0 else ends[k]
    hit = np.zeros(w.size, dtype=bool)
    hit[crossing] = np.abs(t_zero - t) <= 1e-12 * max(t, 1e-300)
    value = t * slope + 0.5 * t * t * curvature + gamma * (float(np.abs(w + t * d).sum()) - float(np.abs(w).sum()))
    return t, value, hit


def solve_l1_qp(gram, b, gamma, w, max_iter=None, rtol=1e-11, yy=None, gap_tol=0.0, max_active=None):
    """``argmin 0.5 w'Gw - b'w + gamma ||w||_1`` (G (k, k) PSD) by feature-sign search,
    warm-started at ``w``. ``gram`` is an array or a :mod:`~diffprog.sparse.gram` operator.
    Exact (every KKT violation below ``rtol * scale``) unless ``yy`` (``||y||^2``) and
    ``gap_tol`` are given, in which case it may also stop as soon as the sub-problem's duality
    gap is below ``gap_tol``.

    Each step picks a direction and minimizes the true objective exactly along it (a convex
    piecewise quadratic): the Newton direction of the signed problem on the active set, or
    that direction projected on the current orthant when it is better. When the active set is
    full (``max_active``, the rank of G: a Lasso solution with at most n non-zeros exists) a
    violating coordinate enters along a null direction of G, which swaps out a coordinate (as
    LARS does). A singular or non-improving step falls back to one exact coordinate step.
    Returns ``(w, n_steps, converged)``."""
    if isinstance(gram, np.ndarray):
        gram = DenseGram(gram)
    k = b.size
    w = np.array(w, dtype=float)
    if max_iter is None:
        max_iter = 20 * k + 100
    if max_active is None:
        max_active = k
    scale = max(gamma, float(np.max(np.abs(b))) if k else 0.0, np.finfo(float).tiny)
    tol = rtol * scale
    grad = gram.matvec(w) - b
    for step in range(int(max_iter)):
        theta = np.sign(w)
        active = theta != 0
        violation = _kkt_violation(grad, w, gamma)
        if gap_tol > 0 and step > 0 and _sub_gap(grad, w, b, gamma, yy) <= gap_tol:
            return w, step, True
        if violation.max(initial=0.0) <= tol:
            grad = gram.matvec(w) - b                # refresh accumulated rounding, check again
            violation = _kkt_violation(grad, w, gamma)
            if violation.max(initial=0.0) <= tol:
                return w, step, True
        candidates = []                                # full-length directions to try
        active_ok = violation[active].max(initial=0.0) <= tol
        new = np.flatnonzero(~active & (np.abs(grad) > gamma + tol)) if active_ok else np.zeros(0, int)
        room = int(max_active) - int(active.sum())
        idx_old = np.flatnonzero(active)
        if new.size and room <= 0 and idx_old.size:
            j = int(new[np.argmax(np.abs(grad[new]))])  # enter j along a null direction of G
            v = np.linalg.lstsq(gram.block(idx_old), -gram.column(j)[idx_old], rcond=1e-12)[0]
            d = np.zeros(k)
            d[idx_old] = v * -np.sign(grad[j])
            d[j] = -np.sign(grad[j])
            candidates.append(d)
        else:
            if new.size:
                new = new[np.argsort(-np.abs(grad[new]))[:max(room, 1)]]
                theta[new] = -np.sign(grad[new])
                active[new] = True
            idx = np.flatnonzero(active)
            target = gram.solve(idx, b[idx] - gamma * theta[idx], w[idx])
            d = np.zeros(k)
            d[idx] = target - w[idx]
            candidates.append(d)
            wrong = (theta[idx] != 0) & (np.sign(target) != theta[idx])
            if wrong.any():                            # the orthant-projected Newton point
                d = np.zeros(k)
                d[idx] = np.where(wrong, 0.0, target) - w[idx]
                candidates.append(d)
        best = None
        for number, d in enumerate(candidates):
            if not np.all(np.isfinite(d)) or not np.any(d):
                continue
            gram_d = gram.matvec(d)
            slope, curvature = float(grad @ d), float(d @ gram_d)
            if number == 1:                            # the projected Newton point itself (t = 1)
                t, hit = 1.0, np.zeros(k, dtype=bool)
                change = (slope + 0.5 * curvature
                          + gamma * (float(np.abs(w + d).sum()) - float(np.abs(w).sum())))
            else:
                t, change, hit = _line_minimum(w, d, slope, curvature, gamma)
            if not np.isfinite(t):
                continue
            if best is None or change < best[1]:
                best = (t, change, hit, d, gram_d)
        moved = False
        if best is not None and best[1] < -1e-15 * scale * max(1.0, float(np.abs(w).sum())):
            t, _, hit, d, gram_d = best
            w = w + t * d
            w[hit] = 0.0                               # these moved to zero up to rounding
            grad = grad + t * gram_d
            moved = True
        if not moved:                                # safeguard: one exact coordinate step
            j = int(np.argmax(violation))
            if gram.diagonal[j] <= 0 or violation[j] <= tol:
                return w, step, bool(violation[j] <= tol)
            old = w[j]
            z = old - grad[j] / gram.diagonal[j]
            w[j] = np.sign(z) * max(abs(z) - gamma / gram.diagonal[j], 0.0)
            grad = grad + gram.column(j) * (w[j] - old)
    grad = gram.matvec(w) - b
    return w, int(max_iter), bool(_kkt_violation(grad, w, gamma).max(initial=0.0) <= tol)


def _working_gram(design, cache, working, l2, inverse=None):
    """``(working, gram)``: the sub-problem's Gram operator on the working set, dense from the
    cache (with the active set's inverse kept by updates) or matrix-free for sparse X. When the
    cache holds few features beyond the working set, the working set grows to the whole cache:
    its Gram matrix is then used in place instead of gathered (a larger sub-problem is as valid)."""
    if design.sparse:
        mean = design.mean[working] if design.centered else np.zeros(working.size)
        return working, SparseGram(design.X[:, working], mean, l2, design.column_norms2[working])
    cache.ensure(working)
    if l2 == 0 and cache.size <= working.size + max(32, working.size // 4):
        return cache.features, DenseGram(cache.gram, cache.features, cache, inverse, l2)
    matrix = cache.sub(working)
    if l2 > 0:
        matrix[np.diag_indices_from(matrix)] += l2
    return working, DenseGram(matrix, working, cache, inverse, l2)


def enet_working_set(design, y, l1, l2, w, tol, max_iter, cache=None, Xty=None, min_new=10, state=None):
    """Solve the elastic-net problem above from warm start ``w`` (p,).

    ``tol`` is absolute on the unnormalized duality gap (scikit-learn passes ``tol * ||y||^2``).
    ``cache``: a :class:`GramCache` to reuse along a path (dense X). ``state``: a dict carrying the
    residual and the correlation ``X^T r`` of the returned ``w`` (they do not depend on alpha, so a
    path computes them once per alpha) and the active set's inverse to the next call. Returns ``(w, gap, n_passes, converged)``."""
    cache = GramCache(design) if cache is None and not design.sparse else cache
    Xty = design.rdot(y) if Xty is None else Xty
    usable = design.column_norms2 > 0
    w = np.array(w, dtype=float)
    yy = float(y @ y)
    max_active = None if l2 > 0 else design.n - int(design.centered)
    gap = np.inf
    state = {} if state is None else state
    prediction = None                                # X w when the sub-problem already knows it
    for n_pass in range(1, int(max_iter) + 1):
        if n_pass == 1 and state.get("w") is not None and np.array_equal(state["w"], w):
            residual, correlation = state["residual"], state["correlation"]
        else:
            if prediction is None:
                prediction = design.dot(w) if cache is None else cache.dot(w)
            residual = y - prediction
            correlation = design.rdot(residual)
        state.update(w=w, residual=residual, correlation=correlation)
        if n_pass > 1:                               # like scikit-learn, always make one pass
            gap = duality_gap(residual, y, correlation, w, l1, l2)
            if gap <= tol:
                return w, gap, n_pass - 1, True
        c = correlation - l2 * w
        support = np.flatnonzero(w)
        score = np.abs(c)
        score[~usable] = -1.0
        score[support] = np.inf
        outside = np.isfinite(score)
        if (score[outside].max(initial=-1.0) <= l1 * (1 + 1e-10)
                and np.all(_kkt_violation(-c[support], w[support], l1) <= 1e-9 * max(l1, 1e-300))
                and n_pass > 1):
            return w, gap, n_pass - 1, gap <= tol    # exact to rounding: no pass can do better
        n_new = max(min_new, support.size // 4)
        candidates = np.flatnonzero(outside & (score > 0.5 * l1))
        if candidates.size > n_new:
            candidates = candidates[np.argpartition(-score[candidates], n_new - 1)[:n_new]]
        working = np.union1d(support, candidates)
        if working.size == 0:
            gap = duality_gap(residual, y, correlation, w, l1, l2)
            return w, gap, n_pass - 1, gap <= tol
        if not design.sparse and "inverse" not in state:
            state["inverse"] = ActiveInverse(design.p)
        working, gram = _working_gram(design, cache, working, l2, state.get("inverse"))
        w_sub, _, _ = solve_l1_qp(gram, Xty[working], l1, w[working], yy=yy, gap_tol=0.5 * tol,
                                  max_active=max_active)
        w = np.zeros_like(w)
        w[working] = w_sub
        prediction = gram.predict(w_sub) if gram.sparse else None
    residual = y - design.dot(w)
    correlation = design.rdot(residual)
    state.update(w=w, residual=residual, correlation=correlation)
    gap = duality_gap(residual, y, correlation, w, l1, l2)
    return w, gap, int(max_iter), gap <= tol
