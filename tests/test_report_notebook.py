"""The notebooks' one-call set-up and the paper comparison table of notebook 2."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from galaxy_lib.config import Config
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.report.notebook import paper_comparison, setup


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root with one parameters file; pandas options restored afterwards."""
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "trial.yaml").write_text("run_name: trial\ncrop: 96\ndata: data/sky\n")
    with pd.option_context("display.max_colwidth", 50):
        yield tmp_path


def test_setup_reads_the_parameters_like_the_runner(project, capsys):
    config, run = setup("parameters/trial.yaml", {"epochs": 2}, "")
    assert config == Config(run_name="trial", crop=96, data="data/sky", epochs=2)
    assert run == RunFolder(project / "runs" / "trial")  # <runs_dir>/<run_name> from the project root
    assert pd.get_option("display.max_colwidth") is None  # table text in full
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["run 'trial': data data/sky, run folder runs/trial"]  # one line, no machine paths


def test_setup_with_defaults_and_an_explicit_run_folder(project, capsys):
    config, run = setup("", {}, str(project / "mine"))
    assert config == Config()
    assert run.path == project / "mine"
    assert "run folder mine" in capsys.readouterr().out


def test_setup_generates_a_missing_synthetic_sky_saying_so(project, capsys):
    """The notebooks' set-up is an entry point: a notebook run alone in JupyterLab makes its sky, once."""
    (project / "parameters" / "sky.yaml").write_text("run_name: sky\ndata: data/sky\nsynthetic: true\nsynthetic_n: 4\n")
    setup("parameters/sky.yaml", {}, "")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("generating the synthetic sky data/sky: 4 galaxies (seed 0)")
    assert printed[-1] == "run 'sky': data data/sky, run folder runs/sky"
    assert (project / "data" / "sky" / "training_solutions_rev1.csv").is_file()
    setup("parameters/sky.yaml", {}, "")
    assert "generating" not in capsys.readouterr().out  # there now: read, not made again


def test_paper_comparison_lists_only_what_differs():
    table = paper_comparison(Config(crop=207, image_size=69, head="tree", epochs=50))
    assert list(table.columns) == ["this run", "paper's code"]
    assert table.index.tolist() == ["crop", "image_size", "head"]  # epochs=50 is the paper's
    assert table.loc["crop"].tolist() == [207, 128] and table.loc["head"].tolist() == ["tree", "sigmoid"]
    assert paper_comparison(Config()).empty


def test_the_notebook_helpers_import_neither_papermill_nor_tensorflow():
    code = "import sys, galaxy_lib.report.notebook; print(' '.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(done.stdout.split())
    assert not modules & {"papermill", "nbconvert", "tensorflow"}
