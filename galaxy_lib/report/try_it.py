"""The exercises' "compare with ours" cells: what a change did on real galaxies, shown after the student's run.

Each notebook ends with ``## Exercises``: a question, a prediction the student writes before running
anything, the change to make, then, only after the student's own run, a cell
``compare_with_ours("<notebook stem>", "<exercise key>")`` that shows what the same change did on
the shared real sample: the rows of that exercise (the change, and the seed-to-seed rows that say
how far two runs differ by chance on the same test galaxies) and the bar every model must clear
(the training-mean predictor), read from the stored benchmark results in
``<project root>/benchmarks/results/`` (:mod:`benchmarks.results_store` writes them; the README's
tables come from the same files). The figures are never the first thing a student reads: the
exercise's text asks, the student predicts and runs, and only then looks.

**Content is data.** The prose lives in ``try_it.yaml`` beside this module (shipped as package
data), keyed by notebook and exercise key (``exercises.01_data.crop180``); this module loads it,
checks it, fills its placeholders from the stored results and builds the tables. Every measured
figure the text shows (an RMSE, an interval, a number of galaxies, epochs or minutes, the ratio or
product of two of them) comes from a result file through a placeholder ``{{FILE:KEY.PATH|KIND}}``
or a table row's key path, with the file's name and the command that re-measures it. What the data
file types itself is only the settings a change makes (``crop 180``, ``width 1.5``) and definitions
of the task (424-pixel images, 37 answers, the 8 rotations and flips); ``tests/test_try_it.py``
checks that no other number is typed.

**Missing and wrong are told apart.** A result file that is missing or unreadable (a copy of the
package without the repository, or a result not measured yet) is said in so many words where its
figures would be, instead of failing the notebook: that is a normal state of a checkout. A data
file that is malformed, a placeholder that names an unknown text or kind, a stored result that
lacks a key the text cites, or a stored change whose overrides cannot be read is a mistake in the
project itself, so it is a one-line :class:`TryItError` naming the file and the key, never a
silently emptied sentence or change.

The "measured with" parameters cell of a ``bench_quality`` result is derived from the file too: its
parameters file, its ``--set`` overrides, its time budget and, where the benchmark replaced the
parameters file's data or split keys (it always scores on the shared sample's unbiased test
galaxies), those values; so the change shown is the one that was measured.

:func:`try_it` renders every exercise of a notebook at once (for an instructor, or a notebook not yet
turned into exercises); the notebooks call :func:`compare_with_ours`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from galaxy_lib.config import parse_overrides
from galaxy_lib.data.sample import BUILD_HINT
from galaxy_lib.errors import ConfigError, GalaxyLibError
from galaxy_lib.paths import display_path, project_root

__all__ = ["DATA_FILE", "EXERCISES", "TryIt", "TryItError", "compare_with_ours", "load_content", "results_dir",
           "try_it"]

DATA_FILE = Path(__file__).with_name("try_it.yaml")
"""The exercises' stored comparisons, shipped inside the package (``[tool.setuptools.package-data]``)."""
RESULTS_FOLDER = Path("benchmarks") / "results"
"""Where the stored results are, relative to the project root."""
BASELINES_FILE = "baselines-sample"
"""The baselines on the shared sample's test galaxies: the bar every change must clear."""
SAMPLE_KEYS = ("data", "max_images", "test_pool_file", "test_pool_subset", "test_fraction", "val_fraction")
"""Keys ``bench_quality`` sets whatever the parameters file says (the shared sample and its split)."""
CODE_VALUES = ("build_hint", "results_folder", "folder", "reason")
"""Placeholder names the code fills (not texts of the data file): the sample's build command, the
results folder, and in ``messages`` the absent folder and a missing file's reason."""
KEY_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9.]+)*")
"""An exercise key: lower-case words joined by hyphens (``crop180``, ``extra-block``), as typed in a
notebook's ``compare_with_ours`` call."""

Path_ = tuple[str | int, ...]
"""Keys into a result file's JSON, from its top (``("figures", "test_rmse")``); ints index lists."""

_FORMATS: dict[str, Callable[[float], str]] = {
    "rmse": lambda v: f"{v:.4f}",
    "count": lambda v: f"{int(v):,}",
    "minutes": lambda v: f"{v:.1f}",
    "number": lambda v: f"{v:g}",
    "times": lambda v: f"{v:.1f}",
    "hours": lambda v: f"{v / 60:.1f}",
    "length": lambda v: f"{int(v):,}",
}
"""How a placeholder's ``|KIND`` shows its value."""
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_ROW_KEYS = {"label", "file", "rmse", "low", "high", "sd", "train", "epochs", "minutes"}
_EXERCISE_KEYS = {"title", "tests", "rows", "change", "note", "notes_from"}
_MESSAGES = ("bar", "bar_missing", "no_results")


class TryItError(ConfigError):
    """The exercises' data file, a placeholder or a stored result it cites is wrong: one line naming
    the file and the key."""


@dataclass(frozen=True)
class Figure:
    """One row of an exercise's table: a measured RMSE and what it was measured with."""

    label: str  # may hold placeholders
    file: str  # result name, without .json
    rmse: Path_ = ("figures", "test_rmse")
    low: Path_ | None = None  # an interval around the RMSE, where the file has one
    high: Path_ | None = None
    sd: Path_ | None = None  # a seed-to-seed standard deviation of the RMSE, where the file has one
    train: Path_ | None = ("setup", "split", "train")  # None: not applicable (a dash)
    epochs: Path_ | None = ("figures", "epochs")
    minutes: Path_ | None = ("figures", "training_minutes")


@dataclass(frozen=True)
class Suggestion:
    """One exercise's stored comparison: the change, what it tests, and the rows that measured it."""

    title: str
    tests: str
    figures: tuple[Figure, ...]
    change: str = ""  # the parameters-cell lines; "" = derived from the first figure's bench_quality file
    note: str = ""  # a caveat shown under the table
    notes_from: tuple[tuple[str, Path_], ...] = field(default_factory=tuple)  # (file, key) of a stored sentence


Section = dict[str, Suggestion]
"""One notebook's exercises with stored comparisons, by exercise key, in the data file's order."""


@dataclass(frozen=True)
class Content:
    """The data file, checked: every notebook's exercises, the shared texts and the fixed messages."""

    path: Path
    sections: dict[str, Section]
    texts: dict[str, str]
    messages: dict[str, str]


# --- the data file ------------------------------------------------------------------------------------------


def key_path(text: str) -> Path_:
    """``"figures.sizes.-1.test RMSE"`` -> ``("figures", "sizes", -1, "test RMSE")``: dot-separated
    keys, an integer (negative from the end) indexing a list."""
    return tuple(int(part) if re.fullmatch(r"-?\d+", part) else part for part in text.split("."))


def load_content(path: str | Path = DATA_FILE) -> Content:
    """Read and check the data file; anything malformed is a :class:`TryItError` naming the file and
    the key (``exercises.02_train.paper-config.rows[0].file``), so a typo fails here, in one line,
    rather than as a half-rendered table in a notebook."""
    path = Path(path)
    shown = display_path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TryItError(f"{shown}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise TryItError(f"{shown}: not valid YAML{where} ({problem})") from None

    def fail(key: str, problem: str) -> TryItError:
        return TryItError(f"{shown}: {key}: {problem}")

    def mapping(value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(key, f"must be a mapping, not {type(value).__name__}")
        return value

    def text(value: Any, key: str, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise fail(key, "must be a non-empty string")
        return value.strip()

    def known_keys(value: dict[str, Any], allowed: set[str], key: str) -> None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise fail(key, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")

    top = mapping(raw, "the top level")
    known_keys(top, {"texts", "messages", "rows", "exercises"}, "the top level")
    texts = {name: text(value, f"texts.{name}") for name, value in mapping(top.get("texts") or {}, "texts").items()}
    messages = {name: text(value, f"messages.{name}")
                for name, value in mapping(top.get("messages"), "messages").items()}
    missing = [name for name in _MESSAGES if name not in messages]
    if missing:
        raise fail("messages", f"lacks {', '.join(missing)}")

    def path_of(value: Any, key: str) -> Path_ | None:
        if value is None:
            return None
        return key_path(text(value, key))

    def row(value: Any, key: str) -> Figure:
        if isinstance(value, str):
            if value not in named:
                raise fail(key, f"no row named {value!r} in rows (known: {', '.join(named) or 'none'})")
            return named[value]
        value = mapping(value, key)
        known_keys(value, _ROW_KEYS, key)
        options = {name: path_of(value[name], f"{key}.{name}") for name in _ROW_KEYS - {"label", "file"}
                   if name in value}
        if "rmse" in options and options["rmse"] is None:
            raise fail(f"{key}.rmse", "must be a key path (every row shows an RMSE)")
        return Figure(text(value.get("label"), f"{key}.label"), text(value.get("file"), f"{key}.file"), **options)

    named: dict[str, Figure] = {}
    for name, value in mapping(top.get("rows") or {}, "rows").items():
        named[name] = row(value, f"rows.{name}")

    sections: dict[str, Section] = {}
    for notebook, value in mapping(top.get("exercises"), "exercises").items():
        where = f"exercises.{notebook}"
        value = mapping(value, where)
        if not value:
            raise fail(where, "must name at least one exercise")
        section: Section = {}
        for exercise, item in value.items():
            key = f"{where}.{exercise}"
            if not isinstance(exercise, str) or not KEY_PATTERN.fullmatch(exercise):
                raise fail(key, "an exercise key is lower-case words joined by hyphens (e.g. extra-block)")
            item = mapping(item, key)
            known_keys(item, _EXERCISE_KEYS, key)
            rows = item.get("rows")
            if not isinstance(rows, list) or not rows:
                raise fail(f"{key}.rows", "must be a non-empty list")
            notes = []
            for index, note in enumerate(item.get("notes_from") or []):
                note = mapping(note, f"{key}.notes_from[{index}]")
                notes.append((text(note.get("file"), f"{key}.notes_from[{index}].file"),
                              key_path(text(note.get("key"), f"{key}.notes_from[{index}].key"))))
            section[exercise] = Suggestion(
                title=text(item.get("title"), f"{key}.title"), tests=text(item.get("tests"), f"{key}.tests"),
                figures=tuple(row(r, f"{key}.rows[{index}]") for index, r in enumerate(rows)),
                change=text(item.get("change"), f"{key}.change", required=False),
                note=text(item.get("note"), f"{key}.note", required=False), notes_from=tuple(notes))
        sections[str(notebook)] = section

    content = Content(path, sections, texts, messages)
    for key, template in _templates(content):
        for body in _PLACEHOLDER.findall(template):
            try:
                _parse(body, texts)
            except ValueError as exc:
                raise fail(key, f"placeholder {{{{{body.strip()}}}}}: {exc}") from None
    return content


def _templates(content: Content) -> list[tuple[str, str]]:
    """Every text that may hold placeholders, with its key in the data file."""
    found = [(f"texts.{name}", value) for name, value in content.texts.items()]
    found += [(f"messages.{name}", value) for name, value in content.messages.items()]
    for notebook, section in content.sections.items():
        for exercise, suggestion in section.items():
            key = f"exercises.{notebook}.{exercise}"
            found += [(f"{key}.{name}", getattr(suggestion, name)) for name in ("title", "tests", "note")]
            found += [(f"{key}.rows[{index}].label", figure.label) for index, figure in enumerate(suggestion.figures)]
    return found


@dataclass(frozen=True)
class _Ref:
    """One stored value a placeholder cites."""

    file: str
    path: Path_

    def __str__(self) -> str:
        return f"{self.file}:{'.'.join(map(str, self.path))}"


@dataclass(frozen=True)
class _Placeholder:
    """A parsed ``{{...}}``: a name, or one stored value (two, with ``/`` or ``*``) and its kind."""

    name: str = ""
    refs: tuple[_Ref, ...] = ()
    operator: str = ""
    kind: str = ""


def _parse(body: str, texts: Mapping[str, str]) -> _Placeholder:
    """Parse a placeholder's body; ``ValueError`` says what is wrong with it."""
    body = " ".join(body.split())  # a placeholder folded over two YAML lines reads as one
    if ":" not in body and "|" not in body:
        if body in texts or body in CODE_VALUES:
            return _Placeholder(name=body)
        raise ValueError(f"no text named {body!r} (texts: {', '.join(texts) or 'none'}; "
                         f"from the code: {', '.join(CODE_VALUES)})")
    expression, bar, kind = body.rpartition("|")
    if not bar or kind.strip() not in _FORMATS:
        raise ValueError(f"needs a |KIND, one of {', '.join(_FORMATS)}")
    operator = next((op for op in ("/", "*") if f" {op} " in expression), "")
    parts = expression.split(f" {operator} ") if operator else [expression]
    refs = []
    for part in parts:
        file, colon, keys = part.strip().partition(":")
        if not colon or not file or not keys:
            raise ValueError(f"{part.strip()!r} is not FILE:KEY.PATH")
        refs.append(_Ref(file, key_path(keys)))
    return _Placeholder(refs=tuple(refs), operator=operator, kind=kind.strip())


_CONTENT = load_content()
EXERCISES: dict[str, Section] = _CONTENT.sections
"""Each notebook's exercises with stored comparisons, by the notebook's file name without ``.ipynb``
and the exercise key (from :data:`DATA_FILE`)."""


# --- rendering ----------------------------------------------------------------------------------------------


class TryIt(str):
    """Rendered Markdown: a string that a notebook displays as Markdown (``_repr_markdown_``)."""

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        return str(self)


def results_dir() -> Path:
    """``benchmarks/results`` of the project (:func:`galaxy_lib.paths.project_root`)."""
    return project_root() / RESULTS_FOLDER


def _section(content: Content, notebook: str) -> Section:
    if notebook not in content.sections:
        raise ConfigError(f"no stored comparisons for notebook {notebook!r} in {display_path(content.path)}; "
                          f"known: {', '.join(content.sections)}")
    return content.sections[notebook]


def compare_with_ours(notebook: str, key: str, folder: str | Path | None = None,
                      data_file: str | Path | None = None) -> TryIt:
    """What exercise ``key`` of ``notebook`` (``"01_data"``, ``"crop180"``) did on the shared real
    sample, as Markdown: its table (the change and the seed-to-seed rows, each with its result file),
    the stored notes, the bar every model must clear (the training-mean predictor on the same test
    galaxies), the parameters cell it was measured with and the commands that re-measure it. Figures
    are read from ``folder`` (default :func:`results_dir`), the prose from ``data_file`` (default
    :data:`DATA_FILE`). A notebook or key that is not in the data file is a one-line
    :class:`~galaxy_lib.errors.ConfigError` naming the known ones."""
    content = load_content(data_file) if data_file is not None else _CONTENT
    section = _section(content, notebook)
    if key not in section:
        raise ConfigError(f"no exercise {key!r} for notebook {notebook!r} in {display_path(content.path)}; "
                          f"known: {', '.join(section)}")
    folder = Path(folder) if folder is not None else results_dir()
    render = _Renderer(content, _Store(folder), f"exercises.{notebook}.{key}")
    return TryIt("\n".join(render.exercise(section[key])).rstrip() + "\n")


def try_it(notebook: str, folder: str | Path | None = None, data_file: str | Path | None = None) -> TryIt:
    """Every stored comparison of ``notebook`` at once, as Markdown (for an instructor's overview):
    the bar once, then each exercise as :func:`compare_with_ours` shows it. The notebooks do not
    call it: they show one exercise's figures after the student's own run."""
    content = load_content(data_file) if data_file is not None else _CONTENT
    section = _section(content, notebook)
    folder = Path(folder) if folder is not None else results_dir()
    render = _Renderer(content, _Store(folder), f"exercises.{notebook}")
    lines = [render.bar() if folder.is_dir() else render.no_results(), ""]
    for number, suggestion in enumerate(section.values(), 1):
        lines += render.exercise(suggestion, number=number, bar=False)
    return TryIt("\n".join(lines).rstrip() + "\n")


class _Store:
    """The result files, read once each; a missing or unreadable file is remembered with its reason."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, dict[str, Any] | str] = {}

    def get(self, name: str) -> dict[str, Any] | str:
        """The record, or a one-line reason why there is none."""
        if name not in self._cache:
            path = self.folder / f"{name}.json"
            try:
                record = json.loads(path.read_text())
                self._cache[name] = record if isinstance(record, dict) else f"`{name}.json` is not a result record"
            except FileNotFoundError:
                self._cache[name] = f"not measured yet: `{name}.json` is not in `{_shown(self.folder)}`"
            except (OSError, ValueError) as exc:
                self._cache[name] = f"`{name}.json` could not be read ({type(exc).__name__})"
        return self._cache[name]

    def shown(self, name: str) -> str:
        return f"{_shown(self.folder)}/{name}.json"


class _MissingResult(Exception):
    """A cited result file is missing or unreadable (its reason): said in words, not an error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _lookup(record: dict[str, Any], path: Path_ | None) -> Any:
    if path is None:
        return None
    value: Any = record
    for key in path:
        in_list = isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value)
        if not (in_list or (isinstance(key, str) and isinstance(value, dict) and key in value)):
            return None
        value = value[key]
    return value


def _shown(folder: Path) -> str:
    try:
        return folder.resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return str(folder)


def _fmt(value: Any, kind: str) -> str:
    if isinstance(value, bool) or value is None:
        return "–"
    if isinstance(value, str):
        return value
    if not isinstance(value, int | float):
        return "–"
    if kind == "rmse":
        return f"{value:.4f}"
    if kind == "count":
        return f"{int(value):,}"
    return f"{value:.1f}" if kind == "minutes" else f"{value:g}"


class _Renderer:
    """Fills one section's templates from the store; ``where`` names the section in errors."""

    def __init__(self, content: Content, store: _Store, where: str) -> None:
        self.content, self.store, self.where = content, store, where
        self.said: set[str] = set()  # missing files the prose has said why of (once a section is enough)

    # placeholders

    def fill(self, template: str, strict: bool = False, **values: str) -> str:
        """``template`` with its placeholders filled. A cited file that is missing is said inline
        (``[not measured yet: ...]`` the first time in the section, then ``[see FILE.json]``, as where
        the whole folder is absent, which the section's first line says), or with ``strict`` raised
        as :class:`_MissingResult` for the caller to say otherwise; a cited key that the file lacks
        is a :class:`TryItError`: the data file and the results disagree, which no reader can fix."""
        code = {"build_hint": BUILD_HINT, "results_folder": RESULTS_FOLDER.as_posix()} | values

        def one(match: re.Match[str]) -> str:
            placeholder = _parse(match.group(1), self.content.texts)
            if placeholder.name:
                if placeholder.name in self.content.texts:
                    return self.fill(self.content.texts[placeholder.name], strict, **values)
                return code[placeholder.name]
            numbers = []
            for ref in placeholder.refs:
                record = self.store.get(ref.file)
                if isinstance(record, str):
                    if strict:
                        raise _MissingResult(record)
                    if not self.store.folder.is_dir() or ref.file in self.said:  # said already: name it only
                        return f"[see `{ref.file}.json`]"
                    self.said.add(ref.file)
                    return f"[{record}]"
                numbers.append(self._number(record, ref, placeholder.kind))
            if placeholder.operator == "/":
                if numbers[1] == 0:
                    raise TryItError(f"{self.store.shown(placeholder.refs[1].file)}: {placeholder.refs[1]}: is 0, "
                                     f"cannot divide by it (cited by {display_path(self.content.path)}, {self.where})")
                value = numbers[0] / numbers[1]
            elif placeholder.operator == "*":
                value = numbers[0] * numbers[1]
            else:
                value = numbers[0]
            return _FORMATS[placeholder.kind](value)

        return _PLACEHOLDER.sub(one, template)

    def _number(self, record: dict[str, Any], ref: _Ref, kind: str) -> float:
        value = _lookup(record, ref.path)
        if kind == "length" and isinstance(value, list):
            return len(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            found = "no such key" if value is None else f"{type(value).__name__} {value!r}, not a number"
            raise TryItError(f"{self.store.shown(ref.file)}: {'.'.join(map(str, ref.path))}: {found} (cited by "
                             f"{display_path(self.content.path)}, {self.where})")
        return float(value)

    # the section's parts

    def no_results(self) -> str:
        return self.fill(self.content.messages["no_results"], folder=_shown(self.store.folder))

    def bar(self) -> str:
        try:
            return self.fill(self.content.messages["bar"], strict=True)
        except _MissingResult as missing:
            return self.fill(self.content.messages["bar_missing"], reason=missing.reason)

    def exercise(self, suggestion: Suggestion, number: int | None = None, bar: bool = True) -> list[str]:
        """One exercise's stored comparison: its title (``### N.`` with a ``number``), what it tests,
        its table, notes, the bar (with ``bar``), the parameters cell it was measured with and the
        commands that re-measure it. Without a results folder: one line saying so instead of the
        table and the bar."""
        title = self.fill(suggestion.title)
        lines = [f"### {number}. {title}" if number is not None else f"**Ours, on the real sample: {title}**", "",
                 f"**What it tests:** {self.fill(suggestion.tests)}", ""]
        if not self.store.folder.is_dir():  # an installed package without the repository: no figures
            said = [self.no_results(), ""] if bar else []  # without the bar, the caller said it once
            return [*lines, *said, *self.change(suggestion), ""]
        lines += ["| | RMSE | training galaxies | epochs | training minutes | result file |",
                  "|---|---|---|---|---|---|"]
        commands: dict[str, str] = {}
        missing: set[str] = set()
        for figure in suggestion.figures:
            record = self.store.get(figure.file)
            if isinstance(record, str):  # one row per missing file, however many rows it would give
                if figure.file not in missing:
                    lines.append(f"| *not available* | {record} | | | | `{figure.file}.json` |")
                missing.add(figure.file)
                continue
            rmse = _fmt(_lookup(record, figure.rmse), "rmse")
            if figure.low and figure.high and rmse != "–":
                rmse += f" ({_fmt(_lookup(record, figure.low), 'rmse')}-{_fmt(_lookup(record, figure.high), 'rmse')})"
            if figure.sd and rmse != "–" and _lookup(record, figure.sd) is not None:
                rmse += f" ± {_fmt(_lookup(record, figure.sd), 'rmse')} (sd)"
            lines.append(f"| {self.fill(figure.label)} | {rmse} | {_fmt(_lookup(record, figure.train), 'count')} | "
                         f"{_fmt(_lookup(record, figure.epochs), 'epochs')} | "
                         f"{_fmt(_lookup(record, figure.minutes), 'minutes')} | `{figure.file}.json` |")
            if isinstance(record.get("command"), str):
                commands.setdefault(figure.file, record["command"])
        lines.append("")
        for file, path in suggestion.notes_from:
            record = self.store.get(file)
            sentence = _lookup(record, path) if isinstance(record, dict) else None
            if isinstance(sentence, str) and sentence:
                lines += [f"{sentence} (`{file}.json`)", ""]
        if suggestion.note:
            lines += [self.fill(suggestion.note), ""]
        if bar:
            lines += [self.bar(), ""]
        lines += [*self.change(suggestion), ""]
        if commands:
            lines += ["Re-measured by (from the project root):", ""]
            lines += [f"- `{command}`" for command in commands.values()]
            lines.append("")
        return lines

    def change(self, suggestion: Suggestion) -> list[str]:
        """The parameters-cell lines it was measured with: the exercise's own, or derived from its
        first result file."""
        code = suggestion.change or _derived_change(suggestion, self.store)
        return ["**Measured with, in the parameters cell:**", "", "```python", code, "```"]


def _derived_change(suggestion: Suggestion, store: _Store) -> str:
    """The measured change: config file and overrides as ``bench_quality`` stored them. A stored
    setup that cannot give them (no parameters file, overrides that are not ``KEY=VALUE`` strings
    or name unknown keys) is a :class:`TryItError`: an empty or partial change would read as the one
    that was measured."""
    from galaxy_lib.config import from_dict

    name = suggestion.figures[0].file
    record = store.get(name)
    if isinstance(record, str):
        return f"# the measured change is stored in {name}.json: {record}"

    def fail(key: str, problem: str) -> TryItError:
        return TryItError(f"{store.shown(name)}: {key}: {problem}; its \"command\" reproduces the measurement")

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
    overrides |= _sample_keys(parameters_file, setup.get("config") if isinstance(setup.get("config"), dict) else {})
    minutes = setup.get("minutes")
    if isinstance(minutes, int | float) and not isinstance(minutes, bool):
        overrides["time_limit_minutes"] = int(minutes) if float(minutes).is_integer() else minutes
    return f"config_file = {json.dumps(parameters_file)}\noverrides = {_dict_literal(overrides)}"


def _sample_keys(parameters_file: str, measured: dict[str, Any]) -> dict[str, Any]:
    """The data and split keys the benchmark set where the parameters file says otherwise (all of
    them when the file cannot be read)."""
    from galaxy_lib.config import load_config
    from galaxy_lib.paths import resolve_path

    wanted = {key: measured[key] for key in SAMPLE_KEYS if key in measured}
    try:
        own = load_config(resolve_path(parameters_file)).to_dict() if parameters_file else {}
    except (GalaxyLibError, OSError):
        return wanted
    return {key: value for key, value in wanted.items() if own.get(key) != value}


def _dict_literal(values: dict[str, Any]) -> str:
    """A Python dict literal, one key a line when it is long."""
    items = [f"{json.dumps(key)}: {_literal(value)}" for key, value in values.items()]
    one_line = "{" + ", ".join(items) + "}"
    return one_line if len(one_line) <= 90 else "{\n" + "".join(f"    {item},\n" for item in items) + "}"


def _literal(value: Any) -> str:
    return repr(value) if isinstance(value, bool) or value is None else json.dumps(value)
