"""scikit-learn conventions shared by the estimators: parameters, tags, fitted state, scores.

Constructor arguments are stored untouched (validated in ``fit``); ``get_params``/``set_params``
read them from the ``__init__`` signature, as scikit-learn does; learned attributes end with ``_``.
The classes do not inherit from scikit-learn's (it is optional); they speak its protocol
(``__sklearn_tags__``, ``__sklearn_is_fitted__``), so ``clone``, ``Pipeline``, ``GridSearchCV``,
``cross_val_score``, ``is_regressor``/``is_classifier`` and ``check_estimator`` accept them.
"""
import inspect

import numpy as np

from .sklearn_compat import raise_not_fitted, sklearn_tags, validate_predict, warn_convergence

__all__ = ["BaseEstimator", "RegressorMixin", "ClassifierMixin", "LinearRegressorMixin", "warn_not_converged",
           "r2_score"]


class BaseEstimator:
    """``get_params``/``set_params``/``__repr__`` from the constructor's signature; fitted state."""

    _estimator_kind = None                      # "regressor" or "classifier" (set by the mixins)

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

    def __sklearn_tags__(self):
        return sklearn_tags(self._estimator_kind)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coef_")

    def _check_fitted(self, method):
        if not self.__sklearn_is_fitted__():
            raise_not_fitted(self, method)

    def _validate_predict(self, X, method):
        """Fitted check, then X validated against the fitted feature count."""
        self._check_fitted(method)
        return validate_predict(self, X)


def warn_not_converged(name, max_iter, gap, tol):
    warn_convergence(f"{name} did not converge in max_iter={max_iter} iterations: final duality gap "
                     f"{gap:.3e} > tolerance {tol:.3e}; increase max_iter or tol, or check feature scaling")


def r2_score(y, prediction):
    """Coefficient of determination, scikit-learn's ``score`` for regressors."""
    y = np.asarray(y, dtype=float).ravel()
    residual = np.sum((y - prediction) ** 2)
    total = np.sum((y - y.mean()) ** 2)
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1.0 - residual / total


class RegressorMixin:
    """``score`` = R^2 of ``predict``; tagged a regressor."""

    _estimator_kind = "regressor"

    def score(self, X, y):
        """R^2 of ``predict(X)`` against y (n_samples,)."""
        return float(r2_score(y, self.predict(X)))


class ClassifierMixin:
    """``score`` = mean accuracy of ``predict``; tagged a classifier."""

    _estimator_kind = "classifier"

    def score(self, X, y):
        """Mean accuracy of ``predict(X)`` against the labels y (n_samples,)."""
        return float(np.mean(self.predict(X) == np.asarray(y).ravel()))


class LinearRegressorMixin(RegressorMixin):
    """``predict`` and ``score`` of a fitted linear model with ``coef_`` and ``intercept_``."""

    def predict(self, X):
        """``X @ coef_ + intercept_``; X (n_samples, n_features) dense or sparse -> (n_samples,)."""
        X = self._validate_predict(X, "predict")
        return np.asarray(X @ self.coef_).ravel() + self.intercept_
