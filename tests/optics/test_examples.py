"""The wave-optics examples solve their inverse problems (small sizes, few iterations)."""
import importlib.util
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_phase_retrieval_recovers_the_phase_from_three_intensities():
    example = load("phase_retrieval")
    truth = example.true_phase(32, seed=1)
    estimate, history = example.recover(example.measure(truth, padding=8), 32, iterations=150, padding=8)
    assert history[-1] < 1e-3 * history[0]
    assert example.phase_error(estimate, truth) < 0.1 * example.phase_error(np.zeros_like(truth), truth)


def test_hologram_focuses_most_power_into_the_spots():
    example = load("hologram_focusing")
    phase, history = example.optimise(size=48, iterations=60)
    assert history[0] < 0.05 and history[-1] > 0.6
