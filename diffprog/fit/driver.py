"""The driver of a fit: scene file -> photographs -> fitter steps on a schedule -> outputs.

``run_scene`` loads the scene and its photographs, builds the :class:`~diffprog.fit.fitter.Fitter`,
steps it to the end with a progress bar, previews and checkpoints (every
``schedule.checkpoint_every`` steps and on Ctrl-C: the step in flight finishes first; a second
Ctrl-C stops at once), and writes the fitted mesh, the comparison images, the turntable, the
loss curve and ``metrics.json``.
"""
import os
import signal
import threading

import numpy as np

import diffprog.autodiff as dp
from diffprog import render as R
from . import report
from .cameras import look_at_point
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
    cams = fitter.cameras(np.array([0]))
    with dp.no_grad():
        shader = _FieldShader(fitter) if fitter.field is not None else "unlit"
        image = report.render_hard(fitter.verts.data, fitter.faces, fitter.colors.data, cams, fitter.background,
                                   shader)
    report.write_side_by_side(path, fitter.target_rgb[0], image[0, ..., :3])


def _field_outputs(fitter, out):
    """With a colour field: the field at the vertices (vertex colours), its shader for the
    comparison renders, and ``fitted.obj`` + ``fitted.mtl`` + ``texture.png`` (the field baked
    into a UV texture). Returns (colours, shader, unwrap method used)."""
    import tempfile
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
    with tempfile.TemporaryDirectory(dir=out) as scratch:      # written whole, then moved into place
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
    """Write the mesh, images, loss plot and metrics; return the metrics."""
    verts, faces, colors = fitter.verts.data, fitter.faces, np.clip(fitter.colors.data, 0, 1)
    shader, field = "unlit", fitter.field
    if field is not None:
        colors, shader, unwrap = _field_outputs(fitter, out)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)
    for name in ("fitted.ply",) if field is not None else ("fitted.obj", "fitted.ply"):
        atomic_write(os.path.join(out, name), lambda temporary: R.save_mesh(mesh, temporary))
    background = fitter.background
    views = scene.held_out_views or scene.fit_views
    photos = held_out if held_out is not None else read_views(scene, fitter.size, views)
    with dp.no_grad():
        images = report.render_antialiased(verts, faces, colors, np.stack([v.camera_to_world for v in views]),
                                           np.array([v.fov for v in views]), fitter.size, background, shader=shader)
    photo_rgb = report.composite(photos, background)
    prefix = "held_out" if held_out is not None else "fit_view"
    for view, photo, image in zip(views, photo_rgb, images):
        stem = os.path.splitext(os.path.basename(view.image))[0]
        report.write_side_by_side(os.path.join(out, f"{prefix}_{stem}.png"), photo, image[..., :3])
    mask = photos[..., 3] > 0.5
    metrics = {f"{prefix}_silhouette_iou": float(np.mean([silhouette_iou(i[..., 3], p[..., 3])
                                                          for i, p in zip(images, photos)])),
               f"{prefix}_masked_psnr": masked_psnr(images[..., :3], photo_rgb, mask)}
    if reference is not None:
        metrics["chamfer_over_diagonal"] = chamfer_over_diagonal(verts, faces, reference.verts.data, reference.faces)
    if field is not None:
        metrics["texture_unwrap"] = unwrap
    template = fitter.template_vertices()
    if template is not None and template.shape == verts.shape:
        metrics["template_vertices_unmoved"] = float(np.mean(np.all(verts == template, axis=1)))
    metrics.update(iterations=fitter.iteration, vertices=int(len(verts)), faces=int(len(faces)),
                   final_loss=fitter.history["total"][-1] if fitter.history["total"] else float("nan"),
                   seconds=round(fitter.seconds, 3), cpu_seconds=round(fitter.cpu_seconds, 3))
    center = look_at_point(fitter.camera_to_world)
    distance = float(np.mean(np.linalg.norm(fitter.camera_to_world[:, :3, 3] - center, axis=1)))
    report.write_turntable(os.path.join(out, "turntable.gif"), verts, faces, colors, center, distance,
                           float(fitter.fov[0]), max(fitter.size, 128), scene["output.turntable_frames"], background)
    report.write_loss_plot(os.path.join(out, "loss_curve.png"), fitter.history, scene.sections["loss"])
    write_json(os.path.join(out, "metrics.json"), metrics)
    return metrics
