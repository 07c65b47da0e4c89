"""``SparseLogisticRegression``: l1-penalized logistic regression, binary or multiclass.

Objectives (the intercepts are never penalized):

- two classes (sorted; the second is the positive one, as scikit-learn):
  ``mean_i log(1 + exp(-s_i (x_i.w + b))) + alpha ||w||_1`` with ``s_i`` in {-1, +1};
- ``multi_class="multinomial"`` (K > 2 classes): ``mean_i [logsumexp(z_i) - z_i[y_i]] +
  alpha sum |W|`` with ``z_i = W x_i + b``, W (K, p) -- one row per class, as scikit-learn's;
- ``multi_class="ovr"``: one binary problem per class (that class against the rest).

scikit-learn's ``LogisticRegression(l1_ratio=1, C=C)`` minimizes ``sum_i loss_i + ||w||_1 / C``,
the same problem as ``alpha = 1 / (n C)``. Solved by FISTA with adaptive restart
(:func:`diffprog.optim.fista`), stopped on the duality gap relative to the loss at zero
(``n log K``), with the entropy dual of the logistic (softmax) loss.
"""
import numpy as np

from diffprog.optim import fista, lipschitz_constant
from diffprog.optim.prox import l1
from .base import BaseEstimator, ClassifierMixin, warn_not_converged
from .checks import check_alpha, check_positive_int, check_tol
from .design import Design
from .losses import logistic, multinomial
from .sklearn_compat import validate_fit

__all__ = ["SparseLogisticRegression"]


def _entropy(q):
    """Sum over the last axis of ``-q log q`` (0 log 0 = 0)."""
    q = np.clip(q, 1e-300, 1.0)
    return -np.sum(q * np.log(q), axis=-1)


def _penalty_strength(shape, alpha, fit_intercept):
    """Per-coefficient l1 weights; the intercept (last column when fitted) is free."""
    strength = np.full(shape, alpha)
    if fit_intercept:
        strength[..., -1] = 0.0
    return strength


def _best_intercept(z, loss_and_derivatives, b):
    """Minimize ``sum_i loss(z_i + b)`` over the free intercept b (scalar or (K,)) by safeguarded
    Newton steps from ``b``: at the result the intercept's optimality condition holds, which makes
    the dual point below feasible (its equality constraint) and the duality gap a certificate."""
    value, grad, hess = loss_and_derivatives(z + b)
    for _ in range(50):
        step = grad / hess if np.ndim(b) == 0 else np.linalg.solve(hess, grad)
        if float(np.sum(step * grad)) <= 1e-15 * max(value, 1.0):        # Newton decrement: converged
            break
        t = 1.0
        while t > 1e-6:
            new_value, new_grad, new_hess = loss_and_derivatives(z + (b - t * step))
            if new_value <= value:
                break
            t *= 0.5
        else:
            break
        b, value, grad, hess = b - t * step, new_value, new_grad, new_hess
    return b


def _every(gap, period=10):
    """``gap`` evaluated on every ``period``-th call only (NaN, "not measured", in between): the
    certificate costs as much as an iteration, so FISTA checks it every few iterations."""
    calls = [0]

    def sparse_gap(v):
        calls[0] += 1
        return gap(v) if calls[0] % period == 0 else float("nan")
    return sparse_gap


def _final_gap(result, gap):
    """The gap at the returned point (measured again when the last iteration skipped it)."""
    last = result.history["gap"][-1]
    return float(last) if np.isfinite(last) else float(gap(result.x))


def _binary_loss(s):
    def loss_and_derivatives(z):
        m = s * z
        sigma = np.exp(-np.logaddexp(0.0, m))                         # sigma(-m)
        return float(np.sum(np.logaddexp(0.0, -m))), float(-np.sum(s * sigma)), float(np.sum(sigma * (1 - sigma)))
    return loss_and_derivatives


def _fit_binary(design, y_sign, alpha, fit_intercept, tol, max_iter):
    """Binary problem; ``v = [w, b]`` (p + fit_intercept,). Returns the solution, fista's result
    and the gap scale. With an intercept, the gap is taken at the best intercept for w."""
    n, p = design.n, design.p
    loss, _ = logistic(design, y_sign, fit_intercept)
    lam = n * alpha
    pointwise = _binary_loss(y_sign)

    def solution(v):
        z = design.dot(v[:p])
        b = _best_intercept(z, pointwise, float(v[p])) if fit_intercept else 0.0
        return z + b, b

    def gap(v):
        z, _ = solution(v)
        m = y_sign * z
        primal = float(np.sum(np.logaddexp(0.0, -m))) + lam * float(np.abs(v[:p]).sum())
        theta = np.exp(-np.logaddexp(0.0, m))                        # sigma(-m), in (0, 1)
        dual_norm = float(np.max(np.abs(design.rdot(y_sign * theta))))
        theta = theta * (min(1.0, lam / dual_norm) if dual_norm > 0 else 1.0)
        return primal - float(np.sum(_entropy(np.stack([theta, 1.0 - theta], axis=-1))))

    v0 = np.zeros(p + fit_intercept)
    step = 1.0 / lipschitz_constant(loss, v0)                         # the curvature is largest at 0
    result = fista(loss, l1(_penalty_strength(v0.shape, alpha, fit_intercept)), v0, step=step,
                   max_iter=max_iter, duality_gap=_every(gap), gap_tol=tol * n * np.log(2.0))
    v = result.x.copy()
    if fit_intercept:
        v[p] = solution(v)[1]
    return v, result, _final_gap(result, gap), n * np.log(2.0)


def _softmax_loss(onehot):
    def loss_and_derivatives(z):
        log_partition = np.logaddexp.reduce(z, axis=1)
        P = np.exp(z - log_partition[:, None])
        # the Hessian is singular along (1, ..., 1), a shift that changes nothing and that the
        # gradient never contains: adding 11' makes it invertible without changing the Newton step
        return (float(np.sum(log_partition - np.sum(z * onehot, axis=1))), (P - onehot).sum(axis=0),
                np.diag(P.sum(axis=0)) - P.T @ P + 1.0)
    return loss_and_derivatives


def _fit_multinomial(design, codes, n_classes, alpha, fit_intercept, tol, max_iter):
    """Multinomial problem; ``V = [W, b]`` (K, p + fit_intercept). Dual point: the softmax
    probabilities pulled towards the one-hot labels until ``||X^T (Q - Y)||_inf <= n alpha``
    (at the best intercepts for W, as in the binary case)."""
    n, p = design.n, design.p
    loss, _ = multinomial(design, codes, n_classes, fit_intercept)
    lam = n * alpha
    onehot = np.eye(n_classes)[codes]
    pointwise = _softmax_loss(onehot)

    def solution(V):
        z = design.dot(V[:, :p].T)
        b = _best_intercept(z, pointwise, V[:, p].copy()) if fit_intercept else np.zeros(n_classes)
        return z + b, b

    def gap(V):
        z, _ = solution(V)
        log_partition = np.logaddexp.reduce(z, axis=1)
        P = np.exp(z - log_partition[:, None])
        primal = float(np.sum(log_partition - np.sum(z * onehot, axis=1))) + lam * float(np.abs(V[:, :p]).sum())
        dual_norm = float(np.max(np.abs(design.rdot(P - onehot))))
        scale = min(1.0, lam / dual_norm) if dual_norm > 0 else 1.0
        return primal - float(np.sum(_entropy(onehot + scale * (P - onehot))))

    V0 = np.zeros((n_classes, p + fit_intercept))
    # at 0 the Hessian is (I - 11'/K)/K (x) X'X/n; its bound everywhere is (1/2) X'X/n
    step = 2.0 / (n_classes * lipschitz_constant(loss, V0))
    result = fista(loss, l1(_penalty_strength(V0.shape, alpha, fit_intercept)), V0, step=step,
                   max_iter=max_iter, duality_gap=_every(gap), gap_tol=tol * n * np.log(n_classes))
    V = result.x.copy()
    if fit_intercept:
        V[:, p] = solution(V)[1]
    return V, result, _final_gap(result, gap), n * np.log(n_classes)


class SparseLogisticRegression(ClassifierMixin, BaseEstimator):
    """L1-penalized logistic regression with scikit-learn's conventions.

    Parameters: ``alpha`` (>= 0, the l1 weight on the mean loss), ``multi_class``
    (``"multinomial"`` or ``"ovr"``; used only with more than two classes), ``fit_intercept``,
    ``max_iter`` (FISTA iterations per problem), ``tol`` (duality gap relative to ``n log K``).
    Attributes after ``fit``: ``classes_`` (K,), ``coef_`` (1, n_features) for two classes else
    (K, n_features), ``intercept_`` (1,) or (K,), ``n_iter_`` (an array with one count per
    problem solved, as scikit-learn), ``dual_gap_`` (largest final gap / n), ``n_features_in_``,
    ``history_`` (FISTA's per-iteration objective, gap and step, a list of them for one-vs-rest;
    the gap is measured every 10th iteration and NaN in between).
    """

    def __init__(self, alpha=0.01, *, multi_class="multinomial", fit_intercept=True, max_iter=5000, tol=1e-6):
        self.alpha = alpha
        self.multi_class = multi_class
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        """Fit on X (n_samples, n_features), dense or scipy.sparse, and labels y (n_samples,)."""
        X, y = validate_fit(self, X, y, classifier=True)
        classes, codes = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"y has only one class ({classes[0]!r}); a classifier needs at least two classes")
        if self.multi_class not in ("multinomial", "ovr"):
            raise ValueError(f"multi_class must be 'multinomial' or 'ovr', got {self.multi_class!r}")
        alpha = check_alpha(self.alpha)
        tol = check_tol(self.tol)
        max_iter = check_positive_int(self.max_iter, "max_iter")
        fit_b = bool(self.fit_intercept)
        design = Design(X, center=False)
        n, p = design.n, design.p
        if classes.size == 2 or self.multi_class == "ovr":
            targets = [codes == 1] if classes.size == 2 else [codes == k for k in range(classes.size)]
            fits = [_fit_binary(design, np.where(t, 1.0, -1.0), alpha, fit_b, tol, max_iter) for t in targets]
            V = np.stack([v for v, _, _, _ in fits])
        else:
            fits = [_fit_multinomial(design, codes, classes.size, alpha, fit_b, tol, max_iter)]
            V = fits[0][0]
        gaps = [gap / n for _, _, gap, _ in fits]
        fits = [(result, scale) for _, result, _, scale in fits]
        for (result, scale), gap in zip(fits, gaps):
            if not result.converged:
                warn_not_converged(type(self).__name__, max_iter, gap, tol * scale / n)
        self.classes_ = classes
        self._one_vs_rest_ = classes.size > 2 and self.multi_class == "ovr"
        self.coef_ = V[:, :p].copy()
        self.intercept_ = V[:, p].copy() if fit_b else np.zeros(V.shape[0])
        self.n_iter_ = np.array([result.n_iter for result, _ in fits])
        self.dual_gap_ = float(max(gaps))
        self.history_ = fits[0][0].history if len(fits) == 1 else [result.history for result, _ in fits]
        self.n_features_in_ = p
        return self

    def decision_function(self, X):
        """``X @ coef_.T + intercept_``: (n_samples,) for two classes (> 0 means ``classes_[1]``),
        else (n_samples, K)."""
        X = self._validate_predict(X, "decision_function")
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores[:, 0] if self.classes_.size == 2 else scores

    def predict_log_proba(self, X):
        """Log-probabilities of ``classes_`` -> (n_samples, K)."""
        self._check_fitted("predict_log_proba")
        scores = self.decision_function(X)
        if self.classes_.size == 2:
            return -np.logaddexp(0.0, -np.stack([-scores, scores], axis=1))
        if self._one_vs_rest_:                          # one-vs-rest: sigmoids normalized per row
            log_sigmoid = -np.logaddexp(0.0, -scores)
            return log_sigmoid - np.logaddexp.reduce(log_sigmoid, axis=1, keepdims=True)
        return scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)

    def predict_proba(self, X):
        """Probabilities of ``classes_`` -> (n_samples, K); rows sum to 1."""
        self._check_fitted("predict_proba")
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The most probable class of each row -> (n_samples,) with the dtype of ``classes_``."""
        self._check_fitted("predict")
        scores = self.decision_function(X)
        if self.classes_.size == 2:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
