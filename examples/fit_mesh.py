"""Fit a coloured mesh to Spot's photographs with diffprog's public API (what `diffprog fit` does).

    python examples/fit_mesh.py            # about a minute on two cores; writes out/fit_mesh.obj
"""
import os

import numpy as np

import diffprog as dp
from diffprog import optim, render as R
from diffprog.fit import cameras_from_matrices, look_at_point, render_unlit, silhouette_iou
from diffprog.fit import load_scene, read_views

scene = load_scene("scenes/spot.toml")                            # photographs + OpenGL cameras
size, background = 64, np.ones(3)
photos = read_views(scene, size, scene.fit_views)                 # (20, 64, 64, 4) RGBA
target_alpha = photos[..., 3]
target_rgb = photos[..., :3] * photos[..., 3:] + background * (1 - photos[..., 3:])
c2w = np.stack([v.camera_to_world for v in scene.fit_views])
cams = cameras_from_matrices(c2w, [v.fov for v in scene.fit_views], size)

sphere = R.ico_sphere(3, radius=0.6, center=look_at_point(c2w))
verts = dp.tensor(sphere.verts.data, requires_grad=True)
colors = dp.tensor(np.full(sphere.verts.shape, 0.5), requires_grad=True)
optimizer = optim.Adam([{"params": [verts], "lr": 0.005}, {"params": [colors], "lr": 0.02}])
rng = np.random.default_rng(0)

for step in range(200):
    views = rng.choice(len(c2w), size=4, replace=False)
    mesh = R.Mesh(verts, sphere.faces, colors=colors)
    sigma = 3e-4 * (0.1 ** (step / 199))                          # sharpen the edges as we go
    image = render_unlit(mesh, cams[views], R.SoftRasterizer(sigma=sigma), background)
    loss = (R.mse_loss(image[..., 3], target_alpha[views]) + R.mse_loss(image[..., :3], target_rgb[views])
            + R.edge_length(mesh) + 0.01 * R.normal_consistency(mesh) + R.laplacian_smoothing(mesh))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 50 == 0:
        print(f"step {step:3d}  loss {float(loss.data):.4f}")

mesh = R.Mesh(verts.data, sphere.faces, colors=np.clip(colors.data, 0, 1), requires_grad=False)
with dp.no_grad():
    alpha = np.asarray(render_unlit(mesh, cams, R.HardRasterizer(), background).data)[..., 3]
print(f"silhouette IoU on the fitting views: {silhouette_iou(alpha, target_alpha):.3f}")
os.makedirs("out", exist_ok=True)
R.save_mesh(mesh, "out/fit_mesh.obj")
