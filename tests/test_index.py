"""reports/index.html: the gain over the training-mean predictor, the flag on runs that do not beat
it, the comparisons, sortable columns and escaping, from made-up report summaries."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from galaxy_lib.report.index import FLAG_TEXT, SORT_SCRIPT, render_index, vs_training_mean, write_index


def _run(name: str, test_rmse: float | None, mean: float | None, date: str = "2026-01-01T00:00:00") -> dict:
    entry = {"name": name, "date": date, "data": "data", "metrics": {"test_rmse": test_rmse}, "total_seconds": 60}
    if mean is not None:
        entry["baselines"] = {"training mean": mean, "all-zeros": 0.27}
    return entry


def _row(page: str, name: str) -> str:
    return next(line for line in page.splitlines() if f'href="{name}/report.html"' in line)


def test_vs_training_mean_is_the_relative_gain_on_the_same_test_galaxies():
    assert vs_training_mean(_run("a", 0.12, 0.16)) == pytest.approx(0.25)
    assert vs_training_mean(_run("b", 0.1612, 0.1609)) == pytest.approx((0.1609 - 0.1612) / 0.1609)
    assert vs_training_mean(_run("c", None, 0.16)) is None  # no test split: nothing to compare
    assert vs_training_mean(_run("d", 0.12, None)) is None  # an old summary without baselines
    assert vs_training_mean({"name": "e", "metrics": "broken", "baselines": {"training mean": "x"}}) is None


def test_a_run_that_beats_the_mean_shows_its_gain_and_one_that_does_not_is_flagged():
    page = render_index([_run("good", 0.12, 0.16), _run("paper", 0.1612, 0.1609), _run("tie", 0.16, 0.16),
                         _run("old", 0.11, None)], [])
    good, paper, tie, old = (_row(page, n) for n in ("good", "paper", "tie", "old"))
    assert '<td class="num" data-sort="25" title="training mean 0.1600">+25.0%</td>' in good
    assert FLAG_TEXT not in good and not good.startswith('<tr class="behind"')
    assert "-0.2%" in paper and FLAG_TEXT in paper and paper.startswith('<tr class="behind">')
    assert "+0.0%" in tie and FLAG_TEXT in tie  # equal is not beating it
    assert FLAG_TEXT not in old and '<td class="num" data-sort="">–</td>' in old  # no figure, no verdict
    assert page.count('class="flag"') == 3  # the two flagged rows and the explanation above the table


def test_comparisons_are_listed_apart_and_linked_from_their_runs():
    """``report.json`` of ``python -m galaxy_lib compare`` (:func:`galaxy_lib.report.compare.compare_summary`)."""
    compare = {"kind": "compare", "name": "compare-x", "date": "2026-02-01T00:00:00", "comparable": True,
               "runs": [{"name": "good", "run_dir": "runs/good", "test_rmse": 0.12,
                         "baselines": {"training mean": 0.16}},
                        {"name": "bench-paper", "run_dir": "runs/paper", "test_rmse": 0.1612,
                         "baselines": {"training mean": 0.1609}},
                        {"name": "gone", "test_rmse": None}]}
    paper = _run("paper", 0.1612, 0.1609) | {"run_dir": "runs/paper"}
    page = render_index([compare, _run("good", 0.12, 0.16), paper, _run("alone", 0.1, 0.16)], [])
    assert 'href="compare-x/report_no_code.html"' not in page  # not a row of the runs' table
    section = page[page.index('<h2 id="comparisons">'):]
    assert '<a href="compare-x/report.html">compare-x</a>' in section
    assert (f'good 0.1200 (+25.0% vs training mean)<br>bench-paper 0.1612 (-0.2% vs training mean) '
            f'<span class="flag">{FLAG_TEXT}</span><br>gone –') in section
    assert "not directly comparable" not in section
    assert '<a href="#comparisons">1 comparison of runs</a>' in page
    link = 'compared in <a href="compare-x/report.html">compare-x</a>'
    assert link in _row(page, "good")  # by name
    assert link in _row(page, "paper")  # by run folder
    assert "compared in" not in _row(page, "alone")

    other = {"kind": "compare", "name": "c2", "html": "compare.html", "runs": [], "comparable": False,
             "split_warning": "they were tested on different galaxies"}
    page = render_index([other], [])
    assert '<a href="c2/compare.html">c2</a>' in page
    assert "not directly comparable</span> <span class=\"members\">they were tested on different galaxies" in page
    assert "Comparisons" not in render_index([_run("good", 0.12, 0.16)], [])


def test_headers_sort_and_numeric_cells_carry_their_number():
    page = render_index([_run("good", 0.12, 0.16) | {"metrics": {"test_rmse": 0.12, "test_accuracy": 0.7}}], [])
    assert '<table class="sortable">' in page and f"<script>{SORT_SCRIPT}</script>" in page
    for numeric in ("Test RMSE", "vs training mean", "Test accuracy", "Val RMSE", "Wall time"):
        assert f'<th data-type="number">{numeric}</th>' in page
    assert "<th>Run</th>" in page and "<th>Date (UTC)</th>" in page
    row = _row(page, "good")
    assert 'data-sort="0.12">0.1200</td>' in row and 'data-sort="0.7">0.700</td>' in row
    assert 'data-sort="60">60 s</td>' in row and 'data-sort="2026-01-01T00:00:00"' in row


def test_the_instructor_sees_how_many_exercises_were_answered_and_which_model_trained():
    """``report.json``'s ``answers`` (galaxy_lib.report.exercises.answers_record) and ``model``
    (galaxy_lib.report.summary.model_record, from the run's architecture.json)."""
    notebook_model = {"source": "notebook", "function": "build_model", "parameters": 1700000,
                      "trainable_parameters": 1699000}
    entries = [
        _run("student", 0.12, 0.16) | {"answers": {"exercises": 9, "answered": 2, "predicted": 3},
                                       "model": notebook_model},
        _run("defaults", 0.12, 0.16) | {"answers": {"exercises": 9, "answered": 0, "predicted": 0},
                                        "model": {"source": "configuration"}},
        _run("old", 0.12, 0.16),  # rendered before either was recorded
        _run("none", 0.12, 0.16) | {"answers": {"exercises": 0, "answered": 0, "predicted": 0}},
    ]
    compare = {"kind": "compare", "name": "cmp", "runs": [], "answers": {"exercises": 3, "answered": 3, "predicted": 1}}
    page = render_index([*entries, compare], [])
    assert "<th data-type=\"number\">Answers</th>" in page and "<th>Model</th>" in page
    student, defaults = _row(page, "student"), _row(page, "defaults")
    assert '<td class="num" data-sort="0.222222" title="3 with a prediction">2 / 9</td>' in student
    assert ('<td><a href="student/architecture.json">notebook: build_model, 1,700,000 parameters</a></td>'
            in student)
    assert '<td class="num" data-sort="0" title="0 with a prediction">0 / 9</td>' in defaults
    assert "<td>configuration</td>" in defaults and "architecture.json" not in defaults
    assert '<td class="num" data-sort="1" title="1 with a prediction">3 / 3</td>' in page[page.index("Comparisons"):]

    table = _Table()
    table.feed(page)
    assert all(len(row) == len(table.headers) for row in table.rows)  # one cell per column in every row
    answers, model = table.labels.index("Answers"), table.labels.index("Model")
    assert [(row[answers]["text"], row[model]["text"]) for row in table.rows] == [
        ("2 / 9", "notebook: build_model, 1,700,000 parameters"), ("0 / 9", "configuration"),
        ("–", "–"),  # rendered before either was recorded
        ("–", "–"),  # no exercises in its notebooks: nothing to count
    ]
    assert table.rows[-1][answers]["sort"] == ""  # sorted last, as a missing figure


def test_everything_from_a_summary_is_escaped():
    evil = '<img src=x onerror="alert(1)">'
    entry = _run(evil, 0.12, 0.16) | {"data": evil, "kernel": evil, "baselines": {evil: 0.2, "training mean": 0.16},
                                      "model": {"source": evil, "function": evil, "parameters": 3},
                                      "answers": {"exercises": evil, "answered": evil}}
    compare = {"kind": "compare", "name": evil, "html": evil, "runs": [{"name": evil, "test_rmse": 0.1}]}
    page = render_index([entry, compare], [{"folder": evil, "error": evil, "notebook": evil}])
    assert "<img" not in page and 'onerror="' not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_write_index_reads_runs_and_comparisons_from_their_folders(tmp_path):
    for name, record in (("good", _run("good", 0.12, 0.16)),
                         ("cmp", {"kind": "compare", "name": "cmp", "runs": [{"name": "good", "test_rmse": 0.12}]})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(record))
    page = write_index(tmp_path).read_text()
    assert "+25.0%" in _row(page, "good") and '<a href="cmp/report.html">cmp</a>' in page


class _Table(HTMLParser):
    """The first sortable table: its header types and its rows' cells (data-sort, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str | None] = []
        self.labels: list[str] = []
        self.rows: list[list[dict]] = []
        self._cell: dict | None = None
        self._tables = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._tables += 1
        elif self._tables != 1:
            return
        elif tag == "th":
            self.headers.append(attrs.get("data-type"))
            self.labels.append("")
        elif tag == "tr" and self.headers and self._cell is None:
            self.rows.append([])
        elif tag == "td":
            self._cell = {"sort": attrs.get("data-sort"), "text": ""}

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        elif self._tables == 1 and self.labels and not self.rows:
            self.labels[-1] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(self._cell)
            self._cell = None


_DOM = """
const spec = JSON.parse(process.argv[1]);
function node(attrs, text) {
  return {attrs: Object.assign({}, attrs), textContent: text || "", listeners: {},
          hasAttribute(n) { return n in this.attrs; },
          getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; },
          setAttribute(n, v) { this.attrs[n] = String(v); }, removeAttribute(n) { delete this.attrs[n]; },
          addEventListener(t, f) { this.listeners[t] = f; }};
}
const headers = spec.headers.map(t => node(t ? {"data-type": t} : {}));
const rows = spec.rows.map((cells, i) => Object.assign(node({}), {id: i, cells: cells.map(
  c => node(c.sort === null ? {} : {"data-sort": c.sort}, c.text))}));
const body = {rows: rows.slice(),
              appendChild(row) { this.rows.splice(this.rows.indexOf(row), 1); this.rows.push(row); }};
const table = {tHead: {rows: [{cells: headers}]}, tBodies: [body]};
global.document = {querySelectorAll: () => [table]};
eval(spec.script);
const orders = spec.clicks.map(column => { headers[column].listeners.click(); return body.rows.map(r => r.id); });
console.log(JSON.stringify(orders));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the sort script cannot be run")
def test_the_sort_script_orders_rows_by_number_and_keeps_missing_figures_last():
    entries = [_run("d", None, 0.16, "2026-01-04T00:00:00"), _run("a", 0.12, 0.16, "2026-01-03T00:00:00"),
               _run("b", 0.1612, 0.1609, "2026-01-01T00:00:00"), _run("c", 0.152, 0.16, "2026-01-02T00:00:00"),
               _run("e", 0.09, 0.16, "2026-01-05T00:00:00")]
    table = _Table()
    table.feed(render_index(entries, []))
    assert len(table.rows) == 5 and all(len(row) == len(table.headers) for row in table.rows)
    # "vs training mean" (none, +25%, -0.2%, +5%, +43.8%), "Date (UTC)"
    vs, date = table.labels.index("vs training mean"), table.labels.index("Date (UTC)")
    spec = {"headers": table.headers, "rows": table.rows, "script": SORT_SCRIPT, "clicks": [vs, vs, date]}
    done = subprocess.run(["node", "-e", _DOM, json.dumps(spec)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    ascending, descending, by_date = json.loads(done.stdout)
    assert ascending == [2, 3, 1, 4, 0]  # numeric order (5 before 25), the run without a figure last
    assert descending == [4, 1, 3, 2, 0]  # reversed, the missing figure still last
    assert by_date == [2, 3, 1, 0, 4]


def test_the_index_names_the_baseline_as_evaluation_writes_it():
    """report.json's ``baselines`` are the run's metrics.json ones: the training-mean predictor,
    fitted on the training galaxies and scored on the test galaxies, under the name the index reads."""
    import numpy as np

    from galaxy_lib.evaluation import baselines
    from galaxy_lib.report.index import TRAINING_MEAN

    train = np.random.default_rng(0).random((5, 37))
    predictions = baselines.baseline_predictions(train, 3)
    assert np.allclose(predictions[TRAINING_MEAN], train.mean(axis=0))


def test_the_kaggle_anchors_are_read_from_their_one_home(monkeypatch):
    """The index names the leaderboard scores of evaluation.baselines.KAGGLE_ANCHORS, not copies."""
    from galaxy_lib.evaluation import baselines
    from galaxy_lib.report.index import anchors_text

    assert anchors_text() == "winner 0.07492, central-pixel benchmark 0.16194, all-zeros 0.27160"
    monkeypatch.setitem(baselines.KAGGLE_ANCHORS, "Kaggle winner (private LB)", 0.07)
    assert "Kaggle anchors (test RMSE): winner 0.07000, central-pixel" in render_index([], [])
