"""The report runner on tiny throwaway notebooks: real papermill, real kernels, real nbconvert.

These notebooks only read their parameters, draw one figure and write a fake ``metrics.json``,
so the runner's machinery (parameters, staging and swap, failure handling, HTML, index, kernel
choice) is tested in seconds and without the rest of the library.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from galaxy_lib import cli, report
from galaxy_lib.config import Config, load_config
from galaxy_lib.errors import DataError

PARAMETERS = (
    'config_file: str = ""  # parameters file\noverrides: dict = {}  # changed keys\nrun_dir: str = ""  # run folder'
)
SETUP = (
    "import json\nfrom pathlib import Path\nfrom galaxy_lib.config import load_config\n"
    "config = load_config(config_file or None, overrides)\nrun_path = Path(run_dir)"
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
    "if config.max_images == 7:\n    raise RuntimeError('deliberate failure for the test')\n"
    "if config.max_images == 9:\n    import os\n    os._exit(1)  # the kernel dies, as when it runs out of memory"
)


def _notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Throwaway notebook"))
    nb.cells.append(nbformat.v4.new_markdown_cell("about-code-marker", metadata={"tags": [report.ABOUT_CODE_TAG]}))
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells.append(parameters)
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in (SETUP, *cells))
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder (parameters/, pyproject.toml, notebooks/, an existing data folder) as the root."""
    (tmp_path / "parameters").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "01_first.ipynb", FIGURE)
    _notebook(notebooks / "02_second.ipynb", FAIL, METRICS)
    (tmp_path / "parameters" / "tiny.yaml").write_text("data: data\nrun_name: tiny\nlearning_rate: 0.0123\n")
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    return tmp_path


def test_parameters_carry_only_the_changed_keys(project):
    config_file = project / "parameters" / "tiny.yaml"
    config = load_config(config_file, {"epochs": 3})
    params = report.notebook_parameters(config, str(config_file))
    assert params["overrides"] == {"epochs": 3}
    assert load_config(params["config_file"], params["overrides"]) == config
    assert params["run_dir"] == str(project / "runs" / "tiny")
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
    assert "set_title" in full and "set_title" not in no_code  # code shown / hidden
    assert "about-code-marker" in full and "about-code-marker" not in no_code  # so is prose about the code

    executed = nbformat.read(folder / "02_second.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters["overrides"] == {"seed": 5}
    assert executed.metadata.kernelspec["name"] == "python3"
    summary = json.loads((folder / report.SUMMARY_FILE).read_text())
    assert [t["notebook"] for t in summary["notebooks"]] == ["01_first.ipynb", "02_second.ipynb"]
    assert all(t["seconds"] > 0 for t in summary["notebooks"])
    assert summary["metrics"]["test_rmse"] == pytest.approx(0.0123)
    assert summary["environment"]["packages"]["nbconvert"] and summary["environment"]["cpu_model"]

    index = (project / "reports" / "index.html").read_text()
    assert 'href="tiny/report.html"' in index and 'href="tiny/report_no_code.html"' in index
    assert "0.0123" in index and "training mean: 0.1660" in index
    assert not list((project / "reports").glob(".tiny.*"))  # no staging folder left behind


@pytest.mark.slow
def test_failing_notebook_keeps_previous_report_and_exits_nonzero(project, capsys):
    config_file = project / "parameters" / "tiny.yaml"
    first = report.build_report(load_config(config_file), config_file=config_file, progress=False)
    before = (first / report.FULL_HTML).read_text()

    status = cli.main(["report", "-f", str(config_file), "--set", "max_images=7"])
    message = capsys.readouterr().err
    assert status != 0
    assert "02_second.ipynb failed in cell In [" in message
    assert "RuntimeError: deliberate failure for the test" in message
    assert (first / report.FULL_HTML).read_text() == before  # the earlier report survives
    failed = project / "reports" / "tiny.failed"
    kept = nbformat.read(failed / "02_second.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in kept.cells if c.cell_type == "code" for o in c.outputs)
    assert (failed / "01_first.ipynb").is_file()
    assert "tiny.failed/02_second.ipynb" in (project / "reports" / "index.html").read_text()
    assert not list((project / "reports").glob(".tiny.*"))

    report.build_report(load_config(config_file), config_file=config_file, progress=False)
    assert not failed.exists()  # a later success clears the stale failure


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
