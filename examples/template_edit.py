"""Recover a local edit of a template mesh as a local change: proximal-L1 offsets vs an L2 fit.

The photographs (assets/spot_edited/photos/, Mitsuba 3, ``assets/make_photos.py --object
spot_edited``) show Spot with its right horn shortened; nothing else changed. Both fits start
from the original Spot and optimize per-vertex offsets against the photographs' silhouettes:

- L1: ``TemplateOffsets(l1=...)``: proximal-L1 steps (the optimizers' ``prox=`` hook, in Adam's
  metric), then a relaxed-Lasso refit of the vertices that moved;
- L2: the same fit with ``l2 * mean |offset|^2`` in place of the L1 prox: every vertex moves.

It prints, for both, the share of vertices outside the edited region that are bit-identical to
the template and the chamfer distance over the edited region (points sampled on the faces that
touch it, to the other surface), over the diagonal of the truth.

    python examples/template_edit.py            # ~10-20 min on two cores
    python examples/template_edit.py --steps 60 --refit 20 --size 96      # a quick look
"""
import argparse
import json
import os
import time

import numpy as np

import diffprog.autodiff as dp
from diffprog import render as R
from diffprog.fit import cameras_from_matrices
from diffprog.fit.template import TemplateOffsets, region_chamfer_over_diagonal
from diffprog.io import read_mesh
from diffprog.io.scene import read_photograph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "assets", "spot", "spot_triangulated.obj")
EDITED = os.path.join(ROOT, "assets", "spot_edited")


def load(size):
    """Template (verts, faces), the truth's vertices, the edited-region mask, cameras, photo alphas."""
    mesh = read_mesh(TEMPLATE)
    template, faces = mesh["verts"], mesh["faces"]
    edit = np.load(os.path.join(EDITED, "edit.npz"))
    rows = {tuple(v): i for i, v in enumerate(template.tolist())}
    index = np.array([rows[tuple(v)] for v in edit["before"].tolist()])
    truth = template.copy()
    truth[index] = edit["after"]
    region = np.zeros(len(template), bool)
    region[index] = True
    with open(os.path.join(EDITED, "photos", "transforms.json")) as f:
        meta = json.load(f)
    frames = [fr for fr in meta["frames"] if fr["split"] == "fit"]
    c2w = np.array([fr["transform_matrix"] for fr in frames])
    cams = cameras_from_matrices(c2w, np.degrees(meta["camera_angle_x"]), size)
    alphas = np.stack([read_photograph(os.path.join(EDITED, "photos", fr["file_path"]), size)[..., 3]
                       for fr in frames])
    return template, faces, truth, region, cams, alphas


def fit(template, faces, cams, alphas, args, l1=0.0, l2=0.0, label=""):
    """Offsets from the template fitted to the silhouettes; returns the fitted vertices."""
    offsets = TemplateOffsets(template, faces, l1=l1, l2=l2, smoothness=args.smoothness)
    optimizer = offsets.optimizer(lr=args.lr)
    rasterizer = R.SoftRasterizer(sigma=args.sigma)
    total = args.steps + (args.refit if l1 > 0 else 0)
    started = time.perf_counter()
    for step in range(total):
        if step == args.steps and l1 > 0:
            offsets.refit(optimizer)
        for group in optimizer.param_groups:
            group["lr"] = args.lr * 0.1 ** (step / max(total - 1, 1))
        views = np.sort(np.random.default_rng([args.seed, step]).choice(len(alphas), args.views, replace=False))
        image = R.render(R.Mesh(offsets.verts(), faces, requires_grad=False), cams[views], rasterizer=rasterizer,
                         shader="silhouette")
        loss = R.mse_loss(image[..., 3], alphas[views]) + offsets.penalty()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == total - 1:
            print(f"  {label} step {step:4d}  loss {float(loss.data):.5f}  moved vertices {offsets.moved().sum():5d}"
                  f"  {time.perf_counter() - started:6.1f} s", flush=True)
    return offsets.verts().data


def report(name, verts, template, faces, truth, region):
    outside = ~region
    unmoved = np.all(verts[outside] == template[outside], axis=1).mean()
    chamfer = region_chamfer_over_diagonal(verts, truth, faces, region)
    before = region_chamfer_over_diagonal(template, truth, faces, region)
    print(f"{name:>4}: outside the edit {100 * unmoved:5.1f}% of vertices bit-identical; edited region chamfer "
          f"{100 * chamfer:.3f}% of the diagonal (template: {100 * before:.3f}%)")
    return unmoved, chamfer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="image size (photographs are 256x256)")
    parser.add_argument("--steps", type=int, default=200, help="steps with the L1 prox (and of the L2 fit)")
    parser.add_argument("--refit", type=int, default=60, help="relaxed-Lasso steps on the moved vertices")
    parser.add_argument("--views", type=int, default=5, help="photographs per step (of 20)")
    parser.add_argument("--l1", type=float, default=6e-4, help="L1 strength (threshold on the loss gradient)")
    parser.add_argument("--l2", type=float, default=1.0, help="L2 weight of the baseline")
    parser.add_argument("--smoothness", type=float, default=30.0, help="Dirichlet energy weight of the offsets")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--sigma", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fits", nargs="+", default=["L1", "L2"], choices=["L1", "L2"])
    args = parser.parse_args(argv)
    template, faces, truth, region, cams, alphas = load(args.size)
    print(f"Spot: {len(template)} vertices, {region.sum()} edited (right horn shortened by "
          f"{np.abs(truth - template).max():.3f}); {len(alphas)} photographs at {args.size}x{args.size}")
    fitted = {}
    if "L1" in args.fits:
        fitted["L1"] = fit(template, faces, cams, alphas, args, l1=args.l1, label="L1")
    if "L2" in args.fits:
        fitted["L2"] = fit(template, faces, cams, alphas, args, l2=args.l2, label="L2")
    print()
    for name, verts in fitted.items():
        report(name, verts, template, faces, truth, region)


if __name__ == "__main__":
    main()
