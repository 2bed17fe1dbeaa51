"""The one reader of parameters files: configuration, ensemble, learning-curve and comparison files.

Every YAML file a user hands to ``-f`` (or a notebook's ``config_file``) goes through :func:`read`:
the file is read once, checked to be a mapping, given its **kind** and, for a configuration,
followed through its ``base:`` chain. The four kinds are told apart by one marker key each, so
the kind is found from the mapping already read, never by reading the file again:

================  ============  ========================================================
kind              marker key    read by
================  ============  ========================================================
``curve``         ``sizes``     :func:`galaxy_lib.studies.curve_file.load_curve_file`
``ensemble``      ``members``   :func:`galaxy_lib.model.ensemble.load_ensemble`
``compare``       ``runs``      :func:`galaxy_lib.report.compare.read_compare_file`
``configuration`` (none)        :func:`galaxy_lib.config.load_config`
================  ============  ========================================================

A file with more than one marker is the first kind in that order (a learning curve names a
configuration, it is never one), as ``curve`` and ``train`` have always told them apart.

**Why the configuration keys are not checked here:** they are the fields of
:class:`~galaxy_lib.config.Config`, and ``config`` reads its files through this module, so this
module cannot import it (the import would loop). A configuration file comes back as its
:attr:`ParametersFile.layers` (the ``base`` files first), and ``config`` checks each layer's keys
with :func:`unknown_keys_error`, the wording every kind shares, naming the layer's own file. The
other kinds' top-level keys are listed here (:data:`KINDS`) and checked by :func:`read`.

Every problem is a one-line :class:`~galaxy_lib.errors.ConfigError` naming the file and the key.
This module imports only :mod:`galaxy_lib.errors` of the package (and PyYAML).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from galaxy_lib.errors import ConfigError

CONFIGURATION = "configuration"
ENSEMBLE = "ensemble"
CURVE = "curve"
COMPARE = "compare"


@dataclass(frozen=True)
class Kind:
    """What a kind of parameters file looks like at its top level (see the module docstring)."""

    name: str
    marker: str  # the key that makes a file this kind ('' for configuration: the kind of every other file)
    noun: str  # in messages: "unknown <noun> key(s) in FILE"
    keys: tuple[str, ...]  # its top-level keys; empty for configuration (Config's fields, checked by config)
    hint: str = ""  # after the list of unknown keys: where the keys the user meant go


ENSEMBLE_KEYS = ("name", "set", "members")
CURVE_KEYS = ("name", "config", "set", "sizes", "seeds", "minutes", "out", "validation")
COMPARE_KEYS = ("name", "runs")

KINDS: dict[str, Kind] = {
    # detection order: the first kind whose marker a file has
    CURVE: Kind(CURVE, "sizes", "learning-curve", CURVE_KEYS,
                f"a learning-curve file has {', '.join(CURVE_KEYS)}; configuration keys go in `set` or in the "
                "parameters file named by `config`"),
    ENSEMBLE: Kind(ENSEMBLE, "members", "ensemble", ENSEMBLE_KEYS,
                   f"an ensemble file has {', '.join(ENSEMBLE_KEYS)}; configuration keys go in `set` or in a "
                   "member's parameters file"),
    COMPARE: Kind(COMPARE, "runs", "comparison", COMPARE_KEYS, f"a comparison file has {', '.join(COMPARE_KEYS)}"),
    CONFIGURATION: Kind(CONFIGURATION, "", "config", ()),
}
"""The four kinds, in the order a file's kind is looked for."""

BASE_KEY = "base"
"""A configuration file's key naming the file it inherits (relative to itself)."""

FOLDER_NAME_RULE = "must be a plain folder name (letters, digits, _ . -)"
"""The end of the message for a name that :func:`is_folder_name` refuses."""
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def is_folder_name(name: object) -> bool:
    """Whether ``name`` (a run, report, ensemble or curve name) can name a folder as it stands: one
    plain path component, so it cannot climb out of ``runs/`` or ``reports/``, and not ending in
    ``.failed``, the suffix a failed report's folder takes (``reports/NAME.failed/``)."""
    return isinstance(name, str) and bool(_FOLDER_NAME.fullmatch(name)) and not name.endswith(".failed")


def unknown_keys_error(unknown: Iterable[Any], noun: str, where: str, hint: str = "") -> ConfigError:
    """The one wording for keys a file (or a block of it, or the overrides) does not have:
    ``unknown <noun> key(s) in <where>: a, b (hint)`` (without ``in <where>`` when it is empty)."""
    names = ", ".join(map(str, sorted(unknown, key=str)))
    place = f" in {where}" if where else ""
    return ConfigError(f"unknown {noun} key(s){place}: {names}" + (f" ({hint})" if hint else ""))


def read_mapping(path: Path) -> dict[str, Any]:
    """One YAML file's top-level mapping; a missing, non-UTF-8, invalid or non-mapping file is a
    one-line :class:`ConfigError` naming it. The only place a parameters file is opened."""
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, got {type(loaded).__name__}")
    return loaded


def kind_of(values: Mapping[Any, Any]) -> str:
    """The kind of a file with these top-level keys: the first kind of :data:`KINDS` whose marker
    it has, else a configuration."""
    return next(kind.name for kind in KINDS.values() if not kind.marker or kind.marker in values)


@dataclass(frozen=True)
class Layer:
    """One file of a configuration's ``base`` chain: its path and its own keys (``base`` removed)."""

    path: Path
    values: dict[str, Any]


@dataclass(frozen=True)
class ParametersFile:
    """A parameters file as read once: where it is, its kind, its mapping and, for a configuration,
    its ``base`` chain.

    Hand it to the kind's loader (``load_config``, ``load_ensemble``, ``load_curve_file``,
    ``read_compare_file`` accept it in place of a path) so the file is not read again.
    """

    path: Path  # as given (relative ones stay relative: messages name the file as the user wrote it)
    kind: str
    values: dict[str, Any]  # the file's own top-level mapping, as written (``base`` included)
    layers: tuple[Layer, ...]  # a configuration's files, the furthest ``base`` first; the file alone otherwise

    def expect(self, kind: str) -> ParametersFile:
        """This file read as ``kind`` whatever its markers say (a loader asked for an ensemble
        reports the keys an ensemble lacks or does not have, not that the file is another kind)."""
        if kind == self.kind:
            return self
        return ParametersFile(self.path, kind, self.values, _layers(self.path, self.values, kind))


def read(path: str | os.PathLike[str] | ParametersFile, kind: str | None = None) -> ParametersFile:
    """Read the parameters file at ``path`` once: its mapping, its kind (``kind`` when given, else
    found from its marker key, :func:`kind_of`), its top-level keys checked against that kind's
    and, for a configuration, its ``base`` chain (relative to each file, loops refused).

    A :class:`ParametersFile` already read is returned as it is (read as ``kind`` when given).
    """
    if isinstance(path, ParametersFile):
        return path.expect(kind) if kind else path
    path = Path(path)
    values = read_mapping(path)
    if kind is None:
        found = kind_of(values)
        return ParametersFile(path, found, values, _layers(path, values, found, detected=True))
    if kind not in KINDS:
        raise ValueError(f"unknown kind of parameters file {kind!r}; one of {', '.join(KINDS)}")
    return ParametersFile(path, kind, values, _layers(path, values, kind))


def file_kind(path: str | os.PathLike[str] | None) -> str | None:
    """The kind of the file at ``path``, or None when there is none or it cannot be read (loading
    it reports why). For a yes/no question about a file; a loader uses :func:`read` instead."""
    if not path:
        return None
    try:
        return kind_of(read_mapping(Path(path)))
    except ConfigError:
        return None


def _layers(path: Path, values: dict[str, Any], kind: str, *, detected: bool = False) -> tuple[Layer, ...]:
    """The files a ``kind`` file's keys come from: its ``base`` chain for a configuration, else the
    file alone, after checking its top-level keys against the kind's. ``detected``: the kind was
    found from the file's marker key, which the message then names (a configuration with a stray
    ``runs:`` learns why it was read as a comparison file)."""
    spec = KINDS[kind]
    if spec.keys:
        unknown = set(values) - set(spec.keys)
        if unknown:
            hint = spec.hint
            if detected:
                hint = f"it has `{spec.marker}`, so it is read as a {spec.noun} file: {hint}"
            raise unknown_keys_error(unknown, spec.noun, str(path), hint)
        return (Layer(path, dict(values)),)
    return _base_chain(path, values, ())


def _base_chain(path: Path, values: dict[str, Any], seen: tuple[Path, ...]) -> tuple[Layer, ...]:
    """A configuration file and the files its ``base`` names, the furthest first. ``seen``: the
    (resolved) files that led here, so a chain that loops back is one line, not a recursion error."""
    own = dict(values)
    base = own.pop(BASE_KEY, None)
    if not base:
        return (Layer(path, own),)
    base_path = (path.parent / str(base)).resolve()
    seen = (*seen, path.resolve())
    if base_path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to {base_path}")
    return (*_base_chain(base_path, read_mapping(base_path), seen), Layer(path, own))
