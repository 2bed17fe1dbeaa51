"""The class index (issue 29, item 3): ``index.html``, ``class.csv``, the figure and the copied
students' reports, rendered from rows built by hand (no TensorFlow, no training): an honest run, a
copied pair, a run that could not be scored, a run with a failed notebook and a student whose name
is a script, which must come out as text."""

from __future__ import annotations

import base64
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from galaxy_lib.classroom import page
from galaxy_lib.classroom.page import (
    CSV_FILE,
    FIGURE_FILE,
    INDEX_FILE,
    class_frame,
    copy_report,
    render_class_page,
    safe_name,
    write_class_outputs,
)
from galaxy_lib.classroom.rows import FLAG_KINDS, ClassRow, Flag

SCRIPT_NAME = "<script>alert(1)</script>"
KEY = {"kind": "synthetic", "galaxies": 665, "seed": 0, "students_data": "synthetic sky seed 0 n 2000",
       "students_galaxies": 2000, "created": "2026-01-02T03:04:05", "version": 1}
MEAN = 0.1577
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def scored(student: str, run: str, rmse: float, **fields) -> ClassRow:
    """A scored row with its interval and gain (the training mean is :data:`MEAN` on the key)."""
    values = dict(student=student, run=run, source=f"{student}/runs/{run}", rmse=rmse, rmse_low=rmse - 0.0032,
                  rmse_high=rmse + 0.0034, mean_rmse=MEAN, gain=MEAN - rmse, gain_low=MEAN - rmse - 0.004,
                  gain_high=MEAN - rmse + 0.004, galaxies=665, own_test_rmse=rmse - 0.002, own_test_galaxies=340,
                  parameters=1_234_567, model_source="configuration", model_name="vgg6", epochs=30,
                  wall_seconds=1234.0, device="CPU: AMD EPYC (2 cores)", tta="8 views",
                  answers={"exercises": 9, "answered": 3, "predicted": 5}, notebooks="ok")
    values.update(fields)
    return ClassRow(**values)


def class_rows() -> list[ClassRow]:
    copy_b = Flag("copy", "predictions within 0.0000 of cy / default")
    copy_c = Flag("copy", "predictions within 0.0000 of bob / default")
    return [
        scored("eve", "wide", 0.1600, notebooks="failed: 02_train.ipynb (cell 7: ValueError)", own_test_rmse=0.0600,
               flags=[Flag("no-gain", "0.1600 on the key, training mean 0.1577"),
                      Flag("notebooks", "02_train.ipynb failed"), Flag("gap", "key 0.1600 vs own 0.0600")]),
        ClassRow(student="dan", run="default", source="dan/runs/default",
                 problem="best.keras: not a Keras file (half-copied?)",
                 flags=[Flag("unscorable", "best.keras: not a Keras file (half-copied?)")]),
        scored("cy", "default", 0.1012, changes={"epochs": [30, 10]}, model_source="notebook",
               model_name="build_model", parameters=98_765, flags=[copy_c]),
        scored("ada", "default", 0.0953, report="students/ada/default/view.html"),
        scored("bob", "default", 0.1012, changes={"epochs": [30, 10]}, model_source="notebook",
               model_name="build_model", parameters=98_765, flags=[copy_b]),
        scored(SCRIPT_NAME, '"><img src=x onerror=alert(2)>', 0.1100, answers=None,
               flags=[Flag("split-overlap", "<b>12</b> galaxies in both")]),
    ]


REFERENCE = scored("reference", "paper", 0.0890)


class Table(HTMLParser):
    """The class table as parsed: its header cells' attributes and text, and each body row's cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headers: list[tuple[dict, str]] = []
        self.rows: list[tuple[dict, list[tuple[dict, str]]]] = []
        self.scripts = 0
        self._in_table = False
        self._cell: tuple[dict, list[str]] | None = None
        self._spans: list[str] = []
        self.flags: list[list[str]] = []  # per row: the visible flag labels

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "table" and attributes.get("id") == "class":
            self._in_table = True
        if not self._in_table:
            return
        if tag == "tr" and self._in_body:
            self.rows.append((attributes, []))
            self.flags.append([])
        elif tag in ("td", "th"):
            self._cell = (attributes, [])
        elif tag == "span" and "flag" in (attributes.get("class") or "").split():
            self._spans.append("flag")
        elif tag == "span":
            self._spans.append("")
        elif tag == "br" and self._cell is not None:
            self._cell[1].append("\n")

    _in_body = False

    def handle_endtag(self, tag: str) -> None:
        if not self._in_table:
            return
        if tag == "thead":
            self._in_body = True
        elif tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None:
            attributes, text = self._cell
            cell = (attributes, "".join(text).strip())
            (self.rows[-1][1] if tag == "td" else self.headers).append(cell)
            self._cell = None
        elif tag == "span" and self._spans:
            self._spans.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1].append(data)
            if self._spans and self._spans[-1] == "flag":
                self.flags[-1].append(data)


def parse(html: str) -> Table:
    table = Table()
    table.feed(html)
    return table


def column(table: Table, name: str) -> int:
    return next(i for i, (_, text) in enumerate(table.headers) if text.startswith(name))


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("class")
    write_class_outputs(class_rows(), out, key=KEY, assignment="parameters/default.yaml", references=[REFERENCE],
                        copy_threshold=1e-4, gap_threshold=0.03)
    return out


def test_the_page_has_one_row_per_run_in_rmse_order_with_unscorable_last(written):
    html = (written / INDEX_FILE).read_text()
    assert "<title>Class: 6 students, 5 runs scored on 665 instructor&#x27;s galaxies</title>" in html
    table = parse(html)
    students = [cells[0][1] for _, cells in table.rows]
    assert students == ["ada", "bob", "cy", SCRIPT_NAME, "eve", "dan"]  # RMSE ascending, the unscorable one last
    rmse = column(table, "RMSE on the key")
    ada = table.rows[0][1]
    assert ada[rmse][1] == "0.0953 [0.0921, 0.0987]"
    assert float(ada[rmse][0]["data-sort"]) == pytest.approx(0.0953)
    assert table.headers[rmse][0].get("aria-sort") == "ascending"  # the default order is marked
    dan_attributes, dan = table.rows[-1]
    assert dan[rmse][1] == "could not be scored: best.keras: not a Keras file (half-copied?)"
    assert dan[rmse][0]["data-sort"] == "" and "problem" in dan_attributes["class"]
    gain = column(table, "Gain")
    assert ada[gain][1].startswith("+0.0624 [+0.0584, +0.0664]") and "training mean 0.1577" in ada[gain][1]
    assert ada[column(table, "Own test RMSE")][1].startswith("0.0933")
    assert ada[column(table, "Architecture")][1] == "1,234,567 parameters\nconfiguration: vgg6"
    assert ada[column(table, "Answers")][1] == "3 of 9 answered, 5 predicted"
    assert ada[column(table, "Wall time")][1] == "20.6 min"
    assert ada[column(table, "Report")][1] == "report"
    assert 'href="students/ada/default/view.html"' in html
    bob = table.rows[1][1]
    assert bob[column(table, "Changes")][1] == "epochs: 30 → 10"
    assert table.rows[3][1][column(table, "Answers")][1] == "–"


def test_numeric_columns_sort_by_their_data_sort_numbers_and_missing_figures_are_empty(written):
    table = parse((written / INDEX_FILE).read_text())
    numeric = [i for i, (attributes, _) in enumerate(table.headers) if attributes.get("data-type") == "number"]
    names = {table.headers[i][1] for i in numeric}
    assert {"RMSE on the key [95%]", "Gain over the training mean", "Own test RMSE", "Gap (key − own)", "Epochs",
            "Wall time", "Answers", "Architecture", "Flags"} <= names
    for _, cells in table.rows:
        for i in numeric:
            key = cells[i][0].get("data-sort")
            assert key is not None, (table.headers[i][1], cells[0][1])
            if key != "":
                float(key)  # a number, or the ValueError names the cell
    eve = table.rows[4][1]
    assert float(eve[column(table, "Gap")][0]["data-sort"]) == pytest.approx(0.1)
    assert float(eve[column(table, "Wall time")][0]["data-sort"]) == pytest.approx(1234 / 60, rel=1e-5)
    assert float(eve[column(table, "Architecture")][0]["data-sort"]) == 1_234_567


def test_flags_are_visible_badges_with_their_reason_as_text_and_a_legend(written):
    html = (written / INDEX_FILE).read_text()
    table = parse(html)
    flags = {cells[0][1]: labels for (_, cells), labels in zip(table.rows, table.flags, strict=True)}
    assert flags["ada"] == []
    assert flags["bob"] == flags["cy"] == [FLAG_KINDS["copy"]]
    assert flags["eve"] == [FLAG_KINDS["no-gain"], FLAG_KINDS["notebooks"], FLAG_KINDS["gap"]]
    assert flags["dan"] == [FLAG_KINDS["unscorable"]]
    by_student = {cells[0][1]: cells for _, cells in table.rows}
    flagged = column(table, "Flags")
    assert "predictions within 0.0000 of cy / default" in by_student["bob"][flagged][1]  # the reason, as text
    assert by_student["eve"][column(table, "Gap")][0]["class"] == "num gapped"
    assert by_student["ada"][column(table, "Gap")][0]["class"] == "num"
    assert by_student["eve"][column(table, "Notebooks")][1] == "failed02_train.ipynb (cell 7: ValueError)"
    legend = unescape(html[html.index('<dl class="legend">'):])
    assert all(label in legend for label in FLAG_KINDS.values())
    assert "0.0001" in legend and "0.03" in legend  # the thresholds, in words


def test_every_student_string_is_escaped_and_only_the_sorting_script_runs(written):
    html = (written / INDEX_FILE).read_text()
    assert SCRIPT_NAME not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;b&gt;12&lt;/b&gt;" in html
    assert parse(html).scripts == 1
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_the_page_loads_nothing_from_the_network(written):
    html = (written / INDEX_FILE).read_text()
    assert not re.search(r"""\b(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"@import|url\(", html)


def test_the_header_names_the_key_the_assignment_and_the_thresholds(written):
    html = (written / INDEX_FILE).read_text()
    header = html[html.index('<table class="key">'):html.index("</table>")]
    for text in ("665 galaxies held back", "the synthetic sky", "synthetic sky seed 0 n 2000",
                 "parameters/default.yaml", "less than 0.0001", "more than 0.03", "RMSE 0.1577",
                 "reference / paper: 0.0890", "Written"):
        assert text in header, text


def test_class_csv_round_trips_the_figures(written):
    frame = pd.read_csv(written / CSV_FILE)
    assert list(frame["student"]) == ["ada", "bob", "cy", SCRIPT_NAME, "eve", "dan"]
    expected = {row.student: row for row in class_rows()}
    for _, line in frame.iterrows():
        row = expected[line["student"]]
        for name in ("rmse", "rmse_low", "rmse_high", "gain", "gain_low", "gain_high", "own_test_rmse"):
            value = getattr(row, name)
            assert (pd.isna(line[name]) if value is None else line[name] == pytest.approx(value)), (row.student, name)
    ada, bob, dan, eve = (frame.set_index("student").loc[name] for name in ("ada", "bob", "dan", "eve"))
    assert ada["parameters"] == 1_234_567 and ada["answers_answered"] == 3 and ada["wall_minutes"] == pytest.approx(
        1234 / 60)
    assert bob["changes"] == "epochs=30->10" and bob["flags"] == "copy: predictions within 0.0000 of cy / default"
    assert dan["problem"] == "best.keras: not a Keras file (half-copied?)" and pd.isna(dan["rmse"])
    assert eve["flags"].split("; ")[0] == "no-gain: 0.1600 on the key, training mean 0.1577"
    assert eve["gap"] == pytest.approx(0.1)
    assert "1234567" in (written / CSV_FILE).read_text()  # an integer, not 1234567.0


def test_a_name_a_spreadsheet_would_run_as_a_formula_stays_text():
    frame = class_frame([ClassRow(student="=HYPERLINK(\"x\")", problem="-1 files")])
    assert frame.loc[0, "student"] == "'=HYPERLINK(\"x\")" and frame.loc[0, "problem"] == "'-1 files"


def test_the_figure_is_a_png_and_the_page_embeds_the_same_one(written):
    png = (written / FIGURE_FILE).read_bytes()
    assert png.startswith(PNG_MAGIC)
    html = (written / INDEX_FILE).read_text()
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert embedded and base64.b64decode(embedded.group(1)) == png


@pytest.mark.parametrize("rows", [[], [ClassRow(student="dan", problem="handed in nothing")]],
                         ids=["none", "unscorable"])
def test_a_class_with_no_scored_run_still_gets_a_page_and_a_figure(tmp_path, rows):
    write_class_outputs(rows, tmp_path, key=KEY, copy_threshold=1e-4, gap_threshold=0.03)
    assert (tmp_path / FIGURE_FILE).read_bytes().startswith(PNG_MAGIC)
    html = (tmp_path / INDEX_FILE).read_text()
    assert "0 runs scored on 665 instructor" in html
    assert len(pd.read_csv(tmp_path / CSV_FILE)) == len(rows)
    fig = page.class_figure(rows)
    assert any(text.get_text() == "no run could be scored" for ax in fig.axes for text in ax.texts)


def test_a_failure_leaves_the_previous_index_as_it_was(tmp_path, monkeypatch):
    write_class_outputs(class_rows()[:2], tmp_path, key=KEY, copy_threshold=1e-4, gap_threshold=0.03)
    before = (tmp_path / INDEX_FILE).read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(page, "render_class_page", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_class_outputs(class_rows(), tmp_path, key=KEY, copy_threshold=1e-4, gap_threshold=0.03)
    assert (tmp_path / INDEX_FILE).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [CSV_FILE, FIGURE_FILE, INDEX_FILE]  # no temporary left


def test_a_report_link_that_is_not_a_plain_relative_path_is_not_linked():
    rows = [scored("mallory", "default", 0.1, report="javascript:alert(1)"),
            scored("trudy", "default", 0.1, report="../../etc/passwd")]
    html = render_class_page(rows, key=KEY, copy_threshold=1e-4, gap_threshold=0.03, date="today")
    assert "javascript:" not in html and "etc/passwd" not in html


def test_copy_report_sandboxes_the_students_html_in_a_sanitised_folder(tmp_path):
    source = tmp_path / "given" / "report.html"
    source.parent.mkdir()
    source.write_text("<html><body><script>alert(1)</script>Ada's report</body></html>")
    out = tmp_path / "out"
    link = copy_report(source, out, "../../ada", "run/../../x")
    assert not link.startswith("/") and ".." not in Path(link).parts and link.endswith("/view.html")
    view = out / link
    assert view.resolve().is_relative_to(out.resolve())
    assert (view.parent / "report.html").read_text() == source.read_text()
    text = view.read_text()
    frames = re.findall(r"<iframe[^>]*>", text)
    assert frames == ['<iframe sandbox src="report.html" title="../../ada / run/../../x: the student\'s report">']
    assert "allow-scripts" not in text and "<script" not in text
    assert "the student's own report, shown with scripts off" in text
    assert copy_report(source, out, "<b>", "default") != copy_report(source, out, "_b_", "default")


def test_copy_report_refuses_a_link(tmp_path):
    target = tmp_path / "secret.html"
    target.write_text("secret")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    with pytest.raises(Exception, match="not a regular file"):
        copy_report(link, tmp_path / "out", "ada", "default")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["..", ".", "a/b", "a\\b", "/etc", "", "José", "x" * 300, ".hidden", "CON"])
def test_safe_names_are_one_folder_each_and_distinct(name):
    safe = safe_name(name)
    assert safe and "/" not in safe and "\\" not in safe and not safe.startswith(".") and len(safe) <= 60
    assert re.fullmatch(r"[A-Za-z0-9._-]+", safe)
    assert safe_name("a_b") == "a_b" and safe_name("a/b") != "a_b"
