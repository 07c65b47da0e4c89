"""Checkpoint files: the optimization state as an ``.npz`` of NumPy arrays, written atomically and
stamped with a format version, and read back with one-line errors for a file that is empty,
truncated, not an ``.npz`` at all, or written by another version of diffprog."""
import os
import zipfile

import numpy as np

from .files import write_arrays

CHECKPOINT_VERSION = 1
_VERSION_KEY = "checkpoint_version"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from (damaged, or of another format); the message names
    the file and says how to start over."""


def write_checkpoint(path, arrays):
    """Write the dict of arrays ``arrays`` to ``path`` atomically, with the format version."""
    write_arrays(path, {**arrays, _VERSION_KEY: np.array(CHECKPOINT_VERSION)})


def read_checkpoint(path, required=()):
    """The arrays of the checkpoint ``path`` as a dict (without the version stamp).

    Raises CheckpointError naming the file if it is empty, truncated or otherwise not a readable
    ``.npz``, if it has no or another format version, or lacks one of the keys ``required``."""
    path = os.fspath(path)
    start_over = "delete it, or run without --resume, to start over"
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head:
        raise CheckpointError(f"checkpoint {path!r} is empty; {start_over}")
    if head != b"PK\x03\x04":
        raise CheckpointError(f"checkpoint {path!r} is not a checkpoint (expected an .npz archive, it starts with "
                              f"{head!r}); {start_over}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, OSError) as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        raise CheckpointError(f"checkpoint {path!r} is damaged ({detail}; truncated?); "
                              f"{start_over}") from None
    version = arrays.pop(_VERSION_KEY, None)
    version = None if version is None or version.shape != () else int(version)
    if version != CHECKPOINT_VERSION:
        written = "an earlier version" if version is None or version < CHECKPOINT_VERSION else "a newer version"
        raise CheckpointError(f"checkpoint {path!r} was written by {written} of diffprog (checkpoint format "
                              f"{version if version is not None else 0}, this version reads format "
                              f"{CHECKPOINT_VERSION}); {start_over}")
    missing = [key for key in required if key not in arrays]
    if missing:
        raise CheckpointError(f"checkpoint {path!r} lacks {', '.join(missing)}; {start_over}")
    return arrays
