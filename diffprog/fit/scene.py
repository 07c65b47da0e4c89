"""The fit's scene file (``diffprog fit scene.toml``): its schema and the photographs it names.

``load_scene(path, overrides=None) -> Scene`` checks the file against ``SCHEMA`` with the generic
loader of ``diffprog.io.config`` (one-line errors naming the key, the file and the line), reads the
cameras (``photos.transforms`` or ``[[photos.views]]`` tables) and checks every image path. Paths
inside the scene file are relative to the scene file; ``output.directory`` is relative to the
working directory.

Cameras use the OpenGL convention of ``transforms.json``: ``camera_to_world`` is a 4x4 matrix
whose camera looks down its -z axis with +y up; ``fov`` is the horizontal field of view in degrees.
``read_views(scene, image_size)`` loads the photographs as RGBA floats resized
(box filter, in premultiplied space) to ``image_size`` x ``image_size``.

To add a key: add a ``Field`` to ``SCHEMA`` (it is then parsed, checked, listed by
``diffprog fit --keys`` and part of the checkpoint's configuration) and read it where it is used.
"""
import dataclasses
import math

import numpy as np

from diffprog.io.config import (REQUIRED, Field, SceneError, SceneTypeError, convert, existing, fractions,
                                load_config, non_negative, positive, resolve, validated)
from diffprog.io.photo import read_photograph
from diffprog.io.transforms import check_camera_to_world, read_transforms

__all__ = ["SCHEMA", "VIEW_SCHEMA", "View", "Scene", "load_scene", "read_views", "SceneError", "SceneTypeError"]

def _fraction(v):
    return None if 0 <= v < 1 else "expected a fraction in [0, 1)"


SCHEMA = {
    "photos": {
        "transforms": Field("str", None, "transforms.json (OpenGL camera-to-world, NeRF style); or give views"),
        "held_out": Field("ints", None, "indices of held-out views (default: frames with split = 'held_out')"),
        "reference_mesh": Field("str", None, "ground-truth mesh for the chamfer metric (optional)"),
        "views": Field("table-list", None, "[[photos.views]] tables: image, camera_to_world, fov, held_out"),
    },
    "mesh": {
        "initial": Field("str", "visual_hull", "'visual_hull' (carved from the fitting views' masks; an ico-sphere "
                         "when the photographs have no alpha), 'ico_sphere' or a mesh file (.obj/.ply)"),
        "hull_resolution": Field("int", 48, "visual hull grid cells along the hull's longest side", check=positive),
        "level": Field("int", 3, "ico-sphere subdivision level", check=non_negative),
        "radius": Field("float", None, "ico-sphere radius (default: from the silhouettes' areas)",
                        check=positive),
        "center": Field("floats", None, "ico-sphere centre (default: the point the cameras look at)", length=3),
        "optimize": Field("strs", ["vertices", "colors"], "what to fit",
                          choices=("vertices", "colors", "cameras")),
        "initial_color": Field("floats", [0.5, 0.5, 0.5], "starting vertex colour (RGB in [0, 1])", length=3),
    },
    "render": {
        "image_size": Field("int", 128, "square image size the fit renders and compares", check=positive),
        "sigma": Field("float", 1e-5, "soft rasterizer sharpness (squared NDC distance) at the start",
                       check=positive),
        "sigma_final": Field("float", None, "sigma at the end (geometric annealing; default: sigma)",
                             check=positive),
        "gamma": Field("float", 1e-4, "depth-softmax temperature", check=positive),
        "faces_per_pixel": Field("int", 0, "keep the K nearest faces per pixel (0: all within reach)",
                                 check=non_negative),
        "background": Field("floats", [1.0, 1.0, 1.0], "RGB background colour", length=3),
        "cull_backfaces": Field("bool", False, "drop faces turned away from the camera"),
        "shading": Field("str", "albedo_sh", "'albedo_sh': per-vertex albedo x fitted 2nd-order spherical-harmonics "
                         "lighting (9 coefficients per channel); 'unlit': interpolated vertex colours (the lighting "
                         "baked in); 'field': a colour field (an MLP of an encoding of the surface point, see "
                         "[color_field]) per pixel-face pair", choices=("albedo_sh", "unlit", "field")),
    },
    "color_field": {
        "encoding": Field("str", "gaussian", "encoding of the surface point",
                          choices=("none", "positional", "sinusoidal", "gaussian")),
        "frequencies": Field("int", 64, "octaves (positional, sinusoidal) or random features (gaussian)",
                             check=positive),
        "scale": Field("float", 4.0, "Gaussian frequency std (sinusoidal: highest frequency), in cycles over the "
                       "object's half-size", check=positive),
        "width": Field("int", 64, "hidden units of the MLP", check=positive),
        "depth": Field("int", 2, "hidden layers of the MLP", check=positive),
        "learning_rate": Field("float", 1e-2, "step size for the MLP's weights", check=positive),
        "uv": Field("bool", False, "encode the mesh's UVs instead of the 3-D point (needs a mesh.initial with UVs)"),
        "texture_size": Field("int", 1024, "size of the baked texture.png", check=positive),
        "unwrap": Field("str", "auto", "UVs of the baked texture: 'xatlas' (pip install xatlas), 'per_face', or "
                        "'auto' (xatlas when installed)", choices=("auto", "xatlas", "per_face")),
    },
    "template": {
        "l1": Field("float", 0.0, "proximal-L1 strength on the offsets from mesh.initial (0: off; a threshold on "
                    "the loss gradient: vertices below it stay bit-identical)", check=non_negative),
        "smoothness": Field("float", 0.0, "weight of the Dirichlet energy of the offsets (the [loss] mesh "
                            "regularizers act on the vertices, not the offsets: set them to 0 for an edit)",
                            check=non_negative),
        "refit": Field("float", 0.2, "fraction of the iterations (at the end) that refit the moved vertices "
                       "without shrinkage (relaxed Lasso)", check=_fraction),
    },
    "loss": {
        "silhouette": Field("float", 3.0, "weight of the mean squared silhouette error", check=non_negative),
        "rgb": Field("float", 3.0, "weight of the mean squared colour error", check=non_negative),
        "edge": Field("float", 0.0, "weight of the edge-length regularizer", check=non_negative),
        "normal_consistency": Field("float", 0.01, "weight of the normal-consistency regularizer",
                                    check=non_negative),
        "laplacian": Field("float", 0.0, "weight of the uniform Laplacian smoothing regularizer",
                           check=non_negative),
    },
    "schedule": {
        "iterations": Field("int", 300, "optimization steps", check=positive),
        "views_per_iteration": Field("int", 4, "fitting views rendered per step", check=positive),
        "optimizer": Field("str", "adam_uniform", "optimizer ('adam_uniform': Adam with one second-moment scale "
                           "for the vertices, Nicolet et al. 2021; plain Adam for the rest)",
                           choices=("sgd", "adam", "adam_uniform")),
        "learning_rate": Field("float", 0.02, "step size for the vertex offsets (or their Large Steps parameters)",
                               check=positive),
        "large_steps_lambda": Field("float", 2.0, "Large Steps: optimize u = (I + lambda L) x instead of the "
                                    "vertices x (0: plain vertex positions)", check=non_negative),
        "remesh_every": Field("int", 25, "remesh (split/collapse/flip/relax toward the target edge length) every N "
                              "geometry steps (0: never)", check=non_negative),
        "edge_length": Field("floats", [0.04, 0.015], "remeshing target edge length as a fraction of the starting "
                             "mesh's bounding-box diagonal, at the start and at the end (geometric)", length=2,
                             check=lambda v: None if all(x > 0 for x in v) else "expected positive lengths"),
        "remesh_until": Field("float", 0.8, "fraction of the geometry steps after which remeshing stops",
                              check=lambda v: None if 0 < v <= 1 else "expected a fraction in (0, 1]"),
        "color_learning_rate": Field("float", 0.02, "step size for colours and lighting (default: learning_rate)",
                                     check=positive),
        "camera_learning_rate": Field("float", 1e-3, "step size for camera refinement", check=positive),
        "momentum": Field("float", 0.9, "SGD momentum", check=non_negative),
        "learning_rate_decay": Field("float", 0.2, "learning rates at the end of the run as a fraction of the "
                                     "start (geometric decay; 1: constant)", check=positive),
        "subdivide_at": Field("floats", [], "fractions of the run at which the mesh is subdivided",
                              check=fractions),
        "color_iterations": Field("int", 60, "steps of a final colour-only stage: geometry frozen, every fitting "
                                  "view rendered with the z-buffer rasterizer", check=non_negative),
        "color_subdivide": Field("bool", True, "subdivide the mesh once before the colour stage"),
        "seed": Field("int", 0, "random seed (view sampling)"),
        "preview_every": Field("int", 0, "write a preview image every N steps (0: never)", check=non_negative),
        "checkpoint_every": Field("int", 100, "save the optimization state every N steps", check=positive),
    },
    "output": {
        "directory": Field("str", "out/fit", "output directory (relative to the working directory)"),
        "turntable_frames": Field("int", 36, "frames of the turntable animation", check=positive),
    },
}

VIEW_SCHEMA = {
    "image": Field("str", REQUIRED, "RGBA photograph (alpha: the object's mask)"),
    "camera_to_world": Field("matrix", REQUIRED, "4x4 camera-to-world matrix (OpenGL)"),
    "fov": Field("float", REQUIRED, "horizontal field of view in degrees", check=positive),
    "held_out": Field("bool", False, "keep this view out of the fit (for evaluation)"),
}


@dataclasses.dataclass
class View:
    """One photograph: its file, (4, 4) OpenGL camera-to-world matrix, horizontal fov in degrees."""
    image: str
    camera_to_world: np.ndarray
    fov: float
    held_out: bool


@dataclasses.dataclass
class Scene:
    """A parsed scene: ``sections[name][key]`` holds every key of ``SCHEMA`` (defaults filled in),
    ``views`` the photographs with their cameras, ``path`` the scene file."""
    path: str
    sections: dict
    views: list

    def __getitem__(self, dotted):
        section, key = dotted.split(".", 1)
        return self.sections[section][key]

    @property
    def fit_views(self):
        return [v for v in self.views if not v.held_out]

    @property
    def held_out_views(self):
        return [v for v in self.views if v.held_out]


def load_scene(path, overrides=None):
    """Parse and check the scene file ``path``; ``overrides`` maps dotted keys (``"render.sigma"``)
    to values that replace the file's. Returns a :class:`Scene`."""
    config = load_config(path, SCHEMA, overrides)
    sections, locate, root = config.sections, config.locate, config.root
    views = _read_view_tables(config.data.get("photos", {}).get("views"), locate, root)
    transforms = sections["photos"]["transforms"]
    if transforms is not None and views:
        raise SceneError(f"{locate.where('photos', 'views')}: give photos.transforms or [[photos.views]], not both")
    if transforms is not None:
        views = _views_of_transforms(existing(resolve(root, transforms), config.where("photos", "transforms"),
                                              "photos.transforms"))
    if not views:
        raise SceneError(f"{locate.where('photos')}: no photographs: set photos.transforms = \"transforms.json\" "
                         f"or add [[photos.views]] tables")
    held_out = sections["photos"]["held_out"]
    if held_out is not None:
        bad = [i for i in held_out if not 0 <= i < len(views)]
        if bad:
            raise SceneError(f"{config.where('photos', 'held_out')}: photos.held_out: view index {bad[0]} out of "
                             f"range (there are {len(views)} views)")
        for i, view in enumerate(views):
            view.held_out = i in held_out
    if all(v.held_out for v in views):
        raise SceneError(f"{locate.where('photos')}: every view is held out; expected at least one to fit")
    if sections["photos"]["reference_mesh"] is not None:
        sections["photos"]["reference_mesh"] = existing(resolve(root, sections["photos"]["reference_mesh"]),
                                                        config.where("photos", "reference_mesh"),
                                                        "photos.reference_mesh")
    if sections["mesh"]["initial"] not in ("ico_sphere", "visual_hull"):
        sections["mesh"]["initial"] = existing(resolve(root, sections["mesh"]["initial"]),
                                               config.where("mesh", "initial"), "mesh.initial")
    return Scene(path=config.path, sections=sections, views=views)


def _read_view_tables(tables, locate, root):
    if tables is None:
        return []
    try:
        tables = convert(SCHEMA["photos"]["views"], tables)
    except TypeError as error:
        raise SceneTypeError(f"{locate.where('photos', 'views')}: photos.views: {error}") from None
    views = []
    for index, table in enumerate(tables):
        values = {}
        for key, value in table.items():
            where = locate.where("photos.views", key, index)
            if key not in VIEW_SCHEMA:
                raise SceneError(f"{where}: unknown key 'photos.views.{key}' in view {index} "
                                 f"(expected one of: {', '.join(VIEW_SCHEMA)})")
            values[key] = validated(VIEW_SCHEMA[key], value, where, f"photos.views[{index}].{key}")
        for key, field in VIEW_SCHEMA.items():
            if key not in values:
                if field.default is REQUIRED:
                    raise SceneError(f"{locate.where('photos.views', None, index)}: view {index}: missing key "
                                     f"'{key}' ({field.doc})")
                values[key] = field.default
        where = locate.where("photos.views", "camera_to_world", index)
        check_camera_to_world(values["camera_to_world"], where)
        if not (math.isfinite(values["fov"]) and 0 < values["fov"] < 180):
            raise SceneError(f"{where}: field of view {values['fov']!r} degrees, expected a number in (0, 180)")
        image = existing(resolve(root, values["image"]), locate.where("photos.views", "image", index),
                         f"photos.views[{index}].image")
        views.append(View(image, values["camera_to_world"], values["fov"], values["held_out"]))
    return views


def _views_of_transforms(path):
    """Views of a ``transforms.json`` (square photographs: the horizontal field of view from fl_x)."""
    views = []
    for frame in read_transforms(path):
        fov = math.degrees(2 * math.atan(0.5 * frame.width / frame.focal[0]))
        views.append(View(frame.image, frame.camera_to_world, fov, frame.split == "held_out"))
    return views


def read_views(scene, image_size, views=None):
    """(N, S, S, 4) RGBA photographs of ``views`` (default: all of the scene's) at ``image_size``."""
    views = scene.views if views is None else views
    return np.stack([read_photograph(v.image, image_size) for v in views])
