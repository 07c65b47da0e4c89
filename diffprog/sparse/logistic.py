"""``SparseLogisticRegression``: binary logistic regression with an l1 penalty.

Objective: ``mean_i log(1 + exp(-y_i (x_i.w + b))) + alpha ||w||_1`` with y_i in {-1, +1} (the
two classes of ``y``, sorted; the second is the positive class, as scikit-learn). Solved by FISTA
with adaptive restart (:func:`diffprog.optim.fista`); the intercept is not penalized. Stops on the
duality gap relative to the loss at zero (``log 2``), using the entropy dual of the logistic loss.
"""
import numpy as np

from diffprog.optim import fista, lipschitz_constant
from diffprog.optim.prox import l1
from .base import (BaseEstimator, check_X, check_alpha, check_positive_int, check_tol, warn_not_converged,
                   check_X_y)
from .design import Design
from .losses import logistic

__all__ = ["SparseLogisticRegression"]


def _entropy(t):
    t = np.clip(t, 1e-300, 1.0)
    u = np.clip(1.0 - t, 1e-300, 1.0)
    return -(t * np.log(t) + u * np.log(u))


class SparseLogisticRegression(BaseEstimator):
    """L1-penalized logistic regression (scikit-learn conventions: ``fit``, ``predict``,
    ``predict_proba``, ``decision_function``, ``score`` = accuracy, ``classes_``, ``coef_`` of
    shape (1, n_features), ``intercept_`` of shape (1,), ``n_iter_``, ``dual_gap_``)."""

    def __init__(self, alpha=0.01, *, fit_intercept=True, max_iter=5000, tol=1e-6):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        X = check_X(X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), got shape {y.shape}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf")
        classes = np.unique(y)
        if classes.size != 2:
            raise ValueError(f"y must contain exactly two classes for binary logistic regression, got "
                             f"{classes.size}: {classes[:5]!r}")
        alpha = check_alpha(self.alpha)
        tol = check_tol(self.tol)
        max_iter = check_positive_int(self.max_iter, "max_iter")
        design = Design(X, center=False)
        y_sign = np.where(y == classes[1], 1.0, -1.0)
        n, p = design.n, design.p
        fit_b = bool(self.fit_intercept)
        loss, margins = logistic(design, y_sign, fit_b)
        strength = np.full(p + fit_b, alpha)
        if fit_b:
            strength[p] = 0.0
        lam = n * alpha

        def gap(v):
            m = margins(v)
            primal = float(np.sum(np.logaddexp(0.0, -m))) + lam * float(np.abs(v[:p]).sum())
            theta = np.exp(-np.logaddexp(0.0, m))                       # sigma(-m), in (0, 1)
            dual_norm = float(np.max(np.abs(design.rdot(y_sign * theta))))
            theta = theta * (min(1.0, lam / dual_norm) if dual_norm > 0 else 1.0)
            return primal - float(np.sum(_entropy(theta)))

        v0 = np.zeros(p + fit_b)
        step = 1.0 / lipschitz_constant(loss, v0)
        scale = n * np.log(2.0)
        result = fista(loss, l1(strength), v0, step=step, max_iter=max_iter, duality_gap=gap,
                       gap_tol=tol * scale)
        if not result.converged:
            warn_not_converged("SparseLogisticRegression", max_iter, result.history["gap"][-1] / n, tol * scale / n)
        self.classes_ = classes
        self.coef_ = result.x[None, :p]
        self.intercept_ = np.array([result.x[p] if fit_b else 0.0])
        self.n_iter_ = result.n_iter
        self.dual_gap_ = float(result.history["gap"][-1] / n)
        self.history_ = result.history
        self.n_features_in_ = p
        return self

    def decision_function(self, X):
        """``X @ coef_.T + intercept_`` -> (n_samples,)."""
        self._check_fitted()
        X = check_X(X, n_features=self.coef_.shape[1])
        return np.asarray(X @ self.coef_[0]).ravel() + self.intercept_[0]

    def predict_proba(self, X):
        """Probabilities of ``classes_`` -> (n_samples, 2)."""
        z = self.decision_function(X)
        positive = np.exp(-np.logaddexp(0.0, -z))
        return np.stack([1.0 - positive, positive], axis=1)

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def score(self, X, y):
        """Mean accuracy."""
        check_X_y(X, np.zeros(np.shape(y)[0]) if np.ndim(y) == 1 else y)
        return float(np.mean(self.predict(X) == np.asarray(y)))
