"""The inverse of an active set's Gram matrix, kept along a path by block updates.

Along a Lasso path (and across the passes of one fit) the active set changes by a few features
at a time while its size reaches hundreds. Re-factorizing ``G_AA`` for every Newton step costs
O(k^3); keeping ``H = G_AA^{-1}`` and updating it when features leave (``P - Q R^{-1} Q^T`` on
the blocks of ``H``) or join (the Schur complement ``S = G_BB - G_BA H G_AB``) costs O(k^2 m)
for m changes. Every solution is checked against the true Gram matrix by its residual and
refined once; a loss of accuracy (ill-conditioned updates) falls back to a fresh inverse, and a
singular active set to a dense least-squares solve, so the answer never depends on the updates.
"""
import numpy as np

__all__ = ["ActiveInverse"]

RESIDUAL_RTOL = 1e-12


class ActiveInverse:
    """``H = (G_AA + l2 I)^{-1}`` for the active features ``A`` (global indices, in H's order),
    with G read from a :class:`~diffprog.sparse.gram.GramCache`."""

    def __init__(self, n_features):
        self.features = np.zeros(0, dtype=np.int64)
        self.inverse = np.zeros((0, 0))
        self.position = np.full(n_features, -1, dtype=np.int64)
        self.l2 = 0.0

    def _set(self, features, inverse):
        self.position[self.features] = -1
        self.features, self.inverse = features, inverse
        self.position[features] = np.arange(features.size)

    def clear(self):
        self._set(np.zeros(0, dtype=np.int64), np.zeros((0, 0)))

    def _fresh(self, features, cache):
        block = cache.block(features, features)
        if self.l2:
            block[np.diag_indices_from(block)] += self.l2
        self._set(features.copy(), np.linalg.inv(block))

    def _remove(self, keep):
        drop = ~keep
        H = self.inverse
        kept, dropped = np.flatnonzero(keep), np.flatnonzero(drop)
        Q = H.take(kept, axis=0).take(dropped, axis=1)
        R = H.take(dropped, axis=0).take(dropped, axis=1)
        P = H.take(kept, axis=0).take(kept, axis=1)
        P -= Q @ np.linalg.solve(R, Q.T)
        self._set(self.features[kept], P)

    def _add(self, new, cache):
        U = cache.block(self.features, new)            # (k, m)
        C = cache.block(new, new)
        if self.l2:
            C[np.diag_indices_from(C)] += self.l2
        HU = self.inverse @ U
        schur = C - U.T @ HU
        diagonal = np.diagonal(C)
        if not np.all(np.diagonal(schur) > 1e-10 * diagonal):
            raise np.linalg.LinAlgError("a joining feature is (nearly) collinear with the active set")
        S_inv = np.linalg.inv(schur)
        corner = -HU @ S_inv                            # (k, m)
        k, m = self.features.size, new.size
        H = np.empty((k + m, k + m))
        np.subtract(self.inverse, corner @ HU.T, out=H[:k, :k])
        H[:k, k:] = corner
        H[k:, :k] = corner.T
        H[k:, k:] = S_inv
        self._set(np.concatenate([self.features, new]), H)

    def _update(self, features, cache):
        inside = self.position[features] >= 0
        keep = np.zeros(self.features.size, dtype=bool)
        keep[self.position[features[inside]]] = True
        n_changes = int((~keep).sum() + (~inside).sum())
        if n_changes == 0:
            return
        if self.features.size == 0 or 3 * n_changes > features.size:
            self._fresh(features, cache)
            return
        if not keep.all():
            self._remove(keep)
        if not inside.all():
            self._add(features[~inside], cache)

    def solve(self, features, rhs, cache, l2, product):
        """``x`` with ``(G_AA + l2 I) x = rhs`` for ``A = features``; ``product(x)`` must return
        ``(G_AA + l2 I) x`` exactly (from the caller's Gram). Returns None when the active set is
        singular or the updates lost accuracy beyond one refinement (caller solves directly)."""
        if l2 != self.l2:
            self.clear()
            self.l2 = l2
        try:
            self._update(features, cache)
        except np.linalg.LinAlgError:
            self.clear()
            return None
        order = self.position[features]                 # where each requested feature sits in H
        limit = RESIDUAL_RTOL * max(float(np.max(np.abs(rhs), initial=0.0)), np.finfo(float).tiny)
        x = self._apply(order, rhs)
        for _ in range(2):
            residual = rhs - product(x)
            if not np.all(np.isfinite(residual)):
                break
            if float(np.max(np.abs(residual), initial=0.0)) <= limit:
                return x
            x = x + self._apply(order, residual)       # one step of iterative refinement
        self.clear()
        return None

    def _apply(self, order, v):
        permuted = np.empty(v.size)
        permuted[order] = v
        return (self.inverse @ permuted)[order]
