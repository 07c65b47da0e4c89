"""Each example's command at smoke size: it succeeds, writes only into its output folder, and
shows the sign of the claim it demonstrates (the numbers it prints are also in a JSON file)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _snapshot(root):
    """{relative path: (size, mtime)} of every file of the checkout outside .git and caches."""
    files = {}
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [s for s in subfolders if s not in (".git", "__pycache__", ".pytest_cache")]
        for name in names:
            path = os.path.join(folder, name)
            stat = os.stat(path)
            files[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return files


def _seismic(r, out):
    assert r["relative_difference"] <= 1e-8
    assert abs(r["image_depth_m"] - r["reflector_depth_m"]) <= r["tolerance_m"]


def _forward_vs_reverse(r, out):
    ratios = r["ratio"]
    assert ratios[-1] > 5 and ratios[-1] > ratios[0]          # forward mode falls behind as n grows


def _rnn(r, out):
    far = r["far"]
    assert r["LSTM, forget bias 3"]["relative_norm"][far] > 100 * r["tanh RNN"]["relative_norm"][far]
    assert r["tanh RNN"]["truncation_kept"] > 0.99 > r["LSTM, forget bias 3"]["truncation_kept"]


def _gradient_flow(r, out):
    assert r["sigmoid_first_over_last_hidden"] < 1e-6 < r["residual_first_over_last_hidden"]
    assert r["relu_max_over_min"] < 3
    assert r["unclipped_diverged"] and r["clipped_final_loss"] < r["clipped_initial_loss"]


def _spectral(r, out):
    assert r["fourier_test_psnr"] > r["none_test_psnr"]


EXAMPLES = {
    "seismic_rtm": (["--smoke"], _seismic),
    "forward_vs_reverse": (["--smoke"], _forward_vs_reverse),
    "rnn_vanishing": (["--smoke"], _rnn),
    "gradient_flow": (["--smoke"], _gradient_flow),
    "optimal_control": ([], lambda r, out: r["control_difference"] < 1e-8 and r["adjoint_difference"] < 1e-10),
    "hologram_focusing": (["--smoke"], lambda r, out: r["final_efficiency"] > 10 * r["initial_efficiency"]),
    "phase_retrieval": (["--smoke"], lambda r, out: r["final_rms_error"] < 0.1 * r["initial_rms_error"]),
    "neural_ode_spiral": (["--smoke"], lambda r, out: r["final_trajectory_error"] < r["initial_trajectory_error"]),
    "fit_mesh": (["--smoke"], lambda r, out: r["iou_after"] > r["iou_before"] + 0.1),
    "spectral_bias": (["--smoke"], _spectral),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_smoke_run(name, tmp_path):
    arguments, check = EXAMPLES[name]
    out, elsewhere = tmp_path / "out", tmp_path / "cwd"
    elsewhere.mkdir()
    before = _snapshot(ROOT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", f"{name}.py"), *arguments,
                             "--out", str(out)], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _snapshot(ROOT) == before, "the example changed files of the checkout"
    assert list(elsewhere.iterdir()) == [], "the example wrote into the working directory"
    with open(out / f"{name}.json") as f:
        results = json.load(f)
    assert check(results, out) is not False
    assert result.stdout.strip(), "the example printed nothing"
