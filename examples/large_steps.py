"""Large Steps outside the fit: pull an ico-sphere onto a rounded cube with sparse, partial gradients.

Each step only a random 10% of the vertices see the target (as in rendering, where a view sees part
of the surface): the loss is the squared signed distance of those vertices to the cube. Plain Adam on
the positions moves exactly those vertices, so the surface turns spiky; Large Steps
(``optim.LargeSteps``: optimize u = (I + lambda L) x, map back by a sparse solve) with its uniform
Adam spreads every step over the neighbourhood and keeps the mesh smooth while it converges.

    python examples/large_steps.py            # prints both runs' distance error and roughness

Measured (300 steps, level-4 sphere): Adam on positions ends 0.0004 from the cube with roughness
0.0117; Large Steps ends 0.0028 from it with roughness 0.0038, three times smoother (a few seconds).
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog import optim
from diffprog import render as R


def cube_distance(points, half=0.6, radius=0.15):
    """Signed distance to a cube of half-size ``half`` with edges rounded by ``radius``."""
    q = dp.abs(points) - (half - radius)
    outside = dp.sqrt(dp.sum(dp.maximum(q, 0.0) ** 2, axis=1) + 1e-12)
    inside = dp.minimum(dp.max(q, axis=1), 0.0)
    return outside + inside - radius


def run(large_steps, steps=300, seed=0):
    sphere = R.ico_sphere(4, requires_grad=False)
    verts, faces = np.asarray(sphere.verts.data), sphere.faces
    rng = np.random.default_rng(seed)
    if large_steps:
        param = optim.LargeSteps(faces, lambda_=10.0)
        u = param.parameter(verts)
        optimizer = optim.AdamUniform([u], lr=0.02)
        positions = lambda: param.vertices(u)                # noqa: E731
    else:
        x = dp.tensor(verts.copy(), requires_grad=True)
        optimizer = optim.Adam([x], lr=0.01)
        positions = lambda: x                                # noqa: E731
    for _ in range(steps):
        seen = rng.random(len(verts)) < 0.1
        optimizer.zero_grad()
        loss = dp.sum(cube_distance(positions()[seen]) ** 2)
        loss.backward()
        optimizer.step()
    final = np.asarray(positions().data)
    error = np.abs(cube_distance(dp.tensor(final)).data).mean()
    laplacian = optim.uniform_laplacian(faces, len(final))
    degree = laplacian.diagonal()[:, None]
    roughness = np.linalg.norm(laplacian @ final / degree, axis=1).mean()
    return error, roughness


def main():
    for name, flag in (("Adam on positions", False), ("Large Steps + AdamUniform", True)):
        error, roughness = run(flag)
        print(f"{name:28s} mean |distance| {error:.4f}   roughness |Lx|/deg {roughness:.4f}")


if __name__ == "__main__":
    main()
