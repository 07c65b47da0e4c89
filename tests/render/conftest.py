import pytest

from render_scenes import tiny_mesh_arrays


@pytest.fixture
def tiny_scene():
    return tiny_mesh_arrays()
