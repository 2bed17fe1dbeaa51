"""The committed notebooks, and the whole chain through them on parameters/smoke.yaml.

The chain test runs the real notebooks with papermill on a real kernel and renders them with
nbconvert, exactly as ``python -m galaxy_lib report`` does: data generation, training,
evaluation, both HTML files and the index; then a broken data path must fail loudly while the
earlier report survives.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest
from conftest import in_project

from galaxy_lib import cli, report
from galaxy_lib.config import load_config

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob(report.NOTEBOOK_PATTERN))
RUN_NOTEBOOKS = [p for p in NOTEBOOKS if p.name not in report.CURVE_NOTEBOOKS + report.COMPARE_NOTEBOOKS]


def test_the_notebooks_exist():
    """Three notebooks make a run's report (``make report``); the fourth, the learning curve's, is
    rendered only for a learning-curve file, and the fifth only by ``compare``."""
    assert [p.name for p in RUN_NOTEBOOKS] == ["01_data.ipynb", "02_train.ipynb", "03_evaluate.ipynb"]
    assert [p.name for p in NOTEBOOKS if p not in RUN_NOTEBOOKS] == ["04_learning_curve.ipynb", "05_compare.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_with_one_literal_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"
    statements = ast.parse(tagged[0].source).body
    names = []
    for statement in statements:
        # typed, literal defaults only (papermill cannot recompute derived values)
        assert isinstance(statement, ast.AnnAssign), ast.unparse(statement)
        ast.literal_eval(statement.value)
        names.append(statement.target.id)
    if path.name in report.COMPARE_NOTEBOOKS:  # a comparison names finished runs, not a configuration
        assert names == ["runs", "name"]
    else:
        assert names[:3] == ["config_file", "overrides", "run_dir"]
    assert all("#" in line for line in tagged[0].source.splitlines()), "every parameter has a comment"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_default_parameters_name_an_existing_configuration():
    from galaxy_lib.studies.curve_file import load_curve_file

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        source = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        values = {s.target.id: ast.literal_eval(s.value) for s in ast.parse(source).body}
        if path.name in report.COMPARE_NOTEBOOKS:  # run folders made by the smoke report (see its prose)
            assert len(values["runs"]) >= 2 and all(r.startswith("runs/smoke") for r in values["runs"])
            assert "parameters/smoke.yaml" in nbformat.read(path, as_version=4).cells[1].source
            continue
        if path in RUN_NOTEBOOKS:
            configs = [load_config(REPO / values["config_file"], values["overrides"])]
        else:  # the learning curve's notebook names a learning-curve file
            curves = load_curve_file(REPO / values["config_file"], values["overrides"])
            configs = [curves.config, *([curves.validation.config] if curves.validation else [])]
        assert all(c.synthetic for c in configs), "the notebooks' defaults must run without any download"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_set_up_with_one_call_and_spell_no_run_folder_file(path):
    """The set-up, the run folder's layout and the answer lists live in the library, not in copies."""
    from galaxy_lib.model.runs import RunFolder
    from galaxy_lib.studies import curve

    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    set_up = ("config, run = setup(config_file, overrides, run_dir)" if path in RUN_NOTEBOOKS
              else "comparison = compare_setup(runs, name)" if path.name in report.COMPARE_NOTEBOOKS
              else "curves, folder = curve_setup(config_file, overrides, run_dir)")
    assert sum(set_up in source for source in code) == 1
    names = [value for key, value in vars(RunFolder).items() if key.isupper() and isinstance(value, str)]
    names += [value for key, value in vars(curve).items() if key.endswith("_FILE") and isinstance(value, str)]
    assert "split.csv" in names
    for source in code:
        for literal in [*(f'"{name}"' for name in names), '".keras"', "load_config(", "resolve_path(", '"Class']:
            assert literal not in source, f"{path.name}: {literal} belongs in the library"


def _section(page: str, heading_id: str) -> str:
    """The HTML between a heading's anchor and the next h2."""
    start = page.index(f'id="{heading_id}"')
    end = page.find("<h2", start)
    return page[start : end if end > 0 else None]


@pytest.mark.slow
def test_smoke_report_chain(smoke_report):
    smoke_project = smoke_report  # built once per session (conftest): parameters/smoke.yaml on the smoke sky
    folder = smoke_project / "reports" / "smoke"
    full = (folder / report.FULL_HTML).read_text()
    no_code = (folder / report.NO_CODE_HTML).read_text()
    metrics = json.loads((smoke_project / "runs" / "smoke" / "metrics.json").read_text())
    for page in (full, no_code):
        auc = _section(page, "The-AUC-table")
        assert "<table" in auc and "positives" in auc and "Class8.2" in auc
        assert "data:image/png;base64," in _section(page, "ROC-curves")  # the ROC grid, embedded
        assert "data:image/png;base64," in _section(page, "Training-curves")
        assert "data:image/jpeg;base64," in _section(page, "What-the-model-looks-at")  # the saliency maps, as JPEG
        by_agreement = _section(page, "Error-against-volunteer-agreement")
        assert "<table" in by_agreement and "share of squared error" in by_agreement
        assert "data:image/png;base64," in by_agreement and "disagreed on most" in by_agreement
        assert "Where this report ran" in page and "03_evaluate.ipynb" in page
    assert "return_evaluation" in full and "return_evaluation" not in no_code  # code shown / hidden
    for name in ("01_data.ipynb", "02_train.ipynb", "03_evaluate.ipynb", "metrics.json", "report.json"):
        assert (folder / name).is_file(), name
    submission = (folder / "submission.csv").read_text().splitlines()
    assert submission[0].startswith("GalaxyID,Class1.1,Class1.2") and len(submission) == 1 + 6
    assert "Class11.6" in _section(no_code, "Kaggle-submission")  # the first rows are shown

    index = (smoke_project / "reports" / "index.html").read_text()
    assert 'href="smoke/report.html"' in index
    assert f"{metrics['test_rmse']:.4f}" in index
    assert re.search(r"training mean: 0\.\d{4}", index)


@pytest.mark.slow
def test_smoke_report_carries_no_machine_paths(smoke_report):
    """A report rendered on a CI runner must not print the runner's folders: paths are relative
    to the project root, and TensorFlow's start-up chatter stays out of the page."""
    smoke_project = smoke_report
    folder = smoke_project / "reports" / "smoke"
    summary = json.loads((folder / report.SUMMARY_FILE).read_text())
    assert (summary["config_file"], summary["data"], summary["run_dir"]) == ("parameters/smoke.yaml", "smoke",
                                                                            "runs/smoke")
    executed = nbformat.read(folder / "01_data.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters["run_dir"] == "runs/smoke"
    for name in (report.FULL_HTML, report.NO_CODE_HTML, report.SUMMARY_FILE):
        text = (folder / name).read_text()
        for machine_path in (str(smoke_project), str(REPO)):  # the project root; the checkout of the code
            assert machine_path not in text, f"{name} names {machine_path}"
    full = (folder / report.FULL_HTML).read_text()
    for noise in ("absl::InitializeLog", "cuInit", "oneDNN custom operations"):
        assert noise not in full
    assert "training runs/smoke:" in full and "saved to runs/smoke/split.csv" in full  # the library's own lines


@pytest.mark.slow
def test_a_failing_rerun_keeps_the_report(smoke_report, capsys):
    """A data folder without labels: notebook 1 fails, the command says where, the report survives."""
    smoke_project = smoke_report
    folder = smoke_project / "reports" / "smoke"
    (smoke_project / "empty").mkdir()
    before = (folder / report.FULL_HTML).read_bytes()
    capsys.readouterr()
    argv = ["report", "-f", str(smoke_project / "parameters" / "smoke.yaml")]
    with in_project(smoke_project):
        status = cli.main([*argv, "--data", str(smoke_project / "empty"), "--set", "synthetic=false"])
    message = capsys.readouterr().err
    assert status != 0
    assert "01_data.ipynb failed in cell In [" in message and "DataError" in message
    assert str(smoke_project / "empty") in message
    assert (folder / report.FULL_HTML).read_bytes() == before
    assert (smoke_project / "reports" / "smoke.failed" / "01_data.ipynb").is_file()
