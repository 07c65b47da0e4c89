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
from .initial import initial_mesh
from .remesh import remesh
from .shading import render_unlit
from .sh_lighting import neutral_lighting, shade_vertices

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
        every = schedule["remesh_every"]
        last = int(schedule["remesh_until"] * self.geometry_iterations)
        self.remesh_at = set(range(every, last + 1, every)) if every else set()
        self.shading = render["shading"]
        verts, faces = initial_mesh(scene, self.camera_to_world, self.fov, self.target_alpha)
        # Remeshing lengths are fractions of the starting mesh's bounding-box diagonal.
        self.diagonal = float(np.linalg.norm(verts.max(0) - verts.min(0)))
        if mesh["initial"] == "visual_hull":            # marching-tetrahedra triangles: make them even
            verts, faces, _ = remesh(verts, faces, self.edge_length(0), iterations=3)
        colors = np.broadcast_to(np.asarray(mesh["initial_color"], float), verts.shape).copy()
        self._set_parameters(verts, faces, colors, np.zeros((len(self.views), 3)), np.zeros((len(self.views), 3)),
                             sh=neutral_lighting() if self.shading == "albedo_sh" else None)

    # ---- set-up -----------------------------------------------------------------------------
    def edge_length(self, iteration):
        """The remeshing target edge length (world units) at ``iteration`` (geometric in between)."""
        start, end = self.settings["schedule"]["edge_length"]
        last = max(max(self.remesh_at, default=1), 1)
        return self.diagonal * start * (end / start) ** min(iteration / last, 1.0)

    @property
    def in_color_stage(self):
        """True once the colour-only stage has begun (its first step has run)."""
        return self.iteration > self.geometry_iterations

    def _set_parameters(self, verts, faces, colors, rotation, translation, color_stage=False, sh=None):
        """Fresh parameters and optimizers for this mesh. The vertices are optimized as Large Steps
        parameters ``u = (I + lambda L) x`` when ``schedule.large_steps_lambda > 0``."""
        self.faces = np.asarray(faces, np.int64)
        optimize = {"colors"} if color_stage else self.optimize
        schedule = self.settings["schedule"]
        lam = schedule["large_steps_lambda"]
        fit_vertices = "vertices" in optimize
        self.large_steps = optim.LargeSteps(self.faces, len(verts), lambda_=lam) if fit_vertices and lam > 0 else None
        self.verts = dp.tensor(np.asarray(verts, float), requires_grad=fit_vertices and self.large_steps is None)
        self.u = self.large_steps.parameter(self.verts.data) if self.large_steps is not None else None
        self.colors = dp.tensor(np.asarray(colors, float), requires_grad="colors" in optimize)
        self.sh = None if sh is None else dp.tensor(np.asarray(sh, float), requires_grad="colors" in optimize)
        refine = "cameras" in optimize
        self.rotation = dp.tensor(np.asarray(rotation, float), requires_grad=refine)
        self.translation = dp.tensor(np.asarray(translation, float), requires_grad=refine)
        lr = schedule["learning_rate"]
        geometry, appearance = [], []
        if fit_vertices:
            geometry.append({"params": [self.u if self.u is not None else self.verts], "lr": lr})
        color_lr = schedule["color_learning_rate"] or lr
        if self.colors.requires_grad:
            appearance.append({"params": [self.colors], "lr": color_lr})
        if self.sh is not None and self.sh.requires_grad:
            appearance.append({"params": [self.sh], "lr": color_lr})
        if refine:
            appearance.append({"params": [self.rotation, self.translation], "lr": schedule["camera_learning_rate"]})
        if not geometry and not appearance:
            raise ValueError(f"{self.scene.path}: mesh.optimize is empty; expected some of "
                             f"'vertices', 'colors', 'cameras'")
        kind = schedule["optimizer"]
        if kind == "sgd":
            self.optimizer = optim.SGD(geometry + appearance, lr=lr, momentum=schedule["momentum"])
        elif kind == "adam" or not geometry:
            self.optimizer = optim.Adam(geometry + appearance, lr=lr)
        else:        # adam_uniform: the uniform variant for the geometry, plain Adam for the rest
            parts = [optim.AdamUniform(geometry, lr=lr)] + ([optim.Adam(appearance, lr=lr)] if appearance else [])
            self.optimizer = _Optimizers(parts)
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

    def vertices(self):
        """(V, 3) Tensor of the current vertex positions (differentiable in the optimized parameters)."""
        return self.large_steps.vertices(self.u) if self.large_steps is not None else self.verts

    def vertex_colors(self, verts):
        """(V, 3) colours the renderer shows: the vertex colours, or albedo x SH lighting."""
        if self.sh is None:
            return self.colors
        return shade_vertices(verts, self.faces, self.colors, self.sh)

    def shown_colors(self):
        """(V, 3) array of the colours the current mesh shows (lit when shading is albedo_sh)."""
        with dp.no_grad():
            return np.asarray(self.vertex_colors(dp.tensor(self.verts.data)).data)

    def mesh(self):
        verts = self.vertices()
        return R.Mesh(verts, self.faces, colors=self.vertex_colors(verts), requires_grad=False)

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
        colors = R.interpolate(self.vertex_colors(dp.tensor(self.verts.data)), self.faces, fragments)
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
        if self.iteration in self.remesh_at:
            self.remesh()
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
        if self.large_steps is not None:
            self.verts = dp.tensor(self.large_steps.solve(self.u.data))
        values = {name: float(value.data) for name, value in terms.items()}
        for name in LOSS_TERMS:
            self.history[name].append(values.get(name, np.nan))
        self.history["total"].append(float(total.data))
        self.iteration += 1
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.process_time() - cpu_started
        return values

    def _sh_data(self):
        return None if self.sh is None else self.sh.data

    def _begin_color_stage(self):
        verts, faces, colors = self.verts.data, self.faces, self.colors.data
        if self.settings["schedule"]["color_subdivide"]:
            finer = R.subdivide(R.Mesh(verts, faces, colors=colors, requires_grad=False))
            verts, faces, colors = finer.verts.data, finer.faces, finer.colors.data
        self._set_parameters(verts, faces, colors, self.rotation.data, self.translation.data, color_stage=True,
                             sh=self._sh_data())

    def subdivide(self):
        """Split every triangle in four (midpoints; colours interpolated); the optimizer restarts."""
        finer = R.subdivide(R.Mesh(self.verts.data, self.faces, colors=self.colors.data, requires_grad=False))
        self._set_parameters(finer.verts.data, finer.faces, finer.colors.data, self.rotation.data,
                             self.translation.data, sh=self._sh_data())

    def remesh(self):
        """Remesh toward the current target edge length, carrying the colours and the optimizer's
        per-vertex moments to the new vertices (its step counts and other state are kept)."""
        carried = {"colors": self.colors.data}
        per_vertex = {}
        for name, tensor in (("geometry", self.u if self.u is not None else self.verts), ("colors", self.colors)):
            state = self.optimizer.state.get(id(tensor), {})
            per_vertex[name] = {k: v for k, v in state.items() if np.ndim(v) == 2 and len(v) == len(self.verts.data)}
            carried.update({f"{name}.{k}": v for k, v in per_vertex[name].items()})
            per_vertex[name]["__rest"] = {k: v for k, v in state.items() if k not in per_vertex[name]}
        verts, faces, carried = remesh(self.verts.data, self.faces, self.edge_length(self.iteration), carried,
                                       iterations=2)
        self._set_parameters(verts, faces, carried["colors"], self.rotation.data, self.translation.data,
                             sh=self._sh_data())
        for name, tensor in (("geometry", self.u if self.u is not None else self.verts), ("colors", self.colors)):
            rest = per_vertex[name].pop("__rest")
            if not per_vertex[name] and not rest:
                continue
            state = dict(rest)
            state.update({k: carried[f"{name}.{k}"] for k in per_vertex[name]})
            self.optimizer.state[id(tensor)] = state

    # ---- checkpoints -------------------------------------------------------------------------
    def state(self):
        arrays = {"iteration": np.array(self.iteration), "seconds": np.array(self.seconds),
                  "cpu_seconds": np.array(self.cpu_seconds),
                  "verts": self.verts.data, "faces": self.faces, "colors": self.colors.data,
                  "sh": self.sh.data if self.sh is not None else np.zeros((0, 3)),
                  "u": self.u.data if self.u is not None else np.zeros((0, 3)),
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
        sh = arrays["sh"] if "sh" in arrays and len(arrays["sh"]) else None
        self._set_parameters(arrays["verts"], arrays["faces"], arrays["colors"], arrays["rotation"],
                             arrays["translation"], color_stage=self.in_color_stage, sh=sh)
        if self.u is not None and "u" in arrays and arrays["u"].shape == self.u.shape:
            self.u.data[...] = arrays["u"]            # exactly, not M (M^-1 u): a resumed run repeats
            self.verts = dp.tensor(self.large_steps.solve(self.u.data))
        self.optimizer.load_state_dict({key[len("optimizer."):]: value for key, value in arrays.items()
                                        if key.startswith("optimizer.")})
        self.seconds, self.cpu_seconds = float(arrays["seconds"]), float(arrays["cpu_seconds"])
        self.history = {name: arrays[f"history.{name}"].tolist() for name in self.history}


def euler_characteristic(faces):
    """V - E + F of a triangle mesh (2 - 2 genus for one closed surface)."""
    faces = np.asarray(faces)
    edges = np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1), axis=0)
    return int(len(np.unique(faces)) - len(edges) + len(faces))


class _Optimizers:
    """Several optimizers stepped as one (the geometry's AdamUniform beside the colours' Adam)."""

    def __init__(self, parts):
        self.parts = parts

    @property
    def param_groups(self):
        return [group for part in self.parts for group in part.param_groups]

    @property
    def state(self):
        merged = {}
        for part in self.parts:
            merged.update(part.state)
        return _StateView(self.parts, merged)

    def zero_grad(self):
        for part in self.parts:
            part.zero_grad()

    def step(self):
        for part in self.parts:
            part.step()

    def state_dict(self):
        return {f"{i}.{key}": value for i, part in enumerate(self.parts) for key, value in part.state_dict().items()}

    def load_state_dict(self, state_dict):
        for i, part in enumerate(self.parts):
            part.load_state_dict({key.split(".", 1)[1]: value for key, value in state_dict.items()
                                  if key.split(".", 1)[0] == str(i)})


class _StateView(dict):
    """``optimizer.state`` of :class:`_Optimizers`: reads merged, writes to the part owning the parameter."""

    def __init__(self, parts, merged):
        super().__init__(merged)
        self.parts = parts

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        for part in self.parts:
            if any(id(p) == key for group in part.param_groups for p in group["params"]):
                part.state[key] = value


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
        image = report.render_hard(fitter.verts.data, fitter.faces, fitter.shown_colors(), cams, fitter.background)
    report.write_side_by_side(path, fitter.target_rgb[0], image[0, ..., :3])


def _finish(fitter, scene, out, held_out, reference):
    """Write the mesh, images, loss plot and metrics; return the metrics."""
    verts, faces, colors = fitter.verts.data, fitter.faces, np.clip(fitter.shown_colors(), 0, 1)
    mesh = R.Mesh(verts, faces, colors=colors, requires_grad=False)
    for name in ("fitted.obj", "fitted.ply"):
        atomic_write(os.path.join(out, name), lambda temporary: R.save_mesh(mesh, temporary))
    if fitter.sh is not None:          # the lit colours above; the albedo and the lighting apart
        albedo = R.Mesh(verts, faces, colors=np.clip(fitter.colors.data, 0, 1), requires_grad=False)
        atomic_write(os.path.join(out, "albedo.ply"), lambda temporary: R.save_mesh(albedo, temporary))
        write_json(os.path.join(out, "lighting.json"),
                   {"sh_coefficients": fitter.sh.data.tolist(), "convention": "diffprog.fit.sh_lighting.sh_basis "
                    "(9 real SH of bands 0-2) x RGB; colour = albedo * (sh_basis(normal) @ coefficients)"})
    background = fitter.background
    views = scene.held_out_views or scene.fit_views
    photos = held_out if held_out is not None else read_views(scene, fitter.size, views)
    with dp.no_grad():
        images = report.render_antialiased(verts, faces, colors, np.stack([v.camera_to_world for v in views]),
                                           np.array([v.fov for v in views]), fitter.size, background)
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
        metrics["reference_euler_characteristic"] = euler_characteristic(reference.faces)
    metrics["euler_characteristic"] = euler_characteristic(faces)
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
