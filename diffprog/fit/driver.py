"""The driver of a fit: scene file -> photographs -> fitter steps on a schedule -> outputs.

``run_scene`` loads the scene, checks the output folder (before any work), loads the photographs,
builds the :class:`~diffprog.fit.fitter.Fitter`, steps it to the end with a progress bar, previews
and checkpoints, and writes the fitted mesh, the comparison images, the turntable, the loss curve
``metrics.json`` (last: its presence means the output set is complete) and, when cameras are refined,
``cameras.json`` (the refined cameras in the ``transforms.json`` format, with the photographs' file names).

Robustness:
- Ctrl-C (SIGINT) and SIGTERM (what Slurm, Kubernetes and Dask send on preemption) while stepping:
  the step in flight finishes, the checkpoint is saved, :class:`Interrupted` is raised; a second
  signal stops at once. During start-up or while the outputs are written they stop at once
  (:class:`Interrupted` without a new checkpoint; every output file is written atomically).
- ``--resume`` checks the checkpoint (damaged or of another version: a one-line error) and the
  input files it was written from (content hashes: a changed photograph is an error naming it;
  ``force=True`` starts over instead).
- A loss or parameter that becomes NaN/inf stops the fit (:class:`Diverged`) before it is
  checkpointed, so the last checkpoint is the last good state, and no output is written.
- An OSError while checkpointing or writing outputs (disk full, folder removed) is re-raised as
  :class:`OutputWriteError`, one line naming the path and the checkpoint that is kept.
- Temporary files left in the output folder by a killed run (``kill -9``) are removed at start.
"""
import json
import os
import signal
import threading

import numpy as np

import diffprog.autodiff as dp
from diffprog import render as R
from diffprog.io.config import load_config
from diffprog.io.transforms import Frame, write_transforms
from . import report
from .cameras import look_at_point, refined_camera_to_world, rotation_angle_degrees
from .checkpoint import read_checkpoint, write_checkpoint
from .files import atomic_write, remove_partial_files, scratch_folder, write_json
from .fitter import PARAMETER_GROUPS, Fitter
from .inputs import changed_files, hash_inputs
from .metrics import chamfer_over_diagonal, euler_characteristic, masked_psnr, silhouette_iou
from .outputs import check_output_folder
from .scene import SCHEMA, load_scene, read_views

CHECKPOINT = "checkpoint.npz"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Signals:
    """SIGINT and SIGTERM as a flag checked between steps while ``stepping`` (a second one stops at
    once), and as :class:`Interrupted` at once otherwise (main thread only; elsewhere a no-op)."""

    def __init__(self):
        self.requested = None                   # the signal number received while stepping
        self.stepping = False
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in _SIGNALS:
                self.previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.stepping and self.requested is None:
            self.requested = signum
            return
        raise Interrupted(None, None, signum)

    def __exit__(self, *exc):
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        return False


class Interrupted(KeyboardInterrupt):
    """A fit stopped by Ctrl-C or SIGTERM (``signal``): after saving its checkpoint (``checkpoint``,
    ``iteration``) when it came between steps, or at once (both None) during start-up or while the
    outputs were written."""

    def __init__(self, checkpoint, iteration, signum=signal.SIGINT):
        name = signal.Signals(signum).name
        text = (f"interrupted ({name}) after iteration {iteration}; checkpoint saved to {checkpoint}"
                if checkpoint else f"interrupted ({name})")
        super().__init__(text)
        self.checkpoint, self.iteration, self.signal = checkpoint, iteration, signum


class Diverged(ValueError):
    """The loss or a parameter became NaN or infinite (``iteration``, ``loss``); the last checkpoint,
    written before, is kept."""

    def __init__(self, message, iteration, loss):
        super().__init__(message)
        self.iteration, self.loss = iteration, loss


class OutputWriteError(OSError):
    """Writing a checkpoint or an output failed (disk full, folder removed, permission...)."""


class InputsChangedError(ValueError):
    """``--resume`` onto a checkpoint written from other input files."""


def run_scene(scene_path, out_dir=None, overrides=None, resume=False, progress=True, force=False):
    """Run the fitting job of the scene file ``scene_path`` and write its outputs.

    out_dir: output directory (default: the scene's ``output.directory``); overrides: dotted scene
    keys to values (``{"schedule.iterations": 200}``); resume: continue from the output
    directory's checkpoint when there is one; progress: show a progress bar; force: with
    ``resume``, start over when the input files changed since the checkpoint (else an error).
    Returns the metrics (also written to ``metrics.json``). Raises SceneError / TypeError /
    FileNotFoundError for a bad scene and OutputFolderError for an unusable output folder before
    anything is written; CheckpointError / InputsChangedError for a checkpoint that cannot be
    resumed; :class:`Interrupted` (a KeyboardInterrupt) on Ctrl-C or SIGTERM; :class:`Diverged`;
    :class:`OutputWriteError`.
    """
    overrides = dict(overrides or {})
    if out_dir is not None:
        overrides["output.directory"] = os.fspath(out_dir)
    with _Signals() as signals:
        check_output_folder(load_config(scene_path, SCHEMA, overrides).sections["output"]["directory"])
        scene = load_scene(scene_path, overrides)                  # reads the photographs' headers
        out = scene["output.directory"]
        checkpoint = os.path.join(out, CHECKPOINT)
        saved = read_checkpoint(checkpoint) if resume and os.path.isfile(checkpoint) else None
        known = json.loads(str(saved["inputs"])) if saved is not None and "inputs" in saved else None
        inputs = hash_inputs(scene, known)
        if saved is not None:
            changed = changed_files(known or {}, inputs)
            if changed and not force:
                more = f" (and {len(changed) - 1} more files)" if len(changed) > 1 else ""
                raise InputsChangedError(f"cannot resume from {checkpoint!r}: {changed[0]!r} changed since it was "
                                         f"written{more}; run with --force to start over")
            saved = None if changed else saved
        size = scene["render.image_size"]
        photos = read_views(scene, size, scene.fit_views)
        held_out = read_views(scene, size, scene.held_out_views) if scene.held_out_views else None
        reference = scene["photos.reference_mesh"]
        reference = R.load_mesh(reference, requires_grad=False) if reference else None
        fitter = Fitter(scene, photos)
        if saved is not None:
            fitter.load_state(saved, checkpoint)
        try:
            os.makedirs(out, exist_ok=True)
            remove_partial_files(out)
            _fit(fitter, checkpoint, out, progress, signals, json.dumps(inputs))
            return _finish(fitter, scene, out, held_out, reference)
        except KeyboardInterrupt:
            remove_partial_files(out)       # Ctrl-C can land between a temporary file's creation and its cleanup
            raise
        except OSError as error:
            raise _write_error(error, checkpoint) from error


def _write_error(error, checkpoint):
    path = getattr(error, "filename2", None) or getattr(error, "filename", None)
    reason = " ".join((error.strerror or str(error)).split())
    kept = (f"the last checkpoint, {checkpoint!r}, is kept" if os.path.isfile(checkpoint)
            else "no checkpoint was written yet")
    where = f"cannot write {path!r}" if path else "cannot write the outputs"
    return OutputWriteError(f"{where} ({reason}); {kept}")


def _fit(fitter, checkpoint, out, progress, signals, inputs):
    from tqdm import tqdm
    schedule = fitter.settings["schedule"]
    short = {"silhouette": "sil", "rgb": "rgb", "edge": "edge", "normal_consistency": "normal",
             "laplacian": "lap"}
    bar = tqdm(total=fitter.iterations, initial=fitter.iteration, disable=not progress, unit="it",
               dynamic_ncols=True, desc="fit")

    def save():
        write_checkpoint(checkpoint, {**fitter.state(), "inputs": np.array(inputs)})

    signals.stepping = True
    try:
        with bar:
            while fitter.iteration < fitter.iterations:
                with np.errstate(all="ignore"):                 # a diverging step is reported below, once
                    values = fitter.step()
                _check_finite(fitter, checkpoint)
                bar.update(1)
                stage = ("colours" if fitter.iteration > fitter.geometry_iterations
                         else f"sigma={fitter.sigma(fitter.iteration - 1):.1e}")
                bar.set_postfix_str(" ".join(f"{short[k]}={v:.4f}" for k, v in values.items()) + " " + stage,
                                    refresh=False)
                every = schedule["preview_every"]
                if every and fitter.iteration % every == 0:
                    _preview(fitter, os.path.join(out, "previews", f"iteration_{fitter.iteration:06d}.png"))
                if fitter.iteration % schedule["checkpoint_every"] == 0 or fitter.iteration == fitter.iterations:
                    save()
                if signals.requested is not None:
                    save()
                    raise Interrupted(checkpoint, fitter.iteration, signals.requested)
    finally:
        signals.stepping = False


_EXPLODED = 1e3      # a mesh this many times larger than it started has diverged


def _check_finite(fitter, checkpoint):
    """Raise Diverged if the last step's loss or a parameter being fitted is NaN or infinite."""
    loss = fitter.history["total"][-1]
    schedule = fitter.settings["schedule"]
    key = "color_learning_rate" if fitter.in_color_stage else "learning_rate"
    bad = not np.isfinite(loss)
    for name, (attributes, rate_key) in PARAMETER_GROUPS.items():
        tensors = [getattr(fitter, attribute) for attribute in attributes]
        if any(tensor.requires_grad and not np.all(np.isfinite(tensor.data)) for tensor in tensors):
            bad, key = True, rate_key
            break
    if not bad and "vertices" in fitter.optimize and not fitter.in_color_stage:
        # The vertices (moved directly or through Large Steps) flying off: a finite loss can hide it,
        # and remeshing such a mesh at the fit's edge length would take forever.
        verts = np.asarray(fitter.verts.data)
        size = np.linalg.norm(verts.max(axis=0) - verts.min(axis=0)) if np.all(np.isfinite(verts)) else np.inf
        bad = not size <= _EXPLODED * fitter.diagonal
    if not bad:
        return
    if schedule.get(key) is None:
        key = "learning_rate"
    kept = (f"the last checkpoint, {checkpoint!r}, is kept" if os.path.isfile(checkpoint)
            else "no checkpoint was written yet")
    raise Diverged(f"the fit diverged at iteration {fitter.iteration} (loss {loss:g}): lower schedule.{key} "
                   f"(now {_number(schedule[key])}); {kept}", fitter.iteration, loss)


def _number(value):
    """1e8 rather than 1e+08; 0.01 as 0.01."""
    text = f"{value:g}"
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else text


def _preview(fitter, path):
    """Photograph | current fit | error for the first fitting view."""
    with dp.no_grad():
        image = fitter.render(np.array([0]), R.HardRasterizer())
    report.write_side_by_side(path, fitter.target_rgb[0], np.asarray(image.data)[0, ..., :3])


def _evaluate(fitter, views, photos, camera_to_world, prefix, out, colors, shader):
    """Comparison images of ``views`` (with their ``photos``) rendered from ``camera_to_world`` and
    their silhouette IoU and masked PSNR."""
    verts, faces = fitter.verts.data, fitter.faces
    images = []
    for view, matrix in zip(views, camera_to_world):
        size, focal, center = view.intrinsics(fitter.size)
        with dp.no_grad():
            images.append(report.render_antialiased(verts, faces, colors, matrix[None], focal[None], center[None],
                                                    size, fitter.background, shader=shader)[0])
    photo_rgb = [report.composite(np.asarray(p), fitter.background) for p in photos]
    report.write_view_comparisons(out, prefix, [os.path.splitext(os.path.basename(v.image))[0] for v in views],
                                  photos, images, fitter.background)
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


def _field_outputs(fitter, out):
    """With a colour field: the field at the vertices (vertex colours), its shader for the
    comparison renders, and ``fitted.obj`` + ``fitted.mtl`` + ``texture.png`` (the field baked
    into a UV texture). Returns (colours, shader, unwrap method used)."""
    from .bake import export_textured
    field, settings = fitter.field, fitter.settings["color_field"]
    verts, faces = fitter.verts.data, fitter.faces
    if field.in_dim == 2:
        uvs, face_uvs = fitter.uv_source
        point_uvs = np.zeros((len(verts), 2))
        point_uvs[faces.ravel()] = uvs[face_uvs.ravel()]
        colors = np.clip(field.colors_at(point_uvs), 0, 1)
    else:
        colors = np.clip(field.colors_at(verts), 0, 1)
    with scratch_folder(out) as scratch:                         # written whole, then moved into place
        unwrap = export_textured(os.path.join(scratch, "fitted.obj"), field, verts, faces, settings["texture_size"],
                                 settings["unwrap"], colors=colors)
        for name in ("texture.png", "fitted.mtl", "fitted.obj"):
            os.replace(os.path.join(scratch, name), os.path.join(out, name))
    return colors, _FieldShader(fitter), unwrap


class _FieldShader:
    """The fitted field as a render shader (UV fields read the template's UVs)."""

    def __init__(self, fitter):
        self.field, self.uv_source = fitter.field, getattr(fitter, "uv_source", None)

    def __call__(self, fragments, mesh, cams, lights):
        from .color_field import shade_field
        if self.field.in_dim == 2:
            mesh = mesh.replace(uvs=self.uv_source[0], face_uvs=self.uv_source[1])
        return shade_field(self.field, fragments, mesh)


def _finish(fitter, scene, out, held_out, reference):
    """Write the mesh, images, loss plot, cameras and metrics; return the metrics."""
    verts, faces, colors = fitter.verts.data, fitter.faces, np.clip(fitter.shown_colors(), 0, 1)
    shader, field = "unlit", fitter.field
    if field is not None:
        colors, shader, unwrap = _field_outputs(fitter, out)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)
    for name in ("fitted.ply",) if field is not None else ("fitted.obj", "fitted.ply"):
        atomic_write(os.path.join(out, name), lambda temporary: R.save_mesh(mesh, temporary))
    if fitter.sh is not None:          # fitted.* hold the lit colours; the albedo and the lighting apart
        albedo = R.Mesh(verts, faces, colors=np.clip(fitter.colors.data, 0, 1), requires_grad=False)
        atomic_write(os.path.join(out, "albedo.ply"), lambda temporary: R.save_mesh(albedo, temporary))
        write_json(os.path.join(out, "lighting.json"),
                   {"sh_coefficients": fitter.sh.data.tolist(), "convention": "diffprog.fit.sh_lighting.sh_basis "
                    "(9 real SH of bands 0-2) x RGB; colour = albedo * (sh_basis(normal) @ coefficients)"})
    if held_out is not None:
        views = scene.held_out_views
        metrics = _evaluate(fitter, views, held_out, [v.camera_to_world for v in views], "held_out", out, colors,
                            shader)
    else:
        photos = [np.concatenate([rgb, alpha[..., None]], axis=-1)
                  for rgb, alpha in zip(fitter.target_rgb, fitter.target_alpha)]
        metrics = _evaluate(fitter, fitter.views, photos, refined_cameras(fitter), "fit_view", out, colors, shader)
    if reference is not None:
        metrics["chamfer_over_diagonal"] = chamfer_over_diagonal(verts, faces, reference.verts.data, reference.faces)
        metrics["reference_euler_characteristic"] = euler_characteristic(reference.faces)
    metrics["euler_characteristic"] = euler_characteristic(faces)
    if "cameras" in fitter.optimize:
        metrics.update(_write_cameras(fitter, scene, out))
    if fitter.exposure:
        gain, _ = fitter.gain_and_bias(np.arange(len(fitter.views)))
        metrics["exposure_gain_range"] = [float(gain.data.min()), float(gain.data.max())]
    offsets = fitter.mask_offsets(np.arange(len(fitter.views)))
    if offsets is not None:
        metrics["mask_offset_range_pixels"] = [float(offsets.data.min()), float(offsets.data.max())]
        metrics["mask_offsets_pixels"] = {os.path.basename(view.image): round(float(d), 4)
                                          for view, d in zip(fitter.views, offsets.data)}
    if field is not None:
        metrics["texture_unwrap"] = unwrap
    template = fitter.template_vertices()
    if template is not None and template.shape == verts.shape:
        metrics["template_vertices_unmoved"] = float(np.mean(np.all(verts == template, axis=1)))
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
