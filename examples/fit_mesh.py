"""Fit a coloured mesh to Spot's photographs with diffprog's public API (what `diffprog fit` does).

    python examples/fit_mesh.py [--out DIR]     # about a minute on two cores; writes fit_mesh.obj
    python examples/fit_mesh.py --smoke         # 32 x 32 pixels, 40 steps

Prints the silhouette IoU on the fitting views before (the starting sphere) and after the fit.
"""
import argparse
import json
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffprog as dp                                                              # noqa: E402
from diffprog import optim, render as R                                            # noqa: E402
from diffprog.fit import cameras_from_matrices, look_at_point, render_unlit, silhouette_iou  # noqa: E402
from diffprog.fit import load_scene, read_views                                     # noqa: E402
from _common import output_folder                                                  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="32 x 32 pixels, 40 steps (seconds)")
parser.add_argument("--out", default=None, help="output folder (default examples/output)")
args = parser.parse_args()
out = output_folder(args.out)
size, steps = (32, 40) if args.smoke else (64, 200)

scene = load_scene(os.path.join(ROOT, "scenes", "spot.toml"))     # photographs + OpenGL cameras
background = np.ones(3)
photos = read_views(scene, size, scene.fit_views)                 # (20, size, size, 4) RGBA
target_alpha = photos[..., 3]
target_rgb = photos[..., :3] * photos[..., 3:] + background * (1 - photos[..., 3:])
c2w = np.stack([v.camera_to_world for v in scene.fit_views])
cams = cameras_from_matrices(c2w, [v.fov for v in scene.fit_views], size)

sphere = R.ico_sphere(3, radius=0.6, center=look_at_point(c2w))
verts = dp.tensor(sphere.verts.data, requires_grad=True)
colors = dp.tensor(np.full(sphere.verts.shape, 0.5), requires_grad=True)
optimizer = optim.Adam([{"params": [verts], "lr": 0.005 * 64 / size}, {"params": [colors], "lr": 0.02}])
rng = np.random.default_rng(0)


def iou_now():
    mesh = R.Mesh(verts.data, sphere.faces, colors=np.clip(colors.data, 0, 1), requires_grad=False)
    with dp.no_grad():
        alpha = np.asarray(render_unlit(mesh, cams, R.HardRasterizer(), background).data)[..., 3]
    return silhouette_iou(alpha, target_alpha), mesh


before, _ = iou_now()
for step in tqdm(range(steps), desc="fitting"):
    views = rng.choice(len(c2w), size=4, replace=False)
    mesh = R.Mesh(verts, sphere.faces, colors=colors)
    sigma = 3e-4 * (0.1 ** (step / (steps - 1)))                  # sharpen the edges as we go
    image = render_unlit(mesh, cams[views], R.SoftRasterizer(sigma=sigma), background)
    loss = (R.mse_loss(image[..., 3], target_alpha[views]) + R.mse_loss(image[..., :3], target_rgb[views])
            + R.edge_length(mesh) + 0.01 * R.normal_consistency(mesh) + R.laplacian_smoothing(mesh))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 50 == 0:
        tqdm.write(f"step {step:3d}  loss {float(loss.data):.4f}")

after, mesh = iou_now()
print(f"silhouette IoU on the fitting views: {before:.3f} (sphere) -> {after:.3f}")
R.save_mesh(mesh, os.path.join(out, "fit_mesh.obj"))
with open(os.path.join(out, "fit_mesh.json"), "w") as f:
    json.dump({"iou_before": before, "iou_after": after, "steps": steps, "size": size}, f, indent=1)
print(f"mesh and numbers written to {out}")
