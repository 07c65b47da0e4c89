"""Input checks in plain NumPy: what the estimators use when scikit-learn is not installed
(:mod:`~diffprog.sparse.sklearn_compat` hands validation to scikit-learn when it is), and the
checks of constructor arguments, done in ``fit``."""
import numpy as np

__all__ = ["is_sparse", "check_X", "check_X_y", "check_labels", "check_alpha", "check_positive_int", "check_tol"]


def is_sparse(X):
    """True for scipy.sparse matrices and arrays (checked without importing scipy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "tocsc")


def check_X(X, name="X", n_features=None):
    """Return X as a float64 2-D ndarray or CSC matrix; reject NaN/inf, wrong rank, empty input."""
    if is_sparse(X):
        X = X.tocsc().astype(np.float64)
        data = X.data
        shape = X.shape
    else:
        if np.iscomplexobj(X):
            raise ValueError(f"{name}: complex data not supported, expected real numbers")
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a 2-D array of numbers or a scipy.sparse matrix, "
                            f"got {type(X).__name__} ({err})") from None
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
        data = X
        shape = X.shape
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {shape}, expected at least one sample and one feature")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{name} contains NaN or inf (shape {shape}); remove or impute them first")
    if n_features is not None and shape[1] != n_features:
        raise ValueError(f"{name} has {shape[1]} features, but the estimator was fitted with {n_features}")
    return X


def check_X_y(X, y):
    """Validate a design matrix and a 1-D target of the same length."""
    X = check_X(X)
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"y must be a 1-D array of numbers, got {type(y).__name__} ({err})") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (n_samples,), got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have different numbers of samples: X has {X.shape[0]} rows "
                         f"(shape {X.shape}), y has {y.shape[0]}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y contains NaN or inf (length {y.shape[0]})")
    return X, y


def check_alpha(alpha, name="alpha"):
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a non-negative number, got {alpha!r}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {alpha!r}")
    return value


def check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_tol(tol):
    try:
        value = float(tol)
    except (TypeError, ValueError):
        raise TypeError(f"tol must be a non-negative number, got {tol!r}") from None
    if not value >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    return value


def check_labels(X, y):
    """Validate X and 1-D class labels of the same length (any dtype; a float label must be a
    whole number: a continuous target is rejected as scikit-learn rejects it)."""
    X = check_X(X)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), got shape {y.shape}")
    if y.dtype.kind in "fc":
        if not np.all(np.isfinite(y)):
            raise ValueError(f"y contains NaN or inf (length {y.shape[0]})")
        if np.any(y != np.round(y)):
            raise ValueError("Unknown label type: continuous; a classifier needs discrete class labels in y")
    return X, y
