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
"""
import numpy as np

from .working_set import duality_gap

__all__ = ["LassoSegment"]

MAX_SIZE = 300          # larger supports change at nearly every grid point: not worth a segment


class LassoSegment:
    """Affine Lasso solutions ``w(l1)`` for one support and sign pattern; see the module doc."""

    def __init__(self, support, signs, x, v, u_x, u_v, c, q):
        self.support, self.signs = support, signs
        self.x, self.v, self.u_x, self.u_v, self.c, self.q = x, v, u_x, u_v, c, q

    @classmethod
    def build(cls, design, y, Xty, w, cache=None):
        """The segment through the support and signs of ``w``; None when there is nothing to
        gain (empty or large support) or its Gram matrix is singular."""
        support = np.flatnonzero(w)
        if support.size == 0 or support.size > MAX_SIZE:
            return None
        signs = np.sign(w[support])
        if cache is not None and not design.sparse:
            cache.ensure(support)
            gram = cache.sub(support)
            columns = cache.rows[cache.position[support]].T        # (n, k), centered
        else:
            columns = design.columns(support)
            gram = columns.T @ columns
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

    def solution(self, design, y, l1, tol):
        """``(w, residual, correlation, gap)`` at ``l1`` when it lies on this segment (signs kept,
        every other correlation within ``l1``, gap <= ``tol``), else None."""
        w_support = self.x - l1 * self.v
        if not np.all(self.signs * w_support > 0):
            return None
        correlation = self.c + l1 * self.q
        stationarity = np.abs(correlation[self.support] - l1 * self.signs)
        if float(stationarity.max()) > 1e-9 * l1:    # x, v lost accuracy (near-singular G_AA)
            return None
        outside = np.abs(correlation)
        outside[self.support] = 0.0
        if float(outside.max()) > l1 * (1 + 1e-12):
            return None
        w = np.zeros(design.p)
        w[self.support] = w_support
        residual = y - (self.u_x - l1 * self.u_v)
        gap = duality_gap(residual, y, correlation, w, l1, 0.0)
        if not gap <= tol:
            return None
        return w, residual, correlation, gap
