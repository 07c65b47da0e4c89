"""Kernel sets of the renderer: ``"numpy"`` (the reference) and ``"numba"`` (compiled).

Each set holds the same functions with the same arguments and outputs, on plain arrays (no
Tensors, no tape): the pair search and geometry (``numpy_pairs`` / ``numba_pairs``), the soft
blend (``*_blend``), interpolation and texture sampling (``*_attributes``). The NumPy set is the
specification and the tests' oracle; the compiled set is the default. ``set_kernels`` chooses;
the environment variable ``DIFFPROG_KERNELS`` sets the initial choice. Without numba importable
the NumPy set is used, with a one-time warning.
"""
import importlib
import os
import types
import warnings

NAMES = ("numba", "numpy")
DEFAULT = "numpy"
FUNCTIONS = ("find_pairs", "pair_geometry", "pair_geometry_backward", "nearest_pairs", "blend_forward",
             "blend_backward", "interpolate", "interpolate_backward", "sample_bilinear", "sample_bilinear_backward")
_MODULES = ("pairs", "blend", "attributes")
_loaded = {}
_active = None
_warned = False


def _load(name):
    if name not in _loaded:
        functions = {}
        for part in _MODULES:
            module = importlib.import_module(f"{__name__}.{name}_{part}")
            functions.update({f: getattr(module, f) for f in FUNCTIONS if hasattr(module, f)})
        missing = [f for f in FUNCTIONS if f not in functions]
        if missing:
            raise ImportError(f"kernel set {name!r} lacks {missing}")
        _loaded[name] = types.SimpleNamespace(name=name, **functions)
    return _loaded[name]


def set_kernels(name):
    """Use the ``"numba"`` (compiled, default) or ``"numpy"`` (reference) kernels from now on.
    Returns the name of the set now in use (``"numpy"`` when numba was asked for but cannot be
    imported; a warning says so once)."""
    global _active, _warned
    if name not in NAMES:
        raise ValueError(f"kernels: expected one of {NAMES}, got {name!r}")
    try:
        _active = _load(name)
    except ImportError as err:
        if name == "numpy":
            raise
        if not _warned:
            warnings.warn(f"diffprog.render: the compiled kernels are unavailable ({err}); using the NumPy "
                          f"reference kernels (slower). Install numba>=0.60 to fix.", RuntimeWarning, stacklevel=2)
            _warned = True
        _active = _load("numpy")
    return _active.name


def get_kernels():
    """The name of the kernel set in use: ``"numba"`` or ``"numpy"``."""
    return active().name


def active():
    """The kernel set in use (a namespace of the functions in ``FUNCTIONS``)."""
    if _active is None:
        name = os.environ.get("DIFFPROG_KERNELS", DEFAULT).strip().lower() or DEFAULT
        if name not in NAMES:
            raise ValueError(f"DIFFPROG_KERNELS: expected one of {NAMES}, got {name!r}")
        set_kernels(name)
    return _active
