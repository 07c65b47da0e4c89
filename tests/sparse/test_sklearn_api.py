"""The estimators as scikit-learn citizens: ``check_estimator`` passes (no failure, no skip that
scikit-learn's own estimator does not also skip), the model-selection tools accept them, errors
and warnings are scikit-learn's classes; and without scikit-learn they still work."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import sklearn.exceptions
from sklearn import linear_model as sk
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from diffprog.sparse import (ConvergenceWarning, ElasticNet, GroupLasso, Lasso, LassoCV, NotFittedError,
                             SparseLogisticRegression)

ESTIMATORS = {
    "Lasso": (Lasso(), sk.Lasso()),
    "ElasticNet": (ElasticNet(), sk.ElasticNet()),
    "LassoCV": (LassoCV(), sk.LassoCV()),
    "GroupLasso": (GroupLasso(), sk.Lasso()),
    "SparseLogisticRegression": (SparseLogisticRegression(), sk.LogisticRegression(l1_ratio=1.0, solver="saga")),
    "SparseLogisticRegression-ovr": (SparseLogisticRegression(multi_class="ovr"),
                                     sk.LogisticRegression(l1_ratio=1.0, solver="saga")),
}


def outcomes(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return check_estimator(estimator, on_fail=None)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_check_estimator(name):
    ours, reference = ESTIMATORS[name]
    results = outcomes(ours)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    reference_skips = {r["check_name"] for r in outcomes(reference) if r["status"] == "skipped"}
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= reference_skips, skipped - reference_skips
    assert len(results) >= 50


def test_model_selection_tools(rng):
    X = rng.standard_normal((60, 8))
    y = X @ np.r_[2.0, -1, 0, 0, 0.5, 0, 0, 0] + 0.1 * rng.standard_normal(60)
    assert is_regressor(Lasso()) and is_regressor(GroupLasso()) and is_regressor(LassoCV())
    assert is_classifier(SparseLogisticRegression()) and not is_regressor(SparseLogisticRegression())
    copy = clone(Lasso(0.3, tol=1e-7))
    assert copy.get_params() == Lasso(0.3, tol=1e-7).get_params()
    pipe = make_pipeline(StandardScaler(), Lasso(0.05)).fit(X, y)
    assert pipe.score(X, y) > 0.95
    search = GridSearchCV(ElasticNet(), {"alpha": [0.01, 0.1, 1.0], "l1_ratio": [0.5, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_["alpha"] in (0.01, 0.1)
    scores = cross_val_score(GroupLasso(0.05, groups=2), X, y, cv=4)
    assert scores.shape == (4,) and np.all(scores > 0.9)
    labels = np.where(X[:, 0] > 0.5, "high", np.where(X[:, 0] < -0.5, "low", "mid"))
    accuracy = cross_val_score(SparseLogisticRegression(0.01), X, labels, cv=3)
    assert np.all(accuracy > 0.8)
    # scikit-learn's reference inside the same search gives the same choice (same objective)
    ref = GridSearchCV(sk.Lasso(), {"alpha": [0.01, 0.1, 1.0]}, cv=3).fit(X, y)
    assert GridSearchCV(Lasso(), {"alpha": [0.01, 0.1, 1.0]}, cv=3).fit(X, y).best_params_ == ref.best_params_


def test_errors_and_warnings_are_sklearns(rng):
    X, y = rng.standard_normal((30, 40)), rng.standard_normal(30)
    with pytest.raises(sklearn.exceptions.NotFittedError) as caught:
        Lasso().predict(X)
    assert isinstance(caught.value, NotFittedError)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning) as record:
        Lasso(alpha=1e-4, max_iter=1, tol=1e-14).fit(X, y)
    assert any(issubclass(w.category, ConvergenceWarning) for w in record)
    with pytest.warns(sklearn.exceptions.DataConversionWarning):
        Lasso().fit(X, y[:, None])


def test_works_without_sklearn(tmp_path):
    """A fresh interpreter in which ``import sklearn`` fails: fit, predict, score, errors."""
    script = textwrap.dedent("""
        import sys
        sys.modules["sklearn"] = None                   # makes every `import sklearn...` raise ImportError
        import warnings
        import numpy as np
        from diffprog.sparse import (ConvergenceWarning, GroupLasso, Lasso, LassoCV, NotFittedError,
                                     SparseLogisticRegression)
        from diffprog.sparse.sklearn_compat import sklearn_available
        assert not sklearn_available()
        rng = np.random.default_rng(0)
        X = rng.standard_normal((50, 6))
        y = X @ np.r_[1.0, -2, 0, 0, 0, 0.5]
        for model in (Lasso(0.01), GroupLasso(0.01), LassoCV(cv=3)):
            assert model.fit(X, y).score(X, y) > 0.99, model
            assert model.n_features_in_ == 6
        labels = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
        clf = SparseLogisticRegression(0.001).fit(X, labels)
        assert clf.score(X, labels) > 0.9 and clf.predict_proba(X).shape == (50, 3)
        try:
            Lasso().predict(X)
        except NotFittedError as err:
            assert type(err) is NotFittedError and "not fitted yet" in str(err)
        else:
            raise AssertionError("no NotFittedError")
        for bad, message in ((X[:, 0], "X must be 2-D"), (X + 1j, "complex data not supported")):
            try:
                Lasso().fit(bad, y)
            except ValueError as err:
                assert message in str(err), err
        try:
            SparseLogisticRegression().fit(X, y)
        except ValueError as err:
            assert "Unknown label type: continuous" in str(err)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            Lasso(1e-4, max_iter=1, tol=1e-14).fit(rng.standard_normal((20, 40)), rng.standard_normal(20))
        assert [w.category for w in caught] == [ConvergenceWarning]
        try:
            Lasso().__sklearn_tags__()
        except ImportError as err:
            assert "pip install scikit-learn" in str(err)
        assert not any(name.startswith("sklearn.") for name in sys.modules)
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
