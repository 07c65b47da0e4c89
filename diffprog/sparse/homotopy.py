"""Exact Lasso solutions between kinks of the regularization path (the homotopy / LARS view).

While the support ``A`` and the signs ``s`` of the Lasso solution stay the same, the solution is
affine in ``l1 = n alpha``::

    w_A(l1) = G_AA^{-1} (X_A^T y - l1 s) = x - l1 v,     X^T r(l1) = c + l1 q,

with ``x = G_AA^{-1} X_A^T y``, ``v = G_AA^{-1} s``, ``c = X^T (y - X_A x)`` and ``q = X^T X_A v``.
One segment costs one solve with two right-hand sides and one pass over X with two vectors;
then every alpha of the grid on the same piece of the path is solved exactly by vector
arithmetic, and certified by its own KKT conditions (signs, ``x_j^T r = l1 s_j`` on the support
to 1e-9 relative, ``|x_j^T r| <= l1`` off it) and duality gap. A grid point past a kink fails the check and goes back to the working-set
solver. This makes the long stretches of a path where nothing enters or leaves almost free.
The elastic net's solution on a fixed support is not affine in alpha (``l2`` moves too), but one
eigendecomposition of ``G_AA`` makes it as cheap to evaluate: :class:`ElasticNetSegment`.
"""
import numpy as np

from .working_set import duality_gap

__all__ = ["LassoSegment", "ElasticNetSegment"]

MAX_SIZE = 300          # larger supports change at nearly every grid point: not worth a segment


ELASTIC_NET_MAX_SIZE = 64   # its segment costs one pass over X with k vectors


def _support_system(design, w, cache, max_size):
    """``(support, signs, gram (k, k), columns (n, k))`` of ``w``'s support (centered columns),
    or None when the support is empty or larger than ``max_size``."""
    support = np.flatnonzero(w)
    if support.size == 0 or support.size > max_size:
        return None
    if cache is not None and not design.sparse:
        cache.ensure(support)
        gram = cache.sub(support)
        columns = cache.rows[cache.position[support]].T            # (n, k), centered
    else:
        columns = design.columns(support)
        gram = columns.T @ columns
    return support, np.sign(w[support]), gram, columns


def _certify(design, y, w_support, support, signs, correlation, residual, l1, l2, tol):
    """``(w, residual, correlation, gap)`` when ``w_support`` on ``support`` is the exact solution at
    (l1, l2) (signs kept, stationarity on the support, every other correlation within l1, gap <= tol)."""
    if not np.all(signs * w_support > 0):
        return None
    stationarity = np.abs(correlation[support] - l2 * w_support - l1 * signs)
    if float(stationarity.max()) > 1e-9 * l1:        # the solves lost accuracy (near-singular G_AA)
        return None
    outside = np.abs(correlation)
    outside[support] = 0.0
    if float(outside.max()) > l1 * (1 + 1e-12):
        return None
    w = np.zeros(design.p)
    w[support] = w_support
    gap = duality_gap(residual, y, correlation, w, l1, l2)
    if not gap <= tol:
        return None
    return w, residual, correlation, gap


class LassoSegment:
    """Affine Lasso solutions ``w(l1)`` for one support and sign pattern; see the module doc."""

    def __init__(self, support, signs, x, v, u_x, u_v, c, q):
        self.support, self.signs = support, signs
        self.x, self.v, self.u_x, self.u_v, self.c, self.q = x, v, u_x, u_v, c, q

    @classmethod
    def build(cls, design, y, Xty, w, cache=None):
        """The segment through the support and signs of ``w``; None when there is nothing to
        gain (empty or large support) or its Gram matrix is singular."""
        system = _support_system(design, w, cache, MAX_SIZE)
        if system is None:
            return None
        support, signs, gram, columns = system
        try:
            solutions = np.linalg.solve(gram, np.column_stack([Xty[support], signs]))
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(solutions)):
            return None
        x, v = solutions[:, 0], solutions[:, 1]
        u_x, u_v = columns @ x, columns @ v
        products = design.rdot(np.column_stack([u_x, u_v]))
        return cls(support, signs, x, v, u_x, u_v, Xty - products[:, 0], products[:, 1])

    def solution(self, design, y, l1, l2, tol):
        """``(w, residual, correlation, gap)`` at ``l1`` (``l2`` must be 0) when it lies on this
        segment (signs kept, every other correlation within ``l1``, gap <= ``tol``), else None."""
        w_support = self.x - l1 * self.v
        if not np.all(self.signs * w_support > 0):
            return None
        return _certify(design, y, w_support, self.support, self.signs, self.c + l1 * self.q,
                        y - (self.u_x - l1 * self.u_v), l1, 0.0, tol)


class ElasticNetSegment:
    """Elastic-net solutions for one support and sign pattern at any alpha. With the eigenvectors
    ``G_AA = Q diag(lam) Q^T`` and ``l1 = n alpha rho``, ``l2 = n alpha (1 - rho)``::

        w_A = Q diag(1 / (lam + l2)) (Q^T X_A^T y - l1 Q^T s),   X^T r = X^T y - (X^T X_A Q) coef

    (not affine in alpha, but one eigendecomposition and one pass over X with k vectors make every
    later alpha an O(p k) evaluation, certified like :class:`LassoSegment`'s)."""

    def __init__(self, support, signs, lam, Q, beta, sigma, XQ, M, Xty):
        self.support, self.signs, self.lam, self.Q = support, signs, lam, Q
        self.beta, self.sigma, self.XQ, self.M, self.Xty = beta, sigma, XQ, M, Xty

    @classmethod
    def build(cls, design, y, Xty, w, cache=None):
        system = _support_system(design, w, cache, ELASTIC_NET_MAX_SIZE)
        if system is None:
            return None
        support, signs, gram, columns = system
        try:
            lam, Q = np.linalg.eigh(gram)
        except np.linalg.LinAlgError:
            return None
        XQ = columns @ Q
        return cls(support, signs, lam, Q, Q.T @ Xty[support], Q.T @ signs, XQ, design.rdot(XQ), Xty)

    def solution(self, design, y, l1, l2, tol):
        denominator = self.lam + l2
        if not np.all(denominator > 1e-12 * max(float(self.lam.max()), l2)):
            return None
        coef = (self.beta - l1 * self.sigma) / denominator
        w_support = self.Q @ coef
        if not np.all(self.signs * w_support > 0):
            return None
        return _certify(design, y, w_support, self.support, self.signs, self.Xty - self.M @ coef,
                        y - self.XQ @ coef, l1, l2, tol)
