"""Gram matrices of working sets, as the elastic-net sub-problem solver sees them.

The sub-problem of :mod:`diffprog.sparse.working_set` only needs a few things of the working
set's (centered) Gram matrix ``G = X_W^T X_W (+ l2 I)``: products ``G v``, a column, the diagonal,
and solutions of ``G_AA x = rhs`` on an active subset ``A``. Two implementations:

- :class:`DenseGram` holds ``G`` as an array (rows taken from a :class:`GramCache` that keeps the
  Gram of every feature seen so far, across passes and along a path) and solves directly.
- :class:`SparseGram` never forms ``G``: it keeps the working set's columns of a ``scipy.sparse``
  design and applies ``G v = X_W^T (X_W v)``. Large active systems are solved by conjugate
  gradients with a Jacobi preconditioner, warm-started at the current point; a nearly orthogonal
  sparse design (the usual case) converges in tens of products, where a dense factorization of a
  thousands-wide active set would cost O(k^3).
"""
import numpy as np

__all__ = ["GramCache", "DenseGram", "SparseGram", "conjugate_gradient"]

DIRECT_MAX = 300        # sparse X: active sets up to this size are solved by a dense factorization
UPDATE_MIN = 24         # dense X: active sets from this size on use the updated inverse


def _solve_dense(matrix, rhs):
    """``matrix x = rhs`` for a symmetric PSD ``matrix``; least squares when it is singular."""
    try:
        x = np.linalg.solve(matrix, rhs)
    except np.linalg.LinAlgError:
        x = None
    if x is None or not (np.all(np.isfinite(x)) and np.linalg.norm(matrix @ x - rhs)
                         <= 1e-9 * (np.linalg.norm(matrix) * np.linalg.norm(x) + np.linalg.norm(rhs))):
        x = np.linalg.lstsq(matrix, rhs, rcond=1e-12)[0]
    return x


def conjugate_gradient(matvec, rhs, x0, diagonal, rtol=1e-13, max_iter=None):
    """Jacobi-preconditioned conjugate gradients for ``A x = rhs`` (A symmetric positive definite,
    given by ``matvec``), from ``x0``. Stops when ``||rhs - A x|| <= rtol ||rhs||``.
    Returns ``(x, converged)``; the residual is recomputed from scratch before it says converged."""
    if max_iter is None:
        max_iter = max(50, 2 * rhs.size)
    x = np.array(x0, dtype=float)
    inverse_diagonal = 1.0 / np.where(diagonal > 0, diagonal, 1.0)
    target = rtol * float(np.linalg.norm(rhs))
    residual = rhs - matvec(x)
    z = residual * inverse_diagonal
    direction = z.copy()
    rz = float(residual @ z)
    for _ in range(int(max_iter)):
        if float(np.linalg.norm(residual)) <= target:
            residual = rhs - matvec(x)               # confirm against accumulated rounding
            if float(np.linalg.norm(residual)) <= target:
                return x, True
            z = residual * inverse_diagonal
            direction = z.copy()
            rz = float(residual @ z)
        product = matvec(direction)
        curvature = float(direction @ product)
        if not curvature > 0:
            break
        step = rz / curvature
        x += step * direction
        residual -= step * product
        z = residual * inverse_diagonal
        rz_new = float(residual @ z)
        direction = z + (rz_new / rz) * direction
        rz = rz_new
    return x, float(np.linalg.norm(rhs - matvec(x))) <= target


class DenseGram:
    """A working set's Gram matrix held as a dense symmetric array (k, k)."""

    sparse = False

    def __init__(self, matrix, features=None, cache=None, inverse=None, l2=0.0):
        self.matrix = matrix
        self.size = matrix.shape[0]
        self.diagonal = np.ascontiguousarray(matrix.diagonal())
        self.features, self.cache, self.inverse, self.l2 = features, cache, inverse, l2

    def matvec(self, v):
        return self.matrix @ v

    def column(self, j):
        return self.matrix[j]                        # symmetric: row j is column j

    def block(self, idx):
        return self.matrix.take(idx, axis=0).take(idx, axis=1)

    def solve(self, idx, rhs, x0):
        if self.inverse is not None and idx.size >= UPDATE_MIN:
            def product(x):
                full = np.zeros(self.size)
                full[idx] = x
                return (self.matrix @ full)[idx]
            x = self.inverse.solve(self.features[idx], rhs, self.cache, self.l2, product)
            if x is not None:
                return x
        return _solve_dense(self.block(idx), rhs)


class SparseGram:
    """The Gram matrix ``X_W^T X_W - n m m^T + l2 I`` of a sparse design's working-set columns
    ``X_W`` (n, k) with column means ``m`` (zero unless centered), never formed."""

    sparse = True

    def __init__(self, columns, mean, l2=0.0, norms2=None):
        self.columns = columns.tocsc()
        self.mean = np.asarray(mean, dtype=float)
        self.centered = bool(np.any(self.mean))
        self.n = columns.shape[0]
        self.size = columns.shape[1]
        self.l2 = float(l2)
        if norms2 is None:                           # squared norms of the centered columns
            squares = np.asarray(self.columns.multiply(self.columns).sum(axis=0)).ravel()
            norms2 = squares - self.n * self.mean ** 2
        self.diagonal = norms2 + self.l2

    def predict(self, v):
        """``X_W v`` (n,) of the centered columns."""
        out = self.columns @ v
        return out - float(self.mean @ v) if self.centered else out

    def _apply(self, columns, mean, v):
        out = columns.T @ (columns @ v)
        if self.centered:
            out -= (self.n * float(mean @ v)) * mean
        if self.l2:
            out += self.l2 * v
        return out

    def matvec(self, v):
        return self._apply(self.columns, self.mean, v)

    def column(self, j):
        e = np.zeros(self.size)
        e[j] = 1.0
        return self.matvec(e)

    def block(self, idx):
        sub = self.columns[:, idx]
        out = np.asarray((sub.T @ sub).todense())
        if self.centered:
            out -= self.n * np.outer(self.mean[idx], self.mean[idx])
        if self.l2:
            out[np.diag_indices_from(out)] += self.l2
        return out

    def solve(self, idx, rhs, x0):
        if idx.size <= DIRECT_MAX:
            return _solve_dense(self.block(idx), rhs)
        sub, mean = self.columns[:, idx], self.mean[idx]
        x, converged = conjugate_gradient(lambda v: self._apply(sub, mean, v), rhs, x0, self.diagonal[idx])
        return x if converged else _solve_dense(self.block(idx), rhs)


class GramCache:
    """Gram matrix ``X_c^T X_c`` of the (dense) design's features seen so far, grown as working
    sets add features; storage grows geometrically so adding features does not copy it each time."""

    def __init__(self, design):
        self.design = design
        self.position = np.full(design.p, -1, dtype=np.int64)
        self.features = np.zeros(0, dtype=np.int64)
        self._rows = np.zeros((0, design.n))           # X_c^T, one row per cached feature
        self._gram = np.zeros((0, 0))

    @property
    def size(self):
        return self.features.size

    @property
    def rows(self):
        return self._rows[:self.size]

    @property
    def gram(self):
        return self._gram[:self.size, :self.size]

    def _reserve(self, size):
        capacity = self._gram.shape[0]
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity, 64)
        gram = np.empty((capacity, capacity))
        gram[:self.size, :self.size] = self.gram
        rows = np.empty((capacity, self.design.n))
        rows[:self.size] = self.rows
        self._gram, self._rows = gram, rows

    def ensure(self, features):
        new = features[self.position[features] < 0]
        if new.size == 0:
            return
        m, k = self.size, new.size
        self._reserve(m + k)
        block = self.design.columns(new).T           # (k, n)
        self._rows[m:m + k] = block
        cross = self._rows[:m] @ block.T
        self._gram[:m, m:m + k] = cross
        self._gram[m:m + k, :m] = cross.T
        self._gram[m:m + k, m:m + k] = block @ block.T
        self.position[new] = np.arange(m, m + k)
        self.features = np.concatenate([self.features, new])

    def dot(self, w):
        """``X w`` from the cached rows when w's support is cached (cheaper than the full product)."""
        support = np.flatnonzero(w)
        pos = self.position[support]
        if np.all(pos >= 0):
            return w[support] @ self._rows[pos] if support.size else np.zeros(self.design.n)
        return self.design.dot(w)

    def block(self, rows, columns):
        """``X_rows^T X_columns`` of cached features (global indices), a fresh array."""
        return self._gram.take(self.position[rows], axis=0).take(self.position[columns], axis=1)

    def sub(self, features):
        pos = self.position[features]
        return self._gram.take(pos, axis=0).take(pos, axis=1)
