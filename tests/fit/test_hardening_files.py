"""Damaged input and state files give one-line errors naming the file (issue 18, items 2, 3, 4, 6):
meshes of random bytes or with a non-finite vertex, images that are not images, damaged checkpoints,
output folders that cannot be written, temporary files left by a killed process."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from diffprog.fit.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from diffprog.fit.files import remove_partial_files
from diffprog.fit.outputs import OutputFolderError, check_output_folder
from diffprog.io import read_image, read_mesh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_random_bytes_as_obj_say_it_is_not_a_text_obj(tmp_path):
    for seed in range(4):
        path = tmp_path / f"random{seed}.obj"
        path.write_bytes(np.random.default_rng(seed).bytes(4000))
        with pytest.raises(ValueError, match=r"it is not a text OBJ file \(binary data at byte \d+") as info:
            read_mesh(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
        assert "module" not in str(info.value)


def test_obj_with_latin1_comment_still_reads(tmp_path):
    path = tmp_path / "accents.obj"
    path.write_bytes("# cr\xe9\xe9 par moi\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n".encode("latin-1"))
    assert read_mesh(path)["verts"].shape == (3, 3)


@pytest.mark.parametrize("value", ["nan", "1e999", "-inf"])
def test_non_finite_vertex_names_file_and_line(tmp_path, value):
    path = tmp_path / "bad.obj"
    path.write_text(f"# a triangle\nv 0 0 0\nv 1 0 0\n\nv 0 {value} 0\nf 1 2 3\n")
    with pytest.raises(ValueError) as info:
        read_mesh(path)
    assert str(info.value).startswith(f"{path}, line 5: vertex 2 is not finite")


def test_non_finite_vertex_in_a_binary_format_names_the_vertex(tmp_path):
    import trimesh
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    verts[1, 2] = np.nan
    path = tmp_path / "bad.ply"
    trimesh.Trimesh(verts, [[0, 1, 2]], process=False).export(path)
    with pytest.raises(ValueError, match=r"bad.ply: vertex 1 is not finite"):
        read_mesh(path)


@pytest.mark.parametrize("name, content, words", [
    ("garbage.png", b"\x01\x02not an image at all" * 20, "it is not a PNG file"),
    ("garbage.jpg", b"GIF89a" + b"\x00" * 50, "it is not a JPEG file"),
    ("empty.png", b"", "the file is empty"),
    ("truncated.png", b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x07" * 40, "the file is damaged"),
    ("mystery.xyz", b"\x00" * 64, "no image reader recognises its contents"),
])
def test_garbage_images_never_suggest_installing_a_plugin(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_image(path)
    message = str(info.value)
    assert words in message and str(path) in message
    assert "pip install" not in message and "\n" not in message


# ---- checkpoints ---------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "checkpoint.npz"
    write_checkpoint(path, {"iteration": np.array(3), "verts": np.arange(300.0).reshape(100, 3)})
    return path


def test_checkpoint_reads_back(checkpoint):
    arrays = read_checkpoint(checkpoint, required=("iteration", "verts"))
    assert int(arrays["iteration"]) == 3 and arrays["verts"].shape == (100, 3)
    assert "checkpoint_version" not in arrays


@pytest.mark.parametrize("damage, words", [
    (lambda data: data[: len(data) // 2], "is damaged"),
    (lambda data: data[:-1], "is damaged"),
    (lambda data: b"", "is empty"),
    (lambda data: b"\x93NUMPY not a zip" + data[20:], "is not a checkpoint"),
])
def test_damaged_checkpoint_is_one_line_naming_the_file(checkpoint, damage, words):
    checkpoint.write_bytes(damage(checkpoint.read_bytes()))
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(checkpoint)
    message = str(info.value)
    assert words in message and str(checkpoint) in message and "to start over" in message and "\n" not in message


def test_checkpoint_of_another_version_is_refused(tmp_path):
    old = tmp_path / "old.npz"
    np.savez(old, iteration=np.array(3))                      # no version stamp: written before format 1
    with pytest.raises(CheckpointError, match="written by an earlier version of diffprog"):
        read_checkpoint(old)
    newer = tmp_path / "newer.npz"
    np.savez(newer, iteration=np.array(3), checkpoint_version=np.array(99))
    with pytest.raises(CheckpointError, match="written by a newer version"):
        read_checkpoint(newer)


def test_checkpoint_lacking_a_key_is_refused(checkpoint):
    with pytest.raises(CheckpointError, match="lacks colors"):
        read_checkpoint(checkpoint, required=("verts", "colors"))


# ---- output folders ------------------------------------------------------------------------------
def test_output_folder_that_is_a_file_or_below_one(tmp_path):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    with pytest.raises(OutputFolderError, match="is an existing file"):
        check_output_folder(existing)
    with pytest.raises(OutputFolderError, match=r"lies below .*results.txt', which is a file"):
        check_output_folder(existing / "sub" / "deeper")
    assert existing.read_text() == "keep me"


def test_output_folder_check_leaves_nothing_behind(tmp_path):
    check_output_folder(tmp_path / "a" / "b")
    assert os.listdir(tmp_path) == []
    (tmp_path / "c").mkdir()
    check_output_folder(tmp_path / "c")
    assert os.listdir(tmp_path / "c") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputFolderError, match="is not writable .permission denied"):
            check_output_folder(locked / "out")
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux's /sys")
def test_output_folder_that_even_root_cannot_write():
    with pytest.raises(OutputFolderError, match="is not writable"):
        check_output_folder("/sys/kernel/diffprog-out")


# ---- temporary files of killed processes -----------------------------------------------------------
def test_partial_files_of_a_killed_writer_are_removed(tmp_path):
    """A process killed (SIGKILL) inside ``atomic_write`` leaves its temporary file; the next run removes it
    and nothing else."""
    script = ("import sys, time\nfrom diffprog.fit.files import atomic_write\n"
              "def write(temporary):\n    open(temporary, 'w').write('half')\n    print('writing', flush=True)\n"
              "    time.sleep(60)\n"
              "atomic_write(sys.argv[1], write)\n")
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "previews" / "metrics.json")],
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / ".hidden-user-file").write_text("")
    left = os.listdir(tmp_path / "previews")
    assert len(left) == 1 and left[0].startswith(".metrics.json.partial-")
    removed = remove_partial_files(tmp_path)
    assert [os.path.basename(path) for path in removed] == left
    assert os.listdir(tmp_path / "previews") == []
    assert sorted(os.listdir(tmp_path)) == [".hidden-user-file", "metrics.json", "previews"]
