"""``GroupLasso``: least squares with a sum of group l2 norms (block soft-thresholding).

Objective: ``1/(2n) ||y - X w - b||^2 + alpha * sum_g weights[g] ||w[group_g]||_2``. Solved by
FISTA with adaptive restart (:func:`diffprog.optim.fista`) on the block soft-thresholding prox,
stopped on the duality gap (relative to ``||y||^2``, as Lasso's ``tol``).
"""
import numpy as np

from diffprog.optim import fista, lipschitz_constant
from diffprog.optim.prox import group_l1
from .base import BaseEstimator, LinearRegressorMixin, warn_not_converged
from .checks import check_alpha, check_positive_int, check_tol
from .sklearn_compat import validate_fit
from .design import Design
from .losses import least_squares

__all__ = ["GroupLasso"]


def _check_groups(groups, p):
    """The groups as index arrays: ``None`` -> one group per feature (the Lasso with unit
    weights); an int k -> consecutive blocks of k features (the last may be shorter)."""
    if groups is None:
        return [np.array([j]) for j in range(p)]
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, bool):
        if groups < 1:
            raise ValueError(f"groups as an int is a block size and must be >= 1, got {groups!r}")
        return [np.arange(start, min(start + groups, p)) for start in range(0, p, int(groups))]
    if isinstance(groups, (str, bytes, bool)) or not hasattr(groups, "__iter__"):
        raise TypeError(f"groups must be None, a block size (int) or a list of index sequences covering "
                        f"the {p} features, got {groups!r}")
    groups = [np.asarray(g, dtype=np.int64).ravel() for g in groups]
    if len(groups) == 0:
        raise ValueError("groups is empty; expected a list of non-empty index sequences")
    for k, g in enumerate(groups):
        if g.size == 0:
            raise ValueError(f"groups[{k}] is empty; every group needs at least one feature index")
    flat = np.concatenate(groups)
    if flat.min() < 0 or flat.max() >= p:
        raise ValueError(f"groups index features out of range: got indices in [{flat.min()}, {flat.max()}], "
                         f"expected 0..{p - 1}")
    if flat.size != p or np.unique(flat).size != p:
        raise ValueError(f"groups must cover each of the {p} features exactly once; got {flat.size} indices "
                         f"({np.unique(flat).size} distinct)")
    return groups


class GroupLasso(LinearRegressorMixin, BaseEstimator):
    """Group lasso regression (scikit-learn conventions).

    Parameters: ``alpha`` (>= 0), ``groups`` (a list of disjoint index sequences covering all
    features; an int k for consecutive blocks of k features; default ``None``: one group per
    feature, which is the Lasso), ``weights`` (per-group, default ``sqrt(group size)``), ``fit_intercept``,
    ``max_iter`` (FISTA iterations), ``tol`` (duality gap relative to ``||y||^2``).
    Attributes: ``coef_``, ``intercept_``, ``n_iter_``, ``dual_gap_`` (gap / n), ``history_``
    (the solver's objective/gap/step history).
    """

    def __init__(self, alpha=1.0, *, groups=None, weights=None, fit_intercept=True, max_iter=5000, tol=1e-6):
        self.alpha = alpha
        self.groups = groups
        self.weights = weights
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        """Fit on X (n_samples, n_features), dense or scipy.sparse, and y (n_samples,); returns self."""
        X, y = validate_fit(self, X, y)
        alpha = check_alpha(self.alpha)
        tol = check_tol(self.tol)
        max_iter = check_positive_int(self.max_iter, "max_iter")
        design = Design(X, center=bool(self.fit_intercept))
        groups = _check_groups(self.groups, design.p)
        weights = (np.sqrt([g.size for g in groups]) if self.weights is None
                   else np.asarray(self.weights, dtype=float))
        if weights.shape != (len(groups),) or np.any(weights < 0):
            raise ValueError(f"weights must be {len(groups)} non-negative numbers (one per group), "
                             f"got {self.weights!r}")
        y_mean = y.mean() if self.fit_intercept else 0.0
        yc = y - y_mean
        n = design.n
        lam = n * alpha

        def gap(w):
            residual = yc - design.dot(w)
            correlation = design.rdot(residual)
            dual_norm = max(float(np.linalg.norm(correlation[g]) / wt) if wt > 0 else
                            (np.inf if np.any(correlation[g] != 0) else 0.0) for g, wt in zip(groups, weights))
            scale = min(1.0, lam / dual_norm) if dual_norm > 0 else 1.0
            primal = 0.5 * residual @ residual + lam * sum(wt * np.linalg.norm(w[g]) for g, wt in zip(groups, weights))
            theta = scale * residual
            dual = 0.5 * yc @ yc - 0.5 * (yc - theta) @ (yc - theta)
            return primal - dual

        loss = least_squares(design, yc)
        w0 = np.zeros(design.p)
        step = 1.0 / lipschitz_constant(loss, w0)
        result = fista(loss, group_l1(alpha, groups, weights), w0, step=step, max_iter=max_iter,
                       duality_gap=gap, gap_tol=tol * float(yc @ yc))
        if not result.converged:
            warn_not_converged("GroupLasso", max_iter, result.history["gap"][-1] / n, tol * float(yc @ yc) / n)
        self.coef_ = result.x
        self.intercept_ = float(y_mean - design.mean @ result.x) if self.fit_intercept else 0.0
        self.n_iter_ = result.n_iter
        self.dual_gap_ = float(result.history["gap"][-1] / n)
        self.history_ = result.history
        self.n_features_in_ = design.p
        return self
