"""Visual hull from exact silhouettes of a known shape."""
import numpy as np
import pytest
import trimesh

from diffprog.fit.cameras import focal_from_fov
from diffprog.fit.visual_hull import visual_hull


def _look_at(eye, target=np.zeros(3)):
    back = eye - target
    back /= np.linalg.norm(back)
    up = np.array([0.0, 1.0, 0.0]) if abs(back[1]) < 0.99 else np.array([1.0, 0.0, 0.0])
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, np.cross(back, right), back, eye
    return m


def _sphere_masks(c2w, fov, size, center, radius, supersample=4):
    """Exact coverage of a sphere: ray-sphere intersection on a supersampled pixel grid."""
    focal = focal_from_fov(fov, size)
    s = (np.arange(size * supersample) + 0.5) / supersample
    cols, rows = np.meshgrid(s, s)
    masks = []
    for m in c2w:
        d_cam = np.stack([(cols - size / 2) / focal, -(rows - size / 2) / focal, -np.ones_like(cols)], -1)
        d = d_cam @ m[:3, :3].T
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        oc = m[:3, 3] - center
        b = d @ oc
        hit = b * b - (oc @ oc - radius ** 2) > 0
        masks.append(hit.reshape(size, supersample, size, supersample).mean((1, 3)))
    return np.stack(masks)


def _fibonacci(n):
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5 ** 0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), z, r * np.sin(phi)], 1)


def test_visual_hull_of_a_sphere_contains_it_and_is_within_one_voxel():
    center, radius = np.array([0.1, -0.2, 0.05]), 0.5
    c2w = np.stack([_look_at(center + 4.0 * d, center) for d in _fibonacci(60)])
    masks = _sphere_masks(c2w, 30.0, 96, center, radius)
    verts, faces, spacing = visual_hull(c2w, 30.0, masks, resolution=24)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight and mesh.euler_number == 2 and mesh.volume > 0
    distance = np.linalg.norm(verts - center, axis=1)
    pixel = 2 * 4.0 * np.tan(np.radians(15.0)) / 96           # a pixel's footprint at the sphere
    assert distance.min() > radius - pixel                   # contains the sphere (up to the pixels)
    assert distance.max() < radius + spacing                 # and is within one voxel of it


def test_visual_hull_carves_the_hole_of_a_torus():
    """A torus seen from around: the hull keeps genus 1 (the hole is seen through from above)."""
    R, r = 0.6, 0.2
    dirs = _fibonacci(40)
    c2w = np.stack([_look_at(3.5 * d) for d in dirs])
    size, supersample = 64, 3
    focal = focal_from_fov(35.0, size)
    s = (np.arange(size * supersample) + 0.5) / supersample
    cols, rows = np.meshgrid(s, s)
    masks = []
    t = np.linspace(0, 1, 200)[:, None, None]
    for m in c2w:                                            # march each ray through the torus SDF
        d = np.stack([(cols - size / 2) / focal, -(rows - size / 2) / focal, -np.ones_like(cols)], -1) @ m[:3, :3].T
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        p = m[:3, 3] + (2.5 + 2.0 * t)[..., None] * d[None]
        sdf = np.sqrt((np.hypot(p[..., 0], p[..., 2]) - R) ** 2 + p[..., 1] ** 2) - r
        masks.append((sdf.min(0) < 0).reshape(size, supersample, size, supersample).mean((1, 3)))
    verts, faces, spacing = visual_hull(c2w, 35.0, np.stack(masks), resolution=32)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight and mesh.euler_number == 0


def test_empty_masks_are_an_error():
    c2w = np.stack([_look_at(np.array([0.0, 0.0, 3.0])), _look_at(np.array([3.0, 0.0, 0.0]))])
    with pytest.raises(ValueError, match="empty"):
        visual_hull(c2w, 40.0, np.zeros((2, 16, 16)), radius=0.5)
    with pytest.raises(ValueError, match="masks"):
        visual_hull(c2w, 40.0, np.zeros((3, 16, 16)))
