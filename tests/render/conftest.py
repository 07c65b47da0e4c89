import pytest

from render_scenes import tiny_mesh_arrays


@pytest.fixture(autouse=True)
def restore_kernels():
    """Every render test leaves the kernel set as it found it (tests switch with set_kernels)."""
    from diffprog.render import kernels
    before = kernels.get_kernels()
    yield
    kernels.set_kernels(before)


@pytest.fixture
def tiny_scene():
    return tiny_mesh_arrays()
