"""``ElasticNet``, ``Lasso`` and ``lasso_path``/``enet_path`` with scikit-learn's conventions.

Objective (as ``sklearn.linear_model.ElasticNet``)::

    1 / (2 n) ||y - X w - b||^2 + alpha * l1_ratio * ||w||_1 + 0.5 * alpha * (1 - l1_ratio) * ||w||^2

``Lasso`` is ``l1_ratio = 1``. The intercept ``b`` is not penalized (fitted by centering). ``X``
is a dense array or a ``scipy.sparse`` matrix (kept sparse; centering is implicit). The solver is
the working-set method of :mod:`diffprog.sparse.working_set`; ``tol`` bounds the duality gap
relative to ``||y||^2`` exactly as in scikit-learn, and ``dual_gap_`` is the final gap divided
by ``n``.
"""
import numpy as np

from .base import BaseEstimator, LinearRegressorMixin, warn_not_converged
from .checks import check_X_y, check_alpha, check_positive_int, check_tol
from .sklearn_compat import validate_fit
from .design import Design
from .homotopy import ElasticNetSegment, LassoSegment
from .working_set import GramCache, enet_working_set

__all__ = ["ElasticNet", "Lasso", "enet_path", "lasso_path"]


def _check_l1_ratio(l1_ratio):
    try:
        value = float(l1_ratio)
    except (TypeError, ValueError):
        raise TypeError(f"l1_ratio must be a number in [0, 1], got {l1_ratio!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
    return value


def _alpha_grid(design, y, l1_ratio, n_alphas, eps):
    alpha_max = float(np.max(np.abs(design.rdot(y)))) / (design.n * max(l1_ratio, 1e-3))
    if alpha_max <= np.finfo(float).resolution:
        return np.full(n_alphas, np.finfo(float).resolution)
    return np.geomspace(alpha_max, alpha_max * eps, n_alphas)


def _path(design, y, alphas, l1_ratio, tol, max_iter, coef_init, name):
    """Warm-started solutions along ``alphas``. For the Lasso, once two consecutive solutions share
    support and signs, the exact affine piece of the path through them (:class:`LassoSegment`)
    answers the following alphas until one fails its KKT check (then ``n_iter`` is 0 there)."""
    n = design.n
    tol_abs = tol * float(y @ y)
    cache = None if design.sparse else GramCache(design)
    Xty = design.rdot(y)
    # (G_AA + l2 I)^-1 cannot follow a change of l2, which the elastic net's path makes at every alpha
    state = {} if l1_ratio == 1.0 else {"inverse": None}
    w = np.zeros(design.p) if coef_init is None else np.array(coef_init, dtype=float)
    coefs = np.empty((design.p, len(alphas)))
    gaps = np.empty(len(alphas))
    n_iters = np.empty(len(alphas), dtype=np.int64)
    segment, pattern = None, None
    for i, alpha in enumerate(alphas):
        l1, l2 = n * alpha * l1_ratio, n * alpha * (1.0 - l1_ratio)
        exact = segment.solution(design, y, l1, l2, tol_abs) if segment is not None else None
        if exact is not None:
            w, residual, correlation, gap = exact
            state.update(w=w, residual=residual, correlation=correlation)
            coefs[:, i], gaps[i], n_iters[i] = w, gap / n, 0
            continue
        w, gap, n_iter, converged = enet_working_set(design, y, l1, l2, w, tol_abs, max_iter, cache, Xty,
                                                     state=state)
        if not converged:
            warn_not_converged(name, max_iter, gap / n, tol_abs / n)
        coefs[:, i], gaps[i], n_iters[i] = w, gap / n, n_iter
        previous, pattern = pattern, np.sign(w)
        segment = None
        if l1_ratio > 0 and converged and previous is not None and np.array_equal(previous, pattern):
            kind = LassoSegment if l1_ratio == 1.0 else ElasticNetSegment
            segment = kind.build(design, y, Xty, w, cache)
    return coefs, gaps, n_iters


def enet_path(X, y, *, l1_ratio=0.5, eps=1e-3, n_alphas=100, alphas=None, tol=1e-4, max_iter=1000,
              fit_intercept=False, coef_init=None, return_n_iter=False):
    """Elastic-net solutions along a decreasing grid of alphas, each warm-started from the last.

    Returns ``(alphas (n_alphas,), coefs (n_features, n_alphas), dual_gaps (n_alphas,))`` (and
    ``n_iters`` with ``return_n_iter``: working-set passes per alpha; 0 where the Lasso solution
    came exactly from the affine piece of the path through the previous ones, see
    :mod:`diffprog.sparse.homotopy`), as ``sklearn.linear_model.enet_path``. The default grid
    is ``n_alphas`` log-spaced values from ``alpha_max = max|X^T y| / (n l1_ratio)`` (all-zero
    solution) down to ``eps * alpha_max`` (an int ``alphas`` is a count, as in scikit-learn >= 1.9).
    ``fit_intercept`` centers X and y first (scikit-learn's
    path functions do not center; the estimators do).
    """
    X, y = check_X_y(X, y)
    l1_ratio = _check_l1_ratio(l1_ratio)
    tol = check_tol(tol)
    max_iter = check_positive_int(max_iter, "max_iter")
    design = Design(X, center=bool(fit_intercept))
    y = y - y.mean() if fit_intercept else y
    if alphas is None or isinstance(alphas, (int, np.integer)):
        n_alphas = check_positive_int(n_alphas if alphas is None else alphas, "n_alphas")
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps!r}")
        alphas = _alpha_grid(design, y, l1_ratio, n_alphas, eps)
    else:
        alphas = np.sort(np.asarray(alphas, dtype=float).ravel())[::-1]
        if alphas.size == 0 or np.any(~np.isfinite(alphas)) or np.any(alphas < 0):
            raise ValueError(f"alphas must be a non-empty list of non-negative numbers, got {alphas!r}")
    if coef_init is not None and np.shape(coef_init) != (design.p,):
        raise ValueError(f"coef_init must have shape ({design.p},), got {np.shape(coef_init)}")
    coefs, gaps, n_iters = _path(design, y, alphas, l1_ratio, tol, max_iter, coef_init, "enet_path")
    return (alphas, coefs, gaps, n_iters) if return_n_iter else (alphas, coefs, gaps)


def lasso_path(X, y, *, eps=1e-3, n_alphas=100, alphas=None, tol=1e-4, max_iter=1000, fit_intercept=False,
               coef_init=None, return_n_iter=False):
    """Lasso solutions along a path of alphas; :func:`enet_path` with ``l1_ratio=1``."""
    return enet_path(X, y, l1_ratio=1.0, eps=eps, n_alphas=n_alphas, alphas=alphas, tol=tol,
                     max_iter=max_iter, fit_intercept=fit_intercept, coef_init=coef_init,
                     return_n_iter=return_n_iter)


class ElasticNet(LinearRegressorMixin, BaseEstimator):
    """Linear regression with combined l1 and l2 penalties (scikit-learn's objective and API).

    Parameters: ``alpha`` (>= 0), ``l1_ratio`` in [0, 1], ``fit_intercept``, ``max_iter`` (outer
    working-set passes; each solves its sub-problem exactly), ``tol`` (duality gap relative to
    ``||y||^2``), ``warm_start`` (start from the previous ``coef_``).
    Attributes after ``fit``: ``coef_`` (n_features,), ``intercept_``, ``n_iter_`` (passes),
    ``dual_gap_`` (final gap / n), ``n_features_in_``.
    """

    def __init__(self, alpha=1.0, *, l1_ratio=0.5, fit_intercept=True, max_iter=1000, tol=1e-4,
                 warm_start=False):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start

    def _l1_ratio(self):
        return _check_l1_ratio(self.l1_ratio)

    def fit(self, X, y):
        """Fit on X (n_samples, n_features), dense or scipy.sparse, and y (n_samples,); returns self."""
        X, y = validate_fit(self, X, y)
        alpha = check_alpha(self.alpha)
        l1_ratio = self._l1_ratio()
        tol = check_tol(self.tol)
        max_iter = check_positive_int(self.max_iter, "max_iter")
        design = Design(X, center=bool(self.fit_intercept))
        y_mean = y.mean() if self.fit_intercept else 0.0
        yc = y - y_mean
        w0 = None
        if self.warm_start and getattr(self, "coef_", None) is not None and self.coef_.shape == (design.p,):
            w0 = self.coef_
        n = design.n
        tol_abs = tol * float(yc @ yc)
        w = np.zeros(design.p) if w0 is None else np.array(w0, dtype=float)
        w, gap, n_iter, converged = enet_working_set(design, yc, n * alpha * l1_ratio,
                                                     n * alpha * (1.0 - l1_ratio), w, tol_abs, max_iter)
        if not converged:
            warn_not_converged(type(self).__name__, max_iter, gap / n, tol_abs / n)
        self.coef_ = w
        self.intercept_ = float(y_mean - design.mean @ w) if self.fit_intercept else 0.0
        self.n_iter_ = int(n_iter)
        self.dual_gap_ = float(gap / n)
        self.n_features_in_ = design.p
        return self

    @property
    def sparse_coef_(self):
        """``coef_`` as a scipy.sparse CSR row (scikit-learn's attribute)."""
        import scipy.sparse
        self._check_fitted("sparse_coef_")
        return scipy.sparse.csr_matrix(self.coef_[None, :])


class Lasso(ElasticNet):
    """Linear regression with an l1 penalty: ``1/(2n) ||y - Xw - b||^2 + alpha ||w||_1``
    (``sklearn.linear_model.Lasso``'s objective, attributes and ``tol`` meaning)."""

    def __init__(self, alpha=1.0, *, fit_intercept=True, max_iter=1000, tol=1e-4, warm_start=False):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start

    def _l1_ratio(self):
        return 1.0
