"""The default recipe's pieces inside the fit: Large Steps parameters, remeshing that carries the
colours and the optimizer's moments, the visual-hull start, SH lighting outputs."""
import os

import numpy as np
import trimesh

from diffprog.fit import Fitter
from diffprog.fit.scene import load_scene, read_views

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "scenes", "horseshoe_tiny.toml")


def _fitter(**overrides):
    scene = load_scene(TINY, overrides)
    return Fitter(scene, read_views(scene, scene["render.image_size"], scene.fit_views))


def test_default_recipe_starts_from_the_visual_hull_with_large_steps():
    fitter = _fitter()
    mesh = trimesh.Trimesh(fitter.verts.data, fitter.faces, process=False)
    assert mesh.is_watertight and mesh.euler_number == 2
    assert fitter.large_steps is not None and fitter.u.requires_grad and not fitter.verts.requires_grad
    np.testing.assert_allclose(fitter.large_steps.solve(fitter.u.data), fitter.verts.data, atol=1e-10)
    assert fitter.sh is not None and fitter.sh.shape == (9, 3)
    fitter.step()
    np.testing.assert_allclose(fitter.large_steps.solve(fitter.u.data), fitter.verts.data, atol=1e-10)


def test_remeshing_carries_colours_and_optimizer_moments():
    fitter = _fitter(**{"schedule.remesh_every": 3, "schedule.iterations": 20, "schedule.edge_length": [0.05, 0.03]})
    for _ in range(3):
        fitter.step()
    before = len(fitter.verts.data)
    fitter.colors.data[:] = np.clip(fitter.verts.data, 0, 1)          # colours that follow position
    fitter.step()                                                       # remeshes first (iteration 3)
    after = len(fitter.verts.data)
    assert after != before
    mesh = trimesh.Trimesh(fitter.verts.data, fitter.faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert fitter.colors.shape == (after, 3)
    state = fitter.optimizer.state[id(fitter.u)]
    assert state["step"] == 4 and state["exp_avg"].shape == (after, 3) and np.abs(state["exp_avg"]).max() > 0
    colour_state = fitter.optimizer.state[id(fitter.colors)]
    assert colour_state["exp_avg_sq"].shape == (after, 3) and colour_state["step"] == 4
    assert np.abs(fitter.colors.data - np.clip(fitter.verts.data, 0, 1)).mean() < 0.05


def test_ablation_flags_switch_each_idea_off():
    fitter = _fitter(**{"mesh.initial": "ico_sphere", "mesh.level": 2, "schedule.large_steps_lambda": 0.0,
                        "schedule.optimizer": "adam", "schedule.remesh_every": 0, "render.shading": "unlit"})
    assert len(fitter.verts.data) == 162 and fitter.large_steps is None and fitter.u is None
    assert fitter.verts.requires_grad and fitter.sh is None and not fitter.remesh_at
