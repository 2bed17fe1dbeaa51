"""Command line: each verb's success path and its one-line error with exit status 2."""

from __future__ import annotations

import pandas as pd

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
