"""Differentiable mesh rendering: camera -> (clipping) -> rasterizer -> shader -> blend.

The pair search, pair geometry, blending, interpolation, texture and lighting run in compiled
(numba) kernels; ``set_kernels("numpy")`` (or ``DIFFPROG_KERNELS=numpy``) selects the NumPy
reference kernels instead, and ``set_threads(n)`` sets numba's thread count.

    >>> from diffprog import render as R
    >>> mesh = R.ico_sphere(3)
    >>> cams = R.look_at(eye=R.orbit(n=4, elev=20, dist=2.7), fov=45, image_size=(64, 64))
    >>> img = R.render(mesh, cams, R.DirectionalLight(direction=(0, -1, -1)), shader="phong")
    >>> img.shape
    (4, 64, 64, 4)
"""
from .mesh import Mesh, face_normals, vertex_normals, join_meshes
from .shapes import ico_sphere, plane, cube, subdivide
from .camera import (Cameras, look_at, look_at_rotation, orbit, axis_angle_to_matrix, quaternion_to_matrix,
                     check_image_size)
from .conventions import (cameras_from_opencv_projection, opencv_from_cameras_projection, cameras_from_pytorch3d,
                          pytorch3d_from_cameras)
from .clipping import screen_triangles
from .fragments import Fragments
from .rasterize_soft import SoftRasterizer
from .blend import soft_blend, hard_blend
from .rasterize_hard import HardRasterizer
from .lights import DirectionalLight, PointLight, Material
from .texture import sample_texture
from .shading import shade, interpolate
from .render import render, rasterize
from .kernels import set_kernels, get_kernels, set_threads
from .losses import (mse_loss, l1_loss, silhouette_iou_loss, laplacian_smoothing, edge_length, normal_consistency,
                     chamfer_distance, sample_points, channel_squared_errors)
from .files import load_mesh, save_mesh
from .transforms_file import load_transforms, save_transforms
