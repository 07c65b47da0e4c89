"""Small synthetic captures for the capture tests: a COLMAP model whose 2-D observations are exact
projections (OpenCV convention, written out here independently of diffprog), and image folders."""
import os

import numpy as np

from diffprog.io import colmap

SIZE = (64, 48)                                   # width, height


def look_at_opengl(eye, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)):
    eye, target, up = (np.asarray(v, float) for v in (eye, target, up))
    back = (eye - target) / np.linalg.norm(eye - target)
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, np.cross(back, right), back, eye
    return c2w


def opencv_project(points, rotation, translation, fx, fy, cx, cy, k1=0.0, k2=0.0, p1=0.0, p2=0.0):
    """COLMAP's projection: world -> camera (x right, y down, z forward) -> distortion -> pixels."""
    cam = points @ rotation.T + translation
    x, y = cam[:, 0] / cam[:, 2], cam[:, 1] / cam[:, 2]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([fx * xd + cx, fy * yd + cy], axis=1)


def synthetic_model(seed=0, count=4):
    """(model, c2w_opengl {image name: 4x4}): 2 cameras (PINHOLE, OPENCV), ``count`` images, 40 points."""
    rng = np.random.default_rng(seed)
    cameras = {1: colmap.Camera(1, "PINHOLE", *SIZE, np.array([60.0, 58.0, 31.5, 24.25])),
               2: colmap.Camera(2, "OPENCV", *SIZE, np.array([55.0, 55.0, 32.5, 23.5, -0.06, 0.01, 0.002, -0.001]))}
    xyz = rng.uniform(-0.5, 0.5, (40, 3))
    images, truth, tracks = {}, {}, {i: ([], []) for i in range(len(xyz))}
    for k in range(count):
        angle = 2 * np.pi * k / count + 0.3
        c2w = look_at_opengl([4 * np.sin(angle), 1.0 + 0.3 * k, 4 * np.cos(angle)])
        cv = c2w @ np.diag([1.0, -1.0, -1.0, 1.0])
        rotation = cv[:3, :3].T
        translation = -rotation @ cv[:3, 3]
        camera = cameras[1 + k % 2]
        fx, fy, cx, cy, *dist = camera.params
        if camera.model == "PINHOLE":
            uv = opencv_project(xyz, rotation, translation, fx, fy, cx, cy)
        else:
            uv = opencv_project(xyz, rotation, translation, fx, fy, cx, cy, *dist)
        name = f"frame_{k:03d}.png"
        ids = np.arange(len(xyz))
        images[k + 1] = colmap.Image(k + 1, colmap.rotation_to_quaternion(rotation), translation, camera.id, name,
                                     uv, ids.astype(np.int64))
        for i in ids:
            tracks[i][0].append(k + 1)
            tracks[i][1].append(i)
        truth[name] = c2w
    points = {i + 1: colmap.Point3D(i + 1, xyz[i], np.array([200, 100, 50], np.uint8), 0.5,
                                    np.array(tracks[i][0]), np.array(tracks[i][1])) for i in range(len(xyz))}
    for image in images.values():
        image.point3D_ids = image.point3D_ids + 1
    return colmap.Model(cameras, images, points, {}), truth


def write_images(folder, names, masks=None, size=SIZE):
    """RGB PNGs (no alpha) with a disc in the middle; masks (8-bit) of the disc in ``masks``."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    v, u = np.mgrid[0:size[1], 0:size[0]]
    disc = (u - size[0] / 2) ** 2 + (v - size[1] / 2) ** 2 < (size[1] / 3) ** 2
    rgb = np.where(disc[..., None], [220, 60, 40], [90, 120, 70]).astype(np.uint8)
    for name in names:
        Image.fromarray(rgb).save(os.path.join(folder, name))
        if masks is not None:
            os.makedirs(masks, exist_ok=True)
            Image.fromarray(disc.astype(np.uint8) * 255).save(os.path.join(masks, name + ".png"))
