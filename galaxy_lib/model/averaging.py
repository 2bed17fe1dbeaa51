"""Weight averaging (``weight_averaging: ema``): an exponential moving average of the trainable
weights, kept by the optimizer and swapped into the model only to score and save it.

The average is updated after every step by the optimizer (Keras' ``use_ema``), so it lives in the
optimizer's variables and is saved and restored with the resume checkpoint like Adam's moments.
After each epoch training swaps it into the model (:func:`ema_weights`), scores it on the validation
set (``val_rmse_ema``), saves it as ``ema.keras`` (and as ``best.keras`` when it is the best so far:
with a validation set, ``best`` is chosen by the average's RMSE), and swaps it out again, so the raw
weights train on exactly as without it. The average covers the *trainable* variables only (kernels,
biases, BatchNorm's scale and offset); BatchNorm's moving mean and variance are not trained by the
optimizer and are the raw model's (already running averages of their own).

Stochastic weight averaging (``weight_averaging: swa``, Izmailov et al. 2018) is kept here too, by
:class:`EpochAverage`: a uniform mean of the weights at the end of each epoch from ``swa_start`` of
the schedule on (by default the step schedule's last two phases, lr/10 and lr/100). Unlike the EMA
it is not scored every epoch: once, when training stops, the mean is swapped into the model
(:func:`averaged_weights`), BatchNorm's statistics are re-estimated for it
(:func:`reestimate_batchnorm`: running statistics of *other* weights do not fit the mean) and it is
saved as ``swa.keras``. The mean lives in numpy, outside the optimizer, and is saved beside each
resume checkpoint, so a resumed run averages exactly the epochs an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from galaxy_lib.model import network
from galaxy_lib.paths import atomic_path

keras = network.keras


@keras.saving.register_keras_serializable(package="galaxy_lib")
class AveragingAdam(keras.optimizers.Adam):
    """Adam keeping an exponential moving average of the weights (``use_ema``) that is *not*
    copied into the model when ``fit`` returns.

    Keras' ``fit`` ends with ``finalize_variable_values``, which overwrites the weights with
    their average. :func:`galaxy_lib.model.train.train` calls ``fit`` once per epoch, so that would restart training
    from the average after every epoch: a different algorithm. Here it does nothing, and
    :func:`ema_weights` swaps the average in only to score and save it.
    """

    def finalize_variable_values(self, var_list: Sequence) -> None:
        pass

    def copy_average_into(self, var_list: Sequence) -> None:
        """Overwrite ``var_list`` (the model's trainable variables) with their averages."""
        super().finalize_variable_values(var_list)


@contextlib.contextmanager
def ema_weights(model: keras.Model) -> Iterator[None]:
    """The optimizer's weight average in ``model`` inside the block, the raw weights restored
    exactly (the same float32 values) afterwards, also when the block fails."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # under a LossScaleOptimizer
    variables = model.trainable_variables
    raw = [variable.numpy() for variable in variables]
    optimizer.copy_average_into(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, raw, strict=True):
            variable.assign(value)


class EpochAverage:
    """The uniform running mean of a model's trainable weights over the epochs averaged so far
    (stochastic weight averaging), kept in float64 so that a long average does not drift.

    ``mean`` is None before the first :meth:`update`. The mean and ``count`` are all a resumed run
    needs (:meth:`save`, :meth:`load`): the incremental update of a float64 mean read back exactly
    gives the same float64 mean as an uninterrupted run.
    """

    def __init__(self, mean: list[np.ndarray] | None = None, count: int = 0) -> None:
        self.mean, self.count = mean, count

    def update(self, model: keras.Model) -> None:
        """Add ``model``'s current trainable weights to the mean (one more epoch averaged)."""
        weights = [np.asarray(variable.numpy(), dtype=np.float64) for variable in model.trainable_variables]
        if self.mean is None or self.count == 0:
            self.mean = weights
        else:
            for mean, value in zip(self.mean, weights, strict=True):
                mean += (value - mean) / (self.count + 1)
        self.count += 1

    def save(self, path: Path) -> None:
        """Write the mean to ``path`` (``.npz``, atomically: a temporary name, then renamed)."""
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, *(self.mean or []))

    @classmethod
    def load(cls, path: Path, count: int) -> EpochAverage:
        """The mean saved at ``path`` by :meth:`save`, averaged over ``count`` epochs."""
        with np.load(path) as archive:
            mean = [archive[f"arr_{i}"] for i in range(len(archive.files))]
        return cls(mean, count)

    def check(self, model: keras.Model) -> str | None:
        """Why the mean does not fit ``model``'s trainable weights (None when it does)."""
        shapes = [tuple(variable.shape) for variable in model.trainable_variables]
        saved = [tuple(array.shape) for array in self.mean or []]
        return None if shapes == saved else f"holds {len(saved)} weight arrays for the model's {len(shapes)} " \
                                               "(or of other shapes)"


@contextlib.contextmanager
def averaged_weights(model: keras.Model, average: EpochAverage) -> Iterator[None]:
    """``average``'s mean in ``model``'s trainable weights inside the block; afterwards *every*
    variable of the model (BatchNorm statistics and dropout generators included, which
    :func:`reestimate_batchnorm` changes) holds its value from before again, also when the block fails."""
    variables = model.variables
    before = [variable.numpy() for variable in variables]
    for variable, mean in zip(model.trainable_variables, average.mean or [], strict=True):
        variable.assign(mean.astype(variable.dtype))
    try:
        yield
    finally:
        for variable, value in zip(variables, before, strict=True):
            variable.assign(value)


def batchnorm_layers(layer: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """The BatchNormalization layers in ``layer``, nested models included, in order."""
    found = [layer] if isinstance(layer, keras.layers.BatchNormalization) else []
    for inner in getattr(layer, "layers", []):
        found += batchnorm_layers(inner)
    return found


def reestimate_batchnorm(model: keras.Model, batches: Iterable) -> int:
    """Recompute every trainable BatchNorm layer's moving mean and variance for ``model``'s current
    weights from one pass over ``batches`` (``(images, labels)`` or images); returns the batches seen.

    Needed for an averaged model: the moving statistics gathered during training belong to the raw
    weights of each step, not to their mean (PyTorch's ``swa_utils.update_bn`` does the same). Each
    layer's statistics are reset and the n-th batch (0-based) is run with ``momentum = n / (n + 1)``,
    so they end as the *equal-weight* mean over the batches of the batch means and batch variances
    (a smaller last batch counts as much as the others). Keras 3's BatchNormalization reads
    ``self.momentum`` at every call, hence eager calls, one per batch; the momentum is restored
    afterwards. The model runs with ``training=True``, so dropout is active, as it was when the
    training statistics were gathered: the statistics describe the activations training produced.
    """
    layers = [layer for layer in batchnorm_layers(model) if layer.trainable]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, dtype=layer.moving_mean.dtype))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, dtype=layer.moving_variance.dtype))
    seen = 0
    try:
        for batch in batches:
            images = batch[0] if isinstance(batch, tuple | list) else batch
            for layer in layers:
                layer.momentum = seen / (seen + 1)
            model(images, training=True)
            seen += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return seen
