"""The public extension API (``diffprog.autodiff.extend``) and the layering it enables."""
import pathlib
import re

import numpy as np
import pytest

import diffprog as dp
from diffprog.autodiff import extend


def test_a_primitive_defined_with_the_public_api_has_both_modes():
    B = extend.backend
    softsign = extend.Primitive(
        "softsign", lambda x: x / (1 + np.abs(x)),
        vjps=[lambda g, ans, x: g / (1 + B.sign(B.data(x)) * x) ** 2],
        jvps=[lambda t, ans, x: t / (1 + np.abs(x)) ** 2])

    def f(x):
        return extend.apply(softsign, x)
    x = np.array([-1.5, 0.3, 2.0])
    assert dp.gradcheck(f, x, modes=("rev", "fwd"))
    np.testing.assert_allclose(dp.jacobian(f, mode="fwd")(x), dp.jacobian(f, mode="rev")(x))


def test_implements_routes_a_numpy_function_to_a_diffprog_one():
    calls = []

    @extend.implements(np.linalg.pinv)
    def pinv(a, rcond=None, hermitian=False, *, rtol=None):
        calls.append(a)
        return dp.linalg.inv(a)
    try:
        a = dp.tensor(np.eye(2) * 2, requires_grad=True)
        np.sum(np.linalg.pinv(a)).backward()
        assert calls and np.allclose(a.grad, -np.ones((2, 2)) / 4)     # -inv(a)^T 1 1^T inv(a)^T
    finally:
        from diffprog.autodiff import numpy_api
        numpy_api._HANDLERS.pop(np.linalg.pinv)


def test_cotangents_gives_raw_access_to_one_reverse_pass():
    x = dp.tensor([1.0, 2.0], requires_grad=True)
    y = dp.sin(x) * 3
    (g,) = extend.cotangents([y], [np.ones(2)], [x])
    np.testing.assert_allclose(g, 3 * np.cos([1.0, 2.0]))
    assert x.grad is None


def test_libraries_use_public_names_only():
    root = pathlib.Path(dp.__file__).parent
    private = re.compile(r"from diffprog\.autodiff\.(tape|custom|primitives|mode|transforms|reverse|forward|"
                         r"numpy_api|tensor)\b|autodiff\.functions|run_backward|F\._raw")
    offenders = []
    for folder in ("linalg", "fft", "ode", "nn", "optim", "optics"):
        for path in (root / folder).rglob("*.py"):
            if private.search(path.read_text()):
                offenders.append(str(path.relative_to(root)))
    assert not offenders, f"modules using the engine's private names: {offenders}"


def test_no_import_loops_inside_the_engine():
    """tensor <-> tape and custom <-> transforms are gone; the one pair left is the rule vocabulary
    and the table written in it (``backend`` applies the rows, the rows' rules use ``backend``)."""
    import ast
    root = pathlib.Path(dp.__file__).parent / "autodiff"
    graph = {}
    for path in root.glob("*.py"):
        deps = set()
        for node in ast.parse(path.read_text()).body:          # module-level imports only
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(a.name for a in node.names)
        graph[path.stem] = deps & {p.stem for p in root.glob("*.py")}
    loops = {frozenset((a, b)) for a, deps in graph.items() for b in deps if a in graph.get(b, ())}
    assert loops <= {frozenset(("backend", "primitives"))}, loops
    assert "tape" not in graph["tensor"] and "transforms" not in graph["custom"]


def test_linalg_modules_do_not_import_each_other_in_a_loop():
    import ast
    root = pathlib.Path(dp.__file__).parent / "linalg"
    graph = {p.stem: {n.module for n in ast.walk(ast.parse(p.read_text()))
                      if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module} for p in root.glob("*.py")}
    assert "solve" in graph["decompositions"] and "decompositions" not in graph["solve"]
