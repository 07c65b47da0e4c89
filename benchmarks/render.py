"""Benchmark: the soft rasterizer's forward + backward time and peak memory per image, with the
compiled (numba) kernels and the NumPy reference kernels side by side (issue 14).

Scenes: an ico-sphere of 5,120 faces, Spot (5,856 faces) and a 20,480-face ico-sphere, at 128x128
and 256x256, silhouette and Phong shading (sigma = gamma = 1e-4, every face within the influence
radius, no faces-per-pixel cap). Reference measured in the same run: the same SoftRas equations
written densely in PyTorch (CPU, float64, every pixel against every face, chunked over faces with
an online softmax so it fits in memory; backward by recomputing each chunk). For the record:
PyTorch3D's published CPU figure is about 9 s per forward + backward for a 2.5k-face teapot at
256x256 (pytorch3d issue 469). Times are process CPU seconds, medians of repeats, one thread.

    python benchmarks/render.py            # writes a section at the top of benchmarks/RESULTS.md
    python benchmarks/render.py --no-save --no-dense
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse          # noqa: E402
import datetime          # noqa: E402
import functools         # noqa: E402
import platform          # noqa: E402
import sys               # noqa: E402
import time              # noqa: E402
import tracemalloc       # noqa: E402

import numpy as np       # noqa: E402
import torch             # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import diffprog as dp                    # noqa: E402
from diffprog import render as R         # noqa: E402

torch.set_num_threads(1)
SIGMA = GAMMA = 1e-4
SPOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "spot", "spot_triangulated.obj")


def bisected(mesh):
    """The same surface with twice the faces: each triangle split at the midpoint of its first edge."""
    v, f = np.asarray(mesh.verts.data), mesh.faces
    mid = 0.5 * (v[f[:, 0]] + v[f[:, 1]])
    idx = len(v) + np.arange(len(f))
    faces = np.concatenate([np.stack([f[:, 0], idx, f[:, 2]], 1), np.stack([idx, f[:, 1], f[:, 2]], 1)])
    return R.Mesh(np.concatenate([v, mid]), faces)


def scene(mesh, size):
    mesh = R.Mesh(mesh.verts.data, mesh.faces,
                  colors=np.random.default_rng(0).random((mesh.num_verts, 3)))
    cams = R.look_at(eye=R.orbit(1, elev=20, dist=2.7, azim_start=40), fov=45, image_size=(size, size))
    return mesh, cams


@functools.lru_cache(maxsize=None)
def loss_weights(h, w):
    """The loss's fixed random weights per image size (made once, outside the timed renders)."""
    weights = np.random.default_rng(1).random((1, h, w, 4))
    weights.setflags(write=False)
    return weights


def ours(mesh, cams, shader, faces_per_pixel=None, sigma=SIGMA):
    ras = R.SoftRasterizer(sigma=sigma, gamma=GAMMA, faces_per_pixel=faces_per_pixel)
    light = R.DirectionalLight(direction=(0.0, -1.0, -1.0), ambient=0.4)
    h, w = cams.image_size
    weights = loss_weights(h, w)
    img = R.render(mesh, cams, light, rasterizer=ras, shader=shader)
    dp.sum(img * weights).backward()
    return img


def timed(fn, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return float(np.median(times)), out


def peak_memory(fn):
    from diffprog.render.kernels import numba_pairs
    numba_pairs.release_scratch()            # the compiled search allocates its buffers anew (counted)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2 ** 20


def dense_torch(mesh, cams, shader, chunk_pairs=1 << 18):
    """The SoftRas equations in PyTorch, every pixel against every face (chunked over faces)."""
    h, w = cams.image_size
    screen = R.screen_triangles(mesh.verts.detach(), mesh.faces, cams)
    tri = torch.tensor(np.asarray(screen.tri.data), requires_grad=True)
    faces = mesh.faces[screen.parent]
    verts = torch.tensor(np.asarray(mesh.verts.data), requires_grad=True)
    colors = torch.tensor(np.asarray(mesh.colors.data), requires_grad=True)
    eye = torch.tensor(np.asarray(cams.centers.data[0]))
    light_dir = -torch.tensor([0.0, -1.0, -1.0], dtype=torch.float64) / np.sqrt(2.0)
    scale2 = cams.ndc_per_pixel ** 2
    radius2 = R.SoftRasterizer(sigma=SIGMA, gamma=GAMMA).radius ** 2
    znear, zfar = cams.znear, cams.zfar
    rows, cols = np.divmod(np.arange(h * w), w)
    px = torch.tensor(cols + 0.5)[:, None, None]
    py = torch.tensor(rows + 0.5)[:, None, None]
    M = len(faces)
    step = max(1, chunk_pairs // (h * w))
    # vertex normals (area weighted), as the renderer computes them
    fv = verts[torch.tensor(mesh.faces)]
    fn = torch.cross(fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0], dim=1)
    vn = torch.zeros_like(verts).index_add(0, torch.tensor(mesh.faces.ravel()), fn.repeat_interleave(3, 0))
    vn = vn / vn.norm(dim=1, keepdim=True)

    def chunk_terms(a, b):
        t = tri[a:b]
        X, Y, Z = t[None, :, :, 0], t[None, :, :, 1], t[None, :, :, 2]
        rX, rY = X - px, Y - py                                   # (Q, m, 3)
        nxt, prv = [1, 2, 0], [2, 0, 1]
        E = rX[..., nxt] * rY[..., prv] - rY[..., nxt] * rX[..., prv]
        area = E.sum(-1, keepdim=True)
        wts = E / area
        inside = (wts >= 0).all(-1)
        eX, eY = X[..., nxt] - X, Y[..., nxt] - Y
        tt = (-(rX * eX + rY * eY) / (eX * eX + eY * eY)).clamp(0, 1)
        dX, dY = -rX - tt * eX, -rY - tt * eY
        d2 = (dX * dX + dY * dY).min(-1).values
        dist = torch.where(inside, d2, -d2) * scale2
        x = dist / SIGMA
        near = inside | (d2 * scale2 <= radius2)                 # the same influence radius as ours
        x = torch.where(near, x, -torch.inf)
        if shader == "silhouette":
            return x, None, None
        wc = wts.clamp(min=0)
        wn = wc / wc.sum(-1, keepdim=True)
        u = wn / Z
        U = u.sum(-1, keepdim=True)
        bary = u / U
        depth = 1.0 / U[..., 0]
        f = torch.tensor(faces[a:b])
        point = torch.einsum("qmi,mic->qmc", bary, verts[f])
        normal = torch.einsum("qmi,mic->qmc", bary, vn[f])
        normal = normal / normal.norm(dim=-1, keepdim=True)
        albedo = torch.einsum("qmi,mic->qmc", bary, colors[f])
        view = eye - point
        view = view / view.norm(dim=-1, keepdim=True)
        ndotl = (normal * light_dir).sum(-1, keepdim=True)
        reflect = 2 * ndotl * normal - light_dir
        rdotv = torch.where(ndotl > 0, (reflect * view).sum(-1, keepdim=True).clamp(min=0), 0.0)
        col = albedo * (0.4 + ndotl.clamp(min=0)) + 0.2 * rdotv ** 32
        zn = (zfar - depth) / (zfar - znear)
        s = torch.where(near, -torch.nn.functional.softplus(-x) + zn / GAMMA, -torch.inf)
        return x, s, col

    def run():
        weights = torch.tensor(np.random.default_rng(1).random((h * w, 4)))
        sb = 1e-10 / GAMMA
        with torch.no_grad():                                      # forward: one pass, online softmax
            L = torch.zeros(h * w, 1, dtype=torch.float64)
            m = torch.full((h * w, 1), sb, dtype=torch.float64)
            Z = torch.zeros(h * w, 1, dtype=torch.float64)
            N = torch.zeros(h * w, 3, dtype=torch.float64)
            for a in range(0, M, step):
                x, s, col = chunk_terms(a, a + step)
                L += -torch.nn.functional.softplus(x).sum(1, keepdim=True)
                if s is not None:
                    m_new = torch.maximum(m, s.max(1, keepdim=True).values)
                    e = torch.exp(s - m_new)
                    Z = Z * torch.exp(m - m_new) + e.sum(1, keepdim=True)
                    N = N * torch.exp(m - m_new) + torch.einsum("qm,qmc->qc", e, col)
                    m = m_new
            alpha = -torch.expm1(L)
            eb = torch.exp(sb - m)
            rgb = (N + eb * 0.0) / (Z + eb)
        g_alpha = weights[:, 3:] if shader != "silhouette" else weights.sum(1, keepdim=True)
        g_L = -g_alpha * (1 - alpha)
        g_rgb = weights[:, :3]
        g_N = g_rgb / (Z + eb)
        g_Z = -(g_rgb * rgb).sum(1, keepdim=True) / (Z + eb)
        for a in range(0, M, step):                                # backward: recompute each chunk
            x, s, col = chunk_terms(a, a + step)
            outs = [-torch.nn.functional.softplus(x).sum(1, keepdim=True)]
            seeds = [g_L]
            if s is not None:
                e = torch.exp(s - m)
                outs += [e.sum(1, keepdim=True), torch.einsum("qm,qmc->qc", e, col)]
                seeds += [g_Z, g_N]
            torch.autograd.backward(outs, seeds, retain_graph=True)
        if shader == "silhouette":
            return torch.cat([alpha] * 4, 1).reshape(1, h, w, 4)
        return torch.cat([rgb, alpha], 1).reshape(1, h, w, 4)
    return run


def compile_times():
    """Seconds to first results of the compiled kernels in fresh processes: with an empty numba
    cache (cold: compiling) and again with the cache written (warm: loading)."""
    import shutil
    import subprocess
    import tempfile
    code = ("import time; t = time.time(); import numpy as np, diffprog as dp; from diffprog import render as R; "
            "R.set_kernels('numba'); m = R.ico_sphere(2); m = R.Mesh(m.verts.data, m.faces, colors=np.ones((m.num_verts, 3))); "
            "c = R.look_at(eye=(0, 0, 2.5), fov=45, image_size=(32, 32)); "
            "[dp.sum(R.render(m, c, shader=s)).backward() for s in ('silhouette', 'phong', 'unlit')]; "
            "dp.sum(R.render(m, c, rasterizer=R.HardRasterizer(), shader='unlit')).backward(); print(time.time() - t)")
    cache = tempfile.mkdtemp(prefix="numba-cache-")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."))
    try:
        out = [float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout.split()[-1]) for _ in range(2)]
        env["DIFFPROG_KERNELS"] = "numpy"
        code_np = code.replace("R.set_kernels('numba'); ", "")
        out.append(float(subprocess.run([sys.executable, "-c", code_np], env=env, capture_output=True, text=True,
                                        check=True).stdout.split()[-1]))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


def measure(kernels, threads, mesh, cams, shader, repeats):
    import numba
    R.set_kernels(kernels)
    numba.set_num_threads(threads)
    ours(mesh, cams, shader)                                     # warm up (compiles once)
    t, img = timed(lambda: ours(mesh, cams, shader), repeats)
    if threads > 1:                                             # CPU time would count every thread
        start = time.perf_counter()
        for _ in range(repeats):
            ours(mesh, cams, shader)
        t = (time.perf_counter() - start) / repeats
    return t, img


def main():
    import numba
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-save", action="store_true", help="print only, do not write to RESULTS.md")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-dense", action="store_true", help="skip the dense PyTorch reference (slow)")
    parser.add_argument("--scaling", action="store_true", help="also time doubling the faces")
    parser.add_argument("--only", nargs="*", default=None, metavar="ROW",
                        help="rows to run, e.g. '128 spot silhouette' '256 20480 phong' (words matched in size, mesh, "
                             "shader; default: all)")
    parser.add_argument("--no-compile", action="store_true", help="skip the first-render (compile) timings")
    args = parser.parse_args()
    cores = numba.config.NUMBA_NUM_THREADS
    compile_cold, compile_warm, first_numpy = (float("nan"),) * 3 if args.no_compile else compile_times()
    print(f"first render (fresh process, incl. imports, wall s): numba cold cache {compile_cold:.1f} s, warm cache "
          f"{compile_warm:.1f} s, numpy kernels {first_numpy:.1f} s", flush=True)
    meshes = {"sphere 5,120": R.ico_sphere(4), "Spot 5,856": R.load_mesh(SPOT, requires_grad=False),
              "sphere 20,480": R.ico_sphere(5)}
    dense_cases = {("sphere 5,120", 128, "silhouette"), ("sphere 5,120", 128, "phong"),
                   ("Spot 5,856", 128, "silhouette")}
    rows = []
    for size in (128, 256):
        for name, base in meshes.items():
            for shader in ("silhouette", "phong"):
                if args.only is not None and not any(_selected(spec, size, name, shader) for spec in args.only):
                    continue
                mesh, cams = scene(base, size)
                t_np, img_np = measure("numpy", 1, mesh, cams, shader, args.repeats)
                mem_np = peak_memory(lambda: ours(mesh, cams, shader))
                t_nb, img = measure("numba", 1, mesh, cams, shader, args.repeats)
                mem_nb = peak_memory(lambda: ours(mesh, cams, shader))
                t_all, _ = measure("numba", cores, mesh, cams, shader, args.repeats)
                numba.set_num_threads(1)
                pairs = len(R.rasterize(mesh, cams, R.SoftRasterizer(sigma=SIGMA, gamma=GAMMA)))
                row = dict(size=size, mesh=name, shader=shader, numpy=t_np, time=t_nb, all=t_all, mem_np=mem_np,
                           mem=mem_nb, pairs=pairs, dense=None, diff=None,
                           kdiff=float(np.abs(img.data - img_np.data).max()))
                if (name, size, shader) in dense_cases and not args.no_dense:
                    td, ref = timed(dense_torch(mesh, cams, shader), 1)
                    row["dense"] = td
                    row["diff"] = float(np.abs(ref.detach().numpy() - img.data).max())
                rows.append(row)
                print(_fmt(row), flush=True)
    scaling = []
    if args.scaling:                                 # doubling the face count at fixed screen coverage
        R.set_kernels("numba")
        for shader in ("silhouette", "phong"):
            for k, sigma in ((None, SIGMA), (8, SIGMA), (None, 1e-5)):
                a_mesh, cams = scene(R.ico_sphere(4), 128)
                b_mesh, _ = scene(bisected(R.ico_sphere(4)), 128)
                ours(a_mesh, cams, shader, k, sigma)
                ta, _ = timed(lambda: ours(a_mesh, cams, shader, k, sigma), args.repeats)
                ours(b_mesh, cams, shader, k, sigma)
                tb, _ = timed(lambda: ours(b_mesh, cams, shader, k, sigma), args.repeats)
                count = [len(R.rasterize(m, cams, R.SoftRasterizer(sigma=sigma))) for m in (a_mesh, b_mesh)]
                scaling.append((shader, k, sigma, ta, tb, count))
    text = _report(rows, scaling, (compile_cold, compile_warm, first_numpy), cores)
    print(text)
    if not args.no_save:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
        with open(path) as f:
            old = f.read()
        head, sep, rest = old.partition("\n## ")
        with open(path, "w") as f:
            f.write(head.rstrip("\n") + "\n" + text + ("\n## " + rest if sep else ""))


def _selected(spec, size, mesh, shader):
    """Whether every word of ``spec`` names the row's size, shader or a word of its mesh."""
    words = {str(size), shader} | set(mesh.lower().replace(",", "").split())
    return all(w.lower().replace(",", "") in words for w in spec.split())


def _fmt(r):
    dense = f"{r['dense']:8.2f} s {r['dense'] / r['time']:6.1f}x  max|diff| {r['diff']:.1e}" if r["dense"] else ""
    return (f"{r['size']:4d}  {r['mesh']:14s} {r['shader']:10s} numpy {r['numpy']:7.3f} s  numba {r['time']:7.3f} s "
            f"({r['numpy'] / r['time']:5.1f}x)  all threads {r['all']:7.3f} s  {r['mem_np']:6.1f} -> {r['mem']:6.1f} MB "
            f"{r['pairs']:9d} pairs {r['pairs'] / r['time'] / 1e6:6.2f} M pairs/s  max|numba-numpy| {r['kdiff']:.1e}  "
            f"{dense}")


def _report(rows, scaling, compile, cores):
    import numba
    lines = ["", "## render (issue 14): compiled (numba) vs NumPy reference kernels, soft rasterizer forward + backward "
             "(benchmarks/render.py)", "",
             f"`python benchmarks/render.py` on {datetime.date.today()}, "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (1-minute load average "
             f"{os.getloadavg()[0]:.1f} at the end of the run: above 1 means other work shared the machine and "
             f"absolute times are inflated; ratios are measured in the same run); Python {platform.python_version()}, NumPy {np.__version__}, numba {numba.__version__}, "
             f"PyTorch {torch.__version__}. sigma = gamma = 1e-4, no faces-per-pixel cap, float64, one image, "
             f"loss = weighted sum of RGBA. Times: median process CPU seconds at 1 thread; 'all threads' "
             f"({cores}) is wall time. Memory: tracemalloc peak (NumPy arrays; numba's own buffers are "
             f"allocated through NumPy and counted).", "",
             f"First render in a fresh process (wall seconds, imports included, ico-sphere 320 faces at 32x32, silhouette + "
             f"phong + unlit + hard): numba kernels cold cache {compile[0]:.1f} s (compiling), warm cache "
             f"{compile[1]:.1f} s, NumPy kernels {compile[2]:.1f} s.", "",
             "| size | mesh | shader | NumPy kernels | numba, 1 thread | speed-up | numba, all threads | peak memory "
             "NumPy -> numba | pairs | pairs/s (numba, 1 thread) | dense PyTorch | max abs diff numba vs NumPy |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dense = f"{r['dense']:.2f} s" if r["dense"] else "not run"
        lines.append(f"| {r['size']} | {r['mesh']} | {r['shader']} | {r['numpy']:.3f} s | {r['time']:.3f} s | "
                     f"{r['numpy'] / r['time']:.1f}x | {r['all']:.3f} s | {r['mem_np']:.0f} -> {r['mem']:.0f} MB | "
                     f"{r['pairs']:,} | {r['pairs'] / r['time'] / 1e6:.2f} M | {dense} | {r['kdiff']:.1e} |")
    if scaling:
        lines += ["", "Doubling the faces at fixed screen coverage (numba kernels, 128x128):", ""]
        for shader, k, sigma, ta, tb, count in scaling:
            lines.append(f"- {shader}, faces_per_pixel={k}, sigma={sigma:g}: {ta:.3f} s -> {tb:.3f} s "
                         f"({tb / ta:.2f}x; pixel-face pairs {count[0]:,} -> {count[1]:,})")
    lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
