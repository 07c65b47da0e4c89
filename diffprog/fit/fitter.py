"""The fitter: the state of one fit (mesh, per-view parameters, optimizer) and its step.

One step renders a few randomly chosen fitting views with the soft rasterizer, compares them
with the photographs (mean squared silhouette and colour errors), adds the mesh regularizers
(edge length, normal consistency, Laplacian smoothing), backpropagates to the parameter groups
that ``mesh.optimize`` names and takes an optimizer step; an optional last stage fits the
colours alone through the z-buffer rasterizer. The views of step ``i`` come from
``numpy.random.default_rng([seed, i])``, so a resumed run repeats an uninterrupted one exactly.

Where to plug in:
- a parameter group (a name of ``mesh.optimize``): an entry of ``PARAMETER_GROUPS`` (its tensors'
  attribute names and its learning-rate key), their starting values in ``Fitter._start_values``,
  and their use in ``Fitter.render`` / ``Fitter.losses``; checkpoints and the optimizer follow;
- a shading mode: ``Fitter.render`` (the one place a fitting view is rendered); ``render.shading =
  "field"`` shades with ``self.field`` (a ``ColorField``, its weights a group of the optimizer);
- template edits (``template.l1 > 0``): the vertices are ``self.template.verts()`` = template +
  offsets, the offsets in ``self.template_optimizer`` whose ``prox=`` hook takes the L1 steps;
- an initializer: ``diffprog.fit.initial.initial_mesh``;
- a loss term: ``LOSS_TERMS`` and ``Fitter.losses``.

The default recipe (issue 15): the vertices are optimized as Large Steps parameters
``u = (I + lambda L) x`` (``self.u``; ``self.verts`` holds ``x``) with the uniform Adam; every
``schedule.remesh_every`` steps ``remesh()`` remeshes toward a shrinking target edge length, carrying
the colours and the optimizer's per-vertex moments; ``render.shading = "albedo_sh"`` shows
``colors`` (the albedo) times second-order SH lighting ``self.sh`` (9 x 3, in the colours' group).
"""
import json
import os
import time

import numpy as np

import diffprog.autodiff as dp
from diffprog import optim
from diffprog import render as R
from . import report
from .cameras import look_at_point, view_cameras
from .color_field import ColorField, field_shader, shade_field
from .initial import HULL_IMAGE_SIZE, initial_mesh, orient_outward
from .remesh import remesh
from .shading import exposed, render_unlit
from .sh_lighting import neutral_lighting, sh_basis, shade_vertices
from .template import TemplateOffsets, gaussian_blur

# Without render.sigma_final, sigma shrinks geometrically to sigma / SIGMA_SHARPENING over the geometry steps: a
# softer start gathers gradients from farther, a sharper end leaves less of the soft edge's outward reach.
SIGMA_SHARPENING = 4.0
LOSS_TERMS = ("silhouette", "rgb", "edge", "normal_consistency", "laplacian")
# name in mesh.optimize -> (Fitter attributes holding its Tensors, [schedule] key of its learning rate);
# a learning-rate key whose value is None falls back to schedule.learning_rate.
PARAMETER_GROUPS = {
    "vertices": (("verts",), "learning_rate"),
    "colors": (("colors",), "color_learning_rate"),
    "cameras": (("rotation", "translation"), "camera_learning_rate"),
    "exposure": (("log_gain", "bias"), "exposure_learning_rate"),
    "mask_offset": (("mask_offset",), "mask_offset_learning_rate"),
}
# Keys that may change between an interrupted run and its resumption without changing the result.
FREE_KEYS = {"output.directory", "output.turntable_frames", "schedule.preview_every", "schedule.checkpoint_every"}


def configuration(scene):
    """The scene's settings that determine the optimization (JSON text), for checkpoint checks."""
    flat = {f"{section}.{key}": value for section, values in scene.sections.items() for key, value in values.items()
            if f"{section}.{key}" not in FREE_KEYS}
    flat["views"] = [[os.path.basename(v.image), bool(v.held_out)] for v in scene.views]
    return json.dumps(flat, sort_keys=True, default=str)


def mask_signed_distance(alpha):
    """(H, W) signed distance in pixels from each pixel's centre to a mask's outline (positive inside),
    for a mask of coverages in [0, 1] (binary or anti-aliased). A pixel the outline crosses (0 < alpha
    < 1) is ``alpha - 0.5`` from it; a pixel near one (within 1.5 pixels) is its distance to the nearest
    such pixel plus that pixel's own; any other pixel is half a pixel farther than the distance to the
    nearest pixel of the other side (``scipy.ndimage.distance_transform_edt``)."""
    from scipy import ndimage
    alpha = np.asarray(alpha, float)
    inside = alpha >= 0.5
    if inside.all() or not inside.any():
        return np.full(alpha.shape, np.inf if inside.all() else -np.inf)
    sign = np.where(inside, 1.0, -1.0)
    distance = sign * (np.where(inside, ndimage.distance_transform_edt(inside), ndimage.distance_transform_edt(~inside))
                       - 0.5)
    crossed = (alpha > 0) & (alpha < 1)
    if crossed.any():
        near, (rows, cols) = ndimage.distance_transform_edt(~crossed, return_indices=True)
        distance = np.where(near <= 1.5, sign * near + alpha[rows, cols] - 0.5, distance)
    return distance


class Fitter:
    """The state of one fit: the mesh (``verts``, ``faces``, ``colors``), per-fitting-view camera
    refinements (``rotation``: (V, 3) world-frame axis-angle radians about the camera centre;
    ``translation``: (V, 3) in units of the camera's distance to the point the cameras look at;
    see ``camera_refinements``; fitted from ``schedule.camera_start`` of the run on) and exposures
    (``log_gain``, ``bias``: (V, 3)), the optimizer and the loss history; ``step()`` advances it by
    one iteration. ``photos``: the fitting views' RGBA photographs (an (N, H, W, 4) array, or a
    list of arrays when their sizes differ), as ``read_views`` returns them.

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
        self.target_alpha = [np.asarray(p)[..., 3] for p in photos]
        self.target_rgb = [report.composite(np.asarray(p), self.background) for p in photos]
        self.camera_to_world = np.stack([v.camera_to_world for v in self.views])
        intrinsics = [v.intrinsics(self.size) for v in self.views]
        self.image_sizes = [size for size, _, _ in intrinsics]
        self.focal = np.stack([focal for _, focal, _ in intrinsics])
        self.principal_point = np.stack([center for _, _, center in intrinsics])
        for index, (size, alpha) in enumerate(zip(self.image_sizes, self.target_alpha)):
            if alpha.shape != tuple(size):
                raise ValueError(f"photos[{index}]: shape {alpha.shape}, expected {tuple(size)} (render.image_size "
                                 f"{self.size} as the long side of {self.views[index].image})")
        outward = self.camera_to_world[:, :3, 3] - look_at_point(self.camera_to_world)
        self.distance = np.linalg.norm(outward, axis=1)
        self.outward = outward / np.maximum(self.distance, 1e-300)[:, None]   # (V, 3) unit: look-at point -> camera
        self.optimize = set(mesh["optimize"] or ())
        self.exposure = "exposure" in self.optimize
        self.geometry_iterations = schedule["iterations"]
        self.iterations = schedule["iterations"] + schedule["color_iterations"]
        self.subdivide_at = sorted({int(round(f * self.geometry_iterations)) for f in schedule["subdivide_at"]}
                                   - {0, self.geometry_iterations})
        self.iteration = 0
        self.seconds = 0.0                      # wall-clock and process CPU time of the steps so far
        self.cpu_seconds = 0.0
        self.history = {name: [] for name in LOSS_TERMS + ("total",)}
        self._color_fragments, self._color_basis = {}, None
        self.sh, self.u, self.large_steps = None, None, None
        every = schedule["remesh_every"]
        last = int(schedule["remesh_until"] * self.geometry_iterations)
        self.remesh_at = set(range(every, last + 1, every)) if every and not self.template_mode else set()
        start = self._start_values()
        # Remeshing lengths are fractions of the starting mesh's bounding-box diagonal.
        self.diagonal = float(np.linalg.norm(start["verts"].max(0) - start["verts"].min(0)))
        if mesh["initial"] == "visual_hull" and not self.template_mode:     # marching-tetrahedra triangles
            verts, faces, carried = remesh(start["verts"], start["faces"], self.edge_length(0),
                                           {"colors": start["colors"]}, iterations=3)
            start.update(verts=verts, faces=faces, colors=carried["colors"])
        self.field = self._make_field(start) if render["shading"] == "field" else None
        self._set_parameters(start)

    @property
    def fov(self):
        """(V,) horizontal fields of view in degrees of the fitting views."""
        return np.array([v.fov for v in self.views])

    # ---- parameters ----------------------------------------------------------------------------
    def _start_values(self):
        """Starting values of every parameter group's tensors (attribute name -> array)."""
        hull_size = max(self.size, HULL_IMAGE_SIZE)

        def hull_views():
            intrinsics = [view.intrinsics(hull_size) for view in self.views]
            return ([view.read(hull_size)[..., 3] for view in self.views],
                    np.stack([focal for _, focal, _ in intrinsics]), np.stack([center for _, _, center in intrinsics]))

        verts, faces = initial_mesh(self.settings["mesh"], self.camera_to_world, self.focal.mean(axis=1),
                                    self.target_alpha, hull_views=hull_views)
        if self.settings["render"]["cull_backfaces"]:
            initial = self.settings["mesh"]["initial"]
            faces = orient_outward(verts, faces, f"mesh.initial = {initial!r}" if initial in ("ico_sphere", "visual_hull")
                                   else f"mesh.initial {initial!r}")
        colors = np.broadcast_to(np.asarray(self.settings["mesh"]["initial_color"], float), verts.shape).copy()
        n = len(self.views)
        values = {"verts": verts, "faces": faces, "colors": colors, "rotation": np.zeros((n, 3)),
                  "translation": np.zeros((n, 3)), "log_gain": np.zeros((n, 3)), "bias": np.zeros((n, 3)),
                  "mask_offset": np.zeros(n)}
        if self.settings["render"]["shading"] == "albedo_sh":
            values["sh"] = neutral_lighting()
        return values

    def edge_length(self, iteration):
        """The remeshing target edge length (world units) at ``iteration`` (geometric in between)."""
        start, end = self.settings["schedule"]["edge_length"]
        last = max(max(self.remesh_at, default=1), 1)
        return self.diagonal * start * (end / start) ** min(iteration / last, 1.0)

    def _make_field(self, start):
        options = dict(self.settings["color_field"])
        uv = options.pop("uv")
        for key in ("learning_rate", "texture_size", "unwrap"):
            options.pop(key)
        if not uv:
            return ColorField.around(start["verts"], **options, seed=self.settings["schedule"]["seed"])
        if self.settings["mesh"]["initial"] in ("ico_sphere", "visual_hull"):
            raise ValueError(f"{self.scene.path}: color_field.uv = true needs a mesh.initial file with UVs")
        loaded = R.load_mesh(self.settings["mesh"]["initial"], requires_grad=False)
        if loaded.uvs is None:
            raise ValueError(f"{self.scene.path}: color_field.uv = true but {self.settings['mesh']['initial']!r} "
                             f"has no UVs")
        self.uv_source = (loaded.uvs.data, loaded.face_uvs)
        return ColorField.around(loaded.uvs.data, **options, seed=self.settings["schedule"]["seed"])

    @property
    def template_mode(self):
        return self.settings["template"]["l1"] > 0

    def parameter_values(self):
        """Current values (attribute name -> array) of every parameter group's tensors and the faces
        (with the template, its offsets and the refit's support; with a field, its weights)."""
        values = {name: getattr(self, name).data for names, _ in PARAMETER_GROUPS.values() for name in names}
        values["faces"] = self.faces
        if self.sh is not None:
            values["sh"] = self.sh.data
        if self.u is not None:
            values["u"] = self.u.data
        if self.template is not None:
            values["template"] = self.template.template
            values["offsets"] = self.template.offsets.data
            if self.template.hook.support is not None:
                values["support"] = self.template.hook.support
        if self.field is not None:
            values.update({f"field.{k}": v for k, v in self.field.state_dict().items()})
        return values

    @property
    def in_color_stage(self):
        """True once the colour-only stage has begun (its first step has run)."""
        return self.iteration > self.geometry_iterations

    def _set_parameters(self, values, color_stage=False):
        """Make every parameter group's tensors from ``values`` and a fresh optimizer over the
        groups being optimized (only ``colors`` in the colour stage)."""
        self.faces = np.asarray(values["faces"], np.int64)
        optimize = {"colors"} if color_stage else self.optimize
        schedule = self.settings["schedule"]
        groups, self.group_names = [], []
        self.template, self.template_optimizer = None, None
        lam = schedule["large_steps_lambda"]
        large_steps = "vertices" in optimize and not self.template_mode and lam > 0
        self.large_steps, self.u = None, None
        for group, (names, rate_key) in PARAMETER_GROUPS.items():
            trained = group in optimize
            offsets = group == "vertices" and self.template_mode
            parameterized = group == "vertices" and large_steps
            tensors = []
            for name in names:
                setattr(self, name, dp.tensor(np.asarray(values[name], float),
                                              requires_grad=trained and not offsets and not parameterized))
                if name != "bias" or self.settings["render"]["exposure_bias"]:
                    tensors.append(getattr(self, name))
            if parameterized:
                self.large_steps = optim.LargeSteps(self.faces, len(self.verts.data), lambda_=lam)
                self.u = self.large_steps.parameter(self.verts.data)
                if "u" in values and np.shape(values["u"]) == self.u.shape:
                    self.u.data[...] = values["u"]         # exactly, not M (M^-1 u): a resumed run repeats
                    self.verts = dp.tensor(self.large_steps.solve(self.u.data))
                tensors = [self.u]
            if group == "colors" and values.get("sh") is not None:
                self.sh = dp.tensor(np.asarray(values["sh"], float), requires_grad=trained)
                tensors = tensors + [self.sh]
            elif group == "colors":
                self.sh = None
            rate = schedule[rate_key] or (schedule["color_learning_rate"] if group == "exposure" else None)
            if trained and offsets:
                self._set_template(values, rate or schedule["learning_rate"])
            elif trained:
                groups.append({"params": tensors, "lr": rate or schedule["learning_rate"]})
                self.group_names.append(group)
        if self.field is not None:
            saved = {k[len("field."):]: v for k, v in values.items() if k.startswith("field.")}
            if saved:
                self.field.load_state_dict(saved)
            if "colors" in optimize:                           # the field replaces the vertex colours
                kept = [(n, g) for n, g in zip(self.group_names, groups) if n != "colors"]
                self.group_names, groups = [n for n, _ in kept] + ["color_field"], [g for _, g in kept]
                groups.append({"params": self.field.parameters(), "lr": self.settings["color_field"]["learning_rate"]})
        if not groups and self.template_optimizer is not None:
            groups = None
        elif not groups:
            raise ValueError(f"{self.scene.path}: mesh.optimize is empty; expected some of "
                             f"{', '.join(repr(g) for g in PARAMETER_GROUPS)}")
        if groups is None:
            self.optimizer = None
        elif schedule["optimizer"] == "sgd":
            self.optimizer = optim.SGD(groups, lr=schedule["learning_rate"], momentum=schedule["momentum"])
        elif schedule["optimizer"] == "adam" or not any(g["params"][0] is self._vertex_leaf() for g in groups):
            self.optimizer = optim.Adam(groups, lr=schedule["learning_rate"])
        else:        # adam_uniform: the uniform variant for the vertices, plain Adam for the rest
            geometry = [g for g in groups if g["params"][0] is self._vertex_leaf()]
            rest = [g for g in groups if g["params"][0] is not self._vertex_leaf()]
            self.optimizer = _Optimizers([optim.AdamUniform(geometry, lr=schedule["learning_rate"])]
                                         + ([optim.Adam(rest, lr=schedule["learning_rate"])] if rest else []))
        self._color_fragments, self._color_basis = {}, None

    def _set_template(self, values, lr):
        """Offsets from the template (``mesh.initial``) with their own optimizer and prox hook."""
        settings, schedule = self.settings["template"], self.settings["schedule"]
        if self.subdivide_at:
            raise ValueError(f"{self.scene.path}: template.l1 > 0 keeps the template's vertices: "
                             f"schedule.subdivide_at must be empty")
        template = values.get("template", values["verts"])
        self.template = TemplateOffsets(template, self.faces, l1=settings["l1"], smoothness=settings["smoothness"])
        if "offsets" in values:
            self.template.offsets = dp.tensor(np.asarray(values["offsets"], float), requires_grad=True)
        if "support" in values:
            self.template.hook.restrict_to_support(np.where(values["support"], 1.0, 0.0))
        kind = "sgd" if schedule["optimizer"] == "sgd" else "adam"     # adam_uniform: plain Adam for offsets
        options = {"momentum": schedule["momentum"]} if kind == "sgd" else {}
        self.template_optimizer = self.template.optimizer(lr, kind=kind, **options)
        self.verts = self.template.verts().detach()

    def template_vertices(self):
        """The template's vertices (``mesh.initial``) of a template fit (``template.l1 > 0``), else None."""
        if not self.template_mode:
            return None
        return initial_mesh(self.settings["mesh"], self.camera_to_world, self.focal.mean(axis=1), self.target_alpha)[0]

    @property
    def refit_at(self):
        """First iteration of the template's relaxed-Lasso refit."""
        return int(round((1 - self.settings["template"]["refit"]) * self.geometry_iterations))

    # ---- rendering and losses ------------------------------------------------------------------
    def sigma(self, iteration):
        render = self.settings["render"]
        start = render["sigma"]
        end = render["sigma_final"] or start / SIGMA_SHARPENING
        return start * (end / start) ** (min(iteration, self.geometry_iterations - 1)
                                         / max(self.geometry_iterations - 1, 1))

    def _decay(self):
        """Learning-rate factor of the current step within its stage (geometric decay)."""
        if self.iteration < self.geometry_iterations:
            progress = self.iteration / max(self.geometry_iterations - 1, 1)
        else:
            progress = (self.iteration - self.geometry_iterations) / max(self.iterations - self.geometry_iterations - 1, 1)
        return self.settings["schedule"]["learning_rate_decay"] ** progress

    def _vertex_leaf(self):
        """The Tensor the optimizer moves for the vertices: ``u`` with Large Steps, else ``verts``."""
        return self.u if self.u is not None else self.verts

    def vertices(self):
        """(V, 3) Tensor of the current vertex positions (differentiable in what is optimized)."""
        if self.template is not None:
            return self.template.verts()
        return self.large_steps.vertices(self.u) if self.large_steps is not None else self.verts

    def vertex_colors(self, verts, basis=None):
        """(V, 3) colours the mesh shows: the vertex colours, or albedo x SH lighting (``albedo_sh``;
        ``basis``: the SH basis of ``verts``' normals when known)."""
        if self.sh is None:
            return self.colors
        return shade_vertices(verts, self.faces, self.colors, self.sh, basis)

    def shown_colors(self):
        """(V, 3) array of the colours the current mesh shows."""
        with dp.no_grad():
            return np.asarray(self.vertex_colors(dp.tensor(self.verts.data)).data)

    def mesh(self):
        verts = self.vertices()
        return R.Mesh(verts, self.faces, colors=self.vertex_colors(verts), requires_grad=False)

    def size_groups(self, views):
        """``[(size (H, W), views of that size)]`` for an index array of fitting views."""
        groups = {}
        for view in np.asarray(views):
            groups.setdefault(self.image_sizes[view], []).append(view)
        return [(size, np.array(group)) for size, group in groups.items()]

    def camera_refinements(self):
        """``(rotation, translation)``: (V, 3) Tensors of every fitting view's refinement (world-frame
        axis-angle about the camera centre; world units), or ``(None, None)`` when cameras are not
        fitted. The rotations' mean and the moves' sum are held at zero, so the cameras cannot drift
        together (with the mesh following them)."""
        if "cameras" not in self.optimize:
            return None, None
        rotation = self.rotation - dp.mean(self.rotation, axis=0, keepdims=True)
        # t_i = P_i (x_i - c) d_i: P_i projects across view i's line of sight (sideways only) or is the
        # identity (schedule.camera_depth), and c = (sum_i d_i P_i)^+ sum_i d_i P_i x_i makes the moves sum to zero
        o, d = self.outward, self.distance[:, None]
        depth = self.settings["schedule"]["camera_depth"]
        moved = self.translation if depth else self.translation - dp.sum(self.translation * o, axis=1, keepdims=True) * o
        if getattr(self, "_gauge", (None,))[0] != depth:
            projections = np.eye(3) - (0 if depth else o[:, :, None] * o[:, None, :])
            self._gauge = (depth, np.linalg.pinv(np.einsum("v,vij->ij", self.distance, projections * np.ones((len(o), 1, 1)))))
        c = dp.matmul(dp.sum(moved * d, axis=0), self._gauge[1].T)                        # (3,)
        shift = c if depth else c - dp.reshape(dp.matmul(o, c), (-1, 1)) * o
        return rotation, (moved - shift) * d

    def cameras(self, views):
        """``render.Cameras`` of the fitting views ``views`` (index array; one image size), refined
        when cameras are fitted."""
        sizes = {self.image_sizes[v] for v in views}
        if len(sizes) != 1:
            raise ValueError(f"views: expected fitting views of one image size, got sizes {sorted(sizes)}")
        rotation, translation = self.camera_refinements()
        return view_cameras(self.camera_to_world[views], self.focal[views], self.principal_point[views], sizes.pop(),
                            None if rotation is None else rotation[views],
                            None if translation is None else translation[views])

    def gain_and_bias(self, views):
        """``(gain, bias)`` (len(views), 3) Tensors of the views' exposures (None without exposure):
        the gains' geometric mean and the biases' mean over the fitting views are held at 1 and 0
        (the vertex colours carry the overall level)."""
        if not self.exposure:
            return None, None
        gain = dp.exp(self.log_gain - dp.mean(self.log_gain, axis=0, keepdims=True))[views]
        if not self.settings["render"]["exposure_bias"]:
            return gain, None
        return gain, (self.bias - dp.mean(self.bias, axis=0, keepdims=True))[views]

    def mask_offsets(self, views):
        """(len(views),) Tensor of the views' mask boundary offsets in pixels (positive: the object's
        outline lies outside the mask's), mean zero over the fitting views; None without ``mask_offset``."""
        if "mask_offset" not in self.optimize:
            return None
        return (self.mask_offset - dp.mean(self.mask_offset))[views]

    def target_alphas(self, views):
        """The views' target masks, (len(views), H, W). With ``mask_offset`` (masks from a segmenter, whose
        outline is often a pixel off one way in one photograph and the other way in the next) each mask's
        outline is moved outward by its view's fitted offset d pixels: with s the mask's signed distance
        (``mask_signed_distance``), a pixel's coverage changes by ``clip(0.5 + s + d, 0, 1) - clip(0.5 + s, 0, 1)``
        (a one-pixel ramp across the outline, moved by d; d = 0 leaves the mask exactly as it is). The offsets
        have mean zero, so an error common to every photograph stays in the masks: only their disagreement
        is fitted."""
        target = self._target("target_alpha", views)
        offsets = self.mask_offsets(views)
        if offsets is None or self.in_color_stage:
            return target
        if getattr(self, "target_distance", None) is None:           # each mask's signed distance, made once
            self.target_distance = [mask_signed_distance(a) for a in self.target_alpha]
        ramp = 0.5 + self._target("target_distance", views)
        moved = dp.clip(ramp + dp.reshape(offsets, (-1, 1, 1)), 0.0, 1.0) - np.clip(ramp, 0.0, 1.0)
        return dp.clip(target + moved, 0.0, 1.0)

    def render(self, views, rasterizer, silhouette_only=False, mesh=None):
        """(len(views), H, W, 4) RGBA Tensor of the current mesh in the fitting views ``views`` (one
        image size), as each photograph's exposure would show it. ``mesh``: ``self.mesh()`` when
        the caller has it already."""
        gain, bias = self.gain_and_bias(views)
        mesh = self.mesh() if mesh is None else mesh
        if self.field is not None and not silhouette_only:
            if self.field.in_dim == 2:
                mesh = mesh.replace(uvs=self.uv_source[0], face_uvs=self.uv_source[1])
            shade = field_shader(self.field)

            def shader(fragments, mesh, cams, lights):
                return exposed(shade(fragments, mesh, cams, lights), fragments, gain, bias)

            return R.render(mesh, self.cameras(views), rasterizer=rasterizer, shader=shader,
                            background=self.background)
        return render_unlit(mesh, self.cameras(views), rasterizer, self.background,
                            silhouette_only=silhouette_only, gain=gain, bias=bias)

    def _target(self, name, views):
        return np.stack([getattr(self, name)[v] for v in views])

    def _image_errors(self, image, views):
        """{"silhouette", "rgb"}: the mean squared alpha and colour errors of the (N, H, W, 4) RGBA ``image``
        against the views' photographs, from one difference with the RGBA targets (the same values as
        ``mse_loss`` on the channels apart, without slicing the image: the slices' backward wrote two
        image-sized arrays of zeros per step)."""
        if "mask_offset" not in self.optimize or self.in_color_stage:      # the masks as they are
            if getattr(self, "target_rgba", None) is None:
                self.target_rgba = [np.concatenate([c, a[..., None]], axis=-1)
                                    for c, a in zip(self.target_rgb, self.target_alpha)]
            target = self._target("target_rgba", views)
        else:
            alpha = self.target_alphas(views)
            target = dp.concatenate([dp.tensor(self._target("target_rgb", views)),
                                     dp.reshape(alpha, alpha.shape + (1,))], axis=-1)
        pixels = image.shape[0] * image.shape[1] * image.shape[2]
        per_channel = R.channel_squared_errors(image, target)
        return {"silhouette": per_channel[3] / pixels, "rgb": dp.sum(per_channel[:3]) / (3 * pixels)}

    def _image_errors_apart(self, image, views, need_colors, blur):
        """As ``_image_errors`` for the other cases: only one of the two terms, or silhouettes compared
        blurred (template fits)."""
        weights = self.settings["loss"]
        parts = {}
        if weights["silhouette"] > 0:
            parts["silhouette"] = R.mse_loss(gaussian_blur(image[..., 3], blur),
                                             gaussian_blur(self.target_alphas(views), blur))
        if need_colors:
            parts["rgb"] = R.mse_loss(image[..., :3], self._target("target_rgb", views))
        return parts

    def losses(self, views, sigma):
        """Unweighted loss terms (Tensors) for the fitting views ``views`` at softness ``sigma``
        (image errors are means over every pixel of every view, whatever their sizes)."""
        render, weights = self.settings["render"], self.settings["loss"]
        terms = {}
        mesh = self.mesh()                  # one mesh (one Large Steps solve, one shading) for every term
        need_colors = weights["rgb"] > 0
        if weights["silhouette"] > 0 or need_colors:
            rasterizer = R.SoftRasterizer(sigma=sigma, gamma=render["gamma"],
                                          faces_per_pixel=render["faces_per_pixel"] or None,
                                          cull_backfaces=render["cull_backfaces"])
            groups = self.size_groups(views)
            pixels = sum(len(group) * size[0] * size[1] for size, group in groups)
            for size, group in groups:
                image = self.render(group, rasterizer, silhouette_only=not need_colors, mesh=mesh)
                share = len(group) * size[0] * size[1] / pixels
                blur = self.settings["template"]["blur"] if self.template is not None else 0.0
                if need_colors and weights["silhouette"] > 0 and blur == 0:
                    parts = self._image_errors(image, group)
                else:
                    parts = self._image_errors_apart(image, group, need_colors, blur)
                for name, value in parts.items():
                    terms[name] = share * value if name not in terms else terms[name] + share * value
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
        groups = self.size_groups(np.arange(len(self.views)))
        pixels = sum(len(group) * size[0] * size[1] for size, group in groups)
        total = 0
        for size, group in groups:
            if size not in self._color_fragments:
                with dp.no_grad():
                    mesh = R.Mesh(self.verts.data, self.faces, requires_grad=False)
                    self._color_fragments[size] = self._color_targets(R.rasterize(mesh, self.cameras(group),
                                                                                  rasterizer), group)
            fragments, at_pairs, elsewhere = self._color_fragments[size]
            with dp.no_grad():
                gain, bias = self.gain_and_bias(group)
            if self.field is not None:
                mesh = R.Mesh(self.verts.data, self.faces, requires_grad=False)
                if self.field.in_dim == 2:
                    mesh = mesh.replace(uvs=self.uv_source[0], face_uvs=self.uv_source[1])
                colors = shade_field(self.field, fragments, mesh)
            else:
                if self.sh is not None and self._color_basis is None:          # the geometry is frozen
                    self._color_basis = sh_basis(R.vertex_normals(self.verts.data, self.faces))
                colors = R.interpolate(self.vertex_colors(dp.tensor(self.verts.data), self._color_basis), self.faces,
                                       fragments)
            errors = dp.sum(R.channel_squared_errors(exposed(colors, fragments, gain, bias), at_pairs))
            total = total + len(group) * size[0] * size[1] / pixels * (errors + elsewhere) / (3 * len(group)
                                                                                              * size[0] * size[1])
        return {"rgb": total}

    def _color_targets(self, fragments, views):
        """``fragments`` (z-buffer: one pair per covered pixel, fixed through the colour stage), the target
        colours at their pairs' pixels (P, 3) and the summed squared error of the uncovered pixels (they show
        the background), so that the colour stage's mean squared error is a sum over the pairs without
        blending an image: the same value as ``mse_loss`` of the blended image's RGB."""
        target = self._target("target_rgb", views).reshape(-1, 3)
        covered = np.zeros(len(target), bool)
        covered[fragments.pixel] = True
        if covered.sum() != len(fragments.pixel):
            raise RuntimeError("colour stage: the z-buffer gave a pixel two faces (expected one pair per covered pixel)")
        elsewhere = float(np.sum((self.background - target[~covered]) ** 2))
        return fragments, target[fragments.pixel], elsewhere

    # ---- one iteration -------------------------------------------------------------------------
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
        if self.template_optimizer is not None and self.iteration == self.refit_at and self.refit_at > 0:
            self.template.refit(self.template_optimizer)
        start = round(schedule["camera_start"] * self.geometry_iterations)
        optimizers = [o for o in (self.optimizer, self.template_optimizer) if o is not None]
        named = list(zip(self.group_names, self.optimizer.param_groups)) if self.optimizer is not None else []
        if self.template_optimizer is not None:
            named += [("vertices", g) for g in self.template_optimizer.param_groups]
        for name, group in named:
            frozen = name == "cameras" and self.iteration < start
            group["lr"] = 0.0 if frozen else group["initial_lr"] * self._decay()
        if self.iteration >= self.geometry_iterations:
            terms = self.color_losses()
            total = terms["rgb"]
        else:
            rng = np.random.default_rng([schedule["seed"], self.iteration])
            count = min(schedule["views_per_iteration"], len(self.views))
            views = np.sort(rng.choice(len(self.views), size=count, replace=False))
            terms = self.losses(views, self.sigma(self.iteration))
            total = sum(weights[name] * value for name, value in terms.items())
            if self.template_optimizer is not None:
                total = total + self.template.penalty()
        for optimizer in optimizers:
            optimizer.zero_grad()
        total.backward()
        for optimizer in optimizers:
            optimizer.step()
        if self.template is not None:
            self.verts = self.template.verts().detach()
        if self.large_steps is not None and not self.in_color_stage:
            self.verts = dp.tensor(self.large_steps.solve(self.u.data))
        values = {name: float(value.data) for name, value in terms.items()}
        for name in LOSS_TERMS:
            self.history[name].append(values.get(name, np.nan))
        self.history["total"].append(float(total.data))
        self.iteration += 1
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.process_time() - cpu_started
        return values

    def _begin_color_stage(self):
        values = self.parameter_values()
        values.pop("u", None)
        if self.settings["schedule"]["color_subdivide"]:
            values.update(self._subdivided(values))
        if self.template is not None:
            values["verts"] = self.template.verts().data
        self._set_parameters(values, color_stage=True)

    @staticmethod
    def _subdivided(values):
        finer = R.subdivide(R.Mesh(values["verts"], values["faces"], colors=values["colors"], requires_grad=False))
        return {"verts": finer.verts.data, "faces": finer.faces, "colors": finer.colors.data}

    def subdivide(self):
        """Split every triangle in four (midpoints; colours interpolated); the optimizer restarts."""
        values = self.parameter_values()
        values.pop("u", None)
        values.update(self._subdivided(values))
        self._set_parameters(values)

    def remesh(self):
        """Remesh toward the current target edge length, carrying the colours and the optimizer's
        per-vertex moments to the new vertices (step counts and other state are kept)."""
        values = self.parameter_values()
        values.pop("u", None)
        carried = {"colors": values["colors"]}
        saved = {}
        for name in ("vertices", "colors"):
            leaf = self._vertex_leaf() if name == "vertices" else self.colors
            state = dict(self.optimizer.state.get(id(leaf), {})) if self.optimizer is not None else {}
            per_vertex = [k for k, v in state.items() if np.ndim(v) == 2 and len(v) == len(self.verts.data)]
            carried.update({f"{name}.{k}": state.pop(k) for k in per_vertex})
            saved[name] = (state, per_vertex)
        verts, faces, carried = remesh(self.verts.data, self.faces, self.edge_length(self.iteration), carried,
                                       iterations=2)
        values.update(verts=verts, faces=faces, colors=carried["colors"])
        self._set_parameters(values)
        for name in ("vertices", "colors"):
            state, per_vertex = saved[name]
            if state or per_vertex:
                state.update({k: carried[f"{name}.{k}"] for k in per_vertex})
                leaf = self._vertex_leaf() if name == "vertices" else self.colors
                self.optimizer.state[id(leaf)] = state

    # ---- checkpoints ---------------------------------------------------------------------------
    def state(self):
        """Everything a resumed run needs, as a dict of arrays (for ``.npz``)."""
        arrays = {"iteration": np.array(self.iteration), "seconds": np.array(self.seconds),
                  "cpu_seconds": np.array(self.cpu_seconds), "configuration": np.array(configuration(self.scene))}
        arrays.update(self.parameter_values())
        arrays.update({f"history.{name}": np.array(values, float) for name, values in self.history.items()})
        if self.optimizer is not None:
            arrays.update({f"optimizer.{key}": value for key, value in self.optimizer.state_dict().items()})
        if self.template_optimizer is not None:
            arrays.update({f"template_optimizer.{key}": value
                           for key, value in self.template_optimizer.state_dict().items()})
        return arrays

    def load_state(self, arrays, path):
        saved = str(arrays["configuration"])
        if saved != configuration(self.scene):
            old, new = json.loads(saved), json.loads(configuration(self.scene))
            changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
            raise ValueError(f"checkpoint {path!r} was written with different settings ({', '.join(changed)}); "
                             f"run without --resume to start over")
        self.iteration = int(arrays["iteration"])
        self._set_parameters(arrays, color_stage=self.in_color_stage)
        for name in ("optimizer", "template_optimizer"):
            if getattr(self, name) is not None:
                getattr(self, name).load_state_dict({key[len(name) + 1:]: value for key, value in arrays.items()
                                                     if key.startswith(name + ".")})
        self.seconds, self.cpu_seconds = float(arrays["seconds"]), float(arrays["cpu_seconds"])
        self.history = {name: arrays[f"history.{name}"].tolist() for name in self.history}


class _Optimizers:
    """Several optimizers stepped as one (the vertices' AdamUniform beside the rest's Adam)."""

    def __init__(self, parts):
        self.parts = parts

    @property
    def param_groups(self):
        return [group for part in self.parts for group in part.param_groups]

    @property
    def state(self):
        return _StateView(self.parts)

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
    """``state`` of :class:`_Optimizers`: reads every part's, writes to the part owning the parameter."""

    def __init__(self, parts):
        super().__init__({key: value for part in parts for key, value in part.state.items()})
        self.parts = parts

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        for part in self.parts:
            if any(id(p) == key for group in part.param_groups for p in group["params"]):
                part.state[key] = value
