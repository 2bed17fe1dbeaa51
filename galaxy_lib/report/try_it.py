"""The exercises' "compare with ours" cells: what a change did on real galaxies, shown after the student's run.

Each notebook ends with ``## Exercises``; after the student's own run, a cell
``compare_with_ours("<notebook stem>", "<exercise key>")`` shows what the same change did on the
shared real sample: the exercise's rows (the change, and the seed-to-seed rows that say how far two
runs differ by chance), the bar every model must clear (the training-mean predictor) and the
parameters cell it was measured with, read from the stored results in ``benchmarks/results/``.

**Content is Markdown.** Each exercise is a Jinja2 template,
``templates/try_it/<notebook>/<key>.md.j2`` beside this module (package data), extending the layout
``templates/try_it/exercise.md.j2``; its figures are lookups of stored results
(``r("quality-paper", "setup.config.epochs") | f("g")``), never typed
(``tests/test_try_it.py`` checks that). Templates are read when a cell is rendered, not at import,
so a broken one fails that cell in one line naming the template file and line.

**Missing and wrong are told apart.** A result file that is absent (a copy of the package without
the repository, a result not measured yet) is said in words where its figures would be: a normal
state of a checkout. A stored result that is not valid, lacks a key a template cites, or holds a
change that cannot be read is a mistake in the project: one line naming the result file and the key
(:class:`~galaxy_lib.results.ResultError`; from a template, with the template's file and line).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from galaxy_lib.config import from_dict, load_config, parse_overrides
from galaxy_lib.data.sample import BUILD_HINT
from galaxy_lib.errors import ConfigError, GalaxyLibError
from galaxy_lib.paths import display_path, resolve_path
from galaxy_lib.report import prose
from galaxy_lib.results import RESULTS_FOLDER, ResultError, Results, default_folder, load_results

__all__ = ["TEMPLATES", "TryIt", "compare_with_ours", "exercises", "try_it"]

TEMPLATES = Path(__file__).with_name("templates") / "try_it"
"""The exercises' templates, one folder per notebook (``[tool.setuptools.package-data]``)."""
SUFFIX = ".md.j2"
_UNMEASURED = re.compile("\0([^\0]+)\0")
"""A missing result's marker: its name between NUL characters, which no template or result holds."""


class TryIt(str):
    """Rendered Markdown: a string that a notebook displays as Markdown (``_repr_markdown_``)."""

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        return str(self)


class _Unmeasured(str):
    """What a template gets for a figure of a result file that is not there: a marker, replaced by
    words after rendering (:func:`_render`). Number filters show text as it is and arithmetic keeps
    it, so ``(r(a, x) / r(b, y)) | f(".1f")`` needs no test of its own for a missing file."""

    def _same(self, *_: Any) -> _Unmeasured:
        return self

    __truediv__ = __rtruediv__ = __mul__ = __rmul__ = _same


def exercises(templates: str | Path = TEMPLATES) -> dict[str, list[str]]:
    """Each notebook's exercise keys (its folder's template names), by notebook stem: what a
    ``compare_with_ours`` call may name. Listed when asked, never at import."""
    folders = sorted(path for path in Path(templates).iterdir() if path.is_dir())
    return {folder.name: sorted(path.name.removesuffix(SUFFIX) for path in folder.glob(f"*{SUFFIX}"))
            for folder in folders}


def compare_with_ours(notebook: str, key: str, folder: str | Path | None = None,
                      templates: str | Path = TEMPLATES) -> TryIt:
    """What exercise ``key`` of ``notebook`` (``"01_data"``, ``"crop180"``) did on the shared real
    sample, as Markdown, from the results in ``folder`` (default ``benchmarks/results``). An unknown
    notebook or key is a one-line :class:`~galaxy_lib.errors.ConfigError` naming the known ones."""
    keys = _keys(notebook, templates)
    if key not in keys:
        raise ConfigError(f"no exercise {key!r} for notebook {notebook!r} in {display_path(templates)}; "
                          f"known: {', '.join(keys)}")
    return _render(f"try_it/{notebook}/{key}{SUFFIX}", folder, templates, number=None, show_bar=True)


def try_it(notebook: str, folder: str | Path | None = None, templates: str | Path = TEMPLATES) -> TryIt:
    """Every stored comparison of ``notebook`` at once (an instructor's overview): the bar once,
    then each exercise as :func:`compare_with_ours` shows it. The notebooks do not call it."""
    return _render(f"try_it/notebook{SUFFIX}", folder, templates, notebook=notebook,
                   keys=_keys(notebook, templates))


def _keys(notebook: str, templates: str | Path) -> list[str]:
    known = exercises(templates)
    if notebook not in known:
        raise ConfigError(f"no stored comparisons for notebook {notebook!r} in {display_path(templates)}; "
                          f"known: {', '.join(known)}")
    return known[notebook]


def _render(name: str, folder: str | Path | None, templates: str | Path, **variables: Any) -> TryIt:
    """Render template ``name`` against the results in ``folder``. A figure of a missing result says
    why the first time it is shown and names the file after that (or everywhere, where the whole
    folder is absent: the no-results line said why); each paragraph is then one line."""
    folder = Path(folder) if folder is not None else default_folder()
    results = load_results(folder)

    def lookup(file: str, path: str | None = None) -> Any:
        """``r(file, path)``: as the engine's, but a missing file is a marker, not an error, and a
        path ending in ``?`` may be absent (``None``: a dash), as in a table column."""
        if file not in results:
            return _Unmeasured(f"\0{file}\0")
        if path is None or not path.endswith("?"):
            return results.lookup(file, path) if path else results[file]
        try:
            return results.lookup(file, path[:-1])
        except ResultError:
            return None

    helpers = {"r": lookup, "how_many": lambda value: value if isinstance(value, str) else len(value),
               "measured_with": lambda file, keys: _measured_with(results, file, keys)}
    text = prose.render(name, results, [Path(templates).parent], helpers, folder=display_path(folder),
                        folder_present=folder.is_dir(), results_folder=RESULTS_FOLDER.as_posix(),
                        build_hint=BUILD_HINT, **variables)
    said: set[str] = set()

    def say(match: re.Match[str]) -> str:
        file = match.group(1)
        if not folder.is_dir() or file in said:
            return f"[see `{file}.json`]"
        said.add(file)
        return f"[{results.reason(file)}]"

    blocks = re.split(r"\n[ \t]*\n", _UNMEASURED.sub(say, text).strip())
    joined = [block if block.startswith(("|", "- ", "```", "#")) else " ".join(block.split()) for block in blocks]
    return TryIt("\n\n".join(block for block in joined if block) + "\n")


def _measured_with(results: Results, name: str, keys: list[str]) -> str:
    """The parameters cell of bench_quality result ``name``: its parameters file and ``--set``
    overrides, its time budget and, of ``keys`` (the sample and split keys the benchmark always
    sets), those whose measured value differs from the parameters file's. A stored setup that cannot
    give them is a :class:`~galaxy_lib.results.ResultError`: an empty or partial change would read as
    the one that was measured."""
    if name not in results:
        return f"# the measured change is stored in {name}.json: {results.reason(name)}"
    record, shown = results[name].data, results[name].shown

    def fail(key: str, problem: str) -> ResultError:
        return ResultError(f"{shown}: {key}: {problem}; its \"command\" reproduces the measurement")

    setup = record.get("setup")
    if not isinstance(setup, dict):
        raise fail("setup", "missing or not a mapping, so the measured change is unknown")
    parameters_file = setup.get("parameters_file")
    if not isinstance(parameters_file, str) or not parameters_file:
        raise fail("setup.parameters_file", "missing or not a file name")
    stored = setup.get("overrides", [])
    if not isinstance(stored, list) or not all(isinstance(item, str) for item in stored):
        raise fail("setup.overrides", f"not a list of KEY=VALUE strings ({stored!r})")
    try:
        overrides = parse_overrides(stored)
        from_dict(overrides, source="its overrides")  # unknown keys and bad values, named
    except ConfigError as exc:
        raise fail("setup.overrides", str(exc)) from None
    measured = setup.get("config") if isinstance(setup.get("config"), dict) else {}
    try:
        own = load_config(resolve_path(parameters_file)).to_dict()
    except (GalaxyLibError, OSError):
        own = {}  # the parameters file is not here: name every sample key
    overrides |= {key: measured[key] for key in keys if key in measured and own.get(key) != measured[key]}
    minutes = setup.get("minutes")
    if isinstance(minutes, int | float) and not isinstance(minutes, bool):
        overrides["time_limit_minutes"] = int(minutes) if float(minutes).is_integer() else minutes
    items = [f"{json.dumps(key)}: {repr(value) if isinstance(value, bool) or value is None else json.dumps(value)}"
             for key, value in overrides.items()]
    one_line = "{" + ", ".join(items) + "}"
    literal = one_line if len(one_line) <= 90 else "{\n" + "".join(f"    {item},\n" for item in items) + "}"
    return f"config_file = {json.dumps(parameters_file)}\noverrides = {literal}"
