"""Seeded train/validation/test splits by GalaxyID, saved so that every later run reuses them.

The paper drew its 80% training set and its 25% "test" set independently, so most test
galaxies had been trained on. Here every galaxy gets exactly one of ``train``, ``val`` and
``test`` (checked), and the assignment is written to a run's ``split.csv``: evaluation,
resumed training and reports read that file instead of re-drawing.

A *test pool* restricts the held-out galaxies to a list, e.g. the shared sample's unbiased
``complete_id_block_945990_999967``: validation and test are then drawn from the pool only and
every galaxy outside it (the 399 hand-picked ``extra_selected`` ones) is used for training.

A configuration's split is drawn by its ``split_seed``, never by its ``seed`` (which seeds the
model: initial weights, shuffling, augmentation, dropout). So two runs that differ only in their
``seed`` hold out the same galaxies, and the seed-to-seed spread of their test figures is the
model's, not the test set's. (Before ``split_seed`` existed, ``seed`` drew the split: a
parameters file that set ``seed: K`` for its split says ``split_seed: K`` now.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galaxy_lib.errors import DataError
from galaxy_lib.paths import atomic_write_text, resolve_path
from galaxy_lib.tree import ID_COLUMN

SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = (ID_COLUMN, "split")


def _unique_ids(ids: Any, what: str = "ids") -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{what}: GalaxyID {unique[counts > 1][0]} is listed more than once")
    return unique


def check_disjoint(df: pd.DataFrame, where: str = "split") -> None:
    """Raise unless every GalaxyID is in exactly one of train/val/test."""
    sets = {name: set(df.loc[df["split"] == name, ID_COLUMN].tolist()) for name in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            both = sets[a] & sets[b]
            if both:
                raise DataError(f"{where}: GalaxyID {min(both)} is in both {a} and {b}")
    if sum(len(s) for s in sets.values()) != len(df):
        raise DataError(f"{where}: some rows are not train, val or test, or a GalaxyID repeats")


def make_split(
    ids: Any,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    test_pool: np.ndarray | None = None,
) -> pd.DataFrame:
    """Assign each GalaxyID to train, val or test: ``round(fraction * len(ids))`` galaxies each.

    The draw depends only on ``seed`` and the set of ids (not their order). With ``test_pool``
    the test and then the validation galaxies are drawn from the pool's ids; galaxies outside
    the pool always train. Returns columns ``GalaxyID`` (sorted) and ``split``.
    """
    ids = _unique_ids(ids)
    if len(ids) == 0:
        raise DataError("cannot split an empty set of galaxies")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction {val_fraction} and test_fraction {test_fraction} must be in [0, 1) with sum < 1"
        )
    n_test = round(test_fraction * len(ids))
    n_val = round(val_fraction * len(ids))
    pool = ids if test_pool is None else np.intersect1d(ids, np.asarray(test_pool, dtype=np.int64))
    if n_test + n_val > len(pool):
        raise DataError(
            f"the test pool holds {len(pool):,} of these {len(ids):,} galaxies, fewer than the "
            f"{n_test:,} test + {n_val:,} validation galaxies asked for; lower test_fraction/val_fraction"
        )
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(pool)
    split = pd.Series("train", index=ids, dtype=object)
    split[chosen[:n_test]] = "test"
    split[chosen[n_test : n_test + n_val]] = "val"
    df = pd.DataFrame({ID_COLUMN: ids, "split": split.to_numpy()})
    check_disjoint(df)
    return df


def save_split(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a split as CSV (atomically) after validating it."""
    path = Path(path)
    _validate(df, str(path))
    atomic_write_text(path, df.loc[:, list(SPLIT_COLUMNS)].to_csv(index=False))
    return path


def _validate(df: pd.DataFrame, where: str) -> pd.DataFrame:
    if list(df.columns) != list(SPLIT_COLUMNS):
        found = ", ".join(map(str, df.columns))
        raise DataError(f"{where}: expected columns {', '.join(SPLIT_COLUMNS)}, found {found}")
    ids = pd.to_numeric(df[ID_COLUMN], errors="coerce")
    bad = ids.isna() | (ids != ids.round())
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(f"{where} line {row + 2}: {df[ID_COLUMN].iloc[row]!r} is not a GalaxyID")
    values = df["split"].astype(str)
    wrong = ~values.isin(SPLITS)
    if wrong.any():
        row = int(np.argmax(wrong.to_numpy()))
        raise DataError(f"{where} line {row + 2}: split {values.iloc[row]!r} is not one of {', '.join(SPLITS)}")
    dup = ids.duplicated(keep="first")
    if dup.any():
        row = int(np.argmax(dup.to_numpy()))
        raise DataError(f"{where} line {row + 2}: GalaxyID {int(ids.iloc[row])} appears more than once")
    out = pd.DataFrame({ID_COLUMN: ids.astype(np.int64).to_numpy(), "split": values.to_numpy()})
    check_disjoint(out, where)
    return out


def load_split(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a ``split.csv`` (columns, split names, repeated ids)."""
    path = Path(path)
    return _validate(_read_text_csv(path, "split file", "split CSV"), str(path))


def _read_text_csv(path: Path, what: str, kind: str) -> pd.DataFrame:
    """A small CSV as strings (validated by the caller); a missing or unparsable file is a
    :class:`DataError` naming it."""
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid {kind} ({' '.join(str(exc).split())})") from None


def ids_of(split_df: pd.DataFrame, name: str) -> np.ndarray:
    """Sorted int64 GalaxyIDs of one split (``train``, ``val`` or ``test``)."""
    if name not in SPLITS:
        raise ValueError(f"split {name!r} is not one of {', '.join(SPLITS)}")
    return np.sort(split_df.loc[split_df["split"] == name, ID_COLUMN].to_numpy(dtype=np.int64))


def as_trained(split_df: pd.DataFrame, refit: bool) -> pd.DataFrame:
    """The split as training used it: with ``refit`` (see :class:`~galaxy_lib.config.Config`) the
    validation galaxies trained too, so they count as training galaxies and nothing is reported
    as validation (a figure on galaxies the model saw must not pass for a held-out one)."""
    if not refit:
        return split_df
    out = split_df.copy()
    out.loc[out["split"] == "val", "split"] = "train"
    return out


def read_test_pool(path: str | os.PathLike[str], subset: str = "") -> np.ndarray:
    """GalaxyIDs from a CSV with a ``GalaxyID`` column, keeping rows whose ``subset`` equals ``subset``."""
    path = Path(path)
    df = _read_text_csv(path, "test pool file", "CSV")
    if ID_COLUMN not in df.columns:
        raise DataError(f"{path}: test pool file has no {ID_COLUMN} column")
    if subset:
        if "subset" not in df.columns:
            raise DataError(f"{path}: test_pool_subset {subset!r} given but the file has no 'subset' column")
        known = sorted(df["subset"].unique())
        if subset not in known:
            raise DataError(f"{path}: no rows with subset {subset!r}; subsets are {', '.join(known)}")
        df = df[df["subset"] == subset]
    ids = pd.to_numeric(df[ID_COLUMN], errors="coerce")
    if ids.isna().any():
        row = int(np.argmax(ids.isna().to_numpy()))
        raise DataError(f"{path}: {df[ID_COLUMN].iloc[row]!r} is not a GalaxyID")
    return np.unique(ids.astype(np.int64).to_numpy())


def _pool_path(name: str, data_root: Path) -> Path:
    """A test pool file relative to the data set root (folder, or a zip's folder), else the project."""
    p = Path(name).expanduser()
    if p.is_absolute():
        return p
    base = data_root if data_root.is_dir() else data_root.parent
    return base / p if (base / p).exists() else resolve_path(p)


def subsample_ids(ids: Any, max_images: int, seed: int) -> np.ndarray:
    """At most ``max_images`` of ``ids`` (sorted), a seeded choice; all when 0 or enough."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    if max_images <= 0 or max_images >= len(ids):
        return ids
    rng = np.random.default_rng([seed, 1])  # a stream of its own, independent of the split draw
    return np.sort(rng.choice(ids, size=max_images, replace=False))


def split_for_config(data: Any, config: Any, path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The run's split: ``path`` (a ``split.csv``) when it exists, else a new one saved there.

    A new split is drawn by ``split_seed`` (not ``seed``: runs that differ only in their model's
    seed share it) and honours ``max_images`` (a subset, seeded by ``split_seed`` too) and
    ``test_pool_file`` / ``test_pool_subset`` (relative to the data root). A reused split must
    only name galaxies that are in ``data``; it is reused even when the configuration changed
    (``split_seed`` included), so that a resumed or re-evaluated run sees exactly the galaxies it
    was made with.
    """
    if path is not None and Path(path).is_file():
        df = load_split(path)
        unknown = np.setdiff1d(df[ID_COLUMN].to_numpy(), data.ids)
        if len(unknown):
            raise DataError(
                f"{path}: GalaxyID {unknown[0]} is not in the data set {data.root} ({len(unknown)} unknown ids)"
            )
        return df
    ids = subsample_ids(data.ids, config.max_images, config.split_seed)
    pool = None
    if config.test_pool_file:
        pool = read_test_pool(_pool_path(config.test_pool_file, Path(data.root)), config.test_pool_subset)
    elif config.test_pool_subset:
        raise DataError("config key 'test_pool_subset' needs 'test_pool_file' as well")
    df = make_split(
        ids, seed=config.split_seed, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
        test_pool=pool,
    )
    if path is not None:
        save_split(df, path)
    return df


def describe_split(df: pd.DataFrame) -> str:
    """One line of counts, e.g. ``train 2,379 / val 340 / test 680``."""
    counts = df["split"].value_counts()
    return " / ".join(f"{name} {int(counts.get(name, 0)):,}" for name in SPLITS)


__all__ = [
    "SPLITS",
    "check_disjoint",
    "describe_split",
    "ids_of",
    "load_split",
    "make_split",
    "read_test_pool",
    "save_split",
    "split_for_config",
    "subsample_ids",
]
