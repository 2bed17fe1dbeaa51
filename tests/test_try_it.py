"""The exercises' "compare with ours" cells: every figure comes from a stored result file, a missing
file is said in so many words, and every key a notebook names exists."""

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
from galaxy_lib.report.try_it import DATA_FILE, EXERCISES, TryIt, TryItError, compare_with_ours, try_it

REPO = Path(__file__).resolve().parents[1]
STORED = REPO / "benchmarks" / "results"


def _figures():
    for key, section in EXERCISES.items():
        for suggestion in section.values():
            for figure in suggestion.figures:
                yield key, suggestion, figure


def _put(record: dict, path: tuple, value) -> None:
    """Set ``value`` at ``path`` in ``record``, making dicts (and lists of five rows for int keys) on the way."""
    node = record
    for key, following in itertools.pairwise(path):
        if isinstance(key, int):
            while len(node) < 5:
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
    records[try_it_module.BASELINES_FILE] = {  # the bar (an exercise's row may cite it too)
        "command": f"python benchmarks/fake.py --{try_it_module.BASELINES_FILE}",
        "setup": {"split": {"train": 1234, "test": 321}},
        "figures": {"test": {"training mean": {"rmse": 0.1777}, "central pixel, colour bins": {"rmse": 0.1666}}}}
    for number, (_, _, figure) in enumerate(_figures()):
        record = records.setdefault(figure.file, {"command": f"python benchmarks/fake.py --{figure.file}",
                                                  "setup": {"split": {"train": 1234, "test": 321},
                                                            "parameters_file": "parameters/improved.yaml",
                                                            "overrides": ["epochs=60"]}})
        if (figure.file, figure.rmse) not in values:
            values[figure.file, figure.rmse] = try_it_module._lookup(record, figure.rmse) or round(
                0.2001 + number / 1000, 4)
            _put(record, figure.rmse, values[figure.file, figure.rmse])
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
    pages = {key: try_it(key, tmp_path) for key in EXERCISES}
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


def test_the_curve_rows_show_its_sizes_its_seed_spread_and_its_interval(tmp_path):
    sizes = [{"training galaxies": n, "test RMSE": 0.15, "test RMSE sd": 0.001, "epochs": "200", "minutes": "3.0"}
             for n in (150, 300, 600)]
    sizes += [{"training galaxies": 1200, "test RMSE": 0.1115, "test RMSE sd": 0.0021, "epochs": "200",
               "minutes": "7.6-11.3"},
              {"training galaxies": 2447, "test RMSE": 0.1037, "test RMSE sd": 0.0002, "epochs": "200",
               "minutes": "12.1-15.4"}]
    record = {"command": "python benchmarks/bench_curve.py -f parameters/learning_curve_epochs.yaml",
              "setup": {"curve": {"minutes_per_point": 0.0, "changes": {"epochs": 200}}},
              "figures": {"sizes": sizes, "headline": {"mean_rmse": 0.1609, "n_train": 2447},
                          "extrapolation": {"prediction": 0.0758, "low": 0.0663, "high": 0.0927, "target": 61578,
                                            "fit": {"points": 10}}}}
    (tmp_path / "curve-learning_curve_epochs.json").write_text(json.dumps(record))
    page = compare_with_ours("04_learning_curve", "doubling", tmp_path)
    assert "| 1,200 galaxies (mean of two seeds) | 0.1115 ± 0.0021 (sd) | 1,200 | 200 | 7.6-11.3 |" in page
    assert "| 2,447 galaxies (mean of two seeds) | 0.1037 ± 0.0002 (sd) | 2,447 | 200 | 12.1-15.4 |" in page
    assert "| its training-mean predictor | 0.1609 | 2,447 | – | – |" in page
    assert "| extrapolated (95% interval) | 0.0758 (0.0663-0.0927) | 61,578 |" in page
    # the prose's figures are the file's too, not typed: the sizes, and their ratio
    assert "from 1,200 to 2,447 real galaxies (about 2.0 times as many)" in page
    assert "predicts for Kaggle's 61,578." in page
    # a file the other exercise cites that is not there is said where its figure would be
    assert "more galaxies alone" in (other := compare_with_ours("04_learning_curve", "more-minutes", tmp_path))
    assert "all [not measured yet: `quality-screen5-improved.json` is not in" in other


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
    one = compare_with_ours("02_train", "no-shifts", tmp_path / "nowhere")  # one exercise: said once too
    assert sum("No stored results" in line for line in one.splitlines()) == 1 and "| " not in one


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

    values = cell(compare_with_ours("01_data", "crop180", tmp_path), "A tighter crop")
    assert values == {"config_file": "parameters/improved.yaml",
                      "overrides": {"epochs": 60, "crop": 172, "time_limit_minutes": 0}}
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
    for key, section in EXERCISES.items():
        for exercise in section:
            page = compare_with_ours(key, exercise, STORED)
            missing = set(re.findall(r"`([^`]+)\.json` is not in", page))
            assert missing == set(), (key, exercise, missing)


def test_unknown_notebook_is_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"'05_nope'.*01_data, 02_train"):
        try_it("05_nope")


def test_the_section_displays_as_markdown(tmp_path):
    page = try_it("03_evaluate", tmp_path)
    assert isinstance(page, TryIt) and page._repr_markdown_() == str(page)
    one = compare_with_ours("03_evaluate", "tta", tmp_path)
    assert isinstance(one, TryIt) and one._repr_markdown_() == str(one)


def test_compare_with_ours_shows_one_exercise_with_its_seed_rows_and_the_bar(tmp_path):
    _fake_results(tmp_path)
    page = compare_with_ours("01_data", "crop180", tmp_path)
    assert page.startswith("**Ours, on the real sample: A tighter crop: 180 pixels instead of 207**")
    rows = [line for line in page.splitlines() if line.startswith("| ") and "RMSE" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| crop 180", "| unchanged (7 epochs, seed 0)",
                                                     "| unchanged, seed 1: seed-to-seed noise"]
    assert "**0.1777** on the same 321 test galaxies" in page  # the training-mean bar
    assert "image size 80" not in page and "### " not in page  # the other exercise stays out of it
    assert "**Measured with, in the parameters cell:**" in page and "Re-measured by" in page


def test_an_unknown_exercise_is_one_line_naming_the_known_ones():
    with pytest.raises(ConfigError, match=r"no exercise 'crop-180' for notebook '01_data'.*known: crop180, size80"):
        compare_with_ours("01_data", "crop-180")
    with pytest.raises(ConfigError, match=r"'05_nope'.*01_data, 02_train"):
        compare_with_ours("05_nope", "two-seeds")


def _calls(notebook: Path, name: str) -> list[list]:
    """The literal arguments of every call of ``name`` in the notebook's code cells."""
    found = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == name:
                found.append([ast.literal_eval(arg) for arg in node.args])
    return found


NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_compare_with_ours_call_names_an_existing_exercise(notebook):
    """A renamed key or a typo fails here, not when a student runs the cell."""
    for call in _calls(notebook, "compare_with_ours"):
        assert len(call) == 2, (notebook.name, call)
        section, key = call
        assert section in EXERCISES and key in EXERCISES[section], (notebook.name, call)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_with_exercises_prints_no_stored_figure_up_front(notebook):
    """The real-sample figures come after the student's own run: a notebook with an Exercises section has
    no Try it section and no try_it call, and every compare_with_ours cell comes after an exercise cell."""
    cells = nbformat.read(notebook, as_version=4).cells
    if not any(c.cell_type == "markdown" and c.source.startswith("## Exercises") for c in cells):
        pytest.skip(f"{notebook.name} has no Exercises section yet")
    assert not any(c.source.startswith("## Try it") for c in cells) and _calls(notebook, "try_it") == []
    first_exercise = next(i for i, c in enumerate(cells) if "exercise" in c.metadata.get("tags", []))
    for index, cell in enumerate(cells):
        if cell.cell_type == "code" and "compare_with_ours(" in cell.source:
            assert index > first_exercise, (notebook.name, index)
            assert "after your own run" in cells[index - 1].source.lower(), (notebook.name, index)


@pytest.mark.parametrize("notebook", [path.stem for path in NOTEBOOKS])
def test_every_notebook_has_a_section(notebook):
    """Each committed notebook has stored comparisons for its exercises (a new notebook without any fails here)."""
    assert notebook in EXERCISES


# --- the prose is data: the data file, its placeholders and its errors ---------------------------------------

ALLOWED_TYPED = (
    # settings a change makes (what the student types into the parameters cell) ...
    "180 pixels instead of 207", "207-pixel crop", "crop 180", "80 x 80 instead of 69 x 69", "image size 80",
    "1.5 times the filters", "width 1.5", "seed 0", "seed 1",
    # ... and definitions of the task or of the project, which no measurement changes
    "8 rotations and flips", "its 4 flips", "37 answers", "95% interval", "issue 4", "VGG6",
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
    assert "| unchanged (61 epochs, seed 0) |" in page  # a row label's figure, too


def test_the_stored_figures_fill_todays_text():
    """Against the repository's results: the figures that were typed before are the stored ones."""
    assert "batch 64 instead of 256" in try_it("02_train", STORED)
    assert "at about 1.6 times the training time" in try_it("02_train", STORED)
    assert "from 1,200 to 2,447 real galaxies (about 2.0 times as many)" in try_it("04_learning_curve", STORED)
    for key in EXERCISES:
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


def _suggestion(data: dict, notebook: str = "02_train", key: str = "paper-config") -> dict:
    return data["exercises"][notebook][key]


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: _suggestion(d).update(tests="with {{nothing_like_it}}"),
     r"exercises\.02_train\.paper-config\.tests: placeholder \{\{nothing_like_it\}\}: no text named"),
    (lambda d: _suggestion(d).update(tests="{{quality-paper:figures.test_rmse|furlongs}}"),
     r"exercises\.02_train\.paper-config\.tests: placeholder .*needs a \|KIND"),
    (lambda d: _suggestion(d).update(tests="{{quality-paper|rmse}}"), r"is not FILE:KEY\.PATH"),
    (lambda d: _suggestion(d)["rows"].append("no_such_row"),
     r"exercises\.02_train\.paper-config\.rows\[3\]: no row named 'no_such_row'"),
    (lambda d: _suggestion(d).update(colour="red"), r"exercises\.02_train\.paper-config: unknown key\(s\) colour"),
    (lambda d: _suggestion(d)["rows"][0].pop("file"),
     r"exercises\.02_train\.paper-config\.rows\[0\]\.file: must be"),
    (lambda d: _suggestion(d)["rows"].clear(), r"exercises\.02_train\.paper-config\.rows: must be a non-empty list"),
    (lambda d: d["messages"].pop("bar"), r"messages: lacks bar"),
    (lambda d: d["exercises"].update({"01_data": {}}), r"exercises\.01_data: must name at least one exercise"),
    (lambda d: d["exercises"]["01_data"].update({"Crop 180": d["exercises"]["01_data"]["crop180"]}),
     r"exercises\.01_data\.Crop 180: an exercise key is lower-case words joined by hyphens"),
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
    path = _data_file(tmp_path, lambda d: _suggestion(d, "01_data", "crop180").update(
        title="Edited: {{baselines-sample:setup.split.test|count}} galaxies"))
    _fake_results(tmp_path)
    page = compare_with_ours("01_data", "crop180", tmp_path, data_file=path)
    assert page.startswith("**Ours, on the real sample: Edited: 321 galaxies**")


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
