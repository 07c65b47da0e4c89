"""The fitting job: photographs + scene file -> fitted mesh, images, metrics (``run_scene``).

One step renders a few randomly chosen fitting views with the soft rasterizer, compares them
with the photographs (mean squared silhouette and colour errors), adds the mesh regularizers
(edge length, normal consistency, Laplacian smoothing), backpropagates to the vertices, vertex
colours and (optionally) camera refinements, and takes an optimizer step; an optional last stage
fits the colours alone through the z-buffer rasterizer. The views of step ``i``
come from ``numpy.random.default_rng([seed, i])``, so a resumed run repeats an uninterrupted one
exactly. The optimization state is checkpointed every ``schedule.checkpoint_every`` steps and
on Ctrl-C (the step in flight finishes first; a second Ctrl-C stops at once).
"""
import json
import os
import signal
import threading
import time

import numpy as np

import diffprog.autodiff as dp
from diffprog import optim
from diffprog import render as R
from diffprog.io import load_scene, read_views
from . import report
from .cameras import cameras_from_matrices, look_at_point, silhouette_radius
from .files import atomic_write, read_arrays, write_arrays, write_json
from .metrics import chamfer_over_diagonal, masked_psnr, silhouette_iou
from .shading import render_unlit

LOSS_TERMS = ("silhouette", "rgb", "edge", "normal_consistency", "laplacian")
CHECKPOINT = "checkpoint.npz"
# Keys that may change between an interrupted run and its resumption without changing the result.
_FREE_KEYS = {"output.directory", "output.turntable_frames", "schedule.preview_every", "schedule.checkpoint_every"}


def _configuration(scene):
    """The scene's settings that determine the optimization (JSON text), for checkpoint checks."""
    flat = {f"{section}.{key}": value for section, values in scene.sections.items() for key, value in values.items()
            if f"{section}.{key}" not in _FREE_KEYS}
    flat["views"] = [[os.path.basename(v.image), bool(v.held_out)] for v in scene.views]
    return json.dumps(flat, sort_keys=True, default=str)


class Fitter:
    """The state of one fit: the mesh (``verts``, ``faces``, ``colors``), camera refinements, the
    optimizer and the loss history; ``step()`` advances it by one iteration.

    Steps ``0 .. schedule.iterations - 1`` fit the geometry and colours with the soft rasterizer;
    the ``schedule.color_iterations`` steps after them fit the colours alone against every fitting
    view, through the z-buffer rasterizer (its fragments are computed once: the geometry is frozen).
    """

    def __init__(self, scene, photos):
        self.scene = scene
        self.settings = scene.sections
        render, schedule, mesh = self.settings["render"], self.settings["schedule"], self.settings["mesh"]
        self.views = scene.fit_views
        self.size = render["image_size"]
        self.background = np.asarray(render["background"], float)
        self.target_alpha = photos[..., 3]
        self.target_rgb = report.composite(photos, self.background)
        self.camera_to_world = np.stack([v.camera_to_world for v in self.views])
        self.fov = np.array([v.fov for v in self.views])
        self.optimize = set(mesh["optimize"])
        self.geometry_iterations = schedule["iterations"]
        self.iterations = schedule["iterations"] + schedule["color_iterations"]
        self.subdivide_at = sorted({int(round(f * self.geometry_iterations)) for f in schedule["subdivide_at"]}
                                   - {0, self.geometry_iterations})
        self.iteration = 0
        self.seconds = 0.0                      # wall-clock and process CPU time of the steps so far
        self.cpu_seconds = 0.0
        self.history = {name: [] for name in LOSS_TERMS + ("total",)}
        self._color_fragments = None
        verts, faces = self._initial_mesh()
        colors = np.broadcast_to(np.asarray(mesh["initial_color"], float), verts.shape).copy()
        self._set_parameters(verts, faces, colors, np.zeros((len(self.views), 3)), np.zeros((len(self.views), 3)))

    # ---- set-up -----------------------------------------------------------------------------
    def _initial_mesh(self):
        mesh = self.settings["mesh"]
        if mesh["initial"] != "ico_sphere":
            loaded = R.load_mesh(mesh["initial"], requires_grad=False)
            return np.asarray(loaded.verts.data, float), loaded.faces
        center = mesh["center"]
        center = look_at_point(self.camera_to_world) if center is None else np.asarray(center, float)
        radius = mesh["radius"]
        if radius is None:
            radius = silhouette_radius(self.camera_to_world, self.fov, self.target_alpha, center)
        sphere = R.ico_sphere(mesh["level"], radius=radius, center=center, requires_grad=False)
        return np.asarray(sphere.verts.data, float), sphere.faces

    @property
    def in_color_stage(self):
        """True once the colour-only stage has begun (its first step has run)."""
        return self.iteration > self.geometry_iterations

    def _set_parameters(self, verts, faces, colors, rotation, translation, color_stage=False):
        self.faces = np.asarray(faces, np.int64)
        optimize = {"colors"} if color_stage else self.optimize
        self.verts = dp.tensor(np.asarray(verts, float), requires_grad="vertices" in optimize)
        self.colors = dp.tensor(np.asarray(colors, float), requires_grad="colors" in optimize)
        refine = "cameras" in optimize
        self.rotation = dp.tensor(np.asarray(rotation, float), requires_grad=refine)
        self.translation = dp.tensor(np.asarray(translation, float), requires_grad=refine)
        schedule = self.settings["schedule"]
        lr = schedule["learning_rate"]
        groups = []
        if self.verts.requires_grad:
            groups.append({"params": [self.verts], "lr": lr})
        if self.colors.requires_grad:
            groups.append({"params": [self.colors], "lr": schedule["color_learning_rate"] or lr})
        if refine:
            groups.append({"params": [self.rotation, self.translation], "lr": schedule["camera_learning_rate"]})
        if not groups:
            raise ValueError(f"{self.scene.path}: mesh.optimize is empty; expected some of "
                             f"'vertices', 'colors', 'cameras'")
        if schedule["optimizer"] == "sgd":
            self.optimizer = optim.SGD(groups, lr=lr, momentum=schedule["momentum"])
        else:
            self.optimizer = optim.Adam(groups, lr=lr)
        self._color_fragments = None

    # ---- one iteration -----------------------------------------------------------------------
    def sigma(self, iteration):
        render = self.settings["render"]
        start, end = render["sigma"], render["sigma_final"] or render["sigma"]
        return start * (end / start) ** (min(iteration, self.geometry_iterations - 1)
                                         / max(self.geometry_iterations - 1, 1))

    def _decay(self):
        """Learning-rate factor of the current step within its stage (geometric decay)."""
        if self.iteration < self.geometry_iterations:
            progress = self.iteration / max(self.geometry_iterations - 1, 1)
        else:
            progress = (self.iteration - self.geometry_iterations) / max(self.iterations - self.geometry_iterations - 1, 1)
        return self.settings["schedule"]["learning_rate_decay"] ** progress

    def mesh(self):
        return R.Mesh(self.verts, self.faces, colors=self.colors, requires_grad=False)

    def cameras(self, views):
        refine = "cameras" in self.optimize
        return cameras_from_matrices(self.camera_to_world[views], self.fov[views], self.size,
                                     self.rotation[views] if refine else None,
                                     self.translation[views] if refine else None)

    def losses(self, views, sigma):
        """Unweighted loss terms (Tensors) for the fitting views ``views`` at softness ``sigma``."""
        render, weights = self.settings["render"], self.settings["loss"]
        mesh = self.mesh()
        terms = {}
        need_colors = weights["rgb"] > 0
        if weights["silhouette"] > 0 or need_colors:
            rasterizer = R.SoftRasterizer(sigma=sigma, gamma=render["gamma"],
                                          faces_per_pixel=render["faces_per_pixel"] or None,
                                          cull_backfaces=render["cull_backfaces"])
            image = render_unlit(mesh, self.cameras(views), rasterizer, self.background,
                                 silhouette_only=not need_colors)
            if weights["silhouette"] > 0:
                terms["silhouette"] = R.mse_loss(image[..., 3], self.target_alpha[views])
            if need_colors:
                terms["rgb"] = R.mse_loss(image[..., :3], self.target_rgb[views])
        if weights["edge"] > 0:
            terms["edge"] = R.edge_length(mesh)
        if weights["normal_consistency"] > 0:
            terms["normal_consistency"] = R.normal_consistency(mesh)
        if weights["laplacian"] > 0:
            terms["laplacian"] = R.laplacian_smoothing(mesh, method="uniform")
        return terms

    def color_losses(self):
        """The colour stage's loss: mean squared colour error over every fitting view (z-buffer)."""
        rasterizer = R.HardRasterizer()
        if self._color_fragments is None:
            with dp.no_grad():
                cams = self.cameras(np.arange(len(self.views)))
                mesh = R.Mesh(self.verts.data, self.faces, requires_grad=False)
                self._color_fragments = (R.rasterize(mesh, cams, rasterizer), cams)
        fragments, cams = self._color_fragments
        colors = R.interpolate(self.colors, self.faces, fragments)
        image = rasterizer.blend(fragments, colors, self.background)
        return {"rgb": R.mse_loss(image[..., :3], self.target_rgb)}

    def step(self):
        """One optimization step; returns the unweighted loss terms as floats."""
        started, cpu_started = time.perf_counter(), time.process_time()
        schedule, weights = self.settings["schedule"], self.settings["loss"]
        if self.iteration == self.geometry_iterations:
            self._begin_color_stage()
        if self.iteration in self.subdivide_at:
            self.subdivide()
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * self._decay()
        if self.iteration >= self.geometry_iterations:
            terms = self.color_losses()
            total = terms["rgb"]
        else:
            rng = np.random.default_rng([schedule["seed"], self.iteration])
            count = min(schedule["views_per_iteration"], len(self.views))
            views = np.sort(rng.choice(len(self.views), size=count, replace=False))
            terms = self.losses(views, self.sigma(self.iteration))
            total = sum(weights[name] * value for name, value in terms.items())
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        values = {name: float(value.data) for name, value in terms.items()}
        for name in LOSS_TERMS:
            self.history[name].append(values.get(name, np.nan))
        self.history["total"].append(float(total.data))
        self.iteration += 1
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.process_time() - cpu_started
        return values

    def _begin_color_stage(self):
        verts, faces, colors = self.verts.data, self.faces, self.colors.data
        if self.settings["schedule"]["color_subdivide"]:
            finer = R.subdivide(R.Mesh(verts, faces, colors=colors, requires_grad=False))
            verts, faces, colors = finer.verts.data, finer.faces, finer.colors.data
        self._set_parameters(verts, faces, colors, self.rotation.data, self.translation.data, color_stage=True)

    def subdivide(self):
        """Split every triangle in four (midpoints; colours interpolated); the optimizer restarts."""
        finer = R.subdivide(R.Mesh(self.verts.data, self.faces, colors=self.colors.data, requires_grad=False))
        self._set_parameters(finer.verts.data, finer.faces, finer.colors.data, self.rotation.data,
                             self.translation.data)

    # ---- checkpoints -------------------------------------------------------------------------
    def state(self):
        arrays = {"iteration": np.array(self.iteration), "seconds": np.array(self.seconds),
                  "cpu_seconds": np.array(self.cpu_seconds),
                  "verts": self.verts.data, "faces": self.faces, "colors": self.colors.data,
                  "rotation": self.rotation.data, "translation": self.translation.data,
                  "configuration": np.array(_configuration(self.scene))}
        arrays.update({f"history.{name}": np.array(values, float) for name, values in self.history.items()})
        arrays.update({f"optimizer.{key}": value for key, value in self.optimizer.state_dict().items()})
        return arrays

    def load_state(self, arrays, path):
        saved = str(arrays["configuration"])
        if saved != _configuration(self.scene):
            old, new = json.loads(saved), json.loads(_configuration(self.scene))
            changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
            raise ValueError(f"checkpoint {path!r} was written with different settings ({', '.join(changed)}); "
                             f"run without --resume to start over")
        self.iteration = int(arrays["iteration"])
        self._set_parameters(arrays["verts"], arrays["faces"], arrays["colors"], arrays["rotation"],
                             arrays["translation"], color_stage=self.in_color_stage)
        self.optimizer.load_state_dict({key[len("optimizer."):]: value for key, value in arrays.items()
                                        if key.startswith("optimizer.")})
        self.seconds, self.cpu_seconds = float(arrays["seconds"]), float(arrays["cpu_seconds"])
        self.history = {name: arrays[f"history.{name}"].tolist() for name in self.history}


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
        image = report.render_hard(fitter.verts.data, fitter.faces, fitter.colors.data, cams, fitter.background)
    report.write_side_by_side(path, fitter.target_rgb[0], image[0, ..., :3])


def _finish(fitter, scene, out, held_out, reference):
    """Write the mesh, images, loss plot and metrics; return the metrics."""
    verts, faces, colors = fitter.verts.data, fitter.faces, np.clip(fitter.colors.data, 0, 1)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)
    for name in ("fitted.obj", "fitted.ply"):
        atomic_write(os.path.join(out, name), lambda temporary: R.save_mesh(mesh, temporary))
    background = fitter.background
    views = scene.held_out_views or scene.fit_views
    photos = held_out if held_out is not None else read_views(scene, fitter.size, views)
    with dp.no_grad():
        images = report.render_antialiased(verts, faces, colors, np.stack([v.camera_to_world for v in views]),
                                           np.array([v.fov for v in views]), fitter.size, background)
    photo_rgb = report.composite(photos, background)
    prefix = "held_out" if held_out is not None else "fit_view"
    report.write_view_comparisons(out, prefix, [os.path.splitext(os.path.basename(v.image))[0] for v in views],
                                  photos, images, background)
    mask = photos[..., 3] > 0.5
    metrics = {f"{prefix}_silhouette_iou": float(np.mean([silhouette_iou(i[..., 3], p[..., 3])
                                                          for i, p in zip(images, photos)])),
               f"{prefix}_masked_psnr": masked_psnr(images[..., :3], photo_rgb, mask)}
    if reference is not None:
        metrics["chamfer_over_diagonal"] = chamfer_over_diagonal(verts, faces, reference.verts.data, reference.faces)
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
