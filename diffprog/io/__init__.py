"""File input and output: meshes (through trimesh) and images (through imageio/Pillow)."""
from .image import read_image, write_image
from .mesh import read_mesh, write_mesh
from .scene import Scene, SceneError, SceneTypeError, load_scene, read_views  # noqa: F401
