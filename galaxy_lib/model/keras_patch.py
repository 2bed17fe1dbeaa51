"""Keras 3 workarounds that let ``fit`` and ``evaluate`` run under MultiWorkerMirroredStrategy.

They patch a model's private Keras methods, so they live apart from the training loop: one
place to check against a new Keras version.
"""

from __future__ import annotations

from typing import Any

from galaxy_lib.model import network
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()
keras = network.keras


def fit_across_workers(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Let Keras' ``fit`` and ``evaluate`` run under MultiWorkerMirroredStrategy (nothing otherwise).

    Keras 3 (3.15 at least) fails there twice before the first step (keras-team/keras#20585):

    - it builds the metrics from one batch that it first averages over the replicas with
      ``strategy.reduce("MEAN", (x, y))``, but MultiWorkerMirroredStrategy's ``reduce`` takes one
      value, not a tuple ("Attempt to convert a value (PerReplica ...) to a Tensor"). The build
      traces the model symbolically and needs only the batch's shapes and dtypes, so the model's
      ``_maybe_symbolic_build`` is wrapped to hand Keras this worker's own part of the batch
      instead (no collective at all). Private Keras API, so it is patched only where that method
      exists, on this model only;
    - it averages each step's logs over the replicas with ``strategy.reduce("MEAN", value,
      axis=0)``, which fails on the scalar loss and metrics ("Invalid reduction dimension 0"). The
      model's ``train_step`` and ``test_step`` (Keras' overridable steps) are wrapped to return
      each scalar as a vector of one: the mean over that axis and the replicas is then the value
      itself, since Keras' metric variables are mirrored and every update is summed over all
      replicas, so each replica already holds the global figure.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def with_replica_axis(step: Any) -> Any:
        def wrapped(data: Any) -> Any:
            return tf.nest.map_structure(
                lambda v: tf.expand_dims(v, 0) if isinstance(v, tf.Tensor) and v.shape.rank == 0 else v, step(data)
            )
        return wrapped

    model.train_step = with_replica_axis(model.train_step)
    model.test_step = with_replica_axis(model.test_step)
    original = getattr(model, "_maybe_symbolic_build", None)
    if original is None:
        return

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
