"""Learning-curve parameters files: what ``report`` and ``curve`` need to measure and report a curve.

A learning-curve file names one configuration (an ordinary parameters file plus changed keys)
and how to measure its curve (:mod:`galaxy_lib.studies.curve`), and optionally a second curve
on a synthetic sky that checks the extrapolation where the truth is known::

    name: learning_curve            # reports/learning_curve/; the curve folder defaults to runs/learning_curve/
    config: sample.yaml             # every point's configuration (relative to this file)
    set: {epochs: 440}              # optional: keys changed for every point
    sizes: 150,300,600,1200,all     # training-set sizes ('all' = every training galaxy of the split)
    seeds: 2                        # training seeds per size (default 1)
    minutes: 5                      # each point's time_limit_minutes (default: the configuration's)
    out: runs/curve-sample          # optional: the curve folder
    validation:                     # optional: the synthetic check of the extrapolation
      config: default.yaml          # the same keys as above (name aside), and:
      fit_up_to: 2500               # fit on sizes up to this, compare with the larger measured ones

``python -m galaxy_lib report -f FILE`` renders ``notebooks/04_learning_curve.ipynb`` (only that
notebook) into ``reports/<name>/``, training the points that are missing first (resumably: a
finished point is reused, an interrupted one continues); ``python -m galaxy_lib curve -f FILE``
trains the same points without the report. Both recognise the file by its ``sizes`` key, as they
recognise an ensemble file by ``members`` (:mod:`galaxy_lib.parameters_file`, the one reader of
parameters files, which also checks the top-level keys: :data:`~galaxy_lib.parameters_file.CURVE_KEYS`).

**Why a file of its own and not keys of** :class:`~galaxy_lib.config.Config`: a ``Config``
describes one model and is saved with each run; a curve is many runs of one configuration (one
per size and seed), and a ``curve_sizes`` key would be saved into every point's ``config.yaml``,
where it would mean nothing (which galaxies a point trained on is its ``split.csv``, see
:mod:`galaxy_lib.studies.curve`). So each point keeps an ordinary ``Config``, and
:class:`CurveConfig` is a small frozen record of the curve around it, like
:class:`~galaxy_lib.model.ensemble.EnsembleConfig` for ensembles, read with the same one-line
:class:`~galaxy_lib.errors.ConfigError` messages (unknown keys, a missing file, a bad size).

**Command-line keys** (``--set``, and the notebook's ``overrides``) change every point of both
curves, except ``data`` (``--data``), which moves the main curve only: the validation curve
measures the method on its own synthetic sky.

Importing this module reads no data and imports neither TensorFlow nor the plotting libraries.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from galaxy_lib.config import Config, load_config, override_values, set_block
from galaxy_lib.errors import ConfigError
from galaxy_lib.parameters_file import (
    CURVE,
    ENSEMBLE,
    FOLDER_NAME_RULE,
    ParametersFile,
    file_kind,
    is_folder_name,
    read,
)
from galaxy_lib.paths import display_path, resolve_path

VALIDATION_KEYS = ("config", "set", "sizes", "seeds", "minutes", "out", "fit_up_to")
"""Keys of its ``validation`` block."""
MAIN_ONLY_OVERRIDES = frozenset({"data"})
"""Command-line keys that change the main curve only (see the module docstring)."""


@dataclass(frozen=True)
class CurveSpec:
    """One curve to measure: the configuration of its points and the ``curve`` verb's arguments."""

    config: Config  # every point's configuration (each point changes its seed, and the budget to `minutes`)
    config_file: str  # absolute path of the parameters file it came from
    changes: dict[str, Any]  # the keys changed from that file (the block's `set` and the command line's)
    sizes: str  # e.g. '150,300,all' (checked by curve.parse_sizes)
    seeds: int
    minutes: float | None  # each point's time_limit_minutes; None = the configuration's
    out: str  # the curve folder as written (relative ones are read from the project root)

    @property
    def folder(self) -> Path:
        return resolve_path(self.out)

    @property
    def point_config(self) -> Config:
        """The configuration a point of the first seed trains with (its budget set to ``minutes``)."""
        return self.config if self.minutes is None else self.config.replace(time_limit_minutes=self.minutes)

    def record(self) -> dict[str, Any]:
        """What ``curve.json`` and ``report.json`` say about where this curve came from."""
        return {"parameters_file": display_path(self.config_file), "overrides": [f"{k}={v}" for k, v in
                                                                                self.changes.items()]}

    def to_dict(self) -> dict[str, Any]:
        return {"config_file": display_path(self.config_file), "set": dict(self.changes), "sizes": self.sizes,
                "seeds": self.seeds, "minutes": self.minutes, "out": display_path(self.folder),
                "config": self.config.to_dict()}


@dataclass(frozen=True)
class CurveConfig:
    """A learning-curve file, resolved: the curve, and optionally its synthetic validation curve."""

    name: str
    curve: CurveSpec
    validation: CurveSpec | None = None
    fit_up_to: int = 0  # the validation curve's sizes up to this are fitted, the larger ones checked
    source: str = ""  # the learning-curve file (absolute)
    overrides: dict[str, Any] = field(default_factory=dict)  # the command line's keys

    @property
    def config(self) -> Config:
        """The main curve's configuration: its data, ``runs_dir`` and ``reports_dir`` are the report's."""
        return self.curve.config

    def with_folder(self, out: str | os.PathLike[str]) -> CurveConfig:
        """The same curve measured into another folder (a notebook's ``run_dir``)."""
        return dataclasses.replace(self, curve=dataclasses.replace(self.curve, out=display_path(resolve_path(out))))

    def to_dict(self) -> dict[str, Any]:
        """A plain record (for ``report.json``)."""
        record: dict[str, Any] = {"name": self.name, "parameters_file": display_path(self.source) if self.source
                                  else "", "overrides": dict(self.overrides), **self.curve.to_dict()}
        if self.validation is not None:
            record["validation"] = {**self.validation.to_dict(), "fit_up_to": self.fit_up_to}
        return record


def is_curve_file(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` is a learning-curve file (a mapping with a ``sizes`` key). A file that
    cannot be read is not one (loading it as a configuration reports why)."""
    return file_kind(path) == CURVE


def _sizes_text(value: Any, where: str) -> str:
    """``sizes`` as a comma-separated text (a YAML list or a text), checked by ``curve.parse_sizes``."""
    from galaxy_lib.studies.curve import parse_sizes

    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{where}: `sizes` must be a list or comma-separated text of sizes, got {value!r}")
    try:
        return ",".join(str(s) for s in parse_sizes(str(value)))
    except ConfigError as exc:
        raise ConfigError(f"{where}: `sizes`: {str(exc).removeprefix('--sizes: ')}") from None


def _seeds(value: Any, where: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: `seeds` must be a whole number of training seeds per size (at least 1), "
                          f"got {value!r}")
    return value


def _minutes(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"{where}: `minutes` must be each point's training budget in minutes (0 = no limit), "
                          f"got {value!r}")
    return float(value)


def _spec(raw: Mapping[str, Any], path: Path, where: str, overrides: Mapping[str, Any], default_out: str) -> CurveSpec:
    """One curve of the file (the top level or the ``validation`` block)."""
    if not raw.get("config"):
        raise ConfigError(f"{where}: no `config` (the parameters file every point trains, relative to {path.name})")
    config_file = (path.parent / str(raw["config"])).resolve()
    if not config_file.is_file():
        raise ConfigError(f"{where}: parameters file not found: {config_file}")
    file = read(config_file)  # a problem inside the parameters file names that file
    if file.kind == CURVE:
        raise ConfigError(f"{where}: {config_file} is a learning-curve file itself; `config` is one parameters file")
    if file.kind == ENSEMBLE:
        raise ConfigError(f"{where}: {config_file} is an ensemble; a learning curve trains one configuration")
    if "sizes" not in raw:
        raise ConfigError(f"{where}: no `sizes` (training-set sizes, e.g. 150,300,600,1200,all)")
    changes = {**set_block(raw.get("set"), where), **overrides}
    base = load_config(file)
    try:
        config = base.replace(**changes)
    except ConfigError as exc:
        raise ConfigError(f"{where} ({config_file.name}): {exc}") from None
    out = raw.get("out") or str(Path(config.runs_dir) / default_out)
    if not isinstance(out, str):
        raise ConfigError(f"{where}: `out` must be a folder path, got {out!r}")
    out = display_path(resolve_path(out))  # one spelling of the folder: relative to the project root when inside
    return CurveSpec(config=config, config_file=str(config_file), changes=changes,
                     sizes=_sizes_text(raw["sizes"], where), seeds=_seeds(raw.get("seeds"), where),
                     minutes=_minutes(raw.get("minutes"), where), out=out)


def _check_fit_up_to(value: Any, spec: CurveSpec, where: str) -> int:
    """``fit_up_to``: a size that leaves at least MIN_SIZES sizes to fit and a larger one to check."""
    from galaxy_lib.studies.power_law import MIN_SIZES

    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: `fit_up_to` must be a number of training galaxies (the largest size the "
                          f"fit uses), got {value!r}")
    sizes = spec.sizes.split(",")
    fitted = [s for s in sizes if s != "all" and int(s) <= value]
    if len(fitted) < MIN_SIZES:
        raise ConfigError(f"{where}: `fit_up_to` {value:,} leaves {len(fitted)} of the sizes {spec.sizes} to fit; "
                          f"the power law needs at least {MIN_SIZES}")
    if not any(s == "all" or int(s) > value for s in sizes):
        raise ConfigError(f"{where}: no size above `fit_up_to` {value:,} in {spec.sizes}: nothing to check the "
                          "extrapolation against")
    return value


def load_curve_file(
    path: str | os.PathLike[str] | ParametersFile,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> CurveConfig:
    """Read a learning-curve file (see the module docstring); ``path`` may be a file
    :func:`galaxy_lib.parameters_file.read` has read already. ``overrides`` (a dict or
    ``key=value`` strings) change every point (``data``: the main curve's only). Every problem is a
    one-line :class:`ConfigError` naming the file and, where it lies there, the block."""
    file = read(path, CURVE)  # unknown top-level keys are named here
    path, raw = file.path, file.values
    if "name" not in raw:
        raise ConfigError(f"{path}: a learning curve needs a `name` (its report reports/<name>)")
    name = raw["name"]
    if not is_folder_name(name):
        raise ConfigError(f"{path}: name {name!r} {FOLDER_NAME_RULE}")
    extra = override_values(overrides)
    main = _spec(raw, path, str(path), extra, name)
    validation, fit_up_to = None, 0
    block = raw.get("validation")
    if block is not None:
        where = f"{path} validation"
        if not isinstance(block, dict):
            raise ConfigError(f"{where}: expected a mapping of {', '.join(VALIDATION_KEYS)}, got {block!r:.80}")
        unknown = sorted(set(block) - set(VALIDATION_KEYS), key=str)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} (the block has "
                              f"{', '.join(VALIDATION_KEYS)})")
        shared = {k: v for k, v in extra.items() if k not in MAIN_ONLY_OVERRIDES}
        validation = _spec(block, path, where, shared, f"{name}-validation")
        if "fit_up_to" not in block:
            raise ConfigError(f"{where}: no `fit_up_to` (the largest size the check's fit uses)")
        fit_up_to = _check_fit_up_to(block["fit_up_to"], validation, where)
        if validation.folder == main.folder:
            raise ConfigError(f"{where}: `out` {display_path(validation.folder)} is the main curve's folder; "
                              "each curve needs its own")
    return CurveConfig(name=name, curve=main, validation=validation, fit_up_to=fit_up_to, source=str(path.resolve()),
                       overrides=extra)


def run_spec(spec: CurveSpec, *, verbose: bool | None = None, source: str = "", data: Any = None) -> Any:
    """Train, resume or reuse every point of one curve (:func:`~galaxy_lib.studies.curve.run_curve`)
    and return its ``curve.csv`` frame. ``source``: the learning-curve file, recorded in ``curve.json``;
    ``data``: the loaded data set, when the caller has it already."""
    from galaxy_lib.studies import curve

    record = {**spec.record(), **({"curve_file": display_path(source)} if source else {})}
    return curve.run_curve(spec.config, spec.folder, spec.sizes, seeds=spec.seeds, minutes=spec.minutes,
                           record=record, verbose=verbose, data=data)


def run_curves(curves: CurveConfig, *, verbose: bool | None = None) -> tuple[Any, Any]:
    """The main curve, then the validation curve when the file has one: ``(frame, validation frame or
    None)``. Both are checked before either trains (a bad size, or a point that no longer matches its
    curve, stops everything before an hour of training rather than after it), and each is resumable
    as ``curve`` is. Data is read, never generated: a missing synthetic sky is a one-line error naming the
    ``synth`` command that makes it (``report`` and the notebook's ``curve_setup`` make it themselves)."""
    from galaxy_lib.data import dataset
    from galaxy_lib.studies import curve

    specs = [s for s in (curves.curve, curves.validation) if s is not None]
    loaded = []
    for spec in specs:  # plan_curve checks the sizes and every existing point; it writes nothing
        data = dataset.load_for_config(spec.config)
        curve.plan_curve(spec.config, spec.folder, spec.sizes, seeds=spec.seeds, minutes=spec.minutes, data=data)
        loaded.append(data)
    frames = [run_spec(spec, verbose=verbose, source=curves.source, data=data)
              for spec, data in zip(specs, loaded, strict=True)]
    return frames[0], (frames[1] if len(frames) > 1 else None)


__all__ = [
    "MAIN_ONLY_OVERRIDES",
    "VALIDATION_KEYS",
    "CurveConfig",
    "CurveSpec",
    "is_curve_file",
    "load_curve_file",
]
