"""The run folder: one home for its layout, its readers and what may change between uses.

Training writes a run folder (``runs/NAME``) and everything later reads it: evaluation, the
Kaggle submission, the notebooks, the report and the benchmarks. Its file names used to be
string literals in each of them; :class:`RunFolder` names them once:

=========================  ===============================================================
``config.yaml``            the resolved :class:`~galaxy_lib.config.Config` of the run
``split.csv``              which galaxy is train, val or test
``history.csv``            one row per finished epoch (:data:`HISTORY_COLUMNS`)
``best.keras``             the model with the lowest validation RMSE (with ``weight_averaging: ema``: the
                           weight average with the lowest validation RMSE)
``last.keras``             the model after the last finished epoch
``ema.keras``              the weight average after the last finished epoch (``weight_averaging: ema``)
``swa.keras``              the uniform average of the epochs from ``swa_start`` on, with BatchNorm statistics
                           re-estimated for it (``weight_averaging: swa``); also ``best.keras`` when its
                           validation RMSE is lower than the best epoch's, or when nothing was held out
``swa.json``               that average's record: epochs averaged, its validation RMSE, whether it is best
``resume/``                the last epoch's model with its optimizer state, and ``state.json``
``environment.json``       packages, devices and machine that trained it
``architecture.json``      where the model's code came from (the configuration's VGG6 or a function
                           defined in a notebook), its layer summary and parameter count
``cache/``                 decoded crops (``cache_crops``)
``workers/``               non-chief workers' private folders (multi-worker training)
``metrics.json`` ...       evaluation: ``auc.csv``, ``baselines.csv``, ``paper_vs_honest.csv``,
                           ``question_accuracy.csv``, ``predictions_<split>.csv``, ``figures/``
``submission.csv``         a Kaggle submission written by notebook 3
=========================  ===============================================================

Importing this module does not import TensorFlow: only :meth:`RunFolder.load_model` does, so
that reading a run's configuration, split or history stays fast (the report, the index, tests).

Which keys may differ from a run's saved configuration is defined here too, once:
:data:`RESUMABLE_CHANGES` when training resumes, :data:`EVALUATION_CHANGES` when a run is
evaluated with a configuration of its own (notebook 3 run alone with overrides, or
``python -m galaxy_lib evaluate --set``). Any other difference is refused with a
:class:`~galaxy_lib.errors.RunError` naming the keys, so one run folder never mixes two set-ups
and an override is never silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from galaxy_lib.config import Config, load_config
from galaxy_lib.data import split as split_module
from galaxy_lib.errors import ConfigError, DataError, RunError
from galaxy_lib.parameters_file import CONFIGURATION, read
from galaxy_lib.paths import atomic_write_json, display_path, resolve_path, writing

if TYPE_CHECKING:  # keras only for annotations: importing it would start TensorFlow
    import keras

HISTORY_COLUMNS = [
    "epoch", "loss", "rmse", "accuracy", "val_loss", "val_rmse", "val_accuracy", "learning_rate", "seconds",
    "val_rmse_ema",
]
"""Columns of ``history.csv``, in order. ``val_rmse_ema`` (the weight average's validation RMSE)
is empty without ``weight_averaging: ema``."""
ADDED_HISTORY_COLUMNS = ("val_rmse_ema",)
"""Columns that runs trained before they existed lack: read as empty (NaN), not as damage."""

ARCHITECTURE_SOURCES = ("configuration", "notebook")
"""Where a run's model came from: the configuration's builder (:func:`galaxy_lib.model.network.build_model`)
or a function the student defined (in a notebook, or any code passing ``build_model=`` to training)."""

MODELS = ("best", "last", "ema", "swa")
"""The checkpoints a run keeps: ``best`` (lowest validation RMSE), ``last`` and, with
``weight_averaging: ema``, ``ema`` (the weight average after the last epoch) or, with
``weight_averaging: swa``, ``swa`` (the average of the epochs from ``swa_start`` on)."""

EVALUATION_KEYS = frozenset({"tta", "auc_min_positives", "bootstrap", "central_pixel_clusters"})
"""Keys only evaluation reads: a run can be evaluated with any values of them."""
PLACE_KEYS = frozenset({"data", "run_name", "runs_dir", "reports_dir"})
"""Where things are (the data may move), not what they are."""
RUNTIME_KEYS = frozenset({"threads", "strategy", "cache_crops", "crop_memory_mb", "checkpoint_seconds"})
"""How the same computation is run: threads, devices, where decoded crops are kept, how often it checkpoints."""
STOPPING_KEYS = frozenset({"epochs", "time_limit_minutes", "early_stopping_patience"})
"""When training ends: they only move the end, never what the finished epochs computed."""

EVALUATION_CHANGES = EVALUATION_KEYS | PLACE_KEYS | RUNTIME_KEYS | {"split_seed"}
"""Keys that may differ from the run's saved configuration when evaluating it. ``split_seed`` among
them: it only draws a *new* split, and a run's galaxies are fixed by its ``split.csv`` (reused
whatever the configuration says), so it cannot change what a run computed; and run folders made
before the key existed read 0 although ``seed`` drew their split (a file that now says
``split_seed: K`` for them must still resume and evaluate them)."""
RESUMABLE_CHANGES = EVALUATION_CHANGES | STOPPING_KEYS
"""Keys that may differ between the first start of a run and its resumption."""


def check_same_run(saved: Config, config: Config, *, allowed: frozenset[str], where: Path, advice: str) -> None:
    """Raise :class:`RunError` naming every key, outside ``allowed``, in which ``config``
    differs from ``saved`` (the run's ``config.yaml``); ``advice`` ends the message."""
    changed = {key: change for key, change in config.changes_from(saved).items() if key not in allowed}
    if changed:
        detail = ", ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items())
        raise RunError(f"{where} was trained with a different configuration ({detail}); {advice}")


@dataclass
class Run:
    """A run folder as data: where it is, how it was made, its split and its history."""

    path: Path
    config: Config
    split: pd.DataFrame
    history: pd.DataFrame

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.path)


def _read_json(path: Path, advice: str) -> Any:
    """The JSON value of a run folder's record ``path``, None when the file is absent; unreadable JSON
    is a :class:`RunError` naming the file, saying the folder is damaged and what to do (``advice``)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: not readable JSON ({type(exc).__name__}); the run folder is damaged; "
                       f"{advice}") from None


@dataclass(frozen=True)
class RunFolder:
    """A run folder's named paths and readers. ``RunFolder(path)`` touches no file; the
    readers raise :class:`RunError` for a folder that is not (yet) a run.

    It is path-like (``os.fspath``), so it can be passed wherever a run folder path is taken.
    """

    path: Path

    CONFIG: ClassVar[str] = "config.yaml"
    SPLIT: ClassVar[str] = "split.csv"
    HISTORY: ClassVar[str] = "history.csv"
    ENVIRONMENT: ClassVar[str] = "environment.json"
    ARCHITECTURE: ClassVar[str] = "architecture.json"
    RESUME: ClassVar[str] = "resume"
    STATE: ClassVar[str] = "state.json"  # inside resume/: written last, the commit point of an epoch
    CACHE: ClassVar[str] = "cache"
    WORKERS: ClassVar[str] = "workers"
    METRICS: ClassVar[str] = "metrics.json"
    AUC: ClassVar[str] = "auc.csv"
    BASELINES: ClassVar[str] = "baselines.csv"
    PAPER_VS_HONEST: ClassVar[str] = "paper_vs_honest.csv"
    QUESTION_ACCURACY: ClassVar[str] = "question_accuracy.csv"
    FIGURES: ClassVar[str] = "figures"
    SUBMISSION: ClassVar[str] = "submission.csv"
    SWA: ClassVar[str] = "swa.json"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    def for_config(cls, config: Config, run_dir: str | os.PathLike[str] | None = None) -> RunFolder:
        """``run_dir`` when given (non-empty), else the configuration's own run folder,
        ``<runs_dir>/<run_name>``; relative paths are read from the project root (the report
        passes ``run_dir`` relative to it, and notebooks run from ``notebooks/``)."""
        if run_dir:
            return cls(resolve_path(run_dir))
        return cls(resolve_path(config.runs_dir) / config.run_name)

    # --- names ---------------------------------------------------------------------------------

    @staticmethod
    def model_name(which: str = "best") -> str:
        """``best.keras``, ``last.keras``, ``ema.keras`` or ``swa.keras``."""
        if which not in MODELS:
            raise ValueError(f"which must be one of {', '.join(map(repr, MODELS))}, got {which!r}")
        return f"{which}.keras"

    @staticmethod
    def predictions_name(split: str) -> str:
        """``predictions_<split>.csv``: evaluation's predictions of one split."""
        return f"predictions_{split}.csv"

    @classmethod
    def figure_name(cls, name: str) -> str:
        """``figures/<name>.png``, relative to the run folder (as listed in ``metrics.json``)."""
        return f"{cls.FIGURES}/{name}.png"

    # --- paths -----------------------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.path / self.CONFIG

    @property
    def split_file(self) -> Path:
        return self.path / self.SPLIT

    @property
    def history_file(self) -> Path:
        return self.path / self.HISTORY

    @property
    def environment_file(self) -> Path:
        return self.path / self.ENVIRONMENT

    @property
    def architecture_file(self) -> Path:
        return self.path / self.ARCHITECTURE

    @property
    def resume_dir(self) -> Path:
        return self.path / self.RESUME

    @property
    def state_file(self) -> Path:
        return self.resume_dir / self.STATE

    @property
    def cache_dir(self) -> Path:
        return self.path / self.CACHE

    @property
    def workers_dir(self) -> Path:
        return self.path / self.WORKERS

    @property
    def metrics_file(self) -> Path:
        return self.path / self.METRICS

    @property
    def auc_file(self) -> Path:
        return self.path / self.AUC

    @property
    def baselines_file(self) -> Path:
        return self.path / self.BASELINES

    @property
    def paper_vs_honest_file(self) -> Path:
        return self.path / self.PAPER_VS_HONEST

    @property
    def question_accuracy_file(self) -> Path:
        return self.path / self.QUESTION_ACCURACY

    @property
    def figures_dir(self) -> Path:
        return self.path / self.FIGURES

    @property
    def submission_file(self) -> Path:
        return self.path / self.SUBMISSION

    @property
    def swa_file(self) -> Path:
        return self.path / self.SWA

    def model_file(self, which: str = "best") -> Path:
        return self.path / self.model_name(which)

    def predictions_file(self, split: str) -> Path:
        return self.path / self.predictions_name(split)

    def figure_file(self, name: str) -> Path:
        return self.path / self.figure_name(name)

    def worker(self, task_type: str, task_id: int) -> RunFolder:
        """The private folder of one non-chief worker of a multi-worker run."""
        return RunFolder(self.workers_dir / f"{task_type}-{task_id}")

    def create(self) -> RunFolder:
        """Make the folder (and its parents) if needed; a file standing where the folder or one of
        its parents should be is a :class:`RunError` naming the path (not a traceback), and so is a
        full or read-only disk (a :class:`~galaxy_lib.errors.DiskError`)."""
        try:
            with writing(self.path):
                self.path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise RunError(f"{self.path}: cannot be a run folder, a file of that name (or of a parent) is in the way"
                           ) from None
        return self

    # --- readers ---------------------------------------------------------------------------------

    def require(self) -> RunFolder:
        """This folder, after checking that it is a run folder (it has ``config.yaml``)."""
        if not self.path.is_dir():
            raise RunError(f"{self.path}: run folder not found; train one with `python -m galaxy_lib train`")
        if not self.config_file.is_file():
            raise RunError(
                f"{self.path}: not a run folder (no {self.CONFIG}); train one with `python -m galaxy_lib train`"
            )
        return self

    def load_config(self, overrides: dict[str, Any] | None = None) -> Config:
        """The run's saved configuration (``config.yaml``), with ``overrides`` applied.

        Training wrote that file, so a problem in it is a damaged run folder (a :class:`RunError`
        saying what to do), while a problem in ``overrides`` stays the caller's
        :class:`~galaxy_lib.errors.ConfigError`.
        """
        path = self.require().config_file
        try:
            file = read(path, CONFIGURATION)  # read once, for the saved configuration and the overridden one
            saved = load_config(file, environment=False)  # the record of who ran it, not today's student
        except ConfigError as exc:
            raise RunError(f"{' '.join(str(exc).split())}; the run folder is damaged; restore its {self.CONFIG} "
                           "(training writes it), "
                           "or train into a new folder") from None
        return load_config(file, overrides, environment=False) if overrides else saved

    def config_for_evaluation(self, config: Config | None = None) -> Config:
        """The configuration to evaluate this run with: its own when ``config`` is None, else
        ``config`` after checking that it differs from the saved one only in
        :data:`EVALUATION_CHANGES` (anything else would describe a different model)."""
        saved = self.load_config()
        if config is None:
            return saved
        check_same_run(
            saved, config, allowed=EVALUATION_CHANGES, where=self.path,
            advice=f"only {', '.join(sorted(EVALUATION_KEYS))} and paths may differ when evaluating a run; "
                   "train a new run for the others",
        )
        return config

    def read_history(self) -> pd.DataFrame:
        """``history.csv`` (see :func:`read_history`)."""
        return read_history(self.history_file)

    def load_split(self) -> pd.DataFrame:
        """``split.csv``, validated; a damaged one is a :class:`RunError` saying what to do (a new
        split would move galaxies between training and test, so it is never silently redrawn)."""
        if not self.require().split_file.is_file():
            raise RunError(f"{self.path}: run folder has no {self.SPLIT}; train it (or rerun notebook 01) first")
        try:
            return split_module.load_split(self.split_file)
        except DataError as exc:
            raise RunError(f"{' '.join(str(exc).split())}; the run folder is damaged; restore its {self.SPLIT}, "
                           "or train into a new folder") from None

    def read_state(self) -> ResumeState | None:
        """``resume/state.json`` (the last checkpointed epoch, best score, stop reason), validated,
        or None before the first checkpoint (see :meth:`ResumeState.read`)."""
        return ResumeState.read(self.state_file)

    def read_swa(self) -> dict[str, Any] | None:
        """``swa.json`` (``weight_averaging: swa``): ``epochs`` averaged, ``after_epoch`` (the
        epochs trained when it was made), ``val_rmse_swa`` (None without a validation set) and
        ``best`` (whether ``best.keras`` is the average); None when the run has none."""
        path = self.swa_file
        record = _read_json(path, "delete it and rerun the training command to make it again")
        if record is None:
            return None
        if not isinstance(record, dict) or not isinstance(record.get("epochs"), int):
            raise RunError(f"{path}: has no whole number 'epochs'; the run folder is damaged")
        return record

    def read_architecture(self) -> dict[str, Any] | None:
        """``architecture.json``: where the model came from (``source``: ``configuration`` or
        ``notebook``), the building function, its layers and parameter count; None for a run
        trained before the file existed (its model is the configuration's). A damaged file is a
        :class:`RunError` saying what to do."""
        path = self.architecture_file
        record = _read_json(path, "training writes it again when the run is trained into a new folder")
        if record is None:
            return None
        if not isinstance(record, dict) or record.get("source") not in ARCHITECTURE_SOURCES:
            raise RunError(f"{path}: has no 'source' of {', '.join(ARCHITECTURE_SOURCES)}; the run folder is damaged")
        return record

    def load(self) -> Run:
        """Configuration, split and history together."""
        return Run(self.path, self.load_config(), self.load_split(), self.read_history())

    def load_model(self, which: str = "best") -> keras.Model:
        """The run's ``best`` (lowest validation RMSE), ``last``, ``ema`` or ``swa`` model, ready for prediction.

        A missing file and a file Keras cannot read are :class:`RunError` s naming the file
        (Keras itself reports a corrupt ``.keras`` file as "File not found").
        """
        path = self.model_file(which)
        if not path.is_file():
            self.require()
            if which == "ema" and self.load_config().weight_averaging != "ema":
                raise RunError(f"{path}: no weight average: the run was trained without weight_averaging: ema")
            if which == "swa" and self.load_config().weight_averaging != "swa":
                raise RunError(f"{path}: no weight average: the run was trained without weight_averaging: swa")
            if which == "swa":
                raise RunError(f"{path}: no average yet: it is made when training stops, once an epoch from "
                               "swa_start on has finished")
            raise RunError(f"{path}: no model yet; has the run finished an epoch?")
        reason = None if zipfile.is_zipfile(path) else f"not a zip archive ({path.stat().st_size:,} bytes)"
        if reason is None:
            # TensorFlow starts here, not at import; network registers the custom layers (TreeHead).
            from galaxy_lib.model import network

            try:
                return network.keras.models.load_model(path, compile=False, safe_mode=True)  # no code from the file
            except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(f"{path}: cannot be loaded as a Keras model (corrupt or partial file?): {reason}")


# --- the resume point -------------------------------------------------------------------------------


@dataclass
class ResumeState:
    """``resume/state.json``: where training stands after its last checkpoint.

    One typed object instead of a dict read by string keys in training, comparison, the curve,
    ensembles and the benchmarks, so that a misspelt key is an AttributeError at once, not a
    ``KeyError`` (or a silent ``.get`` default) in whichever reader met it first. Training
    updates it after every epoch but writes it only with a checkpoint: the file is the commit
    point of the run, and its JSON keeps the names and order it always had, so run folders
    trained before this class existed still resume.
    """

    epoch: int = 0
    """Epochs finished (and saved in ``checkpoint``)."""
    best: float | None = None
    """Best score of ``monitor`` so far; None before the first epoch."""
    monitor: str = "val_rmse"
    """The history column that picks ``best.keras``: ``val_rmse``, ``val_rmse_ema`` or ``rmse``."""
    epochs_without_improvement: int = 0
    """Epochs since ``best`` last improved (early stopping)."""
    elapsed_seconds: float = 0.0
    """Training wall time of all sessions of the run so far."""
    checkpoint: str | None = None
    """The resume checkpoint's file name in ``resume/`` (weights and optimizer state)."""
    seed_generators: list[Any] = field(default_factory=list)
    """The dropout layers' random-generator states, not part of a ``.keras`` file's weights."""
    finished: str | None = None
    """Why training stopped; None while it may go on."""
    swa_epochs: int = 0
    """Epochs in the ``weight_averaging: swa`` average so far (0 without it)."""
    swa_average: str | None = None
    """That average's file name in ``resume/`` (``.npz``, saved with ``checkpoint``)."""

    _TYPES: ClassVar[dict[str, tuple[type, ...]]] = {
        "epoch": (int,), "best": (int, float, type(None)), "monitor": (str,), "epochs_without_improvement": (int,),
        "elapsed_seconds": (int, float), "checkpoint": (str, type(None)), "seed_generators": (list,),
        "finished": (str, type(None)), "swa_epochs": (int,), "swa_average": (str, type(None)),
    }
    _ADDED: ClassVar[frozenset[str]] = frozenset({"swa_epochs", "swa_average"})
    """Keys that state files written before they existed lack: read as their defaults."""

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ResumeState | None:
        """The state saved at ``path``, or None when there is none (no epoch has been checkpointed).

        A file that is not the JSON object training writes (cut short, edited, a key missing or of
        the wrong type) is a one-line :class:`RunError` naming it and what to do, never a
        ``KeyError`` or ``TypeError`` deep inside training.
        """
        path = Path(path)
        if not path.is_file():
            return None
        advice = (f"the run folder is damaged; delete {display_path(path.parent)} to train this run again from its "
                  "first epoch, or train into a new folder")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(f"{path}: not valid JSON ({exc}); {advice}") from None
        if not isinstance(payload, dict):
            raise RunError(f"{path}: expected a JSON object, got {type(payload).__name__}; {advice}")
        values: dict[str, Any] = {}
        for key, types in cls._TYPES.items():
            if key not in payload and key in cls._ADDED:
                continue
            if key not in payload:
                raise RunError(f"{path}: key {key!r} is missing; {advice}")
            value = payload[key]
            if isinstance(value, bool) or not isinstance(value, types):  # bool is an int to isinstance
                wanted = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise RunError(f"{path}: key {key!r} is {value!r}, not {wanted}; {advice}")
            values[key] = value
        state = cls(**values)
        if state.epoch < 0 or state.epochs_without_improvement < 0 or not math.isfinite(state.elapsed_seconds) \
                or state.elapsed_seconds < 0:
            raise RunError(f"{path}: negative or non-finite epoch, epochs_without_improvement or elapsed_seconds; "
                           f"{advice}")
        for key, name in (("checkpoint", state.checkpoint), ("swa_average", state.swa_average)):
            if name is not None and Path(name).name != name:
                raise RunError(f"{path}: {key} {name!r} is not a file name in {path.parent.name}/; {advice}")
        if state.swa_epochs < 0 or (state.swa_epochs > 0) != (state.swa_average is not None):
            raise RunError(f"{path}: swa_epochs {state.swa_epochs} and swa_average {state.swa_average!r} disagree; "
                           f"{advice}")
        if state.best is not None:
            state.best = float(state.best)
        state.elapsed_seconds = float(state.elapsed_seconds)
        return state

    def write(self, path: str | os.PathLike[str]) -> None:
        """Save to ``path`` atomically (a temporary file, then renamed): the commit point of a
        checkpoint, so a crash leaves the previous state or this one, never half of either. The keys
        added later (:attr:`_ADDED`) are written only when they hold something: a run without them keeps
        the layout ``state.json`` always had, which older versions of this code read."""
        defaults = ResumeState()
        atomic_write_json(Path(path), {key: value for key, value in dataclasses.asdict(self).items()
                                       if key not in self._ADDED or value != getattr(defaults, key)})


# --- the same, as functions of a path ---------------------------------------------------------------


def read_history(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``history.csv`` as a frame (empty, with the right columns, when it does not exist).

    Validated, because every reader computes with it (training compares epochs, the curve sums
    seconds): a line that is not numbers, an epoch that is not a whole number or not in order is a
    one-line :class:`RunError` naming the file and line. Empty cells are fine (NaN: no validation
    set, no weight average), and so are the columns older runs lack (:data:`ADDED_HISTORY_COLUMNS`).
    """
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    advice = "the run folder is damaged; delete or repair that line (training recomputes what it lost), " \
             "or train into a new folder"
    try:
        text = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: not a valid history CSV ({' '.join(str(exc).split())}); {advice}") from None
    for column in ADDED_HISTORY_COLUMNS:
        if column not in text.columns:
            text[column] = ""
    missing = [c for c in HISTORY_COLUMNS if c not in text.columns]
    if missing:
        raise RunError(f"{path}: missing column(s) {', '.join(missing)}")
    history = text.copy()  # a column this version does not know stays as read (text)
    for column in HISTORY_COLUMNS:
        cells = text[column].str.strip()
        values = pd.to_numeric(cells.mask(cells == ""), errors="coerce")
        wrong = values.isna() & (cells != "") & (cells.str.lower() != "nan")
        if column == "epoch":
            wrong |= values.isna() | (values != values.round())
        if wrong.any():
            row = int(wrong.to_numpy().argmax())
            raise RunError(f"{path} line {row + 2}: {column} {text[column].iloc[row]!r} is not a "
                           f"{'whole ' if column == 'epoch' else ''}number; {advice}")
        history[column] = values.astype("int64") if column == "epoch" else values.astype("float64")
    epochs = history["epoch"].to_numpy()
    if len(epochs) and (epochs[0] < 1 or (epochs[1:] <= epochs[:-1]).any()):
        row = 0 if epochs[0] < 1 else int((epochs[1:] <= epochs[:-1]).argmax()) + 1
        raise RunError(f"{path} line {row + 2}: epoch {epochs[row]} is out of order (epochs count up from 1); "
                       f"{advice}")
    return history


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run folder made by :func:`~galaxy_lib.model.train.train` (configuration, split and history)."""
    return RunFolder(Path(run_dir)).load()


def load_model(run_dir: str | os.PathLike[str], which: str = "best") -> keras.Model:
    """The run's ``best`` (lowest validation RMSE), ``last``, ``ema`` or ``swa`` model, ready for prediction."""
    return RunFolder(Path(run_dir)).load_model(which)
