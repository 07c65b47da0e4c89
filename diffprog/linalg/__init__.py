"""Differentiable linear algebra (``numpy.linalg`` names, batched over leading axes), each op with
reverse-mode (VJP) and forward-mode (JVP) rules. SciPy is used for ``expm`` only (imported lazily).

Complex input: ``solve``, ``inv``, ``det``, ``matrix_power`` and ``expm`` follow the engine's
conjugate-Wirtinger convention; the decompositions are defined for real matrices.
See ``decompositions`` for the conventions at repeated eigenvalues and singular values.
"""
import numpy as np

from diffprog.autodiff.extend import implements

from .solve import solve, inv, cho_solve
from .lstsq import lstsq
from .determinant import det, slogdet
from .decompositions import cholesky, qr, eigh, eigvalsh, svd, svdvals
from .functions import norm, matrix_power, expm

__all__ = ["solve", "inv", "cho_solve", "lstsq", "det", "slogdet", "cholesky", "qr", "eigh", "eigvalsh", "svd",
           "svdvals", "norm", "matrix_power", "expm"]

# np.linalg.solve(Tensor, ...) runs these (lstsq is left out: NumPy's returns four values)
for _name in ("solve", "inv", "det", "slogdet", "cholesky", "qr", "eigh", "eigvalsh", "svd", "norm",
              "matrix_power"):
    implements(getattr(np.linalg, _name))(globals()[_name])
