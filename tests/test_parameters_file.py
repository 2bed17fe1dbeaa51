"""The one reader of parameters files (galaxy_lib.parameters_file): kinds, base chains, key errors.

Cheap: YAML files in a temporary folder, no data, no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from galaxy_lib import parameters_file
from galaxy_lib.config import load_config
from galaxy_lib.errors import ConfigError
from galaxy_lib.parameters_file import COMPARE, CONFIGURATION, CURVE, ENSEMBLE, is_folder_name, read

ENSEMBLE_TEXT = "name: ens\nmembers:\n  - {config: run.yaml, set: {seed: 0}}\n  - {config: run.yaml, set: {seed: 1}}\n"
CURVE_TEXT = "name: c\nconfig: run.yaml\nsizes: 10,all\n"
COMPARE_TEXT = "runs: [runs/a, runs/b]\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "run.yaml").write_text("epochs: 2\n")
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "kind"), [
    ("epochs: 2\n", CONFIGURATION),
    ("", CONFIGURATION),
    (ENSEMBLE_TEXT, ENSEMBLE),
    (CURVE_TEXT, CURVE),
    (COMPARE_TEXT, COMPARE),
])
def test_the_kind_comes_from_the_marker_key(folder, text, kind):
    path = write(folder, "p.yaml", text)
    assert read(path).kind == kind
    assert parameters_file.file_kind(path) == kind


def test_a_file_that_cannot_be_read_has_no_kind_but_reading_it_says_why(folder):
    broken = write(folder, "broken.yaml", "name: [\n")
    assert parameters_file.file_kind(broken) is None and parameters_file.file_kind(None) is None
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML"):
        read(broken)


def test_each_loader_reads_its_file_once(folder, monkeypatch):
    """The kind is found from the mapping already read: no second read of the file to learn it."""
    from galaxy_lib.model.ensemble import EnsembleConfig, load_parameters

    opened: list[Path] = []
    real = parameters_file.read_mapping
    monkeypatch.setattr(parameters_file, "read_mapping", lambda path: opened.append(path) or real(path))
    ensemble = write(folder, "ens.yaml", ENSEMBLE_TEXT)
    assert isinstance(load_parameters(ensemble), EnsembleConfig)
    assert opened.count(ensemble) == 1
    assert opened.count(folder / "run.yaml") == 2  # once per member (each may have its own set)
    opened.clear()
    load_parameters(folder / "run.yaml")
    assert opened == [folder / "run.yaml"]


def test_a_base_chain_is_read_relative_to_each_file_furthest_first(folder):
    write(folder, "common/grand.yaml", "epochs: 3\ncrop: 207\n")
    write(folder, "common/parent.yaml", "base: grand.yaml\nepochs: 4\nhead: tree\n")
    child = write(folder, "runs/child.yaml", "base: ../common/parent.yaml\nepochs: 5\n")
    file = read(child)
    assert [layer.path.name for layer in file.layers] == ["grand.yaml", "parent.yaml", "child.yaml"]
    assert all("base" not in layer.values for layer in file.layers) and file.values["base"]
    config = load_config(file)
    assert (config.epochs, config.crop, config.head) == (5, 207, "tree")


def test_an_unknown_key_in_a_base_file_names_that_file(folder):
    write(folder, "parent.yaml", "epoch: 3\n")
    child = write(folder, "child.yaml", "base: parent.yaml\nepochs: 4\n")
    with pytest.raises(ConfigError) as caught:
        load_config(child)
    assert str(caught.value) == f"unknown config key(s) in {folder / 'parent.yaml'}: epoch"


@pytest.mark.parametrize("texts", [
    {"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"},
    {"a.yaml": "base: a.yaml\n"},
    {"a.yaml": "base: sub/b.yaml\n", "sub/b.yaml": "base: ../a.yaml\n"},
])
def test_a_base_chain_that_loops_is_one_line(folder, texts):
    for name, text in texts.items():
        write(folder, name, text)
    with pytest.raises(ConfigError, match=r"'base' chain loops back to .*a\.yaml") as caught:
        read(folder / "a.yaml")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "load", "expected"), [
    ("epochs: 2\nepoch: 3\n", "config", "unknown config key(s) in {path}: epoch"),
    (ENSEMBLE_TEXT + "epochs: 3\n", "ensemble", "unknown ensemble key(s) in {path}: epochs (an ensemble file has"),
    (CURVE_TEXT + "colour: red\n", "curve", "unknown learning-curve key(s) in {path}: colour (a learning-curve"),
    (COMPARE_TEXT + "colour: red\n", "compare", "unknown comparison key(s) in {path}: colour (a comparison file"),
])
def test_a_bad_key_is_one_line_naming_the_file_and_the_key(folder, text, load, expected):
    from galaxy_lib.model.ensemble import load_ensemble
    from galaxy_lib.report.compare import read_compare_file
    from galaxy_lib.studies.curve_file import load_curve_file

    path = write(folder, "p.yaml", text)
    loader = {"config": load_config, "ensemble": load_ensemble, "curve": load_curve_file,
              "compare": read_compare_file}[load]
    with pytest.raises(ConfigError) as caught:
        loader(path)
    message = str(caught.value)
    assert message.startswith(expected.format(path=path)) and "\n" not in message


def test_a_kind_found_from_its_marker_says_so(folder):
    """A configuration with a stray `runs:` learns why it is read as a comparison file; loaded as a
    configuration, `runs` is simply an unknown key."""
    from galaxy_lib.model.ensemble import load_parameters

    path = write(folder, "p.yaml", "epochs: 2\nruns: 3\n")
    with pytest.raises(ConfigError, match=r"unknown comparison key\(s\) in .*p.yaml: epochs \(it has `runs`, so it"):
        load_parameters(path)
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) in .*p.yaml: runs$"):
        load_config(path)


@pytest.mark.parametrize(("text", "message"), [
    (CURVE_TEXT, r"p.yaml is a learning-curve file \(it has `sizes`\): train its points with"),
    (COMPARE_TEXT, r"p.yaml is a comparison file \(it has `runs`\): render it with"),
])
def test_a_run_loader_refuses_another_kind_with_the_command_that_reads_it(folder, text, message):
    from galaxy_lib.model.ensemble import load_parameters

    with pytest.raises(ConfigError, match=message):
        load_parameters(write(folder, "p.yaml", text))


@pytest.mark.parametrize(("name", "ok"), [
    ("seed0", True), ("improved-x3.v2", True), ("a_b", True),
    ("../up", False), ("", False), (".hidden", False), ("a/b", False), ("x.failed", False), (3, False), (None, False),
])
def test_one_rule_for_names_that_name_folders(name, ok):
    assert is_folder_name(name) is ok
