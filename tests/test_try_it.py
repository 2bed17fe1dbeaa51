"""The exercises' "compare with ours" cells: every figure comes from a stored result file, a missing
file is said in so many words, every key a notebook names exists, and no measured figure is typed
in the templates. Cheap: copies of benchmarks/results and of the templates, no training."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import shutil
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import jinja2
import nbformat
import pytest
from jinja2 import nodes

from galaxy_lib.errors import ConfigError, GalaxyLibError
from galaxy_lib.report.prose import TemplateError
from galaxy_lib.report.try_it import TEMPLATES, TryIt, compare_with_ours, exercises, try_it
from galaxy_lib.results import Results

REPO = Path(__file__).resolve().parents[1]
STORED = REPO / "benchmarks" / "results"
EXERCISES = exercises()


def _copy(tmp_path: Path) -> Path:
    """A copy of the stored results that a test may edit."""
    return Path(shutil.copytree(STORED, tmp_path / "results"))


def _edit(folder: Path, name: str, change: Callable[[dict], object]) -> None:
    """Apply ``change`` to result ``name`` of ``folder`` in place."""
    path = folder / f"{name}.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def _pages(folder: Path) -> dict[str, str]:
    return {notebook: try_it(notebook, folder) for notebook in EXERCISES}


def _cell(page: str, title: str) -> dict:
    """The assignments of the parameters cell under ``title``, as Python values."""
    block = page[page.index(title):]
    start = block.index("```python\n") + 10
    code = block[start: block.index("\n```", start)]
    return {s.targets[0].id: ast.literal_eval(s.value) for s in ast.parse(code).body}


# --- every figure is read from its file -------------------------------------------------------------------


def test_every_shown_rmse_is_read_from_its_file(tmp_path, monkeypatch):
    """Each RMSE-like figure the cells look up (a float between 0 and 1), set to a made-up value in a
    copy of the results, is shown with that value."""
    cited: list[tuple[str, str]] = []
    lookup = Results.lookup

    def spy(self: Results, name: str, path: str) -> object:
        value = lookup(self, name, path)
        if isinstance(value, float) and 0 < value < 1:
            cited.append((name, path))
        return value

    monkeypatch.setattr(Results, "lookup", spy)
    _pages(STORED)
    assert len(set(cited)) > 20
    folder = _copy(tmp_path)
    made_up: dict[tuple[str, tuple], float] = {}
    for name, path in dict.fromkeys(cited):
        record = json.loads((folder / f"{name}.json").read_text())
        keys, node = [], record
        for key in path.split("."):  # "sizes.-1" and "sizes.4" are one figure: key it by its place
            key = int(key) % len(node) if isinstance(node, list) else key
            keys.append(key)
            node = node[key]
        made_up.setdefault((name, tuple(keys)), 0.3001 + len(made_up) / 10_000)
    for (name, keys), value in made_up.items():

        def plant(record: dict, keys: tuple = keys, value: float = value) -> None:
            node = record
            for key in keys[:-1]:
                node = node[key]
            node[keys[-1]] = value

        _edit(folder, name, plant)
    pages = "\n".join(_pages(folder).values())
    assert [key for key, value in made_up.items() if f"{value:.4f}" not in pages] == []


def test_the_curve_rows_show_its_sizes_its_seed_spread_and_its_interval(tmp_path):
    folder = _copy(tmp_path)

    def curve(record: dict) -> None:
        sizes = record["figures"]["sizes"]
        sizes[3] |= {"training galaxies": 1200, "test RMSE": 0.1115, "test RMSE sd": 0.0021, "epochs": "200",
                     "minutes": "7.6-11.3"}
        sizes[4] |= {"training galaxies": 2447, "test RMSE": 0.1037, "test RMSE sd": 0.0002, "epochs": "200",
                     "minutes": "12.1-15.4"}
        record["figures"]["headline"] |= {"mean_rmse": 0.1609, "n_train": 2447}
        record["figures"]["extrapolation"] |= {"prediction": 0.0758, "low": 0.0663, "high": 0.0927, "target": 61578}

    _edit(folder, "curve-learning_curve_epochs", curve)
    (folder / "quality-screen5-improved.json").unlink()
    page = compare_with_ours("04_learning_curve", "doubling", folder)
    assert "| 1,200 galaxies (mean of two seeds) | 0.1115 ± 0.0021 (sd) | 1,200 | 200 | 7.6-11.3 |" in page
    assert "| 2,447 galaxies (mean of two seeds) | 0.1037 ± 0.0002 (sd) | 2,447 | 200 | 12.1-15.4 |" in page
    assert "| its training-mean predictor | 0.1609 | 2,447 | - | - |" in page
    assert "| extrapolated (95% interval) | 0.0758 (0.0663-0.0927) | 61,578 |" in page
    # the prose's figures are the file's too, not typed: the sizes, and their ratio
    assert "from 1,200 to 2,447 real galaxies (about 2.0 times as many)" in page
    assert "predicts for Kaggle's 61,578." in page
    # a file the other exercise cites that is not there is said where its figure would be, and as its row
    other = compare_with_ours("04_learning_curve", "more-minutes", folder)
    assert "all [not measured yet: `quality-screen5-improved.json` is not in" in other
    assert "| *not available* | not measured yet: `quality-screen5-improved.json`" in other


def test_the_prose_figures_follow_the_stored_files(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder, "quality-screen60-improved-width1.5", lambda r: r["figures"].update(training_minutes=9.0))
    _edit(folder, "quality-screen60-improved-seed0", lambda r: (r["figures"].update(training_minutes=4.5),
                                                                r["setup"]["config"].update(epochs=61)))
    page = try_it("02_train", folder)
    assert "more capacity at about 2.0 times the training time" in page
    assert "| unchanged (61 epochs, seed 0) |" in page  # a row label's figure, too
    _edit(folder, "quality-screen60-improved-seed0", lambda r: r["machine"].update(platform="another host"))
    assert "their ratio is not shown" in try_it("02_train", folder)  # two hosts' minutes are not divided


def test_the_stored_figures_fill_todays_text():
    """Against the repository's results: the figures that were typed before are the stored ones, and
    no cell says a result is missing."""
    assert "batch 64 instead of 256" in try_it("02_train", STORED)
    assert "at about 1.6 times the training time" in try_it("02_train", STORED)
    assert "from 1,200 to 2,447 real galaxies (about 2.0 times as many)" in try_it("04_learning_curve", STORED)
    for notebook, keys in EXERCISES.items():
        for key in keys:
            page = compare_with_ours(notebook, key, STORED)
            assert "[see `" not in page and "not measured yet" not in page, (notebook, key)


# --- missing results are said in words; broken ones are one line ---------------------------------------------


def test_a_missing_file_is_said_and_nothing_is_made_up(tmp_path):
    page = try_it("01_data", tmp_path)  # a results folder with nothing in it yet
    assert "not measured yet: `quality-screen60-improved-crop180.json` is not in" in page
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


def test_a_broken_result_file_is_one_line_naming_it(tmp_path):
    folder = _copy(tmp_path)
    (folder / "quality-screen60-improved-seed0.json").write_text("{not json")
    with pytest.raises(GalaxyLibError, match=r"quality-screen60-improved-seed0\.json: not valid JSON") as error:
        compare_with_ours("01_data", "crop180", folder)
    assert "\n" not in str(error.value)


def test_without_a_results_folder_the_section_says_so_in_one_line(tmp_path):
    page = try_it("02_train", tmp_path / "nowhere")
    notes = [line for line in page.splitlines() if "No stored results" in line]
    assert len(notes) == 1 and "nowhere" in notes[0]
    assert "### 2. No random shifts" in page and "**What it tests:**" in page and "| " not in page
    one = compare_with_ours("02_train", "no-shifts", tmp_path / "nowhere")  # one exercise: said once too
    assert sum("No stored results" in line for line in one.splitlines()) == 1 and "| " not in one
    assert "batch [see `quality-improved-epochs=240-lr_schedule=constant.json`] instead of" in page


def test_a_result_without_a_cited_key_is_one_line_naming_file_key_and_template(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder, "quality-paper", lambda r: r["setup"]["config"].pop("batch_size"))
    with pytest.raises(TemplateError) as error:
        compare_with_ours("02_train", "paper-config", folder)
    message = str(error.value)
    assert "\n" not in message and "quality-paper.json: no setup.config.batch_size" in message
    assert re.match(r"galaxy_lib/report/templates/try_it/02_train/paper-config\.md\.j2:\d+: ", message)


# --- the derived change: the measured one, and a stored change that cannot be read is an error -----------------


def test_the_derived_change_is_the_measured_one_and_valid_python(tmp_path, monkeypatch):
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(REPO))  # parameters/paper.yaml, to see which keys the benchmark set
    folder = _copy(tmp_path)
    _edit(folder, "quality-screen60-improved-crop180", lambda r: r["setup"].update(
        parameters_file="parameters/improved.yaml", overrides=["epochs=60", "crop=172"], minutes=0.0))
    _edit(folder, "quality-paper", lambda r: (r["setup"].update(parameters_file="parameters/paper.yaml",
                                                                overrides=[], minutes=20.0),
                                              r["setup"]["config"].update(
        data="../shared/data/galaxy-zoo-sample", test_fraction=0.18, val_fraction=0.1, max_images=0,
        test_pool_file="manifest.csv", test_pool_subset="complete_id_block_945990_999967")))
    values = _cell(compare_with_ours("01_data", "crop180", folder), "A tighter crop")
    assert values == {"config_file": "parameters/improved.yaml",
                      "overrides": {"epochs": 60, "crop": 172, "time_limit_minutes": 0}}
    overrides = _cell(try_it("02_train", folder), "The paper's configuration")["overrides"]
    assert overrides["data"] == "../shared/data/galaxy-zoo-sample" and overrides["test_fraction"] == 0.18
    assert "val_fraction" not in overrides and "max_images" not in overrides  # paper.yaml has those already
    assert overrides["time_limit_minutes"] == 20


@pytest.mark.parametrize(("setup", "expected"), [
    ({"overrides": ["epochs"]}, r"setup\.overrides: override 'epochs' is not of the form key=value"),
    ({"overrides": "epochs=60"}, r"setup\.overrides: not a list of KEY=VALUE strings"),
    ({"overrides": ["epochz=60"]}, r"setup\.overrides: unknown config key\(s\).*epochz"),
    ({"parameters_file": ""}, r"setup\.parameters_file: missing"),
    (None, r": setup: missing or not a mapping"),
])
def test_a_bad_stored_change_is_one_line_naming_file_and_key(tmp_path, setup, expected):
    folder = _copy(tmp_path)
    _edit(folder, "quality-screen60-improved-crop180",
          lambda r: r.update(setup=None) if setup is None else r["setup"].update(setup))
    with pytest.raises(GalaxyLibError, match=expected) as error:
        compare_with_ours("01_data", "crop180", folder)
    assert "quality-screen60-improved-crop180.json" in str(error.value) and "\n" not in str(error.value)


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


# --- what a notebook shows and names ---------------------------------------------------------------------


def test_compare_with_ours_shows_one_exercise_with_its_seed_rows_and_the_bar(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder, "baselines-sample", lambda r: (r["figures"]["test"]["training mean"].update(rmse=0.1777),
                                                 r["setup"]["split"].update(test=321)))
    page = compare_with_ours("01_data", "crop180", folder)
    assert isinstance(page, TryIt) and page._repr_markdown_() == str(page)
    assert page.startswith("**Ours, on the real sample: A tighter crop: 180 pixels instead of 207**")
    rows = [line for line in page.splitlines() if line.startswith("| ") and "RMSE" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| crop 180", "| unchanged (60 epochs, seed 0)",
                                                     "| unchanged, seed 1: seed-to-seed noise"]
    assert "**0.1777** on the same 321 test galaxies" in page  # the training-mean bar
    assert "image size 80" not in page and "### " not in page  # the other exercise stays out of it
    assert "**Measured with, in the parameters cell:**" in page and "Re-measured by" in page


def test_unknown_notebooks_and_exercises_are_one_line_naming_the_known_ones():
    with pytest.raises(ConfigError, match=r"no exercise 'crop-180' for notebook '01_data'.*known: crop180, size80"):
        compare_with_ours("01_data", "crop-180")
    with pytest.raises(ConfigError, match=r"'05_nope'.*01_data, 02_train"):
        compare_with_ours("05_nope", "two-seeds")
    with pytest.raises(ConfigError, match=r"'05_nope'.*01_data, 02_train"):
        try_it("05_nope")


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


# --- the templates: no typed figure, errors in one line, shipped -------------------------------------------

ALLOWED_TYPED = (
    # settings a change makes (what the student types into the parameters cell) ...
    "180 pixels instead of 207", "207-pixel crop", "crop 180", "80 x 80 instead of 69 x 69", "image size 80",
    "1.5 times the filters", "width 1.5", "seed 0", "seed 1",
    # ... and definitions of the task or of the project, which no measurement changes
    "8 rotations and flips", "its 4 flips", "37 answers", "95% interval", "issue 4", "VGG6",
)
LOOKUPS = {"r", "has", "reason", "measured_with", "how_many"}
"""Calls whose string arguments are file names and key paths, not prose."""


def _prose(node: nodes.Node) -> Iterator[str]:
    """The text a template shows: its literal text and the string constants of its expressions,
    except the arguments of lookups and the values of a row's key paths."""
    if isinstance(node, nodes.Output):  # a run of text, its expressions left out (a code span may hold one)
        yield "".join(child.data for child in node.nodes if isinstance(child, nodes.TemplateData))
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                yield from _prose(child)
    elif isinstance(node, nodes.Const) and isinstance(node.value, str):
        yield node.value
    else:
        lookup = isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in LOOKUPS
        key_path = isinstance(node, nodes.Pair) and isinstance(node.key, nodes.Const) and node.key.value != "label"
        if lookup or key_path:
            return
        for child in node.iter_child_nodes():
            yield from _prose(child)


def _typed(templates: Path) -> dict[str, list[str]]:
    """The text of each template that holds a digit outside lookups, names and the allowed phrases."""
    env = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
    typed: dict[str, list[str]] = {}
    for path in sorted(templates.rglob("*.md.j2")):
        for text in _prose(env.parse(path.read_text())):
            if not re.search(r"\s", text.strip()) and re.search(r"[A-Za-z]", text):
                continue  # one word with letters: a name (a file, a key path, a variable), not a figure
            # names in code spans and quotes (`bench-screen60-improved-seed0`) are not figures; a bare number is
            text = re.sub(r"`[^`]*`|\"[^\"]*\"", lambda m: "" if re.search(r"[A-Za-z]", m[0]) else m[0], text)
            for phrase in ALLOWED_TYPED:
                text = text.replace(phrase, "")
            if re.search(r"\d", text):
                typed.setdefault(path.relative_to(templates).as_posix(), []).append(text.strip())
    return typed


def test_no_measured_figure_is_typed_in_the_templates():
    """Every number the cells show is a lookup, except the allowed settings and definitions: a typed
    RMSE, galaxy count, epoch count or duration fails here."""
    assert _typed(TEMPLATES) == {}


def test_a_typed_figure_would_be_found(tmp_path):
    """The check above can fail: a figure typed into the prose or into a row label is found."""
    templates = Path(shutil.copytree(TEMPLATES, tmp_path / "try_it"))
    crop = templates / "01_data" / "crop180.md.j2"
    crop.write_text(crop.read_text().replace("{% block tests %}", "{% block tests %}\nscoring 0.1007,", 1)
                    .replace('"label": "crop 180"', '"label": "crop 180 (60 epochs)"'))
    typed = _typed(templates)
    assert list(typed) == ["01_data/crop180.md.j2"]
    assert "(60 epochs)" in " ".join(typed["01_data/crop180.md.j2"]) and "0.1007" in " ".join(typed[next(iter(typed))])


def test_a_broken_template_fails_only_its_cell_in_one_line_naming_file_and_line(tmp_path):
    templates = Path(shutil.copytree(TEMPLATES, tmp_path / "try_it"))
    broken = templates / "01_data" / "crop180.md.j2"
    broken.write_text(broken.read_text().replace("{% block tests %}", "{% block tests %}\n{{ r( }}", 1))
    assert "More pixels" in compare_with_ours("01_data", "size80", STORED, templates=templates)
    with pytest.raises(TemplateError, match=r"try_it/01_data/crop180\.md\.j2:\d+: ") as error:
        compare_with_ours("01_data", "crop180", STORED, templates=templates)
    assert "\n" not in str(error.value)


def test_the_templates_ship_with_the_package():
    """A non-editable install has every template: each is package data in pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["package-data"]["galaxy_lib"]
    files = [path.relative_to(REPO / "galaxy_lib").as_posix() for path in TEMPLATES.rglob("*") if path.is_file()]
    assert len(files) > len(EXERCISES) and all(  # fnmatch's * crosses "/": count the parts, as setuptools does
        any(fnmatch.fnmatch(file, glob) and file.count("/") == glob.count("/") for glob in shipped) for file in files)
