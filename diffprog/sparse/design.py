"""A design matrix with optional implicit centering, dense (NumPy) or sparse (scipy CSC).

Centering keeps the solvers' objective the one scikit-learn fits with ``fit_intercept=True``
(columns and target centered); for sparse X the centering is implicit (``X w - offset.w``) so the
matrix stays sparse.
"""
import numpy as np

from .checks import is_sparse


class Design:
    """Wraps X (n, p): ``dot(w)`` -> (n,), ``rdot(r)`` -> (p,), ``columns(idx)`` -> dense (n, k),
    ``column_norms2`` (p,), all with the column means ``offset`` subtracted when ``center``."""

    def __init__(self, X, center):
        self.sparse = is_sparse(X)
        self.centered = bool(center)
        self.n, self.p = X.shape
        self.mean = np.asarray(X.mean(axis=0)).ravel() if center else np.zeros(X.shape[1])
        if self.sparse:
            self.X = X if X.format == "csc" else X.tocsc()    # column access is the hot path
            self.offset = self.mean
            sq = np.asarray(X.multiply(X).sum(axis=0)).ravel()
            self.column_norms2 = np.maximum(sq - self.n * self.offset ** 2, 0.0)
        else:
            self.X = X - self.mean if center else X
            self.offset = np.zeros(self.p)
            self.column_norms2 = np.einsum("ij,ij->j", self.X, self.X)
        self._centered_sparse = self.sparse and center

    def dot(self, w):
        """``X w`` for w (p,) -> (n,), or (p, m) -> (n, m)."""
        if self.sparse and w.ndim == 1:                              # only the support's columns (a path's w is sparse)
            support = np.flatnonzero(w)
            if support.size < self.p // 4:
                out = self.X[:, support] @ w[support] if support.size else np.zeros(self.n)
                return out - self.offset[support] @ w[support] if self._centered_sparse else out
        out = np.asarray(self.X @ w)
        return out - self.offset @ w if self._centered_sparse else out

    def rdot(self, r):
        """``X^T r`` for r (n,) -> (p,), or (n, m) -> (p, m)."""
        out = self.X.T @ r
        if not self._centered_sparse:
            return out
        return out - (self.offset * r.sum() if r.ndim == 1 else np.outer(self.offset, r.sum(axis=0)))

    def columns(self, idx):
        if self.sparse:
            block = self.X[:, idx].toarray()
            return block - self.offset[idx] if self._centered_sparse else block
        return self.X[:, idx]
