"""The `diffprog render`, `info` and `photos` commands."""
import os
import sys

import numpy as np

from diffprog.cli import main
from diffprog.io import read_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HORSESHOE = os.path.join(ROOT, "assets", "horseshoe", "horseshoe.obj")


def test_info_prints_statistics(capsys):
    assert main(["info", HORSESHOE]) == 0
    out = capsys.readouterr().out
    assert "vertices               2306" in out and "genus                  0" in out
    assert "boundary edges         0" in out


def test_render_hard_and_soft_match_the_photograph_mask(tmp_path, capsys):
    transforms = os.path.join(ROOT, "assets", "horseshoe", "photos", "transforms.json")
    for flags in ([], ["--soft", "--sigma", "1e-5"]):
        out = tmp_path / "view.png"
        code = main(["render", HORSESHOE, "--transforms", transforms, "--frame", "3", "--shader", "silhouette",
                     "--image-size", "64", "-o", str(out)] + flags)
        assert code == 0
        rendered = read_image(out)
        photo = read_image(os.path.join(ROOT, "assets", "horseshoe", "photos", "003.png"))
        mask = photo[::2, ::2, 3] > 0.5
        assert rendered.shape[:2] == (64, 64)
        ours = rendered[..., 0] > 0.5
        assert np.count_nonzero(ours & mask) / np.count_nonzero(ours | mask) > 0.9
    assert main(["render", HORSESHOE, "--view", "30", "20", "0", "-o", str(tmp_path / "orbit.png")]) == 0
    assert read_image(tmp_path / "orbit.png").shape == (256, 256, 4)


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.obj")]) == 2
    assert main(["render", HORSESHOE, "--transforms", str(tmp_path / "none.json"), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.startswith("diffprog info: error:") and "none.obj" in err


def test_photos_without_mitsuba_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mitsuba", None)              # import mitsuba -> ImportError
    assert main(["photos"]) == 1
    err = capsys.readouterr().err
    assert "Mitsuba 3 is not installed" in err and "pip install" in err


def test_fit_keys_lists_the_schema(capsys):
    assert main(["fit", "--keys"]) == 0
    out = capsys.readouterr().out
    assert "[schedule]" in out and "views_per_iteration" in out and "[[photos.views]]" in out
    assert main(["fit"]) == 2
    assert "expected a scene file" in capsys.readouterr().err
