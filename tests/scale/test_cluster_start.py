"""Batch start-up (issue 18, items 6 and 8): a worker process that dies while the embedded cluster starts
does not fail the batch (it is retried and said so), and a killed worker leaves no 'leaked semaphore'
warning. Each runs in a process of its own, as the ``diffprog`` command does."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scale_helpers import metrics_by_name  # noqa: F401  (conftest puts tests/scale on sys.path)

pytest.importorskip("distributed", reason="the Dask tests need the 'scale' extra (dask[distributed])")
ROOT = Path(__file__).resolve().parents[2]

# A Dask worker preload: the first worker process to start kills itself (SIGKILL), as the kernel's
# out-of-memory killer would; the marker file makes it happen once.
DIE_ONCE = """
import os, signal
try:
    os.close(os.open(os.environ["DIFFPROG_TEST_DIE_MARKER"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    os.kill(os.getpid(), signal.SIGKILL)
except FileExistsError:
    pass
"""


def _environment(**extra):
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).parent)]), **extra}


def test_worker_dying_at_start_up_is_retried_and_said(make_scenes, tmp_path):
    folder = make_scenes(2)
    preload = tmp_path / "die_once.py"
    preload.write_text(DIE_ONCE)
    out = tmp_path / "out"
    env = _environment(DIFFPROG_TEST_DIE_MARKER=str(tmp_path / "died"),
                       DASK_DISTRIBUTED__WORKER__PRELOAD=f'["{preload}"]')
    done = subprocess.run([sys.executable, "-m", "diffprog.cli", "fit", str(folder), "--workers", "2", "--out",
                           str(out), "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert (tmp_path / "died").exists()                        # a worker did die
    assert done.returncode == 0, done.stderr
    assert "a Dask worker process died while the embedded cluster of 2 workers started" in done.stderr
    assert "retrying with 2 workers" in done.stderr
    assert "Traceback" not in done.stderr
    assert (out / "s1" / "metrics.json").is_file() and (out / "s2" / "metrics.json").is_file()
    assert "retrying" in (out / "batch.log").read_text()


def test_cluster_that_never_starts_is_one_clear_error(tmp_path, monkeypatch):
    from diffprog.scale import cluster

    class Failing:
        def __init__(self, n_workers, **kwargs):
            sizes.append(n_workers)
            raise RuntimeError("Nanny failed to start.")

    sizes, lines = [], []
    import distributed
    monkeypatch.setattr(distributed, "LocalCluster", Failing)
    with pytest.raises(RuntimeError, match=r"did not start: .*4 attempts, down to 1 worker.*--workers 0"):
        cluster.start_local_cluster(4, notify=lines.append)
    assert sizes == [4, 4, 2, 1] and len(lines) == 3 and "retrying with 1 worker" in lines[-1]


KILL_A_WORKER = """
import os, signal, time
from diffprog import scale

HELD = []

def hold_semaphores():                  # as a fit's progress bar does: multiprocessing locks in the worker
    import multiprocessing, tqdm
    tqdm.tqdm(total=1, file=open(os.devnull, "w")).close()
    HELD.append(multiprocessing.Lock())

def main():
    with scale.connect(workers=1) as client:
        client.run(hold_semaphores)
        pid = next(iter(client.run(os.getpid).values()))
        os.kill(pid, signal.SIGKILL)
        time.sleep(1)

if __name__ == "__main__":
    main()
"""


def test_killed_worker_leaves_no_leaked_semaphore_warning(tmp_path):
    script = tmp_path / "kill_a_worker.py"
    script.write_text(KILL_A_WORKER)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=_environment(),
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "leaked semaphore" not in done.stderr
