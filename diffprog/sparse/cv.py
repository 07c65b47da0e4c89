"""``LassoCV``: Lasso with alpha chosen by k-fold cross-validation along a warm-started path."""
import numpy as np

from .base import BaseEstimator, LinearRegressorMixin
from .checks import check_positive_int, check_tol
from .sklearn_compat import validate_fit
from .design import Design
from .linear import Lasso, _alpha_grid, _path

__all__ = ["LassoCV"]


class LassoCV(LinearRegressorMixin, BaseEstimator):
    """k-fold cross-validated Lasso (scikit-learn's ``LassoCV`` conventions).

    The alpha grid (``n_alphas`` values from ``alpha_max`` down to ``eps * alpha_max``, or the
    given ``alphas``; an int ``alphas`` is a count, as in scikit-learn >= 1.9) is computed on
    the whole data; each fold (contiguous, unshuffled splits, as
    ``KFold``) fits the path on its training part (centered with its own means when
    ``fit_intercept``) and scores the mean squared error on its held-out part. ``alpha_`` minimizes
    the mean over folds; the final model is refitted on all data at ``alpha_``.
    The folds run through ``joblib.Parallel(n_jobs=n_jobs)`` when joblib is installed (the
    scikit-learn convention: ``with joblib.parallel_backend("dask"):`` scales them out on a Dask
    cluster); without joblib they run one after another.
    Attributes: ``alpha_``, ``alphas_``, ``mse_path_`` (n_alphas, n_folds), ``coef_``,
    ``intercept_``, ``dual_gap_``, ``n_iter_``.
    """

    def __init__(self, *, eps=1e-3, n_alphas=100, alphas=None, fit_intercept=True, max_iter=1000, tol=1e-4, cv=5,
                 n_jobs=None):
        self.eps = eps
        self.n_alphas = n_alphas
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Choose ``alpha_`` by cross-validation, then refit on all of (X, y); returns self."""
        X, y = validate_fit(self, X, y)
        tol = check_tol(self.tol)
        max_iter = check_positive_int(self.max_iter, "max_iter")
        folds = check_positive_int(self.cv, "cv")
        n = X.shape[0]
        if not 2 <= folds <= n:
            raise ValueError(f"cv must be between 2 and n_samples={n}, got {self.cv!r}")
        if self.alphas is None or isinstance(self.alphas, (int, np.integer)):
            n_alphas = self.n_alphas if self.alphas is None else self.alphas
            if not 0 < self.eps < 1:
                raise ValueError(f"eps must be in (0, 1), got {self.eps!r}")
            design = Design(X, center=bool(self.fit_intercept))
            yc = y - y.mean() if self.fit_intercept else y
            alphas = _alpha_grid(design, yc, 1.0, check_positive_int(n_alphas, "n_alphas"), self.eps)
        else:
            alphas = np.sort(np.asarray(self.alphas, dtype=float).ravel())[::-1]
            if alphas.size == 0 or np.any(alphas < 0) or not np.all(np.isfinite(alphas)):
                raise ValueError(f"alphas must be non-negative numbers, got {self.alphas!r}")
        bounds = np.linspace(0, n, folds + 1).astype(int)
        tests = [np.arange(bounds[k], bounds[k + 1]) for k in range(folds)]
        args = (X, y, alphas, bool(self.fit_intercept), tol, max_iter)
        try:
            import joblib
        except ImportError:
            if self.n_jobs not in (None, 1):
                raise ImportError(f"LassoCV(n_jobs={self.n_jobs!r}) needs joblib: pip install joblib") from None
            columns = [_fold_mse(test, *args) for test in tests]
        else:
            columns = joblib.Parallel(n_jobs=self.n_jobs)(joblib.delayed(_fold_mse)(test, *args) for test in tests)
        mse = np.stack(columns, axis=1)
        best = int(np.argmin(mse.mean(axis=1)))
        self.alphas_ = alphas
        self.mse_path_ = mse
        self.alpha_ = float(alphas[best])
        model = Lasso(self.alpha_, fit_intercept=self.fit_intercept, max_iter=max_iter, tol=tol).fit(X, y)
        self.coef_, self.intercept_ = model.coef_, model.intercept_
        self.dual_gap_, self.n_iter_ = model.dual_gap_, model.n_iter_
        self.n_features_in_ = model.n_features_in_
        return self


def _fold_mse(test, X, y, alphas, fit_intercept, tol, max_iter):
    """Held-out mean squared error along the path, for one fold (the rows ``test`` held out)."""
    train = np.setdiff1d(np.arange(X.shape[0]), test)
    X_train, y_train = X[train], y[train]
    design = Design(X_train, center=fit_intercept)
    y_mean = y_train.mean() if fit_intercept else 0.0
    coefs, _, _ = _path(design, y_train - y_mean, alphas, 1.0, tol, max_iter, None, "LassoCV")
    intercepts = y_mean - design.mean @ coefs
    prediction = np.asarray(X[test] @ coefs) + intercepts
    return np.mean((y[test][:, None] - prediction) ** 2, axis=0)
