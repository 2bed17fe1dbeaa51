"""The galaxies a run trains and validates on, and its batches: the validation set once, and each
epoch's training set in a new order seeded by ``(seed, epoch)``.

The seeded order is what makes a resumed run exact (:mod:`galaxy_lib.model.checkpoint`): epoch ``e``
of a resumed run sees the same batches, with the same augmentation, as epoch ``e`` of an
uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from galaxy_lib.config import Config
from galaxy_lib.data import augment, dataset, pipeline
from galaxy_lib.data import split as split_module
from galaxy_lib.errors import DataError
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.model.strategy import for_strategy
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's shuffle and augmentation: fixed by the run's seed and the epoch."""
    return (seed * 1_000_003 + epoch) % (2**62)


@dataclass(frozen=True)
class TrainingData:
    """The galaxies a run trains and validates on, as training uses them, and the score that
    picks its best model."""

    data: dataset.GalaxyData
    train_ids: np.ndarray
    train_labels: np.ndarray
    val_ids: np.ndarray
    val_labels: np.ndarray
    monitor: str


def training_data(folder: RunFolder, config: Config) -> TrainingData:
    """The data set of ``config`` and the run's split (``split.csv``, made now for a new run);
    a damaged ``split.csv`` is a :class:`RunError` saying what to do, not a new split (that would
    move galaxies between training and test)."""
    if folder.split_file.is_file():
        folder.load_split()  # validates it with advice for a damaged run folder; read again below
    data = dataset.load_for_config(config)
    split = split_module.split_for_config(data, config, folder.split_file)
    train_ids, train_labels = data.subset(split_module.ids_of(split, "train"))
    val_ids, val_labels = data.subset(split_module.ids_of(split, "val"))
    if config.refit:
        # Refit: the validation galaxies train too (the split file still records them apart and
        # the test galaxies stay untouched); with nothing held out, training RMSE picks best.keras.
        train_ids, train_labels = data.subset(np.concatenate([train_ids, val_ids]))
        val_ids, val_labels = val_ids[:0], val_labels[:0]
    if len(train_ids) == 0:
        raise DataError(f"{folder.split_file}: no training galaxies")
    # With weight averaging, best.keras is the average at its best epoch; without a validation
    # set there is nothing to score the average on, and the raw model's training RMSE decides.
    averaging = config.weight_averaging == "ema"
    monitor = ("val_rmse_ema" if averaging else "val_rmse") if len(val_ids) else "rmse"
    return TrainingData(data, train_ids, train_labels, val_ids, val_labels, monitor)


class Batches:
    """The run's batches: the validation set once, and a new seeded order of the training set
    per epoch, from crops held in memory when they fit ``crop_memory_mb`` (else streamed)."""

    def __init__(self, folder: RunFolder, config: Config, strategy: tf.distribute.Strategy,
                 data: TrainingData) -> None:
        self.config, self.strategy, self.data = config, strategy, data
        self.cache_dir = folder.cache_dir if config.cache_crops else None
        self.augmenter = augment.make_augmenter(config)
        self.geometry = {"crop": config.crop, "image_size": config.image_size,
                         "resize_bad_size": config.resize_bad_size}
        self.train_crops = self.in_memory(data.train_ids)
        self.train_labels = augment.smooth_labels(data.train_labels, config.label_smoothing)
        self.val: tf.data.Dataset | None = None
        if len(data.val_ids):
            self.val = self.shard(pipeline.make_dataset(
                data.data.images, data.val_ids, data.val_labels, batch_size=config.batch_size,
                cache_dir=self.cache_dir, crops=self.in_memory(data.val_ids), **self.geometry,
            ), len(data.val_ids))
        self.steps = math.ceil(len(data.train_ids) / config.batch_size)

    def in_memory(self, ids: np.ndarray) -> tf.Tensor | None:
        """The crops of ``ids`` as one tensor, decoded once for the whole run, when they fit the
        ``crop_memory_mb`` budget; None to stream them from disk every epoch."""
        size = pipeline.crops_nbytes(len(ids), self.config.crop, self.config.image_size)
        if len(ids) == 0 or size > self.config.crop_memory_mb * 2**20:
            return None
        return tf.constant(pipeline.load_crops(self.data.data.images, ids, cache_dir=self.cache_dir, **self.geometry))

    def shard(self, ds: tf.data.Dataset, n: int) -> tf.data.Dataset:
        return for_strategy(ds, n, self.config.batch_size, self.strategy)

    def train(self, epoch: int) -> tf.data.Dataset:
        """Epoch ``epoch``'s training batches: a new seeded order over the same in-memory crops
        costs tens of milliseconds (the crops are not re-read)."""
        data = self.data
        return self.shard(pipeline.make_dataset(
            data.data.images, data.train_ids, self.train_labels, batch_size=self.config.batch_size, shuffle=True,
            seed=epoch_seed(self.config.model_seed, epoch), augment=self.augmenter, cache_dir=self.cache_dir,
            crops=self.train_crops, mixup=self.config.mixup, **self.geometry,
        ), len(data.train_ids))
