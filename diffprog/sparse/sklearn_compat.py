"""scikit-learn citizenship without a scikit-learn dependency.

When scikit-learn is importable, the estimators of :mod:`diffprog.sparse` validate their input
with its ``validate_data`` (its messages, ``n_features_in_``/``feature_names_in_``, its
``DataConversionWarning``), describe themselves with its ``Tags`` (``__sklearn_tags__``), and raise
errors and warnings that are *also* its classes (``except sklearn.exceptions.NotFittedError``
catches them). Without it they validate with the NumPy checks of :mod:`~diffprog.sparse.checks` and
raise diffprog's own classes. scikit-learn is imported on first use (the first ``fit``), never at
``import diffprog`` (it would add about a second to every import).
"""
import functools
import warnings

import numpy as np

from .checks import check_labels, check_X, check_X_y

__all__ = ["sklearn_available", "NotFittedError", "ConvergenceWarning", "raise_not_fitted", "warn_convergence",
           "sklearn_tags", "validate_fit", "validate_predict"]


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit`` (with scikit-learn
    installed, the error raised is also a ``sklearn.exceptions.NotFittedError``)."""


class ConvergenceWarning(UserWarning):
    """A solver stopped at ``max_iter`` before its stopping criterion was met (with scikit-learn
    installed, the warning is also a ``sklearn.exceptions.ConvergenceWarning``)."""


@functools.cache
def _sklearn():
    """The scikit-learn pieces used here, or None when scikit-learn is not importable."""
    try:
        from sklearn import exceptions
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data
    except ImportError:
        return None
    return {"exceptions": exceptions, "Tags": Tags, "TargetTags": TargetTags, "InputTags": InputTags,
            "RegressorTags": RegressorTags, "ClassifierTags": ClassifierTags, "validate_data": validate_data,
            "check_classification_targets": check_classification_targets}


def sklearn_available():
    """True when scikit-learn can be imported (checked once per process)."""
    return _sklearn() is not None


@functools.cache
def _bridged(ours, name):
    """``ours``, or a subclass of both ``ours`` and ``sklearn.exceptions.<name>`` when available."""
    sk = _sklearn()
    if sk is None:
        return ours
    return type(ours.__name__, (ours, getattr(sk["exceptions"], name)),
                {"__module__": ours.__module__, "__doc__": ours.__doc__})


def raise_not_fitted(estimator, method):
    raise _bridged(NotFittedError, "NotFittedError")(
        f"this {type(estimator).__name__} instance is not fitted yet: call fit(X, y) before {method}()")


def warn_convergence(message, stacklevel=4):
    warnings.warn(message, _bridged(ConvergenceWarning, "ConvergenceWarning"), stacklevel=stacklevel)


def sklearn_tags(estimator_type):
    """scikit-learn ``Tags`` for a supervised estimator (``"regressor"`` or ``"classifier"``) that
    takes dense or ``scipy.sparse`` X and a 1-D target."""
    sk = _sklearn()
    if sk is None:
        raise ImportError("__sklearn_tags__ needs scikit-learn: pip install scikit-learn")
    return sk["Tags"](
        estimator_type=estimator_type,
        target_tags=sk["TargetTags"](required=True),
        regressor_tags=sk["RegressorTags"]() if estimator_type == "regressor" else None,
        classifier_tags=sk["ClassifierTags"]() if estimator_type == "classifier" else None,
        input_tags=sk["InputTags"](sparse=True))


_SPARSE_FORMATS = ("csc", "csr", "coo")


def validate_fit(estimator, X, y, classifier=False):
    """Validated ``(X, y)`` for ``fit``: X float64 (n, p) ndarray or CSC matrix; y float64 (n,)
    for a regressor, the labels (n,) as given for a classifier. Sets ``n_features_in_`` (and
    ``feature_names_in_`` for a DataFrame with scikit-learn)."""
    sk = _sklearn()
    if sk is None:
        X, y = (check_labels if classifier else check_X_y)(X, y)
        estimator.n_features_in_ = X.shape[1]
        return X, y
    X, y = sk["validate_data"](estimator, X, y, accept_sparse=_SPARSE_FORMATS, dtype=np.float64,
                               y_numeric=not classifier, multi_output=False)
    if classifier:
        sk["check_classification_targets"](y)
    return (X.tocsc() if hasattr(X, "tocsc") else X), y


def validate_predict(estimator, X):
    """Validated X for ``predict``-like methods of a fitted estimator (feature count checked)."""
    sk = _sklearn()
    if sk is None:
        return check_X(X, n_features=estimator.n_features_in_)
    X = sk["validate_data"](estimator, X, reset=False, accept_sparse=_SPARSE_FORMATS, dtype=np.float64)
    return X.tocsc() if hasattr(X, "tocsc") else X
