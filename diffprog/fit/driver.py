"""The driver of a fit: scene file -> photographs -> fitter steps on a schedule -> outputs.

``run_scene`` loads the scene and its photographs, builds the :class:`~diffprog.fit.fitter.Fitter`,
steps it to the end with a progress bar, previews and checkpoints (every
``schedule.checkpoint_every`` steps and on Ctrl-C: the step in flight finishes first; a second
Ctrl-C stops at once), and writes the fitted mesh, the comparison images, the turntable, the
loss curve, ``metrics.json`` and, when cameras are refined, ``cameras.json`` (the refined cameras in
the ``transforms.json`` format, with the photographs' file names).
"""
import os
import signal
import threading

import numpy as np

import diffprog.autodiff as dp
from diffprog import render as R
from diffprog.io.transforms import Frame, write_transforms
from . import report
from .cameras import look_at_point, refined_camera_to_world, rotation_angle_degrees
from .files import atomic_write, read_arrays, write_arrays, write_json
from .fitter import Fitter
from .metrics import chamfer_over_diagonal, masked_psnr, silhouette_iou
from .scene import load_scene, read_views

CHECKPOINT = "checkpoint.npz"


class _Interrupt:
    """Turns the first Ctrl-C into a flag checked between steps (main thread only)."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


class Interrupted(KeyboardInterrupt):
    """A fit stopped by Ctrl-C after saving its checkpoint (``checkpoint``, ``iteration``)."""

    def __init__(self, checkpoint, iteration):
        super().__init__(f"interrupted after iteration {iteration}; checkpoint saved to {checkpoint}")
        self.checkpoint, self.iteration = checkpoint, iteration


def run_scene(scene_path, out_dir=None, overrides=None, resume=False, progress=True):
    """Run the fitting job of the scene file ``scene_path`` and write its outputs.

    out_dir: output directory (default: the scene's ``output.directory``); overrides: dotted scene
    keys to values (``{"schedule.iterations": 200}``); resume: continue from the output
    directory's checkpoint when there is one; progress: show a progress bar.
    Returns the metrics (also written to ``metrics.json``). Raises SceneError / TypeError /
    FileNotFoundError for a bad scene before anything is written, and :class:`Interrupted` (a
    KeyboardInterrupt) on Ctrl-C after checkpointing.
    """
    overrides = dict(overrides or {})
    if out_dir is not None:
        overrides["output.directory"] = os.fspath(out_dir)
    scene = load_scene(scene_path, overrides)
    size = scene["render.image_size"]
    photos = read_views(scene, size, scene.fit_views)
    held_out = read_views(scene, size, scene.held_out_views) if scene.held_out_views else None
    reference = scene["photos.reference_mesh"]
    reference = R.load_mesh(reference, requires_grad=False) if reference else None
    fitter = Fitter(scene, photos)

    out = scene["output.directory"]
    checkpoint = os.path.join(out, CHECKPOINT)
    if resume and os.path.isfile(checkpoint):
        fitter.load_state(read_arrays(checkpoint), checkpoint)
    os.makedirs(out, exist_ok=True)
    _fit(fitter, checkpoint, out, progress)
    return _finish(fitter, scene, out, held_out, reference)


def _fit(fitter, checkpoint, out, progress):
    from tqdm import tqdm
    schedule = fitter.settings["schedule"]
    short = {"silhouette": "sil", "rgb": "rgb", "edge": "edge", "normal_consistency": "normal",
             "laplacian": "lap"}
    bar = tqdm(total=fitter.iterations, initial=fitter.iteration, disable=not progress, unit="it",
               dynamic_ncols=True, desc="fit")
    with _Interrupt() as interrupt, bar:
        while fitter.iteration < fitter.iterations:
            values = fitter.step()
            bar.update(1)
            stage = ("colours" if fitter.iteration > fitter.geometry_iterations
                     else f"sigma={fitter.sigma(fitter.iteration - 1):.1e}")
            bar.set_postfix_str(" ".join(f"{short[k]}={v:.4f}" for k, v in values.items()) + " " + stage,
                                refresh=False)
            every = schedule["preview_every"]
            if every and fitter.iteration % every == 0:
                _preview(fitter, os.path.join(out, "previews", f"iteration_{fitter.iteration:06d}.png"))
            if fitter.iteration % schedule["checkpoint_every"] == 0 or fitter.iteration == fitter.iterations:
                write_arrays(checkpoint, fitter.state())
            if interrupt.requested:
                write_arrays(checkpoint, fitter.state())
                raise Interrupted(checkpoint, fitter.iteration)


def _preview(fitter, path):
    """Photograph | current fit | error for the first fitting view."""
    with dp.no_grad():
        image = fitter.render(np.array([0]), R.HardRasterizer())
    report.write_side_by_side(path, fitter.target_rgb[0], np.asarray(image.data)[0, ..., :3])


def _evaluate(fitter, views, photos, camera_to_world, prefix, out):
    """Comparison images of ``views`` (with their ``photos``) rendered from ``camera_to_world`` and
    their silhouette IoU and masked PSNR."""
    verts, faces, colors = fitter.verts.data, fitter.faces, np.clip(fitter.colors.data, 0, 1)
    images = []
    for view, matrix in zip(views, camera_to_world):
        size, focal, center = view.intrinsics(fitter.size)
        with dp.no_grad():
            images.append(report.render_antialiased(verts, faces, colors, matrix[None], focal[None], center[None],
                                                    size, fitter.background)[0])
    photo_rgb = [report.composite(np.asarray(p), fitter.background) for p in photos]
    for view, photo, image in zip(views, photo_rgb, images):
        stem = os.path.splitext(os.path.basename(view.image))[0]
        report.write_side_by_side(os.path.join(out, f"{prefix}_{stem}.png"), photo, image[..., :3])
    flat = np.concatenate([i[..., :3].reshape(-1, 3) for i in images])
    mask = np.concatenate([np.asarray(p)[..., 3].ravel() > 0.5 for p in photos])
    return {f"{prefix}_silhouette_iou": float(np.mean([silhouette_iou(i[..., 3], np.asarray(p)[..., 3])
                                                       for i, p in zip(images, photos)])),
            f"{prefix}_masked_psnr": masked_psnr(flat, np.concatenate([p.reshape(-1, 3) for p in photo_rgb]), mask)}


def refined_cameras(fitter):
    """(V, 4, 4) camera-to-world matrices of the fitting views after refinement."""
    with dp.no_grad():
        rotation, translation = fitter.camera_refinements()
    matrices = refined_camera_to_world(fitter.camera_to_world, None if rotation is None else rotation.data,
                                       None if translation is None else translation.data)
    out = np.repeat(np.eye(4)[None], len(matrices), axis=0)
    out[:, :3, :] = np.asarray(getattr(matrices, "data", matrices))
    return out


def _write_cameras(fitter, scene, out):
    """``cameras.json`` (transforms.json format, the photographs' file names): every view's camera,
    the fitting views' refined; returns the metrics of how far they moved."""
    refined = dict(zip(map(id, fitter.views), refined_cameras(fitter)))
    frames = [Frame(v.image, refined.get(id(v), v.camera_to_world), v.focal, v.principal_point, v.width, v.height,
                    v.distortion, v.mask, "held_out" if v.held_out else "fit") for v in scene.views]
    extra = {"camera_model": "OPENCV" if any(f.distorted for f in frames) else "PINHOLE",
             "comment": "cameras refined by diffprog fit (OpenGL camera-to-world)"}
    atomic_write(os.path.join(out, "cameras.json"), lambda temporary: write_transforms(temporary, frames, extra),
                 suffix=".json")
    with dp.no_grad():
        rotation, translation = fitter.camera_refinements()
    angles = rotation_angle_degrees(rotation.data)
    moved = 100 * np.linalg.norm(translation.data, axis=1) / fitter.distance
    return {"camera_rotation_change_degrees_mean": float(angles.mean()),
            "camera_rotation_change_degrees_max": float(angles.max()),
            "camera_position_change_percent_mean": float(moved.mean()),
            "camera_position_change_percent_max": float(moved.max())}


def _finish(fitter, scene, out, held_out, reference):
    """Write the mesh, images, loss plot, cameras and metrics; return the metrics."""
    verts, faces, colors = fitter.verts.data, fitter.faces, np.clip(fitter.colors.data, 0, 1)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)
    for name in ("fitted.obj", "fitted.ply"):
        atomic_write(os.path.join(out, name), lambda temporary: R.save_mesh(mesh, temporary))
    if held_out is not None:
        views = scene.held_out_views
        metrics = _evaluate(fitter, views, held_out, [v.camera_to_world for v in views], "held_out", out)
    else:
        photos = [np.concatenate([rgb, alpha[..., None]], axis=-1)
                  for rgb, alpha in zip(fitter.target_rgb, fitter.target_alpha)]
        metrics = _evaluate(fitter, fitter.views, photos, refined_cameras(fitter), "fit_view", out)
    if reference is not None:
        metrics["chamfer_over_diagonal"] = chamfer_over_diagonal(verts, faces, reference.verts.data, reference.faces)
    if "cameras" in fitter.optimize:
        metrics.update(_write_cameras(fitter, scene, out))
    if fitter.exposure:
        gain, _ = fitter.gain_and_bias(np.arange(len(fitter.views)))
        metrics["exposure_gain_range"] = [float(gain.data.min()), float(gain.data.max())]
    metrics.update(iterations=fitter.iteration, vertices=int(len(verts)), faces=int(len(faces)),
                   final_loss=fitter.history["total"][-1] if fitter.history["total"] else float("nan"),
                   seconds=round(fitter.seconds, 3), cpu_seconds=round(fitter.cpu_seconds, 3))
    center = look_at_point(fitter.camera_to_world)
    distance = float(np.mean(fitter.distance))
    size, focal, _ = fitter.views[0].intrinsics(fitter.size)
    fov = float(np.degrees(2 * np.arctan(0.5 * size[0] / focal[1])))             # vertical, as look_at takes it
    report.write_turntable(os.path.join(out, "turntable.gif"), verts, faces, colors, center, distance,
                           fov, max(fitter.size, 128), scene["output.turntable_frames"], fitter.background)
    report.write_loss_plot(os.path.join(out, "loss_curve.png"), fitter.history, scene.sections["loss"])
    write_json(os.path.join(out, "metrics.json"), metrics)
    return metrics
