"""Fit a mesh to photographs by backpropagating image losses through the renderer.

    >>> from diffprog.fit import run_scene
    >>> metrics = run_scene("scenes/spot_quick.toml")          # writes out/spot_quick/...

``run_scene`` is the whole job (what ``diffprog fit`` runs: ``driver.py``); ``Fitter`` is its
state and step (``fitter.py``); ``load_scene`` reads a scene file against the fit's schema
(``scene.py``); the metrics and the camera helpers are usable on their own.
"""
from .job import Fitter, Interrupted, run_scene
from .driver import Diverged, InputsChangedError, OutputWriteError
from .scene import SCHEMA, Scene, View, load_scene, read_views
from .metrics import chamfer_over_diagonal, masked_psnr, point_mesh_distance, silhouette_iou
from .cameras import cameras_from_matrices, look_at_point
from .shading import render_unlit
from .camera_recovery import recover_camera, spherical_from_eye, eye_from_spherical
