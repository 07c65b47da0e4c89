"""A textured OBJ as Blender, MeshLab and trimesh read it: ``name.obj`` + ``name.mtl`` + a PNG.

``write_textured_obj`` writes positions (with per-vertex RGB appended to the ``v`` lines when
colours are given, the widely read ``v x y z r g b`` extension), texture coordinates, faces
``f v/vt``, and a material whose diffuse map is the texture (``Kd 1 1 1`` so the map is not dimmed).
"""
import os

import numpy as np

from .image import write_image


def write_textured_obj(path, verts, faces, uvs, face_uvs, texture, colors=None, texture_name="texture.png"):
    """Write ``path`` (.obj), the .mtl beside it (same stem) and ``texture_name`` (PNG) in its folder.

    verts (V, 3); faces (F, 3) int; uvs (T, 2) in [0, 1] (v up); face_uvs (F, 3) int into uvs;
    texture (H, W, 3) in [0, 1], row 0 at the top; colors: optional (V, 3) in [0, 1].
    Returns the three paths written."""
    path = os.fspath(path)
    if not path.lower().endswith(".obj"):
        raise ValueError(f"path: expected a .obj file name, got {path!r}")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"path: folder {folder!r} does not exist")
    verts, uvs = np.asarray(verts, float), np.asarray(uvs, float)
    faces, face_uvs = np.asarray(faces, np.int64), np.asarray(face_uvs, np.int64)
    if faces.shape != face_uvs.shape or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces {faces.shape} and face_uvs {face_uvs.shape}: expected the same (F, 3) shape")
    texture = np.asarray(texture, float)
    if texture.ndim != 3 or texture.shape[2] != 3:
        raise ValueError(f"texture: expected an (H, W, 3) image, got shape {texture.shape}")
    stem = os.path.splitext(os.path.basename(path))[0]
    mtl_path = os.path.join(folder, stem + ".mtl")
    texture_path = os.path.join(folder, texture_name)
    write_image(texture_path, np.clip(texture, 0.0, 1.0))
    with open(mtl_path, "w") as f:
        f.write(f"# written by diffprog\nnewmtl {stem}\nKa 0 0 0\nKd 1 1 1\nKs 0 0 0\nillum 1\n"
                f"map_Kd {texture_name}\n")
    if colors is not None:
        colors = np.clip(np.asarray(colors, float), 0.0, 1.0)
        if colors.shape != verts.shape:
            raise ValueError(f"colors: expected one RGB row per vertex {verts.shape}, got {colors.shape}")
    lines = ["# written by diffprog", f"mtllib {stem}.mtl"]
    body = "\n".join(_rows("v %.9g %.9g %.9g" + (" %.6f %.6f %.6f" if colors is not None else ""),
                           verts if colors is None else np.concatenate([verts, colors], axis=1)))
    uv_body = "\n".join(_rows("vt %.9g %.9g", uvs))
    corners = np.stack([faces + 1, face_uvs + 1], axis=2).reshape(len(faces), 6)
    face_body = "\n".join(_rows("f %d/%d %d/%d %d/%d", corners))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + body + "\n" + uv_body + f"\nusemtl {stem}\n" + face_body + "\n")
    return path, mtl_path, texture_path


def _rows(fmt, array):
    return [fmt % tuple(row) for row in array.tolist()]
