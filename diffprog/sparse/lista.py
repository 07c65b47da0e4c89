"""Unrolled ISTA networks trained by backpropagation: ``LISTA`` (Gregor and LeCun, 2010), the
coupled-weight ``LISTACP`` and the analytic-weight ``ALISTA`` (Chen et al. 2018; Liu et al. 2019).

All recover codes ``x`` (batch, n) from measurements ``y = x A^T`` (batch, m) of a dictionary
``A`` (m, n). Each layer is one soft-thresholding step; rows are samples:

- ``LISTA``:   ``x_k+1 = soft(y W^T + x_k S^T, theta_k)``, W (n, m) and S (n, n) initialized at
  ISTA's ``A^T / L`` and ``I - A^T A / L``; per-layer W_k, S_k (untied) or one shared pair (tied).
- ``LISTACP``: ``x_k+1 = soft(x_k + (y - x_k A^T) W_k, theta_k)``, W_k (m, n) initialized at A / L
  (tied: one W).
- ``ALISTA``:  ``x_k+1 = soft(x_k - gamma_k (x_k A^T - y) W, theta_k)`` with W fixed, computed from A
  (``min ||W^T A||_F  s.t.  diag(W^T A) = 1``, solved column by column in closed form); only the
  step ``gamma_k`` and threshold ``theta_k`` of each layer are learned.

Thresholds start at ``alpha / L`` (ISTA for ``0.5||y - Ax||^2 + alpha ||x||_1``), so an untrained
network *is* ISTA with ``n_layers`` iterations. Training minimizes the mean squared error of the
last layer with :class:`diffprog.optim.Adam`.
"""
import numpy as np

from diffprog import autodiff as ad
from diffprog.optim import Adam
from diffprog.optim.prox import soft_threshold

__all__ = ["LISTA", "LISTACP", "ALISTA", "nmse_db", "sparse_coding_problem"]


def nmse_db(estimate, truth):
    """``10 log10(sum ||estimate - truth||^2 / sum ||truth||^2)`` over the batch (arrays)."""
    estimate = np.asarray(estimate.data if type(estimate) is ad.Tensor else estimate)
    truth = np.asarray(truth)
    return float(10.0 * np.log10(np.sum((estimate - truth) ** 2) / np.sum(truth ** 2)))


def sparse_coding_problem(m=250, n=500, seed=0):
    """The standard synthetic dictionary: Gaussian (m, n) with unit-norm columns."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    return A / np.linalg.norm(A, axis=0)


def sparse_codes(A, n_samples, probability=0.1, noise=0.0, rng=None):
    """Bernoulli(probability) x N(0, 1) codes (n_samples, n) and measurements ``x A^T (+ noise)``."""
    rng = np.random.default_rng(rng)
    x = rng.standard_normal((n_samples, A.shape[1])) * (rng.random((n_samples, A.shape[1])) < probability)
    y = x @ A.T
    if noise:
        y = y + noise * rng.standard_normal(y.shape)
    return y, x


def _check_dictionary(dictionary, n_layers):
    A = np.asarray(dictionary, dtype=float)
    if A.ndim != 2 or A.size == 0 or not np.all(np.isfinite(A)):
        raise ValueError(f"dictionary must be a finite 2-D array (m, n), got shape {A.shape}")
    if isinstance(n_layers, bool) or not isinstance(n_layers, (int, np.integer)) or n_layers < 1:
        raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
    return A


class _Unrolled:
    """Shared machinery: parameters, forward through all layers, training, evaluation."""

    def __init__(self, dictionary, n_layers, alpha):
        self.dictionary = _check_dictionary(dictionary, n_layers)
        self.n_layers = int(n_layers)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        self.alpha = alpha
        self.lipschitz = float(np.linalg.norm(self.dictionary, 2) ** 2)
        self._optimizer = None

    def parameters(self):
        raise NotImplementedError

    def _layer(self, k, x, y, cache):
        raise NotImplementedError

    def _check_y(self, y):
        raw = y.data if type(y) is ad.Tensor else np.asarray(y, dtype=float)
        m = self.dictionary.shape[0]
        if raw.ndim != 2 or raw.shape[1] != m:
            raise ValueError(f"y must have shape (batch, {m}) (measurements as rows), got {raw.shape}")
        return y if type(y) is ad.Tensor else raw

    def layers(self, y):
        """All layer outputs ``[x_1, ..., x_K]`` (Tensors (batch, n)) for measurements y (batch, m)."""
        y = self._check_y(y)
        cache = {}
        x = None
        outputs = []
        for k in range(self.n_layers):
            x = self._layer(k, x, y, cache)
            outputs.append(x)
        return outputs

    def __call__(self, y):
        """The last layer's estimate (Tensor (batch, n))."""
        return self.layers(y)[-1]

    def nmse_per_layer(self, y, x):
        """NMSE (dB) after each layer on (y, x), as a list of floats (no gradient)."""
        with ad.no_grad():
            return [nmse_db(out, x) for out in self.layers(y)]

    def train_step(self, y, x, lr=1e-3):
        """One Adam step on ``mean ||x_K - x||^2``; returns the loss (float)."""
        if self._optimizer is None:
            self._optimizer = Adam(self.parameters(), lr=lr)
        for group in self._optimizer.param_groups:
            group["lr"] = lr
        self._optimizer.zero_grad()
        estimate = self(y)
        loss = ad.sum((estimate - x) ** 2) / np.shape(x)[0]
        loss.backward()
        self._optimizer.step()
        return float(loss.data)

    def fit(self, y, x, n_steps=1000, batch_size=64, lr=1e-3, seed=0):
        """Train on the arrays (y (N, m), x (N, n)) by minibatch Adam for ``n_steps`` steps.
        Returns ``self``; ``loss_history_`` holds the per-step losses."""
        y = self._check_y(y)
        x = np.asarray(x, dtype=float)
        if x.shape != (y.shape[0], self.dictionary.shape[1]):
            raise ValueError(f"x must have shape ({y.shape[0]}, {self.dictionary.shape[1]}), got {x.shape}")
        rng = np.random.default_rng(seed)
        history = []
        for _ in range(int(n_steps)):
            idx = rng.choice(y.shape[0], size=min(batch_size, y.shape[0]), replace=False)
            history.append(self.train_step(y[idx], x[idx], lr))
        self.loss_history_ = np.asarray(history)
        return self


class LISTA(_Unrolled):
    """Learned ISTA with matrices W (n, m), S (n, n) and per-layer thresholds (see module doc).
    ``tied=True`` shares one W and one S across layers."""

    def __init__(self, dictionary, n_layers=16, tied=False, alpha=0.1):
        super().__init__(dictionary, n_layers, alpha)
        self.tied = bool(tied)
        A, L = self.dictionary, self.lipschitz
        count = 1 if self.tied else self.n_layers
        self.W = [ad.tensor(A.T / L, requires_grad=True) for _ in range(count)]
        self.S = [ad.tensor(np.eye(A.shape[1]) - A.T @ A / L, requires_grad=True) for _ in range(count)]
        self.theta = ad.tensor(np.full(self.n_layers, alpha / L), requires_grad=True)

    def parameters(self):
        return self.W + self.S + [self.theta]

    def _layer(self, k, x, y, cache):
        j = 0 if self.tied else k
        if self.tied:
            if "Wy" not in cache:
                cache["Wy"] = y @ ad.transpose(self.W[0])
            drive = cache["Wy"]
        else:
            drive = y @ ad.transpose(self.W[j])
        if x is not None:
            drive = drive + x @ ad.transpose(self.S[j])
        return soft_threshold(drive, self.theta[k])


class LISTACP(_Unrolled):
    """LISTA with coupled weights: ``x + (y - x A^T) W_k`` then soft-thresholding (module doc)."""

    def __init__(self, dictionary, n_layers=16, tied=False, alpha=0.1):
        super().__init__(dictionary, n_layers, alpha)
        self.tied = bool(tied)
        count = 1 if self.tied else self.n_layers
        self.W = [ad.tensor(self.dictionary / self.lipschitz, requires_grad=True) for _ in range(count)]
        self.theta = ad.tensor(np.full(self.n_layers, alpha / self.lipschitz), requires_grad=True)

    def parameters(self):
        return self.W + [self.theta]

    def _layer(self, k, x, y, cache):
        W = self.W[0 if self.tied else k]
        if x is None:
            return soft_threshold(y @ W, self.theta[k])
        return soft_threshold(x + (y - x @ self.dictionary.T) @ W, self.theta[k])


def analytic_weights(dictionary):
    """``argmin_W ||W^T A||_F`` subject to ``diag(W^T A) = 1``: column j is
    ``(A A^T)^-1 a_j / (a_j^T (A A^T)^-1 a_j)`` (a Lagrange multiplier per column)."""
    A = np.asarray(dictionary, dtype=float)
    solved = np.linalg.solve(A @ A.T, A)
    return solved / np.einsum("ij,ij->j", A, solved)


class ALISTA(_Unrolled):
    """Analytic LISTA: W fixed from the dictionary (:func:`analytic_weights`), per-layer step
    ``gamma`` and threshold ``theta`` learned (2 n_layers numbers)."""

    def __init__(self, dictionary, n_layers=16, alpha=0.1):
        super().__init__(dictionary, n_layers, alpha)
        self.weights = analytic_weights(self.dictionary)
        step = 1.0 / float(np.linalg.norm(self.weights.T @ self.dictionary, 2))
        self.gamma = ad.tensor(np.full(self.n_layers, step), requires_grad=True)
        self.theta = ad.tensor(np.full(self.n_layers, alpha * step), requires_grad=True)

    def parameters(self):
        return [self.gamma, self.theta]

    def _layer(self, k, x, y, cache):
        if x is None:
            return soft_threshold(self.gamma[k] * (y @ self.weights), self.theta[k])
        return soft_threshold(x - self.gamma[k] * ((x @ self.dictionary.T - y) @ self.weights), self.theta[k])
