"""One synthetic galaxy and the tables a sky keeps of them: shared by both ways a sky is written.

:mod:`galaxy_lib.synth.sky` writes a sky as folders, :mod:`galaxy_lib.synth.zipped` as Kaggle's
three zips; both draw the same galaxies (:func:`make_galaxy`, :func:`galaxy_ids`) and write the same
``training_solutions_rev1.csv``, ``truth.csv`` and ``metadata.json`` through :class:`SkyTables`, so
the two layouts of one seed hold identical labels. Keeping this public module below both is what
lets ``sky`` call ``zipped`` without ``zipped`` reaching back into ``sky``'s private helpers.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from galaxy_lib import tree
from galaxy_lib.errors import DataError
from galaxy_lib.kaggle import LABELS_FILE
from galaxy_lib.synth import morphology, render

VERSION = "1.0"
TRUTH_FILE = "truth.csv"
METADATA_FILE = "metadata.json"
JPEG_QUALITY = 90
SPLITS = ("train", "test")
_ID_LOW, _ID_HIGH = 100000, 1000000  # six-digit GalaxyIDs, like Kaggle's
MAX_GALAXIES = (_ID_HIGH - _ID_LOW) // 2
"""At most this many galaxies in one sky (training + test): distinct random six-digit GalaxyIDs."""


def galaxy_ids(seed: int, n: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random six-digit GalaxyIDs, each split sorted (Kaggle's files are sorted)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(len(SPLITS),)))
    ids = rng.choice(_ID_HIGH - _ID_LOW, size=n + n_test, replace=False).astype(np.int64) + _ID_LOW
    return np.sort(ids[:n]), np.sort(ids[n:])


def held_back_ids(seed: int, n: int, taken: np.ndarray) -> np.ndarray:
    """``n`` distinct six-digit GalaxyIDs, sorted, none of them in ``taken`` (another sky's ids).

    Drawn from ``SeedSequence(seed, spawn_key=(3,))``: a stream no sky draws from (its ids come from
    spawn key ``(2,)``, its galaxies from ``(split, index)``), so a held-back set of any seed leaves
    every sky as it is. Raises :class:`DataError` when fewer than ``n`` ids are free."""
    free = np.setdiff1d(np.arange(_ID_LOW, _ID_HIGH, dtype=np.int64), np.asarray(taken, dtype=np.int64))
    if n > len(free):
        raise DataError(f"only {len(free):,} six-digit GalaxyIDs are free beside the other sky's, {n:,} asked for")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(len(SPLITS) + 1,)))
    return np.sort(rng.choice(free, size=n, replace=False))


def _streams(seed: int, split: int, index: int) -> list[np.random.SeedSequence]:
    """The galaxy's three child streams: morphology, votes, pixels."""
    return np.random.SeedSequence(seed, spawn_key=(split, index)).spawn(3)


def galaxy_labels(seed: int, split: int, index: int) -> tuple[morphology.Morphology, np.ndarray, np.ndarray]:
    """The galaxy :func:`make_galaxy` makes, without its image: (morphology, per-question
    probabilities, vote fractions). About 50x cheaper than rendering, so a sky's labels (its
    training mean, for the instructor's key) can be known without writing the sky."""
    morph_ss, vote_ss, _ = _streams(seed, split, index)
    morph = morphology.sample_morphology(np.random.default_rng(morph_ss))
    probabilities = morphology.question_probabilities(morph)
    votes = morphology.simulate_votes(probabilities, morph.n_volunteers, np.random.default_rng(vote_ss))
    return morph, probabilities, votes


def make_galaxy(seed: int, split: int, index: int) -> tuple[morphology.Morphology, np.ndarray, np.ndarray, bytes]:
    """One galaxy from its own seed: (morphology, per-question probabilities, vote
    fractions, JPEG bytes). Morphology, votes and pixels use separate child streams, so a
    change to the renderer does not change the labels of a seed."""
    morph, probabilities, votes = galaxy_labels(seed, split, index)
    image = render.render(morph, np.random.default_rng(_streams(seed, split, index)[2]))
    return morph, probabilities, votes, render.encode_jpeg(image, JPEG_QUALITY)


def init_worker() -> None:
    """Pool initializer: one OpenCV thread per worker process, as the pool already uses every core."""
    cv2.setNumThreads(1)


def default_workers(total: int) -> int:
    """Worker processes for a sky of ``total`` galaxies: one for small sets (starting a pool costs
    more than it saves), else up to 2."""
    return 1 if total < 150 else max(1, min(2, os.cpu_count() or 1))


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse to write a sky over a file, or over a non-empty folder unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DataError(f"{out} is not empty; pass overwrite=True (--overwrite) to replace it")


def _fmt(value: float) -> str:
    return f"{value:.6f}"


def _truth_header() -> list[str]:
    return [tree.ID_COLUMN, "split", *morphology.MORPHOLOGY_FIELDS, *(f"p_{c}" for c in tree.ANSWER_COLUMNS)]


def _truth_line(split: int, galaxy_id: int, row: dict[str, Any], truth: np.ndarray) -> str:
    cells = [str(galaxy_id), SPLITS[split]]
    for name in morphology.MORPHOLOGY_FIELDS:
        value = row[name]
        cells.append(f"{value:.5g}" if isinstance(value, float) else str(value))
    cells.extend(_fmt(v) for v in truth)
    return ",".join(cells) + "\n"


class SkyTables:
    """``training_solutions_rev1.csv`` and ``truth.csv`` of a sky in ``folder``, written row by row
    (memory flat in the number of galaxies), with the training galaxies' running sums behind
    ``metadata.json`` (noise floor and answer means).

    ``SkyTables(folder)`` starts both files with their headers; ``SkyTables(folder, state)`` appends
    to files cut back to a checkpoint whose sums :meth:`state` returned, so that a resumed sky gets
    exactly the figures of one written in one go. Use it as a context manager (the files close).
    """

    FILES = (LABELS_FILE, TRUTH_FILE)

    def __init__(self, folder: Path, state: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        resume = state is not None
        state = state or {"squared": 0.0, "counted": 0, "vote_sums": [0.0] * tree.N_ANSWERS}
        self.squared = float(state["squared"])
        self.counted = int(state["counted"])
        self.vote_sums = np.array(state["vote_sums"], dtype=np.float64)
        mode = "a" if resume else "w"
        self._labels = open(self.folder / LABELS_FILE, mode, newline="")  # noqa: SIM115 - closed by close()
        try:
            self._truth = open(self.folder / TRUTH_FILE, mode, newline="")  # noqa: SIM115 - closed by close()
        except BaseException:
            self._labels.close()
            raise
        if not resume:
            self._labels.write(",".join(tree.KAGGLE_COLUMNS) + "\n")
            self._truth.write(",".join(_truth_header()) + "\n")

    def __enter__(self) -> SkyTables:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close both files (flushing them)."""
        try:
            self._labels.close()
        finally:
            self._truth.close()

    def add(self, split: int, galaxy_id: int, row: dict[str, Any], probabilities: np.ndarray,
            votes: np.ndarray) -> None:
        """One galaxy's rows: its truth (every split) and, for a training galaxy, its label row."""
        self._truth.write(_truth_line(split, galaxy_id, row, probabilities))
        if split == 0:
            self._labels.write(str(galaxy_id) + "," + ",".join(_fmt(v) for v in votes) + "\n")
            self.squared += float(((votes - probabilities) ** 2).sum())
            self.counted += 1
            self.vote_sums += votes

    def state(self) -> dict[str, Any]:
        """The running sums, JSON-ready, for a checkpoint to resume from."""
        return {"squared": self.squared, "counted": self.counted, "vote_sums": self.vote_sums.tolist()}

    def metadata(self, seed: int, n: int, n_test: int) -> dict[str, Any]:
        """``metadata.json`` of the sky written so far (:func:`sky_metadata`)."""
        return sky_metadata(seed, n, n_test, self.state())


def sky_metadata(seed: int, n: int, n_test: int, state: dict[str, Any]) -> dict[str, Any]:
    """``metadata.json`` from the running sums of :meth:`SkyTables.state`: the same record for a set
    in folders and one in zips."""
    squared, counted = float(state["squared"]), int(state["counted"])
    vote_sums = np.asarray(state["vote_sums"], dtype=np.float64)
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
