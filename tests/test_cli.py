"""Command line: each verb's success path, its one-line error with exit status 2, and bugs
that keep their traceback (exit status 1)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from galaxy_lib import cli


def test_check_data_good_folder_prints_summary(kaggle_folder, capsys):
    assert cli.main(["check-data", str(kaggle_folder)]) == 0
    out = capsys.readouterr().out
    assert "12 labelled with a usable image" in out
    assert "Class11.6" in out and "tree sums:" in out


def test_check_data_bad_value_exits_2_with_one_line(kaggle_folder, capsys):
    csv = kaggle_folder / "training_solutions_rev1.csv"
    df = pd.read_csv(csv)
    df["Class1.2"] = df["Class1.2"].astype(object)
    df.loc[0, "Class1.2"] = "lots"
    df.to_csv(csv, index=False)
    assert cli.main(["check-data", str(kaggle_folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error: ") and "training_solutions_rev1.csv line 2" in err and "Class1.2" in err


def test_check_data_missing_folder_exits_2(tmp_path, capsys):
    assert cli.main(["check-data", str(tmp_path / "nowhere")]) == 2
    assert "data set not found" in capsys.readouterr().err


def test_check_data_options_skip_and_resize(kaggle_folder, capsys):
    jpg = kaggle_folder / "images_training_rev1" / "100000.jpg"
    jpg.write_bytes(jpg.read_bytes()[:1000])
    assert cli.main(["check-data", str(kaggle_folder)]) == 2
    assert "100000.jpg: truncated JPEG" in capsys.readouterr().err
    assert cli.main(["check-data", str(kaggle_folder), "--skip-bad-images"]) == 0
    assert "skipped:     1 bad images" in capsys.readouterr().out
    assert cli.main(["check-data", str(kaggle_folder), "--tolerance", "0.5", "--skip-bad-images"]) == 0
    assert "within 0.5" in capsys.readouterr().out


def test_check_data_full_decode_flag(kaggle_folder, capsys):
    jpg = kaggle_folder / "images_training_rev1" / "100002.jpg"
    data = bytearray(jpg.read_bytes())
    dht = data.find(b"\xff\xc4")
    data[dht + 5 : dht + 25] = b"\xff" * 20  # broken Huffman table: only a full decode notices
    jpg.write_bytes(bytes(data))
    assert cli.main(["check-data", str(kaggle_folder)]) == 0
    capsys.readouterr()
    assert cli.main(["check-data", str(kaggle_folder), "--full-decode"]) == 2
    assert "100002.jpg: JPEG does not decode" in capsys.readouterr().err


# --------------------------------------------------------------------------- the error channel


def _run_module(*argv: str, patch: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m galaxy_lib ARGV`` in a fresh interpreter, after running ``patch`` (to plant a bug)."""
    script = (
        "import runpy, sys\n"
        f"{patch}\n"
        f"sys.argv = ['galaxy_lib', *{list(argv)!r}]\n"
        "runpy.run_module('galaxy_lib', run_name='__main__', alter_sys=True)\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_a_zip_that_is_not_a_zip_is_named_as_such(tmp_path, capsys):
    fake = tmp_path / "x.zip"
    fake.write_text("hi\n")
    assert cli.main(["check-data", str(fake)]) == 2
    assert capsys.readouterr().err == f"error: {fake}: not a valid zip archive (damaged, truncated or not a zip file)\n"


def test_a_user_error_is_one_line_and_exit_2_even_when_the_message_has_several(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")  # PyYAML's message spans several lines
    assert cli.main(["train", "-f", str(bad), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: not valid YAML") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_config_error_from_the_command_line_names_both_keys(tmp_path, capsys):
    assert cli.main(["train", "--set", "augment_shift=4", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "'augment_shift'" in err and "'augment'" in err and err.count("\n") == 1


@pytest.mark.parametrize("bug", [ZeroDivisionError("division by zero"), ValueError("a bug, not the user")])
def test_a_bug_propagates_with_its_traceback(kaggle_folder, monkeypatch, bug):
    """A plain ValueError is a bug too: only GalaxyLibError is the user's fault."""
    from galaxy_lib.data import dataset

    def broken(*args, **kwargs):
        raise bug

    monkeypatch.setattr(dataset, "check_data", broken)
    with pytest.raises(type(bug), match=str(bug)):
        cli.main(["check-data", str(kaggle_folder)])


def test_python_m_exit_statuses(kaggle_folder, tmp_path):
    """Exit 1 with a traceback for a bug, 2 with one line for the user's mistake, 0 when all is well."""
    bug = _run_module(
        "check-data", str(kaggle_folder),
        patch="import galaxy_lib.data.dataset as d\nd.check_data = lambda *a, **k: 1 / 0",
    )
    assert bug.returncode == 1, bug.stderr
    assert "Traceback (most recent call last)" in bug.stderr and "ZeroDivisionError" in bug.stderr
    assert "error: " not in bug.stderr

    missing = _run_module("check-data", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [f"error: data set not found: {tmp_path / 'nowhere'}"]

    assert _run_module("check-data", str(kaggle_folder)).returncode == 0


def test_interrupt_is_130_and_argparse_errors_stay_2(kaggle_folder, monkeypatch, capsys):
    from galaxy_lib.data import dataset

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "check_data", interrupted)
    assert cli.main(["check-data", str(kaggle_folder)]) == 130
    assert capsys.readouterr().err == "interrupted\n"
    with pytest.raises(SystemExit) as info:
        cli.main(["no-such-verb"])
    assert info.value.code == 2


def test_train_on_a_missing_data_folder_names_the_command_that_makes_it(tmp_path, monkeypatch, capsys):
    """Loading reads: `train` does not generate the synthetic sky, it says how to make it, and writes nothing."""
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    (tmp_path / "run.yaml").write_text("data: data/sky\nsynthetic: true\nsynthetic_n: 50\n")
    assert cli.main(["train", "-f", str(tmp_path / "run.yaml"), "--out", "runs/x"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: data/sky: no synthetic sky there yet (config key 'data'); loading never generates one: "
                   "make it with `python -m galaxy_lib synth --out data/sky --n 50 --seed 0` (`report` and the "
                   "notebooks make it too)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]  # no data folder, no run folder
