"""Learning curves: one configuration trained on nested subsets of the training galaxies.

``python -m galaxy_lib curve -f parameters/NAME.yaml --sizes 150,300,600,1200,all --seeds 2 --out
runs/curve-NAME`` (:func:`run_curve`) trains the same configuration on ``n`` training galaxies for
each size ``n`` and seed, scores every point on the *same* held-out test galaxies, and writes
``curve.csv`` (:data:`CURVE_COLUMNS`) and ``learning_curve.png`` after every point; with at least 3
sizes it ends with the power-law extrapolation (:mod:`galaxy_lib.studies.power_law`):
``fit.json`` and ``extrapolation.png``.

**One split, nested subsets.** The split is made once, from the configuration exactly as ``train``
makes a run's (its ``split_seed``, fractions, test pool, ``max_images``), and kept as the curve
folder's ``split.csv``; an existing one is reused. Its training galaxies are put in a seeded random
order once (``train_order.csv``, seeded by the configuration's ``split_seed`` on a stream of its own:
which galaxies a subset holds is part of the split, not of the model) and the point of size ``n``
trains on the first ``n`` of them, so a larger subset contains every smaller one and the curve
measures more data, not other data. Every point has the same validation and test galaxies.
``--seeds k`` trains each size with training seeds ``seed, seed + 1, ... seed + k - 1`` (initial
weights, shuffling, augmentation, dropout), never another split or subset: the points' ``seed``
differs, their ``split_seed`` does not.

**How a point is told to train on n galaxies: its own** ``split.csv``. Each point is an ordinary run
folder (``n00150-seed0/``) whose ``split.csv`` lists the shared validation and test galaxies and
only its ``n`` training galaxies (the others are not listed, so they are in none of the three
sets); ``train`` reuses a ``split.csv`` it finds, as it does for ensemble members. Why not a
``train_size`` key of :class:`~galaxy_lib.config.Config`: the split file is already the one record
of which galaxies a run trained on, and every reader takes them from it: training, ``evaluate``
(whose training-mean and central-pixel baselines are fitted on the ``train`` rows, and whose
``n_train`` counts them), the report and the benchmarks. A key would be a second description
that each of them would have to honour, and that could disagree with a reused ``split.csv``
(which wins by design). With the split file, ``python -m galaxy_lib evaluate runs/curve-X/n00150-seed0``
scores a point correctly with nothing new, and ``train.py`` and ``Config`` stay as they are. What
makes points distinct is therefore their folder and ``split.csv``: before anything trains, every
existing point's ``split.csv`` is checked against the shared split and the order, and its
``config.yaml`` against the curve's configuration (:data:`~galaxy_lib.model.runs.RESUMABLE_CHANGES`
may differ, as when resuming any run), so a point cannot silently drift from its curve.

**Resuming.** Points run seed by seed (every size of the first seed first, so an interrupted curve
is a whole curve early). A finished point whose stopping keys (``epochs``, ``time_limit_minutes``,
``early_stopping_patience``) are unchanged is not touched at all, and its scores come from
``scores/<point>.json``, kept while its ``resume/state.json`` and the test-time averaging are
unchanged (``--set tta=...`` scores the points again without training them); an interrupted point
resumes after its last finished epoch (:func:`~galaxy_lib.model.train.train`); a deleted point is
trained again on the same galaxies with the same seed.

**Scores.** Each point's best-by-validation model predicts its validation and test galaxies with
the configuration's test-time averaging (:func:`~galaxy_lib.model.predict.predict_galaxies`), scored
with :func:`~galaxy_lib.evaluation.metrics.rmse` and
:func:`~galaxy_lib.evaluation.metrics.paper_accuracy`; ``mean_rmse`` is the training-mean predictor
of *that point's* training galaxies on the same test galaxies
(:func:`~galaxy_lib.evaluation.baselines.constant_predictions`).

Importing this module does not import TensorFlow: only training and scoring a point do.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galaxy_lib.config import Config
from galaxy_lib.data import split as split_module
from galaxy_lib.errors import ConfigError, DataError, RunError
from galaxy_lib.evaluation import baselines, metrics
from galaxy_lib.locks import run_lock
from galaxy_lib.model.runs import RESUMABLE_CHANGES, STOPPING_KEYS, ResumeState, RunFolder, check_same_run
from galaxy_lib.paths import atomic_write_json, atomic_write_text, display_path, resolve_path
from galaxy_lib.studies import figures
from galaxy_lib.studies.power_law import MIN_SIZES, Extrapolation, extrapolate
from galaxy_lib.tree import ID_COLUMN

CURVE_COLUMNS = (
    "n_train", "seed", "epochs", "minutes", "val_rmse", "test_rmse", "test_accuracy", "mean_rmse",
    "n_val", "n_test", "tta", "stopped", "run",
)
"""Columns of ``curve.csv``, one row per finished point: training galaxies, training seed, epochs
and minutes trained, validation and test RMSE and the test accuracy of the best-by-validation
model (with ``tta``), the training-mean predictor's test RMSE (``mean_rmse``), the validation and
test counts (the same on every row), why training stopped, and the point's run folder (relative
to the curve folder)."""

SPLIT_FILE = "split.csv"  # the shared split: every point's validation and test galaxies
ORDER_FILE = "train_order.csv"  # the training galaxies in the order subsets take them
CURVE_FILE = "curve.csv"
SETUP_FILE = "curve.json"  # what the curve is: configuration file, overrides, sizes, seeds, split
SCORES_DIR = "scores"  # one JSON per scored point, kept while the point's state is unchanged
FIGURE_FILE = "learning_curve.png"
FIT_FILE = "fit.json"
FIT_FIGURE_FILE = "extrapolation.png"
ORDER_STREAM = 3
"""The order's seed is ``[split_seed, ORDER_STREAM]``: a stream of its own, independent of the
split's draw (``split_seed``) and of ``max_images``' (``[split_seed, 1]``). (Curves made before
``split_seed`` existed used ``seed`` here; their ``train_order.csv`` is reused as it is.)"""


# --- sizes ---------------------------------------------------------------------------------------------


def parse_sizes(text: str | Sequence[int | str]) -> list[int | str]:
    """``'150,300,all'`` -> ``[150, 300, 'all']``: whole numbers of at least 1, or ``all``.
    Anything else is a one-line :class:`ConfigError` naming ``--sizes`` and the value, before the
    data is even read. The upper limit (the training galaxies of the split) is
    :func:`resolve_sizes`' to check."""
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else [str(p).strip() for p in text]
    if not parts or parts == [""]:
        raise ConfigError("--sizes: no sizes given; e.g. --sizes 150,300,600,1200,all")
    out: list[int | str] = []
    for part in parts:
        if part.lower() == "all":
            out.append("all")
            continue
        try:
            value = int(part)
        except ValueError:
            shown = repr(part) if part else "an empty entry"
            raise ConfigError(f"--sizes: {shown} is not a number of training galaxies "
                              "(whole numbers of at least 1, or 'all', separated by commas)") from None
        if value < 1:
            raise ConfigError(f"--sizes: {value} is not a number of training galaxies (each size must be at least 1)")
        out.append(value)
    return out


def resolve_sizes(sizes: str | Sequence[int | str], n_available: int) -> list[int]:
    """The sizes as ascending, distinct numbers of galaxies (``all`` = ``n_available``, the split's
    training galaxies); a size above ``n_available`` is a :class:`ConfigError` naming ``--sizes``."""
    resolved = set()
    for size in parse_sizes(sizes):
        n = n_available if size == "all" else int(size)
        if n > n_available:
            raise ConfigError(f"--sizes: {n:,} is more than the {n_available:,} training galaxies of the split "
                              "(use 'all' for every one)")
        resolved.add(n)
    return sorted(resolved)


# --- the points ----------------------------------------------------------------------------------------


def point_name(n_train: int, seed: int) -> str:
    """A point's run folder name, e.g. ``n00150-seed0`` (sorts by size)."""
    return f"n{n_train:05d}-seed{seed}"


def nested_order(train_ids: Any, seed: int) -> np.ndarray:
    """The training galaxies in a seeded random order: the subset of size ``n`` is the first ``n``,
    so every subset contains the smaller ones. Depends only on ``seed`` (the configuration's
    ``split_seed``) and the set of ids."""
    ids = np.sort(np.asarray(train_ids, dtype=np.int64))
    return np.random.default_rng([seed, ORDER_STREAM]).permutation(ids)


def point_split(shared: pd.DataFrame, order: np.ndarray, n_train: int) -> pd.DataFrame:
    """The split of the point with ``n_train`` galaxies: the shared validation and test galaxies and
    the first ``n_train`` of ``order`` as training galaxies (the rest of the training galaxies are left
    out of the file, so they are in none of the three sets)."""
    keep = set(order[:n_train].tolist())
    frame = shared[(shared["split"] != "train") | shared[ID_COLUMN].isin(keep)]
    return frame.sort_values(ID_COLUMN, kind="stable").reset_index(drop=True)


def _same_sets(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return all(set(split_module.ids_of(a, s).tolist()) == set(split_module.ids_of(b, s).tolist())
               for s in split_module.SPLITS)


@dataclass(frozen=True)
class Point:
    """One point of the curve: its size, training seed, configuration and run folder."""

    n_train: int
    seed: int
    config: Config
    folder: RunFolder

    @property
    def name(self) -> str:
        return self.folder.path.name

    def describe(self) -> str:
        return f"{self.n_train:,} training galaxies, seed {self.seed}"


@dataclass(frozen=True)
class CurvePlan:
    """Everything :func:`run_curve` will do, checked before anything trains or is written."""

    path: Path
    config: Config
    data: Any  # GalaxyData
    shared: pd.DataFrame  # the shared split (all training galaxies)
    order: np.ndarray  # the training galaxies in subset order
    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    points: tuple[Point, ...]
    new_split: bool  # the shared split and order are new (written when the curve starts)

    @property
    def n_available(self) -> int:
        return len(self.order)


def _read_order(path: Path, train_ids: np.ndarray) -> np.ndarray:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: not a valid CSV ({' '.join(str(exc).split())}); the curve folder is damaged") from None
    if list(frame.columns) != [ID_COLUMN]:
        raise RunError(f"{path}: expected one column {ID_COLUMN}, found {', '.join(map(str, frame.columns))}")
    ids = pd.to_numeric(frame[ID_COLUMN], errors="coerce")
    if ids.isna().any() or set(ids.astype(np.int64).tolist()) != set(train_ids.tolist()) or ids.duplicated().any():
        raise RunError(f"{path}: does not list each training galaxy of {path.parent / SPLIT_FILE} exactly once; "
                       "the curve folder is damaged (use a new --out folder)")
    return ids.astype(np.int64).to_numpy()


def plan_curve(
    config: Config,
    out_dir: str | os.PathLike[str],
    sizes: str | Sequence[int | str],
    *,
    seeds: int = 1,
    minutes: float | None = None,
    data: Any = None,
) -> CurvePlan:
    """Check the request and every existing point, and lay out the points; writes nothing.

    Raises a one-line :class:`ConfigError` for a bad ``--sizes``/``--seeds``/``--minutes`` value or a
    configuration a curve cannot use (``refit``, no test galaxies), and a :class:`RunError` for an
    existing point that no longer matches the curve (its split or its configuration)."""
    from galaxy_lib.data import dataset

    tokens = parse_sizes(sizes)  # syntax first: before the data set is read
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds: {seeds!r} is not a number of training seeds (at least 1)")
    if minutes is not None and not (math.isfinite(minutes) and minutes >= 0):
        raise ConfigError(f"--minutes: {minutes!r} is not a training budget (minutes >= 0; 0 = no time limit)")
    if config.refit:
        raise ConfigError("config key 'refit' is true: a learning curve needs its validation galaxies held out "
                          "(refit would train on them too, adding them to every size); set refit: false")
    path = resolve_path(out_dir)
    if RunFolder(path).config_file.is_file():
        raise ConfigError(f"--out {display_path(path)} is a run folder, not a curve folder; choose another --out")

    data = dataset.load_for_config(config) if data is None else data
    split_file = path / SPLIT_FILE
    shared = split_module.split_for_config(data, config, split_file if split_file.is_file() else None)
    train_ids = split_module.ids_of(shared, "train")
    if not len(split_module.ids_of(shared, "test")):
        raise ConfigError("the split has no test galaxies: a learning curve scores every point on the same test "
                          "galaxies; set test_fraction above 0")
    order_file = path / ORDER_FILE
    order = (_read_order(order_file, train_ids) if order_file.is_file()
             else nested_order(train_ids, config.split_seed))
    resolved = resolve_sizes(tokens, len(order))

    seed_list = tuple(config.seed + k for k in range(seeds))  # model seeds; every point keeps split_seed
    changes: dict[str, Any] = {} if minutes is None else {"time_limit_minutes": float(minutes)}
    points = []
    for seed in seed_list:  # seed by seed: an interrupted curve is a whole curve early
        point_config = config.replace(seed=seed, **changes)
        for n in resolved:
            folder = RunFolder(path / point_name(n, seed))
            _check_point(folder, point_config, point_split(shared, order, n))
            points.append(Point(n, seed, point_config, folder))
    return CurvePlan(path=path, config=config, data=data, shared=shared, order=order, sizes=tuple(resolved),
                     seeds=seed_list, points=tuple(points), new_split=not split_file.is_file())


def _check_point(folder: RunFolder, config: Config, expected: pd.DataFrame) -> None:
    """An existing point must hold the curve's galaxies and configuration (see the module docstring)."""
    where = display_path(folder.path)
    if folder.split_file.is_file() and not _same_sets(split_module.load_split(folder.split_file), expected):
        n_train = len(split_module.ids_of(expected, "train"))
        raise RunError(f"{where}: its split.csv is not this curve's (its first {n_train:,} "
                       "training galaxies and the shared validation and test galaxies); delete the point folder "
                       "to train it again, or use a new --out folder")
    if folder.config_file.is_file():
        check_same_run(folder.load_config(), config, allowed=RESUMABLE_CHANGES, where=folder.path,
                       advice="rerun the curve with the same settings, or use a new --out folder")


# --- scoring ---------------------------------------------------------------------------------------------


def _state_key(point: Point) -> dict[str, Any] | None:
    """What a point's scores depend on besides its galaxies: its training state (a resumed or
    retrained point has another) and the test-time averaging it is scored with."""
    state = point.folder.read_state()
    if not state:
        return None
    return {"epoch": state.epoch, "elapsed_seconds": state.elapsed_seconds, "finished": state.finished,
            "tta": point.config.tta}


def _complete(point: Point) -> str | None:
    """Why the point needs no more training (its stop reason), or None: it has finished, and nothing
    that decides when training ends (:data:`~galaxy_lib.model.runs.STOPPING_KEYS`) has changed since."""
    state = point.folder.read_state()
    if not state or not state.finished or not point.folder.config_file.is_file():
        return None
    saved = point.folder.load_config()
    if any(getattr(saved, key) != getattr(point.config, key) for key in STOPPING_KEYS):
        return None
    return str(state.finished)


def _cached_row(curve_dir: Path, point: Point) -> dict[str, Any] | None:
    path = curve_dir / SCORES_DIR / f"{point.name}.json"
    if not path.is_file():
        return None
    try:
        cached = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # scored again
    if cached.get("state") != _state_key(point):
        return None
    return cached.get("row")


def score_point(point: Point, data: Any, *, batch_size: int = 64) -> dict[str, Any]:
    """One row of ``curve.csv`` for a trained point (see the module docstring)."""
    from galaxy_lib.model import predict  # TensorFlow: only when a point is scored

    folder = point.folder
    split = folder.load_split()
    state = folder.read_state() or ResumeState()
    model = folder.load_model("best")
    scores: dict[str, tuple[float, float]] = {}
    counts = {}
    for name in ("val", "test"):
        ids, labels = data.subset(split_module.ids_of(split, name))
        counts[name] = len(ids)
        if not len(ids):
            continue
        predicted = predict.predict_galaxies(folder.path, data.images, ids, tta=point.config.tta, model=model,
                                             batch_size=batch_size)
        if not np.isfinite(predicted).all():
            raise RunError(f"{folder.model_file('best')}: predicts NaN or infinite values for {name} galaxies "
                           "(training diverged: lower learning_rate, or use loss: mse with head: tree)")
        scores[name] = (metrics.rmse(labels, predicted), metrics.paper_accuracy(labels, predicted))
    _, train_labels = data.subset(split_module.ids_of(split, "train"))
    _, test_labels = data.subset(split_module.ids_of(split, "test"))
    mean = baselines.constant_predictions(train_labels, len(test_labels))["training mean"]
    return {
        "n_train": len(train_labels),
        "seed": point.seed,
        "epochs": state.epoch,
        "minutes": state.elapsed_seconds / 60,
        "val_rmse": scores["val"][0] if "val" in scores else math.nan,
        "test_rmse": scores["test"][0],
        "test_accuracy": scores["test"][1],
        "mean_rmse": metrics.rmse(test_labels, mean),
        "n_val": counts["val"],
        "n_test": counts["test"],
        "tta": point.config.tta,
        "stopped": state.finished or "",
        "run": point.name,
    }


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def _cache_row(curve_dir: Path, point: Point, row: Mapping[str, Any]) -> None:
    payload = {"state": _state_key(point), "row": _json_row(row)}
    atomic_write_json(curve_dir / SCORES_DIR / f"{point.name}.json", payload)


# --- outputs ------------------------------------------------------------------------------------------------


def curve_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a ``curve.csv`` frame: :data:`CURVE_COLUMNS`, sorted by size and seed."""
    frame = pd.DataFrame([{k: (math.nan if row.get(k) is None else row.get(k)) for k in CURVE_COLUMNS}
                          for row in rows], columns=list(CURVE_COLUMNS))
    return frame.sort_values(["n_train", "seed"], kind="stable").reset_index(drop=True)


def read_curve(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A ``curve.csv`` (or the curve folder holding one), checked for :data:`CURVE_COLUMNS`' core:
    a missing file or column is a :class:`DataError` naming it."""
    path = resolve_path(path)
    if path.is_dir():
        path = path / CURVE_FILE
    if not path.is_file():
        raise DataError(f"learning curve not found: {path} (make one with `python -m galaxy_lib curve`)")
    frame = pd.read_csv(path, keep_default_na=True)
    missing = [c for c in ("n_train", "seed", "test_rmse", "mean_rmse") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame


def extrapolate_curve(curve: pd.DataFrame, **kwargs: Any) -> Extrapolation:
    """:func:`~galaxy_lib.studies.power_law.extrapolate` of a curve's test RMSE against its
    training-set sizes (every point: sizes and seeds); ``kwargs`` go to it (``target``, ``n_boot`` ...)."""
    return extrapolate(curve["n_train"].to_numpy(dtype=float), curve["test_rmse"].to_numpy(dtype=float), **kwargs)


def write_outputs(curve_dir: Path, frame: pd.DataFrame, *, note: str = "") -> None:
    """``curve.csv`` and ``learning_curve.png`` (each atomically), from the points scored so far."""
    atomic_write_text(curve_dir / CURVE_FILE, frame.to_csv(index=False))
    if len(frame):
        fig = figures.learning_curve(frame, note=note)
        figures.save_figure(fig, curve_dir / FIGURE_FILE)
        fig.clear()


def write_extrapolation(curve_dir: Path, frame: pd.DataFrame, *, note: str = "", **kwargs: Any) -> Extrapolation:
    """Fit and extrapolate the curve (:func:`extrapolate_curve`) and write ``fit.json`` and
    ``extrapolation.png``; needs at least :data:`~galaxy_lib.studies.power_law.MIN_SIZES` sizes."""
    result = extrapolate_curve(frame, **kwargs)
    atomic_write_json(curve_dir / FIT_FILE, result.to_dict())
    fig = figures.learning_curve_extrapolation(frame, result, note=note)
    figures.save_figure(fig, curve_dir / FIT_FIGURE_FILE)
    fig.clear()
    return result


def budget_note(frame: pd.DataFrame, config: Config) -> str:
    """What each point's training was, for the figures: epochs and minutes, and the budget."""
    if not len(frame):
        return ""
    def span(values: pd.Series, fmt: str) -> str:
        low, high = format(values.min(), fmt), format(values.max(), fmt)
        return low if low == high else f"{low}-{high}"

    budget = (f"budget {config.time_limit_minutes:g} min or {config.epochs} epochs per point"
              if config.time_limit_minutes else f"{config.epochs} epochs per point")
    return (f"{budget}; trained {span(frame['epochs'].astype(int), 'd')} epochs, {span(frame['minutes'], '.1f')} min; "
            f"test-time averaging {frame['tta'].iloc[0]}")


# --- the curve --------------------------------------------------------------------------------------------


def run_curve(
    config: Config,
    out_dir: str | os.PathLike[str],
    sizes: str | Sequence[int | str],
    *,
    seeds: int = 1,
    minutes: float | None = None,
    record: Mapping[str, Any] | None = None,
    verbose: bool | None = None,
    data: Any = None,
) -> pd.DataFrame:
    """Train, resume or reuse every point of the curve into ``out_dir`` and return ``curve.csv``'s frame.

    ``sizes``: ``'150,300,all'`` or a list (see :func:`parse_sizes`); ``seeds``: training seeds per
    size; ``minutes``: each point's ``time_limit_minutes`` (None = the configuration's); ``record``:
    extra fields for ``curve.json`` (the command line puts its parameters file and overrides there);
    ``verbose``: passed to :func:`~galaxy_lib.model.train.train`. Every check (sizes, seeds, minutes,
    existing points) happens before anything trains or is written (:func:`plan_curve`). Prints one
    line per point: which of how many, and whether it trains, resumes or is already complete.

    The curve folder is locked for the whole run (and each point's folder while it trains, see
    :mod:`galaxy_lib.locks`): a second command on the same curve stops at once, naming this one.
    """
    with run_lock(resolve_path(out_dir), "training a learning curve"):
        return _run_curve(config, out_dir, sizes, seeds=seeds, minutes=minutes, record=record, verbose=verbose,
                          data=data)


def _run_curve(config: Config, out_dir: str | os.PathLike[str], sizes: str | Sequence[int | str], *, seeds: int,
               minutes: float | None, record: Mapping[str, Any] | None, verbose: bool | None,
               data: Any) -> pd.DataFrame:
    """:func:`run_curve` holding the curve folder's lock."""
    plan = plan_curve(config, out_dir, sizes, seeds=seeds, minutes=minutes, data=data)
    path = plan.path
    path.mkdir(parents=True, exist_ok=True)
    if not (path / SPLIT_FILE).is_file():
        split_module.save_split(plan.shared, path / SPLIT_FILE)
    if not (path / ORDER_FILE).is_file():
        atomic_write_text(path / ORDER_FILE, pd.DataFrame({ID_COLUMN: plan.order}).to_csv(index=False))
    counts = {s: len(split_module.ids_of(plan.shared, s)) for s in split_module.SPLITS}
    setup = {
        **dict(record or {}),
        "sizes": list(plan.sizes), "seeds": list(plan.seeds),
        "time_limit_minutes": plan.points[0].config.time_limit_minutes, "epochs": config.epochs, "tta": config.tta,
        "split_seed": config.split_seed, "order_seed": [config.split_seed, ORDER_STREAM],
        "galaxies": {"train": counts["train"], "val": counts["val"], "test": counts["test"]},
        "data": display_path(config.data),
    }
    atomic_write_json(path / SETUP_FILE, setup)
    total = len(plan.points)
    print(f"learning curve {display_path(path)}: {len(plan.sizes)} sizes ({', '.join(f'{n:,}' for n in plan.sizes)}) "
          f"x {len(plan.seeds)} seed(s) = {total} points; validation {counts['val']:,} and test {counts['test']:,} "
          f"galaxies, the same for every point", flush=True)

    rows: dict[str, dict[str, Any]] = {}
    for i, point in enumerate(plan.points, 1):
        head = f"point {i}/{total}: {point.describe()} ({point.name})"
        reason = _complete(point)
        if reason is None:
            state = point.folder.read_state()
            done = f"resuming after epoch {state.epoch}" if state and state.epoch else "training"
            print(f"{head}: {done}", flush=True)
            if not point.folder.split_file.is_file():
                split_module.save_split(point_split(plan.shared, plan.order, point.n_train),
                                        point.folder.create().split_file)
            from galaxy_lib.model import train  # TensorFlow: only when a point trains

            train.train(point.config, point.folder.path, verbose=verbose)
        row = _cached_row(path, point)  # still valid when train() found nothing left to do
        if reason is not None and row is not None:
            print(f"{head}: already complete ({reason}); not retrained, test RMSE {row['test_rmse']:.4f}", flush=True)
        else:
            if reason is not None:
                print(f"{head}: already complete ({reason}); not retrained, scoring it", flush=True)
            if row is None:
                row = score_point(point, plan.data)
                _cache_row(path, point, row)
            print(f"{head}: test RMSE {row['test_rmse']:.4f} (training mean {row['mean_rmse']:.4f}), "
                  f"{row['epochs']} epoch{'s' if row['epochs'] != 1 else ''} in {row['minutes']:.1f} min", flush=True)
        rows[point.name] = row
        frame = curve_frame(list(rows.values()))
        write_outputs(path, frame, note=budget_note(frame, plan.points[0].config))

    frame = curve_frame(list(rows.values()))
    print(f"wrote {display_path(path / CURVE_FILE)} and {display_path(path / FIGURE_FILE)}", flush=True)
    if frame["n_train"].nunique() >= MIN_SIZES:
        result = write_extrapolation(path, frame, note=budget_note(frame, plan.points[0].config))
        print(f"power law: {result.summary()}", flush=True)
        print(f"wrote {display_path(path / FIT_FILE)} and {display_path(path / FIT_FIGURE_FILE)}", flush=True)
    else:
        print(f"no extrapolation: the power law needs at least {MIN_SIZES} distinct sizes, the curve has "
              f"{frame['n_train'].nunique()}", flush=True)
    return frame


__all__ = [
    "CURVE_COLUMNS",
    "CurvePlan",
    "Point",
    "budget_note",
    "curve_frame",
    "extrapolate_curve",
    "nested_order",
    "parse_sizes",
    "plan_curve",
    "point_name",
    "point_split",
    "read_curve",
    "resolve_sizes",
    "run_curve",
    "score_point",
    "write_extrapolation",
    "write_outputs",
]
