"""One configuration object for data, model, training, evaluation and reports.

The defaults below reproduce the paper's *code* (see ``docs`` and
``../shared/docs/galaxy-zoo-facts.md``); ``parameters/*.yaml`` files hold only overrides,
with their reasons in comments (the nanoGPT habit). The same frozen object flows from a
notebook's ``parameters`` cell or the command line into every library call and is saved
with each run, so a run folder always says exactly how it was made.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from galaxy_lib.errors import ConfigError
from galaxy_lib.parameters_file import CONFIGURATION, ParametersFile, read, unknown_keys_error
from galaxy_lib.paths import atomic_write_text

CHOICES: dict[str, tuple[str, ...]] = {
    "head": ("sigmoid", "tree"),
    "loss": ("bce", "mse"),
    "lr_schedule": ("constant", "cosine", "step"),
    "precision": ("float32", "mixed_bfloat16", "mixed_float16"),
    "schedule_clock": ("auto", "epochs", "budget"),
    "strategy": ("auto", "none", "mirrored", "multi_worker"),
    "tta": ("none", "flips", "dihedral", "dihedral_shift"),
    "tree_normalisation": ("softmax", "relu"),
    "views_combine": ("mean", "concat"),
    "weight_averaging": ("none", "ema", "swa"),
}

VIEW_COUNTS: tuple[int, ...] = (4, 8, 16)
"""Allowed ``views`` of ``model: vgg6_views`` (see :mod:`galaxy_lib.model.network`)."""

RENAMED_KEYS: dict[str, str] = {"mixed_precision": "precision"}
"""Keys of older ``config.yaml`` files and what they became (see :func:`_upgrade_old_keys`)."""


@dataclass(frozen=True)
class Config:
    """Every setting of a run. Field comments are the documentation users see."""

    # --- data -----------------------------------------------------------------------
    data: str = "data/synthetic"  # Kaggle-layout folder or zip; relative to the project root
    synthetic: bool = False  # `data` is a synthetic sky: `synth -f`, `report` and the notebooks make it when missing
    synthetic_n: int = 2000  # galaxies in that synthetic sky
    synthetic_seed: int = 0  # its seed (independent of the training seed)
    synthetic_test_n: int = 0  # unlabelled galaxies in images_test_rev1/, for a Kaggle submission (needs synthetic)
    max_images: int = 0  # use at most this many labelled galaxies (0 = all); a choice seeded by split_seed
    skip_bad_images: bool = False  # skip unreadable JPEGs (listed) instead of failing
    resize_bad_size: bool = False  # resize images that are not 424x424 instead of failing
    tree_tolerance: float = 0.01  # how far a row's answers may stray from its tree sums

    # --- split ------------------------------------------------------------------------
    val_fraction: float = 0.1  # share of galaxies for validation (model selection)
    test_fraction: float = 0.2  # share held out for the final test, never trained on
    # draws the validation and test galaxies (and the max_images subset); `seed` does not, so
    # runs that differ only in their seed are tested on the same galaxies
    split_seed: int = 0
    test_pool_file: str = ""  # CSV (GalaxyID[, subset]) of galaxies allowed in the test set
    test_pool_subset: str = ""  # keep only rows of test_pool_file whose `subset` equals this (needs test_pool_file)
    refit: bool = False  # also train on the validation galaxies (split unchanged, test untouched; no model selection)

    # --- input geometry -------------------------------------------------------------------
    crop: int = 128  # central crop side in pixels of the 424x424 image (paper: 128)
    image_size: int = 0  # resize the crop to this side (0 = keep the crop size)
    cache_crops: bool = False  # keep decoded uint8 crops on disk after the first epoch
    crop_memory_mb: float = 1024  # hold the decoded training crops in memory up to this size (larger sets stream)

    # --- model ----------------------------------------------------------------------------
    model: str = "vgg6"  # architecture name: vgg6 (paper) or vgg6_views (Dieleman's viewpoint pooling)
    views: int = 8  # vgg6_views: 4 (rotations), 8 (rotations x mirror) or 16 (those at 0 and 45 deg, corner parts)
    views_combine: str = "mean"  # vgg6_views: 'mean' of the views' features (exactly invariant) or 'concat' (Dieleman)
    head: str = "sigmoid"  # 'sigmoid' (paper) or 'tree' (outputs obey the tree sums)
    tree_normalisation: str = "relu"  # tree head per question: Dieleman's 'relu' (ReLU / sum) or 'softmax'
    second_pool: int = 4  # size of the second max-pool (paper: 4)
    width: float = 1.0  # multiplies every layer's filter/unit count (paper: 1.0)
    conv_blocks: int = 2  # convolution blocks; each one past the paper's 2 adds Conv-Conv (2x filters)-BN-MaxPool2
    last_block_convs: int = 2  # 3x3 convolutions in the last block past the paper's 2 (3 = deeper; conv_blocks 3+)
    last_block_filters: int = 0  # filters of the last block's convolutions (0 = twice the previous block's, 96 = wider)

    # --- training -------------------------------------------------------------------------
    # a .keras model, or a run folder (its last.keras), whose weights start this run instead of the
    # seeded random ones (pretraining, then fine-tuning); relative to the project root; the same
    # architecture is required, the optimizer starts afresh, and a resumed run's checkpoint wins
    init_weights: str = ""
    seed: int = 0  # seeds the model: initial weights, shuffling, augmentation, dropout (not the split: split_seed)
    epochs: int = 50  # training epochs (paper: 50)
    batch_size: int = 256  # images per step (paper: 256)
    learning_rate: float = 1e-3  # Adam learning rate (paper: 1e-3)
    lr_schedule: str = "constant"  # 'constant' (paper), 'cosine' decay or Dieleman's 'step' (/10 at 72% and 92%)
    warmup_epochs: int = 0  # linear warm-up from learning_rate/10 over this many epochs (0 = none)
    # 'budget': the schedule over epochs or time_limit_minutes, whichever ends first; 'epochs': over
    # epochs only (reproducible bit for bit, but a slow machine may never reach the decay);
    # 'auto': budget when time_limit_minutes is set, else epochs
    schedule_clock: str = "auto"
    loss: str = "bce"  # 'bce' on soft vote fractions (paper) or 'mse' (the Kaggle metric)
    augment: bool = False  # random 90-degree rotations and flips
    augment_rotate: bool = False  # free rotation by any angle (needs augment)
    augment_shift: int = 0  # random shifts of up to this many pixels (needs augment)
    mixup: float = 0.0  # mix image pairs and their vote fractions by Beta(mixup, mixup) weights (0 = off)
    label_smoothing: float = 0.0  # pull training targets this share of the way to the training mean (0 = off)
    early_stopping_patience: int = 0  # stop after this many epochs without val improvement (0 = off)
    time_limit_minutes: float = 0.0  # stop training after this wall time (0 = no limit)
    strategy: str = "auto"  # tf.distribute: auto, none, mirrored, multi_worker
    precision: str = "float32"  # float32, mixed_bfloat16 (CPUs with AVX-512 BF16) or mixed_float16 (GPUs)
    weight_averaging: str = "none"  # 'ema' (a moving average, scored each epoch) or 'swa' (epochs from swa_start)
    ema_momentum: float = 0.999  # the average's momentum per step (needs weight_averaging: ema)
    swa_start: float = 0.72  # share of the schedule done from which epochs enter the swa average (needs swa)
    deterministic: bool = True  # TensorFlow op determinism (identical seeded CPU runs)
    threads: int = 0  # TensorFlow intra-op threads (0 = the cores this process may use)
    checkpoint_seconds: float = 60  # write the resume checkpoint at most this often (and at the end; 0 = every epoch)

    # --- evaluation -------------------------------------------------------------------------
    tta: str = "none"  # test-time averaging: none, flips (4), dihedral (8) or dihedral_shift (8 x 5 shifts) views
    auc_min_positives: int = 20  # answers with fewer positives are 'not measurable'
    bootstrap: int = 1000  # bootstrap resamples for AUC intervals
    central_pixel_clusters: int = 0  # 0 = Kaggle's fixed colour bins; >0 = k-means clusters

    # --- report -----------------------------------------------------------------------------
    run_name: str = "default"  # names runs/<run_name> and reports/<run_name>
    # who ran it, for a class (shown in report.json, the report's header and the index); with a
    # student the model's seed is drawn from the name and `seed` (see Config.model_seed), so two
    # students' honest runs differ; the split (split_seed) stays the course's. Also set by the
    # environment variable GALAXY_LIB_STUDENT (`make lab STUDENT="Ada Lovelace"`)
    student: str = ""
    runs_dir: str = "runs"  # where run folders go
    reports_dir: str = "reports"  # where rendered reports go

    def __post_init__(self) -> None:
        for key, allowed in CHOICES.items():
            value = getattr(self, key)
            if value not in allowed:
                raise ConfigError(f"config key {key!r}: {value!r} is not one of {', '.join(allowed)}")
        if self.views not in VIEW_COUNTS:
            raise ConfigError(f"config key 'views': {self.views!r} is not one of {', '.join(map(str, VIEW_COUNTS))}")
        checks = {
            "crop": 8 <= self.crop <= 424,
            "image_size": self.image_size == 0 or 8 <= self.image_size <= 424,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "val_fraction": 0 <= self.val_fraction < 1,
            "test_fraction": 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1,
            "second_pool": self.second_pool >= 1,
            "width": self.width > 0,
            "conv_blocks": 2 <= self.conv_blocks <= 4,
            "last_block_convs": 1 <= self.last_block_convs <= 4,
            "last_block_filters": 0 <= self.last_block_filters <= 1024,
            "synthetic_n": self.synthetic_n >= 1,
            "synthetic_test_n": self.synthetic_test_n >= 0,
            "synthetic_seed": self.synthetic_seed >= 0,
            "seed": self.seed >= 0,
            "split_seed": self.split_seed >= 0,
            "max_images": self.max_images >= 0,
            "augment_shift": self.augment_shift >= 0,
            "mixup": self.mixup >= 0,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "early_stopping_patience": self.early_stopping_patience >= 0,
            "time_limit_minutes": self.time_limit_minutes >= 0,
            "warmup_epochs": self.warmup_epochs >= 0,
            "ema_momentum": 0 < self.ema_momentum < 1,
            "swa_start": 0 <= self.swa_start < 1,
            "threads": self.threads >= 0,
            "crop_memory_mb": self.crop_memory_mb >= 0,
            "checkpoint_seconds": self.checkpoint_seconds >= 0,
            "auc_min_positives": self.auc_min_positives >= 1,
            "bootstrap": self.bootstrap >= 0,
            "central_pixel_clusters": self.central_pixel_clusters >= 0,
            "tree_tolerance": self.tree_tolerance >= 0,
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"config key {key!r}: value {getattr(self, key)!r} is out of range")
        if self.student != self.student.strip() or len(self.student) > 100 or not self.student.isprintable():
            raise ConfigError(f"config key 'student': {self.student!r} must be a name on one line, at most 100 "
                              "characters, without leading or trailing spaces")
        self._check_combinations()

    def _check_combinations(self) -> None:
        """Refuse keys that would silently do nothing because another key switches their feature off.

        Such a setting reads as active in ``config.yaml`` although the code never looks at it, so
        the run would differ from what its configuration says. Defaults never trip a check.
        """
        needs = [
            ("augment_shift", self.augment_shift > 0, "augment", self.augment, "set augment: true"),
            ("augment_rotate", self.augment_rotate, "augment", self.augment, "set augment: true"),
            ("synthetic_test_n", self.synthetic_test_n > 0, "synthetic", self.synthetic,
             "set synthetic: true, or synthetic_test_n: 0"),
            ("test_pool_subset", bool(self.test_pool_subset), "test_pool_file", bool(self.test_pool_file),
             "name the pool CSV in test_pool_file, or clear test_pool_subset"),
            ("tree_normalisation", self.tree_normalisation != Config.tree_normalisation, "head",
             self.head == "tree", "set head: tree, or leave tree_normalisation at its default"),
            ("views", self.views != Config.views, "model", self.model == "vgg6_views",
             "set model: vgg6_views, or leave views at its default"),
            ("views_combine", self.views_combine != Config.views_combine, "model", self.model == "vgg6_views",
             "set model: vgg6_views, or leave views_combine at its default"),
            ("last_block_convs", self.last_block_convs != Config.last_block_convs, "conv_blocks",
             self.conv_blocks > 2, "set conv_blocks: 3 or more, or leave last_block_convs at its default"),
            ("last_block_filters", self.last_block_filters != Config.last_block_filters, "conv_blocks",
             self.conv_blocks > 2, "set conv_blocks: 3 or more, or leave last_block_filters at its default"),
            ("ema_momentum", self.ema_momentum != Config.ema_momentum, "weight_averaging",
             self.weight_averaging == "ema", "set weight_averaging: ema, or leave ema_momentum at its default"),
            ("swa_start", self.swa_start != Config.swa_start, "weight_averaging",
             self.weight_averaging == "swa", "set weight_averaging: swa, or leave swa_start at its default"),
            ("schedule_clock", self.schedule_clock == "budget", "time_limit_minutes",
             self.time_limit_minutes > 0, "set a time_limit_minutes budget, or schedule_clock: epochs"),
            ("refit", self.refit, "val_fraction", self.val_fraction > 0,
             "set val_fraction above 0 (the galaxies refit adds), or refit: false"),
        ]
        for key, is_set, other, other_on, fix in needs:
            if is_set and not other_on:
                raise ConfigError(
                    f"config key {key!r} ({_show(getattr(self, key))}) does nothing while {other!r} is "
                    f"{_show(getattr(self, other))}: {fix}"
                )

    @property
    def clock(self) -> str:
        """The schedule's clock in force: ``schedule_clock``, with ``auto`` meaning ``budget`` when
        a time limit is set (a slow machine still gets its decay) and ``epochs`` otherwise."""
        if self.schedule_clock == "auto":
            return "budget" if self.time_limit_minutes > 0 else "epochs"
        return self.schedule_clock

    @property
    def model_seed(self) -> int:
        """The seed that trains the model (initial weights, shuffling, augmentation, dropout):
        ``seed`` itself without a ``student``, else one drawn from the student's name and ``seed``
        (:func:`student_seed`). Drawn from both, so each student's seed-to-seed comparison (``seed: 0``
        against ``seed: 1``) is their own, and two students' runs of the same file never coincide:
        identical predictions on the instructor's galaxies then mean a copied run."""
        return student_seed(self.student, self.seed) if self.student else self.seed

    @property
    def input_size(self) -> int:
        """Side of the square the model sees: the resize target, else the crop."""
        return self.image_size or self.crop

    def replace(self, **changes: Any) -> Config:
        """A copy with some keys changed, validated like :func:`from_dict`."""
        return from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def changes_from(self, other: Config) -> dict[str, tuple[Any, Any]]:
        """``{key: (other's value, this value)}`` for every key that differs, in field order:
        a run against the paper's defaults (notebook 2), or against its saved configuration."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {key: (theirs[key], value) for key, value in mine.items() if value != theirs[key]}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the resolved configuration as YAML (atomically)."""
        atomic_write_text(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))


STUDENT_ENV = "GALAXY_LIB_STUDENT"
"""Environment variable naming the student when no parameters file or override does: ``make lab
STUDENT=...`` and ``make report STUDENT=...`` set it for the notebooks and the command line."""


def student_seed(student: str, seed: int = 0) -> int:
    """A model seed drawn from a student's name (case and surrounding spaces ignored) and ``seed``:
    the same on every machine and Python (SHA-256, not ``hash()``), below 2**31 as Keras wants."""
    digest = hashlib.sha256(f"{student.strip().casefold()}\n{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def _show(value: Any) -> str:
    """A config value as it reads in YAML (``false``, ``4``); an empty string reads ``empty``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "empty" if value == "" else str(value)


CONFIG_KEYS: frozenset[str] = frozenset(f.name for f in fields(Config))
"""The keys a configuration may set: the fields of :class:`Config` (every check of a key name uses this set)."""
_HINTS = typing.get_type_hints(Config)


def _coerce_bool(key: str, value: Any, source: str) -> bool:
    """A true/false value (also ``yes``/``no``/``1``/``0`` as text), naming key and source if it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
        return value.lower() in {"true", "yes", "1"}
    where = f" in {source}" if source else ""
    raise ConfigError(f"config key {key!r}{where}: expected true or false, got {value!r}")


def _coerce(key: str, value: Any, source: str) -> Any:
    """Check (and gently convert) one value against the field's type, naming key and source."""
    hint = _HINTS[key]
    where = f" in {source}" if source else ""
    if hint is bool:
        return _coerce_bool(key, value, source)
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"config key {key!r}{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"config key {key!r}{where}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key {key!r}{where}: expected a number, got {value!r}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key {key!r}{where}: expected a number, got {value!r}")
    if hint is str:
        if value is None:
            return ""
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config key {key!r}{where}: expected a string, got {value!r}")
    if isinstance(hint, types.UnionType):  # pragma: no cover - no such fields yet
        return value
    raise TypeError(f"unsupported config type for {key!r}: {hint}")


def _unknown_keys_error(unknown: Iterable[Any], where: str) -> ConfigError:
    """The error for keys :class:`Config` does not have (``where``: the file, block or ``overrides``,
    or empty); a renamed key names its successor."""
    names = [f"{key} (now {RENAMED_KEYS[key]})" if key in RENAMED_KEYS else key for key in sorted(unknown, key=str)]
    return unknown_keys_error(names, "config", where)


def set_block(value: Any, where: str) -> dict[str, Any]:
    """A ``set:`` block of an ensemble or learning-curve file: a mapping of configuration keys
    (``None``: no block), unknown keys named with ``where``, the file (and member or block)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `set` must be a mapping of config keys, got {type(value).__name__}")
    unknown = set(value) - CONFIG_KEYS
    if unknown:
        raise ConfigError(f"{where}: {_unknown_keys_error(unknown, '`set`')}")
    return dict(value)


def override_values(overrides: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    """The command line's (or a notebook's) overrides, a dict or ``key=value`` strings, as a dict
    whose keys are all configuration keys: an ensemble or a curve applies them to every member or
    point, so a misspelt key is refused before any of them is loaded."""
    if not overrides:
        return {}
    values = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    unknown = set(values) - CONFIG_KEYS
    if unknown:
        raise _unknown_keys_error(unknown, "overrides")
    return values


def _upgrade_old_keys(values: dict[str, Any], path: Path) -> dict[str, Any]:
    """One YAML file's mapping with the keys of older versions renamed to today's, so that run
    folders trained before a rename (their ``config.yaml``) still load, resume and evaluate.

    ``mixed_precision: true/false`` became ``precision: mixed_float16/float32``. It is done per
    file, before ``base`` files and overrides are merged, so a newer file or override that sets
    ``precision`` still wins over an older base; one file holding both keys is an error.
    """
    if "mixed_precision" not in values:
        return values
    if "precision" in values:
        raise ConfigError(f"{path}: has both 'mixed_precision' (the old name) and 'precision'; keep only 'precision'")
    values = dict(values)
    old = values.pop("mixed_precision")
    flag = _coerce_bool("mixed_precision", old, str(path))
    values["precision"] = "mixed_float16" if flag else "float32"
    return values


def from_dict(values: Mapping[str, Any], source: str = "") -> Config:
    """Build a validated :class:`Config`; unknown keys are an error naming them."""
    unknown = set(values) - CONFIG_KEYS
    if unknown:
        raise _unknown_keys_error(unknown, source)
    return Config(**{k: _coerce(k, v, source) for k, v in values.items()})


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``['epochs=2', 'head=tree']`` -> dict, values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {pair!r} is not of the form key=value")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problem = str(exc).splitlines()[0]
            raise ConfigError(f"override {pair!r}: the value is not a YAML scalar ({problem})") from None
    return out


def load_config(
    path: str | os.PathLike[str] | ParametersFile | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    *,
    environment: bool = True,
) -> Config:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (dict or ``key=value`` list).

    A YAML file may name another with ``base: other.yaml`` (relative to itself) to inherit it.
    ``path`` may also be a file :func:`galaxy_lib.parameters_file.read` has read already (the
    command line reads it once to learn its kind).
    With ``environment`` (the default: a parameters file), a ``student`` that neither the file nor
    the overrides set comes from :data:`STUDENT_ENV` when that is set. A run's saved ``config.yaml``
    is loaded without it (:meth:`galaxy_lib.model.runs.RunFolder.load_config`): it records who ran it.
    """
    file = read(path, CONFIGURATION) if path else None  # a stray `runs:` is an unknown key here, not a kind
    values: dict[str, Any] = _file_values(file) if file else {}
    if overrides:
        extra = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
        values.update(extra)
    if environment and "student" not in values and os.environ.get(STUDENT_ENV, "").strip():
        values["student"] = os.environ[STUDENT_ENV]
    return from_dict(values, source=str(file.path) if file else "overrides")


def _file_values(file: ParametersFile) -> dict[str, Any]:
    """A configuration file's keys, its ``base`` files' first: each file's older key names
    upgraded and its unknown keys named with that file (the one that holds them)."""
    values: dict[str, Any] = {}
    for layer in file.layers:
        own = _upgrade_old_keys(layer.values, layer.path)
        unknown = set(own) - CONFIG_KEYS
        if unknown:
            raise _unknown_keys_error(unknown, str(layer.path))
        values.update(own)
    return values
