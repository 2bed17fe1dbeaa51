"""``reports/index.html``: one table of every report, newest first.

Each report folder holds a ``report.json`` written by :func:`galaxy_lib.report.build.build_report`
(date, data, parameters file, wall time, headline metrics from the run's ``metrics.json``);
failed runs leave ``NAME.failed/failure.json``. The index is rebuilt from those files alone, so
deleting a report folder and rebuilding any report drops it from the list.

An ensemble is one row, like a run: its figures are the ensemble's, and the Run cell lists its
members with each one's own test RMSE and the training minutes of all of them. A learning curve
is one row too: its figures are those of its largest training-set size (means over seeds), and the
Run cell adds its sizes and seeds and the extrapolation to Kaggle's training set with its interval.

Two columns are for the instructor: **Model** (the configuration's architecture, or the function a
student defined in notebook 2, with its parameter count: ``report.json``'s ``model``) and
**Answers** (how many of the notebooks' exercises the student answered: its ``answers``). A report
rendered before either existed shows a dash.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from galaxy_lib.evaluation.baselines import KAGGLE_ANCHORS
from galaxy_lib.model.ensemble import EnsembleFolder
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import atomic_write_text, read_json_object
from galaxy_lib.report.html import FULL_HTML, NO_CODE_HTML
from galaxy_lib.report.summary import FAILURE_FILE, SUMMARY_FILE, curve_headline, model_text

INDEX_FILE = "index.html"

TRAINING_MEAN = "training mean"
"""The training-mean predictor's name among a run's baselines (``metrics.json``, ``report.json``):
the mean of every answer over the run's training galaxies, scored on the same test galaxies. It
is the bar any model must clear, so the index measures every run against it."""
COMPARE_KIND = "compare"
"""``report.json``'s ``kind`` for a comparison of runs: listed in a section of its own."""
FLAG_TEXT = "does not beat the training mean"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.behind td { background: #fff3f3; }
.flag { display: inline-block; margin-top: 0.2em; padding: 0 0.4em; border-radius: 3px; background: #b00020;
        color: #fff; font-size: 0.85em; white-space: nowrap; }
.failed { color: #a00; }
.members { font-size: 0.9em; color: #444; }
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, column) {
    th.title = "click to sort";
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      var numeric = th.getAttribute("data-type") === "number";
      var body = table.tBodies[0];
      var key = function (row) {
        var cell = row.cells[column];
        if (!cell) { return ""; }
        return (cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent).trim();
      };
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }  /* missing figures last, either way */
        var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""
"""Click a header to sort by that column, again to reverse. Cells sort by their ``data-sort``
attribute when they have one (the plain number behind ``0.1012`` or ``+37.1%``), else by their
text; columns marked ``data-type="number"`` compare as numbers. Rows without a figure stay last."""


def write_index(reports_dir: str | Path) -> Path:
    """Rebuild ``reports_dir/index.html`` from every report and failed run found there."""
    reports = Path(reports_dir)
    entries = [
        read_json_object(path)
        for path in sorted(reports.glob(f"*/{SUMMARY_FILE}"))
        if not path.parent.name.startswith(".")
    ]
    entries = sorted((e for e in entries if e), key=lambda e: str(e.get("date", "")), reverse=True)
    failures = [
        read_json_object(path) | {"folder": path.parent.name}
        for path in sorted(reports.glob(f"*.failed/{FAILURE_FILE}"))
    ]
    atomic_write_text(reports / INDEX_FILE, render_index(entries, failures))
    (reports / INDEX_FILE).chmod(0o644)  # temporary files are private; the index is meant to be read
    return reports / INDEX_FILE


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number_text(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if is_number(value) else "–"


def training_mean_rmse(entry: dict[str, Any]) -> float | None:
    """The training-mean predictor's RMSE on the run's own test galaxies (its ``baselines``), or None."""
    baselines = entry.get("baselines")
    value = baselines.get(TRAINING_MEAN) if isinstance(baselines, dict) else None
    return float(value) if is_number(value) and value > 0 else None


def vs_training_mean(entry: dict[str, Any]) -> float | None:
    """How much lower the run's test RMSE is than the training-mean predictor's on the same test
    galaxies, as a fraction of the latter: ``(mean - test) / mean``. Positive when the run beats
    it, zero or negative when it does not; None when either figure is missing."""
    metrics = entry.get("metrics") if isinstance(entry.get("metrics"), dict) else {}
    test, mean = metrics.get("test_rmse"), training_mean_rmse(entry)
    if not is_number(test) or mean is None:
        return None
    return (mean - float(test)) / mean


def td_cell(content: str, sort: Any = None, *, num: bool = False) -> str:
    """One cell; ``sort`` (a number or text) becomes its ``data-sort`` key, '' for a missing figure."""
    attributes = ' class="num"' if num else ""
    if sort is not None:
        key = f"{sort:.6g}" if is_number(sort) else ("" if isinstance(sort, int | float) else str(sort))
        attributes += f' data-sort="{html.escape(key)}"'
    return f"<td{attributes}>{content}</td>"


def _numeric_td(value: Any, digits: int = 4, suffix: str = "") -> str:
    shown = number_text(value, digits)
    return td_cell(shown + (suffix if shown != "–" else ""), value if is_number(value) else "", num=True)


def thead_row(columns: tuple[tuple[str, bool], ...]) -> str:
    number = ' data-type="number"'
    cells = "".join(f"<th{number if numeric else ''}>{html.escape(label)}</th>" for label, numeric in columns)
    return f"<thead><tr>{cells}</tr></thead>"


_RUN_COLUMNS = (
    ("Run", False), ("Date (UTC)", False), ("Answers", True), ("Data", False), ("Parameters", False),
    ("Model", False), ("Device", False), ("Test RMSE", True), ("vs training mean", True), ("Test accuracy", True),
    ("Val RMSE", True), ("Baselines (test RMSE)", False), ("Wall time", True),
)
_COMPARE_COLUMNS = (("Comparison", False), ("Date (UTC)", False), ("Answers", True),
                    ("Runs compared (test RMSE)", False))


INDEX_ANCHORS: dict[str, str] = {
    "winner": "Kaggle winner (private LB)",
    "central-pixel benchmark": "Kaggle central-pixel benchmark",
    "all-zeros": "Kaggle all-zeros benchmark",
}
"""The Kaggle anchors the index's introduction names (its words -> keys of
:data:`~galaxy_lib.evaluation.baselines.KAGGLE_ANCHORS`, the one home of their values)."""


def anchors_text() -> str:
    """``"winner 0.07492, central-pixel benchmark 0.16194, all-zeros 0.27160"``, read from
    :data:`~galaxy_lib.evaluation.baselines.KAGGLE_ANCHORS` so that a corrected score changes every page."""
    return ", ".join(f"{words} {KAGGLE_ANCHORS[key]:.5f}" for words, key in INDEX_ANCHORS.items())


def render_index(entries: list[dict[str, Any]], failures: list[dict[str, Any]]) -> str:
    """The index page as an HTML string (pure function of the report summaries)."""
    e = html.escape
    runs = [entry for entry in entries if entry.get("kind") != COMPARE_KIND]
    comparisons = [entry for entry in entries if entry.get("kind") == COMPARE_KIND]
    compared_in = _comparisons_by_run(comparisons)
    rows = [_run_row(entry, _linked(entry, compared_in)) for entry in runs]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Galaxy Zoo reports</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>Galaxy Zoo reports</h1>",
        "<p>Every figure is measured on held-out galaxies the model never trained on; the baselines "
        "use the same split and metric. <strong>vs training mean</strong> is how much lower a run's test "
        "RMSE is than that of predicting the training galaxies' mean answers for the same test galaxies "
        f"((mean &minus; run) / mean): the bar any model must clear; a red <span class=\"flag\">{FLAG_TEXT}"
        f"</span> marks a run that does not. Kaggle anchors (test RMSE): {anchors_text()}. "
        "<strong>Answers</strong>: the notebooks' exercises the student "
        "answered, of all of them (the answers are in each report's \u201cYour answers\u201d section); "
        "<strong>Model</strong>: the configuration's architecture or the function the student defined in "
        "the notebook. Click a column header to sort.</p>",
    ]
    if comparisons:
        parts.append(f'<p><a href="#comparisons">{len(comparisons)} comparison'
                     f'{"s" if len(comparisons) != 1 else ""} of runs</a> below the runs.</p>')
    if rows:
        parts.append('<table class="sortable">' + thead_row(_RUN_COLUMNS) + "<tbody>" + "\n".join(rows)
                     + "</tbody></table>")
    else:
        parts.append("<p>No reports yet.</p>")
    if comparisons:
        parts.append('<h2 id="comparisons">Comparisons</h2>')
        parts.append('<table class="sortable">' + thead_row(_COMPARE_COLUMNS) + "<tbody>"
                     + "\n".join(_compare_row(entry) for entry in comparisons) + "</tbody></table>")
    if failures:
        parts.append('<h2 class="failed">Failed runs</h2><ul>')
        for failure in failures:
            folder = e(failure["folder"])
            notebook = failure.get("notebook")
            link = f'<a href="{folder}/{e(notebook)}">{folder}/{e(notebook)}</a>' if notebook else folder
            parts.append(f'<li class="failed">{e(str(failure.get("date", "")))}: {link}: '
                         f'{e(str(failure.get("error", "")))}</li>')
        parts.append("</ul>")
    parts.append(f"<script>{SORT_SCRIPT}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _linked(entry: dict[str, Any], compared_in: dict[str, list[str]]) -> list[str]:
    """The comparisons that name this run (by its name or its run folder), each once."""
    found = compared_in.get(f"name:{entry.get('name')}", []) + compared_in.get(f"dir:{entry.get('run_dir')}", [])
    return list(dict.fromkeys(found))


def answers_td(entry: dict[str, Any]) -> str:
    """The Answers cell: ``answered / exercises`` from ``report.json``'s ``answers`` (sorted by the share
    answered), a dash for a report without exercises or rendered before they were counted."""
    record = entry.get("answers") if isinstance(entry.get("answers"), dict) else {}
    answered, total = record.get("answered"), record.get("exercises")
    if not (is_number(answered) and is_number(total) and total > 0):
        return td_cell("–", "", num=True)
    predicted = record.get("predicted")
    title = f' title="{int(predicted)} with a prediction"' if is_number(predicted) else ""
    return f'<td class="num" data-sort="{answered / total:.6g}"{title}>{int(answered)} / {int(total)}</td>'


def model_td(entry: dict[str, Any], name: str) -> str:
    """The Model cell: where the architecture came from and its parameter count (``report.json``'s
    ``model``), linked to the ``architecture.json`` copied beside the report when it has one."""
    model = entry.get("model")
    if not isinstance(model, dict):
        return td_cell("–", "")
    text = html.escape(model_text(model))
    if model.get("parameters") is not None:  # written from architecture.json, whose copy lies beside the report
        text = f'<a href="{name}/{RunFolder.ARCHITECTURE}">{text}</a>'
    return td_cell(text)


def _run_row(entry: dict[str, Any], comparisons: list[str]) -> str:
    """One run, ensemble or learning curve as one table row (one line of HTML)."""
    e = html.escape
    name = e(str(entry.get("name", "?")))
    metrics = entry.get("metrics") if isinstance(entry.get("metrics"), dict) else {}
    baselines = entry.get("baselines") if isinstance(entry.get("baselines"), dict) else {}
    listed = "<br>".join(f"{e(str(k))}: {number_text(v)}" for k, v in sorted(baselines.items(), key=lambda kv: str(kv)))
    config_file = str(entry.get("config_file") or "(defaults)")
    data = e(str(entry.get("data", ""))) + (" <em>(synthetic)</em>" if entry.get("synthetic") else "")
    members = entry.get("members") if isinstance(entry.get("members"), list) else []
    curve = entry.get("curve") if isinstance(entry.get("curve"), dict) else None
    resolved, what = (RunFolder.CONFIG, "resolved") if not members else (EnsembleFolder.MEMBERS, "members")
    if curve is not None:
        from galaxy_lib.studies.curve import SETUP_FILE  # only for a curve: it imports the plotting libraries

        resolved, what = SETUP_FILE, "curve"
    compared = ""
    if comparisons:
        links = ", ".join(f'<a href="{e(c)}/{FULL_HTML}">{e(c)}</a>' for c in comparisons)
        compared = f'<br><span class="members">compared in {links}</span>'
    gain = vs_training_mean(entry)
    behind = gain is not None and gain <= 0
    if gain is None:
        versus = td_cell("–", "", num=True)
    else:
        mean = training_mean_rmse(entry)
        flag = f'<br><span class="flag">{FLAG_TEXT}</span>' if behind else ""
        versus = (f'<td class="num" data-sort="{100 * gain:.6g}" title="training mean {number_text(mean)}">'
                  f"{100 * gain:+.1f}%{flag}</td>")
    student = f'<br><span class="members">student: {e(str(entry["student"]))}</span>' if entry.get("student") else ""
    cells = [
        td_cell(f'<a href="{name}/{FULL_HTML}">{name}</a> (<a href="{name}/{NO_CODE_HTML}">no code</a>)' + student
            + _members_html(members, entry.get("ensemble")) + _curve_html(curve) + compared,
            str(entry.get("name", "?"))),
        td_cell(e(str(entry.get("date", "")).replace("T", " ")), str(entry.get("date", ""))),
        answers_td(entry),
        td_cell(data),
        td_cell(f'{e(Path(config_file).name)} (<a href="{name}/{resolved}">{what}</a>)'),
        model_td(entry, name),
        td_cell(e(_device(entry))),
        _numeric_td(metrics.get("test_rmse")),
        versus,
        _numeric_td(metrics.get("test_accuracy"), 3),
        _numeric_td(metrics.get("val_rmse")),
        td_cell(listed or "–"),
        _numeric_td(entry.get("total_seconds"), 0, " s"),
    ]
    return ('<tr class="behind">' if behind else "<tr>") + "".join(cells) + "</tr>"


def _compared_runs(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A comparison's runs (:meth:`galaxy_lib.studies.compare.ComparedRun.record`: name, run_dir,
    test_rmse, baselines ...) as records; plain names are accepted."""
    runs = entry.get("runs") if isinstance(entry.get("runs"), list) else []
    out = []
    for run in runs:
        if isinstance(run, str):
            out.append({"name": run})
        elif isinstance(run, dict) and run.get("name") is not None:
            out.append(run)
    return out


def _comparisons_by_run(comparisons: list[dict[str, Any]]) -> dict[str, list[str]]:
    """For each compared run, by its name and by its run folder, the comparisons it appears in,
    so the run's row can link to them."""
    found: dict[str, list[str]] = {}
    for entry in comparisons:
        for run in _compared_runs(entry):
            keys = {f"name:{run['name']}"} | ({f"dir:{run['run_dir']}"} if run.get("run_dir") else set())
            for key in keys:
                found.setdefault(key, []).append(str(entry.get("name", "?")))
    return found


def _compare_row(entry: dict[str, Any]) -> str:
    """One comparison: a link to its page, its date, and the runs it compares with their test RMSE
    and their gain over their own training-mean predictor (flagged where there is none)."""
    e = html.escape
    name = e(str(entry.get("name", "?")))
    page = e(str(entry.get("html") or FULL_HTML))
    listed = []
    for run in _compared_runs(entry):
        metrics = run.get("metrics") if isinstance(run.get("metrics"), dict) else {}
        rmse = run.get("test_rmse", metrics.get("test_rmse"))
        text = f"{e(str(run['name']))} {number_text(rmse)}"
        gain = vs_training_mean({"metrics": {"test_rmse": rmse}, "baselines": run.get("baselines")})
        if gain is not None:
            text += f" ({100 * gain:+.1f}% vs training mean)"
            text += f' <span class="flag">{FLAG_TEXT}</span>' if gain <= 0 else ""
        listed.append(text)
    warning = ""
    if entry.get("comparable") is False:
        why = entry.get("split_warning")
        warning = ('<br><span class="flag">not directly comparable</span>'
                   + (f' <span class="members">{e(str(why))}</span>' if why else ""))
    return ("<tr>" + td_cell(f'<a href="{name}/{page}">{name}</a>', str(entry.get("name", "?")))
            + td_cell(e(str(entry.get("date", "")).replace("T", " ")), str(entry.get("date", "")))
            + answers_td(entry) + td_cell(("<br>".join(listed) or "–") + warning) + "</tr>")


def _members_html(members: list[Any], ensemble: Any) -> str:
    """Below an ensemble's name: its members with their own test RMSE, and the training minutes in all."""
    if not members:
        return ""
    e = html.escape
    listed = ", ".join(
        f"{e(str(m.get('name', '?')))} {number_text(m.get('test_rmse'))}" for m in members if isinstance(m, dict)
    )
    minutes = ensemble.get("training_minutes") if isinstance(ensemble, dict) else None
    budget = ensemble.get("budget_minutes") if isinstance(ensemble, dict) else None
    trained = ""
    if isinstance(minutes, int | float):
        trained = f"; {minutes:.0f} min of training" + (f" (budget {budget:g})" if isinstance(budget, int | float)
                                                         else "")
    return f'<br><span class="members">ensemble of {len(members)}, members\' own test RMSE: {listed}{trained}</span>'


def _curve_html(curve: dict[str, Any] | None) -> str:
    """Below a learning curve's name: its sizes and seeds, and the extrapolation with its interval."""
    if curve is None:
        return ""
    e = html.escape
    sizes, seeds, fit = curve_headline(curve)
    shown = f"{len(sizes)} sizes ({sizes[0]:,}-{sizes[-1]:,} galaxies)" if sizes else "no sizes yet"
    text = f"learning curve: {shown}" + (f" x {seeds} seed{'s' if seeds != 1 else ''}" if seeds is not None else "")
    if isinstance(curve.get("n_train"), int):
        text += f"; figures at {curve['n_train']:,}"
    if fit is not None:
        text += (f"; extrapolated to {int(fit['target']):,}: {number_text(fit['prediction'])} "
                 f"({number_text(fit['low'])}-{number_text(fit['high'])})")
    check = curve.get("check") if isinstance(curve.get("check"), dict) else {}
    if isinstance(check.get("inside"), int) and isinstance(check.get("checked"), int):
        text += f"; synthetic check: {check['inside']} of {check['checked']} larger sizes inside the interval"
    return f'<br><span class="members">{e(text)}</span>'


def _device(entry: dict[str, Any]) -> str:
    """A short device description from the run's environment record (GPU names, else the CPU)."""
    return f"{device_text(entry.get('environment'))}; kernel {entry.get('kernel', '?')}"


def device_text(env: Any) -> str:
    """A run's device in a few words from its ``environment.json`` record: GPU names, else the CPU
    and its cores (the class index shows it per student run)."""
    env = env if isinstance(env, dict) else {}
    tf_view = env.get("tensorflow") if isinstance(env.get("tensorflow"), dict) else {}
    gpus = tf_view.get("gpus") or env.get("gpus")
    if gpus:
        text = ", ".join(map(str, gpus)) if isinstance(gpus, list) else str(gpus)
    else:
        cpu = env.get("cpu_model") or env.get("processor") or env.get("machine") or "CPU"
        cores = env.get("usable_cpus") or env.get("cpu_count")
        text = f"{cpu}, {cores} cores" if cores else str(cpu)
    return text
