"""File input and output: meshes (through trimesh), images (through imageio/Pillow), photographs
for fitting, ``transforms.json`` cameras and TOML files checked against a schema."""
from .image import read_image, write_image
from .mesh import read_mesh, write_mesh
from .config import SceneError, SceneTypeError, load_config, parse_override  # noqa: F401
from .transforms import Frame, read_transforms, write_transforms  # noqa: F401
from .photo import read_photograph  # noqa: F401
