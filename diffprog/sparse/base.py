"""scikit-learn conventions shared by the estimators: parameters, warnings, input checks, scores.

Constructor arguments are stored untouched (validated in ``fit``); ``get_params``/``set_params``
read them from the ``__init__`` signature, as scikit-learn does; learned attributes end with ``_``.
"""
import inspect
import warnings

import numpy as np

__all__ = ["BaseEstimator", "ConvergenceWarning", "check_X_y", "check_X", "check_alpha", "is_sparse"]


class ConvergenceWarning(UserWarning):
    """A solver stopped at ``max_iter`` before its stopping criterion was met."""


class BaseEstimator:
    """``get_params``/``set_params``/``__repr__`` from the constructor's signature."""

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for estimator {type(self).__name__}; "
                                 f"valid parameters are {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if not (isinstance(defaults.get(k), (int, float, str, bool, type(None)))
                           and type(defaults.get(k)) is type(v) and defaults.get(k) == v)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise ValueError(f"this {type(self).__name__} instance is not fitted yet; call fit(X, y) first")


def is_sparse(X):
    """True for scipy.sparse matrices and arrays (checked without importing scipy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "tocsc")


def check_X(X, name="X", n_features=None):
    """Return X as a float64 2-D ndarray or CSC matrix; reject NaN/inf, wrong rank, empty input."""
    if is_sparse(X):
        X = X.tocsc().astype(np.float64)
        data = X.data
        shape = X.shape
    else:
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a 2-D array of numbers or a scipy.sparse matrix, "
                            f"got {type(X).__name__} ({err})") from None
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
        data = X
        shape = X.shape
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {shape}, expected at least one sample and one feature")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{name} contains NaN or inf (shape {shape}); remove or impute them first")
    if n_features is not None and shape[1] != n_features:
        raise ValueError(f"{name} has {shape[1]} features, but the estimator was fitted with {n_features}")
    return X


def check_X_y(X, y):
    """Validate a design matrix and a 1-D target of the same length."""
    X = check_X(X)
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"y must be a 1-D array of numbers, got {type(y).__name__} ({err})") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (n_samples,), got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have different numbers of samples: X has {X.shape[0]} rows "
                         f"(shape {X.shape}), y has {y.shape[0]}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y contains NaN or inf (length {y.shape[0]})")
    return X, y


def check_alpha(alpha, name="alpha"):
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a non-negative number, got {alpha!r}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {alpha!r}")
    return value


def check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_tol(tol):
    try:
        value = float(tol)
    except (TypeError, ValueError):
        raise TypeError(f"tol must be a non-negative number, got {tol!r}") from None
    if not value >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    return value


def warn_not_converged(name, max_iter, gap, tol):
    warnings.warn(f"{name} did not converge in max_iter={max_iter} iterations: final duality gap "
                  f"{gap:.3e} > tolerance {tol:.3e}; increase max_iter or tol, or check feature scaling",
                  ConvergenceWarning, stacklevel=3)


def r2_score(y, prediction):
    """Coefficient of determination, scikit-learn's ``score`` for regressors."""
    y = np.asarray(y, dtype=float)
    residual = np.sum((y - prediction) ** 2)
    total = np.sum((y - y.mean()) ** 2)
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1.0 - residual / total


class LinearRegressorMixin:
    """``predict`` and ``score`` of a fitted linear model with ``coef_`` and ``intercept_``."""

    def predict(self, X):
        """``X @ coef_ + intercept_``; X (n_samples, n_features) dense or sparse -> (n_samples,)."""
        self._check_fitted()
        X = check_X(X, n_features=self.coef_.shape[0])
        return np.asarray(X @ self.coef_).ravel() + self.intercept_

    def score(self, X, y):
        """R^2 of ``predict(X)`` against y."""
        X, y = check_X_y(X, y)
        return r2_score(y, self.predict(X))
