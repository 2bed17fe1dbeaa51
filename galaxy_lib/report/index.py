"""``reports/index.html``: one table of every report, newest first.

Each report folder holds a ``report.json`` written by :func:`galaxy_lib.report.build.build_report`
(date, data, parameters file, wall time, headline metrics from the run's ``metrics.json``);
failed runs leave ``NAME.failed/failure.json``. The index is rebuilt from those files alone, so
deleting a report folder and rebuilding any report drops it from the list.

An ensemble is one row, like a run: its figures are the ensemble's, and the Run cell lists its
members with each one's own test RMSE and the training minutes of all of them. A learning curve
is one row too: its figures are those of its largest training-set size (means over seeds), and the
Run cell adds its sizes and seeds and the extrapolation to Kaggle's training set with its interval.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from galaxy_lib.config import atomic_write_text
from galaxy_lib.model.ensemble import EnsembleFolder
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.report.html import FULL_HTML, NO_CODE_HTML
from galaxy_lib.report.summary import FAILURE_FILE, SUMMARY_FILE, curve_headline, read_json_object

INDEX_FILE = "index.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.failed { color: #a00; }
.members { font-size: 0.9em; color: #444; }
"""


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


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and not isinstance(value, bool) else "–"


_NUM = "\0num\0"  # marks a right-aligned number cell


def _cell(content: str) -> str:
    if content.startswith(_NUM):
        return f'<td class="num">{content[len(_NUM):]}</td>'
    return f"<td>{content}</td>"


def render_index(entries: list[dict[str, Any]], failures: list[dict[str, Any]]) -> str:
    """The index page as an HTML string (pure function of the report summaries)."""
    e = html.escape
    head = ("Run", "Date (UTC)", "Data", "Parameters", "Device", "Test RMSE", "Test accuracy", "Val RMSE",
            "Baselines (test RMSE)", "Wall time")
    rows = []
    for entry in entries:
        name = e(str(entry.get("name", "?")))
        metrics = entry.get("metrics", {})
        baselines = "<br>".join(
            f"{e(str(k))}: {_number(v)}" for k, v in sorted(entry.get("baselines", {}).items(), key=lambda kv: str(kv))
        )
        config_file = str(entry.get("config_file") or "(defaults)")
        data = e(str(entry.get("data", ""))) + (" <em>(synthetic)</em>" if entry.get("synthetic") else "")
        members = entry.get("members") if isinstance(entry.get("members"), list) else []
        curve = entry.get("curve") if isinstance(entry.get("curve"), dict) else None
        resolved, what = (RunFolder.CONFIG, "resolved") if not members else (EnsembleFolder.MEMBERS, "members")
        if curve is not None:
            from galaxy_lib.evaluation.curve import SETUP_FILE  # only for a curve: it imports the plotting libraries

            resolved, what = SETUP_FILE, "curve"
        cells = [
            f'<a href="{name}/{FULL_HTML}">{name}</a> (<a href="{name}/{NO_CODE_HTML}">no code</a>)'
            + _members_html(members, entry.get("ensemble")) + _curve_html(curve),
            e(str(entry.get("date", "")).replace("T", " ")),
            data,
            f'{e(Path(config_file).name)} (<a href="{name}/{resolved}">{what}</a>)',
            e(_device(entry)),
            _NUM + _number(metrics.get("test_rmse")),
            _NUM + _number(metrics.get("test_accuracy"), 3),
            _NUM + _number(metrics.get("val_rmse")),
            baselines or "–",
            _NUM + _number(entry.get("total_seconds"), 0) + " s",
        ]
        rows.append("<tr>" + "".join(_cell(c) for c in cells) + "</tr>")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Galaxy Zoo reports</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Galaxy Zoo reports</h1>",
        "<p>Every figure is measured on held-out galaxies the model never trained on; the baselines "
        "use the same split and metric. Kaggle anchors (test RMSE): winner 0.07492, central-pixel "
        "benchmark 0.16194, all-zeros 0.27160.</p>",
        "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>",
        "<tbody>" + "\n".join(rows) + "</tbody></table>" if rows else "<p>No reports yet.</p>",
    ]
    if failures:
        parts.append('<h2 class="failed">Failed runs</h2><ul>')
        for failure in failures:
            folder = e(failure["folder"])
            notebook = failure.get("notebook")
            link = f'<a href="{folder}/{e(notebook)}">{folder}/{e(notebook)}</a>' if notebook else folder
            parts.append(f'<li class="failed">{e(str(failure.get("date", "")))}: {link}: '
                         f'{e(str(failure.get("error", "")))}</li>')
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _members_html(members: list[Any], ensemble: Any) -> str:
    """Below an ensemble's name: its members with their own test RMSE, and the training minutes in all."""
    if not members:
        return ""
    e = html.escape
    listed = ", ".join(
        f"{e(str(m.get('name', '?')))} {_number(m.get('test_rmse'))}" for m in members if isinstance(m, dict)
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
        text += (f"; extrapolated to {int(fit['target']):,}: {_number(fit['prediction'])} "
                 f"({_number(fit['low'])}-{_number(fit['high'])})")
    check = curve.get("check") if isinstance(curve.get("check"), dict) else {}
    if isinstance(check.get("inside"), int) and isinstance(check.get("checked"), int):
        text += f"; synthetic check: {check['inside']} of {check['checked']} larger sizes inside the interval"
    return f'<br><span class="members">{e(text)}</span>'


def _device(entry: dict[str, Any]) -> str:
    """A short device description from the run's environment record (GPU names, else the CPU)."""
    env = entry.get("environment")
    env = env if isinstance(env, dict) else {}
    tf_view = env.get("tensorflow") if isinstance(env.get("tensorflow"), dict) else {}
    gpus = tf_view.get("gpus") or env.get("gpus")
    if gpus:
        text = ", ".join(map(str, gpus)) if isinstance(gpus, list) else str(gpus)
    else:
        cpu = env.get("cpu_model") or env.get("processor") or env.get("machine") or "CPU"
        cores = env.get("usable_cpus") or env.get("cpu_count")
        text = f"{cpu}, {cores} cores" if cores else str(cpu)
    return f"{text}; kernel {entry.get('kernel', '?')}"
