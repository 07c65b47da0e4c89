"""The ``diffprog`` command."""
import argparse
import signal
import sys

import numpy as np


def _two_moons(n, rng):
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    labels = rng.integers(0, 2, n)
    x = np.where(labels[:, None] == 0, upper, lower) + 0.1 * rng.standard_normal((n, 2))
    return x, labels.astype(np.float64)


def demo(args):
    """Train a 2-32-32-1 tanh network on two moons with plain gradient descent."""
    import diffprog as dp
    rng = np.random.default_rng(args.seed)
    x, y = _two_moons(400, rng)
    sizes = [2, 32, 32, 1]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((a, b)) * np.sqrt(1 / a), np.zeros(b)]

    def loss(params):
        h = dp.tensor(x)
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = dp.tanh(h)
        logits = h[:, 0]
        return dp.mean(dp.softplus(logits) - y * logits)      # binary cross-entropy with logits

    step = dp.value_and_grad(loss)
    for it in range(args.iterations):
        value, grads = step(params)
        params = [p - 0.5 * g for p, g in zip(params, grads)]
        if it % max(args.iterations // 5, 1) == 0:
            print(f"iteration {it:4d}  loss {float(value):.4f}")
    with dp.no_grad():
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            h = np.tanh(h) if i < len(params) - 2 else h
    accuracy = np.mean((h[:, 0] > 0) == (y > 0.5))
    print(f"two moons, 400 points: training accuracy {accuracy:.1%} after {args.iterations} iterations")
    return 0


def _fail(command, error):
    """One line on stderr naming the problem; exit status 2."""
    message = " ".join(str(error).split())
    print(f"diffprog {command}: error: {message}", file=sys.stderr)
    return 2


class _Terminated(KeyboardInterrupt):
    """SIGTERM before the fit installs its own handler (while diffprog starts)."""
    signal = signal.SIGTERM


def _terminate(signum, frame):
    raise _Terminated()


def fit(args):
    """Fit a mesh to the photographs of a scene file and write the results."""
    import threading
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)   # preemption while starting: as Ctrl-C
    try:
        return _fit_command(args)
    except KeyboardInterrupt as stop:           # Interrupted (Ctrl-C, SIGTERM), or either before the fit began
        where = (f" after iteration {stop.iteration} (checkpoint {stop.checkpoint})"
                 if getattr(stop, "checkpoint", None) else "")
        print(f"\ninterrupted{where}; resume with: {_resume_command(args)}", file=sys.stderr)
        return 143 if getattr(stop, "signal", None) == signal.SIGTERM else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _fit_command(args):
    from diffprog.fit import Diverged, OutputWriteError, run_scene
    from diffprog.fit.scene import REQUIRED, SCHEMA, VIEW_SCHEMA
    from diffprog.io.config import parse_override
    if args.keys:
        for header, fields in [(f"[{s}]", f) for s, f in SCHEMA.items()] + [("[[photos.views]]", VIEW_SCHEMA)]:
            print(header)
            for key, field in fields.items():
                default = "required" if field.default is REQUIRED else f"default {field.default!r}"
                print(f"  {key:<22} {field.kind:<10} {default:<28} {field.doc}")
        return 0
    if not args.scenes:
        return _fail("fit", "expected a scene file, e.g. diffprog fit scenes/spot_quick.toml")
    if args.threads is not None:
        from diffprog.render import set_threads
        try:
            set_threads(args.threads)
        except ValueError as error:
            return _fail("fit", f"--{error}")
    from diffprog.scale.cli import is_batch, run_batch
    if is_batch(args):                          # several scenes, a folder, a glob or Dask options
        return run_batch(args)
    args.scene = args.scenes[0]
    overrides = {}
    try:
        for text in args.set or []:
            key, value = parse_override(text)
            overrides[key] = value
        for key, value in (("schedule.seed", args.seed), ("schedule.iterations", args.iterations),
                           ("render.image_size", args.image_size)):
            if value is not None:
                overrides[key] = value
        metrics = run_scene(args.scene, out_dir=args.out, overrides=overrides, resume=args.resume,
                            progress=not args.quiet, force=args.force)
    except Diverged as error:
        print(f"diffprog fit: error: {error}", file=sys.stderr)
        return 1
    except OutputWriteError as error:
        print(f"diffprog fit: error: {error}; resume with: {_resume_command(args)}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
        return _fail("fit", error)
    except OSError as error:                    # reading an input failed (permission, I/O error)
        return _fail("fit", f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))
    from diffprog.fit import load_scene
    out = args.out or load_scene(args.scene, overrides)["output.directory"]
    print("metrics: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    print(f"results in {out}/: fitted.obj, fitted.ply, held-out comparisons (held_out_*.png), turntable.gif, "
          f"loss_curve.png, metrics.json")
    return 0


def _resume_command(args):
    """The ``diffprog fit ... --resume`` command that continues the fit ``args`` describes."""
    import shlex
    words = ["diffprog", "fit", *(args.scenes or [])]
    if args.out:
        words += ["--out", args.out]
    for text in args.set or []:
        words += ["--set", text]
    for option, value in (("--seed", args.seed), ("--iterations", args.iterations),
                          ("--image-size", args.image_size)):
        if value is not None:
            words += [option, str(value)]
    return " ".join(shlex.quote(word) for word in words + ["--resume"])


def _mesh_view(mesh, args):
    """Cameras for ``diffprog render``: a frame of a transforms.json or an orbit position."""
    from diffprog import render as R
    if args.transforms:
        cams, _ = R.load_transforms(args.transforms)
        if not 0 <= args.frame < len(cams):
            raise ValueError(f"--frame: {args.frame} out of range for {len(cams)} frames in {args.transforms}")
        cams = cams[args.frame]
        if args.image_size:
            scale = args.image_size / cams.image_size[1]
            cams = R.Cameras(cams.R.data, cams.T.data, cams.focal_length.data * scale,
                             cams.principal_point.data * scale, image_size=(round(cams.image_size[0] * scale),
                                                                             args.image_size), requires_grad=False)
        return cams
    verts = np.asarray(mesh.verts.data)
    low, high = verts.min(axis=0), verts.max(axis=0)
    at = (low + high) / 2
    azimuth, elevation, distance = args.view
    if distance <= 0:
        distance = 1.3 * np.linalg.norm(high - low) / (2 * np.tan(np.radians(args.fov) / 2))
    eye = R.orbit(1, elev=elevation, dist=distance, azim_start=azimuth, at=at)
    return R.look_at(eye, at=at, fov=args.fov, image_size=args.image_size or 256, requires_grad=False)


def render_command(args):
    """Render a mesh file to a PNG (hard z-buffer or soft rasterizer)."""
    import diffprog as dp
    from diffprog import render as R
    from diffprog.io import write_image
    try:
        mesh = R.load_mesh(args.mesh, requires_grad=False)
        cams = _mesh_view(mesh, args)
        rasterizer = R.SoftRasterizer(sigma=args.sigma, gamma=1e-4) if args.soft else R.HardRasterizer()
        background = np.ones(3) if args.background == "white" else np.zeros(3)
        with dp.no_grad():
            if args.shader == "unlit":
                from diffprog.fit import render_unlit
                if mesh.colors is None and mesh.texture is None:
                    mesh = mesh.replace(colors=np.full((mesh.num_verts, 3), 0.8))
                if mesh.texture is not None:
                    image = R.render(mesh, cams, R.DirectionalLight(color=(0, 0, 0), ambient=1.0, requires_grad=False),
                                     rasterizer=rasterizer, shader="flat", background=background,
                                     material=R.Material(ambient=1.0, diffuse=0.0, specular=0.0))
                else:
                    image = render_unlit(mesh, cams, rasterizer, background)
            else:
                light = R.DirectionalLight(direction=(-0.3, -1.0, -0.6), requires_grad=False)
                image = R.render(mesh, cams, light, rasterizer=rasterizer, shader=args.shader, background=background)
        write_image(args.output, np.asarray(image.data)[0])
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError) as error:
        return _fail("render", error)
    print(f"wrote {args.output} ({cams.image_size[1]}x{cams.image_size[0]}, "
          f"{'soft' if args.soft else 'hard'} rasterizer, {args.shader} shading)")
    return 0


def info(args):
    """Print a mesh file's statistics."""
    from diffprog import render as R
    try:
        mesh = R.load_mesh(args.mesh, requires_grad=False)
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError) as error:
        return _fail("info", error)
    verts, faces = np.asarray(mesh.verts.data), mesh.faces
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, count = np.unique(edges, axis=0, return_counts=True)
    low, high = verts.min(axis=0), verts.max(axis=0)
    area = np.asarray(mesh.face_areas().data)
    tri = verts[faces]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    euler = len(verts) - len(unique) + len(faces)
    boundary = int(np.sum(count == 1))
    rows = [("file", args.mesh), ("vertices", len(verts)), ("faces", len(faces)), ("edges", len(unique)),
            ("boundary edges", boundary), ("non-manifold edges", int(np.sum(count > 2))),
            ("Euler characteristic", euler),
            ("genus", (2 - euler) // 2 if boundary == 0 and euler % 2 == 0 else "n/a (open or odd)"),
            ("bounding box min", np.round(low, 4).tolist()), ("bounding box max", np.round(high, 4).tolist()),
            ("bounding box diagonal", round(float(np.linalg.norm(high - low)), 4)),
            ("surface area", round(float(area.sum()), 4)),
            ("enclosed volume", round(float(volume), 4) if boundary == 0 else "n/a (open surface)"),
            ("degenerate faces", int(np.sum(area <= 1e-12))),
            ("vertex colours", "yes" if mesh.colors is not None else "no"),
            ("texture", f"{mesh.texture.shape[1]}x{mesh.texture.shape[0]}" if mesh.texture is not None else "no")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def photos(args):
    """Regenerate the bundled photographs with Mitsuba 3 (assets/make_photos.py)."""
    import importlib.util
    import os
    try:
        import mitsuba  # noqa: F401
    except ImportError:
        print("diffprog photos: Mitsuba 3 is not installed, so the photographs cannot be regenerated; "
              "install it with: pip install \".[photos]\"  (the bundled photographs in assets/ are used as they are)",
              file=sys.stderr)
        return 1
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.path.join(os.getcwd(), "assets", "make_photos.py"),
                  os.path.join(os.path.dirname(here), "assets", "make_photos.py")]
    script = next((c for c in candidates if os.path.isfile(c)), None)
    if script is None:
        print("diffprog photos: assets/make_photos.py not found; run this from a diffprog source checkout",
              file=sys.stderr)
        return 1
    spec = importlib.util.spec_from_file_location("make_photos", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    extra = ["--object", args.object, "--samples", str(args.samples)]
    return module.main(extra)


def build_parser():
    from diffprog.scale.cli import add_batch_arguments, add_sweep_parser
    from diffprog import __version__
    parser = argparse.ArgumentParser(prog="diffprog", description="Differentiable programming and rendering")
    parser.add_argument("--version", action="version", version=f"diffprog {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train a small network on two moons and report its accuracy")
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=demo)

    p = sub.add_parser("fit", help="fit a mesh to the photographs of a scene file (scenes/*.toml)")
    p.add_argument("scenes", nargs="*", metavar="scene",
                   help="scene file, e.g. scenes/spot.toml (several files, folders or globs: a batch on Dask)")
    p.add_argument("--keys", action="store_true", help="list every scene-file key with its type and default")
    p.add_argument("--seed", type=int, help="random seed (overrides schedule.seed)")
    p.add_argument("--iterations", type=int, help="optimization steps (overrides schedule.iterations)")
    p.add_argument("--image-size", type=int, help="square image size (overrides render.image_size)")
    p.add_argument("--out", help="output directory (overrides output.directory)")
    p.add_argument("--resume", action="store_true", help="continue from the output directory's checkpoint")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any scene key, e.g. --set render.sigma=1e-5 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, metavar="N",
                   help="threads of the compiled render kernels (default: every core numba sees)")
    add_batch_arguments(p)
    p.set_defaults(run=fit)
    add_sweep_parser(sub)

    p = sub.add_parser("render", help="render a mesh file to a PNG image")
    p.add_argument("mesh", help="mesh file (.obj, .ply, ...)")
    p.add_argument("--view", type=float, nargs=3, default=(30.0, 20.0, 0.0),
                   metavar=("AZIMUTH", "ELEVATION", "DISTANCE"),
                   help="camera on an orbit around the bounding-box centre: degrees, degrees, world units "
                        "(distance 0: fit the mesh in view); default 30 20 0")
    p.add_argument("--transforms", help="take the camera from this transforms.json instead")
    p.add_argument("--frame", type=int, default=0, help="frame of --transforms (default 0)")
    p.add_argument("--fov", type=float, default=40.0, help="field of view in degrees (default 40)")
    p.add_argument("--image-size", type=int, help="image width in pixels (default 256)")
    p.add_argument("--soft", action="store_true", help="soft rasterizer instead of the hard z-buffer")
    p.add_argument("--sigma", type=float, default=1e-4, help="soft rasterizer sharpness (default 1e-4)")
    p.add_argument("--shader", choices=["unlit", "flat", "gouraud", "phong", "silhouette"], default="phong")
    p.add_argument("--background", choices=["white", "black"], default="white")
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
    p.set_defaults(run=render_command)

    p = sub.add_parser("info", help="print a mesh file's statistics")
    p.add_argument("mesh")
    p.set_defaults(run=info)

    p = sub.add_parser("photos", help="regenerate the bundled photographs (needs Mitsuba 3)")
    p.add_argument("--object", choices=["spot", "horseshoe", "all"], default="all")
    p.add_argument("--samples", type=int, default=128, help="samples per pixel (default 128)")
    p.set_defaults(run=photos)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:                     # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:                   # Ctrl-C while a command starts (imports) or outside a fit
        print(f"\ndiffprog {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
