"""Small deterministic scenes shared by the render tests."""
import numpy as np

from diffprog import render as R

SPOT = "assets/spot/spot_triangulated.obj"

# smooth enough for finite differences; min_coverage tiny so no pair appears or vanishes under eps
SMOOTH = dict(sigma=3e-2, gamma=3e-1, min_coverage=1e-14)


def tiny_mesh_arrays():
    """Two triangles (one tilted) with vertex colours: (verts, faces, colors)."""
    verts = np.array([[-0.6, -0.5, 0.1], [0.7, -0.4, -0.2], [0.0, 0.6, 0.3], [0.5, 0.5, -0.5]])
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    colors = np.random.default_rng(1).random((4, 3))
    return verts, faces, colors


def tiny_cams(eye=(0.3, 0.2, 2.5), size=(6, 7), requires_grad=False, **kw):
    return R.look_at(eye=eye, fov=50, image_size=size, requires_grad=requires_grad, **kw)
