"""What the model looks at: saliency maps of a run's predictions for the key answers.

A saliency map here is the plain input gradient (Simonyan, Vedaldi & Zisserman 2013): for one
galaxy and one answer, ``|d prediction / d pixel|``, the largest over the three colours. It says
which pixels would move that answer's predicted vote fraction most if they changed. Plain gradients
rather than Grad-CAM because they work unchanged for both architectures: ``vgg6`` and
``vgg6_views``, whose last convolution sees rotated, mirrored (and for 16 views, cut) copies of
the image stacked into the batch, so a Grad-CAM map would first have to be un-rotated per view.
A gradient flows back through those in-graph views, and through test-time averaging, to the one
input image by itself.

The maps are taken on exactly what the model saw: the run's crop and resize
(:func:`galaxy_lib.data.pipeline.make_dataset` with the run's ``config.yaml``), the checkpoint
that was evaluated, and the run's test-time averaging (the prediction is the mean over the views,
so its gradient is too). The image drawn beside a map is that same input, so they align pixel for
pixel. For an ensemble, the gradient of the members' mean prediction (the members that share the
first member's input geometry; the figure says which).

One call computes every galaxy x answer pair as one batch of gradients (the galaxy repeated once
per answer, each copy's own answer summed), in chunks of at most ``max_batch`` images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data import augment, dataset, pipeline
from galaxy_lib.errors import RunError
from galaxy_lib.evaluation import figures
from galaxy_lib.evaluation.gallery import as_jpeg
from galaxy_lib.model.ensemble import EnsembleFolder
from galaxy_lib.model.network import keras
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import display_path
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()

SALIENCY_ANSWERS: tuple[str, ...] = (*tree.KEY_ANSWERS, "Class3.1")
"""Smooth, features or disk, edge-on, spiral (:data:`galaxy_lib.tree.KEY_ANSWERS`) and bar."""

GEOMETRY_KEYS = ("crop", "image_size", "resize_bad_size")
"""Configuration keys that decide the pixels a model sees: ensemble members must agree on them
for their gradients to be taken on the same image."""


def _answer_indices(answers: Sequence[str]) -> np.ndarray:
    if not len(answers):
        raise ValueError("no answers to compute saliency maps for")
    return np.array([tree.column_index(a) for a in answers], dtype=np.int32)


def input_saliency(
    models: keras.Model | Sequence[keras.Model],
    images: np.ndarray,
    answers: Sequence[str] = SALIENCY_ANSWERS,
    *,
    views: Sequence[int] | Sequence[Sequence[int]] = (0,),
    max_batch: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Saliency maps ``(n, k, H, W)`` of ``k`` answers for ``n`` images, and the predictions ``(n, k)``
    they are the gradients of.

    ``images`` are float32 NHWC model inputs in [0, 1]. ``models`` is one model or several whose mean
    prediction is meant (an ensemble). ``views`` are the dihedral views averaged at test time
    (:data:`galaxy_lib.data.augment.TTA_VIEWS`), one tuple for all models or one per model; ``(0,)``
    is the image alone. A map is ``|gradient|``, the largest over the colour channels. Inference mode
    (dropout off, BatchNorm's moving statistics), so each image's answer depends on that image only
    and one summed gradient gives every image's own.
    """
    models = [models] if isinstance(models, keras.Model) else list(models)
    if not models:
        raise ValueError("no models to compute saliency maps with")
    one_for_all = not views or isinstance(views[0], int | np.integer)
    per_model = [tuple(views)] * len(models) if one_for_all else [tuple(v) for v in views]
    if len(per_model) != len(models) or not all(per_model):
        raise ValueError(f"{len(models)} models but views {views!r}")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (n, height, width, 3), got {images.shape}")
    columns = _answer_indices(answers)
    k = len(columns)
    per_image = k * max(len(v) for v in per_model)
    step = max(1, max_batch // per_image)  # galaxies per chunk
    maps, outputs = [], []
    for start in range(0, len(images), step):
        chunk = images[start : start + step]
        tiled = tf.constant(np.repeat(chunk, k, axis=0))  # row i * k + j: galaxy i for answer j
        picks = tf.constant(np.tile(columns, len(chunk)))
        with tf.GradientTape() as tape:
            tape.watch(tiled)
            mean = 0.0
            for model, model_views in zip(models, per_model, strict=True):
                stacked = tf.concat([augment.dihedral_view(tiled, v) for v in model_views], axis=0)
                out = tf.cast(model(stacked, training=False), tf.float32)
                mean += tf.reduce_mean(tf.reshape(out, [len(model_views), -1, tree.N_ANSWERS]), axis=0) / len(models)
            picked = tf.gather(mean, picks, axis=1, batch_dims=1)
            objective = tf.reduce_sum(picked)
        gradient = tape.gradient(objective, tiled)
        if gradient is None:  # pragma: no cover - a model whose output does not depend on its input
            gradient = tf.zeros_like(tiled)
        maps.append(np.abs(gradient.numpy()).max(axis=-1).reshape(len(chunk), k, *images.shape[1:3]))
        outputs.append(picked.numpy().reshape(len(chunk), k))
    return np.concatenate(maps), np.concatenate(outputs)


def pick_galaxies(y_true: np.ndarray, answers: Sequence[str] = SALIENCY_ANSWERS,
                  n: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Rows of ``y_true`` to show, and the answer each was chosen for: in turn for each answer (cycling
    when ``n`` exceeds them), the galaxy not yet chosen with the highest true vote fraction for it, so
    the examples are the clearest smooth galaxy, the clearest disk, and so on. ``n`` defaults to one
    per answer (at most the number of galaxies)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    columns = _answer_indices(answers)
    n = min(len(answers) if n is None else n, len(y_true))
    rows: list[int] = []
    reasons: list[str] = []
    for i in range(n):
        j = i % len(answers)
        values = y_true[:, columns[j]].copy()
        values[rows] = -np.inf
        rows.append(int(np.argmax(values)))
        reasons.append(answers[j])
    return np.array(rows, dtype=np.int64), reasons


def model_inputs(images: dataset.ImageSource, ids: np.ndarray, config: Config) -> np.ndarray:
    """The float32 ``(n, side, side, 3)`` inputs a run's model sees for ``ids``: the tf.data pipeline
    with the run's crop, resize and bad-size handling, without augmentation."""
    batches = pipeline.make_dataset(images, ids, None, crop=config.crop, image_size=config.image_size,
                                    batch_size=max(1, len(ids)), resize_bad_size=config.resize_bad_size)
    return np.concatenate([batch.numpy() for batch in batches])


@dataclass
class SaliencyMaps:
    """Saliency maps of a few galaxies for a few answers, and what the figure needs to draw them."""

    ids: np.ndarray  # (n,) GalaxyIDs
    images: np.ndarray  # (n, H, W, 3) the model's inputs, in [0, 1]
    maps: np.ndarray  # (n, k, H, W) |gradient|, largest over colours
    answers: tuple[str, ...]  # k answer columns
    y_true: np.ndarray  # (n, k) true vote fractions
    y_pred: np.ndarray  # (n, k) predictions
    chosen_for: list[str]  # (n,) the answer each galaxy was picked for
    note: str = ""  # what was differentiated: run, checkpoint, views

    def figure(self) -> Figure:
        """:func:`galaxy_lib.evaluation.figures.saliency_grid` of these maps."""
        return figures.saliency_grid(self.images, self.maps, self.answers, ids=self.ids, y_true=self.y_true,
                                     y_pred=self.y_pred, chosen_for=self.chosen_for, note=self.note)

    def show(self, quality: int = 85) -> Any:
        """The figure as an inline JPEG for notebooks: images and heat maps are several times smaller
        as JPEG than as the PNG Jupyter would embed, which keeps the HTML reports light."""
        return as_jpeg(self.figure(), quality=quality)


def _models_of(run_dir: str | os.PathLike[str]) -> tuple[list[RunFolder], list[Config], str]:
    """The run folders whose gradients are averaged, their configurations, and a note on what was left out."""
    if not EnsembleFolder.is_ensemble(run_dir):
        folder = RunFolder(Path(run_dir)).require()
        return [folder], [folder.load_config()], ""
    members = EnsembleFolder(Path(run_dir)).require().member_folders()
    configs = [m.load_config() for m in members]
    geometry = [tuple(getattr(c, key) for key in GEOMETRY_KEYS) for c in configs]
    same = [i for i, g in enumerate(geometry) if g == geometry[0]]
    note = f"mean of the {len(members)} members" if len(same) == len(members) else (
        f"mean of {len(same)} of {len(members)} members (those with the first member's crop and image_size)")
    return [members[i] for i in same], [configs[i] for i in same], note


def run_saliency(
    run_dir: str | os.PathLike[str],
    ids: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray | None = None,
    *,
    data: Any = None,
    which: str = "best",
    tta: str | None = None,
    answers: Sequence[str] = SALIENCY_ANSWERS,
    n_galaxies: int | None = None,
    max_batch: int = 256,
) -> SaliencyMaps:
    """Saliency maps of a run (or ensemble folder) for a few of the galaxies ``ids`` (whose true
    answers are the rows of ``y_true``), chosen by :func:`pick_galaxies`.

    ``which`` is the checkpoint and ``tta`` the test-time averaging (None: each run's own), as in
    evaluation. ``data`` is a :class:`~galaxy_lib.data.dataset.GalaxyData` or an
    :class:`~galaxy_lib.data.dataset.ImageSource` holding the galaxies (None: the data set of the
    run's configuration). ``y_pred`` (the evaluated predictions, same rows) titles the panels;
    without it the predictions the gradients were taken of are shown.
    """
    ids = np.asarray(ids, dtype=np.int64)
    y_true = np.asarray(y_true, dtype=np.float64)
    if y_true.shape != (len(ids), tree.N_ANSWERS):
        raise ValueError(f"y_true must be ({len(ids)}, {tree.N_ANSWERS}), got {y_true.shape}")
    if not len(ids):
        raise RunError(f"{display_path(run_dir)}: no galaxies to draw saliency maps for")
    answers = tuple(answers)
    folders, configs, note = _models_of(run_dir)
    images = data if isinstance(data, dataset.ImageSource) else (
        data.images if data is not None else dataset.load_for_config(configs[0], progress=False).images)
    rows, chosen_for = pick_galaxies(y_true, answers, n_galaxies)
    pixels = model_inputs(images, ids[rows], configs[0])
    views = [augment.tta_views(tta or config.tta) for config in configs]
    maps, predicted = input_saliency([f.load_model(which) for f in folders], pixels, answers, views=views,
                                     max_batch=max_batch)
    columns = [tree.column_index(a) for a in answers]
    shown = predicted if y_pred is None else np.asarray(y_pred, dtype=np.float64)[rows][:, columns]
    averaged = sorted({tta or config.tta for config in configs})
    text = (f"{display_path(run_dir)}, {which} checkpoint{', ' + note if note else ''}; test-time averaging "
            f"{'/'.join(averaged)} (the gradient of the averaged prediction); input: central {configs[0].crop} px"
            + (f" resized to {configs[0].image_size}" if configs[0].image_size else ""))
    return SaliencyMaps(ids[rows], pixels, maps, answers, y_true[rows][:, columns], shown, chosen_for, text)


def evaluation_saliency(run_dir: str | os.PathLike[str], evaluation: Any, *, data: Any = None,
                        **kwargs: Any) -> SaliencyMaps:
    """:func:`run_saliency` on the galaxies, predictions, checkpoint and test-time averaging of an
    evaluation (:class:`~galaxy_lib.evaluation.evaluate.RunEvaluation`), with its data set: the
    notebook's call."""
    tta = evaluation.metrics.get("tta")
    kwargs.setdefault("which", evaluation.metrics.get("model", "best"))
    kwargs.setdefault("tta", None if tta in (None, "per member") else tta)
    if data is None:
        data = dataset.load_for_config(evaluation.config, progress=False)
    return run_saliency(run_dir, evaluation.ids, evaluation.y_true, evaluation.y_pred, data=data, **kwargs)
