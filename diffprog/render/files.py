"""``load_mesh`` / ``save_mesh``: mesh files <-> :class:`Mesh` (through ``diffprog.io``)."""
import numpy as np

from diffprog.io import read_mesh, write_mesh
from .mesh import Mesh


def load_mesh(path, texture=None, dtype=np.float64, requires_grad=True):
    """Load an OBJ/PLY/OFF/GLB/... file as a :class:`Mesh` (vertices welded by position; UVs,
    texture and vertex colours when present; ``texture``: an image path overriding the file's).
    Its Tensors are leaves with ``requires_grad`` (default True)."""
    arrays = read_mesh(path, texture=texture, dtype=dtype)
    return Mesh(**arrays, requires_grad=requires_grad)


def save_mesh(mesh, path):
    """Write ``mesh`` (its current values) to ``path``; the format follows the extension."""
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh: expected a diffprog.render.Mesh, got {type(mesh).__name__}")
    val = lambda t: None if t is None else np.asarray(t.data)          # noqa: E731
    write_mesh(path, val(mesh.verts), mesh.faces, colors=val(mesh.colors), uvs=val(mesh.uvs),
               face_uvs=mesh.face_uvs, texture=val(mesh.texture))
