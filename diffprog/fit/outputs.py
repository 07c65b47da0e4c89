"""The output folder, checked before any work: it must be a folder (or creatable as one) that this
process can write to. Problems are one-line ``OutputFolderError``s naming the folder."""
import errno
import os
import tempfile


class OutputFolderError(ValueError):
    """The output folder is a file, lies below a file, or cannot be written."""


def check_output_folder(path):
    """Raise OutputFolderError if ``path`` cannot hold the fit's outputs: it is an existing file, one of
    its parents is a file, or a file cannot be created in it (permission denied, read-only file
    system...). Checks by creating the folder and a probe file, then removes what it created."""
    shown = os.fspath(path)
    path = os.path.abspath(shown)
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputFolderError(f"output folder {shown!r} is an existing file; expected a folder (choose another "
                                "--out or output.directory)")
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise OutputFolderError(f"output folder {shown!r} lies below {parent!r}, which is a file, not a folder "
                                "(choose another --out or output.directory)")
    created = []
    try:
        folder = path
        missing = []
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            os.mkdir(folder)
            created.append(folder)
        handle, probe = tempfile.mkstemp(dir=path, prefix=".write-test.")
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise OutputFolderError(f"output folder {shown!r} is not writable ({_reason(error)})") from None
    finally:
        for folder in reversed(created):
            try:
                os.rmdir(folder)
            except OSError:
                pass
    return path


def _reason(error):
    if error.errno in (errno.EACCES, errno.EPERM):
        where = f" on {error.filename!r}" if getattr(error, "filename", None) else ""
        return f"permission denied{where}"
    return " ".join((error.strerror or str(error)).split()).lower()
