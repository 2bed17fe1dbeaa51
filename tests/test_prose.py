"""The prose engine (galaxy_lib.report.prose): lookups of stored figures, number filters, the one
table renderer, and one-line errors naming the template file and line. Cheap: tmp templates."""

from __future__ import annotations

import pytest

from galaxy_lib.report import prose
from galaxy_lib.results import MEASURED, Result, Results


def record(name: str, rmse: float | None, backfilled: bool = False) -> dict:
    return {"schema": 1, "name": name, "benchmark": "bench_quality", "command": f"python benchmarks/x {name}",
            "date": "2026-12-01", "machine": {"cpu_model": "AMD EPYC", "cores": 2, "platform": "p"},
            "setup": {}, "figures": {"test_rmse": rmse, "epochs": 2447, "rows": [1, 2, 3]},
            "provenance": "backfilled from README.md" if backfilled else MEASURED}


@pytest.fixture
def results() -> Results:
    return Results({"quality-a": record("quality-a", 0.10234), "quality-b": record("quality-b", None, True)})


def render(tmp_path, text: str, results: Results, **context) -> str:
    (tmp_path / "t.md.j2").write_text(text)
    return prose.render("t.md.j2", results, [tmp_path], **context)


def test_lookups_read_files_key_paths_and_prefixes(tmp_path, results):
    text = ('{{ r("quality-a", "figures.test_rmse") | rmse }} {{ r("quality-a").figures.epochs | count }} '
            '{{ r("quality-a", "figures.rows.-1") }} {{ named("quality-") | map(attribute="name") | join(",") }} '
            '{{ has("quality-z") }} {{ reason("quality-z") }}')
    assert render(tmp_path, text, results) == (
        "0.1023 2,447 3 quality-a,quality-b False not measured yet: `quality-z.json` is not in `benchmarks/results`")


@pytest.mark.parametrize(("expression", "shown"), [
    ("0.12345 | rmse", "0.1235"), ("2447 | count", "2,447"), ("12.14 | minutes", "12.1 min"),
    ("3.521 | seconds", "3.52 s"), ("361 | min_s", "6 min 1 s"), ("45 | min_s", "45 s"), ("1.1734 | ratio", "x1.17"),
    ("5.27 | times", "5.3x"), ("0.1234 | percent", "12.3%"), ("-0.01 | f('+.1%')", "-1.0%"),
    ("none | rmse", "-"), ("none | num('rmse', 'not scored')", "not scored"), ("0.5 | num('.2f')", "0.50"),
    ("'7.6-11.3' | minutes", "7.6-11.3"), ("'not measured yet' | num('rmse')", "not measured yet"),
    ("3 | words", "three"), ("12 | words", "12"), ("[3, 1, 2] | median", "2"),
])
def test_number_filters(tmp_path, results, expression, shown):
    assert render(tmp_path, "{{ " + expression + " }}", results) == shown


def test_wrap_keeps_code_spans_whole_and_mark_reads_provenance(tmp_path, results):
    words = " ".join(["word"] * 30) + " `a code span with spaces` end"
    out = render(tmp_path, "{% filter wrap %}\n" + words + "\n{% endfilter %}", results)
    assert max(map(len, out.splitlines())) <= prose.WIDTH and "`a code span with spaces`" in out
    assert render(tmp_path, '[{{ r("quality-a") | mark }}][{{ r("quality-b") | mark }}]', results) == "[][ †]"


def test_one_table_renderer_from_a_description(tmp_path, results):
    rows = [{"label": "first", "record": results["quality-a"]}, {"label": "second", "record": results["quality-b"]}]
    text = prose.table(rows, [["configuration", "label"], ["RMSE", "record.figures.test_rmse", "rmse", "not run"],
                              {"header": "epochs", "key": "record.figures.epochs", "format": "count", "align": "right"},
                              ["CPU", lambda row: row["record"].cpu], ["x", "record.figures.nothing?"]])
    assert text.splitlines() == [
        "| configuration | RMSE | epochs | CPU | x |", "|---|---|---:|---|---|",
        "| first | 0.1023 | 2,447 | AMD EPYC, 2 cores | - |", "| second | not run | 2,447 | AMD EPYC, 2 cores | - |"]
    template = ('{% macro label(row) %}{{ row.name }}{{ row | mark }}{% endmacro %}'
                '{{ table([r("quality-a"), r("quality-b")], '
                '[["file", label], ["RMSE", "figures.test_rmse", "rmse"]]) }}')
    assert render(tmp_path, template, results).splitlines()[-1] == "| quality-b † | - |"
    with pytest.raises(prose.TemplateError, match=r"t\.md\.j2:1: quality-a\.json: no figures\.nothing"):
        render(tmp_path, '{{ table([r("quality-a")], [["x", "figures.nothing"]]) }}', results)


@pytest.mark.parametrize(("text", "problem"), [
    ("fine\n{% if %}\n", r":2: Expected an expression"),
    ("fine\n\nok {{ misspelt }}\n", r":3: 'misspelt' is undefined"),
    ('{{ r("quality-a", "figures.tset_rmse") }}', r":1: quality-a\.json: no figures\.tset_rmse"),
    ('a\n{{ r("quality-z") }}', r":2: not measured yet: `quality-z\.json`"),
    ('a\n{{ fail("the table mixes splits") }}', r":2: the table mixes splits"),
])
def test_a_broken_template_is_one_line_naming_its_file_and_line(tmp_path, results, text, problem):
    with pytest.raises(prose.TemplateError, match=r"t\.md\.j2" + problem) as caught:
        render(tmp_path, text, results)
    assert "\n" not in str(caught.value)


def test_templates_are_read_when_used_not_at_import(tmp_path, results):
    with pytest.raises(prose.TemplateError, match="no template nothing.md.j2"):
        prose.render("nothing.md.j2", results, [tmp_path])
    assert isinstance(results["quality-a"], Result)
