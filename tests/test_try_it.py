"""The notebooks' "Try it" sections: every figure comes from a stored result file, a missing file
is said in so many words, and every notebook ends with the section."""

from __future__ import annotations

import ast
import itertools
import json
import re
import shutil
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from galaxy_lib.errors import ConfigError
from galaxy_lib.report import try_it as try_it_module
from galaxy_lib.report.try_it import DATA_FILE, SECTIONS, TryIt, TryItError, try_it

REPO = Path(__file__).resolve().parents[1]
STORED = REPO / "benchmarks" / "results"


def _figures():
    for key, section in SECTIONS.items():
        for suggestion in section.suggestions:
            for figure in suggestion.figures:
                yield key, suggestion, figure


def _put(record: dict, path: tuple, value) -> None:
    """Set ``value`` at ``path`` in ``record``, making dicts (and two-row lists for int keys) on the way."""
    node = record
    for key, following in itertools.pairwise(path):
        if isinstance(key, int):
            while len(node) < 2:
                node.append({})
            node = node[key]
        else:
            node = node.setdefault(key, [] if isinstance(following, int) else {})
    node[path[-1]] = value


def _fake_results(folder: Path) -> dict[tuple[str, tuple], float]:
    """A result file for every file the sections cite, each cited RMSE a different made-up number;
    returns {(file, path): value}."""
    records: dict[str, dict] = {}
    values = {}
    for number, (_, _, figure) in enumerate(_figures()):
        record = records.setdefault(figure.file, {"command": f"python benchmarks/fake.py --{figure.file}",
                                                  "setup": {"split": {"train": 1234, "test": 321},
                                                            "parameters_file": "parameters/improved.yaml",
                                                            "overrides": ["epochs=60"]}})
        if (figure.file, figure.rmse) not in values:
            values[figure.file, figure.rmse] = round(0.2001 + number / 1000, 4)
            _put(record, figure.rmse, values[figure.file, figure.rmse])
    records[try_it_module.BASELINES_FILE] = {"setup": {"split": {"test": 321}}, "figures": {"test": {
        "training mean": {"rmse": 0.1777}, "central pixel, colour bins": {"rmse": 0.1666}}}}
    content = try_it_module.load_content()
    for _, template in try_it_module._templates(content):  # the prose's placeholders: a number each (a list for
        for body in try_it_module._PLACEHOLDER.findall(template):  # |length), unless a row already set it
            placeholder = try_it_module._parse(body, content.texts)
            for ref in placeholder.refs:
                record = records.setdefault(ref.file, {"setup": {"split": {"train": 1234, "test": 321}}})
                if try_it_module._lookup(record, ref.path) is None:
                    _put(record, ref.path, ["x"] * 3 if placeholder.kind == "length" else 7)
    folder.mkdir(exist_ok=True)
    for name, record in records.items():
        (folder / f"{name}.json").write_text(json.dumps(record))
    return values


def test_every_cited_figure_is_read_from_its_file(tmp_path):
    values = _fake_results(tmp_path)
    pages = {key: try_it(key, tmp_path) for key in SECTIONS}
    for key, _, figure in _figures():
        value = values[figure.file, figure.rmse]
        label = try_it_module._PLACEHOLDER.sub("7", figure.label)  # every cited setting is 7 in the fake files
        assert f"| {label} | {value:.4f}" in pages[key], (key, figure.label)
        assert f"`{figure.file}.json`" in pages[key] and f"--{figure.file}`" in pages[key]  # file and command
    assert all("**0.1777** on the same 321 test galaxies" in page for page in pages.values())
    assert all("not measured yet" not in page for page in pages.values())

    # changing a stored figure changes the text
    path = tmp_path / "quality-screen60-improved-crop180.json"
    record = json.loads(path.read_text())
    old = record["figures"]["test_rmse"]
    record["figures"]["test_rmse"] = 0.3456
    path.write_text(json.dumps(record))
    page = try_it("01_data", tmp_path)
    assert "| crop 180 | 0.3456 | 1,234 |" in page and f"| crop 180 | {old:.4f}" not in page


def test_the_curve_rows_show_its_sizes_and_its_interval(tmp_path):
    sizes = [{"training galaxies": 150, "test RMSE": 0.1402, "epochs": "300-310", "minutes": "5.0"},
             {"training galaxies": 2447, "test RMSE": 0.1061, "epochs": "101-107", "minutes": "5.0"}]
    record = {"command": "python benchmarks/bench_curve.py -f parameters/learning_curve.yaml",
              "setup": {"curve": {"minutes_per_point": 5.0}},
              "figures": {"sizes": sizes, "headline": {"mean_rmse": 0.1609, "n_train": 2447},
                          "extrapolation": {"prediction": 0.0911, "low": 0.0852, "high": 0.0977, "target": 61578,
                                            "fit": {"points": 10}},
                          "compute": {"summary": "More time would still help: a made-up verdict."}}}
    (tmp_path / "curve-learning_curve.json").write_text(json.dumps(record))
    page = try_it("04_learning_curve", tmp_path)
    assert "| the smallest training set | 0.1402 | 150 | 300-310 | 5.0 |" in page
    assert "| the largest (mean over seeds) | 0.1061 | 2,447 | 101-107 | 5.0 |" in page
    assert "| its training-mean predictor | 0.1609 | 2,447 | – | – |" in page
    assert "| extrapolated (95% interval) | 0.0911 (0.0852-0.0977) | 61,578 |" in page
    assert "More time would still help: a made-up verdict. (`curve-learning_curve.json`)" in page
    # the prose's figures are the file's too, not typed
    assert ("falls from 150 to all 2,447 training galaxies (5 minutes per point), and what the fitted power law "
            "predicts for Kaggle's 61,578.") in page
    # a file the prose cites that is not there is said where its figure would be
    assert "Measured on all [not measured yet: `quality-screen5-improved.json` is not in" in page


def test_a_missing_or_broken_file_is_said_and_nothing_is_made_up(tmp_path):
    (tmp_path / "quality-screen60-improved-seed0.json").write_text("{not json")
    page = try_it("01_data", tmp_path)
    assert "not measured yet: `quality-screen60-improved-crop180.json` is not in" in page
    assert "`quality-screen60-improved-seed0.json` could not be read (JSONDecodeError)" in page
    assert "training-mean predictor: not measured yet: `baselines-sample.json`" in page
    assert not re.search(r"\| 0\.\d{4}", page)  # no figure at all
    assert "# the measured change is stored in quality-screen60-improved-crop180.json: not measured yet" in page

    curve = try_it("04_learning_curve", tmp_path)  # four rows from one missing file: said once
    rows = [line for line in curve.splitlines() if line.startswith("| ")]
    assert sum("`curve-learning_curve.json` is not in" in row for row in rows) == 1
    # and in the prose: why, the first time; its name, after that
    prose = [line for line in curve.splitlines() if not line.startswith("| ")]
    assert sum(line.count("`curve-learning_curve.json` is not in") for line in prose) == 1
    assert "[see `curve-learning_curve.json`]" in curve


def test_without_a_results_folder_the_section_says_so_in_one_line(tmp_path):
    page = try_it("02_train", tmp_path / "nowhere")
    notes = [line for line in page.splitlines() if "No stored results" in line]
    assert len(notes) == 1 and "nowhere" in notes[0]
    assert "### 2. No random shifts" in page and "**What it tests:**" in page and "| " not in page


def test_the_derived_change_is_the_measured_one_and_valid_python(tmp_path, monkeypatch):
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(REPO))  # parameters/paper.yaml, to see which keys the benchmark set
    _fake_results(tmp_path)
    crop = tmp_path / "quality-screen60-improved-crop180.json"
    record = json.loads(crop.read_text())
    record["setup"] |= {"parameters_file": "parameters/improved.yaml", "overrides": ["epochs=60", "crop=172"],
                        "minutes": 0.0}
    crop.write_text(json.dumps(record))
    paper = tmp_path / "quality-paper.json"
    record = json.loads(paper.read_text())
    record["setup"] |= {"parameters_file": "parameters/paper.yaml", "overrides": [], "minutes": 20.0}
    record["setup"]["config"] |= {  # beside the keys the prose cites
        "data": "../shared/data/galaxy-zoo-sample", "test_fraction": 0.18, "val_fraction": 0.1, "max_images": 0,
        "test_pool_file": "manifest.csv", "test_pool_subset": "complete_id_block_945990_999967"}
    paper.write_text(json.dumps(record))

    def cell(page: str, title: str) -> dict:
        block = page[page.index(title):]
        start = block.index("```python\n") + 10
        code = block[start: block.index("\n```", start)]
        values = {s.targets[0].id: ast.literal_eval(s.value) for s in ast.parse(code).body}
        assert set(values) == {"config_file", "overrides"}
        return values

    values = cell(try_it("01_data", tmp_path), "A tighter crop")
    assert values == {"config_file": "parameters/improved.yaml",
                      "overrides": {"epochs": 60, "crop": 172, "time_limit_minutes": 0, "run_name": "try-crop180"}}
    overrides = cell(try_it("02_train", tmp_path), "The paper's configuration")["overrides"]
    assert overrides["data"] == "../shared/data/galaxy-zoo-sample" and overrides["test_fraction"] == 0.18
    assert "val_fraction" not in overrides and "max_images" not in overrides  # paper.yaml has those already
    assert overrides["time_limit_minutes"] == 20


def test_the_sections_cite_only_stored_results():
    """Against the repository's own results: every cited file exists and every cited figure is a
    number in it, and no section says a result is missing."""
    for key, suggestion, figure in _figures():
        record = json.loads((STORED / f"{figure.file}.json").read_text())
        value = try_it_module._lookup(record, figure.rmse)
        assert isinstance(value, float), (key, suggestion.title, figure.label)
    for key in SECTIONS:
        page = try_it(key, STORED)
        missing = set(re.findall(r"`([^`]+)\.json` is not in", page))
        assert missing == set(), (key, missing)


def test_unknown_notebook_is_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"'05_nope'.*01_data, 02_train"):
        try_it("05_nope")


def test_the_section_displays_as_markdown(tmp_path):
    page = try_it("03_evaluate", tmp_path)
    assert isinstance(page, TryIt) and page._repr_markdown_() == str(page)


@pytest.mark.parametrize("key", list(SECTIONS))
def test_each_notebook_ends_with_its_try_it_section(key):
    nb = nbformat.read(REPO / "notebooks" / f"{key}.ipynb", as_version=4)
    heading, code = nb.cells[-2:]
    assert heading.cell_type == "markdown" and heading.source.startswith("## Try it\n")
    assert code.cell_type == "code" and code.outputs == []
    tree = ast.parse(code.source)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "try_it"]
    assert len(calls) == 1 and [ast.literal_eval(a) for a in calls[0].args] == [key]
    assert tree.body[-1].value is calls[0]  # the last expression: it is displayed


@pytest.mark.parametrize("notebook", [path.stem for path in sorted((REPO / "notebooks").glob("*.ipynb"))])
def test_every_notebook_has_a_section(notebook):
    """Each committed notebook has its Try it section (a new notebook without one fails here)."""
    assert notebook in SECTIONS


# --- the prose is data: the data file, its placeholders and its errors ---------------------------------------

ALLOWED_TYPED = (
    # settings a suggestion changes (what the student types into the parameters cell) ...
    "180 pixels instead of 207", "207-pixel crop", "crop 180", "80 x 80 instead of 69 x 69", "image size 80",
    "1.5 times the filters", "width 1.5", "seed 0", "seed 1",
    # ... and definitions of the task or of the project, which no measurement changes
    "424-pixel image", "8 rotations and flips", "its 4 flips", "37 answers", "95% interval", "issue 4",
    "notebooks 1, 2 and 3", "notebook 3", "Notebook 2", "VGG6",
)


def test_no_measured_figure_is_typed_in_the_data_file():
    """Every number in the prose is a placeholder, except the allowed settings and definitions: a
    typed RMSE, galaxy count, epoch count or duration fails here."""
    content = try_it_module.load_content()
    typed = {}
    for key, template in try_it_module._templates(content):
        text = try_it_module._PLACEHOLDER.sub("", template)
        # names in code spans (`bench-screen60-improved-seed0`) are not figures; a bare number in one is
        text = re.sub(r"`[^`]*`", lambda m: "" if re.search(r"[A-Za-z]", m.group()) else m.group(), text)
        for phrase in ALLOWED_TYPED:
            text = text.replace(phrase, "")
        if re.search(r"\d", text):
            typed[key] = text
    assert typed == {}


def test_the_prose_figures_follow_the_stored_files(tmp_path):
    _fake_results(tmp_path)
    width = tmp_path / "quality-screen60-improved-width1.5.json"
    record = json.loads(width.read_text())
    record["figures"]["training_minutes"] = 9.0
    width.write_text(json.dumps(record))
    seed0 = tmp_path / "quality-screen60-improved-seed0.json"
    record = json.loads(seed0.read_text())
    record["figures"]["training_minutes"] = 4.5
    record["setup"]["config"]["epochs"] = 61
    seed0.write_text(json.dumps(record))
    page = try_it("02_train", tmp_path)
    assert "more capacity at about 2.0 times the training time" in page
    assert "| without it (61 epochs, seed 0) |" in page  # a row label's figure, too


def test_the_stored_figures_fill_todays_text():
    """Against the repository's results: the figures that were typed before are the stored ones."""
    assert "batch 64 instead of 256" in try_it("02_train", STORED)
    assert "at about 1.6 times the training time" in try_it("02_train", STORED)
    assert "(5 minutes per point), and what the fitted power law predicts for Kaggle's 61,578" in try_it(
        "04_learning_curve", STORED)
    for key in SECTIONS:
        page = try_it(key, STORED)
        assert "[see `" not in page and "[not measured" not in page, key


def test_a_result_without_a_cited_key_is_one_line_naming_file_and_key(tmp_path):
    _fake_results(tmp_path)
    paper = tmp_path / "quality-paper.json"
    record = json.loads(paper.read_text())
    del record["setup"]["config"]["batch_size"]
    paper.write_text(json.dumps(record))
    with pytest.raises(TryItError) as error:
        try_it("02_train", tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert "quality-paper.json: setup.config.batch_size: no such key" in message and "try_it.yaml" in message


def _data_file(tmp_path: Path, edit) -> Path:
    """A copy of the shipped data file with ``edit`` applied to its parsed YAML."""
    data = yaml.safe_load(DATA_FILE.read_text())
    edit(data)
    path = tmp_path / "try_it.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _suggestion(data: dict, notebook: str = "02_train", number: int = 0) -> dict:
    return data["sections"][notebook]["suggestions"][number]


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: _suggestion(d).update(tests="with {{nothing_like_it}}"),
     r"sections\.02_train\.suggestions\[0\]\.tests: placeholder \{\{nothing_like_it\}\}: no text named"),
    (lambda d: _suggestion(d).update(tests="{{quality-paper:figures.test_rmse|furlongs}}"),
     r"sections\.02_train\.suggestions\[0\]\.tests: placeholder .*needs a \|KIND"),
    (lambda d: _suggestion(d).update(tests="{{quality-paper|rmse}}"), r"is not FILE:KEY\.PATH"),
    (lambda d: _suggestion(d)["rows"].append("no_such_row"),
     r"sections\.02_train\.suggestions\[0\]\.rows\[2\]: no row named 'no_such_row'"),
    (lambda d: _suggestion(d).update(colour="red"), r"sections\.02_train\.suggestions\[0\]: unknown key\(s\) colour"),
    (lambda d: _suggestion(d)["rows"][0].pop("file"),
     r"sections\.02_train\.suggestions\[0\]\.rows\[0\]\.file: must be"),
    (lambda d: d["messages"].pop("bar"), r"messages: lacks bar"),
    (lambda d: d["sections"]["01_data"].update(suggestions=[]), r"sections\.01_data\.suggestions: must be a non-empty"),
])
def test_a_malformed_data_file_is_one_line_naming_file_and_key(tmp_path, edit, expected):
    path = _data_file(tmp_path, edit)
    with pytest.raises(TryItError, match=expected) as error:
        try_it_module.load_content(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_data_that_is_not_yaml_is_one_line_with_its_line(tmp_path):
    path = tmp_path / "try_it.yaml"
    path.write_text("sections:\n  01_data: [unclosed\n")
    with pytest.raises(TryItError, match=r"try_it\.yaml: not valid YAML at line \d") as error:
        try_it("01_data", tmp_path, data_file=path)
    assert "\n" not in str(error.value)


def test_the_prose_is_read_from_the_data_file(tmp_path):
    path = _data_file(tmp_path, lambda d: d["sections"]["01_data"].update(intro="Edited: {{report}}"))
    page = try_it("01_data", tmp_path, data_file=path)
    assert page.startswith("Edited: Make a change in the parameters cells")


def test_the_data_file_ships_with_the_package():
    """A non-editable install has the data file: it is package data in pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["package-data"]["galaxy_lib"]
    assert DATA_FILE.relative_to(REPO / "galaxy_lib").as_posix() in shipped
    assert DATA_FILE.is_file()


# --- the derived change: a stored change that cannot be read is an error, not an empty change -----------------


@pytest.mark.parametrize(("setup", "expected"), [
    ({"overrides": ["epochs"]}, r"setup\.overrides: override 'epochs' is not of the form key=value"),
    ({"overrides": "epochs=60"}, r"setup\.overrides: not a list of KEY=VALUE strings"),
    ({"overrides": ["epochz=60"]}, r"setup\.overrides: unknown config key\(s\).*epochz"),
    ({"parameters_file": ""}, r"setup\.parameters_file: missing"),
    (None, r": setup: missing or not a mapping"),
])
def test_a_bad_stored_change_is_one_line_naming_file_and_key(tmp_path, setup, expected):
    _fake_results(tmp_path)
    crop = tmp_path / "quality-screen60-improved-crop180.json"
    record = json.loads(crop.read_text())
    if setup is None:
        del record["setup"]
    else:
        record["setup"] |= setup
    crop.write_text(json.dumps(record))
    with pytest.raises(TryItError, match=expected) as error:
        try_it("01_data", tmp_path)
    assert "quality-screen60-improved-crop180.json" in str(error.value) and "\n" not in str(error.value)


# --- 05_compare --------------------------------------------------------------------------------------------


def _cell(page: str, title: str) -> dict:
    block = page[page.index(title):]
    start = block.index("```python\n") + 10
    code = block[start: block.index("\n```", start)]
    return {s.targets[0].id: ast.literal_eval(s.value) for s in ast.parse(code).body}


def test_the_compare_section_names_the_runs_that_were_measured():
    """The parameters cell of each comparison names the run folders its stored results came from."""
    page = try_it("05_compare", STORED)
    compared = json.loads((STORED / "compare-paper-vs-improved.json").read_text())
    cell = _cell(page, "The paper's configuration against the improved one")
    assert cell["runs"] == [run["run_dir"] for run in compared["figures"]["runs"].values()]
    cell = _cell(page, "Two seeds of one configuration")
    assert cell["runs"] == [json.loads((STORED / f"{name}.json").read_text())["setup"]["run_dir"]
                            for name in ("quality-screen60-improved-seed0", "quality-screen60-improved-seed1")]
    assert set(cell) == {"runs", "name"}


def test_without_a_results_folder_the_prose_names_the_files(tmp_path):
    page = try_it("02_train", tmp_path / "nowhere")
    assert "batch [see `quality-improved-epochs=240-lr_schedule=constant.json`] instead of" in page
    shutil.copytree(STORED, tmp_path / "copy")
    assert "batch 64 instead of 256" in try_it("02_train", tmp_path / "copy")
