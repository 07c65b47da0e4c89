"""Benchmark of diffprog.sparse's Lasso against scikit-learn, one BLAS thread each.

    python benchmarks/sparse.py [--repeats 3] [--skip-large] [--no-append] [--cv]

Problems (the issue's): Gaussian X with columns scaled to ||x_j||^2 = n, a 20-sparse truth with
|w_j| in [1, 2] and random signs, noise 0.1, no intercept:
  small: n = 500, p = 2,000 dense;  large: n = 5,000, p = 50,000 scipy.sparse (density 0.2%).
(a) single alpha = 0.1 and 0.01 x alpha_max, tol = 1e-6 in both libraries (scikit-learn's
    definition: duality gap of 0.5||r||^2 + n alpha ||w||_1 over ||y||^2). Reported: process CPU
    time (median of repeats), the gap recomputed here for each solution, the objective's relative
    difference to scikit-learn's, support differences and support precision/recall vs the truth.
(b) 100-alpha path from alpha_max to 1e-3 alpha_max with warm starts, tol 1e-4 and 1e-6: time,
    the worst relative gap along the path (recomputed), the worst objective difference.
Targets (issue 8): same objective to 1e-9 relative and same support as scikit-learn; single-alpha
time <= 1.0x scikit-learn; path time <= 1.0x scikit-learn's lasso_path.
Timings interleave the two libraries run by run (medians), so a change of machine load between
them does not bias the ratio.
(c) When installed (``pip install ".[bench]"``), celer and skglm run the same tasks for reference
    (one untimed call first: numba compiles on first use; NUMBA_NUM_THREADS=1).
(d) With --cv: LassoCV(cv=5) at the default tol against scikit-learn's, and the alpha each picks.
With --correlated, a third problem "corr": the small one with columns correlated along a chain
(corr(x_i, x_j) = 0.95^|i-j|), where coordinate descent needs many more epochs.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
           "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse  # noqa: E402
import sklearn  # noqa: E402
from sklearn import linear_model as sk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from diffprog.sparse import Lasso, lasso_path  # noqa: E402


def make_problem(n, p, sparse, seed=0, rho=0.0):
    """The issue's problems; ``rho > 0``: dense columns correlated along a chain (Toeplitz,
    corr(x_i, x_j) = rho^|i-j|), the hard case for coordinate descent."""
    rng = np.random.default_rng(seed)
    if rho:
        Z = rng.standard_normal((n, p))
        X = np.empty((n, p))
        X[:, 0] = Z[:, 0]
        for j in range(1, p):                        # setup only, not timed
            X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho ** 2) * Z[:, j]
        X *= np.sqrt(n) / np.linalg.norm(X, axis=0)
    elif sparse:
        X = scipy.sparse.random(n, p, density=0.002, random_state=seed, format="csc",
                                data_rvs=rng.standard_normal)
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        X = (X @ scipy.sparse.diags(np.sqrt(n) / norms)).tocsc()
    else:
        X = rng.standard_normal((n, p))
        X *= np.sqrt(n) / np.linalg.norm(X, axis=0)
    w = np.zeros(p)
    support = rng.choice(p, 20, replace=False)
    w[support] = rng.uniform(1, 2, 20) * rng.choice([-1, 1], 20)
    y = np.asarray(X @ w).ravel() + 0.1 * rng.standard_normal(n)
    return X, y, w


def relative_gap(X, y, w, alpha):
    """scikit-learn's duality gap over ||y||^2, recomputed from the solution alone."""
    n = len(y)
    r = y - np.asarray(X @ w).ravel()
    corr = np.asarray(X.T @ r).ravel()
    dual_norm = np.max(np.abs(corr))
    scale = min(1.0, n * alpha / dual_norm) if dual_norm > 0 else 1.0
    primal = 0.5 * r @ r + n * alpha * np.abs(w).sum()
    dual = -0.5 * scale ** 2 * r @ r + scale * r @ y
    return (primal - dual) / (y @ y)


def objective(X, y, w, alpha):
    r = y - np.asarray(X @ w).ravel()
    return 0.5 * r @ r / len(y) + alpha * np.abs(w).sum()


def timed_pair(fn_a, fn_b, repeats):
    """Medians of interleaved runs (a, b, a, b, ...), so drifting machine load hits both alike."""
    times_a, times_b, out_a, out_b = [], [], None, None
    for _ in range(repeats):
        t0 = time.process_time()
        out_a = fn_a()
        times_a.append(time.process_time() - t0)
        t0 = time.process_time()
        out_b = fn_b()
        times_b.append(time.process_time() - t0)
    return statistics.median(times_a), out_a, statistics.median(times_b), out_b


def precision_recall(w, truth):
    found, true = w != 0, truth != 0
    tp = np.sum(found & true)
    return tp / max(found.sum(), 1), tp / true.sum()


def other_solvers():
    """celer and skglm (Lasso solvers with working sets / acceleration) when installed:
    name -> (fit one alpha -> coef, fit a path on given alphas -> coefs (p, n_alphas))."""
    solvers = {}
    try:
        import celer
        solvers[f"celer {celer.__version__}"] = (
            lambda X, y, alpha, tol: celer.Lasso(alpha=alpha, fit_intercept=False, tol=tol).fit(X, y).coef_,
            lambda X, y, alphas, tol: celer.celer_path(X, y, "lasso", alphas=alphas, tol=tol)[1])
    except ImportError:
        pass
    try:
        import skglm
        version = getattr(skglm, "__version__", "?")
        solvers[f"skglm {version}"] = (
            lambda X, y, alpha, tol: skglm.Lasso(alpha=alpha, fit_intercept=False, tol=tol).fit(X, y).coef_,
            lambda X, y, alphas, tol: skglm.Lasso(fit_intercept=False, tol=tol).path(X, y, alphas)[1])
    except ImportError:
        pass
    return solvers


def others(name, X, y, repeats, rows, single_rows, path_rows):
    """Time celer/skglm on the same tasks (after one untimed call: numba compiles on first use)."""
    alpha_max = np.max(np.abs(np.asarray(X.T @ y).ravel())) / len(y)
    alphas = np.geomspace(alpha_max, alpha_max * 1e-3, 100)
    for solver, (fit, fit_path) in other_solvers().items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit(X, y, 0.1 * alpha_max, 1e-6)
            for fraction in (0.1, 0.01):
                alpha = fraction * alpha_max
                t, coef = timed_one(lambda: fit(X, y, alpha, 1e-6), repeats)
                ours = next(r for r in single_rows if r["problem"] == name and r["alpha"] == f"{fraction} x max")
                rows.append({"problem": name, "task": f"alpha {fraction} x max, tol 1e-6", "solver": solver, "s": t,
                             "dp_ratio": ours["dp_s"] / t, "gap": relative_gap(X, y, coef, alpha),
                             "nnz": int(np.sum(coef != 0))})
            for tol in (1e-4, 1e-6):
                t, coefs = timed_one(lambda: fit_path(X, y, alphas, tol), repeats)
                ours = next(r for r in path_rows if r["problem"] == name and r["tol"] == tol)
                rows.append({"problem": name, "task": f"100-alpha path, tol {tol:g}", "solver": solver, "s": t,
                             "dp_ratio": ours["dp_s"] / t,
                             "gap": max(relative_gap(X, y, np.asarray(coefs[:, i]).ravel(), a)
                                        for i, a in enumerate(alphas)), "nnz": None})
        for r in rows[-4:]:
            print(f"{name:5s} {r['task']}: {solver} {r['s']:.4f} s (diffprog / {solver.split()[0]} = "
                  f"{r['dp_ratio']:.2f}x); worst gap {r['gap']:.1e}", flush=True)


def timed_one(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def single_alpha(name, X, y, truth, repeats, rows):
    alpha_max = np.max(np.abs(np.asarray(X.T @ y).ravel())) / len(y)
    for fraction in (0.1, 0.01):
        alpha = fraction * alpha_max
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_dp, ours, t_sk, ref = timed_pair(
                lambda: Lasso(alpha, fit_intercept=False, tol=1e-6).fit(X, y),
                lambda: sk.Lasso(alpha, fit_intercept=False, tol=1e-6, max_iter=100000).fit(X, y), repeats)
        f_dp, f_sk = objective(X, y, ours.coef_, alpha), objective(X, y, ref.coef_, alpha)
        rows.append({
            "problem": name, "alpha": f"{fraction} x max", "dp_s": t_dp, "sk_s": t_sk,
            "gap_dp": relative_gap(X, y, ours.coef_, alpha), "gap_sk": relative_gap(X, y, ref.coef_, alpha),
            "objective_rel": (f_dp - f_sk) / f_sk,
            "support_diff": int(np.sum((ours.coef_ != 0) != (ref.coef_ != 0))),
            "nnz": int(np.sum(ours.coef_ != 0)),
            "pr_dp": precision_recall(ours.coef_, truth), "pr_sk": precision_recall(ref.coef_, truth)})
        r = rows[-1]
        print(f"{name:5s} {r['alpha']:>10s}: diffprog {t_dp:.4f} s, sklearn {t_sk:.4f} s ({t_dp / t_sk:.2f}x); "
              f"gaps {r['gap_dp']:.1e}/{r['gap_sk']:.1e}; objective rel. diff {r['objective_rel']:+.1e}; "
              f"support diff {r['support_diff']} (nnz {r['nnz']})", flush=True)


def path(name, X, y, repeats, rows):
    for tol in (1e-4, 1e-6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_dp, (alphas, coefs, _), t_sk, (alphas_sk, coefs_sk, _) = timed_pair(
                lambda: lasso_path(X, y, n_alphas=100, eps=1e-3, tol=tol),
                lambda: sk.lasso_path(X, y, alphas=100, eps=1e-3, tol=tol, max_iter=100000), repeats)
        gaps_dp = [relative_gap(X, y, coefs[:, i], a) for i, a in enumerate(alphas)]
        gaps_sk = [relative_gap(X, y, coefs_sk[:, i], a) for i, a in enumerate(alphas_sk)]
        rel = [(objective(X, y, coefs[:, i], a) - objective(X, y, coefs_sk[:, i], a)) / objective(X, y, coefs_sk[:, i], a)
               for i, a in enumerate(alphas)]
        worse = sum(r > 1e-9 for r in rel)
        rows.append({"problem": name, "tol": tol, "dp_s": t_dp, "sk_s": t_sk, "max_gap_dp": max(gaps_dp),
                     "max_gap_sk": max(gaps_sk), "objective_rel_max": max(rel), "objective_rel_min": min(rel),
                     "worse": worse})
        print(f"{name:5s} path tol {tol:g}: diffprog {t_dp:.3f} s, sklearn {t_sk:.3f} s ({t_dp / t_sk:.2f}x); "
              f"worst gap {max(gaps_dp):.1e} vs {max(gaps_sk):.1e}; objective rel. diff in "
              f"[{min(rel):+.1e}, {max(rel):+.1e}]; alphas where diffprog's objective is > 1e-9 worse: {worse}", flush=True)


def cross_validation(name, X, y, rows):
    """(d) LassoCV(cv=5) at the default tol 1e-4 (one run each: scikit-learn's takes close to a minute
    on the large sparse problem); and which alpha each picks, with scikit-learn's at tol 1e-8 for reference."""
    from diffprog.sparse import LassoCV
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_dp, ours = timed_one(lambda: LassoCV(cv=5).fit(X, y), 1)
        t_sk, ref = timed_one(lambda: sk.LassoCV(cv=5).fit(X, y), 1)
        tight = sk.LassoCV(cv=5, tol=1e-8, max_iter=100000).fit(X, y).alpha_ if name == "small" else None
    rows.append({"problem": name, "dp_s": t_dp, "sk_s": t_sk, "alpha_dp": ours.alpha_, "alpha_sk": ref.alpha_,
                 "alpha_sk_tight": tight})
    print(f"{name:5s} LassoCV(cv=5): diffprog {t_dp:.2f} s, sklearn {t_sk:.2f} s ({t_dp / t_sk:.2f}x); alpha "
          f"{ours.alpha_:.5f} vs {ref.alpha_:.5f}" + (f" (sklearn at tol 1e-8: {tight:.5f})" if tight else ""),
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--cv", action="store_true", help="also time LassoCV(cv=5) against scikit-learn's")
    parser.add_argument("--correlated", action="store_true",
                        help="add 'corr': the small problem with Toeplitz-correlated columns (rho 0.95)")
    args = parser.parse_args()
    single_rows, path_rows, other_rows, cv_rows = [], [], [], []
    problems = [("small", 500, 2000, False, 0.0)] + ([] if args.skip_large else [("large", 5000, 50000, True, 0.0)])
    if args.correlated:
        problems.append(("corr", 500, 2000, False, 0.95))
    for name, n, p, sparse, rho in problems:
        X, y, truth = make_problem(n, p, sparse, rho=rho)
        single_alpha(name, X, y, truth, args.repeats, single_rows)
        path_repeats = args.repeats if name == "small" else max(1, min(args.repeats, 3))
        path(name, X, y, path_repeats, path_rows)
        others(name, X, y, path_repeats, other_rows, single_rows, path_rows)
        if args.cv:
            cross_validation(name, X, y, cv_rows)
    if args.no_append:
        return
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    lines = ["\n## Sparse regression: Lasso vs scikit-learn (benchmarks/sparse.py)\n",
             f"`python benchmarks/sparse.py --repeats {args.repeats}{' --skip-large' if args.skip_large else ''}{' --cv' if args.cv else ''}{' --correlated' if args.correlated else ''}` on "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
             f"{os.cpu_count()} cores (shared); python {platform.python_version()}, numpy {np.__version__}, "
             f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, diffprog commit {commit}; one BLAS "
             f"thread, process CPU time, medians. {', '.join(other_solvers()) or 'celer/skglm not installed'}.\n",
             "(a) single alpha, tol 1e-6 (gap = scikit-learn's duality gap / ||y||^2, recomputed)\n",
             "| problem | alpha | diffprog s | sklearn s | ratio | gap dp | gap sk | objective rel. diff (dp - sk) | "
             "support diff | nnz | precision/recall dp | precision/recall sk |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in single_rows:
        lines.append(f"| {r['problem']} | {r['alpha']} | {r['dp_s']:.4f} | {r['sk_s']:.4f} | {r['dp_s'] / r['sk_s']:.2f}x | "
                     f"{r['gap_dp']:.1e} | {r['gap_sk']:.1e} | {r['objective_rel']:+.1e} | {r['support_diff']} | "
                     f"{r['nnz']} | {r['pr_dp'][0]:.2f}/{r['pr_dp'][1]:.2f} | {r['pr_sk'][0]:.2f}/{r['pr_sk'][1]:.2f} |")
    lines += ["\n(b) 100-alpha lasso_path, alpha_max to 1e-3 alpha_max, warm starts\n",
              "| problem | tol | diffprog s | sklearn s | ratio | worst gap dp | worst gap sk | objective rel. diff range | "
              "alphas with dp > 1e-9 worse |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in path_rows:
        lines.append(f"| {r['problem']} | {r['tol']:g} | {r['dp_s']:.3f} | {r['sk_s']:.3f} | {r['dp_s'] / r['sk_s']:.2f}x | "
                     f"{r['max_gap_dp']:.1e} | {r['max_gap_sk']:.1e} | [{r['objective_rel_min']:+.1e}, "
                     f"{r['objective_rel_max']:+.1e}] | {r['worse']} |")
    if other_rows:
        lines += ["\n(c) celer and skglm on the same tasks (their own stopping rules at the same tol; gaps recomputed "
                  "as above; ratio = diffprog's time / theirs)\n",
                  "| problem | task | solver | s | diffprog / solver | worst gap |", "|---|---|---|---:|---:|---:|"]
        for r in other_rows:
            lines.append(f"| {r['problem']} | {r['task']} | {r['solver']} | {r['s']:.4f} | {r['dp_ratio']:.2f}x | "
                         f"{r['gap']:.1e} |")
    if cv_rows:
        lines += ["\n(d) LassoCV(cv=5), default tol 1e-4, one run each\n",
                  "| problem | diffprog s | sklearn s | ratio | alpha_ diffprog | alpha_ sklearn | alpha_ sklearn at tol 1e-8 |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in cv_rows:
            tight = f"{r['alpha_sk_tight']:.5f}" if r["alpha_sk_tight"] else "-"
            lines.append(f"| {r['problem']} | {r['dp_s']:.2f} | {r['sk_s']:.2f} | {r['dp_s'] / r['sk_s']:.2f}x | "
                         f"{r['alpha_dp']:.5f} | {r['alpha_sk']:.5f} | {tight} |")
    with open(os.path.join(ROOT, "benchmarks", "RESULTS.md"), "a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("appended to benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
