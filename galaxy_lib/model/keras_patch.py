"""Keras 3 workarounds that let ``fit`` and ``evaluate`` run under MultiWorkerMirroredStrategy.

They patch a model's private Keras methods, so they live apart from the training loop: one
place to check against a new Keras version. The patch copies Keras 3's private loop of
``_maybe_symbolic_build``, so it is fenced: ``pyproject.toml`` pins Keras to :data:`KERAS_RANGE`, the
versions it was written and tested for, and :func:`fit_across_workers` refuses another version (or a
changed private signature) with one line naming it, instead of failing somewhere inside Keras.
``tests/test_keras_patch.py`` checks the installed Keras against the same fence without training.
"""

from __future__ import annotations

import inspect
from typing import Any

from galaxy_lib.errors import ConfigError
from galaxy_lib.model import network
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()
keras = network.keras

KERAS_RANGE = ((3, 15), (3, 16))
"""Keras versions ``>= 3.15, < 3.16`` (as pinned in ``pyproject.toml``): where the private
``_maybe_symbolic_build(iterator=None, data_batch=None)`` and its ``(begin, end, iterator)`` epoch
iterator are as this patch copies them (keras/src/backend/tensorflow/trainer.py)."""

PRIVATE_SIGNATURE = ("self", "iterator", "data_batch")
"""The parameters of ``TensorFlowTrainer._maybe_symbolic_build`` the patch replaces."""


def keras_range_text() -> str:
    (low_major, low_minor), (high_major, high_minor) = KERAS_RANGE
    return f">={low_major}.{low_minor},<{high_major}.{high_minor}"


def patch_problem(version: str, trainer: type | None = None) -> str | None:
    """Why the multi-worker patch cannot be trusted on Keras ``version`` with the trainer class
    ``trainer`` (default: Keras' TensorFlow trainer), or None when it can."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return f"Keras version {version!r} is not a release number"
    if not KERAS_RANGE[0] <= (major, minor) < KERAS_RANGE[1]:
        return f"this environment has Keras {version}"
    if trainer is None:
        from keras.src.backend.tensorflow.trainer import TensorFlowTrainer as trainer
    method = getattr(trainer, "_maybe_symbolic_build", None)
    if method is None:
        return f"Keras {version} has no private TensorFlowTrainer._maybe_symbolic_build"
    parameters = tuple(inspect.signature(method).parameters)
    if parameters != PRIVATE_SIGNATURE:
        return f"Keras {version}'s _maybe_symbolic_build takes {parameters}, not {PRIVATE_SIGNATURE}"
    return None


def require_patchable_keras(version: str | None = None, trainer: type | None = None) -> None:
    """Raise a one-line :class:`~galaxy_lib.errors.ConfigError` when the patch does not fit the
    installed Keras (or ``version`` / ``trainer``, for tests)."""
    problem = patch_problem(keras.__version__ if version is None else version, trainer)
    if problem is not None:
        raise ConfigError(
            f"strategy: multi_worker patches private Keras code written for Keras {keras_range_text()} "
            f"(galaxy_lib/model/keras_patch.py), but {problem}: pip install 'keras{keras_range_text()}' "
            "or train with another strategy"
        )


def fit_across_workers(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Let Keras' ``fit`` and ``evaluate`` run under MultiWorkerMirroredStrategy (nothing otherwise).

    Keras 3 (3.15 at least) fails there twice before the first step (keras-team/keras#20585):

    - it builds the metrics from one batch that it first averages over the replicas with
      ``strategy.reduce("MEAN", (x, y))``, but MultiWorkerMirroredStrategy's ``reduce`` takes one
      value, not a tuple ("Attempt to convert a value (PerReplica ...) to a Tensor"). The build
      traces the model symbolically and needs only the batch's shapes and dtypes, so the model's
      ``_maybe_symbolic_build`` is wrapped to hand Keras this worker's own part of the batch
      instead (no collective at all). Private Keras API, so it is patched on this model only, and
      only on the Keras versions of :data:`KERAS_RANGE` (:func:`require_patchable_keras`);
    - it averages each step's logs over the replicas with ``strategy.reduce("MEAN", value,
      axis=0)``, which fails on the scalar loss and metrics ("Invalid reduction dimension 0"). The
      model's ``train_step`` and ``test_step`` (Keras' overridable steps) are wrapped to return
      each scalar as a vector of one: the mean over that axis and the replicas is then the value
      itself, since Keras' metric variables are mirrored and every update is summed over all
      replicas, so each replica already holds the global figure.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    require_patchable_keras()

    def with_replica_axis(step: Any) -> Any:
        def wrapped(data: Any) -> Any:
            return tf.nest.map_structure(
                lambda v: tf.expand_dims(v, 0) if isinstance(v, tf.Tensor) and v.shape.rank == 0 else v, step(data)
            )
        return wrapped

    model.train_step = with_replica_axis(model.train_step)
    model.test_step = with_replica_axis(model.test_step)
    original = model._maybe_symbolic_build

    def build(iterator: Any = None, data_batch: Any = None) -> Any:
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v,
                    next(batches),
                )
                break
        return original(data_batch=data_batch)

    model._maybe_symbolic_build = build
