"""Predictions from a trained run or an ensemble: arrays for evaluation, Kaggle submission CSVs.

Images go through exactly the run's own preprocessing (its crop and resize, read from the
run's ``config.yaml``) in streamed batches, so predicting Kaggle's 79,975 test images needs
no more memory than predicting ten. Test-time averaging (TTA) feeds each batch in several
dihedral views (:mod:`galaxy_lib.data.augment`) as one larger batch and averages the answers.

An ensemble (an :class:`~galaxy_lib.model.ensemble.EnsembleFolder`, or a list of run folders)
is predicted batch by batch in lockstep: every member reads the same galaxies through its own
preprocessing and test-time averaging, and the batch's answers are the members' mean. Only one
batch of images per member is ever held. The mean of outputs that obey the decision tree's
sums obeys them too (the sums are linear), so an ensemble of ``head: tree`` models stays
tree-consistent.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.data import augment, dataset, pipeline
from galaxy_lib.data.images import TEST_IMAGES
from galaxy_lib.model.ensemble import EnsembleFolder
from galaxy_lib.model.network import keras
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import atomic_path, display_path, resolve_path
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()


def find_test_images(
    data_root: str | os.PathLike[str], explicit: str | os.PathLike[str] = ""
) -> tuple[Path | None, str]:
    """Kaggle's unlabelled test images for a submission, and a line saying what was found.

    ``explicit`` (a folder or zip, relative to the project root) when given, else
    ``images_test_rev1/`` or ``images_test_rev1.zip`` in the data set folder ``data_root``.
    Returns ``(path, message)``, with ``path`` None when none of those places exists: a
    submission is optional, so finding none is not an error.
    """
    if explicit:
        candidates = [resolve_path(explicit)]
    else:
        root = resolve_path(data_root)
        candidates = [root / TEST_IMAGES, root / f"{TEST_IMAGES}.zip"]
    for path in candidates:
        if path.exists():
            return path, f"unlabelled test images: {display_path(path)}"
    looked = ", ".join(map(display_path, candidates))
    return None, f"no unlabelled test images found (looked for {looked}): no submission written"


def predict_function(model: keras.Model, views: tuple[int, ...],
                      shifts: tuple[tuple[int, int], ...] = ((0, 0),)):
    """A compiled ``images -> mean prediction over views`` for one batch: every dihedral view in
    ``views`` at every pixel shift in ``shifts``."""

    # One trace per model: any batch size (the last batch is short) fits the signature.
    signature = [tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)]

    @tf.function(input_signature=signature)
    def predict(images: tf.Tensor) -> tf.Tensor:
        means = []
        for dx, dy in shifts:  # one model call per shift: 40 views of a batch would not fit small memory
            moved = augment.shift_view(images, dx, dy)  # the images themselves at (0, 0)
            stacked = tf.concat([augment.dihedral_view(moved, v) for v in views], axis=0)
            outputs = tf.cast(model(stacked, training=False), tf.float32)
            means.append(tf.reduce_mean(tf.reshape(outputs, [len(views), -1, tree.N_ANSWERS]), axis=0))
        return tf.add_n(means) / float(len(means))  # one shift: the dihedral mean itself, bit for bit

    return predict


def iter_predictions(
    run_dir: str | os.PathLike[str],
    images: dataset.ImageSource,
    ids: np.ndarray,
    *,
    tta: str | None = None,
    batch_size: int = 64,
    model: keras.Model | None = None,
    progress: bool | None = None,
    crops: np.ndarray | None = None,
):
    """Yield ``(ids, predictions)`` one batch at a time, in the order of ``ids``.

    ``crops``: every galaxy's uint8 crop in the run's preprocessing, already decoded
    (:func:`galaxy_lib.data.pipeline.load_crops`), for callers that predict the same galaxies
    with many runs (a class scored on the instructor's galaxies decodes them once)."""
    run = RunFolder(Path(run_dir))
    config = run.load_config()
    model = model if model is not None else run.load_model("best")
    views = augment.tta_views(tta or config.tta)
    shifts = augment.tta_shifts(tta or config.tta)
    ids = np.asarray(ids, dtype=np.int64)
    batches = pipeline.make_dataset(
        images, ids, None, crop=config.crop, image_size=config.image_size, batch_size=batch_size,
        resize_bad_size=config.resize_bad_size, crops=crops,
    )
    predict = predict_function(model, views, shifts)
    start = 0
    show = len(ids) >= 1000 if progress is None else progress
    with tqdm(total=len(ids), desc="predicting", unit="galaxy", disable=not show) as bar:
        for x in batches:
            out = predict(x).numpy()
            yield ids[start : start + len(out)], out
            start += len(out)
            bar.update(len(out))


class _OneTracePerMember(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning: each member's model gets its
    own compiled prediction function, so an ensemble traces once per member (and per split), which
    is what it should do; the warning would tell a reader of the report to look for a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _expected_traces() -> Iterator[None]:
    quiet = _OneTracePerMember()
    logger = tf.get_logger()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


RunOrEnsemble = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""A run folder, an ensemble folder, or several run folders (averaged as an ensemble)."""


def ensemble_members(run_dir: RunOrEnsemble) -> list[RunFolder] | None:
    """The member run folders when ``run_dir`` is an ensemble folder or a list of run folders
    (a list of one is that run), None for a single run folder."""
    if isinstance(run_dir, str | os.PathLike):
        return EnsembleFolder(Path(run_dir)).member_folders() if EnsembleFolder.is_ensemble(run_dir) else None
    folders = [RunFolder(Path(r)) for r in run_dir]
    if not folders:
        raise ValueError("no run folders to predict with")
    return folders if len(folders) > 1 else None


def iter_ensemble_predictions(
    members: Sequence[str | os.PathLike[str]],
    images: dataset.ImageSource,
    ids: np.ndarray,
    *,
    tta: str | Sequence[str | None] | None = None,
    batch_size: int = 64,
    models: Sequence[keras.Model] | None = None,
    progress: bool | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(ids, mean, per_member)`` one batch at a time, in the order of ``ids``:
    ``per_member`` is ``(members, batch, 37)``, ``mean`` its mean over members.

    Each member uses its own preprocessing and, with ``tta`` None, its own test-time averaging;
    ``tta`` may be one value for all or one per member. ``models`` are the members' loaded
    models (default: each one's best).
    """
    ttas = list(tta) if isinstance(tta, list | tuple) else [tta] * len(members)
    if len(ttas) != len(members) or (models is not None and len(models) != len(members)):
        raise ValueError(f"{len(members)} members but {len(ttas)} tta values / {len(models or [])} models")
    ids = np.asarray(ids, dtype=np.int64)
    streams = [
        iter_predictions(member, images, ids, tta=member_tta, batch_size=batch_size,
                         model=None if models is None else models[i], progress=False)
        for i, (member, member_tta) in enumerate(zip(members, ttas, strict=True))
    ]
    show = len(ids) >= 1000 if progress is None else progress
    with (_expected_traces(),
          tqdm(total=len(ids), desc=f"predicting ({len(members)} members)", unit="galaxy", disable=not show) as bar):
        for parts in zip(*streams, strict=True):
            batch_ids = parts[0][0]
            for other_ids, _ in parts[1:]:
                if not np.array_equal(other_ids, batch_ids):  # pragma: no cover - guards the lockstep
                    raise RuntimeError("internal error: ensemble members' batches are out of step")
            stacked = np.stack([values for _, values in parts])
            yield batch_ids, stacked.mean(axis=0), stacked
            bar.update(len(batch_ids))


def predict_ensemble(
    members: Sequence[str | os.PathLike[str]],
    images: dataset.ImageSource,
    ids: np.ndarray,
    *,
    tta: str | Sequence[str | None] | None = None,
    batch_size: int = 64,
    models: Sequence[keras.Model] | None = None,
    return_members: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``(n, 37)`` float32 mean predictions of the member runs for ``ids`` (in that order); with
    ``return_members`` also every member's own, ``(members, n, 37)``. See
    :func:`iter_ensemble_predictions` for ``tta`` and ``models``."""
    ids = np.asarray(ids, dtype=np.int64)
    means, stacks = [], []
    for _, mean, stacked in iter_ensemble_predictions(members, images, ids, tta=tta, batch_size=batch_size,
                                                      models=models):
        means.append(mean)
        stacks.append(stacked)
    mean = np.concatenate(means) if means else np.zeros((0, tree.N_ANSWERS), np.float32)
    if not return_members:
        return mean
    stacked = np.concatenate(stacks, axis=1) if stacks else np.zeros((len(members), 0, tree.N_ANSWERS), np.float32)
    return mean, stacked


def predict_galaxies(
    run_dir: RunOrEnsemble,
    images: dataset.ImageSource,
    ids: np.ndarray,
    *,
    tta: str | None = None,
    batch_size: int = 64,
    model: keras.Model | None = None,
) -> np.ndarray:
    """``(n, 37)`` float32 predictions for ``ids`` (in that order) from the run's best model
    (or ``model``), with test-time averaging ``tta`` (None = the run's own ``tta``).

    ``run_dir`` may also be an ensemble folder or several run folders: their mean (see
    :func:`predict_ensemble`; ``model`` is then not accepted)."""
    ids = np.asarray(ids, dtype=np.int64)
    members = ensemble_members(run_dir)
    if members is not None:
        if model is not None:
            raise ValueError("`model` is for one run; an ensemble loads its members' models")
        return predict_ensemble(members, images, ids, tta=tta, batch_size=batch_size)
    run_dir = run_dir if isinstance(run_dir, str | os.PathLike) else run_dir[0]
    parts = [p for _, p in iter_predictions(run_dir, images, ids, tta=tta, batch_size=batch_size, model=model)]
    return np.concatenate(parts) if parts else np.zeros((0, tree.N_ANSWERS), np.float32)


def predict_to_csv(
    run_dir: RunOrEnsemble,
    images_path: str | os.PathLike[str],
    out_csv: str | os.PathLike[str],
    batch_size: int = 64,
) -> Path:
    """Write a Kaggle submission CSV (``GalaxyID`` + 37 ``ClassN.M`` columns, values clipped
    to [0, 1]) for every image in a folder or zip, e.g. ``images_test_rev1``.

    ``run_dir`` is a run folder, an ensemble folder or several run folders (their mean, each
    member with its own preprocessing and test-time averaging). Rows are written as they are
    predicted, to a temporary file renamed at the end, so a killed run never leaves a short
    file that looks complete.
    """
    members = ensemble_members(run_dir)
    single = run_dir if isinstance(run_dir, str | os.PathLike) else run_dir[0]
    for folder in members or [RunFolder(Path(single))]:
        folder.require()  # a missing member is named before any image is read
    images = dataset.open_images(images_path)
    ids = images.ids()
    out = Path(out_csv)
    if members is None:
        batches = iter_predictions(single, images, ids, batch_size=batch_size, progress=True)
    else:
        batches = ((i, mean) for i, mean, _ in iter_ensemble_predictions(members, images, ids, batch_size=batch_size,
                                                                        progress=True))
    with atomic_path(out) as tmp, open(tmp, "w") as handle:
        handle.write(",".join(tree.KAGGLE_COLUMNS) + "\n")
        for batch_ids, values in batches:
            block = pd.DataFrame(np.clip(values, 0.0, 1.0), columns=list(tree.ANSWER_COLUMNS))
            block.insert(0, tree.ID_COLUMN, batch_ids)
            block.to_csv(handle, header=False, index=False, float_format="%.6f")
    print(f"wrote {len(ids):,} predictions to {display_path(out)}", flush=True)
    return out
