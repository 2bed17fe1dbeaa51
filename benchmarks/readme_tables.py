"""Render the measured regions of README.md and docs/*.md from the stored results in ``benchmarks/results/``.

Every measured figure in those pages sits between ``<!-- results:NAME -->`` and
``<!-- /results:NAME -->`` markers; each region is the Markdown template ``docs/templates/NAME.md.j2``
rendered by :mod:`galaxy_lib.report.prose` (Jinja2) from the result files
(:mod:`galaxy_lib.results`), so a number can be traced to a file that says what was run, where
(the CPU model each table names) and when, and re-measured with the command stored beside it.

The wording, the row order and labels, the result files each region reads and the facts that are
not figures live in the templates; the numbers live in the files; this script only finds the
regions, renders each and writes or checks the pages. A region may sit on any page, but each on
exactly one, and every template (``_*.md.j2`` are shared pieces, not regions) must have its region.
Rows from backfilled files (copied from an older README, no machine record) are marked with a
dagger and a footnote, found from each file's own ``provenance``, so re-measuring a row removes
its mark. A broken template or a figure a template cites and a file lacks is one line naming the
template's file and line.

Usage::

    python benchmarks/readme_tables.py            # rewrite the regions of README.md and docs/*.md
    python benchmarks/readme_tables.py --check    # exit 1 (and show the difference) when a page is out of date

After re-running a benchmark (which replaces its file), run the first command and commit both.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import results_store

from galaxy_lib.paths import display_path
from galaxy_lib.report import prose
from galaxy_lib.results import Result, Results, load_results

REGION = re.compile(r"(<!-- results:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)
TEMPLATES = results_store.REPO / "docs" / "templates"
"""The regions' Markdown templates, one ``NAME.md.j2`` per region (``_*.md.j2``: shared pieces)."""
SUFFIX = ".md.j2"


def regions(templates: Path = TEMPLATES) -> list[str]:
    """The names of the regions the templates render: every ``NAME.md.j2`` but the shared ``_*`` ones."""
    return sorted(p.name.removesuffix(SUFFIX) for p in templates.glob(f"*{SUFFIX}") if not p.name.startswith("_"))


def _results(results: Mapping[str, Any]) -> Results:
    """``results`` as :class:`~galaxy_lib.results.Results` (a test may pass a plain dict of records)."""
    if isinstance(results, Results):
        return results
    return Results({name: r if isinstance(r, Result) else dict(r) for name, r in results.items()})


def render_region(name: str, results: Mapping[str, Any], templates: Path = TEMPLATES) -> str:
    """The Markdown of region ``name`` from ``results`` (no trailing blank lines)."""
    return prose.render(f"{name}{SUFFIX}", _results(results), [templates]).rstrip()


def pages(root: Path = results_store.REPO) -> list[Path]:
    """The Markdown pages that may hold results regions: ``README.md`` and every ``docs/*.md``."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render_pages(texts: dict[str, str], results: Mapping[str, Any], templates: Path = TEMPLATES) -> dict[str, str]:
    """Each page's text with its results regions rendered from ``results``. Every template's region
    must appear exactly once across all pages. Raises ``ValueError`` naming the page for a region
    without a template, for a region held twice and for a template whose region no page holds."""
    known = set(regions(templates))
    seen: dict[str, str] = {}
    rendered: dict[str, str] = {}
    for page, text in texts.items():
        def fill(match: re.Match[str], page: str = page) -> str:
            name = match["name"]
            if name not in known:
                raise ValueError(f"{page}: region results:{name} has no template {display_path(templates)}/"
                                 f"{name}{SUFFIX}")
            if name in seen:
                raise ValueError(f"{page}: region results:{name} is also in {seen[name]}; keep one")
            seen[name] = page
            return f"{match[1]}\n{render_region(name, results, templates)}\n\n{match[4]}"

        rendered[page] = REGION.sub(fill, text)
    missing = sorted(known - set(seen))
    if missing:
        raise ValueError(f"no page ({', '.join(texts)}) has a region for {', '.join(missing)} "
                         "(<!-- results:NAME --> ... <!-- /results:NAME -->)")
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a page is out of date")
    parser.add_argument("--root", type=Path, default=results_store.REPO,
                        help="project folder whose README.md and docs/*.md hold the regions (default: this one)")
    parser.add_argument("--results-dir", type=Path, default=results_store.RESULTS_DIR)
    args = parser.parse_args(argv)

    paths = {path.relative_to(args.root).as_posix(): path for path in pages(args.root)}
    texts = {name: path.read_text() for name, path in paths.items()}
    try:
        rendered = render_pages(texts, load_results(args.results_dir))
    except ValueError as exc:  # a broken template or result file, a region without its template: one line
        print(f"readme_tables: {exc}", file=sys.stderr)
        return 2
    stale = [name for name in texts if rendered[name] != texts[name]]
    if not stale:
        print(f"{', '.join(texts)}: up to date with {display_path(args.results_dir)}")
        return 0
    if args.check:
        for name in stale:
            diff = difflib.unified_diff(texts[name].splitlines(), rendered[name].splitlines(), name,
                                        f"{name} (from results)", lineterm="")
            print("\n".join(diff))
        print(f"out of date: {', '.join(stale)}; run python benchmarks/readme_tables.py", file=sys.stderr)
        return 1
    from galaxy_lib.paths import atomic_write_text

    for name in stale:
        atomic_write_text(paths[name], rendered[name])
        print(f"rewrote the results regions of {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
