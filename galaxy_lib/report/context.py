"""What the student is looking at: which galaxies, how they compare with real ones, what a figure means.

The notebooks run on the synthetic sky by default, and a student who is not told so reads its
figures as figures for real galaxies. The sentences that say what the data is, how much easier the
synthetic sky is than real galaxies, how this run's training set compares with Kaggle's and what
the paper's kind of figure shows in this run are generated here, from the run's configuration, the
data folder's own ``metadata.json`` and ``truth.csv``, and the stored results in
``benchmarks/results/`` (never typed figures), so they cannot drift from the numbers or contradict
a run whose numbers differ from the last one's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data.sample import locate
from galaxy_lib.errors import DataError
from galaxy_lib.kaggle import TRAINING_GALAXIES
from galaxy_lib.paths import display_path, project_root, read_json_object, resolve_path
from galaxy_lib.results import default_folder, load_results
from galaxy_lib.synth.catalogue import METADATA_FILE, TRUTH_FILE

__all__ = ["SYNTH_RESULT", "Note", "data_folder", "data_note", "is_synthetic", "kaggle_note", "noise_floor",
           "paper_view_note"]

SYNTH_RESULT = "synth-n2000-seed0"
"""The stored comparison of the synthetic sky with real galaxies (``benchmarks/bench_synth.py``): the same
ridge regression on 32x32 grey pixels, on each, against each one's training-mean predictor."""
GENERATOR = "galaxy_lib.synth.sky"
"""``metadata.json``'s ``generator`` in a folder the synthetic sky was written to."""


class Note(str):
    """A generated Markdown paragraph that a notebook displays as Markdown (``_repr_markdown_``)."""

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        return str(self)


def data_folder(config: Config) -> Path:
    """The folder ``config.data`` names, read from the project root (the shared sample's local build
    where the shared one is absent), as the data loader reads it."""
    try:
        return locate(resolve_path(config.data), project_root())
    except DataError:
        return resolve_path(config.data)


def _metadata(folder: Path) -> dict[str, Any] | None:
    return read_json_object(folder / METADATA_FILE) or None


def is_synthetic(config: Config) -> bool:
    """Whether the run's galaxies are the synthetic sky: the configuration asks for one
    (``synthetic: true``), or its data folder was written by the generator (its ``metadata.json``
    says so) although the configuration names it as plain data."""
    if config.synthetic:
        return True
    metadata = _metadata(data_folder(config))
    return bool(metadata) and metadata.get("generator") == GENERATOR


def _stored(name: str, *keys: str, folder: Path | None = None) -> float | None:
    """A number from a stored result (:mod:`galaxy_lib.results`), or None when the file is not there
    (a copy of the package without the repository): a normal state, said in words by the caller. A
    file that is there but malformed, or lacks the key, is a mistake in the project and raises."""
    results = load_results(folder or default_folder(), names=[name])
    if name not in results:
        return None
    value = results[name].lookup(list(keys))
    is_number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if is_number else None


def _easier_sentence(results: Path | None) -> str:
    synthetic = _stored(SYNTH_RESULT, "figures", "learnability", "ridge_gain", folder=results)
    real = _stored(SYNTH_RESULT, "figures", "real_ridge", "ridge_gain", folder=results)
    source = f"`{display_path((results or default_folder()) / f'{SYNTH_RESULT}.json')}`"
    if synthetic is None or real is None:
        return (f"How much easier it is than real galaxies is measured in {source}, which is not available "
                "here (`python benchmarks/bench_synth.py` measures it).")
    return (f"It is easier than real galaxies: the same ridge regression on 32x32 grey pixels predicts "
            f"{synthetic:.1%} better than the training-mean predictor on this kind of sky, but only {real:.1%} "
            f"better on real Galaxy Zoo galaxies ({source}). A figure measured here is a figure for this "
            "sky, not for real galaxies.")


def data_note(config: Config, n_galaxies: int | None = None, results: str | Path | None = None) -> Note:
    """One paragraph saying what the run's galaxies are. For the synthetic sky: that they are not real
    galaxies, what they are, how much easier they are than real ones (the stored comparison in
    ``results``, default :func:`galaxy_lib.results.default_folder`) and that ``truth.csv`` gives
    the noise floor (its value from the sky's own ``metadata.json`` where it is there). For real
    data: that they are real galaxies and that no noise-free truth exists for them.
    ``n_galaxies`` is the number of labelled galaxies loaded, when known."""
    folder = data_folder(config)
    shown = config.data if folder == resolve_path(config.data) else display_path(folder)
    results = Path(results) if results is not None else None
    count = f"{n_galaxies:,} " if n_galaxies is not None else ""
    if not is_synthetic(config):
        return Note(
            f"**You are looking at real galaxies.** `{shown}` holds {count}galaxies of Kaggle's Galaxy Zoo "
            "challenge: colour images from the Sloan Digital Sky Survey, each labelled with the vote fractions "
            "of the Galaxy Zoo volunteers who classified it. No noise-free truth exists for them: with a few "
            "dozen votes per galaxy every label is itself uncertain, and notebook 3's error against volunteer "
            "agreement shows how much of a model's error sits where the volunteers disagreed.")
    metadata = _metadata(folder) or {}
    volunteers = metadata.get("volunteers_per_galaxy")
    who = (f"{volunteers[0]} to {volunteers[1]} simulated volunteers" if isinstance(volunteers, list)
           and len(volunteers) == 2 else "a few dozen simulated volunteers")
    floor = metadata.get("noise_floor_rmse")
    if isinstance(floor, int | float) and not isinstance(floor, bool):
        floor_text = (f"Its `{TRUTH_FILE}` holds each galaxy's noise-free answer probabilities, so the label "
                      f"noise is known: the volunteers' sampled vote fractions differ from those probabilities "
                      f"by an RMSE of {floor:.4f} (the noise floor, from its `{METADATA_FILE}`), which no model "
                      "can beat on average.")
    else:
        floor_text = (f"Its `{TRUTH_FILE}` holds each galaxy's noise-free answer probabilities, so the label "
                      "noise is known: the RMSE of the volunteers' sampled vote fractions against them is the "
                      "noise floor, which no model can beat on average (not measured for this folder yet: it "
                      f"has no `{METADATA_FILE}`).")
    return Note(
        f"**You are looking at a synthetic sky, not at real galaxies.** `{shown}` holds {count}galaxies that "
        "`galaxy_lib.synth` painted from a drawn morphology (smooth, disk, bar, spiral arms, edge-on, merger, "
        "ring, lens ...) with blur, sky noise, neighbours and JPEG compression, in Kaggle's layout, each "
        f"labelled by {who} walking the same decision tree. {_easier_sentence(results)} {floor_text}")


def noise_floor(config: Config, ids: Any, y_true: Any) -> float | None:
    """The noise floor on these galaxies: the RMSE of their vote fractions ``y_true`` (rows in the order
    of ``ids``) against the synthetic sky's noise-free probabilities in ``truth.csv``. None where the
    data has no ``truth.csv`` (real galaxies, or a sky without it): there is no floor to show."""
    if not is_synthetic(config):
        return None
    path = data_folder(config) / TRUTH_FILE
    if not path.is_file():
        return None
    import pandas as pd

    columns = [f"p_{column}" for column in tree.ANSWER_COLUMNS]
    truth = pd.read_csv(path, usecols=[tree.ID_COLUMN, *columns]).set_index(tree.ID_COLUMN)
    ids = np.asarray(ids, dtype=np.int64)
    missing = np.setdiff1d(ids, truth.index.to_numpy())
    if len(missing):
        raise DataError(f"{display_path(path)}: has no row for GalaxyID {int(missing[0])} "
                        f"({len(missing)} of {len(ids)} galaxies missing): is it the truth of this sky?")
    probabilities = truth.loc[ids, columns].to_numpy(dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.float64)
    if y_true.shape != probabilities.shape:
        raise ValueError(f"y_true has shape {y_true.shape}, expected {probabilities.shape}")
    return float(np.sqrt(np.mean((y_true - probabilities) ** 2)))


def kaggle_note(n_train: int, synthetic: bool) -> Note:
    """How this run's training set compares with Kaggle's: the ratio computed from the run's own count,
    never typed (a report of 1,400 synthetic galaxies and one of 2,447 real ones differ)."""
    if n_train <= 0:
        raise ValueError(f"n_train must be positive, got {n_train}")
    ratio = TRAINING_GALAXIES / n_train
    kind = "synthetic" if synthetic else "real"
    tail = ("; this run's figures are for the synthetic sky, so the leaderboard rows show the scale of the "
            "metric, not a score to rank against") if synthetic else ""
    return Note(f"Kaggle's winners trained on {TRAINING_GALAXIES:,} real galaxies, {ratio:.0f} times the "
                f"{n_train:,} {kind} galaxies this run trained on{tail}.")


def paper_view_note(metrics: Mapping[str, Any], config: Config | None = None) -> Note:
    """One sentence comparing this run's paper's-view figure (the last training epoch's running RMSE)
    with its held-out RMSE, generated from ``metrics`` (``metrics.json``): which is lower and by how
    much, and which of the training-time effects the configuration had on."""
    train = metrics.get("train_rmse_last_epoch")
    split = metrics.get("evaluated_split") or "test"
    held = metrics.get(f"{split}_rmse")
    if not isinstance(train, int | float) or not isinstance(held, int | float):
        return Note("This evaluation has no single training log (an ensemble: each member's last training "
                    "epoch is its own row), so there is no paper's-view figure to set against the held-out one.")
    effects = []
    if config is not None:
        if config.augment:
            shifts = bool(config.augment_shift)
            effects.append("random rotations, flips and shifts" if shifts else "random rotations and flips")
        if config.mixup:
            effects.append("mixup")
        if config.label_smoothing:
            effects.append("label smoothing")
    during = f" and {', '.join(effects)}" if effects else ""
    averaged = (f", averaged over its test-time views (`tta: {config.tta}`)"
                if config is not None and config.tta != "none" else "")
    if train > held:
        verdict = (f"In this run the paper's kind of figure, the last training epoch's RMSE {train:.4f}, is "
                   f"*higher* than the held-out {split} RMSE {held:.4f} (by {train - held:.4f}): here it does not "
                   "flatter the model.")
    else:
        verdict = (f"In this run the paper's kind of figure, the last training epoch's RMSE {train:.4f}, is lower "
                   f"than the held-out {split} RMSE {held:.4f} (by {held - train:.4f}): here it flatters the model.")
    return Note(f"{verdict} The training figure was averaged over an epoch while the weights still changed, "
                f"with dropout active (where the model has it){during}; the held-out one comes from the best "
                f"checkpoint with dropout off{averaged}.")
