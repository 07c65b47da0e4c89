"""Packaging: the version flag and the extras users install."""
import os
import subprocess
import sys
import tomllib

import diffprog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_version_flag():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "diffprog.cli", "--version"], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == f"diffprog {diffprog.__version__}"


def test_extras_cover_every_optional_feature():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert any(d.startswith("scipy") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert extras["plots"] == ["matplotlib"] and any(d.startswith("torch") for d in extras["torch"])
    features = set(extras) - {"test", "bench", "all"}
    (everything,) = extras["all"]
    assert everything.startswith("diffprog[") and set(everything[9:-1].split(",")) == features
