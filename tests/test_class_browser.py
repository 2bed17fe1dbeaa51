"""The class index in a real browser (issue 29): built from the hand-made rows of
``tests/test_class_page.py``, it loads offline without a console error or a refused request, a
click on the RMSE header reverses the order (rows that could not be scored staying last), the
flags are visible, the student named ``<script>`` runs nothing, and a student's copied report shows
in its sandboxed frame with its script blocked.

Skips with the reason when Playwright or a Chromium is missing. The harness is ``tests/browser.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import browser_unavailable, chromium, offline_page
from test_class_page import KEY, REFERENCE, SCRIPT_NAME, class_rows

from galaxy_lib.classroom.page import INDEX_FILE, copy_report, write_class_outputs
from galaxy_lib.classroom.rows import FLAG_KINDS

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=browser_unavailable() or "")

REPORT_TEXT = "Ada's own report"
SCRIPT_MARK = "the student's script ran"


def build_class(out: Path) -> Path:
    """The class page of the hand-made rows, with Ada's report (which holds a script) copied beside it."""
    source = out.parent / "ada_report.html"
    source.write_text(f"<!DOCTYPE html><html><body><h1>{REPORT_TEXT}</h1>"
                      f"<script>document.body.append({SCRIPT_MARK!r}); alert(3)</script></body></html>")
    rows = class_rows()
    ada = next(row for row in rows if row.student == "ada")
    ada.report = copy_report(source, out, ada.student, ada.run)
    write_class_outputs(rows, out, key=KEY, assignment="parameters/default.yaml", references=[REFERENCE],
                        copy_threshold=1e-3, gap_threshold=0.015)
    return out / INDEX_FILE


def students(page) -> list[str]:
    return page.locator("table#class tbody tr td:first-child").all_inner_texts()


@pytest.mark.slow  # a headless Chromium: a few seconds
def test_the_class_index_sorts_shows_its_flags_and_runs_no_students_script(tmp_path):
    index = build_class(tmp_path / "class")
    dialogs: list[str] = []
    with chromium() as browser, offline_page(browser, index, settle_ms=200) as opened:
        page = opened.page
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        assert students(page) == ["ada", "bob", "cy", SCRIPT_NAME, "eve", "dan"]  # RMSE ascending by default

        rmse = page.locator("table#class thead th", has_text="RMSE on the key")
        rmse.click()
        assert rmse.get_attribute("aria-sort") == "descending"
        assert students(page) == ["eve", SCRIPT_NAME, "bob", "cy", "ada", "dan"]  # the unscorable row stays last
        rmse.click()
        assert students(page)[0] == "ada" and students(page)[-1] == "dan"
        page.locator("table#class thead th", has_text="Student").click()
        assert students(page) == [SCRIPT_NAME, "ada", "bob", "cy", "dan", "eve"]  # text, the browser's collation

        badges = page.locator("table#class .flag")
        labels = badges.all_inner_texts()
        assert labels.count(FLAG_KINDS["copy"]) == 2 and FLAG_KINDS["unscorable"] in labels, labels
        assert all(badges.nth(i).is_visible() for i in range(badges.count()))
        reason = page.locator("table#class .reason", has_text="predictions within 0.0000 of cy / default")
        assert reason.is_visible()
        assert page.locator("figure img").evaluate("img => img.naturalWidth") > 0  # the embedded figure decodes
        assert opened.problems() == [] and dialogs == []

        page.locator("table#class a", has_text="report").click()
        page.wait_for_load_state("load")
        assert page.locator("iframe").get_attribute("sandbox") == ""  # sandboxed, nothing allowed
        frame = page.frame_locator("iframe")
        assert frame.locator("h1").inner_text(timeout=10_000) == REPORT_TEXT
        assert SCRIPT_MARK not in frame.locator("body").inner_text() and dialogs == []
        # the only complaint allowed on the report's page is the browser refusing its script
        assert all("sandboxed" in line and "allow-scripts" in line for line in opened.console_errors), opened.problems()
        assert opened.failed_requests == [] and opened.page_errors == []
