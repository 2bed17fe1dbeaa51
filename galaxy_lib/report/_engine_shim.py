"""TEMPORARY stand-in for helper A's galaxy_lib/results.py and galaxy_lib/report/prose.py (issue 30):
removed when branch i30-a is merged."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import jinja2

from galaxy_lib.errors import ConfigError
from galaxy_lib.paths import display_path


class Missing:
    """A figure of a result file that is absent or unreadable: renders as a marker the caller turns
    into words; arithmetic and filters pass it through."""

    MARKER = re.compile("\x00missing:([^\x00]+)\x00")

    def __init__(self, file: str) -> None:
        self.file = file

    def __str__(self) -> str:
        return f"\x00missing:{self.file}\x00"

    def _same(self, *_: Any) -> Missing:
        return self

    __truediv__ = __rtruediv__ = __mul__ = __rmul__ = __add__ = __radd__ = __sub__ = __rsub__ = _same


class Results:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, dict[str, Any] | str] = {}

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def _get(self, name: str) -> dict[str, Any] | str:
        if name not in self._cache:
            try:
                record = json.loads(self.path(name).read_text())
                self._cache[name] = record if isinstance(record, dict) else f"`{name}.json` is not a result record"
            except FileNotFoundError:
                self._cache[name] = f"not measured yet: `{name}.json` is not in `{display_path(self.folder)}`"
            except (OSError, ValueError) as exc:
                self._cache[name] = f"`{name}.json` could not be read ({type(exc).__name__})"
        return self._cache[name]

    def available(self, name: str) -> bool:
        return isinstance(self._get(name), dict)

    def reason(self, name: str) -> str:
        record = self._get(name)
        return record if isinstance(record, str) else ""

    def record(self, name: str) -> dict[str, Any]:
        record = self._get(name)
        assert isinstance(record, dict)
        return record

    def figure(self, name: str, path: str, default: Any = ...) -> Any:
        record = self._get(name)
        if isinstance(record, str):
            return Missing(name)
        value: Any = record
        for part in path.split("."):
            key: str | int = int(part) if re.fullmatch(r"-?\d+", part) else part
            if isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value):
                value = value[key]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            elif default is not ...:
                return default
            else:
                raise ConfigError(f"{display_path(self.path(name))}: {path}: no such key")
        return value


def _number(fmt: str):
    def show(value: Any) -> Any:
        if isinstance(value, Missing | str):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return "–"
        return format(int(value) if fmt == "," else value, fmt)
    return show


def _how_many(value: Any) -> Any:
    return value if isinstance(value, Missing) else len(value)


def environment(root: Path, results: Results) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(rmse=_number(".4f"), count=_number(","), number=_number("g"), minutes=_number(".1f"),
                       times=_number(".1f"), how_many=_how_many)
    env.globals.update(figure=results.figure, available=results.available, reason=results.reason)
    return env


def render(env: jinja2.Environment, name: str, **variables: Any) -> str:
    try:
        return env.get_template(name).render(**variables)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"{display_path(exc.filename or name)}:{exc.lineno}: {exc.message}") from None
    except Exception as exc:
        where = ""
        tb = sys.exc_info()[2]
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.endswith(".j2"):
                where = f"{display_path(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
            tb = tb.tb_next
        raise type(exc)(f"{exc} (in {where or name})") if isinstance(exc, ConfigError) else ConfigError(
            f"{where or name}: {type(exc).__name__}: {exc}") from None
