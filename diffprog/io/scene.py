"""Scene files: one TOML file per fitting job (``diffprog fit scene.toml``).

``load_scene(path, overrides=None) -> Scene`` parses the file with ``tomllib``, checks every key
against ``SCHEMA`` and every camera and image path, and raises a one-line error naming the key,
the file and the line for anything wrong (``SceneError``, a ValueError; ``SceneTypeError``, a
TypeError, for a wrong type; FileNotFoundError for a missing file). Paths inside the scene file
are relative to the scene file; ``output.directory`` is relative to the working directory.

Cameras use the OpenGL convention of ``transforms.json``: ``camera_to_world`` is a 4x4 matrix
whose camera looks down its -z axis with +y up; ``fov`` is the horizontal field of view in degrees.
``read_views(scene, image_size)`` loads the photographs as RGBA floats resized
(box filter, in premultiplied space) to ``image_size`` x ``image_size``.
"""
import dataclasses
import json
import math
import os
import re
import tomllib

import numpy as np

from .image import read_image


class SceneError(ValueError):
    """A scene file has an unknown key, a bad value or an inconsistent camera."""


class SceneTypeError(SceneError, TypeError):
    """A scene key has a value of the wrong type."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One scene key: ``kind`` (int, float, str, bool, floats, ints, strs, table-list),
    ``default`` (``REQUIRED`` if it must be given), allowed ``choices``, ``length`` for lists and a
    ``check(value) -> message or None`` for the value range."""
    kind: str
    default: object
    doc: str
    choices: tuple = ()
    length: int = None
    check: object = None


REQUIRED = object()


def _positive(v):
    return None if v > 0 else "expected a positive number"


def _non_negative(v):
    return None if v >= 0 else "expected a number >= 0"


def _fractions(v):
    return None if all(0 < x < 1 for x in v) else "expected fractions of the run strictly between 0 and 1"


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
        "hull_resolution": Field("int", 48, "visual hull grid cells along the hull's longest side",
                                 check=_positive),
        "level": Field("int", 3, "ico-sphere subdivision level", check=_non_negative),
        "radius": Field("float", None, "ico-sphere radius (default: from the silhouettes' areas)",
                        check=_positive),
        "center": Field("floats", None, "ico-sphere centre (default: the point the cameras look at)", length=3),
        "optimize": Field("strs", ["vertices", "colors"], "what to fit",
                          choices=("vertices", "colors", "cameras")),
        "initial_color": Field("floats", [0.5, 0.5, 0.5], "starting vertex colour (RGB in [0, 1])", length=3),
    },
    "render": {
        "image_size": Field("int", 128, "square image size the fit renders and compares", check=_positive),
        "sigma": Field("float", 1e-5, "soft rasterizer sharpness (squared NDC distance) at the start",
                       check=_positive),
        "sigma_final": Field("float", None, "sigma at the end (geometric annealing; default: sigma)",
                             check=_positive),
        "gamma": Field("float", 1e-4, "depth-softmax temperature", check=_positive),
        "faces_per_pixel": Field("int", 0, "keep the K nearest faces per pixel (0: all within reach)",
                                 check=_non_negative),
        "background": Field("floats", [1.0, 1.0, 1.0], "RGB background colour", length=3),
        "cull_backfaces": Field("bool", False, "drop faces turned away from the camera"),
        "shading": Field("str", "albedo_sh", "'albedo_sh': per-vertex albedo x fitted 2nd-order spherical-harmonics "
                         "lighting (9 coefficients per channel); 'unlit': vertex colours that bake the lighting",
                         choices=("albedo_sh", "unlit")),
    },
    "loss": {
        "silhouette": Field("float", 3.0, "weight of the mean squared silhouette error", check=_non_negative),
        "rgb": Field("float", 3.0, "weight of the mean squared colour error", check=_non_negative),
        "edge": Field("float", 0.0, "weight of the edge-length regularizer", check=_non_negative),
        "normal_consistency": Field("float", 0.01, "weight of the normal-consistency regularizer",
                                    check=_non_negative),
        "laplacian": Field("float", 0.0, "weight of the uniform Laplacian smoothing regularizer",
                           check=_non_negative),
    },
    "schedule": {
        "iterations": Field("int", 300, "optimization steps", check=_positive),
        "views_per_iteration": Field("int", 4, "fitting views rendered per step", check=_positive),
        "optimizer": Field("str", "adam_uniform", "optimizer ('adam_uniform': Adam with one second-moment scale "
                           "per parameter, Nicolet et al. 2021)", choices=("sgd", "adam", "adam_uniform")),
        "learning_rate": Field("float", 0.02, "step size for the vertex offsets (or their Large Steps "
                               "parameters)", check=_positive),
        "large_steps_lambda": Field("float", 2.0, "Large Steps: optimize u = (I + lambda L) x instead of the "
                                    "vertices x (0: plain vertex positions)", check=_non_negative),
        "remesh_every": Field("int", 25, "remesh (split/collapse/flip/relax toward the target edge length) every N "
                              "geometry steps (0: never)", check=_non_negative),
        "edge_length": Field("floats", [0.04, 0.015], "remeshing target edge length as a fraction of the starting "
                             "mesh's bounding-box diagonal, at the start and at the end (geometric)", length=2,
                             check=lambda v: None if all(x > 0 for x in v) else "expected positive lengths"),
        "remesh_until": Field("float", 0.8, "fraction of the geometry steps after which remeshing stops",
                              check=lambda v: None if 0 < v <= 1 else "expected a fraction in (0, 1]"),
        "color_learning_rate": Field("float", 0.02, "step size for colours and lighting (default: learning_rate)",
                                     check=_positive),
        "camera_learning_rate": Field("float", 1e-3, "step size for camera refinement", check=_positive),
        "momentum": Field("float", 0.9, "SGD momentum", check=_non_negative),
        "learning_rate_decay": Field("float", 0.2, "learning rates at the end of the run as a fraction of the "
                                     "start (geometric decay; 1: constant)", check=_positive),
        "subdivide_at": Field("floats", [], "fractions of the run at which the mesh is subdivided",
                              check=_fractions),
        "color_iterations": Field("int", 60, "steps of a final colour-only stage: geometry frozen, every fitting "
                                  "view rendered with the z-buffer rasterizer", check=_non_negative),
        "color_subdivide": Field("bool", True, "subdivide the mesh once before the colour stage"),
        "seed": Field("int", 0, "random seed (view sampling)"),
        "preview_every": Field("int", 0, "write a preview image every N steps (0: never)", check=_non_negative),
        "checkpoint_every": Field("int", 100, "save the optimization state every N steps", check=_positive),
    },
    "output": {
        "directory": Field("str", "out/fit", "output directory (relative to the working directory)"),
        "turntable_frames": Field("int", 36, "frames of the turntable animation", check=_positive),
    },
}

VIEW_SCHEMA = {
    "image": Field("str", REQUIRED, "RGBA photograph (alpha: the object's mask)"),
    "camera_to_world": Field("matrix", REQUIRED, "4x4 camera-to-world matrix (OpenGL)"),
    "fov": Field("float", REQUIRED, "horizontal field of view in degrees", check=_positive),
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


class _Locator:
    """Line numbers of keys in a TOML text (for error messages; tomllib does not keep positions)."""

    def __init__(self, path, text):
        self.path = path
        self.lines = text.splitlines()

    def line(self, section, key=None, table_index=None):
        current, count = None, -1
        for number, raw in enumerate(self.lines, 1):
            line = raw.split("#", 1)[0].strip()
            header = re.fullmatch(r"\[\[\s*([^\]]+?)\s*\]\]|\[\s*([^\]]+?)\s*\]", line)
            if header:
                current = (header.group(1) or header.group(2)).replace(" ", "")
                if current == section and header.group(1):
                    count += 1
                if key is None and current == section and (table_index is None or count == table_index):
                    return number
                continue
            if key is not None and current == section and (table_index is None or count == table_index):
                if re.match(rf"\s*{re.escape(key)}\s*=", line):
                    return number
            if key is not None and current is None and re.match(rf"\s*{re.escape(section)}\.{re.escape(key)}\s*=",
                                                                line):
                return number
        return None

    def where(self, section, key=None, table_index=None):
        number = self.line(section, key, table_index)
        return f"{self.path}, line {number}" if number else f"{self.path}"


def _kind_name(field):
    return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
            "floats": "a list of numbers", "ints": "a list of integers", "strs": "a list of strings",
            "matrix": "a 4x4 list of lists of numbers", "table-list": "[[...]] tables"}[field.kind]


def _convert(field, value):
    """``value`` converted to the field's kind, or raise TypeError with what was expected."""
    def number(x):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise TypeError
        return float(x)

    kind = field.kind
    try:
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            return value
        if kind == "float":
            return number(value)
        if kind == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind in ("floats", "ints", "strs"):
            if not isinstance(value, list):
                raise TypeError
            if kind == "floats":
                return [number(x) for x in value]
            if kind == "ints":
                if any(isinstance(x, bool) or not isinstance(x, int) for x in value):
                    raise TypeError
                return list(value)
            if any(not isinstance(x, str) for x in value):
                raise TypeError
            return list(value)
        if kind == "matrix":
            if not (isinstance(value, list) and len(value) == 4
                    and all(isinstance(row, list) and len(row) == 4 for row in value)):
                raise TypeError
            return np.array([[number(x) for x in row] for row in value])
        if kind == "table-list":
            if not isinstance(value, list) or any(not isinstance(x, dict) for x in value):
                raise TypeError
            return value
    except TypeError:
        raise TypeError(f"expected {_kind_name(field)}, got {_show(value)}") from None
    raise AssertionError(kind)


def _show(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_value(field, value):
    """A message if ``value`` (already converted) is out of range, else None."""
    if value is None:
        return None
    if field.choices:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if v not in field.choices]
        if bad:
            return f"got {bad[0]!r}, expected one of {', '.join(repr(c) for c in field.choices)}"
    if field.length is not None and len(value) != field.length:
        return f"expected {field.length} values, got {len(value)}"
    if field.kind in ("float", "floats", "matrix"):
        array = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(array)):
            if field.kind == "matrix":
                return "camera matrix contains non-finite values (NaN or inf); expected finite numbers"
            return f"expected finite numbers, got {_show(value.tolist() if hasattr(value, 'tolist') else value)}"
    if field.check is not None:
        message = field.check(value)
        if message:
            return f"{message}, got {_show(value)}"
    return None


def _validated(field, value, where, name):
    try:
        value = _convert(field, value)
    except TypeError as error:
        raise SceneTypeError(f"{where}: {name}: {error}") from None
    message = _check_value(field, value)
    if message:
        raise SceneError(f"{where}: {name}: {message}")
    return value


def parse_override(text):
    """``"render.sigma=1e-5"`` -> ``("render.sigma", 1e-5)``: the value is read as TOML (strings may be
    given bare). Raises SceneError for text without ``=``."""
    if "=" not in text:
        raise SceneError(f"--set {text!r}: expected section.key=value, e.g. render.sigma=1e-5")
    key, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def load_scene(path, overrides=None):
    """Parse and check the scene file ``path``; ``overrides`` maps dotted keys (``"render.sigma"``)
    to values that replace the file's. Returns a :class:`Scene`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"scene file {path!r} does not exist")
    with open(path, "rb") as f:
        raw_bytes = f.read()
    text = raw_bytes.decode("utf-8", errors="replace")
    locate = _Locator(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SceneError(f"{path}: not valid TOML: {error}") from None

    sections = {}
    for section, value in data.items():
        if section not in SCHEMA:
            raise SceneError(f"{locate.where(section)}: unknown section [{section}] "
                             f"(expected one of: {', '.join(SCHEMA)})")
        if not isinstance(value, dict):
            raise SceneTypeError(f"{locate.where(section)}: {section}: expected a [{section}] table, "
                                 f"got {_show(value)}")
    for section, fields in SCHEMA.items():
        given = data.get(section, {})
        out = {}
        for key, value in given.items():
            if key not in fields:
                raise SceneError(f"{locate.where(section, key)}: unknown key '{section}.{key}' "
                                 f"(expected one of: {', '.join(fields)})")
            if key == "views":
                continue
            out[key] = _validated(fields[key], value, locate.where(section, key), f"{section}.{key}")
        for key, field in fields.items():
            out.setdefault(key, field.default)
        sections[section] = out

    for dotted, value in (overrides or {}).items():
        section, _, key = str(dotted).partition(".")
        if section not in SCHEMA or key not in SCHEMA[section] or key == "views":
            known = [f"{s}.{k}" for s, fields in SCHEMA.items() for k in fields if k != "views"]
            raise SceneError(f"override {dotted!r}: unknown key (expected one of: {', '.join(known)})")
        sections[section][key] = _validated(SCHEMA[section][key], value, f"override {dotted}={_show(value)}",
                                            dotted)

    root = os.path.dirname(os.path.abspath(path))
    views = _read_view_tables(data.get("photos", {}).get("views"), locate, root)
    transforms = sections["photos"]["transforms"]
    if transforms is not None and views:
        raise SceneError(f"{locate.where('photos', 'views')}: give photos.transforms or [[photos.views]], not both")
    if transforms is not None:
        views = _read_transforms(_resolve(root, transforms), locate.where("photos", "transforms"))
    if not views:
        raise SceneError(f"{locate.where('photos')}: no photographs: set photos.transforms = \"transforms.json\" "
                         f"or add [[photos.views]] tables")
    held_out = sections["photos"]["held_out"]
    if held_out is not None:
        bad = [i for i in held_out if not 0 <= i < len(views)]
        if bad:
            raise SceneError(f"{locate.where('photos', 'held_out')}: photos.held_out: view index {bad[0]} out of "
                             f"range (there are {len(views)} views)")
        for i, view in enumerate(views):
            view.held_out = i in held_out
    if all(v.held_out for v in views):
        raise SceneError(f"{locate.where('photos')}: every view is held out; expected at least one to fit")
    for key in ("reference_mesh",):
        if sections["photos"][key] is not None:
            sections["photos"][key] = _existing(_resolve(root, sections["photos"][key]),
                                                locate.where("photos", key), f"photos.{key}")
    if sections["mesh"]["initial"] not in ("ico_sphere", "visual_hull"):
        sections["mesh"]["initial"] = _existing(_resolve(root, sections["mesh"]["initial"]),
                                                locate.where("mesh", "initial"), "mesh.initial")
    return Scene(path=path, sections=sections, views=views)


def _resolve(root, relative):
    return os.path.normpath(os.path.join(root, os.path.expanduser(relative)))


def _existing(path, where, name):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: {name}: file {path!r} does not exist")
    return path


def _check_camera(matrix, fov, where):
    if not np.all(np.isfinite(matrix)):
        raise SceneError(f"{where}: camera matrix contains non-finite values (NaN or inf): {matrix.tolist()}")
    if not np.allclose(matrix[3], [0, 0, 0, 1]):
        raise SceneError(f"{where}: camera matrix's last row is {matrix[3].tolist()}, expected [0, 0, 0, 1]")
    rotation = matrix[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-4) or np.linalg.det(rotation) < 0:
        raise SceneError(f"{where}: camera matrix's upper 3x3 block is not a rotation "
                         f"(expected orthonormal axes with determinant +1)")
    if not (math.isfinite(fov) and 0 < fov < 180):
        raise SceneError(f"{where}: field of view {fov!r} degrees, expected a number in (0, 180)")


def _read_view_tables(tables, locate, root):
    if tables is None:
        return []
    try:
        tables = _convert(SCHEMA["photos"]["views"], tables)
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
            values[key] = _validated(VIEW_SCHEMA[key], value, where, f"photos.views[{index}].{key}")
        for key, field in VIEW_SCHEMA.items():
            if key not in values:
                if field.default is REQUIRED:
                    raise SceneError(f"{locate.where('photos.views', None, index)}: view {index}: missing key "
                                     f"'{key}' ({field.doc})")
                values[key] = field.default
        _check_camera(values["camera_to_world"], values["fov"], locate.where("photos.views", "camera_to_world", index))
        image = _existing(_resolve(root, values["image"]), locate.where("photos.views", "image", index),
                          f"photos.views[{index}].image")
        views.append(View(image, values["camera_to_world"], values["fov"], values["held_out"]))
    return views


def _read_transforms(path, where):
    """Views of a NeRF-style ``transforms.json`` (camera_angle_x in radians, OpenGL matrices)."""
    _existing(path, where, "photos.transforms")
    try:
        with open(path) as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SceneError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list):
        raise SceneError(f"{path}: expected an object with a 'frames' list (NeRF transforms.json)")
    angle = meta.get("camera_angle_x")
    root = os.path.dirname(path)
    views = []
    for index, frame in enumerate(meta["frames"]):
        label = f"{path}: frame {index}"
        if not isinstance(frame, dict) or "file_path" not in frame or "transform_matrix" not in frame:
            raise SceneError(f"{label}: expected 'file_path' and 'transform_matrix'")
        frame_angle = frame.get("camera_angle_x", angle)
        if isinstance(frame_angle, bool) or not isinstance(frame_angle, (int, float)):
            raise SceneTypeError(f"{label}: camera_angle_x: expected a number of radians, got {_show(frame_angle)}")
        try:
            matrix = np.array(frame["transform_matrix"], dtype=float)
        except (TypeError, ValueError):
            raise SceneTypeError(f"{label}: transform_matrix: expected a 4x4 list of numbers, "
                                 f"got {_show(frame['transform_matrix'])}") from None
        if matrix.shape != (4, 4):
            raise SceneError(f"{label}: transform_matrix: expected shape (4, 4), got {matrix.shape}")
        _check_camera(matrix, math.degrees(frame_angle), f"{label} ({frame['file_path']})")
        image = os.path.normpath(os.path.join(root, frame["file_path"]))
        if not os.path.splitext(image)[1] and os.path.isfile(image + ".png"):
            image += ".png"
        if not os.path.isfile(image):
            raise FileNotFoundError(f"{label}: image {image!r} does not exist")
        views.append(View(image, matrix, math.degrees(frame_angle), frame.get("split") == "held_out"))
    return views


def read_photograph(path, image_size):
    """(S, S, 4) float64 RGBA in [0, 1] of the image file ``path`` (RGB images get alpha 1),
    resized to ``image_size`` with a box filter applied to premultiplied colour (so edges do not
    pick up the colour hidden under alpha 0)."""
    from PIL import Image
    try:
        rgba = read_image(path)
    except ValueError as error:
        raise SceneError(str(error)) from None
    if rgba.shape[2] in (1, 2):
        rgba = np.concatenate([np.repeat(rgba[..., :1], 3, axis=2),
                               rgba[..., 1:] if rgba.shape[2] == 2 else np.ones_like(rgba)], axis=2)
    elif rgba.shape[2] == 3:
        rgba = np.concatenate([rgba, np.ones_like(rgba[..., :1])], axis=2)
    height, width = rgba.shape[:2]
    if height != width:
        raise SceneError(f"image {path!r}: is {width}x{height}; expected a square photograph")
    if height == image_size:
        return rgba
    premultiplied = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=-1)
    channels = [np.asarray(Image.fromarray(premultiplied[..., c].astype(np.float32), "F")
                           .resize((image_size, image_size), Image.BOX), dtype=np.float64) for c in range(4)]
    out = np.clip(np.stack(channels, axis=-1), 0.0, 1.0)
    alpha = out[..., 3:]
    out[..., :3] = np.where(alpha > 1e-6, out[..., :3] / np.maximum(alpha, 1e-6), 0.0)
    return np.clip(out, 0.0, 1.0)


def read_views(scene, image_size, views=None):
    """(N, S, S, 4) RGBA photographs of ``views`` (default: all of the scene's) at ``image_size``."""
    views = scene.views if views is None else views
    return np.stack([read_photograph(v.image, image_size) for v in views])
