"""A synthetic Galaxy Zoo sky in exactly the Kaggle layout: the project's default data set.

A fresh machine has no Kaggle download, yet the notebooks, the default report and most
tests need data that looks and behaves like the real thing. :func:`generate` writes

- ``images_training_rev1/<GalaxyID>.jpg``: 424x424 RGB JPEGs (painted by
  :mod:`galaxy_lib.synth.render` from each galaxy's latent morphology),
- ``training_solutions_rev1.csv``: ``GalaxyID`` + the 37 answer columns, vote fractions of
  a few dozen simulated volunteers (:mod:`galaxy_lib.synth.morphology`), tree sums exact,
- ``images_test_rev1/`` (optional, unlabelled, disjoint GalaxyIDs),
- ``truth.csv``: latent morphology and noise-free answer probabilities of every galaxy,
- ``metadata.json``: seed, counts, version and the noise floor (RMSE of sampled vote
  fractions against the true probabilities, which no model can beat on average).

Each galaxy draws from its own ``SeedSequence(seed, spawn_key=(split, index))``, so the
output is byte-identical for a seed whatever the number of worker processes. Rows are
streamed to disk (memory flat in ``n``) inside a hidden temporary folder that is renamed
into place at the end: an interrupted run leaves nothing half-made.

With ``zip=True`` the same set is written as Kaggle ships it, three zips
(``images_training_rev1.zip``, ``training_solutions_rev1.csv.zip``, ``images_test_rev1.zip``), and
an interrupted run resumes where it stopped: :mod:`galaxy_lib.synth.zipped`.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.errors import ConfigError, DataError, writing
from galaxy_lib.locks import run_lock
from galaxy_lib.synth import morphology, render

VERSION = "1.0"
TRAIN_FOLDER = "images_training_rev1"
TEST_FOLDER = "images_test_rev1"
LABELS_FILE = "training_solutions_rev1.csv"
TRUTH_FILE = "truth.csv"
METADATA_FILE = "metadata.json"
JPEG_QUALITY = 90
_ID_LOW, _ID_HIGH = 100000, 1000000  # six-digit GalaxyIDs, like Kaggle's
_SPLITS = ("train", "test")


def _galaxy_ids(seed: int, n: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random six-digit GalaxyIDs, each split sorted (Kaggle's files are sorted)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(len(_SPLITS),)))
    ids = rng.choice(_ID_HIGH - _ID_LOW, size=n + n_test, replace=False).astype(np.int64) + _ID_LOW
    return np.sort(ids[:n]), np.sort(ids[n:])


def make_galaxy(seed: int, split: int, index: int) -> tuple[morphology.Morphology, np.ndarray, np.ndarray, bytes]:
    """One galaxy from its own seed: (morphology, per-question probabilities, vote
    fractions, JPEG bytes). Morphology, votes and pixels use separate child streams, so a
    change to the renderer does not change the labels of a seed."""
    morph_ss, vote_ss, image_ss = np.random.SeedSequence(seed, spawn_key=(split, index)).spawn(3)
    morph = morphology.sample_morphology(np.random.default_rng(morph_ss))
    probabilities = morphology.question_probabilities(morph)
    votes = morphology.simulate_votes(probabilities, morph.n_volunteers, np.random.default_rng(vote_ss))
    image = render.render(morph, np.random.default_rng(image_ss))
    return morph, probabilities, votes, render.encode_jpeg(image, JPEG_QUALITY)


def _work(task: tuple[int, int, int, int, str]) -> tuple[int, int, dict[str, Any], np.ndarray, np.ndarray]:
    """Pool worker: make one galaxy, write its JPEG, return its table rows."""
    seed, split, index, galaxy_id, folder = task
    morph, probabilities, votes, jpeg = make_galaxy(seed, split, index)
    Path(folder, f"{galaxy_id}.jpg").write_bytes(jpeg)
    return split, galaxy_id, morph.to_row(), tree.normalise_to_tree(probabilities[None])[0], votes


def _init_worker() -> None:
    cv2.setNumThreads(1)  # the pool already uses every core


def _fmt(value: float) -> str:
    return f"{value:.6f}"


def _truth_header() -> list[str]:
    return [tree.ID_COLUMN, "split", *morphology.MORPHOLOGY_FIELDS, *(f"p_{c}" for c in tree.ANSWER_COLUMNS)]


def _truth_line(split: int, galaxy_id: int, row: dict[str, Any], truth: np.ndarray) -> str:
    cells = [str(galaxy_id), _SPLITS[split]]
    for name in morphology.MORPHOLOGY_FIELDS:
        value = row[name]
        cells.append(f"{value:.5g}" if isinstance(value, float) else str(value))
    cells.extend(_fmt(v) for v in truth)
    return ",".join(cells) + "\n"


def _tasks(seed: int, ids: tuple[np.ndarray, np.ndarray], folders: tuple[Path, Path]) -> Iterator[tuple]:
    for split, (split_ids, folder) in enumerate(zip(ids, folders, strict=True)):
        for index, galaxy_id in enumerate(split_ids):
            yield seed, split, index, int(galaxy_id), str(folder)


def _check_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DataError(f"{out} is not empty; pass overwrite=True (--overwrite) to replace it")


def generate(out: str | os.PathLike[str], n: int = 2000, seed: int = 0, n_test: int = 0, overwrite: bool = False,
             *, workers: int | None = None, progress: bool = True, zip: bool = False,
             chunk: int | None = None) -> Path:
    """Write a synthetic Galaxy Zoo data set of ``n`` labelled (and ``n_test`` unlabelled)
    galaxies in Kaggle layout at ``out`` and return its path.

    ``workers`` processes render in parallel (default: up to 2, one for small sets); the
    output does not depend on it. ``zip=True`` writes Kaggle's three zips instead of the folders
    (:mod:`galaxy_lib.synth.zipped`): resumable after an interruption, checkpointed every ``chunk``
    galaxies (default :data:`galaxy_lib.synth.zipped.CHUNK`), byte-identical however often resumed.
    Raises :class:`~galaxy_lib.errors.ConfigError` for ``n <= 0``
    or ``n_test < 0``, :class:`~galaxy_lib.errors.DataError` when ``out`` is a file, or a
    non-empty folder and ``overwrite`` is false, :class:`~galaxy_lib.errors.BusyError` naming the
    other process when one is generating into ``out`` (:mod:`galaxy_lib.locks`), and
    :class:`~galaxy_lib.errors.DiskError` naming ``out`` when the disk is full or read-only (no
    half-made folder is left, and an earlier set at ``out`` is kept; with ``zip=True`` the hidden
    partial folder stays, to be resumed).
    """
    if not isinstance(n, int | np.integer) or n <= 0:
        raise ConfigError(f"synthetic set size n (--n, config key synthetic_n) must be a positive integer, got {n!r}")
    if not isinstance(n_test, int | np.integer) or n_test < 0:
        raise ConfigError(
            f"synthetic test-set size n_test (--test-n, config key synthetic_test_n) must be zero or positive, "
            f"got {n_test!r}"
        )
    if n + n_test > (_ID_HIGH - _ID_LOW) // 2:
        raise ConfigError(
            f"n + n_test = {n + n_test} (--n + --test-n, config keys synthetic_n + synthetic_test_n) is more "
            "than six-digit GalaxyIDs allow (450,000)"
        )
    out = Path(out).expanduser().resolve()
    # One generator per folder: a second process (two reports on one data folder) stops at once
    # naming the first, instead of finding the folder "not empty" once the first has finished.
    with run_lock(out, "generating a synthetic sky"):
        _check_output(out, overwrite)
        with writing(out, note="nothing was changed there"):
            if zip:
                from galaxy_lib.synth import zipped

                zipped.write_zipped(out, n, seed, n_test, overwrite, workers, progress,
                                    zipped.CHUNK if chunk is None else chunk)
            else:
                _generate_into(out, n, seed, n_test, overwrite, workers, progress)
    return out


def _generate_into(out: Path, n: int, seed: int, n_test: int, overwrite: bool, workers: int | None,
                   progress: bool) -> None:
    """Write the set into a hidden staging folder beside ``out``, then rename it into place; on any
    error (a full disk too) the staging folder is removed and ``out`` is as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    for stale in out.parent.glob(f".{out.name}.partial-*"):  # left by a killed generator: we hold the lock
        shutil.rmtree(stale, ignore_errors=True)
    try:
        _write_all(staging, n, seed, n_test, workers, progress)
        _check_output(out, overwrite)  # someone may have written there meanwhile
        if out.exists():
            trash = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, trash)
            try:
                os.replace(staging, out)
            except BaseException:
                os.replace(trash, out)  # the earlier set back where it was
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_all(staging: Path, n: int, seed: int, n_test: int, workers: int | None, progress: bool) -> None:
    folders = (staging / TRAIN_FOLDER, staging / TEST_FOLDER)
    folders[0].mkdir(parents=True)
    if n_test:
        folders[1].mkdir()
    ids = _galaxy_ids(seed, n, n_test)
    total = n + n_test
    if workers is None:
        workers = 1 if total < 150 else max(1, min(2, os.cpu_count() or 1))
    squared, counted = 0.0, 0
    vote_sums = np.zeros(tree.N_ANSWERS)
    with (
        open(staging / LABELS_FILE, "w", newline="") as labels,
        open(staging / TRUTH_FILE, "w", newline="") as truth,
        tqdm(total=total, desc="synthetic galaxies", unit="gal", disable=not progress) as bar,
    ):
        labels.write(",".join(tree.KAGGLE_COLUMNS) + "\n")
        truth.write(",".join(_truth_header()) + "\n")
        tasks = _tasks(seed, ids, folders)
        if workers == 1:
            results = map(_work, tasks)
            pool = None
        else:
            pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker)
            results = pool.imap(_work, tasks, chunksize=16)
        try:
            for split, galaxy_id, row, probabilities, votes in results:
                truth.write(_truth_line(split, galaxy_id, row, probabilities))
                if split == 0:
                    labels.write(str(galaxy_id) + "," + ",".join(_fmt(v) for v in votes) + "\n")
                    squared += float(((votes - probabilities) ** 2).sum())
                    counted += 1
                    vote_sums += votes
                bar.update()
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    metadata = _metadata(seed, n, n_test, squared, counted, vote_sums)
    (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")


def _metadata(seed: int, n: int, n_test: int, squared: float, counted: int, vote_sums: np.ndarray) -> dict[str, Any]:
    """``metadata.json`` from the training galaxies' running sums (squared vote errors, count,
    summed vote fractions): the same record for a set in folders and one in zips."""
    return {
        "generator": "galaxy_lib.synth.sky",
        "version": VERSION,
        "seed": seed,
        "n_train": n,
        "n_test": n_test,
        "image_size": render.SIZE,
        "jpeg_quality": JPEG_QUALITY,
        "volunteers_per_galaxy": [30, 65],
        "noise_floor_rmse": round(math.sqrt(squared / (counted * tree.N_ANSWERS)), 6),
        "noise_floor_note": "RMSE of the sampled vote fractions against the noise-free answer probabilities "
        "(truth.csv p_* columns) over the training galaxies; no model can beat it on average",
        "answer_means": {c: round(float(v), 6) for c, v in zip(tree.ANSWER_COLUMNS, vote_sums / counted, strict=True)},
    }


def ensure_synthetic(config: Any) -> Path:
    """The data folder of ``config``; when ``config.synthetic`` is true and the folder has
    no ``training_solutions_rev1.csv`` (or ``.csv.zip``) yet, generate ``config.synthetic_n`` galaxies there
    with ``config.synthetic_seed`` (and ``config.synthetic_test_n`` unlabelled test
    images) first (an empty or missing folder is filled, a folder
    with other content is refused rather than overwritten)."""
    from galaxy_lib.config import resolve_path

    root = resolve_path(config.data)
    if config.synthetic and not has_labels(root):
        with run_lock(root, "generating a synthetic sky"):
            if not has_labels(root):  # again, under the lock: another process may just have made it
                generate(root, n=config.synthetic_n, seed=config.synthetic_seed, n_test=config.synthetic_test_n)
    return root


def has_labels(root: Path) -> bool:
    """Whether a data folder already holds its labels, as a CSV or zipped as Kaggle ships them
    (``training_solutions_rev1.csv.zip``): a set written with ``zip=True`` is not generated again."""
    from galaxy_lib.data.dataset import LABEL_FILES

    return any((root / name).is_file() for name in LABEL_FILES)


def read_truth(root: str | os.PathLike[str]) -> pd.DataFrame:
    """``truth.csv`` of a synthetic set (latent morphology + noise-free probabilities)."""
    path = Path(root) / TRUTH_FILE
    if not path.is_file():
        raise DataError(f"{path} not found: is {root} a synthetic data set made by `galaxy_lib synth`?")
    return pd.read_csv(path, keep_default_na=False)
