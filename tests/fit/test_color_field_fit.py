"""``render.shading = "field"`` and ``[template] l1`` inside ``diffprog fit``: outputs, resume, sparsity."""
import os
import signal

import numpy as np
import pytest

from diffprog.fit import Fitter, Interrupted, run_scene
from diffprog.io import read_mesh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "scenes", "horseshoe_tiny.toml")
FIELD = {"render.shading": "field", "schedule.iterations": 16, "schedule.color_iterations": 4,
         "schedule.checkpoint_every": 5, "color_field.width": 16, "color_field.frequencies": 16,
         "color_field.texture_size": 128, "output.turntable_frames": 2}
HORSESHOE = os.path.join(ROOT, "assets", "horseshoe", "horseshoe.obj")
TEMPLATE = {"mesh.initial": HORSESHOE, "template.l1": 2e-3, "template.smoothness": 10.0, "template.refit": 0.25,
            "loss.edge": 0.0, "loss.laplacian": 0.0, "loss.normal_consistency": 0.0, "schedule.iterations": 12,
            "schedule.color_iterations": 0, "schedule.checkpoint_every": 4, "output.turntable_frames": 2}


def _quality(metrics):
    return {k: v for k, v in metrics.items() if k not in ("seconds", "cpu_seconds")}


def _interrupt_at(monkeypatch, stop_at):
    step = Fitter.step

    def interrupted_step(self):
        values = step(self)
        if self.iteration == stop_at:
            os.kill(os.getpid(), signal.SIGINT)
        return values
    monkeypatch.setattr(Fitter, "step", interrupted_step)
    return step


@pytest.mark.parametrize("overrides, stop_at", [(FIELD, 7), (TEMPLATE, 10)], ids=["field", "template"])
def test_fit_writes_its_outputs_and_resumes_exactly(tmp_path, monkeypatch, overrides, stop_at):
    straight = run_scene(TINY, out_dir=tmp_path / "straight", overrides=overrides, progress=False)
    step = _interrupt_at(monkeypatch, stop_at)
    with pytest.raises(Interrupted):
        run_scene(TINY, out_dir=tmp_path / "resumed", overrides=overrides, progress=False)
    monkeypatch.setattr(Fitter, "step", step)
    resumed = run_scene(TINY, out_dir=tmp_path / "resumed", overrides=overrides, resume=True, progress=False)
    assert _quality(resumed) == _quality(straight)
    assert open(tmp_path / "resumed" / "fitted.ply", "rb").read() == open(tmp_path / "straight" / "fitted.ply",
                                                                          "rb").read()
    if overrides is FIELD:
        assert {"fitted.obj", "fitted.mtl", "texture.png"} <= set(os.listdir(tmp_path / "straight"))
        assert straight["texture_unwrap"] in ("xatlas", "per_face")
        assert read_mesh(tmp_path / "straight" / "fitted.obj")["texture"].shape == (128, 128, 3)
    else:
        assert 0.5 <= straight["template_vertices_unmoved"] < 1.0              # some moved, most exactly not
        fitted, template = read_mesh(tmp_path / "straight" / "fitted.ply")["verts"], read_mesh(HORSESHOE)["verts"]
        assert fitted.shape == template.shape


def test_template_fit_refuses_subdivision(tmp_path):
    with pytest.raises(ValueError, match="subdivide_at"):
        run_scene(TINY, out_dir=tmp_path, overrides=dict(TEMPLATE, **{"schedule.subdivide_at": [0.5]}),
                  progress=False)
