"""One process per run, report or data folder (galaxy_lib.locks): the second stops at once with one
line naming the first, a dead holder's lock is taken over, and different folders never conflict.
The other process is a real one: a ``python -c`` child holding the lock, killed in ``finally``."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from galaxy_lib import cli, locks
from galaxy_lib.data import dataset
from galaxy_lib.errors import BusyError, DataError, GalaxyLibError
from galaxy_lib.locks import lock_file, run_lock
from galaxy_lib.synth import sky

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def held_elsewhere(folder: Path, what: str = "training") -> Iterator[subprocess.Popen]:
    """A child process holding ``folder``'s lock until it is killed (at most 60 s)."""
    code = textwrap.dedent(f"""
        import sys, time
        from galaxy_lib.locks import run_lock
        with run_lock({str(folder)!r}, {what!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(locks.ENV, None)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, cwd=REPO)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 60)  # bounded: the child holds the lock, or fails
        assert ready, "the child process did not take the lock within 60 s"
        line = child.stdout.readline()
        assert line.strip() == "locked", child.stderr.read()
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)


def test_the_lock_is_a_file_beside_the_folder_removed_on_exit(tmp_path):
    folder = tmp_path / "runs" / "smoke"
    with run_lock(folder, "training") as lock:
        assert lock == tmp_path / "runs" / ".smoke.lock"
        record = json.loads(lock.read_text())
        assert record["pid"] == os.getpid() and record["what"] == "training"
        assert {"host", "command", "started"} <= set(record)
        assert locks.holder(folder)["pid"] == os.getpid()
        assert not folder.exists()  # beside the folder, not in it: an empty data folder stays empty
    assert not lock.exists()
    assert locks.holder(folder) is None


def test_the_lock_is_removed_on_an_error_too(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), run_lock(tmp_path / "run"):
        raise RuntimeError("boom")
    assert not lock_file(tmp_path / "run").exists()


def test_nested_locks_of_one_folder_in_one_process_do_not_deadlock(tmp_path):
    """A curve locks its folder and train() its point's; an ensemble likewise; and the same folder
    twice (report, then the sky it generates) must not lock a process out of its own folder."""
    with run_lock(tmp_path / "run") as lock, run_lock(tmp_path / "run"):
        assert lock.exists()
    assert not lock.exists()


def test_a_second_process_stops_at_once_with_one_line_naming_the_first(tmp_path):
    folder = tmp_path / "smoke"
    with held_elsewhere(folder, "building the report") as child:
        start = time.monotonic()
        with pytest.raises(BusyError) as caught, run_lock(folder, "training"):
            pytest.fail("the lock was taken twice")
        assert time.monotonic() - start < 5  # at once, not after a wait
        message = str(caught.value)
        assert "\n" not in message
        assert f"in use by process {child.pid} (building the report: python" in message
        assert "since " in message and "wait for it or stop it" in message
        assert message.startswith(f"{folder.resolve()} is in use by process")
        assert lock_file(folder).exists()  # the holder's lock is untouched
    # the holder gone, the lock is free again (taken over from the killed process)
    with run_lock(folder, "training"):
        assert json.loads(lock_file(folder).read_text())["pid"] == os.getpid()


def test_different_folders_run_side_by_side(tmp_path):
    with held_elsewhere(tmp_path / "runs" / "a"), run_lock(tmp_path / "runs" / "b"):
        assert lock_file(tmp_path / "runs" / "b").exists()


@pytest.mark.parametrize("content", ["dead pid", "garbage", "own pid", "another host"])
def test_a_lock_file_left_behind_does_not_block(tmp_path, content):
    """Only the kernel's flock counts: a file left by a killed holder (whatever it says) is free."""
    folder = tmp_path / "run"
    lock = lock_file(folder)
    if content == "dead pid":  # a process that has ended (and been reaped)
        done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        lock.write_text(json.dumps({**locks.holder_record("training"), "pid": int(done.stdout)}))
    elif content == "own pid":  # an earlier process with this one's id (containers) left it
        lock.write_text(json.dumps(locks.holder_record("training")))
    elif content == "another host":
        lock.write_text(json.dumps({**locks.holder_record("training"), "host": "elsewhere.example"}))
    else:
        lock.write_text("{not json")
    with run_lock(folder, "training"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_a_killed_holder_releases_its_lock(tmp_path):
    """The kernel drops a flock when its process dies: no take-over protocol is needed."""
    folder = tmp_path / "run"
    with held_elsewhere(folder) as child:
        with pytest.raises(BusyError, match=rf"process {child.pid} "), run_lock(folder):
            pass
        child.kill()
        child.wait(timeout=10)
        assert lock_file(folder).exists()  # left behind by the killed holder, but not held
        with run_lock(folder, "training"):
            assert locks.holder(folder)["pid"] == os.getpid()


def test_threads_of_one_process_take_a_free_lock_one_at_a_time(tmp_path, monkeypatch):
    """Check-then-take is one step: of two threads racing for a free folder, each holds it alone
    (one nests inside the other's lock rather than both writing the lock file at once)."""
    import threading

    folder = tmp_path / "run"
    lock = lock_file(folder)
    real, inside, overlap = os.open, [0], []

    def slow_open(path, flags, *args, **kwargs):
        if Path(path) != lock or not flags & os.O_CREAT:  # only taking the lock counts
            return real(path, flags, *args, **kwargs)
        inside[0] += 1
        overlap.append(inside[0])
        time.sleep(0.05)  # widen the window in which a second thread could slip in
        try:
            return real(path, flags, *args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(locks.os, "open", slow_open)

    def take():
        with run_lock(folder, "training"):
            time.sleep(0.01)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert overlap and max(overlap) == 1
    assert not lock.exists()
    with run_lock(folder, "training"):  # every thread's hold was counted down: this one takes it afresh
        assert lock.exists() and locks.holder(folder)["what"] == "training"


def test_a_child_process_inherits_its_parents_lock(tmp_path):
    """report locks the run folder, then its notebook kernels (children) train into it."""
    folder = tmp_path / "run"
    code = f"from galaxy_lib.locks import run_lock\nwith run_lock({str(folder)!r}, 'training'):\n    print('ok')"
    with run_lock(folder, "building a report on it"):
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
        assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr
        assert lock_file(folder).exists()  # the child did not remove its parent's lock
    assert locks.ENV not in os.environ or str(lock_file(folder)) not in os.environ[locks.ENV]


def test_an_unrelated_process_does_not_inherit(tmp_path):
    """Only a child of the holder shares its lock: a process with the variable unset stops."""
    folder = tmp_path / "run"
    code = f"from galaxy_lib.locks import run_lock\nwith run_lock({str(folder)!r}):\n    print('ok')"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with run_lock(folder):
        env.pop(locks.ENV, None)
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                               cwd=REPO)
    assert child.returncode != 0 and "BusyError" in child.stderr and f"process {os.getpid()}" in child.stderr


def test_the_synthetic_sky_says_who_is_generating_it_not_that_it_is_not_empty(tmp_path):
    """The race of two reports on one data folder: the second used to fail with '... is not empty;
    pass --overwrite' once the first had written there."""
    data = tmp_path / "data" / "smoke"
    with held_elsewhere(data, "generating a synthetic sky") as child:
        with pytest.raises(BusyError, match=rf"in use by process {child.pid} \(generating a synthetic sky"):
            sky.generate(data, n=5, progress=False)

        class Config:  # what ensure_synthetic and the loader read (the report's data preparation)
            data = str(tmp_path / "data" / "smoke")
            synthetic, synthetic_n, synthetic_seed, synthetic_test_n = True, 5, 0, 0
            tree_tolerance, skip_bad_images, resize_bad_size = 0.01, False, False

        with pytest.raises(BusyError, match=rf"process {child.pid}"):
            sky.ensure_synthetic(Config(), progress=False)
        with pytest.raises(BusyError, match=rf"is being made by process {child.pid} \(generating a synthetic sky"):
            dataset.load_for_config(Config())  # a reader meanwhile is told to wait, not to generate it
        assert not data.exists()
    # once the holder is gone, the folder is generated, and a finished sky needs no lock at all
    assert sky.ensure_synthetic(Config(), progress=False) == data.resolve()
    assert (data / sky.LABELS_FILE).is_file()
    with held_elsewhere(data):
        assert sky.ensure_synthetic(Config(), progress=False) == data.resolve()  # ready: no lock needed, no error
    with pytest.raises(DataError, match="not empty"):  # the genuine case keeps its message
        sky.generate(data, n=5, progress=False)


def test_the_cli_prints_one_line_and_exits_2_when_busy(tmp_path, capsys):
    out = tmp_path / "sky"
    with held_elsewhere(out, "generating a synthetic sky") as child:
        status = cli.main(["synth", "--n", "5", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and f"process {child.pid}" in err
    assert issubclass(BusyError, GalaxyLibError)


# --- the report: its kernels inherit the run folder's lock; a second report stops at once ---------------


@pytest.fixture
def report_project(tmp_path, monkeypatch) -> Path:
    """A project with one notebook that takes its run folder's lock the way training does."""
    import nbformat

    (tmp_path / "parameters").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell('config_file = ""\noverrides = {}\nrun_dir = ""')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells += [parameters, nbformat.v4.new_code_cell(
        "from galaxy_lib.locks import run_lock\nfrom galaxy_lib.paths import resolve_path\n"
        "with run_lock(resolve_path(run_dir), 'training'):\n    print('trained-in-the-locked-folder')")]
    nbformat.write(nb, tmp_path / "notebooks" / "01_train.ipynb")
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout's galaxy_lib
    return tmp_path


def _report_config(root: Path):
    from galaxy_lib.config import Config

    return Config(data=str(root / "data"), run_name="demo", runs_dir=str(root / "runs"),
                  reports_dir=str(root / "reports"))


@pytest.mark.slow  # a real kernel: about 3 s
def test_a_reports_kernel_trains_in_the_run_folder_the_report_locked(report_project):
    """Without the inheritance the notebook's cell would raise BusyError naming its own report."""
    from galaxy_lib import report

    folder = report.build_report(_report_config(report_project), notebooks_dir=report_project / "notebooks",
                                 progress=False)
    assert "trained-in-the-locked-folder" in (folder / "01_train.ipynb").read_text()
    assert not lock_file(report_project / "runs" / "demo").exists()
    assert not lock_file(report_project / "reports" / "demo").exists()


@pytest.mark.parametrize("busy", ["reports", "runs"])
def test_a_second_report_or_a_training_run_stops_the_report_at_once(report_project, busy, capsys):
    from galaxy_lib import report

    with held_elsewhere(report_project / busy / "demo", "building the report") as child:
        start = time.monotonic()
        with pytest.raises(BusyError, match=rf"^{busy}/demo is in use by process {child.pid} \(building the report"):
            report.build_report(_report_config(report_project), notebooks_dir=report_project / "notebooks",
                                progress=False)
        assert time.monotonic() - start < 5  # before any kernel starts
    assert not (report_project / "reports" / "demo").exists()


def test_a_killed_generators_half_folder_is_swept_by_the_next(tmp_path):
    """A generator killed outright (SIGKILL: no cleanup) leaves its lock and its hidden half folder;
    the next one takes the lock over and, holding it, removes the half folder."""
    out = tmp_path / "sky"
    with held_elsewhere(out, "generating a synthetic sky") as child:
        half = tmp_path / f".sky.partial-{child.pid}"
        (half / sky.TRAIN_FOLDER).mkdir(parents=True)
    sky.generate(out, n=5, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sky"]


# --- the verbs that write run folders: train, an ensemble, a learning curve --------------------------


def test_a_second_ensemble_or_curve_on_the_same_folder_stops_before_writing(tmp_path, kaggle_folder):
    """Their folder is locked first (then each member's or point's own while it trains)."""
    from galaxy_lib.config import Config
    from galaxy_lib.model.ensemble import load_ensemble, train_ensemble
    from galaxy_lib.studies.curve import run_curve

    (tmp_path / "small.yaml").write_text(f"data: {kaggle_folder}\nepochs: 1\n")
    (tmp_path / "ens.yaml").write_text("name: pair\nmembers:\n  - {config: small.yaml, set: {seed: 0}}\n"
                                       "  - {config: small.yaml, set: {seed: 1}}\n")
    ensemble = tmp_path / "runs" / "pair"
    with held_elsewhere(ensemble, "training an ensemble") as child, \
            pytest.raises(BusyError, match=rf"in use by process {child.pid} \(training an ensemble"):
        train_ensemble(load_ensemble(tmp_path / "ens.yaml"), ensemble)
    assert list(ensemble.iterdir()) == []  # no members.yaml, no split written

    curve = tmp_path / "runs" / "curve"
    with held_elsewhere(curve, "training a learning curve") as child, \
            pytest.raises(BusyError, match=rf"in use by process {child.pid} \(training a learning curve"):
        run_curve(Config(data=str(kaggle_folder)), curve, "4,8")
    assert not curve.exists()


@pytest.mark.slow  # imports TensorFlow (no training: it stops before the first epoch)
def test_a_second_train_on_a_run_folder_stops_before_touching_it(tmp_path, kaggle_folder):
    from galaxy_lib.config import Config
    from galaxy_lib.model import train
    from galaxy_lib.model.runs import RunFolder

    run = RunFolder(tmp_path / "runs" / "demo")
    with held_elsewhere(run.path, "training") as child, \
            pytest.raises(BusyError, match=rf"runs/demo is in use by process {child.pid} \(training: python -c"):
        train.train(Config(data=str(kaggle_folder), epochs=1), run.path, verbose=False)
    assert list(run.path.iterdir()) == []  # no config.yaml, split or model written
