"""Least squares from a QR factorisation (its own module: it needs both ``solve`` and ``qr``)."""
import numpy as np

import diffprog.autodiff as F

from ._util import as_matrix, raw
from .decompositions import qr
from .solve import solve


def lstsq(a, b):
    """Least-squares solution x minimising ||a x - b|| (minimum-norm x when a is wide).

    ``a``: (..., m, n) of full rank; ``b``: (m,) or (..., m, k). Returns x only (PyTorch's
    ``solution``). Computed from a QR factorisation (of a when m >= n: x = R^-1 Q^T b; of a^T
    otherwise: x = Q R^-T b), so its gradients are those of ``qr`` and ``solve``."""
    a = as_matrix(a, "lstsq")
    m, n = np.shape(raw(a))[-2:]
    bd = np.shape(raw(b))
    vector = len(bd) == 1
    if (vector and bd[0] != m) or (not vector and (len(bd) < 2 or bd[-2] != m)):
        raise ValueError(f"linalg.lstsq: b must have shape ({m},) or (..., {m}, k) to match a of shape "
                         f"{np.shape(raw(a))}, got {bd}")
    rhs = F.expand_dims(b, -1) if vector else b
    if m >= n:
        q, r = qr(a)
        x = solve(r, F.swapaxes(q, -1, -2) @ rhs)
    else:
        q, r = qr(F.swapaxes(a, -1, -2))
        x = q @ solve(F.swapaxes(r, -1, -2), rhs)
    return F.squeeze(x, -1) if vector else x
