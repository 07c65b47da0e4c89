"""The batch options of ``diffprog fit`` and when a command is a batch."""
import argparse

import pytest

from diffprog.scale.cli import add_batch_arguments, fit_overrides, is_batch


def parse(argv):
    parser = argparse.ArgumentParser(prog="diffprog fit")
    parser.add_argument("scene", nargs="+")
    parser.add_argument("--set", action="append")
    parser.add_argument("--seed", type=int)
    add_batch_arguments(parser)
    return parser.parse_args(argv)


def test_batch_options_parse_and_check(capsys):
    args = parse(["a.toml", "b.toml", "--workers", "3", "--force"])
    assert (args.workers, args.scheduler, args.force) == (3, None, True)
    assert parse(["a.toml", "--scheduler", "tcp://host:8786"]).scheduler == "tcp://host:8786"
    with pytest.raises(SystemExit):
        parse(["a.toml", "--workers", "-1"])
    assert "expected a whole number of workers >= 0, got '-1'" in capsys.readouterr().err


def test_which_commands_are_batches(make_scenes):
    folder = make_scenes(2)
    one = str(folder / "s1.toml")
    assert not is_batch(parse([one]))                                        # a plain fit
    assert not is_batch(parse(["missing.toml"]))                             # the plain fit reports it
    assert is_batch(parse([one, str(folder / "s2.toml")]))
    assert is_batch(parse([str(folder)]))
    assert is_batch(parse([str(folder / "*.toml")]))
    assert is_batch(parse([one, "--workers", "0"]))
    assert is_batch(parse([one, "--scheduler", "tcp://host:8786"]))


def test_shared_fit_options_become_overrides():
    args = parse(["a.toml", "--set", "render.sigma=2e-4", "--set", "schedule.seed=1", "--seed", "5"])
    assert fit_overrides(args) == {"render.sigma": 2e-4, "schedule.seed": 5}   # --seed wins over --set
    with pytest.raises(ValueError, match="render.sigma"):
        fit_overrides(parse(["a.toml", "--set", "render.sigma"]))


def test_workers_and_scheduler_together_are_refused(make_scenes, tmp_path, capsys):
    from diffprog.cli import main
    status = main(["fit", str(make_scenes(2)), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1",
                   "--out", str(tmp_path), "--quiet"])
    assert status == 2
    assert "give either workers (2) or scheduler ('tcp://127.0.0.1:1'), not both" in capsys.readouterr().err


def test_batch_output_folder_is_checked_before_any_job(make_scenes, tmp_path, capsys):
    from diffprog.cli import main
    folder = make_scenes(2)
    taken = tmp_path / "taken"
    taken.write_text("keep")
    assert main(["fit", str(folder), "--out", str(taken), "--workers", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "output folder" in err and "is an existing file" in err
    assert main(["sweep", str(folder / "s1.toml"), "--grid", "render.sigma=[1e-4]", "--out", str(taken / "sweep"),
                 "--workers", "0", "--quiet"]) == 2
    assert "which is a file, not a folder" in capsys.readouterr().err
    assert taken.read_text() == "keep"
