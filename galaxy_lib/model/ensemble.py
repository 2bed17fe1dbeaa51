"""Ensembles: several runs whose predictions are averaged, trained, predicted and evaluated as one model.

An ensemble parameters file names its members, each an ordinary parameters file plus the keys
that make that member different (typically its ``seed``)::

    name: improved-x3               # the ensemble folder runs/<name>/ and the report reports/<name>/
    set: {time_limit_minutes: 20}   # optional: keys for every member
    members:
      - {name: seed0, config: improved.yaml, set: {seed: 0}}   # config: relative to this file
      - {name: seed1, config: improved.yaml, set: {seed: 1}}
      - {name: seed2, config: improved.yaml, set: {seed: 2}}

A member's configuration is its parameters file, then the ensemble's ``set``, then its own
``set``, then the command line's ``--set``/``--data`` (which apply to every member).
``name`` is optional (default ``<file>-seed<seed>``).

**Why a file of its own and not a key of** :class:`~galaxy_lib.config.Config`: a ``Config``
describes one model and is saved with one run; an ensemble is a list of such configurations. A
list-valued ``ensemble:`` key would make every ``Config`` carry others inside it and every
reader ask which one it is. So each member keeps an ordinary, frozen ``Config`` (saved in its
own run folder, resumed and checked as any run), and :class:`EnsembleConfig` is a small frozen
list of them with a name, loaded with the same one-line :class:`~galaxy_lib.errors.ConfigError`
messages (unknown keys, a missing member file, a bad value naming the member). The command line
and the notebooks tell the two kinds of file apart by the ``members`` key
(:func:`load_parameters`, through the one reader of parameters files,
:mod:`galaxy_lib.parameters_file`): ``train``, ``report``, ``predict`` and ``evaluate`` keep their verbs.

**One test set.** Averaging models that were tested on different galaxies gives no honest
figure, so every member must share the data and split keys (:data:`SHARED_KEYS`, checked when
the file is loaded), and training makes the split once, with the first member's configuration,
saves it as the ensemble folder's ``split.csv`` and copies it into each member's folder before
that member trains (training reuses a ``split.csv`` it finds; a member's ``seed`` never draws
galaxies anyway, the shared ``split_seed`` does). Evaluating checks it again: members whose
``split.csv`` files disagree on the test galaxies are refused with a
:class:`~galaxy_lib.errors.RunError`.

**The folder.** ``runs/<name>/`` (an :class:`EnsembleFolder`) holds ``members.yaml`` (the
member names and their run folders, relative to it), ``split.csv`` and, once evaluated, the
usual ``metrics.json``, tables and ``figures/``; each member is an ordinary run folder,
``runs/<name>/<member>/``. Training one member after the other is resumable like a single run:
a finished member is skipped, an interrupted one continues after its last finished epoch. The
budget counts all members: :attr:`EnsembleConfig.budget_minutes` is the sum of their
``time_limit_minutes``, and :meth:`EnsembleFolder.training_minutes` what they used.

An ensemble folder can also be assembled from existing run folders (``python -m galaxy_lib
evaluate RUN RUN ... --out FOLDER``, :func:`assemble`); ``members.yaml`` then points at them.

Importing this module does not import TensorFlow (only :func:`train_ensemble` does).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import yaml

from galaxy_lib.config import Config, load_config, override_values, set_block
from galaxy_lib.data import split as split_module
from galaxy_lib.errors import ConfigError, RunError
from galaxy_lib.locks import run_lock
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.parameters_file import (
    COMPARE,
    CURVE,
    ENSEMBLE,
    FOLDER_NAME_RULE,
    ParametersFile,
    file_kind,
    is_folder_name,
    read,
)
from galaxy_lib.paths import atomic_write_text, display_path, resolve_path

MEMBER_KEYS = ("name", "config", "set")
"""Keys of one member in an ensemble file (the file's own keys: :data:`galaxy_lib.parameters_file.ENSEMBLE_KEYS`)."""
SHARED_KEYS = (
    "data", "synthetic", "synthetic_n", "synthetic_seed", "synthetic_test_n", "max_images", "skip_bad_images",
    "resize_bad_size", "val_fraction", "test_fraction", "split_seed", "test_pool_file", "test_pool_subset",
    "runs_dir", "reports_dir",
)
"""Keys every member must agree on: the data and its split (the same test galaxies; ``split_seed``
too, so that each member's ``config.yaml`` names the seed that drew the split it trained on, while
its ``seed`` may differ), and where the ensemble's folder and report go."""
MIN_MEMBERS = 2


# --- the parameters file -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One member: its name, where its configuration came from, and the resolved configuration
    (whose ``runs_dir``/``run_name`` name the member's folder inside the ensemble's)."""

    name: str
    config_file: str  # absolute path of its parameters file
    overrides: dict[str, Any]  # the ensemble's `set`, the member's `set` and the command line's, merged
    config: Config


@dataclass(frozen=True)
class EnsembleConfig:
    """An ensemble parameters file, resolved: a name and two or more :class:`Member` s."""

    name: str
    members: tuple[Member, ...]
    runs_dir: str = "runs"  # the members' shared runs_dir: the ensemble folder is <runs_dir>/<name>
    source: str = ""  # the ensemble parameters file (absolute)
    overrides: dict[str, Any] = field(default_factory=dict)  # command-line keys, applied to every member

    @property
    def first(self) -> Config:
        """The first member's configuration: it makes the split and names the data, the evaluation
        keys (``auc_min_positives``, ``bootstrap`` ...) and ``reports_dir`` of the ensemble."""
        return self.members[0].config

    @property
    def budget_minutes(self) -> float | None:
        """The training budget of the whole ensemble: the sum of the members'
        ``time_limit_minutes`` (None when a member has no limit)."""
        limits = [m.config.time_limit_minutes for m in self.members]
        return float(sum(limits)) if all(limit > 0 for limit in limits) else None

    def to_dict(self) -> dict[str, Any]:
        """A plain record (for ``report.json``): name, file, budget and each member's resolved configuration."""
        return {
            "name": self.name,
            "parameters_file": display_path(self.source) if self.source else "",
            "budget_minutes": self.budget_minutes,
            "members": [
                {"name": m.name, "config_file": display_path(m.config_file), "set": dict(m.overrides),
                 "config": m.config.to_dict()}
                for m in self.members
            ],
        }


def is_ensemble_file(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` is an ensemble parameters file (a mapping with a ``members`` key).
    A file that cannot be read is not one (loading it as a configuration reports why)."""
    return file_kind(path) == ENSEMBLE


def _check_name(name: Any, where: str, key: str = "name") -> str:
    if not is_folder_name(name):
        raise ConfigError(f"{where}: {key} {name!r} {FOLDER_NAME_RULE}")
    return name


def load_ensemble(
    path: str | os.PathLike[str] | ParametersFile,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> EnsembleConfig:
    """Read an ensemble parameters file (see the module docstring) and resolve its members.

    ``path`` may be a file :func:`galaxy_lib.parameters_file.read` has read already.
    ``overrides`` (a dict or ``key=value`` strings: the command line's ``--set`` and ``--data``)
    apply to every member. Every problem is a :class:`ConfigError` naming the file and, where it
    lies in one, the member.
    """
    file = read(path, ENSEMBLE)  # unknown top-level keys are named here
    path, raw = file.path, file.values
    if "name" not in raw:
        raise ConfigError(f"{path}: an ensemble needs a `name` (its folder runs/<name> and report reports/<name>)")
    name = _check_name(raw["name"], str(path))
    common = set_block(raw.get("set"), str(path))
    extra = override_values(overrides)
    entries = raw.get("members")
    if not isinstance(entries, list) or len(entries) < MIN_MEMBERS:
        raise ConfigError(f"{path}: `members` must be a list of at least {MIN_MEMBERS} members, "
                          f"got {entries!r:.80}")

    members: list[Member] = []
    for number, entry in enumerate(entries, 1):
        where = f"{path} member {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with `config` (and optional `name`, `set`), got {entry!r}")
        unknown = sorted(set(entry) - set(MEMBER_KEYS), key=str)
        if unknown:
            raise ConfigError(f"{where}: unknown member key(s) {', '.join(map(str, unknown))} "
                              f"(a member has {', '.join(MEMBER_KEYS)})")
        if not entry.get("config"):
            raise ConfigError(f"{where}: no `config` (the member's parameters file, relative to {path.name})")
        config_file = (path.parent / str(entry["config"])).resolve()
        if not config_file.is_file():
            raise ConfigError(f"{where}: parameters file not found: {config_file}")
        member_file = read(config_file)  # a problem inside the member's file names that file
        if member_file.kind == ENSEMBLE:
            raise ConfigError(f"{where}: {config_file} is an ensemble itself; a member is one parameters file")
        changes = {**common, **set_block(entry.get("set"), where), **extra}
        base = load_config(member_file)
        try:
            config = base.replace(**changes)
        except ConfigError as exc:
            raise ConfigError(f"{where} ({config_file.name}): {exc}") from None
        member_name = entry.get("name") or f"{config_file.stem}-seed{config.seed}"
        members.append(Member(_check_name(member_name, where), str(config_file), changes, config))

    names = [m.name for m in members]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{path}: member name(s) {', '.join(repeated)} used twice; give each member its own `name`")
    first = members[0]
    for other in members[1:]:
        differ = [key for key in SHARED_KEYS if getattr(other.config, key) != getattr(first.config, key)]
        if differ:
            detail = ", ".join(f"{k}: {getattr(first.config, k)!r} vs {getattr(other.config, k)!r}" for k in differ)
            raise ConfigError(
                f"{path}: members {first.name} and {other.name} differ in {detail}; an ensemble's members must "
                "share the data and split (the same test galaxies) and runs_dir/reports_dir"
            )
    runs_dir = first.config.runs_dir
    folder = str(Path(runs_dir) / name)
    members = [dataclasses.replace(m, config=m.config.replace(runs_dir=folder, run_name=m.name)) for m in members]
    return EnsembleConfig(name, tuple(members), runs_dir, str(path.resolve()), extra)


def load_parameters(
    path: str | os.PathLike[str] | ParametersFile | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> Config | EnsembleConfig:
    """A parameters file of either kind, read once: an :class:`EnsembleConfig` for an ensemble file
    (it has ``members``), else the :class:`~galaxy_lib.config.Config` of
    :func:`~galaxy_lib.config.load_config` (``None``: the defaults). A learning-curve or comparison
    file is refused with the command that reads it."""
    if not path:
        return load_config(None, overrides)
    file = read(path)
    if file.kind == ENSEMBLE:
        return load_ensemble(file, overrides)
    if file.kind == CURVE:
        raise ConfigError(f"{file.path} is a learning-curve file (it has `sizes`): train its points with "
                          f"`python -m galaxy_lib curve -f {file.path}` or render its report with `report -f`")
    if file.kind == COMPARE:
        raise ConfigError(f"{file.path} is a comparison file (it has `runs`): render it with "
                          f"`python -m galaxy_lib compare -f {file.path}`")
    return load_config(file, overrides)


# --- the folder ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnsembleFolder(RunFolder):
    """An ensemble's folder: ``members.yaml``, the shared ``split.csv`` and the evaluation's files
    (the same names as a run folder's: ``metrics.json``, ``figures/`` ...).

    ``ensemble`` is the configuration it was opened for, when known (the notebooks train from it).
    It has no ``config.yaml``, history or model of its own: :meth:`load_config` and
    :meth:`load_model` say so, and :meth:`read_history` joins the members' histories.
    """

    ensemble: EnsembleConfig | None = field(default=None, compare=False, repr=False)

    MEMBERS: ClassVar[str] = "members.yaml"

    @classmethod
    def for_ensemble(cls, ensemble: EnsembleConfig, run_dir: str | os.PathLike[str] | None = None) -> EnsembleFolder:
        """``run_dir`` when given (non-empty), else ``<runs_dir>/<name>``, from the project root."""
        path = resolve_path(run_dir) if run_dir else resolve_path(ensemble.runs_dir) / ensemble.name
        return cls(path, ensemble)

    @classmethod
    def is_ensemble(cls, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is an ensemble folder (it has ``members.yaml``)."""
        return (Path(path) / cls.MEMBERS).is_file()

    @property
    def members_file(self) -> Path:
        return self.path / self.MEMBERS

    def require(self) -> EnsembleFolder:
        if not self.path.is_dir():
            raise RunError(f"{self.path}: ensemble folder not found; train one with "
                           "`python -m galaxy_lib train -f ENSEMBLE.yaml --out FOLDER`")
        if not self.members_file.is_file():
            raise RunError(f"{self.path}: not an ensemble folder (no {self.MEMBERS})")
        return self

    def create(self) -> EnsembleFolder:
        super().create()
        if self.config_file.is_file():
            raise RunError(f"{self.path}: is a run folder (it has {self.CONFIG}), not an ensemble's; choose another")
        return self

    def write_members(self, members: Sequence[tuple[str, RunFolder]], *, parameters_file: str = "",
                      budget_minutes: float | None = None) -> Path:
        """Write ``members.yaml``: names and run folders (relative to this folder), the parameters
        file and the budget, atomically."""
        record = {
            "parameters_file": display_path(parameters_file) if parameters_file else "",
            "budget_minutes": budget_minutes,
            "members": [{"name": name, "run_dir": os.path.relpath(folder.path, self.path)} for name, folder in members],
        }
        atomic_write_text(self.members_file, yaml.safe_dump(record, sort_keys=False))
        return self.members_file

    def read_members(self) -> dict[str, Any]:
        """``members.yaml`` as written by :meth:`write_members` (checked)."""
        self.require()
        try:
            record = yaml.safe_load(self.members_file.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise RunError(f"{self.members_file}: not valid YAML ({type(exc).__name__}); the folder is damaged"
                           ) from None
        entries = record.get("members") if isinstance(record, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("run_dir"), str)
            for e in entries
        ):
            raise RunError(
                f"{self.members_file}: expected `members`, a list of name and run_dir; the folder is damaged"
            )
        return record

    def members(self) -> list[tuple[str, RunFolder]]:
        """``(name, run folder)`` of every member, in order; each checked to be a run folder."""
        return [(e["name"], RunFolder((self.path / e["run_dir"]).resolve()).require())
                for e in self.read_members()["members"]]

    def member_folders(self) -> list[RunFolder]:
        return [folder for _, folder in self.members()]

    def load_config(self, overrides: dict[str, Any] | None = None) -> Config:
        raise RunError(f"{self.path}: an ensemble folder has no {self.CONFIG} of its own; each member's is in "
                       f"its run folder (listed in {self.MEMBERS})")

    def load_model(self, which: str = "best"):
        raise RunError(f"{self.path}: an ensemble has one model per member (listed in {self.MEMBERS}); "
                       "predict with galaxy_lib.model.predict, which averages them")

    def read_history(self) -> pd.DataFrame:
        """The members' ``history.csv`` one after the other, with a first column ``member``."""
        frames = [folder.read_history().assign(member=name) for name, folder in self.members()]
        history = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return history[["member", *[c for c in history.columns if c != "member"]]] if len(frames) else history

    def training_minutes(self) -> dict[str, float]:
        """Each member's training wall time so far (all sessions), in minutes, by name."""
        minutes = {}
        for name, folder in self.members():
            state = folder.read_state()
            minutes[name] = (state.elapsed_seconds if state else 0.0) / 60
        return minutes


def open_folder(path: str | os.PathLike[str]) -> RunFolder:
    """An :class:`EnsembleFolder` when ``path`` holds ``members.yaml``, else a plain :class:`RunFolder`."""
    return EnsembleFolder(Path(path)) if EnsembleFolder.is_ensemble(path) else RunFolder(Path(path))


# --- one test set -------------------------------------------------------------------------------------


def _test_ids(split: pd.DataFrame) -> set[int]:
    return set(split_module.ids_of(split, "test").tolist())


def check_same_test_set(reference: pd.DataFrame, split: pd.DataFrame, *, reference_where: Path | str,
                        where: Path | str) -> None:
    """Refuse (:class:`RunError`, one line) a split whose test galaxies differ from ``reference``'s."""
    mine, theirs = _test_ids(split), _test_ids(reference)
    if mine != theirs:
        raise RunError(
            f"{where}: its test galaxies differ from {reference_where}'s ({len(mine):,} vs {len(theirs):,}, "
            f"{len(mine & theirs):,} in common); an ensemble's members must be tested on the same galaxies"
        )


def shared_split(folder: EnsembleFolder) -> tuple[pd.DataFrame, bool]:
    """The ensemble's split and whether every member also shares its validation galaxies.

    The split is the folder's ``split.csv`` (else the first member's); every member's test
    galaxies must equal its test galaxies (:func:`check_same_test_set`). Validation figures of
    the ensemble are only meaningful when no member trained on another's validation galaxies,
    hence the second value.
    """
    members = folder.members()
    if folder.split_file.is_file():
        split, where = split_module.load_split(folder.split_file), folder.split_file
    else:
        split, where = members[0][1].load_split(), members[0][1].split_file
    same_val = True
    val = set(split_module.ids_of(split, "val").tolist())
    for _, member in members:
        theirs = member.load_split()
        check_same_test_set(split, theirs, reference_where=where, where=member.split_file)
        same_val &= set(split_module.ids_of(theirs, "val").tolist()) == val
    return split, same_val


def assemble(out: str | os.PathLike[str], run_dirs: Sequence[str | os.PathLike[str]]) -> EnsembleFolder:
    """An ensemble folder at ``out`` made of existing run folders (``members.yaml`` points at them,
    ``split.csv`` is the first one's), after checking that they share their test galaxies.
    Member names are the run folders' names (numbered when two are alike)."""
    if len(run_dirs) < MIN_MEMBERS:
        raise RunError(f"an ensemble needs at least {MIN_MEMBERS} run folders, got {len(run_dirs)}")
    folders = [RunFolder(resolve_path(r)).require() for r in run_dirs]
    if EnsembleFolder.is_ensemble(folders[0].path):
        raise RunError(f"{folders[0].path}: is an ensemble folder; name its members' run folders instead")
    reference = folders[0].load_split()
    for other in folders[1:]:
        check_same_test_set(reference, other.load_split(), reference_where=folders[0].path, where=other.path)
    names: list[str] = []
    for number, folder in enumerate(folders, 1):
        name = folder.path.name
        names.append(name if name not in names else f"{name}-{number}")
    target = EnsembleFolder(resolve_path(out)).create()
    if any(target.path == f.path for f in folders):
        raise RunError(f"{target.path}: the ensemble folder cannot be one of its members")
    target.write_members(list(zip(names, folders, strict=True)))
    split_module.save_split(reference, target.split_file)
    return target


# --- training -----------------------------------------------------------------------------------------


def train_ensemble(
    ensemble: EnsembleConfig,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    callbacks: Sequence[Any] = (),
    verbose: bool | None = None,
) -> Path:
    """Train every member, one after the other, into ``<out_dir>/<member>`` and return the
    ensemble folder (``out_dir`` defaults to ``<runs_dir>/<name>``).

    The split is made once (first member's configuration) and copied into each member's folder
    before it trains. Rerunning the same command skips finished members and resumes an
    interrupted one after its last finished epoch (each member is an ordinary resumable run, see
    :func:`galaxy_lib.model.train.train`). ``callbacks`` and ``verbose`` go to every member's training.
    """
    folder = EnsembleFolder.for_ensemble(ensemble, out_dir).create()
    # The ensemble folder's lock, then each member's own (galaxy_lib.locks): a second command on the
    # same ensemble stops at once, naming this one.
    with run_lock(folder.path, "training an ensemble"):
        return _train_members(ensemble, folder, callbacks=callbacks, verbose=verbose)


def _train_members(ensemble: EnsembleConfig, folder: EnsembleFolder, *, callbacks: Sequence[Any],
                   verbose: bool | None) -> Path:
    """:func:`train_ensemble` in its (locked) ensemble folder."""
    from galaxy_lib.data import dataset
    from galaxy_lib.model import train  # TensorFlow starts here

    members = [(m, RunFolder(folder.path / m.name)) for m in ensemble.members]
    folder.write_members([(m.name, f) for m, f in members], parameters_file=ensemble.source,
                         budget_minutes=ensemble.budget_minutes)
    if not folder.split_file.is_file():
        data = dataset.load_for_config(ensemble.first)
        split_module.split_for_config(data, ensemble.first, folder.split_file)
    shared = folder.load_split()
    place = display_path(folder.path)
    budget = ensemble.budget_minutes
    print(f"ensemble {display_path(folder.path)}: {len(members)} members trained one after another"
          + (f", {budget:g} minutes in all" if budget else ""), flush=True)
    for number, (member, member_folder) in enumerate(members, 1):
        if member_folder.split_file.is_file():
            check_same_test_set(shared, member_folder.load_split(), reference_where=folder.split_file,
                                where=member_folder.split_file)
        else:
            split_module.save_split(shared, member_folder.create().split_file)
        print(f"member {number}/{len(members)}: {member.name}", flush=True)
        train.train(member.config.replace(runs_dir=place, run_name=member.name), member_folder.path,
                    callbacks=callbacks, verbose=verbose)
    minutes = folder.training_minutes()
    print(f"ensemble {place}: {len(members)} members, {sum(minutes.values()):.1f} minutes of training in all"
          + (f" (budget {budget:g})" if budget else "") + ": "
          + ", ".join(f"{name} {value:.1f}" for name, value in minutes.items()), flush=True)
    return folder.path
