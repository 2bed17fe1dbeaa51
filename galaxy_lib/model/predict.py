"""Predictions from a trained run: arrays for evaluation, Kaggle submission CSVs for test images.

Images go through exactly the run's own preprocessing (its crop and resize, read from the
run's ``config.yaml``) in streamed batches, so predicting Kaggle's 79,975 test images needs
no more memory than predicting ten. Test-time averaging (TTA) feeds each batch in several
dihedral views (:mod:`galaxy_lib.data.augment`) as one larger batch and averages the answers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.config import atomic_path, display_path, resolve_path
from galaxy_lib.data import augment, dataset, pipeline
from galaxy_lib.data.images import TEST_IMAGES
from galaxy_lib.model.network import keras
from galaxy_lib.model.runs import RunFolder
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


def _predict_function(model: keras.Model, views: tuple[int, ...]):
    """A compiled ``images -> mean prediction over views`` for one batch."""

    # One trace per model: any batch size (the last batch is short) fits the signature.
    signature = [tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)]

    @tf.function(input_signature=signature)
    def predict(images: tf.Tensor) -> tf.Tensor:
        stacked = tf.concat([augment.dihedral_view(images, v) for v in views], axis=0)
        outputs = tf.cast(model(stacked, training=False), tf.float32)
        return tf.reduce_mean(tf.reshape(outputs, [len(views), -1, tree.N_ANSWERS]), axis=0)

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
):
    """Yield ``(ids, predictions)`` one batch at a time, in the order of ``ids``."""
    run = RunFolder(Path(run_dir))
    config = run.load_config()
    model = model if model is not None else run.load_model("best")
    views = augment.tta_views(tta or config.tta)
    ids = np.asarray(ids, dtype=np.int64)
    batches = pipeline.make_dataset(
        images, ids, None, crop=config.crop, image_size=config.image_size, batch_size=batch_size,
        resize_bad_size=config.resize_bad_size,
    )
    predict = _predict_function(model, views)
    start = 0
    show = len(ids) >= 1000 if progress is None else progress
    with tqdm(total=len(ids), desc="predicting", unit="galaxy", disable=not show) as bar:
        for x in batches:
            out = predict(x).numpy()
            yield ids[start : start + len(out)], out
            start += len(out)
            bar.update(len(out))


def predict_galaxies(
    run_dir: str | os.PathLike[str],
    images: dataset.ImageSource,
    ids: np.ndarray,
    *,
    tta: str | None = None,
    batch_size: int = 64,
    model: keras.Model | None = None,
) -> np.ndarray:
    """``(n, 37)`` float32 predictions for ``ids`` (in that order) from the run's best model
    (or ``model``), with test-time averaging ``tta`` (None = the run's own ``tta``)."""
    ids = np.asarray(ids, dtype=np.int64)
    parts = [p for _, p in iter_predictions(run_dir, images, ids, tta=tta, batch_size=batch_size, model=model)]
    return np.concatenate(parts) if parts else np.zeros((0, tree.N_ANSWERS), np.float32)


def predict_to_csv(
    run_dir: str | os.PathLike[str],
    images_path: str | os.PathLike[str],
    out_csv: str | os.PathLike[str],
    batch_size: int = 64,
) -> Path:
    """Write a Kaggle submission CSV (``GalaxyID`` + 37 ``ClassN.M`` columns, values clipped
    to [0, 1]) for every image in a folder or zip, e.g. ``images_test_rev1``.

    Rows are written as they are predicted, to a temporary file renamed at the end, so a
    killed run never leaves a short file that looks complete.
    """
    images = dataset.open_images(images_path)
    ids = images.ids()
    out = Path(out_csv)
    with atomic_path(out) as tmp, open(tmp, "w") as handle:
        handle.write(",".join(tree.KAGGLE_COLUMNS) + "\n")
        for batch_ids, values in iter_predictions(run_dir, images, ids, batch_size=batch_size, progress=True):
            block = pd.DataFrame(np.clip(values, 0.0, 1.0), columns=list(tree.ANSWER_COLUMNS))
            block.insert(0, tree.ID_COLUMN, batch_ids)
            block.to_csv(handle, header=False, index=False, float_format="%.6f")
    print(f"wrote {len(ids):,} predictions to {display_path(out)}", flush=True)
    return out
