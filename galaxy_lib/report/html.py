"""Render the executed notebooks as one HTML page, twice: with code (students) and without (instructors).

The page opens with a header (run, date, inputs, the held-out headline) and closes with where it
ran (timings, packages, machine). Kernels' stderr streams keep warnings a student should see but
lose TensorFlow's start-up chatter (absl / cuInit / oneDNN lines), which says nothing about the
run; the code-hidden page drops stderr altogether.

Both pages end, before that environment section, with "Your answers" (:mod:`.exercises`): each
exercise's question with the student's prediction and answer, the empty ones marked; the header
says how many were answered and links to it.

Both pages are self-contained, so that an instructor can read an archived report offline: they
are rendered with :data:`TEMPLATE`, nbconvert's ``lab`` template without the scripts it loads from
a CDN (require.js, MathJax, mermaid.js, the widgets manager); figures are embedded as ``data:``
URIs (outputs always, markdown images with ``embed_images``) and the styles are inlined. Formulas
in markdown (``$...$``, ``$$...$$``, ``\\begin{...}``, for instance in a student's answer) become
MathML with ``latex2mathml``, which browsers render natively; LaTeX it cannot convert stays as
text. A ``text/latex`` output of a code cell (none of the notebooks has one) would show as text.
"""

from __future__ import annotations

import copy
import html
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from galaxy_lib.paths import atomic_write_text, project_root
from galaxy_lib.report.exercises import (
    SECTION_TITLE,
    Exercise,
    answered_count,
    answers_markdown,
    answers_record,
    parse_notebook,
)
from galaxy_lib.report.summary import curve_headline, model_text

FULL_HTML = "report.html"  # with code, for students
NO_CODE_HTML = "report_no_code.html"  # code hidden, for instructors
ABOUT_CODE_TAG = "about-code"  # markdown cells about the code itself, left out of the code-hidden report
TEMPLATE = "galaxy_offline"
"""The pages' nbconvert template (``templates/galaxy_offline/`` beside this module): ``lab`` without
the scripts it would load from the network."""
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
ANSWERS_ANCHOR = "#" + SECTION_TITLE.replace(" ", "-")
"""The link to the "Your answers" heading (nbconvert's anchors are the heading text with ``-`` for spaces)."""

_TENSORFLOW_NOISE = re.compile(
    r"^(?:"
    r"[IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] .*"  # absl: I0000 00:00:1795702218.41 7824 port.cc:153] oneDNN ...
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] [\w./-]+:\d+\] .*"  # TensorFlow < 2.17: 2024-05-01 10:00:00.1: I ...
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    r")\s*$"
)


def clean_stderr(text: str, root: str | None = None) -> str:
    """``text`` of a stderr stream without TensorFlow's start-up lines, other lines kept as they are.

    With ``root`` (the project folder), paths under it lose that prefix (a warning names
    ``.venv/lib/...`` rather than the machine's checkout), as everywhere else in a report.
    """
    kept = "".join(line for line in text.splitlines(keepends=True) if not _TENSORFLOW_NOISE.match(line))
    if root:
        kept = kept.replace(root.rstrip(os.sep) + os.sep, "")
    return kept


def _clean_outputs(cell: Any, root: str) -> None:
    """Apply :func:`clean_stderr` to a code cell's stderr streams, dropping those left empty."""
    outputs = []
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stderr":
            output.text = clean_stderr(output.text, root)
            if not output.text.strip():
                continue
        outputs.append(output)
    cell.outputs = outputs


def offline_exporter(**traits: Any) -> Any:
    """An nbconvert ``HTMLExporter`` whose pages load nothing from the network (module docstring):
    the :data:`TEMPLATE`, markdown images embedded and formulas as MathML. ``traits`` are passed on
    (``exclude_input=True`` ...)."""
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        """nbconvert's markdown renderer with formulas as MathML instead of text left for MathJax."""

        def block_math(self, body: str) -> str:
            return mathml(body, display="block") or super().block_math(body)

        def inline_math(self, body: str) -> str:
            return mathml(body, display="inline") or super().inline_math(body)

        def latex_environment(self, name: str, body: str) -> str:
            latex = f"\\begin{{{name}}}{body}\\end{{{name}}}"
            return mathml(latex, display="block") or super().latex_environment(name, body)

    class OfflineHTMLExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context: Any, source: str) -> str:
            """nbconvert's own filter (``HTMLExporter.markdown2html``) with :class:`MathMLRenderer`."""
            cell = context.get("cell", {})
            renderer = MathMLRenderer(
                escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options,
            )
            return MarkdownWithMath(renderer=renderer).render(source)

    return OfflineHTMLExporter(template_name=TEMPLATE, extra_template_basedirs=[str(TEMPLATES_DIR)],
                               embed_images=True, **traits)


def mathml(latex: str, display: str) -> str | None:
    """``latex`` as a MathML element, or None when latex2mathml cannot convert it (the caller then
    keeps the text as nbconvert would have left it for MathJax)."""
    from latex2mathml.converter import convert

    try:
        return convert(latex.strip(), display=display)
    except Exception:  # a student's malformed formula must not stop the report; it shows as written
        return None


def render_html(executed: Sequence[Path], out_dir: Path, summary: Mapping[str, Any],
                exercises: Sequence[Exercise] | None = None) -> tuple[Path, Path]:
    """Join the executed notebooks under a header, the "Your answers" section and an environment
    section, and render it twice with nbconvert: with code (students) and code-hidden (instructors).

    ``exercises`` are those of ``executed`` (:func:`galaxy_lib.report.exercises.collect`; parsed here
    from the notebooks when not given); without any, the answers section and its header line are left out."""
    import nbformat

    notebooks = [nbformat.read(path, as_version=4) for path in executed]
    if exercises is None:  # from the notebooks just read, not by reading each file again
        exercises = [e for path, nb in zip(executed, notebooks, strict=True)
                     for e in parse_notebook(nb, Path(path).name, strict=False)]
    combined = nbformat.v4.new_notebook(metadata=copy.deepcopy(notebooks[0].metadata))
    combined.cells.append(nbformat.v4.new_markdown_cell(header_markdown(summary, exercises)))
    root = str(project_root())
    for path, notebook in zip(executed, notebooks, strict=True):
        for number, cell in enumerate(notebook.cells):
            cell["id"] = f"{path.stem}-{number}"  # cell ids must stay unique in the joined notebook
            if cell.cell_type == "code":
                _clean_outputs(cell, root)
            combined.cells.append(cell)
    if exercises:
        combined.cells.append(nbformat.v4.new_markdown_cell(answers_markdown(exercises)))
    combined.cells.append(nbformat.v4.new_markdown_cell(_environment_markdown(summary)))
    # path: where markdown images are read from to embed them (the executed notebooks' folder)
    resources = {"metadata": {"name": f"Galaxy Zoo report: {summary['name']}", "path": str(Path(executed[0]).parent)}}
    quiet_log = logging.getLogger("galaxy_lib.report.html.nbconvert")  # not "alternative text is missing" per figure
    quiet_log.setLevel(logging.ERROR)

    full = out_dir / FULL_HTML
    exporter = offline_exporter(log=quiet_log)
    body, _ = exporter.from_notebook_node(combined, resources=copy.deepcopy(resources))
    atomic_write_text(full, body)

    quiet = copy.deepcopy(combined)
    quiet.cells = [c for c in quiet.cells if ABOUT_CODE_TAG not in c.metadata.get("tags", [])]
    for cell in quiet.cells:
        if cell.cell_type == "code":  # instructors need results, not warnings or progress bars
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    exporter = offline_exporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                                log=quiet_log)
    body, _ = exporter.from_notebook_node(quiet, resources=copy.deepcopy(resources))
    no_code = out_dir / NO_CODE_HTML
    atomic_write_text(no_code, body)
    return full, no_code


def _answers_row(exercises: Sequence[Exercise]) -> tuple[str, str]:
    """The header's line for the student's answers: how many, with a link to the section."""
    record = answers_record(exercises)
    return (SECTION_TITLE, f"[{answered_count(record)}]({ANSWERS_ANCHOR}), {record['predicted']} with a prediction")


def header_markdown(summary: Mapping[str, Any], exercises: Sequence[Exercise] = ()) -> str:
    """The Markdown header cell a report opens with, from its ``summary.json`` record: run (or
    comparison), date, parameters file, student, data and the answered exercises. Public because
    it is what a reader sees first: the tests read it for the student's name and the comparison."""
    if summary.get("kind") == "compare":
        return _compare_header(summary, exercises)
    rows = [
        ("Run", f"`{summary['name']}`"),
        ("Date (UTC)", summary["date"].replace("T", " ")),
        ("Parameters file", f"`{summary['config_file'] or '(built-in defaults)'}`"),
        ("Data", f"`{summary['data']}`" + (" (synthetic sky)" if summary.get("synthetic") else "")),
        ("Kernel", summary["kernel"]),
        ("Wall time", f"{summary['total_seconds']:.0f} s"),
    ]
    metrics, baselines = summary.get("metrics", {}), summary.get("baselines", {})
    if "test_rmse" in metrics:
        headline = f"RMSE **{metrics['test_rmse']:.4f}**"
        if "training mean" in baselines:
            headline += f" (training-mean predictor: {baselines['training mean']:.4f})"
        if "test_accuracy" in metrics:
            headline += f", paper's accuracy {metrics['test_accuracy']:.3f}"
        rows.insert(0, ("Held-out test", headline))
    members = summary.get("members") or []
    if members:
        own = ", ".join(f"`{m['name']}` {m['test_rmse']:.4f}" if isinstance(m.get("test_rmse"), int | float)
                        else f"`{m['name']}`" for m in members)
        rows.insert(1, ("Ensemble", f"{len(members)} members, averaged; each one's own held-out test RMSE: {own}"))
    curve = summary.get("curve")
    if isinstance(curve, dict) and curve:
        rows.insert(1, ("Learning curve", _curve_row(curve)))
    model = summary.get("model")
    if isinstance(model, Mapping):
        rows.insert(rows.index(next(r for r in rows if r[0] == "Run")) + 1, ("Model", model_text(model)))
    if summary.get("student"):  # a name the student typed: escaped, and no table cell may be ended by it
        drawn = summary.get("model_seed")
        seed = f" (model seed {drawn}, drawn from the name)" if drawn is not None else ""
        rows.insert(0, ("Student", html.escape(str(summary["student"])).replace("|", "&#124;") + seed))
    if exercises:
        rows.append(_answers_row(exercises))
    lines = [f"# Galaxy Zoo report: {summary['name']}", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    lines += ["", "Notebooks in this report, executed in order with papermill:", ""]
    lines += [f"1. `{t['notebook']}` ({t['seconds']:.0f} s)" for t in summary["notebooks"]]
    return "\n".join(lines)


def _compare_header(summary: Mapping[str, Any], exercises: Sequence[Exercise] = ()) -> str:
    """The header of a comparison of runs (:mod:`galaxy_lib.report.compare`): each run with its held-out
    figure, the inputs, and the split warning where the runs were not tested on the same galaxies."""
    runs = [r for r in summary.get("runs") or [] if isinstance(r, dict)]
    lines = [f"# Galaxy Zoo comparison: {summary['name']}", "", "| | |", "|---|---|"]
    for run in runs:
        split = run.get("evaluated_split") or "test"
        value = run.get(f"{split}_rmse")
        figure = f"held-out {split} RMSE **{value:.4f}**" if isinstance(value, int | float) else "no held-out RMSE"
        lines.append(f"| `{run.get('name', '?')}` | `{run.get('run_dir', '')}`"
                     + (" (ensemble)" if run.get("kind") == "ensemble" else "") + f": {figure} |")
    rows = [("Date (UTC)", summary["date"].replace("T", " "))]
    if summary.get("config_file"):
        rows.append(("Comparison file", f"`{summary['config_file']}`"))
    rows += [("Kernel", summary["kernel"]), ("Wall time", f"{summary['total_seconds']:.0f} s")]
    if exercises:
        rows.append(_answers_row(exercises))
    lines += [f"| {key} | {value} |" for key, value in rows]
    if summary.get("split_warning"):  # plain text: its head, up to the first colon, in bold
        head, _, rest = str(summary["split_warning"]).partition(": ")
        lines += ["", f"> **{head}:** {rest}" if rest else f"> **{head}**"]
    lines += ["", "Notebooks in this report, executed in order with papermill:", ""]
    lines += [f"1. `{t['notebook']}` ({t['seconds']:.0f} s)" for t in summary["notebooks"]]
    return "\n".join(lines)


def _curve_row(curve: Mapping[str, Any]) -> str:
    """The header's line for a learning curve: what the held-out figure above is, and the extrapolation."""
    sizes, seeds, fit = curve_headline(dict(curve))
    text = f"{len(sizes)} sizes, {sizes[0]:,} to {sizes[-1]:,} training galaxies" if sizes else "no points"
    if seeds is not None:
        text += f", {seeds} seed(s) each; the held-out figures above are the largest size's, mean over seeds"
    if fit is not None:
        text += (f"; extrapolated to {int(fit['target']):,} galaxies: **{fit['prediction']:.4f}** "
                 f"(bootstrap interval {fit['low']:.4f}-{fit['high']:.4f})")
    return text


def _environment_markdown(summary: Mapping[str, Any]) -> str:
    lines = ["## Where this report ran", "", "| Notebook | Wall time (s) |", "|---|---|"]
    lines += [f"| `{t['notebook']}` | {t['seconds']:.1f} |" for t in summary["notebooks"]]
    lines += [f"| **total** | {summary['total_seconds']:.1f} |", "", "| Environment | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in _flatten(summary.get("environment", {}))]
    return "\n".join(lines)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in record.items():
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            rows.append((f"{prefix}{key}", text.replace("|", "\\|")))
    return rows
