"""The input files a fit reads, and their content hashes: what makes a finished or checkpointed run
stale when a photograph, ``transforms.json``, the reference or initial mesh, or the scene file changes.

``input_files(scene)`` lists ``(role, path)``; ``hash_inputs(scene, known)`` hashes them (sha256),
reusing a hash from ``known`` (an earlier result) for a file whose size and modification time are
unchanged, so that re-checking a large batch reads no photograph twice; ``describe_changes(old, new)``
says what changed, e.g. ``["3 photographs changed", "transforms.json changed"]``.
"""
import hashlib
import os

# role -> (singular, plural) as a change is reported
_ROLES = {"scene": ("scene file", "scene files"), "transforms": ("transforms.json", "transforms.json files"),
          "colmap": ("COLMAP model file", "COLMAP model files"), "photograph": ("photograph", "photographs"),
          "mask": ("mask", "masks"),
          "reference_mesh": ("reference mesh", "reference meshes"), "initial_mesh": ("initial mesh", "initial meshes")}
_COLMAP_FILES = ("cameras", "images", "points3D")      # a COLMAP sparse model's files (.bin or .txt)
_CHUNK = 1 << 20
_memory = {}                        # (path, size, mtime_ns) -> sha256, for the life of this process


def input_files(scene):
    """``[(role, absolute path)]`` of every file the fit of ``scene`` (a parsed Scene) reads: the scene
    file, ``photos.transforms`` or the COLMAP model's files, each photograph (and its mask file, if any), ``photos.reference_mesh`` and
    ``mesh.initial``."""
    root = os.path.dirname(os.path.abspath(scene.path))
    files = [("scene", os.path.abspath(scene.path))]
    transforms = scene["photos.transforms"]
    if transforms:
        files.append(("transforms", os.path.normpath(os.path.join(root, os.path.expanduser(transforms)))))
    colmap = scene.sections["photos"].get("colmap")
    if colmap:
        folder = os.path.normpath(os.path.join(root, os.path.expanduser(colmap)))
        files += [("colmap", os.path.join(folder, name)) for name in sorted(os.listdir(folder))
                  if os.path.splitext(name)[0] in _COLMAP_FILES and os.path.isfile(os.path.join(folder, name))]
    for view in scene.views:
        files.append(("photograph", os.path.abspath(view.image)))
        if getattr(view, "mask", None):                  # a separate mask file, where views carry one
            files.append(("mask", os.path.abspath(view.mask)))
    if scene["photos.reference_mesh"]:
        files.append(("reference_mesh", os.path.abspath(scene["photos.reference_mesh"])))
    if scene["mesh.initial"] not in ("ico_sphere", "visual_hull") and os.path.isfile(scene["mesh.initial"]):
        files.append(("initial_mesh", os.path.abspath(scene["mesh.initial"])))
    return files


def file_digest(path, known=None):
    """``{"size", "mtime_ns", "sha256"}`` of the file ``path``; the hash is taken from ``known`` (an
    earlier result for this path) or this process's memory when size and mtime are unchanged."""
    stat = os.stat(path)
    entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if known and known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns:
        entry["sha256"] = known["sha256"]
        return entry
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _memory:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        _memory[key] = digest.hexdigest()
    entry["sha256"] = _memory[key]
    return entry


def hash_inputs(scene, known=None):
    """``{path: {"role", "size", "mtime_ns", "sha256"}}`` for ``input_files(scene)``; ``known``: an earlier
    result whose hashes are reused for files of unchanged size and modification time."""
    known = known or {}
    return {path: {"role": role, **file_digest(path, known.get(path))} for role, path in input_files(scene)}


def inputs_digest(inputs):
    """One sha256 over the paths, roles and content hashes of ``inputs`` (``hash_inputs``'s result)."""
    digest = hashlib.sha256()
    for path in sorted(inputs):
        digest.update(f"{inputs[path]['role']}\0{path}\0{inputs[path]['sha256']}\n".encode())
    return digest.hexdigest()


def describe_changes(old, new):
    """What differs between two ``hash_inputs`` results, by role, e.g. ``["3 photographs changed",
    "1 photograph added", "transforms.json changed"]`` (empty if nothing did)."""
    counts = {}
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before is None:
            what, role = "added", after["role"]
        elif after is None:
            what, role = "removed", before["role"]
        elif before["sha256"] != after["sha256"]:
            what, role = "changed", after["role"]
        else:
            continue
        counts[(role, what)] = counts.get((role, what), 0) + 1
    lines = []
    for role, (singular, plural) in _ROLES.items():
        for what in ("changed", "added", "removed"):
            count = counts.get((role, what), 0)
            if count == 1 and role not in ("photograph", "mask"):
                lines.append(f"{singular} {what}")
            elif count:
                lines.append(f"{count} {singular if count == 1 else plural} {what}")
    return lines


def changed_files(old, new):
    """Paths whose content differs between two ``hash_inputs`` results (added and removed ones too)."""
    return [path for path in sorted(set(old) | set(new))
            if old.get(path, {}).get("sha256") != new.get(path, {}).get("sha256")]
