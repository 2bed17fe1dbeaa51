"""The `student` key: who ran a report, and a model seed of their own (issue 29, item 1)."""

from __future__ import annotations

import pytest

from galaxy_lib.config import STUDENT_ENV, Config, load_config, student_seed
from galaxy_lib.errors import ConfigError
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.report.html import header_markdown
from galaxy_lib.report.index import render_index


def test_the_seed_is_drawn_from_the_name_and_the_seed_key_and_is_stable():
    ada = student_seed("Ada Lovelace")
    assert ada == student_seed("  ada lovelace ")  # case and spaces typed differently: the same student
    assert ada != student_seed("Grace Hopper")
    assert ada != student_seed("Ada Lovelace", 1)  # each student's seed-to-seed comparison is their own
    assert 0 <= ada < 2**31
    assert ada == 138743847  # SHA-256, not hash(): the same on every machine and Python run


def test_without_a_student_the_model_seed_is_the_seed_and_with_one_it_is_drawn():
    assert Config(seed=3).model_seed == 3
    config = Config(student="Ada Lovelace", seed=1)
    assert config.model_seed == student_seed("Ada Lovelace", 1)
    assert config.split_seed == 0  # the split stays the course's


def test_the_environment_names_the_student_unless_the_file_or_overrides_do(tmp_path, monkeypatch):
    monkeypatch.setenv(STUDENT_ENV, "Ada Lovelace")
    assert load_config().student == "Ada Lovelace"
    assert load_config(overrides={"student": "Grace Hopper"}).student == "Grace Hopper"
    file = tmp_path / "p.yaml"
    file.write_text("student: Grace Hopper\n")
    assert load_config(file).student == "Grace Hopper"
    monkeypatch.delenv(STUDENT_ENV)
    assert load_config().student == ""


def test_a_run_folder_keeps_who_ran_it_whoever_loads_it(tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    Config().save(run.config_file)  # trained without a student
    monkeypatch.setenv(STUDENT_ENV, "Ada Lovelace")
    assert run.load_config().student == ""
    assert run.load_config({"tta": "flips"}).student == ""


@pytest.mark.parametrize("name", [" Ada", "Ada\nLovelace", "x" * 101])
def test_a_bad_name_is_one_line_naming_the_key(name):
    with pytest.raises(ConfigError, match="config key 'student'") as error:
        load_config(overrides={"student": name})
    assert "\n" not in str(error.value).replace(repr(name), "")


def _summary(**extra) -> dict:
    return {"name": "default", "date": "2026-12-07T10:00:00+00:00", "config_file": "parameters/default.yaml",
            "data": "data/synthetic", "kernel": "python3", "total_seconds": 1.0, "notebooks": [],
            "run_dir": "runs/default", **extra}


def test_the_report_header_and_the_index_name_the_student_escaped():
    header = header_markdown(_summary(student="<b>Ada|</b>", model_seed=7))
    row = next(line for line in header.splitlines() if line.startswith("| Student"))
    assert "&lt;b&gt;Ada&#124;&lt;/b&gt;" in row and "model seed 7" in row
    assert row.count("|") == 3  # the name cannot open another cell
    assert "Student" not in header_markdown(_summary())
    page = render_index([_summary(student="<i>Ada</i>")], [])
    assert "student: &lt;i&gt;Ada&lt;/i&gt;" in page and "<i>Ada" not in page
