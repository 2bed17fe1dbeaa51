"""The class index: ``index.html``, ``class.csv``, ``class_rmse.png`` and the students' reports.

:func:`write_class_outputs` renders the :class:`~galaxy_lib.classroom.rows.ClassRow` records that
:mod:`.score` fills in, so that the page, the grade book and the figure can never disagree:

- ``index.html``: one self-contained page (inline CSS and JavaScript, the figure as a ``data:`` URI,
  nothing loaded from the network) that an instructor can open from an archive on a train. One
  sortable table of every student run, the reports index's style and sorting code
  (:mod:`galaxy_lib.report.index`) reused, so both pages read and behave alike;
- ``class.csv``: the same rows, one column per figure, for a grade book;
- ``class_rmse.png``: every scored run's RMSE on the key with its interval, the training mean and
  the reference runs (the paper's configuration trained by the instructor) as lines.

Everything a student wrote (names, run names, reasons quoting their files) is untrusted: it is
HTML-escaped on the page, escaped for mathtext in the figure, and guarded against spreadsheet
formulas in the CSV. A student's own HTML report is never opened by the class page itself:
:func:`copy_report` copies it and writes beside it a page that shows it in a sandboxed frame with
scripts off. Every file is written atomically: a failure leaves the previous page as it was.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import math
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from galaxy_lib.classroom.rows import FLAG_KINDS, ClassRow, Flag
from galaxy_lib.classroom.submissions import safe_name  # the one rule for a student's folder in --out
from galaxy_lib.errors import DataError
from galaxy_lib.paths import atomic_path, atomic_write_text
from galaxy_lib.report.index import SORT_SCRIPT, STYLE, is_number, number_text, td_cell, thead_row

INDEX_FILE = "index.html"
CSV_FILE = "class.csv"
FIGURE_FILE = "class_rmse.png"
STUDENTS_DIR = "students"
REPORT_COPY = "report.html"
VIEW_FILE = "view.html"

_CLASS_STYLE = """
h1 { margin-bottom: 0.3em; }
table.key { margin-bottom: 1em; font-size: 0.92em; }
table.key th { cursor: default; width: 12em; }
tr.problem td { background: #f7f7f7; color: #555; }
td.problem { color: #a00; max-width: 22em; }
td.gapped { background: #fff0c2; }
.flag.flag-no-gain, .flag.flag-gap, .flag.flag-notebooks, .flag.flag-damaged { background: #b35900; }
.flag.flag-unscorable { background: #555; }
.reason { display: block; font-size: 0.85em; color: #444; max-width: 28em; }
.interval { color: #555; white-space: nowrap; }
.source { display: block; font-size: 0.85em; color: #666; }
dl.legend dt { margin-top: 0.4em; }
dl.legend dd { margin-left: 1.5em; }
figure img { max-width: 100%; }
"""
"""What the class page adds to the reports index's :data:`~galaxy_lib.report.index.STYLE`."""

_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()}'; "
        "base-uri 'none'; form-action 'none'")
"""The class page's Content-Security-Policy: nothing loads but its inline style, ``data:`` images and
the one sorting script (by its hash), so that even a name that slipped past escaping could neither
run a script nor fetch or send anything."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is a formula to a spreadsheet (a student named
``=HYPERLINK(...)``): the CSV prefixes it with ``'`` so that the grade book shows it as text."""

_COLUMNS = (
    ("Student", False), ("Run", False), ("RMSE on the key [95%]", True), ("Flags", True),
    ("Gain over the training mean", True),
    ("Own test RMSE", True), ("Gap (key − own)", True), ("Changes vs the assignment", True),
    ("Architecture", True), ("Epochs", True), ("Wall time", True), ("Device", False), ("TTA", False),
    ("Answers", True), ("Notebooks", False), ("Report", False),
)
_RMSE_COLUMN = 2


# --- words -----------------------------------------------------------------------------------------


def threshold_words(copy_threshold: float, gap_threshold: float) -> dict[str, str]:
    """The copy and gap thresholds in words (the page's header and legend say the same)."""
    return {
        "copy": (f"two students' runs whose predictions on the key differ by less than {copy_threshold:g} (root mean "
                 "square over every galaxy and answer) are flagged as a copy: honest runs of the same "
                 "configuration by different students start from different seeds and never agree that closely"),
        "gap": (f"a run whose own test RMSE differs from its RMSE on the key by more than {gap_threshold:g} is "
                "flagged: both are held-out galaxies of the same kind, so its own test figure should describe "
                "the key's"),
    }


def flag_help(copy_threshold: float, gap_threshold: float) -> dict[str, str]:
    """Each flag kind's meaning for the legend: why the instructor should look at a flagged row."""
    words = threshold_words(copy_threshold, gap_threshold)
    return {
        "unscorable": "the run could not be scored on the key; the reason says why (nothing handed in, a "
                      "damaged or half-copied file, a model needing custom code or of the wrong shape...)",
        "no-gain": "its RMSE on the key is not lower than predicting the training mean for every galaxy",
        "notebooks": "a notebook failed or no report was handed in: the figures may not be the final ones",
        "copy": words["copy"],
        "split-overlap": "its own training and test galaxies overlap, so its own test RMSE is not held out",
        "key-leak": "it trained on galaxies of the key, so its RMSE on the key is not held out",
        "gap": words["gap"],
        "damaged": "a file of the hand-in (history.csv, split.csv, report.json...) is missing or damaged: "
                   "what it would tell is unknown, the reason names it",
    }


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def title_text(rows: Sequence[ClassRow], key: dict[str, Any]) -> str:
    """``Class: N students, M runs scored on K instructor's galaxies``."""
    students = len({row.student for row in rows})
    scored = sum(row.scored for row in rows)
    galaxies = key.get("galaxies")
    if not isinstance(galaxies, int):
        galaxies = max((row.galaxies for row in rows if isinstance(row.galaxies, int)), default=0)
    on = _plural(galaxies, "instructor's galaxy", "instructor's galaxies")
    return f"Class: {_plural(students, 'student', 'students')}, {_plural(scored, 'run', 'runs')} scored on {on}"


def value_text(value: Any, limit: int = 40) -> str:
    """A configuration value, short: numbers and words as they are, anything else as compact JSON-like text."""
    if value is None:
        text = "(unset)"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(value_text(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {value_text(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def changes_text(changes: dict[str, Any], separator: str = "; ") -> str:
    """``key=assignment->run; ...`` (the CSV's form)."""
    parts = []
    for name, pair in changes.items():
        before, after = _pair(pair)
        parts.append(f"{name}={value_text(before)}->{value_text(after)}")
    return separator.join(parts)


def _pair(pair: Any) -> tuple[Any, Any]:
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return pair[0], pair[1]
    return None, pair


def flags_text(flags: Sequence[Flag]) -> str:
    """``kind: reason; kind: reason`` (the CSV's form)."""
    return "; ".join(f"{flag.kind}: {flag.reason}" for flag in flags)


def answers_text(answers: dict[str, Any] | None) -> str:
    """``3 of 9 answered, 5 predicted``, or a dash for a report without exercises."""
    if not isinstance(answers, dict) or not is_number(answers.get("exercises")) or not answers["exercises"]:
        return "–"
    text = f"{int(answers.get('answered') or 0)} of {int(answers['exercises'])} answered"
    if is_number(answers.get("predicted")):
        text += f", {int(answers['predicted'])} predicted"
    return text


def gap(row: ClassRow) -> float | None:
    """The run's RMSE on the key minus its own test RMSE (positive: worse on the key), or None."""
    if not row.scored or not is_number(row.own_test_rmse):
        return None
    return float(row.rmse) - float(row.own_test_rmse)


def training_mean_rmse(rows: Sequence[ClassRow]) -> float | None:
    """The training-mean predictor's RMSE on the key (the same for every row scored on it)."""
    values = [row.mean_rmse for row in rows if is_number(row.mean_rmse)]
    return float(values[0]) if values else None


def sort_rows(rows: Sequence[ClassRow]) -> list[ClassRow]:
    """The page's default order: RMSE on the key, ascending; rows that could not be scored last."""
    return sorted(rows, key=lambda r: (not r.scored, r.rmse if r.scored else math.inf, r.student, r.run))


# --- names and the students' reports ---------------------------------------------------------------


def copy_report(source_html: Path, out: Path, student: str, run: str) -> str:
    """Copy a student's HTML report to ``out/students/<student>/<run>/report.html`` and write beside
    it ``view.html``, which shows the copy in an ``<iframe sandbox>`` without ``allow-scripts``: the
    report is the student's file, so whatever script it holds never runs in the instructor's
    browser. Returns the link to ``view.html`` relative to ``out`` (a row's ``report``).

    A source that is not a regular file (a link, a folder, nothing) is a one-line DataError."""
    source = Path(source_html)
    if source.is_symlink() or not source.is_file():
        raise DataError(f"{source}: not a regular file; the student's report was not copied")
    folder = Path(out) / STUDENTS_DIR / safe_name(student) / safe_name(run or "run")
    with atomic_path(folder / REPORT_COPY, suffix=".html") as tmp:
        shutil.copyfile(source, tmp)
    atomic_write_text(folder / VIEW_FILE, view_page(student, run))
    return (folder / VIEW_FILE).relative_to(out).as_posix()


def view_page(student: str, run: str) -> str:
    """The page that shows a copied report with scripts off, filling the window."""
    e = html.escape
    who = f"{e(student)} / {e(run)}" if run else e(student)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{who}: the student's report</title>",
        "<style>html, body { height: 100%; margin: 0; } body { display: flex; flex-direction: column; "
        "font-family: system-ui, sans-serif; } p { margin: 0; padding: 0.4em 1em; background: #f3f3f3; "
        "border-bottom: 1px solid #ccc; font-size: 0.9em; } iframe { flex: 1; border: 0; width: 100%; }</style>",
        "</head><body>",
        f'<p><a href="../../../{INDEX_FILE}">class index</a> · {who}: the student\'s own report, '
        "shown with scripts off</p>",
        f'<iframe sandbox src="{REPORT_COPY}" title="{who}: the student\'s report"></iframe>',
        "</body></html>",
    ]) + "\n"


def _report_link(link: str) -> str | None:
    """``link`` when it is a plain relative path inside ``out`` (as :func:`copy_report` returns), else
    None: a row read back from a cache must not make the page link to ``javascript:`` or elsewhere."""
    path = PurePosixPath(link)
    if not link or path.is_absolute() or ":" in link or "\\" in link or ".." in path.parts:
        return None
    return link


# --- the figure ------------------------------------------------------------------------------------


def _label(text: str, limit: int = 40) -> str:
    """A student string as a matplotlib label: shortened, and its ``$`` escaped so that mathtext never
    parses it (a name like ``$\\foo$`` would otherwise fail to draw)."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("\\", "\\\\").replace("$", r"\$")


def class_figure(rows: Sequence[ClassRow], references: Sequence[ClassRow] = ()) -> Any:
    """Every scored run's RMSE on the key with its interval, best at the top (one horizontal error bar
    per run, labelled ``student / run``; flagged runs in red), the training mean's RMSE on the key as
    a vertical line and each reference run as a labelled dashed line. With no scored run, the figure
    says so."""
    from galaxy_lib.evaluation.figures import SOURCE_COLOURS, new_figure, subplots  # plotting libraries: here only

    scored = [row for row in sort_rows(rows) if row.scored]
    fig = new_figure(8.0, 0.26 * max(len(scored), 1) + 1.9)
    (ax,) = subplots(fig, 1, 1).ravel()
    mean = training_mean_rmse([*rows, *references])
    if not scored:
        ax.text(0.5, 0.5, "no run could be scored", ha="center", va="center", transform=ax.transAxes, fontsize=12)
        ax.set_xticks([])
        ax.set_yticks([])
        return fig
    y = [float(i) for i in range(len(scored))][::-1]
    xs = [float(row.rmse) for row in scored]
    low = [x - row.rmse_low if is_number(row.rmse_low) else 0.0 for x, row in zip(xs, scored, strict=True)]
    high = [row.rmse_high - x if is_number(row.rmse_high) else 0.0 for x, row in zip(xs, scored, strict=True)]
    colours = [SOURCE_COLOURS["model"] if row.flags else "#2c3e50" for row in scored]
    for position, x, lo, hi, colour in zip(y, xs, low, high, colours, strict=True):
        ax.errorbar([x], [position], xerr=[[max(lo, 0.0)], [max(hi, 0.0)]], fmt="o", ms=4, capsize=2.5,
                    color=colour, lw=1.2)
    ax.set_yticks(y, [_label(f"{row.student} / {row.run}") for row in scored], fontsize=8)
    ax.set_ylim(-0.7, len(scored) - 0.3)
    handles = [ax.plot([], [], "o", color="#2c3e50", ms=4, label="run (95% interval)")[0]]
    if any(row.flags for row in scored):
        handles.append(ax.plot([], [], "o", color=SOURCE_COLOURS["model"], ms=4, label="flagged run")[0])
    if mean is not None:
        handles.append(ax.axvline(mean, color=SOURCE_COLOURS["baseline"], lw=1.5,
                                  label=f"training mean {mean:.4f}"))
    for number, reference in enumerate(r for r in references if r.scored):
        colour = f"C{(number + 2) % 10}"
        name = f"{reference.student} / {reference.run}" if reference.run else reference.student
        handles.append(ax.axvline(float(reference.rmse), color=colour, lw=1.3, ls="--",
                                  label=f"{_label(name)} {reference.rmse:.4f}"))
        ax.annotate(_label(name), (float(reference.rmse), 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -3), textcoords="offset points", rotation=90, va="top", fontsize=7, color=colour)
    ax.set_xlabel("RMSE on the instructor's galaxies over 37 answers (lower is better)")
    ax.grid(False, axis="y")
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=8)
    return fig


def _figure_png(rows: Sequence[ClassRow], references: Sequence[ClassRow], path: Path) -> bytes:
    from galaxy_lib.evaluation.figures import save_figure

    save_figure(class_figure(rows, references), path)
    return path.read_bytes()


# --- the page --------------------------------------------------------------------------------------


def _interval(low: Any, high: Any, sign: str = "") -> str:
    if not (is_number(low) and is_number(high)):
        return ""
    return f' <span class="interval">[{low:{sign}.4f}, {high:{sign}.4f}]</span>'


def _flags_html(flags: Sequence[Flag]) -> str:
    e = html.escape
    return "".join(f'<span class="flag flag-{e(flag.kind)}" title="{e(flag.kind)}">{e(FLAG_KINDS[flag.kind])}</span>'
                   f'<span class="reason">{e(flag.reason)}</span>' for flag in flags)


def _row_html(row: ClassRow, assignment: str) -> str:
    """One student run as one table row (one line of HTML); every student string escaped."""
    e = html.escape
    kinds = {flag.kind for flag in row.flags}
    trained_as = (f'<span class="source">trained as {e(row.trained_as)}</span>'
                  if row.trained_as and row.trained_as.casefold() != row.student.casefold() else "")
    cells = [td_cell((e(row.student) or "–") + trained_as, row.student),
             td_cell((e(row.run) or "–") + (f'<span class="source">{e(row.source)}</span>' if row.source else ""),
                 row.run)]
    if row.scored:
        cells.append(td_cell(number_text(row.rmse) + _interval(row.rmse_low, row.rmse_high), row.rmse, num=True))
        gain = row.gain if is_number(row.gain) else None
        mean = f'<span class="source">training mean {number_text(row.mean_rmse)}</span>' \
            if is_number(row.mean_rmse) else ""
        shown = (f"{gain:+.4f}" + _interval(row.gain_low, row.gain_high, "+")) if gain is not None else "–"
        cells.append(td_cell(shown + mean, gain if gain is not None else "", num=True))
    else:
        reason = e(row.problem or "not scored")
        cells.append(f'<td class="problem" data-sort="">could not be scored: {reason}</td>')
        cells.append(td_cell("–", "", num=True))
    # Flags beside the figure they qualify: what an instructor reads first, visible without scrolling.
    cells.insert(3, td_cell(_flags_html(row.flags) or "–", len(row.flags), num=False))
    own = row.own_test_rmse if is_number(row.own_test_rmse) else None
    galaxies = f'<span class="source">{row.own_test_galaxies:,} galaxies</span>' \
        if isinstance(row.own_test_galaxies, int) else ""
    cells.append(td_cell(number_text(own) + (galaxies if own is not None else ""), own if own is not None else "",
                     num=True))
    difference = gap(row)
    shown = f"{difference:+.4f}" if difference is not None else "–"
    gapped = ' class="num gapped"' if "gap" in kinds else ' class="num"'
    sort = f"{difference:.6g}" if difference is not None else ""
    cells.append(f'<td{gapped} data-sort="{sort}">{shown}</td>')
    if row.changes:
        listed = "<br>".join(f"{e(str(name))}: {e(value_text(_pair(pair)[0]))} &rarr; {e(value_text(_pair(pair)[1]))}"
                             for name, pair in row.changes.items())
    else:
        listed = "none" if assignment and row.scored else "–"  # an unscorable run's changes may be unknown
    cells.append(td_cell(listed, len(row.changes), num=False))
    architecture = []
    if isinstance(row.parameters, int):
        architecture.append(f"{row.parameters:,} parameters")
    if row.model_source or row.model_name:
        architecture.append(e(": ".join(p for p in (row.model_source, row.model_name) if p)))
    parameters = str(row.parameters) if isinstance(row.parameters, int) else ""
    cells.append(td_cell("<br>".join(architecture) or "–", parameters))
    cells.append(td_cell(str(row.epochs) if isinstance(row.epochs, int) else "–",
                     row.epochs if isinstance(row.epochs, int) else "", num=True))
    minutes = row.wall_seconds / 60 if is_number(row.wall_seconds) else None
    cells.append(td_cell(f"{minutes:.1f} min" if minutes is not None else "–", minutes if minutes is not None else "",
                     num=True))
    cells.append(td_cell(e(row.device) or "–"))
    cells.append(td_cell(e(row.tta) or "–"))
    share = ""
    if isinstance(row.answers, dict) and is_number(row.answers.get("exercises")) and row.answers["exercises"]:
        share = float(row.answers.get("answered") or 0) / float(row.answers["exercises"])
    cells.append(td_cell(e(answers_text(row.answers)), share, num=True))
    status, _, detail = (row.notebooks or "").partition(":")
    detail = f'<span class="reason">{e(detail.strip())}</span>' if detail.strip() else ""
    notebooks = e(status.strip() or "–") + detail
    if status.strip() and status.strip() != "ok":
        notebooks = f'<span class="failed">{notebooks}</span>'
    cells.append(td_cell(notebooks, status.strip()))
    link = _report_link(row.report)
    cells.append(td_cell(f'<a href="{e(link)}">report</a>' if link else "–", "report" if link else ""))
    classes = " ".join(c for c in ("problem" if not row.scored else "", "behind" if row.flags else "") if c)
    return (f'<tr class="{classes}">' if classes else "<tr>") + "".join(cells) + "</tr>"


def _key_rows(rows: Sequence[ClassRow], key: dict[str, Any], assignment: str, references: Sequence[ClassRow],
              copy_threshold: float, gap_threshold: float, date: str) -> list[tuple[str, str]]:
    """The header's lines (label, HTML): the key, what the students got, the assignment, thresholds."""
    e = html.escape
    kind = str(key.get("kind", "?"))
    galaxies = key.get("galaxies")
    what = {"kaggle": "Kaggle's images", "synthetic": "the synthetic sky"}.get(kind, kind)
    text = f"{galaxies:,} galaxies" if isinstance(galaxies, int) else "? galaxies"
    text = f"{text} held back from the students ({e(what)})"
    if key.get("created"):
        text += f", set aside {e(str(key['created']).replace('T', ' '))}"
    if key.get("fingerprint"):
        text += f"; fingerprint {e(str(key['fingerprint'])[:12])}"
    lines = [("Key", text)]
    got = key.get("students_data")
    if got:
        lines.append(("The students got", e(str(got))))
    lines.append(("Assignment", e(assignment) if assignment else "none given: changes are not listed against one"))
    mean = training_mean_rmse([*rows, *references])
    if mean is not None:
        lines.append(("Training mean", f"RMSE {mean:.4f} on the key: predicting the students' training galaxies' "
                                       "mean answers for every galaxy, the bar any run must clear"))
    shown = [r for r in references if r.scored]
    if shown:
        lines.append(("References", "; ".join(
            f"{e(r.student)}{' / ' + e(r.run) if r.run else ''}: "
            f"{number_text(r.rmse)}{_interval(r.rmse_low, r.rmse_high)}"
            for r in shown)))
    words = threshold_words(copy_threshold, gap_threshold)
    lines.append(("Copy threshold", e(words["copy"])))
    lines.append(("Gap threshold", e(words["gap"])))
    lines.append(("Written", e(date)))
    return lines


def render_class_page(rows: Sequence[ClassRow], *, key: dict[str, Any], assignment: str = "",
                      references: Sequence[ClassRow] = (), copy_threshold: float, gap_threshold: float,
                      figure_png: bytes | None = None, date: str | None = None) -> str:
    """The class index as an HTML string (a pure function of its arguments; ``date`` defaults to now)."""
    e = html.escape
    date = date or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = title_text(rows, key)
    header = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>"
                     for label, value in _key_rows(rows, key, assignment, references, copy_threshold,
                                                   gap_threshold, date))
    thead = thead_row(_COLUMNS).replace(f">{e(_COLUMNS[_RMSE_COLUMN][0])}</th>",
                                     f' aria-sort="ascending">{e(_COLUMNS[_RMSE_COLUMN][0])}</th>', 1)
    help_text = flag_help(copy_threshold, gap_threshold)
    legend = "".join(f'<dt><span class="flag flag-{kind}">{e(label)}</span> <code>{kind}</code></dt>'
                     f"<dd>{e(help_text.get(kind, 'the reason on the row says why'))}</dd>"
                     for kind, label in FLAG_KINDS.items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>{e(title)}</title>",
        f"<style>{STYLE}{_CLASS_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<table class="key"><tbody>{header}</tbody></table>',
        "<p>Every run is scored on the same held-back galaxies, which no student had, through the run's own "
        "preprocessing and test-time averaging; the interval is a bootstrap over those galaxies. "
        "<strong>Gain</strong> is the training mean's RMSE minus the run's (positive: the run beats it); "
        "<strong>Gap</strong> is the RMSE on the key minus the student's own test RMSE. A row that could not "
        "be scored says why in place of its figures. Click a column header to sort, again to reverse.</p>",
    ]
    if rows:
        parts.append('<table class="sortable" id="class">' + thead + "<tbody>"
                     + "\n".join(_row_html(row, assignment) for row in sort_rows(rows)) + "</tbody></table>")
    else:
        parts.append("<p>No submission found.</p>")
    parts.append(f'<h2>Flags</h2><dl class="legend">{legend}</dl>')
    if figure_png is not None:
        encoded = base64.b64encode(figure_png).decode("ascii")
        parts.append(f'<h2>RMSE on the key</h2><figure><img src="data:image/png;base64,{encoded}" '
                     f'alt="every scored run\'s RMSE on the key with its interval"><figcaption>Also in '
                     f"{FIGURE_FILE}; the grade book's rows are in <a href=\"{CSV_FILE}\">{CSV_FILE}</a>."
                     "</figcaption></figure>")
    parts.append(f"<script>{SORT_SCRIPT}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --- the grade book --------------------------------------------------------------------------------


def _text_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def class_frame(rows: Sequence[ClassRow]) -> pd.DataFrame:
    """The rows as a table for a grade book, in the page's order: one column per figure, intervals and
    answers as separate columns, changes and flags as text; text cells guarded against formulas."""
    records = []
    for row in sort_rows(rows):
        answers = row.answers if isinstance(row.answers, dict) else {}
        records.append({
            "student": row.student, "trained_as": row.trained_as, "run": row.run, "source": row.source,
            "problem": row.problem,
            "rmse": row.rmse, "rmse_low": row.rmse_low, "rmse_high": row.rmse_high, "mean_rmse": row.mean_rmse,
            "gain": row.gain, "gain_low": row.gain_low, "gain_high": row.gain_high, "galaxies": row.galaxies,
            "own_test_rmse": row.own_test_rmse, "own_test_galaxies": row.own_test_galaxies, "gap": gap(row),
            "changes": changes_text(row.changes), "parameters": row.parameters, "model_source": row.model_source,
            "model_name": row.model_name, "epochs": row.epochs,
            "wall_minutes": row.wall_seconds / 60 if is_number(row.wall_seconds) else None,
            "device": row.device, "tta": row.tta, "answers_exercises": answers.get("exercises"),
            "answers_answered": answers.get("answered"), "answers_predicted": answers.get("predicted"),
            "notebooks": row.notebooks, "report": row.report, "flags": flags_text(row.flags),
        })
    integers = {"galaxies", "own_test_galaxies", "parameters", "epochs", "answers_exercises", "answers_answered",
                "answers_predicted"}
    columns = list(records[0]) if records else [
        "student", "trained_as", "run", "source", "problem", "rmse", "rmse_low", "rmse_high", "mean_rmse", "gain",
        "gain_low", "gain_high", "galaxies", "own_test_rmse", "own_test_galaxies", "gap", "changes", "parameters",
        "model_source", "model_name", "epochs", "wall_minutes", "device", "tta", "answers_exercises",
        "answers_answered", "answers_predicted", "notebooks", "report", "flags"]
    values: dict[str, Any] = {}
    for name in columns:
        cells = [record[name] for record in records]
        if name in integers:  # nullable integers: 1234567, not 1234567.0, and empty where unknown
            values[name] = pd.array([v if isinstance(v, int) and not isinstance(v, bool) else None for v in cells],
                                    dtype="Int64")
        else:
            values[name] = [_text_cell(v) if isinstance(v, str) else v for v in cells]
    frame = pd.DataFrame(values, columns=columns)
    return frame


# --- everything --------------------------------------------------------------------------------------


def write_class_outputs(rows: list[ClassRow], out: Path, *, key: dict, assignment: str = "",
                        references: Sequence[ClassRow] = (), copy_threshold: float, gap_threshold: float) -> None:
    """Write ``out/class_rmse.png``, ``out/class.csv`` and, last, ``out/index.html`` (which embeds the
    figure), each atomically: a failure on the way leaves the previous index as it was."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    png = _figure_png(rows, references, out / FIGURE_FILE)
    atomic_write_text(out / CSV_FILE, class_frame(rows).to_csv(index=False))
    page = render_class_page(rows, key=key, assignment=assignment, references=references,
                             copy_threshold=copy_threshold, gap_threshold=gap_threshold, figure_png=png)
    atomic_write_text(out / INDEX_FILE, page)


__all__ = ["CSV_FILE", "FIGURE_FILE", "INDEX_FILE", "STUDENTS_DIR", "changes_text", "class_figure", "class_frame",
           "copy_report", "flag_help", "flags_text", "render_class_page", "safe_name", "sort_rows", "threshold_words",
           "title_text", "write_class_outputs"]
