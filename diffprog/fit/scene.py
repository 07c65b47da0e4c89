"""The fit's scene file (``diffprog fit scene.toml``): its schema and the photographs it names.

``load_scene(path, overrides=None) -> Scene`` checks the file against ``SCHEMA`` with the generic
loader of ``diffprog.io.config`` (one-line errors naming the key, the file and the line), reads the
cameras (``photos.transforms`` or ``[[photos.views]]`` tables) and checks every image path. Paths
inside the scene file are relative to the scene file; ``output.directory`` is relative to the
working directory.

Photographs come from a ``transforms.json`` (nerfstudio's whole format: per-frame intrinsics,
OPENCV/SIMPLE_RADIAL distortion, ``mask_path``), a COLMAP model (``photos.colmap`` with
``photos.images`` and ``photos.masks``) or ``[[photos.views]]`` tables. Cameras use the OpenGL
convention of ``transforms.json``: ``camera_to_world`` is a 4x4 matrix whose camera looks down its
-z axis with +y up. Each view's mask is its mask file (``mask_path``, or ``photos.masks``), else
the photograph's alpha channel; a view with neither is an error naming it. ``read_views(scene,
image_size)`` loads the photographs as RGBA floats (alpha: the mask) with their long side
``image_size``, undistorted to pinhole cameras.

``mesh.optimize`` left unset is chosen from the photographs: vertices and colours always, camera
refinement for SfM cameras (COLMAP, or a ``transforms.json`` with a ``camera_model``, as
``ns-process-data`` writes), exposure when the photographs have no alpha, and per-photo mask boundary
offsets when the masks are separate files (a segmenter's masks: see ``Fitter.target_alphas``).

To add a key: add a ``Field`` to ``SCHEMA`` (it is then parsed, checked, listed by
``diffprog fit --keys`` and part of the checkpoint's configuration) and read it where it is used.
"""
import dataclasses
import math
import os

import numpy as np

from diffprog.io import colmap
from diffprog.io.config import (REQUIRED, Field, SceneError, SceneTypeError, convert, existing, fractions,
                                load_config, non_negative, positive, resolve, validated)
from diffprog.io.photo import image_info, read_photograph, render_size
from diffprog.io.transforms import check_camera_to_world, image_size, read_transforms

__all__ = ["SCHEMA", "VIEW_SCHEMA", "View", "Scene", "load_scene", "read_views", "SceneError", "SceneTypeError"]

def _fraction(v):
    return None if 0 <= v < 1 else "expected a fraction in [0, 1)"


SCHEMA = {
    "photos": {
        "transforms": Field("str", None, "transforms.json (nerfstudio / NeRF: OpenGL camera-to-world, intrinsics, "
                                         "distortion, mask_path); or photos.colmap; or [[photos.views]]"),
        "colmap": Field("str", None, "COLMAP sparse model folder (cameras, images[, points3D] as .bin or .txt), "
                                     "e.g. 'sparse/0'"),
        "images": Field("str", None, "folder of the COLMAP model's images (default: 'images' beside the folder "
                                     "holding the model's folder, as COLMAP lays out a project)"),
        "masks": Field("str", None, "folder of mask images (8-bit, >= 128 is the object), named after each image "
                                    "with '.png' appended (or its extension replaced by '.png')"),
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
        "optimize": Field("strs", None, "what to fit (default: vertices and colors, + cameras for SfM cameras, "
                          "+ exposure for photographs without alpha, + mask_offset for masks from separate files)",
                          choices=("vertices", "colors", "cameras", "exposure", "mask_offset")),
        "initial_color": Field("floats", [0.5, 0.5, 0.5], "starting vertex colour (RGB in [0, 1])", length=3),
    },
    "render": {
        "image_size": Field("int", 128, "long side of the images the fit renders and compares (aspect ratio kept)",
                            check=positive),
        "sigma": Field("float", 1e-5, "soft rasterizer sharpness (squared NDC distance) at the start",
                       check=positive),
        "sigma_final": Field("float", None, "sigma at the end of the geometry steps (geometric annealing; default: sigma / 4)",
                             check=positive),
        "gamma": Field("float", 1e-4, "depth-softmax temperature", check=positive),
        "faces_per_pixel": Field("int", 0, "keep the K nearest faces per pixel (0: all within reach)",
                                 check=non_negative),
        "background": Field("floats", [1.0, 1.0, 1.0], "RGB background colour", length=3),
        "cull_backfaces": Field("bool", True, "drop faces turned away from the camera (where a front and a back face "
                                "meet at the outline, both would widen the soft silhouette and the fit would shrink "
                                "to match); the starting mesh is oriented outward, its winding must be consistent"),
        "exposure_bias": Field("bool", False, "with optimize 'exposure': fit a per-photo colour offset besides the "
                                              "per-photo (per-channel) gain"),
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
        "width": Field("int", 128, "hidden units of the MLP", check=positive),
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
        "blur": Field("float", 1.5, "Gaussian blur (pixels) of both silhouettes in the silhouette loss of a "
                      "template fit (averages away edge-rasterization mismatch; 0: none)", check=non_negative),
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
        "camera_learning_rate": Field("float", 3e-4, "step size for camera refinement (rotation in radians, "
                                      "translation in units of the camera's distance)", check=positive),
        "camera_start": Field("float", 0.0, "fraction of the geometry steps after which camera refinement starts "
                              "(0: with the first step; a later start lets the shape settle first, but the "
                              "shape then settles around the cameras' errors)", check=lambda v: None if 0 <= v < 1 else
                              "expected a fraction in [0, 1)"),
        "camera_depth": Field("bool", False, "camera refinement may move each camera toward or away from the object "
                              "(false: sideways only; silhouettes see a camera's distance only as a slight change "
                              "of scale, which a mask one pixel too wide or too narrow also makes)"),
        "exposure_learning_rate": Field("float", None, "step size for the per-photo exposure (log gain, bias; "
                                        "default: color_learning_rate)", check=positive),
        "mask_offset_learning_rate": Field("float", 0.01, "step size for the per-photo mask boundary offsets "
                                           "(pixels of the fit's images)", check=positive),
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
    """One photograph: its file, (4, 4) OpenGL camera-to-world matrix, horizontal field of view in
    degrees, held-out flag, and its intrinsics: ``focal`` (fx, fy) and ``principal_point`` (cx, cy)
    in pixels of the file's ``width`` x ``height``, lens ``distortion`` (``k1 k2 p1 p2 k3 k4``),
    ``mask`` file (None: the alpha channel)."""
    image: str
    camera_to_world: np.ndarray
    fov: float
    held_out: bool
    focal: tuple = None
    principal_point: tuple = None
    width: int = None
    height: int = None
    distortion: np.ndarray = None
    mask: str = None
    label: str = ""

    def intrinsics(self, long_side):
        """``(size (H, W), focal (2,), principal point (2,))`` of the undistorted pinhole camera at the
        size the fit renders (long side ``long_side``)."""
        size = render_size(self.width, self.height, long_side)
        scale = np.array([size[1] / self.width, size[0] / self.height])
        return size, np.asarray(self.focal, float) * scale, np.asarray(self.principal_point, float) * scale

    def read(self, long_side):
        """(H, W, 4) RGBA photograph at the fit's size (alpha: the mask), undistorted."""
        return read_photograph(self.image, self.intrinsics(long_side)[0], mask=self.mask, focal=self.focal,
                               principal_point=self.principal_point, distortion=self.distortion,
                               where=self.label or os.path.basename(self.image))


def _view(frame, held_out, label):
    fov = math.degrees(2 * math.atan(0.5 * frame.width / frame.focal[0]))
    return View(frame.image, frame.camera_to_world, fov, held_out, tuple(frame.focal), tuple(frame.principal_point),
                frame.width, frame.height, np.asarray(frame.distortion, float), frame.mask, label)


def _check_files(view):
    """Check a view's photograph and mask from their headers; returns True when the photograph has no
    alpha (its mask is a separate file). Intrinsics given for another size of the same aspect
    ratio (e.g. images downscaled after calibration) are scaled to the file's size."""
    (width, height), alpha = image_info(view.image)
    if (width, height) != (view.width, view.height):
        if abs(width / height - view.width / view.height) > 0.01 * width / height:
            raise SceneError(f"{view.label}: image is {width}x{height}, but its camera is for {view.width}x"
                             f"{view.height} (another aspect ratio)")
        scale = np.array([width / view.width, height / view.height])
        view.focal = tuple(np.asarray(view.focal) * scale)
        view.principal_point = tuple(np.asarray(view.principal_point) * scale)
        view.width, view.height = width, height
    if view.mask is None:
        if not alpha:
            raise SceneError(f"{view.label}: no mask: the photograph {view.image!r} has no alpha channel and no mask "
                             f"file (give mask_path, photos.masks or RGBA photographs)")
        return False
    mask_size, _ = image_info(view.mask)
    if mask_size != (width, height):
        raise SceneError(f"{view.label}: mask {view.mask!r} is {mask_size[0]}x{mask_size[1]}, expected the size of "
                         f"its photograph: {width}x{height}")
    return not alpha


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
    photos = sections["photos"]
    views = _read_view_tables(config.data.get("photos", {}).get("views"), locate, root)
    sources = [key for key in ("transforms", "colmap") if photos[key] is not None] + (["views"] if views else [])
    if len(sources) > 1:
        raise SceneError(f"{config.where('photos', sources[1])}: give one of photos.transforms, photos.colmap or "
                         f"[[photos.views]], not {' and '.join(sources)}")
    masks = None
    if photos["masks"] is not None:
        masks = resolve(root, photos["masks"])
        if not os.path.isdir(masks):
            raise FileNotFoundError(f"{config.where('photos', 'masks')}: photos.masks: folder {masks!r} does not exist")
    structure_from_motion = False
    if photos["transforms"] is not None:
        path = existing(resolve(root, photos["transforms"]), config.where("photos", "transforms"), "photos.transforms")
        views, structure_from_motion = _views_of_transforms(path, masks)
    elif photos["colmap"] is not None:
        images = resolve(root, photos["images"]) if photos["images"] is not None else None
        views = _views_of_colmap(resolve(root, photos["colmap"]), images, masks,
                                 config.where("photos", "images" if photos["images"] else "colmap"))
        structure_from_motion = True
    if not views:
        raise SceneError(f"{config.where('photos')}: no photographs: set photos.transforms = \"transforms.json\", "
                         f"photos.colmap = \"sparse/0\" or add [[photos.views]] tables")
    without_alpha = False
    for index, view in enumerate(views):
        view.label = view.label or f"{config.where('photos')}: view {index} ({os.path.basename(view.image)})"
        without_alpha = _check_files(view) or without_alpha
    separate_masks = any(view.mask is not None for view in views)
    if sections["mesh"]["optimize"] is None:
        sections["mesh"]["optimize"] = (["vertices", "colors"] + (["cameras"] if structure_from_motion else [])
                                        + (["exposure"] if without_alpha else [])
                                        + (["mask_offset"] if separate_masks else []))
    held_out = sections["photos"]["held_out"]
    if held_out is not None:
        bad = [i for i in held_out if not 0 <= i < len(views)]
        if bad:
            raise SceneError(f"{config.where('photos', 'held_out')}: photos.held_out: view index {bad[0]} out of "
                             f"range (there are {len(views)} views)")
        for i, view in enumerate(views):
            view.held_out = i in held_out
    if all(v.held_out for v in views):
        raise SceneError(f"{config.where('photos')}: every view is held out; expected at least one to fit")
    if sections["photos"]["reference_mesh"] is not None:
        sections["photos"]["reference_mesh"] = existing(resolve(root, sections["photos"]["reference_mesh"]),
                                                        config.where("photos", "reference_mesh"),
                                                        "photos.reference_mesh")
    if sections["mesh"]["initial"] not in ("ico_sphere", "visual_hull"):
        sections["mesh"]["initial"] = existing(resolve(root, sections["mesh"]["initial"]),
                                               config.where("mesh", "initial"), "mesh.initial")
    return Scene(path=config.path, sections=sections, views=views)


def _views_of_transforms(path, masks):
    """Views of a ``transforms.json`` (masks from ``mask_path``, else from the folder ``masks``) and
    whether its cameras come from SfM (the file names a ``camera_model``, as ``ns-process-data`` writes)."""
    frames = read_transforms(path)
    views = [_view(f, f.split == "held_out", f"{path}: frame {i} ({os.path.basename(f.image)})")
             for i, f in enumerate(frames)]
    for view in views:
        if view.mask is None and masks is not None:
            name = os.path.basename(view.image)
            view.mask = colmap.mask_path(masks, name)
            if view.mask is None:
                raise FileNotFoundError(f"{view.label}: no mask {os.path.join(masks, name + '.png')!r} in photos.masks")
    return views, any(f.camera_model is not None for f in frames)


def _views_of_colmap(folder, images, masks, where):
    """Views of the COLMAP model in ``folder`` with its images in ``images`` (default: COLMAP's layout,
    ``images`` beside the folder holding the model's folder)."""
    images = images or os.path.join(os.path.dirname(os.path.dirname(folder)), "images")
    if not os.path.isdir(images):
        raise FileNotFoundError(f"{where}: photos.images: folder {images!r} does not exist")
    model = colmap.read_model(folder)
    views = [_view(f, False, f"{model.files['images']}: image {os.path.basename(f.image)}")
             for f in colmap.frames_of_model(model, images, masks)]
    for view in views:
        if not os.path.isfile(view.image):
            raise FileNotFoundError(f"{view.label}: file {view.image!r} does not exist")
    return views


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
        width, height = image_size(image)
        focal = 0.5 * width / math.tan(math.radians(values["fov"]) / 2)
        views.append(View(image, values["camera_to_world"], values["fov"], values["held_out"], (focal, focal),
                          (width / 2, height / 2), width, height, np.zeros(6)))
    return views


def read_views(scene, image_size, views=None):
    """RGBA photographs (alpha: the mask) of ``views`` (default: all of the scene's) with their long
    side ``image_size``, undistorted: an (N, H, W, 4) array when they share one size, else a list."""
    views = scene.views if views is None else views
    photos = [v.read(image_size) for v in views]
    return np.stack(photos) if len({p.shape for p in photos}) == 1 else photos
