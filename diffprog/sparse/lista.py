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
network *is* ISTA with ``n_layers`` iterations.

Contract: each network is a :class:`diffprog.nn.Module` (``model(y)``, ``parameters()``,
``state_dict()``; the per-layer parameters live in ``model.steps[k]``, tied ones shared between
steps), and :func:`train_unrolled` trains any of them -- the way a PyTorch user trains a module.
Training minimizes the mean squared error of the last layer with :class:`diffprog.optim.Adam`.
"""
import numpy as np

from diffprog import autodiff as ad
from diffprog.nn import Module, Parameter
from diffprog.optim import Adam
from diffprog.optim.prox import soft_threshold

__all__ = ["LISTA", "LISTACP", "ALISTA", "train_unrolled", "nmse_db", "sparse_coding_problem", "sparse_codes",
           "analytic_weights"]


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


class Step(Module):
    """The trainable numbers of one layer, as attributes named by keyword (``W``, ``S``,
    ``theta``, ``gamma``; the scalars are shaped (1,)); a Parameter shared by several steps is one
    parameter (tied weights)."""

    def __init__(self, **parameters):
        super().__init__()
        for name, value in parameters.items():
            setattr(self, name, value)


class _Unrolled(Module):
    """Shared machinery: the dictionary (a buffer), the layer loop, per-layer evaluation."""

    def __init__(self, dictionary, n_layers, alpha):
        super().__init__()
        self.register_buffer("dictionary", _check_dictionary(dictionary, n_layers))
        self.n_layers = int(n_layers)
        if not (np.isscalar(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.lipschitz = float(np.linalg.norm(self.dictionary, 2) ** 2)

    def _layer(self, step, x, y, cache):
        raise NotImplementedError

    def _check_y(self, y):
        raw = y.data if type(y) is ad.Tensor else np.asarray(y, dtype=float)
        m = self.dictionary.shape[0]
        if raw.ndim != 2 or raw.shape[1] != m:
            raise ValueError(f"y must have shape (batch, {m}) (measurements as rows), got {raw.shape}")
        return y if type(y) is ad.Tensor else raw

    def outputs(self, y):
        """All layer outputs ``[x_1, ..., x_K]`` (Tensors (batch, n)) for measurements y (batch, m)."""
        y = self._check_y(y)
        cache = {}
        x = None
        result = []
        for step in self.steps:
            x = self._layer(step, x, y, cache)
            result.append(x)
        return result

    def forward(self, y):
        """The last layer's estimate (Tensor (batch, n)) of the codes behind y (batch, m)."""
        return self.outputs(y)[-1]

    def nmse_per_layer(self, y, x):
        """NMSE (dB) after each layer on (y, x), as a list of floats (no gradient)."""
        with ad.no_grad():
            return [nmse_db(out, x) for out in self.outputs(y)]

    def extra_repr(self):
        m, n = self.dictionary.shape
        return f"dictionary ({m}, {n}), n_layers={self.n_layers}, alpha={self.alpha}"


def train_unrolled(model, data, *, n_steps=1000, batch_size=64, lr=1e-3, lr_decay=1.0, seed=0, progress=False):
    """Train ``model`` (any of :class:`LISTA`, :class:`LISTACP`, :class:`ALISTA`) by Adam on the
    mean over a minibatch of ``||model(y) - x||^2``, for ``n_steps`` steps.

    ``data`` is either a pair of arrays ``(y (N, m), x (N, n))``, from which each step draws
    ``batch_size`` rows without replacement, or a callable ``data(rng, batch_size) -> (y, x)``
    that makes a fresh batch per step (the usual protocol: unlimited synthetic codes). The rate
    falls geometrically from ``lr`` to ``lr * lr_decay`` at the last step. ``progress`` shows a
    tqdm bar. Returns the per-step losses, an array (n_steps,); the model is trained in place.
    """
    if not isinstance(model, _Unrolled):
        raise TypeError(f"model must be a LISTA, LISTACP or ALISTA network, got {type(model).__name__}")
    n_steps = int(n_steps)
    if n_steps < 1 or batch_size < 1:
        raise ValueError(f"n_steps and batch_size must be >= 1, got {n_steps} and {batch_size}")
    if not (lr > 0 and lr_decay > 0):
        raise ValueError(f"lr and lr_decay must be > 0, got {lr!r} and {lr_decay!r}")
    rng = np.random.default_rng(seed)
    if callable(data):
        sample = data
    else:
        y_all, x_all = data
        y_all = model._check_y(y_all)
        x_all = np.asarray(x_all, dtype=float)
        if x_all.shape != (y_all.shape[0], model.dictionary.shape[1]):
            raise ValueError(f"x must have shape ({y_all.shape[0]}, {model.dictionary.shape[1]}) (one code per "
                             f"row of y), got {x_all.shape}")

        def sample(rng, size):
            idx = rng.choice(y_all.shape[0], size=min(size, y_all.shape[0]), replace=False)
            return y_all[idx], x_all[idx]
    from tqdm.auto import tqdm
    optimizer = Adam(model.parameters(), lr=lr)
    history = np.empty(n_steps)
    bar = tqdm(range(n_steps), desc=f"training {type(model).__name__}", disable=not progress, leave=False)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_decay ** (step / max(n_steps - 1, 1))
        y, x = sample(rng, batch_size)
        optimizer.zero_grad()
        loss = ad.sum((model(y) - x) ** 2) / np.shape(x)[0]
        loss.backward()
        optimizer.step()
        history[step] = float(loss.data)
        if progress and step % 50 == 0:
            bar.set_postfix(loss=f"{history[step]:.4g}")
    return history


class LISTA(_Unrolled):
    """Learned ISTA with matrices W (n, m), S (n, n) and a threshold per layer (module doc).
    ``tied=True`` shares one W and one S across layers."""

    def __init__(self, dictionary, n_layers=16, *, tied=False, alpha=0.1):
        super().__init__(dictionary, n_layers, alpha)
        self.tied = bool(tied)
        A, L = self.dictionary, self.lipschitz

        def matrices():
            return Parameter(A.T / L), Parameter(np.eye(A.shape[1]) - A.T @ A / L)
        shared = matrices() if self.tied else None
        self.steps = []
        for _ in range(self.n_layers):
            W, S = shared if self.tied else matrices()
            self.steps.append(Step(W=W, S=S, theta=Parameter([self.alpha / L])))

    def _layer(self, step, x, y, cache):
        if self.tied:                                   # y W^T is the same in every layer
            if "Wy" not in cache:
                cache["Wy"] = y @ ad.transpose(step.W)
            drive = cache["Wy"]
        else:
            drive = y @ ad.transpose(step.W)
        if x is not None:
            drive = drive + x @ ad.transpose(step.S)
        return soft_threshold(drive, step.theta)


class LISTACP(_Unrolled):
    """LISTA with coupled weights: ``x + (y - x A^T) W_k`` then soft-thresholding (module doc)."""

    def __init__(self, dictionary, n_layers=16, *, tied=False, alpha=0.1):
        super().__init__(dictionary, n_layers, alpha)
        self.tied = bool(tied)
        shared = Parameter(self.dictionary / self.lipschitz)
        self.steps = [Step(W=shared if self.tied else Parameter(self.dictionary / self.lipschitz),
                           theta=Parameter([self.alpha / self.lipschitz])) for _ in range(self.n_layers)]

    def _layer(self, step, x, y, cache):
        if x is None:
            return soft_threshold(y @ step.W, step.theta)
        return soft_threshold(x + (y - x @ self.dictionary.T) @ step.W, step.theta)


def analytic_weights(dictionary):
    """``argmin_W ||W^T A||_F`` subject to ``diag(W^T A) = 1``: column j is
    ``(A A^T)^-1 a_j / (a_j^T (A A^T)^-1 a_j)`` (a Lagrange multiplier per column)."""
    A = np.asarray(dictionary, dtype=float)
    solved = np.linalg.solve(A @ A.T, A)
    return solved / np.einsum("ij,ij->j", A, solved)


class ALISTA(_Unrolled):
    """Analytic LISTA: W fixed from the dictionary (:func:`analytic_weights`, a buffer), a step
    ``gamma`` and a threshold ``theta`` learned per layer (2 n_layers numbers)."""

    def __init__(self, dictionary, n_layers=16, *, alpha=0.1):
        super().__init__(dictionary, n_layers, alpha)
        self.register_buffer("weights", analytic_weights(self.dictionary))
        step = 1.0 / float(np.linalg.norm(self.weights.T @ self.dictionary, 2))
        self.steps = [Step(gamma=Parameter([step]), theta=Parameter([self.alpha * step])) for _ in range(self.n_layers)]

    def _layer(self, step, x, y, cache):
        if x is None:
            return soft_threshold(step.gamma * (y @ self.weights), step.theta)
        return soft_threshold(x - step.gamma * ((x @ self.dictionary.T - y) @ self.weights), step.theta)
