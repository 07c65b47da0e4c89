"""Kernel sets of the renderer: ``"numpy"`` (the reference) and ``"numba"`` (compiled).

Each set holds the same functions with the same arguments and outputs, on plain arrays (no
Tensors, no tape): the pair search and geometry (``numpy_pairs`` / ``numba_pairs``), the soft
blend (``*_blend``), interpolation and texture sampling (``*_attributes``). The compiled set also
has optional fused kernels whose reference is a composition (see ``OPTIONAL``): per-pair lighting
with its interpolation (``numba_shading``; reference: the engine code of ``shading``), the soft
silhouette as one op (``numba_silhouette``), and a search that saves what the distances' backward
needs. The NumPy set is the specification and the tests' oracle; the compiled set is the default.
``set_kernels`` chooses; the environment variable ``DIFFPROG_KERNELS`` sets the initial choice.
Without numba importable the NumPy set is used, with a one-time warning.
"""
import importlib
import os
import tempfile
import types
import warnings

NAMES = ("numba", "numpy")
DEFAULT = "numba"
FUNCTIONS = ("find_pairs", "pair_geometry", "pair_geometry_backward", "nearest_pairs", "blend_forward",
             "blend_backward", "interpolate", "interpolate_backward", "sample_bilinear", "sample_bilinear_backward")
# optional (a kernel set without them runs the composition that is their reference):
# - light_pairs(_backward): per-pair lighting (flat, phong) with the interpolation of its inputs;
#   reference: the engine code of ``render.shading``;
# - soft_silhouette(_backward): the silhouette as one op; reference: ``find_pairs``, then
#   ``blend_forward`` without colours, and their backward passes;
# - search_pairs, pair_distance_backward: ``find_pairs`` saving what differentiating the distances
#   needs (no recomputation of the pairs' geometry); reference: ``pair_geometry_backward``.
# - project_triangles(_backward): faces in front of the near plane projected to screen triangles;
#   reference: the engine code of ``clipping.screen_triangles``.
# - vertex_normals(_backward): area-weighted unit vertex normals; reference: the engine code of
#   ``mesh.vertex_normals`` (used by the fused lit render).
# - scratch(role, rows, dtype, tail=()): an uninitialized per-pair array reused from call to call
#   once nothing refers to it (``numba_pairs.scratch``).
OPTIONAL = ("light_pairs", "light_pairs_backward", "soft_silhouette", "soft_silhouette_backward", "search_pairs",
            "pair_distance_backward", "project_triangles", "project_triangles_backward", "scratch",
            "vertex_normals", "vertex_normals_backward")
_MODULES = {"numpy": ("pairs", "blend", "attributes"),
            "numba": ("pairs", "blend", "attributes", "shading", "silhouette", "projection", "normals")}
_loaded = {}
_active = None
_warned = False


def _numba_cache():
    """Import numba with a usable on-disk cache: the package's own __pycache__ when writable (a
    source checkout), else ``NUMBA_CACHE_DIR`` if set, else a per-user cache folder."""
    import numba
    here = os.path.dirname(os.path.abspath(__file__))
    if not numba.config.CACHE_DIR and not os.access(here, os.W_OK):
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        for folder in (os.path.join(base, "diffprog", "numba"),
                       os.path.join(tempfile.gettempdir(), f"diffprog-numba-{os.getuid() if hasattr(os, 'getuid') else 0}")):
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError:
                continue
            if os.access(folder, os.W_OK):
                numba.config.CACHE_DIR = folder
                break


def set_threads(n):
    """Use ``n`` threads in the compiled kernels (default: the cores numba sees)."""
    if int(n) != n or n < 1:
        raise ValueError(f"threads: expected a positive integer, got {n!r}")
    try:
        import numba
    except ImportError:
        return
    top = numba.config.NUMBA_NUM_THREADS
    if n > top:
        raise ValueError(f"threads: at most {top} (the cores numba sees; NUMBA_NUM_THREADS), got {n}")
    numba.set_num_threads(int(n))


def _load(name):
    if name not in _loaded:
        if name == "numba":
            _numba_cache()
        functions = {}
        for part in _MODULES[name]:
            module = importlib.import_module(f"{__name__}.{name}_{part}")
            functions.update({f: getattr(module, f) for f in FUNCTIONS + OPTIONAL if hasattr(module, f)})
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
