"""TEST DOUBLE for diffprog.fit.run_scene, used only until the real fitting job lands.

A scene is a TOML file ``[fit] seed, iterations, seconds_per_iteration, target``; the "fit" is a seeded
gradient descent on a random quadratic, checkpointed every 5 iterations, resumable, writing metrics.json.
"""
import json
import os
import time
import tomllib
from pathlib import Path

import numpy as np


def _set(tree, dotted, value):
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    if leaf not in tree:
        raise KeyError(f"unknown scene key {dotted!r}")
    tree[leaf] = value


def stand_in_run_scene(scene_path, out_dir=None, overrides=None, resume=False, progress=True):
    scene = tomllib.loads(Path(scene_path).read_text())
    for key, value in (overrides or {}).items():
        _set(scene, key, value)
    fit = scene["fit"]
    if not isinstance(fit["iterations"], int):
        raise TypeError(f"{scene_path}: fit.iterations must be an int")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(fit["seed"])
    a = rng.standard_normal((20, 20))
    a = a @ a.T / 20 + np.eye(20)
    b = rng.standard_normal(20)
    x, start = np.zeros(20), 0
    checkpoint = out / "checkpoint.npz"
    if resume and checkpoint.exists():
        saved = np.load(checkpoint)
        x, start = saved["x"], int(saved["iteration"])
    for iteration in range(start, fit["iterations"]):
        x = x - fit["step"] * (a @ x - b)
        time.sleep(fit.get("seconds_per_iteration", 0.0))
        if (iteration + 1) % 5 == 0:
            np.savez(out / "checkpoint.tmp.npz", x=x, iteration=iteration + 1)
            os.replace(out / "checkpoint.tmp.npz", checkpoint)
    loss = float(0.5 * x @ a @ x - b @ x)
    metrics = {"loss": loss, "residual": float(np.linalg.norm(a @ x - b)), "started_at": start}
    (out / "metrics.json").write_text(json.dumps(metrics))
    return {"loss": loss, "residual": metrics["residual"]}
