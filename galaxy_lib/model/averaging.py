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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from galaxy_lib.model import network

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
