"""The student's path in a real browser (issue 28, item 7): JupyterLab in headless Chromium opens
``02_train`` whose ``model`` cell defines a model of the student's own (VGG6 with an extra
convolution block), Run > Run All Cells, File > Save; no cell fails and the run folder says that
the notebook's model, extra block included, is the one that trained.

Skips with the reason when Playwright or a Chromium is missing (``.ci/run`` installs Debian's
``chromium``; see docs/operations.md). The harness is ``tests/browser.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import browser_unavailable, chromium, jupyter_lab, offline_page, run_all_in_lab
from conftest import all_cores

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "02_train.ipynb"

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=browser_unavailable() or "")

# What a student writes in the `model` cell: plain Keras, VGG6's two blocks for the smoke
# configuration's 32x32 inputs, then one more block (the exercise's change), small enough to train
# in seconds.
STUDENT_MODEL = '''\
import keras
from keras import layers


def build_model(config):
    """VGG6's two convolution blocks, then an extra block of my own."""
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3))
    x = layers.Conv2D(8, 3, activation="relu", padding="same", name="block1_conv1")(inputs)
    x = layers.Conv2D(8, 3, activation="relu", padding="same", name="block1_conv2")(x)
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = layers.Conv2D(16, 3, activation="relu", padding="same", name="block2_conv1")(x)
    x = layers.Conv2D(16, 3, activation="relu", padding="same", name="block2_conv2")(x)
    x = layers.MaxPooling2D(2, name="block2_pool")(x)
    # the extra block
    x = layers.Conv2D(32, 3, activation="relu", padding="same", name="extra_conv1")(x)
    x = layers.Conv2D(32, 3, activation="relu", padding="same", name="extra_conv2")(x)
    x = layers.MaxPooling2D(2, name="extra_pool")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(32, activation="relu")(x)
    outputs = layers.Dense(37, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


model = build_model(config)
model.summary()
'''
EXTRA_CONVOLUTIONS = ("extra_conv1", "extra_conv2")


def tagged(notebook: dict, tag: str) -> list[dict]:
    return [cell for cell in notebook["cells"] if tag in cell.get("metadata", {}).get("tags", [])]


def source_lines(text: str) -> list[str]:
    """A cell's ``source`` as nbformat stores it (lines keeping their newlines)."""
    return text.splitlines(keepends=True)


def students_notebook(folder: Path, run: Path, data: Path) -> Path:
    """``02_train`` as a student edits it, saved into ``folder``: the parameters cell set to the smoke
    configuration for one epoch, this test's run folder and sky; the ``model`` cell replaced by
    :data:`STUDENT_MODEL`. Outputs are cleared (the committed notebook has none anyway)."""
    notebook = json.loads(NOTEBOOK.read_text())
    (parameters,) = tagged(notebook, "parameters")
    overrides = {"epochs": 1, "data": str(data)}
    parameters["source"] = source_lines(
        'config_file: str = "parameters/smoke.yaml"  # parameters file, relative to the project root\n'
        f"overrides: dict = {overrides!r}  # one epoch, this test's own synthetic sky\n"
        f'run_dir: str = "{run}"  # run folder\n')
    models = tagged(notebook, "model")
    assert len(models) == 1, f"{NOTEBOOK.name}: {len(models)} code cells tagged `model`, expected 1 (issue 28 item 1)"
    models[0]["source"] = source_lines(STUDENT_MODEL)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    path = folder / NOTEBOOK.name
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    return path


def saved_errors(notebook: dict) -> list[str]:
    """The error outputs of a saved notebook, one line each (cell number, exception and message)."""
    return [f"cell {n}: {output.get('ename')}: {output.get('evalue')}"
            for n, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
            for output in cell.get("outputs", []) if output.get("output_type") == "error"]


@pytest.mark.slow  # a JupyterLab, a browser and one epoch of training: about a minute on 2 cores
def test_run_all_in_jupyterlab_trains_the_notebooks_own_model(tmp_path):
    from galaxy_lib.model.runs import RunFolder

    lab_root, run = tmp_path / "lab", tmp_path / "runs" / "my-model"
    lab_root.mkdir()
    path = students_notebook(lab_root, run, tmp_path / "sky")
    # Lab, Chromium and the kernel wait on each other: on every core, not the worker's one (32 s -> 25 s).
    with all_cores(), jupyter_lab(lab_root, tmp_path / "jupyter-home") as lab, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        shown = run_all_in_lab(page, lab, path.name, timeout=240, screenshot=tmp_path / "lab.png")
        page.close()
    assert not shown["errors"], shown["errors"]
    assert all(re.fullmatch(r"\[\d+\]:", prompt.strip()) for prompt in shown["prompts"]), shown["prompts"]

    saved = json.loads(path.read_text())  # what File > Save wrote: every cell ran, none failed
    code = [cell for cell in saved["cells"] if cell["cell_type"] == "code"]
    assert all(cell["execution_count"] for cell in code), [cell["execution_count"] for cell in code]
    assert saved_errors(saved) == []
    (model_cell,) = tagged(saved, "model")
    summary = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                      for o in model_cell["outputs"])
    assert all(name in summary for name in EXTRA_CONVOLUTIONS), summary[-2000:]

    folder = RunFolder(run)  # the run trained the notebook's model, not the configuration's VGG6
    assert (run / "best.keras").is_file() and (run / "last.keras").is_file()
    assert len(folder.read_history()) == 1
    architecture = folder.read_architecture()
    assert architecture is not None, f"{run}: no architecture.json"
    assert architecture["source"] == "notebook"
    assert architecture["function"] == "build_model"
    builder = architecture["build_model"]  # the function's name, module and source text, as the student wrote it
    assert builder["function"] == "build_model" and "# the extra block" in (builder["code"] or ""), builder
    layers = {name: kind for kind, name, *_ in architecture["layers"]}
    assert all(layers.get(name) == "Conv2D" for name in EXTRA_CONVOLUTIONS), architecture["layers"]
    assert architecture["trainable_parameters"] > 0


@pytest.mark.slow  # the smoke report (built once per session, shared with the report tests) opened offline
def test_rendered_report_opens_offline_without_errors(smoke_report):
    pages = sorted((smoke_report / "reports" / "smoke").rglob("*.html"))
    assert pages, f"no HTML under {smoke_report / 'reports' / 'smoke'}"
    problems = {}
    with chromium() as browser:
        for html in pages:
            with offline_page(browser, html) as opened:
                assert opened.page.title() or opened.page.locator("body").inner_text().strip(), html
                if opened.problems():
                    problems[html.name] = opened.problems()
    assert problems == {}, json.dumps(problems, indent=1)
