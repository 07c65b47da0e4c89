"""Mesh files <-> arrays through ``trimesh`` (OBJ, PLY, OFF, GLB/GLTF, STL, ...).

``read_mesh`` returns plain arrays: vertices are welded by position (a vertex split at a UV seam
stays one vertex; the seam lives in ``face_uvs``), so a fitted surface cannot crack.
"""
import glob
import os

import numpy as np

from .image import _check_path, read_image


def read_mesh(path, texture=None, dtype=np.float64):
    """Read a triangle mesh. Returns a dict with ``verts`` (V, 3), ``faces`` (F, 3) int64 and,
    when present, ``colors`` (V, 3) in [0, 1], ``uvs`` (T, 2), ``face_uvs`` (F, 3) and ``texture``
    (H, W, C) in [0, 1].

    texture: path of a texture image to use; when None the file's material image is used, or else
    the single image in the same folder whose name contains 'texture' (e.g. Spot's
    ``spot_texture.png``), if there is exactly one.
    """
    import trimesh
    path = _check_path(path, "mesh")
    _check_text(path)
    try:
        loaded = trimesh.load(path, process=False, force="mesh")
    except Exception as err:
        raise ValueError(f"path: cannot read {path!r} as a mesh ({type(err).__name__}: {err})") from None
    if not isinstance(loaded, trimesh.Trimesh):
        raise ValueError(f"path: {path!r} does not hold a triangle mesh (got {type(loaded).__name__})")
    verts = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    if len(verts) == 0 or len(faces) == 0:
        raise ValueError(f"path: {path!r} holds an empty mesh ({len(verts)} vertices, {len(faces)} faces)")
    if not np.all(np.isfinite(verts)):
        raise ValueError(_non_finite_message(path, verts))
    out = {}
    visual = loaded.visual
    uv = getattr(visual, "uv", None)
    if uv is not None and len(uv) == len(verts):
        out["uvs"] = np.asarray(uv, dtype=dtype)
        out["face_uvs"] = faces.copy()
        image = None
        if texture is None:
            material = getattr(visual, "material", None)
            image = getattr(material, "image", None)
            if image is None:
                image = getattr(material, "baseColorTexture", None)
            if path.lower().endswith(".obj") and not _has_material_file(path):
                image = None                        # trimesh fills in a placeholder image
            if image is None:
                texture = _sibling_texture(path)
        if image is not None:
            arr = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
            out["texture"] = arr.astype(dtype)
        elif texture is not None:
            tex = read_image(texture, dtype)
            out["texture"] = np.repeat(tex, 3, axis=2) if tex.shape[2] == 1 else tex[:, :, :3]     # RGB
    elif texture is not None:
        raise ValueError(f"texture: given {texture!r} but {path!r} has no texture coordinates")
    colors = None
    if getattr(visual, "kind", None) == "vertex":
        c = np.asarray(visual.vertex_colors, dtype=np.float64)[:, :3] / 255.0
        if len(c) == len(verts) and not np.allclose(c, c[0]):
            colors = c
    # weld vertices split by the loader (UV seams) so the surface is one piece
    welded, inverse = np.unique(verts, axis=0, return_inverse=True)
    if len(welded) < len(verts):
        inverse = inverse.reshape(-1)
        first = np.full(len(welded), len(verts))
        np.minimum.at(first, inverse, np.arange(len(verts)))
        order = np.argsort(first)                         # keep the file's vertex order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        verts = verts[first[order]]
        faces = rank[inverse][faces]
        if colors is not None:
            colors = colors[first[order]]
    out["verts"] = verts.astype(dtype)
    out["faces"] = faces
    if colors is not None:
        out["colors"] = colors.astype(dtype)
    return out


# Mesh formats that are text files (a binary file with one of these extensions is not a mesh).
_TEXT_FORMATS = {".obj": "OBJ", ".off": "OFF"}


def _check_text(path):
    """Raise ValueError if a text-format mesh file (OBJ, OFF) holds binary data: its first NUL byte
    or its first byte that is not UTF-8, named by offset. (trimesh would guess an encoding and end
    in an unrelated error or an empty mesh.)"""
    name = _TEXT_FORMATS.get(os.path.splitext(path)[1].lower())
    if name is None:
        return
    with open(path, "rb") as handle:
        data = handle.read()
    offset = data.find(b"\x00")
    if offset < 0:
        try:
            data.decode("utf-8")
            return
        except UnicodeDecodeError as error:
            if sum(byte >= 0x80 for byte in data) < 0.05 * len(data):
                return                                  # mostly text: comments in another encoding
            offset = error.start
    raise ValueError(f"path: cannot read {path!r} as a mesh: it is not a text {name} file (binary data at "
                     f"byte {offset}: {data[offset:offset + 8]!r}); expected lines such as 'v 0.1 0.2 0.3'")


def _non_finite_message(path, verts):
    """'<file>, line N: vertex i is not finite (...)' for the first vertex with a NaN or infinite
    coordinate (the line is found for OBJ files: the i-th 'v' line)."""
    index = int(np.flatnonzero(~np.all(np.isfinite(verts), axis=1))[0])
    where = path
    if path.lower().endswith(".obj"):
        with open(path, "rb") as handle:
            count = -1
            for number, line in enumerate(handle, 1):
                if line.split(b"#", 1)[0].split()[:1] == [b"v"]:
                    count += 1
                    if count == index:
                        where = f"{path}, line {number}"
                        break
    return (f"{where}: vertex {index} is not finite ({', '.join(repr(float(x)) for x in verts[index])}); "
            "expected finite coordinates")


def _has_material_file(path):
    with open(path, "rb") as f:
        return b"mtllib" in f.read()


def _sibling_texture(path):
    folder = os.path.dirname(os.path.abspath(path))
    found = [f for ext in ("png", "jpg", "jpeg") for f in glob.glob(os.path.join(folder, f"*texture*.{ext}"))]
    return found[0] if len(found) == 1 else None


def write_mesh(path, verts, faces, colors=None, uvs=None, face_uvs=None, texture=None):
    """Write a mesh; the format follows the extension (.obj, .ply, .off, .glb, .stl, ...).
    Vertex colours (in [0, 1]) are written where the format supports them; UVs and a texture
    image are written for OBJ (with a .mtl and a PNG next to it) and GLB."""
    import trimesh
    from PIL import Image
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise FileNotFoundError(f"path: folder {folder!r} does not exist")
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    ext = os.path.splitext(path)[1].lower()
    if not ext:
        raise ValueError(f"path: {path!r} has no extension; expected .obj, .ply, .off, .glb, ...")
    visual = None
    if uvs is not None and ext in (".obj", ".glb", ".gltf"):
        uvs = np.asarray(uvs, dtype=np.float64)
        face_uvs = faces if face_uvs is None else np.asarray(face_uvs, dtype=np.int64)
        # one output vertex per distinct (position, uv) corner
        corners = np.stack([faces.ravel(), face_uvs.ravel()], axis=1)
        uniq, inverse = np.unique(corners, axis=0, return_inverse=True)
        verts, faces = verts[uniq[:, 0]], inverse.reshape(-1, 3)
        image = None
        if texture is not None:
            tex = np.clip(np.asarray(texture, dtype=np.float64), 0, 1)
            if tex.ndim == 3 and tex.shape[2] == 1:
                tex = tex[:, :, 0]
            image = Image.fromarray((tex * 255 + 0.5).astype(np.uint8))
        material = trimesh.visual.material.SimpleMaterial(image=image) if image is not None else None
        visual = trimesh.visual.TextureVisuals(uv=uvs[uniq[:, 1]], material=material)
        colors = None if colors is None else np.asarray(colors)[uniq[:, 0]]
    mesh = trimesh.Trimesh(verts, faces, process=False)
    if visual is not None:
        mesh.visual = visual
    elif colors is not None:
        c = np.clip(np.asarray(colors, dtype=np.float64), 0, 1)
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=(c * 255 + 0.5).astype(np.uint8))
    try:
        mesh.export(path)
    except Exception as err:
        raise ValueError(f"path: cannot write a mesh as {ext!r} ({type(err).__name__}: {err})") from None
