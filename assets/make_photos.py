"""Render the bundled "photographs" with Mitsuba 3, a physically based path tracer independent of diffprog.

    pip install ".[photos]"          # mitsuba (+ drjit)
    python assets/make_photos.py     # or: diffprog photos

For each object (Spot, a concave horseshoe made here, a genus-1 mug made here, and Spot with its
right horn shortened, for fitting a sparse edit of the original: ``shorten_horn``) this writes 24 RGBA PNGs (alpha = object
coverage) and a ``transforms.json`` beside them: 20 views for fitting, 4 held out (``"split"``).
The edited Spot's vertex moves are stored in ``spot_edited/edit.npz`` (``before``, ``after``: the
positions of the moved vertices in the original and in the edited mesh).

Cameras are stored in the OpenGL / NeRF convention: ``transform_matrix`` is camera-to-world, the
camera looks down its -z axis with +y up and +x to the right of the image; ``camera_angle_x`` is the
horizontal field of view in radians; pixel (row, column) covers the square whose centre is at
normalized device coordinates ``x = (column + 0.5) / width * 2 - 1``, ``y = 1 - (row + 0.5) / height * 2``.
The cameras orbit the mesh file exactly as stored (no transform is applied to the object).

Lighting: a large rectangular area light (soft shadows) plus a dim constant environment, diffuse
material with the object's texture, path traced with 128 samples per pixel through a box pixel
filter (so alpha is exact coverage), tone-mapped to sRGB, then mild Gaussian sensor noise.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
VIEW_COUNT = 24
HELD_OUT = (5, 11, 17, 23)        # one view in every six: the held-out set


def look_at_opengl(eye, target, up=(0.0, 1.0, 0.0)):
    """Camera-to-world 4x4 matrix (OpenGL: camera looks down -z, +y up) for a camera at ``eye``."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    backward = eye - target
    backward /= np.linalg.norm(backward)
    right = np.cross(up, backward)
    right /= np.linalg.norm(right)
    true_up = np.cross(backward, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, true_up, backward, eye
    return c2w


def orbit_views(center, distance, seed=0):
    """24 camera-to-world matrices orbiting ``center``: azimuth every 15 degrees, elevations varied.

    Elevations cycle through -15..50 degrees so that the fitting views see the object from below,
    the side and above; the held-out views (``HELD_OUT``) fall between fitting views.
    """
    elevations = np.array([10, 35, -15, 50, 0, 20], dtype=np.float64)
    matrices = []
    for i in range(VIEW_COUNT):
        azimuth = np.radians(15.0 * i + 7.0)
        elevation = np.radians(elevations[i % len(elevations)])
        offset = distance * np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                                      np.cos(elevation) * np.cos(azimuth)])
        matrices.append(look_at_opengl(np.asarray(center) + offset, center))
    return np.stack(matrices)


def horseshoe_mesh(arc_radius=0.7, tube_radius=0.26, arc_degrees=270.0, along=96, around=24):
    """A concave, genus-0 "horseshoe": a tube bent along a 270-degree arc with round caps.

    The arc lies in the x-z plane around the origin, opening towards +x. Returns vertices (V, 3),
    texture coordinates (T, 2), faces (F, 3) and texture faces (F, 3) for an OBJ file.
    """
    arc_length = np.radians(arc_degrees) * arc_radius
    start = np.radians((360.0 - arc_degrees) / 2)          # gap centred on +x
    s = np.linspace(-tube_radius, arc_length + tube_radius, along + 2)[1:-1]   # spine parameter, no poles
    beyond = np.maximum(np.maximum(-s, s - arc_length), 0.0)
    radius = tube_radius * np.sqrt(np.clip(1 - (beyond / tube_radius) ** 2, 0.0, 1.0))

    def spine(t):
        """Spine point and tangent at parameter t (extended straight past both arc ends)."""
        clamped = np.clip(t, 0.0, arc_length)
        angle = start + clamped / arc_radius
        point = np.stack([arc_radius * np.cos(angle), np.zeros_like(t), arc_radius * np.sin(angle)], -1)
        tangent = np.stack([-np.sin(angle), np.zeros_like(t), np.cos(angle)], -1)
        return point + (t - clamped)[:, None] * tangent, tangent

    centre, tangent = spine(s)
    outward = np.cross(tangent, [0.0, 1.0, 0.0])
    outward = -outward / np.linalg.norm(outward, axis=1, keepdims=True)
    phi = np.linspace(0, 2 * np.pi, around, endpoint=False)
    ring = (np.cos(phi)[None, :, None] * outward[:, None, :]
            + np.sin(phi)[None, :, None] * np.array([0.0, 1.0, 0.0]))
    body = (centre[:, None, :] + radius[:, None, None] * ring).reshape(-1, 3)
    poles, _ = spine(np.array([-tube_radius, arc_length + tube_radius]))
    vertices = np.concatenate([body, poles])
    first_pole, last_pole = len(body), len(body) + 1

    u = (s + tube_radius) / (arc_length + 2 * tube_radius)
    grid_uv = np.stack(np.meshgrid(u, np.linspace(0, 1, around + 1), indexing="ij"), -1).reshape(-1, 2)
    uv = np.concatenate([grid_uv, [[0.0, 0.5], [1.0, 0.5]]])
    first_pole_uv, last_pole_uv = len(grid_uv), len(grid_uv) + 1

    i, j = np.meshgrid(np.arange(along - 1), np.arange(around), indexing="ij")
    a, b = i * around + j, i * around + (j + 1) % around
    c, d = a + around, b + around
    at, bt = i * (around + 1) + j, i * (around + 1) + j + 1
    ct, dt = at + around + 1, bt + around + 1
    faces = [np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)]
    texture_faces = [np.stack([at, ct, bt], -1).reshape(-1, 3), np.stack([bt, ct, dt], -1).reshape(-1, 3)]
    j = np.arange(around)
    last = (along - 1) * around
    faces += [np.stack([np.full(around, first_pole), j, (j + 1) % around], -1),
              np.stack([np.full(around, last_pole), last + (j + 1) % around, last + j], -1)]
    lastt = (along - 1) * (around + 1)
    texture_faces += [np.stack([np.full(around, first_pole_uv), j, j + 1], -1),
                      np.stack([np.full(around, last_pole_uv), lastt + j + 1, lastt + j], -1)]
    # The construction above winds faces clockwise seen from outside; flip to counter-clockwise.
    return vertices, uv, np.concatenate(faces)[:, ::-1], np.concatenate(texture_faces)[:, ::-1]


def mug_mesh(spacing=0.03, edge_length=0.05):
    """A genus-1 mug (open cup with a ring handle; y up, cup axis through the origin) as a closed
    manifold triangle mesh: the level set of a signed distance (cup: hollow cylinder, handle: half a
    torus) by diffprog's marching tetrahedra, remeshed isotropically to ``edge_length``.

    Returns vertices (V, 3), texture coordinates (V, 2) (v = height: horizontal stripes), faces
    (F, 3) and texture faces (= faces)."""
    sys.path.insert(0, os.path.dirname(HERE))
    from diffprog.fit.isosurface import isosurface
    from diffprog.fit.remesh import remesh
    outer_radius, inner_radius, half_height, bottom = 0.45, 0.38, 0.5, 0.08
    xs, ys, zs = (np.arange(lo, hi, spacing) for lo, hi in ((-0.52, 0.86), (-0.57, 0.57), (-0.52, 0.52)))
    x, y, z = np.meshgrid(xs, ys, zs, indexing="ij")
    rho = np.hypot(x, z)
    body = np.maximum(rho - outer_radius, np.abs(y) - half_height)
    cavity = np.maximum(rho - inner_radius, -(half_height - bottom) - y)
    cup = np.maximum(body, -cavity)
    ring = np.hypot(np.hypot(x - outer_radius, y) - 0.24, z) - 0.075
    handle = np.maximum(ring, (outer_radius - 0.03) - x)
    distance = np.minimum(cup, handle)
    verts, faces = isosurface(-distance, 0.0, origin=(xs[0], ys[0], zs[0]), spacing=spacing)
    verts, faces, _ = remesh(verts, faces, edge_length, iterations=6)
    uv = np.stack([np.full(len(verts), 0.5), verts[:, 1] + 0.5], 1)
    return verts, uv, faces, faces


def write_obj(path, vertices, uv, faces, texture_faces, title="concave horseshoe", digits=6):
    lines = [f"v {x:.{digits}f} {y:.{digits}f} {z:.{digits}f}" for x, y, z in vertices]
    lines += [f"vt {s:.{digits}f} {t:.{digits}f}" for s, t in uv]
    lines += [f"f {a + 1}/{at + 1} {b + 1}/{bt + 1} {c + 1}/{ct + 1}"
              for (a, b, c), (at, bt, ct) in zip(faces, texture_faces)]
    with open(path, "w") as f:
        f.write(f"# {title} made by assets/make_photos.py\n" + "\n".join(lines) + "\n")


def linear_to_srgb(x):
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def mitsuba():
    """The Mitsuba module with its CPU variant selected."""
    import mitsuba as mi
    mi.set_variant("scalar_rgb")
    return mi


def render_views(mesh_path, reflectance, c2w, fov_x, size, samples, noise, seed):
    """Path-trace every camera in ``c2w`` (N, 4, 4, OpenGL) and return uint8 RGBA images (N, H, W, 4)."""
    mi = mitsuba()
    transform = mi.ScalarTransform4f
    scene = mi.load_dict({
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 8, "hide_emitters": True},
        "object": {"type": "obj", "filename": mesh_path, "bsdf": {"type": "diffuse", "reflectance": reflectance}},
        "key_light": {"type": "rectangle",
                      "to_world": transform().look_at(origin=[2.5, 4.0, 3.0], target=[0, 0, 0], up=[0, 1, 0])
                      @ transform().scale([1.5, 1.5, 1.0]),
                      "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [3.2, 3.1, 3.0]}}},
        "fill_light": {"type": "constant", "radiance": {"type": "rgb", "value": [0.35, 0.37, 0.4]}},
    })
    # Mitsuba's camera looks down +z with +x to the image's left: flip x and z of the OpenGL camera.
    opengl_to_mitsuba = np.diag([-1.0, 1.0, -1.0, 1.0])
    rng = np.random.default_rng(seed)
    images = []
    for index, matrix in enumerate(c2w):
        sensor = mi.load_dict({
            "type": "perspective", "fov": float(np.degrees(fov_x)), "fov_axis": "x",
            "near_clip": 0.01, "far_clip": 100.0,
            "to_world": transform((matrix @ opengl_to_mitsuba).tolist()),
            "sampler": {"type": "independent", "sample_count": samples},
            "film": {"type": "hdrfilm", "width": size, "height": size, "pixel_format": "rgba",
                     "rfilter": {"type": "box"}},
        })
        raw = np.array(mi.render(scene, sensor=sensor, seed=seed * 1000 + index), dtype=np.float64)
        alpha = np.clip(raw[..., 3], 0.0, 1.0)
        # Mitsuba's RGB is coverage-weighted (background contributes black): un-premultiply.
        colour = linear_to_srgb(raw[..., :3] / np.maximum(alpha, 1e-6)[..., None])
        colour = colour + noise * rng.standard_normal(colour.shape)
        colour = np.where(alpha[..., None] > 0, np.clip(colour, 0.0, 1.0), 0.0)
        rgba = np.concatenate([colour, alpha[..., None]], -1)
        images.append(np.round(rgba * 255).astype(np.uint8))
        print(f"  view {index + 1:2d}/{len(c2w)}", end="\r", flush=True)
    print()
    return np.stack(images)


def write_dataset(directory, images, c2w, fov_x):
    """Write ``000.png``... and ``transforms.json`` (OpenGL camera-to-world) into ``directory``."""
    from PIL import Image
    os.makedirs(directory, exist_ok=True)
    frames = []
    for index, (image, matrix) in enumerate(zip(images, c2w)):
        name = f"{index:03d}.png"
        Image.fromarray(image, "RGBA").save(os.path.join(directory, name), optimize=True)
        frames.append({"file_path": name, "split": "held_out" if index in HELD_OUT else "fit",
                       "transform_matrix": [[round(float(v), 8) for v in row] for row in matrix]})
    meta = {"camera_angle_x": float(fov_x), "w": int(images.shape[2]), "h": int(images.shape[1]),
            "convention": "OpenGL camera-to-world: camera looks down -z, +y up, +x right",
            "renderer": "Mitsuba 3 (scalar_rgb, path tracer) via assets/make_photos.py",
            "frames": frames}
    with open(os.path.join(directory, "transforms.json"), "w") as f:
        json.dump(meta, f, indent=1)


def make_spot(samples, size, noise):
    mesh = os.path.join(HERE, "spot", "spot_triangulated.obj")
    center = np.array([0.0, 0.11, 0.19])           # middle of Spot's bounding box
    c2w = orbit_views(center, distance=3.3)
    reflectance = {"type": "bitmap", "filename": os.path.join(HERE, "spot", "spot_texture.png")}
    images = render_views(mesh, reflectance, c2w, np.radians(40.0), size, samples, noise, seed=1)
    write_dataset(os.path.join(HERE, "spot", "photos"), images, c2w, np.radians(40.0))


HORN_BASE = 0.84       # height where Spot's right horn (x > 0.05, y > HORN_BASE) meets the head


def shorten_horn(vertices, keep=0.5):
    """Spot's vertices (V, 3) with its right horn shortened: heights above ``HORN_BASE`` of the
    vertices with x > 0.05 scaled by ``keep`` (the tip drops by ~0.057, 2% of the diagonal).
    Returns (new vertices, bool mask of the moved vertices); every other vertex is unchanged."""
    vertices = np.asarray(vertices, dtype=np.float64)
    horn = (vertices[:, 0] > 0.05) & (vertices[:, 1] > HORN_BASE)
    edited = vertices.copy()
    edited[horn, 1] = HORN_BASE + keep * (vertices[horn, 1] - HORN_BASE)
    return edited, horn


def write_edited_obj(source, destination):
    """Copy the OBJ file ``source`` to ``destination`` with ``shorten_horn`` applied to its ``v``
    lines (texture coordinates and faces untouched); returns (before, after) of the moved vertices."""
    with open(source) as f:
        lines = f.read().splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("v ")]
    original = np.array([[float(x) for x in lines[i].split()[1:4]] for i in rows])
    edited, moved = shorten_horn(original)
    for i, (x, y, z) in zip(rows, edited):
        lines[i] = f"v {x:.6f} {y:.6f} {z:.6f}"
    with open(destination, "w") as f:
        f.write("\n".join(lines) + "\n")
    return original[moved], edited[moved]


def make_spot_edited(samples, size, noise):
    import tempfile
    directory = os.path.join(HERE, "spot_edited")
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        mesh = os.path.join(scratch, "spot_edited.obj")
        before, after = write_edited_obj(os.path.join(HERE, "spot", "spot_triangulated.obj"), mesh)
        np.savez(os.path.join(directory, "edit.npz"), before=before, after=after)
        center = np.array([0.0, 0.11, 0.19])
        c2w = orbit_views(center, distance=3.3)
        reflectance = {"type": "bitmap", "filename": os.path.join(HERE, "spot", "spot_texture.png")}
        images = render_views(mesh, reflectance, c2w, np.radians(40.0), size, samples, noise, seed=3)
    write_dataset(os.path.join(directory, "photos"), images, c2w, np.radians(40.0))


def make_horseshoe(samples, size, noise):
    directory = os.path.join(HERE, "horseshoe")
    os.makedirs(directory, exist_ok=True)
    mesh = os.path.join(directory, "horseshoe.obj")
    write_obj(mesh, *horseshoe_mesh())
    c2w = orbit_views(np.zeros(3), distance=3.0)
    reflectance = {"type": "checkerboard", "color0": {"type": "rgb", "value": [0.75, 0.25, 0.12]},
                   "color1": {"type": "rgb", "value": [0.85, 0.8, 0.55]},
                   "to_uv": mitsuba().ScalarTransform4f().scale([8.0, 2.0, 1.0])}
    images = render_views(mesh, reflectance, c2w, np.radians(40.0), size, samples, noise, seed=2)
    write_dataset(os.path.join(directory, "photos"), images, c2w, np.radians(40.0))


def make_mug(samples, size, noise):
    directory = os.path.join(HERE, "mug")
    os.makedirs(directory, exist_ok=True)
    mesh = os.path.join(directory, "mug.obj")
    write_obj(mesh, *mug_mesh(), title="genus-1 striped mug", digits=5)
    c2w = orbit_views(np.array([0.16, 0.0, 0.0]), distance=3.2)
    reflectance = {"type": "checkerboard", "color0": {"type": "rgb", "value": [0.12, 0.27, 0.62]},
                   "color1": {"type": "rgb", "value": [0.88, 0.82, 0.66]},
                   "to_uv": mitsuba().ScalarTransform4f().scale([1.0, 6.0, 1.0])}
    images = render_views(mesh, reflectance, c2w, np.radians(40.0), size, samples, noise, seed=3)
    write_dataset(os.path.join(directory, "photos"), images, c2w, np.radians(40.0))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--object", choices=["spot", "horseshoe", "mug", "spot_edited", "all"], default="all")
    parser.add_argument("--samples", type=int, default=128, help="samples per pixel (default 128)")
    parser.add_argument("--noise", type=float, default=0.01, help="sensor noise std in [0, 1] units")
    args = parser.parse_args(argv)
    try:
        import mitsuba  # noqa: F401
    except ImportError:
        print("make_photos: Mitsuba 3 is not installed; install it with: pip install \".[photos]\"",
              file=sys.stderr)
        return 1
    if args.object in ("spot", "all"):
        print("Spot: 24 views, 256x256")
        make_spot(args.samples, 256, args.noise)
    if args.object in ("horseshoe", "all"):
        print("horseshoe: 24 views, 128x128")
        make_horseshoe(args.samples, 128, args.noise)
    if args.object in ("mug", "all"):
        print("mug: 24 views, 256x256")
        make_mug(args.samples, 256, args.noise)
    if args.object in ("spot_edited", "all"):
        print("Spot with a shortened horn: 24 views, 256x256")
        make_spot_edited(args.samples, 256, args.noise)
    return 0


if __name__ == "__main__":
    sys.exit(main())
