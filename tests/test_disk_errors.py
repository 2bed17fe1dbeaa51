"""Full, read-only and forbidden disks: writing a run, a report or a synthetic sky ends with one line
naming the path (a DiskError; exit status 2 at the command line) and leaves earlier results intact.

Sessions may run as root, for whom folder permissions stop nothing, so the faults are simulated:
the write, the rename or the temporary file raises ``OSError(ENOSPC)`` or ``OSError(EROFS)``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from galaxy_lib import cli, report
from galaxy_lib.config import Config
from galaxy_lib.data import split as split_module
from galaxy_lib.errors import DiskError, GalaxyLibError
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import atomic_path, atomic_write_text, disk_error
from galaxy_lib.report import build
from galaxy_lib.synth import sky

_real_replace = os.replace


def fail_replace(monkeypatch, code: int, when=lambda src, dst: True) -> None:
    """``os.replace`` raises ``OSError(code)`` for the renames ``when`` picks (all by default)."""

    def replace(src, dst, *args, **kwargs):
        if when(Path(src), Path(dst)):
            raise OSError(code, os.strerror(code), str(dst))
        return _real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (hidden temporary files included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the common helpers ---------------------------------------------------------------------------


def test_a_full_disk_mid_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "history.csv"
    target.write_text("epoch,loss\n1,0.5\n")
    real_write_text = Path.write_text

    def half_then_full(self, text, *args, **kwargs):
        real_write_text(self, text[: len(text) // 2])  # some bytes made it to the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(DiskError) as caught:
        atomic_write_text(target, "epoch,loss\n1,0.5\n2,0.4\n")
    message = str(caught.value)
    assert message.startswith(f"cannot write {target}: the disk is full")
    assert "unchanged" in message and "\n" not in message
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)  # old handlers still catch it
    monkeypatch.undo()
    assert listing(tmp_path) == {"history.csv": b"epoch,loss\n1,0.5\n"}


def test_a_read_only_disk_at_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    target.write_text('{"epoch": 3}\n')
    fail_replace(monkeypatch, errno.EROFS)
    with pytest.raises(DiskError, match=rf"cannot write {target}: the file system is read-only"):
        atomic_write_text(target, '{"epoch": 4}\n')
    assert listing(tmp_path) == {"state.json": b'{"epoch": 3}\n'}


def test_a_folder_that_cannot_take_the_temporary_file_is_named(tmp_path, monkeypatch):
    def no_room(*args, **kwargs):
        raise OSError(errno.EACCES, "Permission denied", str(kwargs.get("dir")))

    monkeypatch.setattr(tempfile, "mkstemp", no_room)
    with pytest.raises(DiskError, match=rf"cannot write {tmp_path / 'x.txt'}: permission denied"):
        atomic_write_text(tmp_path / "x.txt", "x")


def test_other_os_errors_are_not_disguised_as_disk_errors(tmp_path):
    """A bug (here: writing into a path whose parent is a file) keeps its own exception and traceback."""
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError) as caught:
        atomic_write_text(tmp_path / "file" / "x.txt", "x")
    assert not isinstance(caught.value, GalaxyLibError)


# --- a run folder ---------------------------------------------------------------------------------


def make_run(folder: Path) -> RunFolder:
    """A finished-looking run folder: configuration, split, history, a model and the commit point."""
    run = RunFolder(folder).create()
    Config(data=str(folder.parent / "data")).save(run.config_file)
    split_module.save_split(pd.DataFrame({"GalaxyID": [1, 2, 3], "split": ["train", "val", "test"]}),
                            run.split_file)
    run.history_file.write_text("epoch,loss\n1,0.5\n")
    run.model_file("best").write_bytes(b"PK\x03\x04 a keras zip")
    run.resume_dir.mkdir()
    run.state_file.write_text('{"epoch": 1}\n')
    return run


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_runs_files_stay_intact_when_its_next_epoch_cannot_be_written(tmp_path, monkeypatch, code):
    """What train() writes after an epoch (models, history, state) through the same helpers."""
    run = make_run(tmp_path / "runs" / "demo")
    before = listing(run.path)
    fail_replace(monkeypatch, code)
    writes = [
        lambda: atomic_write_text(run.history_file, "epoch,loss\n1,0.5\n2,0.4\n"),
        lambda: atomic_write_text(run.state_file, '{"epoch": 2}\n'),
        lambda: Config(data="elsewhere").save(run.config_file),
        lambda: split_module.save_split(pd.DataFrame({"GalaxyID": [9], "split": ["train"]}), run.split_file),
    ]
    for write in writes:
        with pytest.raises(DiskError, match=r"^cannot write .*runs/demo/"):
            write()

    with pytest.raises(DiskError, match=r"best\.keras"), atomic_path(run.model_file("best"), suffix=".keras") as tmp:
        tmp.write_bytes(b"PK a newer, bigger model")  # model.save: the file is complete, the rename fails
    monkeypatch.undo()
    assert listing(run.path) == before  # no temporary file left, nothing changed


def test_a_run_folder_on_a_read_only_disk_is_named(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(DiskError, match=rf"cannot write {tmp_path / 'runs' / 'new'}: the file system is read-only"):
        RunFolder(tmp_path / "runs" / "new").create()


# --- the synthetic sky ----------------------------------------------------------------------------


def test_a_full_disk_while_generating_leaves_no_half_folder_and_names_it(tmp_path, monkeypatch):
    out = tmp_path / "data" / "sky"
    real_write_bytes = Path.write_bytes
    written = []

    def fills_up(self, data):
        if len(written) >= 7:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        written.append(self)
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", fills_up)
    with pytest.raises(DiskError) as caught:
        sky.generate(out, n=20, progress=False, workers=1)
    assert str(caught.value).startswith(f"cannot write {out}: the disk is full (nothing was changed there)")
    assert len(written) == 7  # it did fail part-way
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == []  # no .partial folder, no lock, no `sky`


def test_a_failed_swap_keeps_the_earlier_sky(tmp_path, monkeypatch):
    out = sky.generate(tmp_path / "sky", n=20, seed=1, progress=False)
    before = listing(out)
    fail_replace(monkeypatch, errno.EROFS, when=lambda src, dst: ".partial-" in src.name)  # new set -> place
    with pytest.raises(DiskError, match=rf"cannot write {out}: the file system is read-only"):
        sky.generate(out, n=20, seed=2, overwrite=True, progress=False)
    monkeypatch.undo()
    assert listing(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sky"]


# --- a report -------------------------------------------------------------------------------------


@pytest.fixture
def report_project(tmp_path, monkeypatch):
    """A project whose one notebook 'runs' by copying itself (no kernel), with a previous report."""
    (tmp_path / "parameters").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01_demo.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    previous = tmp_path / "reports" / "demo"
    previous.mkdir(parents=True)
    (previous / "report.html").write_text("the previous report")

    def execute(source, output, parameters, kernel_name, progress):
        output.write_bytes(source.read_bytes())
        return 0.1

    monkeypatch.setattr(build, "kernel_spec", lambda kernel: contextlib.nullcontext("fake"))
    monkeypatch.setattr(build, "execute_notebook", execute)
    monkeypatch.setattr(build, "summary_record", lambda *args, **kwargs: {"name": "demo"})
    return tmp_path


def _demo_config(root: Path) -> Config:
    return Config(data=str(root / "data"), run_name="demo", runs_dir=str(root / "runs"),
                  reports_dir=str(root / "reports"))


def test_a_report_that_cannot_be_rendered_leaves_the_previous_one(report_project, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "full.html")

    monkeypatch.setattr(build, "render_html", full)
    with pytest.raises(DiskError) as caught:
        report.build_report(_demo_config(report_project), notebooks_dir=report_project / "notebooks", progress=False)
    reports = report_project / "reports"
    assert str(caught.value).startswith(f"cannot write {Path('reports') / 'demo'}: the disk is full "
                                        "(the previous report there is unchanged)")
    assert (reports / "demo" / "report.html").read_text() == "the previous report"
    assert not list(reports.glob(".demo.building-*")) and not (reports / ".demo.lock").exists()


def test_a_report_that_cannot_be_swapped_in_leaves_the_previous_one(report_project, monkeypatch):
    def rendered(executed, out_dir, summary):
        (out_dir / "report.html").write_text("the new report")
        return out_dir / "report.html", out_dir / "report.html"

    monkeypatch.setattr(build, "render_html", rendered)
    fail_replace(monkeypatch, errno.EROFS, when=lambda src, dst: ".demo.building-" in src.name)
    with pytest.raises(DiskError, match=r"^cannot write reports/demo: the file system is read-only"):
        report.build_report(_demo_config(report_project), notebooks_dir=report_project / "notebooks", progress=False)
    reports = report_project / "reports"
    assert (reports / "demo" / "report.html").read_text() == "the previous report"
    assert not list(reports.glob(".demo.*")), list(reports.iterdir())  # no staging, old copy or lock left


# --- the command line -----------------------------------------------------------------------------


def test_the_cli_prints_one_line_and_exits_2_on_a_read_only_disk(tmp_path, monkeypatch, capsys):
    fail_replace(monkeypatch, errno.EROFS)
    status = cli.main(["synth", "--n", "20", "--out", str(tmp_path / "sky")])
    err = capsys.readouterr().err  # the progress bar, then the error
    assert status == 2
    assert "Traceback" not in err and err.count("error:") == 1
    assert err.endswith(f"\nerror: cannot write {tmp_path / 'sky'}: the file system is read-only (nothing was "
                        "changed there); choose a writable folder\n")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_names_the_path_of_a_disk_error_no_library_call_caught(tmp_path, monkeypatch, capsys):
    """A write the library does not wrap (a future one, a third-party writer) still ends in one line."""

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.csv"))

    monkeypatch.setattr(sky, "generate", full)
    assert cli.main(["synth", "--out", str(tmp_path / "sky")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'x.csv'}: the disk is full; free some space and run again\n"


def test_the_cli_keeps_the_traceback_of_other_os_errors(tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "somewhere")

    monkeypatch.setattr(sky, "generate", bug)
    with pytest.raises(FileNotFoundError):
        cli.main(["synth", "--out", str(tmp_path / "sky")])


def test_disk_error_is_a_one_line_user_error(tmp_path, monkeypatch, capsys):
    """Callers' ``except OSError`` still catch it (with its errno), and the command line prints it as
    one line with exit status 2, like every other user error."""
    error = disk_error(OSError(errno.EROFS, "Read-only file system"), tmp_path / "sky")
    assert isinstance(error, DiskError) and isinstance(error, GalaxyLibError) and error.errno == errno.EROFS
    with pytest.raises(OSError) as caught:
        raise error
    assert caught.value is error

    def read_only(*args, **kwargs):
        raise error

    monkeypatch.setattr(sky, "generate", read_only)
    assert cli.main(["synth", "--out", str(tmp_path / "sky")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {error}\n" and "\n" not in str(error)
