"""The report runner on tiny throwaway notebooks: real papermill, real kernels, real nbconvert.

These notebooks only read their parameters, draw one figure and write a fake ``metrics.json``,
so the runner's machinery (parameters, staging and swap, failure handling, HTML, index, kernel
choice) is tested in seconds and without the rest of the library.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from galaxy_lib import cli, report
from galaxy_lib.config import Config, load_config
from galaxy_lib.errors import DataError
from galaxy_lib.paths import resolve_path
from galaxy_lib.report.exercises import (
    ANSWER_PLACEHOLDER,
    ANSWER_TAG,
    EXERCISE_TAG,
    NOT_ANSWERED,
    PREDICTION_PLACEHOLDER,
    PREDICTION_TAG,
)

PARAMETERS = (
    'config_file: str = ""  # parameters file\noverrides: dict = {}  # changed keys\nrun_dir: str = ""  # run folder'
)
SETUP = (  # paths arrive relative to the project root, as in the real notebooks
    "import json\nfrom galaxy_lib.config import load_config\nfrom galaxy_lib.paths import resolve_path\n"
    "config = load_config(resolve_path(config_file) if config_file else None, overrides)\n"
    "run_path = resolve_path(run_dir)"
)
FIGURE = (
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 2))\n"
    "ax.plot([0, 1], [1, 0])\nax.set_title('ROC-like')\nplt.show()"
)
METRICS = (
    "run_path.mkdir(parents=True, exist_ok=True)\n"
    "(run_path / 'metrics.json').write_text(json.dumps({'test_rmse': config.learning_rate, 'test_accuracy': 0.5,"
    " 'baselines': {'training mean': 0.166}}))\n"
    "print('marker-output', config.run_name)"
)
FAIL = (
    "if config.max_images == 7:\n    from galaxy_lib.errors import DataError\n"
    "    raise DataError('deliberate user error for the test')\n"
    "if config.max_images == 8:\n    raise RuntimeError('deliberate bug for the test')\n"
    "if config.max_images == 9:\n    import os\n    os._exit(1)  # the kernel dies, as when it runs out of memory"
)


def _notebook(path: Path, *cells: str, exercises: Sequence[nbformat.NotebookNode] = ()) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Throwaway notebook"))
    nb.cells.append(nbformat.v4.new_markdown_cell("about-code-marker", metadata={"tags": [report.ABOUT_CODE_TAG]}))
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells.append(parameters)
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in (SETUP, *cells))
    nb.cells.extend(exercises)
    nbformat.write(nb, path)


def _exercise_cells(number: str, answer: str | None) -> list[nbformat.NotebookNode]:
    """An exercise as the notebooks hold it: the question, an unanswered prediction and ``answer``
    (None: the placeholder)."""
    md = nbformat.v4.new_markdown_cell
    return [md(f"### Exercise {number}: Marker title {number}\n\nWhat does marker-question-{number} change?",
               metadata={"tags": [EXERCISE_TAG]}),
            md(PREDICTION_PLACEHOLDER, metadata={"tags": [PREDICTION_TAG]}),
            md(answer or ANSWER_PLACEHOLDER, metadata={"tags": [ANSWER_TAG]})]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder (parameters/, pyproject.toml, notebooks/, an existing data folder) as the root."""
    (tmp_path / "parameters").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "01_first.ipynb", FIGURE, exercises=_exercise_cells("1.1", "**Your answer:** marker-answer"))
    _notebook(notebooks / "02_second.ipynb", FAIL, METRICS)
    (tmp_path / "parameters" / "tiny.yaml").write_text("data: data\nrun_name: tiny\nlearning_rate: 0.0123\n")
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    return tmp_path


def test_parameters_carry_only_the_changed_keys(project):
    config_file = project / "parameters" / "tiny.yaml"
    config = load_config(config_file, {"epochs": 3})
    params = report.notebook_parameters(config, str(config_file))
    assert params["overrides"] == {"epochs": 3}
    # paths inside the project go in relative to its root: executed notebooks carry no machine folders
    assert params["config_file"] == "parameters/tiny.yaml" and params["run_dir"] == "runs/tiny"
    assert load_config(resolve_path(params["config_file"]), params["overrides"]) == config
    no_file = report.notebook_parameters(Config(epochs=4), "")
    assert no_file["overrides"] == {"epochs": 4} and no_file["config_file"] == ""


@pytest.mark.slow
def test_report_renders_both_html_files_and_index(project):
    config_file = project / "parameters" / "tiny.yaml"
    config = load_config(config_file, {"seed": 5})
    folder = report.build_report(config, config_file=config_file, progress=False)

    assert folder == project / "reports" / "tiny"
    full = (folder / report.FULL_HTML).read_text()
    no_code = (folder / report.NO_CODE_HTML).read_text()
    for page in (full, no_code):
        assert "data:image/png;base64," in page  # the figure is embedded, not linked
        assert "marker-output tiny" in page  # outputs of the second notebook are there
        assert "Where this report ran" in page and "02_second.ipynb" in page
    for page in (full, no_code):  # the student's answer reaches both pages, and the instructor's first
        assert 'id="Your-answers"' in page and "marker-answer" in page
        assert '<a href="#Your-answers">1 of 1 exercise answered</a>' in page
        assert not network_loads(page)
    assert "set_title" in full and "set_title" not in no_code  # code shown / hidden
    assert "about-code-marker" in full and "about-code-marker" not in no_code  # so is prose about the code

    executed = nbformat.read(folder / "02_second.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters["overrides"] == {"seed": 5}
    assert executed.metadata.kernelspec["name"] == "python3"
    summary = json.loads((folder / report.SUMMARY_FILE).read_text())
    assert [t["notebook"] for t in summary["notebooks"]] == ["01_first.ipynb", "02_second.ipynb"]
    assert all(t["seconds"] > 0 for t in summary["notebooks"])
    assert summary["metrics"]["test_rmse"] == pytest.approx(0.0123)
    assert summary["answers"] == {"exercises": 1, "answered": 1, "predicted": 0}
    assert summary["model"] == {"source": "configuration"}  # no architecture.json: the configuration's model
    assert summary["environment"]["packages"]["nbconvert"] and summary["environment"]["cpu_model"]

    for text in (full, no_code, (folder / report.SUMMARY_FILE).read_text()):
        assert str(project) not in text  # paths relative to the project root, not this machine's
    assert summary["config_file"] == "parameters/tiny.yaml" and summary["run_dir"] == "runs/tiny"
    assert summary["data"] == "data"

    index = (project / "reports" / "index.html").read_text()
    assert 'href="tiny/report.html"' in index and 'href="tiny/report_no_code.html"' in index
    assert "0.0123" in index and "training mean: 0.1660" in index
    assert '<td class="num" data-sort="1" title="0 with a prediction">1 / 1</td>' in index
    assert not list((project / "reports").glob(".tiny.*"))  # no staging folder left behind


@pytest.mark.slow
def test_failing_notebook_keeps_previous_report_and_exits_nonzero(project, capsys):
    config_file = project / "parameters" / "tiny.yaml"
    first = report.build_report(load_config(config_file), config_file=config_file, progress=False)
    before = (first / report.FULL_HTML).read_text()

    status = cli.main(["report", "-f", str(config_file), "--set", "max_images=7"])
    message = capsys.readouterr().err
    assert status == 2  # a user error raised inside a notebook is still the user's: one line
    assert "02_second.ipynb failed in cell In [" in message
    assert "DataError: deliberate user error for the test" in message
    assert len(message.strip().splitlines()) == 1
    assert (first / report.FULL_HTML).read_text() == before  # the earlier report survives
    failed = project / "reports" / "tiny.failed"
    kept = nbformat.read(failed / "02_second.ipynb", as_version=4)
    assert any(o.get("ename") == "DataError" for c in kept.cells if c.cell_type == "code" for o in c.outputs)
    assert (failed / "01_first.ipynb").is_file()
    assert "tiny.failed/02_second.ipynb" in (project / "reports" / "index.html").read_text()
    assert not list((project / "reports").glob(".tiny.*"))

    report.build_report(load_config(config_file), config_file=config_file, progress=False)
    assert not failed.exists()  # a later success clears the stale failure


@pytest.mark.slow
def test_a_bug_inside_a_notebook_is_not_reported_as_a_user_error(project):
    config_file = project / "parameters" / "tiny.yaml"
    # Not a GalaxyLibError: the CLI must not turn it into a one-line exit 2 (it propagates: exit 1).
    with pytest.raises(RuntimeError, match=r"02_second.ipynb failed in cell In \[.*deliberate bug") as caught:
        cli.main(["report", "-f", str(config_file), "--set", "max_images=8"])
    assert "Traceback" in str(caught.value) or "Cell In[" in str(caught.value)  # the cell's traceback comes along
    assert (project / "reports" / "tiny.failed" / "02_second.ipynb").is_file()


def test_missing_data_fails_before_any_kernel_starts(project, capsys):
    config_file = project / "parameters" / "tiny.yaml"
    with pytest.raises(DataError, match=r"data set not found: .*nowhere.*--data"):
        report.build_report(load_config(config_file, {"data": "nowhere"}), config_file=config_file)
    assert cli.main(["report", "-f", str(config_file), "--data", "nowhere"]) == 2
    assert "data set not found" in capsys.readouterr().err
    assert not (project / "reports" / "tiny").exists()


def test_unknown_kernel_is_named(project):
    config = load_config(project / "parameters" / "tiny.yaml")
    with pytest.raises(report.ReportError, match=r"kernel 'no-such-kernel' not found; available: .*python3"):
        report.build_report(config, kernel="no-such-kernel", progress=False)


def test_bad_run_name_is_rejected(project):
    with pytest.raises(ValueError, match="run_name"):
        report.build_report(Config(data=str(project / "data"), run_name="../escape"))


@pytest.mark.slow
def test_private_kernel_when_python3_spec_is_another_interpreter(project, tmp_path, monkeypatch):
    """A fresh .venv under a user-wide `python3` spec of some other Python still runs on itself."""
    from jupyter_client.kernelspec import KernelSpecManager

    shadow = tmp_path / "jupyter" / "kernels" / "python3"
    shadow.mkdir(parents=True)
    (shadow / "kernel.json").write_text(json.dumps(
        {"argv": ["/nonexistent/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "other", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    with report.kernel_spec(None) as name:
        assert name == report.PRIVATE_KERNEL
        assert KernelSpecManager().get_kernel_spec(name).argv[0] == sys.executable
    config = load_config(project / "parameters" / "tiny.yaml")
    folder = report.build_report(config, config_file=project / "parameters" / "tiny.yaml", progress=False)
    assert (folder / report.FULL_HTML).is_file()
    assert report.PRIVATE_KERNEL not in (folder / "01_first.ipynb").read_text()  # opens on python3 in Lab


@pytest.mark.slow
def test_dead_kernel_is_reported_with_the_notebook(project):
    config_file = project / "parameters" / "tiny.yaml"
    with pytest.raises(report.ReportError, match=r"02_second.ipynb failed: DeadKernelError"):
        report.build_report(load_config(config_file, {"max_images": 9}), config_file=config_file, progress=False)
    assert (project / "reports" / "tiny.failed" / "01_first.ipynb").is_file()
    assert not (project / "reports" / "tiny").exists()


@pytest.mark.slow
def test_named_kernel_runs_the_notebooks(project, tmp_path, monkeypatch):
    """`--kernel NAME` (e.g. a GPU machine's kernel) runs every notebook on that kernel spec."""
    spec = tmp_path / "jupyter" / "kernels" / "other-machine"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "another machine", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    config_file = project / "parameters" / "tiny.yaml"
    folder = report.build_report(load_config(config_file), kernel="other-machine", config_file=config_file,
                                 progress=False)
    summary = json.loads((folder / report.SUMMARY_FILE).read_text())
    assert summary["kernel"] == "other-machine"
    assert "other-machine" in (folder / report.FULL_HTML).read_text()  # the header names the kernel
    assert nbformat.read(folder / "01_first.ipynb", as_version=4).metadata.kernelspec["name"] == "python3"


ABSL_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795702218.411051    7824 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.\n"
    "E0000 00:00:1795702219.969508    7824 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)\n"
    "2024-05-01 10:00:00.123456: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.\n"
)


def test_clean_stderr_drops_tensorflow_start_up_lines_only():
    from galaxy_lib.report.html import clean_stderr

    warning = "/proj/.venv/lib/site-packages/keras/layer.py:27: UserWarning: do not pass input_shape\n"
    assert clean_stderr(ABSL_NOISE) == ""
    assert clean_stderr(ABSL_NOISE + warning + "epoch 1/2\n") == warning + "epoch 1/2\n"
    assert clean_stderr("progress 50%\rprogress 100%") == "progress 50%\rprogress 100%"  # no newline: kept whole
    # paths under the project root lose the machine's prefix; other paths stay
    assert clean_stderr(warning, root="/proj") == warning.removeprefix("/proj/")
    assert clean_stderr("/elsewhere/x.py:1: Warning\n", root="/proj") == "/elsewhere/x.py:1: Warning\n"


def test_html_has_no_tensorflow_noise_but_keeps_warnings(tmp_path, monkeypatch):
    """Rendering alone (no kernel): stderr streams are cleaned in the code-visible page, dropped in the other."""
    from galaxy_lib.report.html import render_html

    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import tensorflow", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=ABSL_NOISE),
        nbformat.v4.new_output("stream", name="stderr", text=f"{tmp_path}/lib/x.py:3: UserWarning: mind this\n"),
        nbformat.v4.new_output("stream", name="stdout", text="marker-stdout\n"),
    ]
    nb.cells.append(cell)
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    summary = {"name": "x", "date": "2026-01-01T00:00:00", "config_file": "", "data": "data", "kernel": "python3",
               "total_seconds": 1.0, "notebooks": [{"notebook": "01_x.ipynb", "seconds": 1.0}], "environment": {}}
    full, no_code = (path.read_text() for path in render_html([tmp_path / "01_x.ipynb"], tmp_path, summary))
    for noise in ("absl", "cuInit", "oneDNN", "cpu_feature_guard", "rebuild TensorFlow"):
        assert noise not in full and noise not in no_code
    assert "lib/x.py:3: UserWarning: mind this" in full and str(tmp_path) not in full
    assert "UserWarning" not in no_code and "marker-stdout" in full and "marker-stdout" in no_code


def test_one_json_reader_tolerates_missing_and_malformed_records(tmp_path):
    """Records other processes write (summaries, metrics, lock files, checkpoints) are read by one
    function that never raises: a missing, half-written or wrong-shaped file is ``{}``."""
    from galaxy_lib.paths import read_json_object

    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    (tmp_path / "good.json").write_text('{"a": 1}')
    for name in ("missing", "list", "bad", "latin1"):
        assert read_json_object(tmp_path / f"{name}.json") == {}, name
    assert read_json_object(str(tmp_path / "good.json")) == {"a": 1}


class _Loads(HTMLParser):
    """What a page makes the browser fetch by itself: scripts, stylesheets, images, frames, media."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and attrs.get("href"):  # stylesheets, icons, preloads
            self.found.append(f"link {attrs['href']}")
        elif tag in {"script", "img", "iframe", "source", "audio", "video", "embed"} and attrs.get("src"):
            self.found.append(f"{tag} {attrs['src']}")


def network_loads(page: str) -> list[str]:
    """The page's resource loads that are not embedded (``data:``), plus CSS ``url()`` and ``@import``
    of anything but ``data:``; links in prose (``<a href>``) are fine: they load only when followed."""
    parser = _Loads()
    parser.feed(page)
    loads = [load for load in parser.found if not load.split(" ", 1)[1].startswith("data:")]
    loads += re.findall(r"@import[^;]*|url\((?!\s*['\"]?data:)[^)]*\)", page)
    return loads


def _summary(name: str = "x", **extra) -> dict:
    return {"name": name, "date": "2026-01-01T00:00:00", "config_file": "", "data": "data", "kernel": "python3",
            "total_seconds": 1.0, "notebooks": [{"notebook": "01_x.ipynb", "seconds": 1.0}], "environment": {}} | extra


def test_pages_are_self_contained_and_end_with_the_students_answers(tmp_path, monkeypatch):
    """Rendering alone (no kernel): no script, style or image from the network, formulas as MathML,
    figures and markdown images embedded, and "Your answers" before the environment section."""
    from galaxy_lib.report.html import render_html

    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell
    figure = nbformat.v4.new_code_cell("plt.show()", execution_count=1)
    figure.outputs = [nbformat.v4.new_output("display_data", data={"image/png": _PNG, "text/plain": "<Figure>"})]
    (tmp_path / "local.png").write_bytes(base64.b64decode(_PNG))
    nb.cells = [md("# Notebook\n\nThe error is $\\sqrt{\\frac{1}{N}\\sum_i (p_i - a_i)^2}$, see [Kaggle]"
                   "(https://www.kaggle.com/c/galaxy-zoo-the-galaxy-challenge).\n\n![a local figure](local.png)"),
                figure,
                *_exercise_cells("1.1", "**Your answer:** marker-answer, with $\\alpha < 1$ and $$x^2$$"),
                *_exercise_cells("1.2", None)]
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    summary = _summary(model={"source": "notebook", "function": "build_model", "parameters": 1632181})
    pages = [path.read_text() for path in render_html([tmp_path / "01_x.ipynb"], tmp_path, summary)]
    for page in pages:
        assert not network_loads(page), network_loads(page)
        assert "mathjax" not in page.lower() and "require.min.js" not in page and "cdnjs" not in page
        assert page.count("<math ") == 5 and "$" not in page.split("<body", 1)[1].split("Where this report ran")[0]
        assert 'href="https://www.kaggle.com/c/galaxy-zoo-the-galaxy-challenge"' in page  # a link in prose stays
        assert page.count('src="data:image/png;base64,') == 2  # the output and the markdown image, both embedded
        assert '<img alt="a local figure" src="data:image/png;base64,' in page
        answers = page[page.index('id="Your-answers"'):page.index('id="Where-this-report-ran"')]
        assert "1 of 2 exercises answered" in answers and "marker-answer" in answers
        assert "Question: What does marker-question-1.2 change?" in answers
        assert answers.count(f"<strong>{NOT_ANSWERED.strip('*')}</strong>") == 3  # two predictions, one answer
        assert "double-click" not in answers
        assert '<a href="#Your-answers">1 of 2 exercises answered</a>, 0 with a prediction' in page
        assert "notebook: build_model, 1,632,181 parameters" in page  # the header's Model row

    plain = [path.read_text() for path in render_html([tmp_path / "01_x.ipynb"], tmp_path, _summary())]
    nb.cells = nb.cells[:2]  # no exercises: no section, no header line
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    for page in (path.read_text() for path in render_html([tmp_path / "01_x.ipynb"], tmp_path, _summary())):
        assert "Your-answers" not in page and "<td>Model</td>" not in page
    assert all("Your-answers" in page for page in plain)


def test_a_formula_that_cannot_be_converted_stays_as_text(tmp_path, monkeypatch):
    from galaxy_lib.report import html

    assert html.mathml("x^2", "inline").startswith("<math")
    monkeypatch.setattr("latex2mathml.converter.convert", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad")))
    assert html.mathml("\\frac{", "inline") is None
    exporter = html.offline_exporter()
    body, _ = exporter.from_notebook_node(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$x^2$")]))
    assert "$x^2$" in body and "<math" not in body


def test_the_run_records_its_model_for_the_report(tmp_path):
    """report.json's ``model``: architecture.json's source, function and parameter counts; a run without
    it is the configuration's model; a damaged one does not stop the report."""
    from galaxy_lib.report.summary import RUN_RECORDS, model_record, model_text

    assert model_record(tmp_path) == {"source": "configuration"}
    assert model_record(None) is None
    (tmp_path / "architecture.json").write_text(json.dumps({
        "source": "notebook", "function": "build_model", "code": "def build_model(config): ...",
        "parameters": 1700000, "trainable_parameters": 1699000, "layers": [["Conv2D", "conv", [None, 8], 10]]}))
    record = model_record(tmp_path)
    assert record == {"source": "notebook", "function": "build_model", "parameters": 1700000,
                      "trainable_parameters": 1699000}
    assert model_text(record) == "notebook: build_model, 1,700,000 parameters"
    assert model_text({"source": "configuration", "parameters": 1632181}) == "configuration, 1,632,181 parameters"
    assert "architecture.json" in RUN_RECORDS  # copied beside the report
    (tmp_path / "architecture.json").write_text("{broken")
    assert model_record(tmp_path) is None


_PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
