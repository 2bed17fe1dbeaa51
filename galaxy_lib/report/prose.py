"""Prose is Markdown, numbers are lookups: the Jinja2 engine behind every page of stored figures.

The docs' generated regions (``docs/templates/*.md.j2``, rendered by ``benchmarks/readme_tables.py``)
and the notebooks' "compare with ours" cells are Markdown templates. The wording lives in the
templates; each figure is looked up in a stored result (:mod:`galaxy_lib.results`) by file name and
key path, so a number can be traced to the file that says what was run, where and when. Nothing
here knows a benchmark, a file name or a row label: those are the templates' data.

API (documented for the templates' authors; see also :mod:`galaxy_lib.results`):

- :func:`render` ``(name, results, folders, extra=None, **context)`` -> the rendered text of
  template ``name`` found in ``folders`` (``extra``: more globals); :func:`environment` builds
  the environment itself (templates are read when a render asks for them, never at import).
- Errors: a template that does not parse, names an undefined variable (``StrictUndefined``), cites
  a key a result lacks, or a result that does not exist raises :class:`TemplateError`, ONE line
  ``docs/templates/x.md.j2:12: <what>`` naming the template file and line.
- Globals: ``r("file")`` -> :class:`~galaxy_lib.results.Result`; ``r("file", "figures.x.0")`` -> the
  value; ``has("file")``; ``existing("a", "b")`` (those of the named results that exist, in that
  order); ``reason("file")`` (why it is missing); ``named("quality-screen")`` (the results whose
  name starts so, by name); ``table(rows, columns)`` (:func:`table`); ``fail(text)`` (stop with a
  one-line error, for a check a template makes); ``same_host(a, b, ...)``; ``BACKFILLED`` (the
  dagger) and ``NOT_RECORDED``; the learning-curve wording of the reports (``curve_sentence``,
  ``extrapolation_paragraph``, ``budget_limited``). Rendering only looks figures up: a figure
  that needs a computation (a refit, a bootstrap) is stored by its benchmark, never computed here.
- Number filters (``None`` gives "-", the one "number or dash" rule; text passes as it is):
  ``rmse`` (0.1234), ``count`` (2,447), ``minutes`` (12.1 min), ``seconds`` (3.52 s), ``min_s``
  (6 min 1 s), ``ratio`` (x1.17), ``times`` (1.2x), ``percent`` (12.3%), ``f(".2f")`` (a format
  spec, or a pattern with one field: ``f("{:,.0f} MB")``), ``num(spec, missing)`` (a filter name,
  spec or pattern, with the text for a missing value), ``words`` (3 -> three), ``median``.
- Text filters: ``wrap`` (a paragraph wrapped at :data:`WIDTH` columns, never inside a code span;
  ``{% filter wrap %}...{% endfilter %}`` keeps the block's line end), ``code`` (a `code span`),
  ``mark`` (`` †`` after a backfilled result's label), and the machine and date phrases of a list
  of results: ``cpus``, ``dates``, ``commits``, ``conditions``, ``cpu_load``.
"""

from __future__ import annotations

import os
import re
import statistics
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import jinja2

from galaxy_lib.errors import GalaxyLibError
from galaxy_lib.paths import display_path
from galaxy_lib.results import NOT_RECORDED, MissingResult, Result, Results, dig, same_host

__all__ = ["BACKFILLED", "NUMBER_FILTERS", "WIDTH", "TemplateError", "environment", "fmt_number", "render", "table",
           "wrap"]

WIDTH = 98
"""The docs' prose is wrapped at about this width (the hand-written paragraphs' width)."""
BACKFILLED = "†"
"""Marks a row whose figures were copied from an older README, not stored by a measurement."""
DASH = "-"
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


class TemplateError(GalaxyLibError, ValueError):
    """A template that cannot render: one line naming the template file and line, then what."""


# --- number and text filters ---------------------------------------------------------------------------


def _number(spec: str) -> Callable[[Any], str]:
    """A filter that formats a number with ``spec`` and shows a missing value (``None``) as a dash."""
    def fmt(value: Any, missing: str = DASH) -> str:
        return missing if value is None else format(value, spec)
    return fmt


def fmt_number(value: Any, spec: str, missing: str = DASH) -> str:
    """``value`` formatted by a named filter (``"rmse"``), a format spec (``".2f"``) or a pattern with
    one field (``"{:,.0f} MB"``); ``None`` -> ``missing``."""
    if value is None:
        return missing
    if "{" in spec:  # a pattern places text as well as numbers ("`{}`")
        return spec.format(value)
    if isinstance(value, str):  # text already: a stored range ("7.6-11.3"), or a missing result said in words
        return value
    return NUMBER_FILTERS[spec](value) if spec in NUMBER_FILTERS else format(value, spec)


def _text_passes(number: Callable[..., str]) -> Callable[..., str]:
    """``number`` as a filter that shows text as it is, like :func:`fmt_number`: a stored figure that
    is a range ("7.6-11.3"), or the words that stand for a result not measured yet (the notebooks'
    "compare with ours" cells say why where its figure would be)."""
    def show(value: Any, *args: Any, **kwargs: Any) -> str:
        return value if isinstance(value, str) else number(value, *args, **kwargs)
    return show


def min_s(seconds: float | None) -> str:
    """``6 min 1 s`` (or ``45 s``): a wall time as the test-suite and report tables give it."""
    if seconds is None:
        return DASH
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


NUMBER_FILTERS: dict[str, Callable[..., str]] = {
    "rmse": _number(".4f"),
    "count": lambda value, missing=DASH: missing if value is None else f"{int(value):,}",
    "minutes": lambda value, places=1, missing=DASH: missing if value is None else f"{value:.{places}f} min",
    "seconds": lambda value, places=2, missing=DASH: missing if value is None else f"{value:.{places}f} s",
    "min_s": min_s,
    "ratio": lambda value, places=2, missing=DASH: missing if value is None else f"x{value:.{places}f}",
    "times": lambda value, places=1, missing=DASH: missing if value is None else f"{value:.{places}f}x",
    "percent": lambda value, places=1, missing=DASH: missing if value is None else f"{value:.{places}%}",
}


def wrap(text: str, width: int = WIDTH) -> str:
    """One Markdown paragraph: whitespace runs made single spaces, wrapped at ``width`` like the
    hand-written prose, never inside a `code span` (a wrapped span would not render as one)."""
    joined = " ".join(text.split())
    protected = re.sub(r"`[^`]*`", lambda m: m[0].replace(" ", "\0"), joined)
    filled = textwrap.fill(protected, width, break_long_words=False, break_on_hyphens=False).replace("\0", " ")
    return filled + "\n" if text.endswith("\n") and filled else filled  # a block filter keeps its line end


def code(value: Any) -> str:
    """```value``` as a Markdown code span."""
    return f"`{value}`"


def words(value: int) -> str:
    """``3`` -> ``three`` (two to nine), else the digits."""
    return NUMBER_WORDS.get(value, str(value))


def mark(record: Result) -> str:
    """`` †`` after the label of a backfilled result, else nothing (read from the file's provenance)."""
    return f" {BACKFILLED}" if record.backfilled else ""


def conditions(record: Result) -> str:
    """How busy the machine was: the conditions a backfilled record states, and the load average."""
    machine = record.machine
    parts = [machine["conditions"]] if machine.get("conditions") else []
    load = machine.get("load_average")
    if isinstance(load, int | float):
        parts.append(f"load average {load:.1f}")
    elif load:
        parts.append(f"load average {load}")
    return ", ".join(parts) or "load not recorded"


def cpu_load(record: Result) -> str:
    """The CPU and, where recorded, the load average when the result was stored: a wall-clock row
    run at load 4 on 2 cores had about half the machine, which its epoch count shows."""
    return record.cpu + ("" if record.load is None else f" ({record.load:.1f})")


def cpus(records: Iterable[Result]) -> str:
    """``CPU: X`` for records that share a CPU, else each CPU with the files that ran on it."""
    by_cpu: dict[str, list[str]] = {}
    for record in records:
        by_cpu.setdefault(record.cpu, []).append(record.name)
    if len(by_cpu) == 1:
        return f"CPU: {next(iter(by_cpu))}"
    return "CPUs: " + "; ".join(f"{model} ({', '.join(f'`{n}`' for n in names)})" for model, names in by_cpu.items())


def dates(records: Iterable[Result]) -> str:
    """``2026-11-30`` or ``2026-11-30 to 2026-12-04``: when ``records`` were measured."""
    found = sorted({r.date for r in records})
    return found[0] if len(found) == 1 else f"{found[0]} to {found[-1]}"


def commits(records: Iterable[Result]) -> str:
    """``commit abc1234`` or ``commits abc1234 and def5678``: the code that measured ``records``."""
    found = sorted({str(r.machine.get("git_commit"))[:7] for r in records})
    return f"commit{'s' if len(found) > 1 else ''} {' and '.join(found)}"


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# --- the table renderer ----------------------------------------------------------------------------------


def _column(spec: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """A column description as a dict: ``[header, key or callable, format?, missing?]`` or a dict
    with those names (and ``align``: ``"right"`` for a right-aligned column)."""
    if isinstance(spec, Mapping):
        column = dict(spec)
    else:
        column = dict(zip(("header", "key", "format", "missing"), spec, strict=False))
    if "header" not in column or "key" not in column:
        raise TemplateError(f"a table column needs a header and a key: {spec!r}")
    return column


def _cell(row: Any, column: dict[str, Any]) -> str:
    key, missing = column["key"], column.get("missing", DASH)
    if callable(key):
        return str(key(row)).strip()
    if key in ("", "."):
        value = row
    elif key.endswith("?"):  # an optional key: absent is a missing value, not a mistake
        try:
            value = dig(row, key[:-1])
        except GalaxyLibError:
            value = None
    else:
        value = dig(row, key, row.name + ".json" if isinstance(row, Result) else "table row")
    if value is None:
        return missing
    return fmt_number(value, column["format"], missing) if column.get("format") else str(value)


def table(rows: Iterable[Any], columns: Sequence[Mapping[str, Any] | Sequence[Any]]) -> str:
    """A Markdown table from a description: one line per row, one cell per column.

    ``rows`` are results or dicts (``{"label": ..., "record": r("file")}``); each column is
    ``[header, key, format, missing]`` (or a dict of those names, with ``align``): ``key`` a key
    path into the row (:func:`galaxy_lib.results.dig`; ending in ``?`` when the key may be absent)
    or a callable of the row (a Jinja macro), ``format`` a number filter's name or a format spec,
    ``missing`` what a ``None`` shows (a dash)."""
    described = [_column(c) for c in columns]
    lines = ["| " + " | ".join(c["header"] for c in described) + " |",
             "|" + "|".join("---:" if c.get("align") == "right" else "---" for c in described) + "|"]
    lines += ["| " + " | ".join(_cell(row, c) for c in described) + " |" for row in rows]
    return "\n".join(lines)


# --- the environment -------------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    raise TemplateError(message)


def _curve_analysis(name: str) -> Callable[..., Any]:
    """The learning-curve wording of the reports (:mod:`galaxy_lib.studies.curve_analysis`), imported
    when a template calls it: that import takes about a second and a half (NumPy, the metrics), which a
    notebook cell that shows one exercise's figures should not pay."""
    def call(*args: Any, **kwargs: Any) -> Any:
        from galaxy_lib.studies import curve_analysis

        return getattr(curve_analysis, name)(*args, **kwargs)
    return call


def environment(results: Results, folders: Sequence[str | os.PathLike[str]],
                extra: Mapping[str, Any] | None = None) -> jinja2.Environment:
    """A Jinja2 environment over ``folders`` whose lookups read ``results``; ``extra`` adds globals
    (a caller's own helpers, e.g. the notebooks' "compare with ours" cells).

    ``StrictUndefined``: a misspelt name is an error, never an empty string in the docs. Blocks
    leave no blank lines (``trim_blocks``, ``lstrip_blocks``), so a template reads like the page."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([os.fspath(f) for f in folders]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False,
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
    )

    def r(name: str, path: str | None = None) -> Any:
        return results.require(name) if path is None else results.lookup(name, path)

    env.globals.update(
        r=r, has=lambda name: name in results, reason=results.reason, named=results.named, table=table,
        existing=lambda *names: [results[n] for n in names if n in results],
        fail=_fail, same_host=same_host, BACKFILLED=BACKFILLED, NOT_RECORDED=NOT_RECORDED,
        curve_sentence=_curve_analysis("data_or_method"), budget_limited=_curve_analysis("budget_limited"),
        extrapolation_paragraph=_curve_analysis("extrapolation_paragraph"),
    )
    env.globals.update(extra or {})
    env.filters.update({name: _text_passes(number) for name, number in NUMBER_FILTERS.items()})
    env.filters.update(
        f=lambda value, spec, missing=DASH: fmt_number(value, spec, missing), num=fmt_number, words=words,
        median=median, wrap=wrap, code=code, mark=mark, cpus=cpus, dates=dates, commits=commits, conditions=conditions,
        cpu_load=cpu_load,
    )
    return env


def _where(exc: BaseException, folders: Sequence[Path]) -> str:
    """``file:line`` of the innermost template frame of ``exc``'s traceback (Jinja rewrites its
    frames to the template's file and line), or an empty string when no template frame is there."""
    found = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if any(Path(filename).is_relative_to(folder) for folder in folders):
            found = f"{display_path(filename)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def render(name: str, results: Results, folders: Sequence[str | os.PathLike[str]],
           extra: Mapping[str, Any] | None = None, **context: Any) -> str:
    """Template ``name`` (found in ``folders``) rendered with ``results`` and ``context`` (``extra``:
    more globals, :func:`environment`).

    Any failure is one :class:`TemplateError` line: ``docs/templates/x.md.j2:12: <what>``."""
    roots = [Path(f).resolve() for f in folders]
    env = environment(results, roots, extra)
    try:
        template = env.get_template(name)
        return template.render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{display_path(exc.filename)}:{exc.lineno}" if exc.filename else f"{name}:{exc.lineno}"
        raise TemplateError(f"{where}: {exc.message}") from exc
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"no template {exc.name} in {', '.join(display_path(f) for f in roots)}") from exc
    except (TemplateError, MissingResult, GalaxyLibError, jinja2.TemplateError, LookupError, ValueError,
            TypeError, AttributeError, ArithmeticError) as exc:
        where = _where(exc, roots) or name
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TemplateError(f"{where}: {message}") from exc
