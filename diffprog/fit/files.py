"""Atomic output files: every file is written to a temporary name in its folder, then renamed
(``os.replace``), so a reader never sees half a file and an interruption leaves the old one.
A process killed outright (``kill -9``) leaves its temporary file behind; ``remove_partial_files``
clears them when the next run starts in that folder."""
import json
import os
import re
import shutil
import tempfile

import numpy as np

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_PARTIAL = ".partial-"                    # temporary files: .<name>.partial-<8 random characters><extension>
_PARTIAL_NAME = re.compile(r"\..+\.partial-[a-z0-9_]{8}(\.[A-Za-z0-9]+)?")


def remove_partial_files(folder):
    """Remove the temporary files (and scratch folders, see ``scratch_folder``) that atomic writes left in
    ``folder`` and its subfolders when their process was killed; returns their paths. Call it only while no
    other process writes there."""
    removed = []
    for root, folders, names in os.walk(folder):
        for name in list(folders):
            if _PARTIAL_NAME.fullmatch(name):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
                removed.append(os.path.join(root, name))
                folders.remove(name)
        for name in names:
            if _PARTIAL_NAME.fullmatch(name):
                path = os.path.join(root, name)
                try:
                    os.remove(path)
                    removed.append(path)
                except FileNotFoundError:
                    pass
    return removed


def scratch_folder(folder):
    """A temporary folder inside ``folder`` for outputs written together and then moved into place
    (``tempfile.TemporaryDirectory``), named so that ``remove_partial_files`` clears it after a kill."""
    return tempfile.TemporaryDirectory(dir=folder, prefix=".scratch" + _PARTIAL)


def atomic_write(path, write, suffix=""):
    """Call ``write(temporary_path)`` and rename the result to ``path``. ``suffix``: the temporary
    file's extension (some writers choose the format from it)."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + _PARTIAL,
                                             suffix=suffix or os.path.splitext(path)[1])
        os.close(handle)
        write(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)      # mkstemp makes 0600 files; outputs are ordinary files
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path, data):
    def write(temporary):
        with open(temporary, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
    atomic_write(path, write)


def write_png(path, image):
    """(H, W, 3 or 4) float image in [0, 1] -> 8-bit PNG."""
    from PIL import Image
    array = np.round(np.clip(np.asarray(image, float), 0, 1) * 255).astype(np.uint8)
    atomic_write(path, lambda temporary: Image.fromarray(array).save(temporary, format="PNG"))


def write_arrays(path, arrays):
    """A dict of NumPy arrays -> ``.npz``."""
    def write(temporary):
        with open(temporary, "wb") as f:
            np.savez(f, **arrays)
    atomic_write(path, write)


def read_arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {key: f[key] for key in f.files}
