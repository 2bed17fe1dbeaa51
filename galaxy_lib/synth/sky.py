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

import contextlib
import json
import multiprocessing
import os
import shlex
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.errors import ConfigError, DataError
from galaxy_lib.kaggle import LABELS_FILE, TEST_IMAGES, TRAINING_IMAGES, has_labels
from galaxy_lib.locks import run_lock
from galaxy_lib.paths import display_path, replace_folder, resolve_path, writing
from galaxy_lib.synth import catalogue, zipped
from galaxy_lib.synth.catalogue import METADATA_FILE, TRUTH_FILE, VERSION, make_galaxy

TRAIN_FOLDER = TRAINING_IMAGES
TEST_FOLDER = TEST_IMAGES
__all__ = ["LABELS_FILE", "METADATA_FILE", "TEST_FOLDER", "TRAIN_FOLDER", "TRUTH_FILE", "VERSION", "ensure_synthetic",
           "generate", "make_galaxy", "read_truth", "synth_command", "write_held_back"]


def _work(task: tuple[int, int, int, int, str]) -> tuple[int, int, dict[str, Any], np.ndarray, np.ndarray]:
    """Pool worker: make one galaxy, write its JPEG, return its table rows."""
    seed, split, index, galaxy_id, folder = task
    morph, probabilities, votes, jpeg = catalogue.make_galaxy(seed, split, index)
    Path(folder, f"{galaxy_id}.jpg").write_bytes(jpeg)
    return split, galaxy_id, morph.to_row(), tree.normalise_to_tree(probabilities[None])[0], votes


def _tasks(seed: int, ids: tuple[np.ndarray, np.ndarray], folders: tuple[Path, Path]) -> Iterator[tuple]:
    for split, (split_ids, folder) in enumerate(zip(ids, folders, strict=True)):
        for index, galaxy_id in enumerate(split_ids):
            yield seed, split, index, int(galaxy_id), str(folder)


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
    if n + n_test > catalogue.MAX_GALAXIES:
        raise ConfigError(
            f"n + n_test = {n + n_test} (--n + --test-n, config keys synthetic_n + synthetic_test_n) is more "
            "than six-digit GalaxyIDs allow (450,000)"
        )
    out = Path(out).expanduser().resolve()
    # One generator per folder: a second process (two reports on one data folder) stops at once
    # naming the first, instead of finding the folder "not empty" once the first has finished.
    with run_lock(out, "generating a synthetic sky"):
        catalogue.check_output(out, overwrite)
        with writing(out, note="nothing was changed there"):
            if zip:
                zipped.write_zipped(out, n, seed, n_test, overwrite, workers, progress,
                                    zipped.CHUNK if chunk is None else chunk)
            else:
                _generate_into(out, n, seed, n_test, overwrite, workers, progress)
    return out


def synth_command(config: Config) -> str:
    """The command line that makes ``config``'s synthetic sky (``config.data``, ``synthetic_n``,
    ``synthetic_seed``, ``synthetic_test_n``): what a missing data folder's error tells the user to run,
    spelled out key by key so that it is right whatever parameters file or ``--set`` made ``config``."""
    test = f" --test-n {config.synthetic_test_n}" if config.synthetic_test_n else ""
    return (f"python -m galaxy_lib synth --out {shlex.quote(display_path(resolve_path(config.data)))} "
            f"--n {config.synthetic_n} --seed {config.synthetic_seed}{test}")


def ensure_synthetic(config: Config, *, progress: bool = True) -> Path:
    """The synthetic sky of ``config`` (``config.data``, relative to the project root), generated first,
    saying so, when the folder has no labels yet (:func:`galaxy_lib.kaggle.has_labels`: a CSV, or zipped as
    Kaggle ships them). A finished sky is kept as it is, even one made with other keys.

    Only the entry points that need the default data call this (``synth -f``, ``report`` and the notebooks'
    ``setup``), never the loader (:func:`galaxy_lib.data.dataset.load_for_config` only reads): minutes of
    rendering and a new folder on disk should come from a command the user ran for it, with a line that says
    where, not from a library call that meant to read. ``config.synthetic`` must be true (a
    :class:`~galaxy_lib.errors.ConfigError` otherwise: the folder is someone's real data).

    Two processes that need the same missing sky (``make report`` and a notebook) meet at the folder's lock
    (:mod:`galaxy_lib.locks`): the second stops at once with a :class:`~galaxy_lib.errors.BusyError` naming
    the first, and once that one is done the sky is there and needs no lock at all.
    """
    if not config.synthetic:
        raise ConfigError(f"config key 'synthetic' is false: {display_path(resolve_path(config.data))} is read as "
                          "it is, not generated")
    root = resolve_path(config.data)
    if has_labels(root):
        return root
    with run_lock(root, "generating a synthetic sky"):
        if not has_labels(root):  # again, under the lock: another process may just have made it
            test = f" and {config.synthetic_test_n:,} unlabelled test images" if config.synthetic_test_n else ""
            print(f"generating the synthetic sky {display_path(root)}: {config.synthetic_n:,} galaxies (seed "
                  f"{config.synthetic_seed}){test}; made once, then read", flush=True)
            generate(root, n=config.synthetic_n, seed=config.synthetic_seed, n_test=config.synthetic_test_n,
                     progress=progress)
    return root


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
        catalogue.check_output(out, overwrite)  # someone may have written there meanwhile
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_all(staging: Path, n: int, seed: int, n_test: int, workers: int | None, progress: bool) -> None:
    folders = (staging / TRAIN_FOLDER, staging / TEST_FOLDER)
    folders[0].mkdir(parents=True)
    if n_test:
        folders[1].mkdir()
    ids = catalogue.galaxy_ids(seed, n, n_test)
    with (
        catalogue.SkyTables(staging) as tables,
        _rendered(_tasks(seed, ids, folders), n + n_test, workers, progress, "synthetic galaxies") as results,
    ):
        for split, galaxy_id, row, probabilities, votes in results:
            tables.add(split, galaxy_id, row, probabilities, votes)
    (staging / METADATA_FILE).write_text(json.dumps(tables.metadata(seed, n, n_test), indent=2) + "\n")


@contextlib.contextmanager
def _rendered(tasks: Iterator[tuple], total: int, workers: int | None, progress: bool,
              desc: str) -> Iterator[Iterator[tuple[int, int, dict[str, Any], np.ndarray, np.ndarray]]]:
    """:func:`_work` over ``tasks`` in order, in a pool of ``workers`` processes (default
    :func:`catalogue.default_workers`; one: in this process), with a progress bar; the pool is
    stopped when the block ends, also on an error or Ctrl-C."""
    if workers is None:
        workers = catalogue.default_workers(total)
    with tqdm(total=total, desc=desc, unit="gal", disable=not progress) as bar:
        pool = None
        if workers == 1:
            results = map(_work, tasks)
        else:
            pool = multiprocessing.get_context("spawn").Pool(workers, initializer=catalogue.init_worker)
            results = pool.imap(_work, tasks, chunksize=16)
        try:
            yield _counting(results, bar)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()


def _counting(results: Iterable[tuple], bar: tqdm) -> Iterator[tuple]:
    for result in results:
        bar.update()
        yield result


def write_held_back(folder: str | os.PathLike[str], seed: int, split: int, ids: np.ndarray, *,
                    workers: int | None = None, progress: bool = True) -> catalogue.SkyTables:
    """Write galaxy ``i`` of ``make_galaxy(seed, split, i)`` under GalaxyID ``ids[i]`` into ``folder``
    as one labelled set in Kaggle's layout (``images_training_rev1/``, ``training_solutions_rev1.csv``
    and ``truth.csv``, whose split column says ``train``) and return its closed tables (their sums).

    For a set drawn from a ``split`` that :func:`generate` never uses (it draws 0 and 1), so that no
    sky of any seed holds these galaxies: the instructor's key (:mod:`galaxy_lib.classroom.key`).
    ``folder`` is the caller's staging folder: nothing here is atomic. ``ids`` should be sorted, as
    Kaggle's files are."""
    if split < len(catalogue.SPLITS):
        raise ValueError(f"split {split} is one every sky draws from; a held-back set needs {len(catalogue.SPLITS)} "
                         "or more")
    folder = Path(folder)
    images = folder / TRAIN_FOLDER
    images.mkdir(parents=True)
    tasks = ((seed, split, index, int(galaxy_id), str(images)) for index, galaxy_id in enumerate(ids))
    with (
        catalogue.SkyTables(folder) as tables,
        _rendered(tasks, len(ids), workers, progress, "held-back galaxies") as results,
    ):
        for _, galaxy_id, row, probabilities, votes in results:
            tables.add(0, galaxy_id, row, probabilities, votes)  # written as training rows: a labelled set
    return tables


def read_truth(root: str | os.PathLike[str]) -> pd.DataFrame:
    """``truth.csv`` of a synthetic set (latent morphology + noise-free probabilities)."""
    path = Path(root) / TRUTH_FILE
    if not path.is_file():
        raise DataError(f"{path} not found: is {root} a synthetic data set made by `galaxy_lib synth`?")
    return pd.read_csv(path, keep_default_na=False)
