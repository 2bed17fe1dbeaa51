"""The one reader of stored benchmark results (``benchmarks/results/*.json``).

Every figure the docs and the notebooks' "compare with ours" cells show comes from a result file
that ``benchmarks/results_store.py`` wrote (it keeps writing them; it reads through this module).
Reading lives in the package, not in ``benchmarks/``, because the report stage renders stored
figures too, and two readers would drift on what "missing", "backfilled" or "the same machine"
mean. A file holds::

    schema      1
    name        file name without .json, e.g. "quality-improved" (<benchmark>-<label>)
    benchmark   the script, e.g. "bench_quality"
    command     the exact command line, relative to the project root
    date        UTC date of the measurement (YYYY-MM-DD)
    machine     CPU model, cores, load average, platform, versions, git commit (and, on files
                measured since issue 30, ``model_img_s``: the model-alone speed at the start)
    setup       what was measured
    figures     what came out
    provenance  "measured by the command above", or how the file came to exist otherwise

API (what the templates of :mod:`galaxy_lib.report.prose` build on):

- :func:`load_results` ``(folder)`` -> :class:`Results`: every file of a folder, validated; a
  malformed file is a one-line :class:`ResultError` naming it. A folder that does not exist gives
  an empty :class:`Results` (nothing measured there yet is a normal state).
- :class:`Results` (a mapping name -> :class:`Result`): ``results.get(name)``,
  ``results.require(name)`` (raises :class:`MissingResult` with a reason), ``results.reason(name)``
  (why a name is missing, or ``None``), ``results.lookup(name, "figures.test_rmse")``,
  ``results.named(prefix)`` (sorted by name). Assigning a plain dict (``results[name] = {...}``)
  wraps it, so tests can plant a changed figure.
- :class:`Result` (a mapping over the file's keys, with ``.name``, ``.command``, ``.date``,
  ``.machine``, ``.setup``, ``.figures``, ``.provenance``): ``result.lookup("figures.test.training
  mean.rmse")`` (dots separate keys; an integer indexes a list, ``-1`` the last),
  ``result.backfilled``, ``result.cpu`` (``"AMD EPYC, 2 cores"``), ``result.host`` (CPU model,
  platform string and model-alone speed, each or ``"not recorded"``), ``result.load``,
  ``result.same_host(other)``.
- :func:`same_host` ``(*results)``: figures go into one ratio or comparison only when this holds
  (same CPU model and platform string; model-alone speeds within :data:`SAME_HOST_RATIO` where both
  recorded one).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from galaxy_lib.errors import GalaxyLibError
from galaxy_lib.paths import display_path, project_root

__all__ = [
    "KEYS", "MEASURED", "NAME", "NOT_RECORDED", "RESULTS_FOLDER", "SAME_HOST_RATIO", "MissingResult", "Result",
    "ResultError", "Results", "default_folder", "dig", "load_results", "same_host",
]

RESULTS_FOLDER = Path("benchmarks") / "results"
"""Where the stored results are, relative to the project root."""
SCHEMA = 1
KEYS = ("schema", "name", "benchmark", "command", "date", "machine", "setup", "figures", "provenance")
MEASURED = "measured by the command above"
"""The provenance of a file its own command wrote; anything starting with "backfilled" was copied
from an older README before results were stored."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")
"""A result name (and a file-name-safe label): letters, digits and ``._=+-``, not starting with a
punctuation mark. ``results_store.write_result`` and ``bench_epoch``'s variant names use it."""
NOT_RECORDED = "not recorded"
SAME_HOST_RATIO = 1.5
"""Model-alone speeds further apart than this are two hosts even under one CPU name and platform
string (bench_epoch's model-alone speed varied 1.43x on one host, so a smaller gap is noise)."""


class ResultError(GalaxyLibError, ValueError):
    """A stored result is malformed (not JSON, a key missing, its name not its file's, a key path
    that a template cites and the file lacks): a mistake in the project, said in one line naming
    the file."""


class MissingResult(GalaxyLibError, LookupError):
    """A result file that does not exist (not measured yet, or a copy of the package without the
    repository): a normal state, so it carries a ``reason`` to show in its place."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def default_folder() -> Path:
    """``benchmarks/results`` of the project (:func:`galaxy_lib.paths.project_root`)."""
    return project_root() / RESULTS_FOLDER


def dig(value: Any, path: str | Sequence[str | int], where: str = "value") -> Any:
    """``value`` followed along ``path``: ``"figures.test.training mean.rmse"`` or a list of keys.

    A dot separates keys (pass a list for a key that holds a dot); on a list (or tuple), a key that
    reads as an integer indexes it (``-1`` the last). Raises :class:`ResultError` naming ``where`` and the
    part that is not there, with the keys that are, so a misspelt path in a template is found at
    once."""
    keys: Sequence[str | int] = path.split(".") if isinstance(path, str) else path
    current = value
    for depth, key in enumerate(keys):
        if isinstance(current, Result):
            current = current.data
        if isinstance(current, list | tuple) and re.fullmatch(r"-?\d+", str(key)):
            index = int(key)
            if -len(current) <= index < len(current):
                current = current[index]
                continue
        elif isinstance(current, Mapping) and key in current:
            current = current[key]
            continue
        so_far = ".".join(str(k) for k in keys[:depth]) or "the top"
        has = (f"{len(current)} items" if isinstance(current, list | tuple) else
               "keys " + ", ".join(map(str, current)) if isinstance(current, Mapping) and current else
               "no keys" if isinstance(current, Mapping) else f"a {type(current).__name__}")
        raise ResultError(f"{where}: no {'.'.join(map(str, keys))} ({so_far} has {has})")
    return current


class Result(Mapping[str, Any]):
    """One stored result: the file's keys as a read-only mapping, plus what every renderer asks
    of it (lookup by key path, provenance, the machine it ran on)."""

    def __init__(self, data: dict[str, Any], path: Path | None = None) -> None:
        self.data = data
        self.path = path

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Result({self.name!r})"

    @property
    def name(self) -> str:
        return str(self.data.get("name", self.path.stem if self.path else "?"))

    @property
    def shown(self) -> str:
        """The file as the docs name it: ``benchmarks/results/NAME.json`` (or its display path)."""
        return display_path(self.path) if self.path else f"{RESULTS_FOLDER.as_posix()}/{self.name}.json"

    command = property(lambda self: self.data["command"], doc="The command that re-measures it.")
    date = property(lambda self: self.data["date"], doc="UTC date of the measurement.")
    machine = property(lambda self: self.data.get("machine", {}), doc="Where it ran (a dict).")
    setup = property(lambda self: self.data["setup"], doc="What was measured (a dict).")
    figures = property(lambda self: self.data["figures"], doc="What came out (a dict).")
    provenance = property(lambda self: str(self.data.get("provenance", "")), doc="How the file came to be.")

    def lookup(self, path: str | Sequence[str | int]) -> Any:
        """The value at ``path`` (:func:`dig`); a missing key is a :class:`ResultError` naming the file."""
        return dig(self.data, path, f"{self.name}.json")

    @property
    def backfilled(self) -> bool:
        """Whether the file was copied from an older README (its ``provenance`` says so) rather
        than written by its command. Read from the file itself, never from a list of names, so a
        re-measured file loses its mark by itself."""
        return self.provenance.startswith("backfilled")

    @property
    def load(self) -> float | None:
        """The 1-minute load average stored with the result, or ``None`` (backfilled files state none)."""
        value = self.machine.get("load_average")
        return float(value) if isinstance(value, int | float) else None

    @property
    def cpu(self) -> str:
        """The machine as a table names it: ``AMD EPYC, 2 cores, kernel 6.18.44-fc-v1300, model alone
        503 img/s`` (the kernel and the model-alone speed where recorded), or ``not recorded
        (backfilled)``. Why more than the family name: hosts sold as one "AMD EPYC" ran the same
        epoch 1.6x apart (issue 30), so a reader comparing two rows must see whether one host ran both."""
        model, cores = self.machine.get("cpu_model"), self.machine.get("cores")
        if not model:
            return NOT_RECORDED + (" (backfilled)" if self.backfilled else "")
        parts = [f"{model}, {cores} cores" if cores else str(model)]
        if self.kernel:
            parts.append(f"kernel {self.kernel}")
        speed = self.machine.get("model_img_s")
        if isinstance(speed, int | float):
            parts.append(f"model alone {speed:,.0f} img/s")
        return ", ".join(parts)

    @property
    def kernel(self) -> str:
        """The kernel release of the platform string (``6.18.44-fc-v1300`` of
        ``Linux-6.18.44-fc-v1300-x86_64-with-glibc2.36``), or ``""`` where none is recorded."""
        platform = str(self.machine.get("platform") or "")
        match = re.match(r"[A-Za-z]+-(.+?)-(?:x86_64|aarch64|arm64|i[3-6]86)(?:-|$)", platform)
        return match[1] if match else ""

    @property
    def platform(self) -> str:
        """The platform string (kernel build and C library): it tells apart hosts that share a CPU
        family name (issue 30 measured two such hosts 1.6x apart)."""
        return str(self.machine.get("platform") or NOT_RECORDED)

    @property
    def model_speed(self) -> str:
        """The model-alone speed measured at the benchmark's start (``machine.model_img_s``), e.g.
        ``863 img/s``, or ``not recorded`` (files measured before issue 30 lack it)."""
        speed = self.machine.get("model_img_s")
        return f"{speed:,.0f} img/s" if isinstance(speed, int | float) else NOT_RECORDED

    @property
    def host(self) -> str:
        """The machine in full, for a line that has room: the :attr:`cpu` text, then the whole platform
        string (``AMD EPYC, 2 cores, kernel 6.18...; platform Linux-6.18...``)."""
        return f"{self.cpu}; platform {self.platform}"

    def same_host(self, *others: Result) -> bool:
        """Whether ``others`` ran on this host (:func:`same_host`)."""
        return same_host(self, *others)


def same_host(*results: Result) -> bool:
    """Whether every result names the same, recorded CPU model and platform string and, where each
    recorded one, a model-alone speed within :data:`SAME_HOST_RATIO` of the others. Figures of two
    hosts are never put into one ratio: machines sold under one CPU family name can run at very
    different speeds (issue 30 measured 1.6x between two), and an unrecorded machine is another
    machine as far as a comparison is concerned."""
    hosts = {(r.machine.get("cpu_model"), r.machine.get("platform")) for r in results}
    if len(hosts) != 1 or None in next(iter(hosts)):
        return False
    speeds = [r.machine["model_img_s"] for r in results if isinstance(r.machine.get("model_img_s"), int | float)]
    return len(speeds) < len(results) or min(speeds) <= 0 or max(speeds) <= SAME_HOST_RATIO * min(speeds)


class Results(MutableMapping[str, Result]):
    """The stored results of one folder by name, read once; a name not there has a reason."""

    def __init__(self, records: Mapping[str, Result | dict[str, Any]] | None = None,
                 folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else default_folder()
        self._records: dict[str, Result] = {}
        for name, record in (records or {}).items():
            self[name] = record

    def __getitem__(self, name: str) -> Result:
        return self._records[name]

    def __setitem__(self, name: str, record: Result | dict[str, Any]) -> None:
        self._records[name] = record if isinstance(record, Result) else Result(record, self.folder / f"{name}.json")

    def __delitem__(self, name: str) -> None:
        del self._records[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def reason(self, name: str) -> str | None:
        """Why ``name`` has no result (``not measured yet: ...``), or ``None`` when it has one."""
        if name in self._records:
            return None
        return f"not measured yet: `{name}.json` is not in `{display_path(self.folder)}`"

    def require(self, name: str) -> Result:
        """The result ``name``; a missing one raises :class:`MissingResult` with its reason."""
        reason = self.reason(name)
        if reason is not None:
            raise MissingResult(reason)
        return self._records[name]

    def lookup(self, name: str, path: str | Sequence[str | int]) -> Any:
        """The value at ``path`` in result ``name`` (missing file: :class:`MissingResult`)."""
        return self.require(name).lookup(path)

    def named(self, prefix: str = "") -> list[Result]:
        """The results whose name starts with ``prefix``, sorted by name."""
        return [self._records[name] for name in sorted(self._records) if name.startswith(prefix)]


def _read(path: Path) -> Result:
    """One file, validated: one-line :class:`ResultError` naming it when it is not a result."""
    shown = display_path(path)
    try:
        record = json.loads(path.read_text())
    except ValueError as exc:
        raise ResultError(f"{shown}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ResultError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(record, dict):
        raise ResultError(f"{shown}: not a result record (a JSON {type(record).__name__})")
    missing = [key for key in KEYS if key not in record]
    if missing:
        raise ResultError(f"{shown}: missing key(s) {', '.join(missing)}")
    if record["name"] != path.stem:
        raise ResultError(f"{shown}: name {record['name']!r} differs from the file name")
    return Result(record, path)


def load_results(folder: str | os.PathLike[str] | None = None, names: Iterable[str] | None = None) -> Results:
    """Every stored result of ``folder`` (default :func:`default_folder`), or only ``names``.

    A folder that does not exist holds nothing yet (each name then has its reason); a file that
    exists but is malformed raises :class:`ResultError`: a missing result is a state of the
    checkout, a broken one is a mistake to fix."""
    root = Path(folder) if folder is not None else default_folder()
    paths = sorted(root.glob("*.json")) if names is None else [root / f"{n}.json" for n in names]
    return Results({path.stem: _read(path) for path in paths if path.is_file()}, folder=root)
