"""Smoke runs of examples/lista.py and examples/prune_mlp.py (the sparse-coding and l1-prox
examples): each claim keeps its sign at smoke size, and nothing is written outside ``--out``."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def snapshot(root):
    """(path -> (size, mtime)) for every file of the repository outside .git."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = os.path.join(folder, name)
            stat = os.stat(path)
            files[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return files


def run_example(name, tmp_path, *args):
    """Run ``examples/<name>.py --smoke --out <tmp>/out`` from an empty working folder; check that
    it wrote only into ``out``; return its printed output and its output folder."""
    out, cwd = tmp_path / "out", tmp_path / "cwd"
    cwd.mkdir()
    before = snapshot(ROOT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", f"{name}.py"), "--smoke", "--out", str(out),
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    after = snapshot(ROOT)
    assert after == before, {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert list(cwd.iterdir()) == []
    return done.stdout, out


def test_lista_example_beats_ista_at_equal_depth(tmp_path):
    stdout, out = run_example("lista", tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["lista_nmse.png", "lista_results.json"]
    results = json.loads((out / "lista_results.json").read_text())
    assert results["protocol"] == "smoke"
    for name, network in results["networks"].items():
        trained = network["nmse_per_layer_db"][-1]
        assert trained < network["untrained_db"], name                    # training helps
        assert trained < network["ista_at_equal_depth_db"], name          # and beats ISTA at equal depth
        assert network["iteration_equivalence"] > 1.0, name
    assert "ISTA needs" in stdout and "as many iterations" in stdout


def test_prune_mlp_example_prunes_without_losing_accuracy(tmp_path):
    stdout, out = run_example("prune_mlp", tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["prune_mlp.json"]
    results = json.loads((out / "prune_mlp.json").read_text())
    assert results["zero_fraction"] >= 0.7                  # most weights exactly zero (0.95 at full size)
    assert results["pruned_accuracy"] >= results["dense_accuracy"] - 0.01
    assert "exact zeros" in stdout


@pytest.mark.parametrize("name", ["lista", "prune_mlp"])
def test_documented_commands(name):
    """The docstring names the default command, the smoke command and where the files go."""
    with open(os.path.join(ROOT, "examples", f"{name}.py")) as fh:
        doc = fh.read().split('"""')[1]
    assert f"python examples/{name}.py" in doc and "--smoke" in doc and "--out" in doc
