"""Sparse regression and sparse coding with scikit-learn's conventions.

Estimators: :class:`Lasso`, :class:`ElasticNet`, :class:`GroupLasso`,
:class:`SparseLogisticRegression`, :class:`LassoCV`; path functions :func:`lasso_path`,
:func:`enet_path` (all scikit-learn estimators, see :mod:`~diffprog.sparse.sklearn_compat`);
learned unrolled solvers :class:`LISTA`, :class:`LISTACP`, :class:`ALISTA` (``diffprog.nn``
modules) trained by :func:`train_unrolled`.
Design matrices may be dense NumPy arrays or ``scipy.sparse`` matrices.
"""
from .sklearn_compat import ConvergenceWarning, NotFittedError
from .linear import Lasso, ElasticNet, lasso_path, enet_path
from .group import GroupLasso
from .logistic import SparseLogisticRegression
from .cv import LassoCV
from .lista import (LISTA, LISTACP, ALISTA, train_unrolled, nmse_db, sparse_coding_problem, sparse_codes,
                    analytic_weights)

__all__ = ["ConvergenceWarning", "NotFittedError", "Lasso", "ElasticNet", "lasso_path", "enet_path", "GroupLasso",
           "SparseLogisticRegression", "LassoCV", "LISTA", "LISTACP", "ALISTA", "train_unrolled", "nmse_db",
           "sparse_coding_problem", "sparse_codes", "analytic_weights"]
