"""Distribution: which ``tf.distribute`` strategy a run uses, how its batches are split between
replicas and workers, where each worker writes, and how the workers agree to stop.

Everything that differs between one process and a multi-worker run is here, so that the epoch loop
(:mod:`galaxy_lib.model.train`) reads the same with or without a cluster.
"""

from __future__ import annotations

import math

from galaxy_lib.model.runs import RunFolder
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy for the ``strategy`` option.

    ``none``: the default (one device). ``auto``: MirroredStrategy when more than one GPU is
    visible, else the default. ``mirrored``: MirroredStrategy over all GPUs, or over all
    logical CPU devices when there is no GPU. ``multi_worker``: MultiWorkerMirroredStrategy,
    configured by the ``TF_CONFIG`` environment variable (see the README).
    """
    if name == "multi_worker":
        # First, before anything starts TensorFlow's runtime (listing logical devices does): the
        # collective ops that connect the workers can only be configured while it has not started.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "none" or (name == "auto" and len(gpus) <= 1):
        return tf.distribute.get_strategy()
    if name in ("auto", "mirrored"):
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    raise ValueError(f"config key 'strategy': {name!r} is not one of auto, none, mirrored, multi_worker")


def for_strategy(ds: tf.data.Dataset, n: int, batch_size: int, strategy: tf.distribute.Strategy) -> tf.data.Dataset:
    """``ds`` (batches of ``batch_size`` from ``n`` galaxies) ready for ``fit`` under ``strategy``.

    The pipeline's cardinality can be unknown to tf.data; stating it lets Keras size its epochs
    without running into the end of the data (and checks the batch count). Under
    MultiWorkerMirroredStrategy every worker builds the same seeded pipeline and the DATA policy
    splits each global batch between them: each reads only its part of every batch, the same
    number of steps on every worker, also with a short last batch. (The default, AUTO, would
    first try to shard by input files, which this pipeline does not show tf.data.)
    """
    ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(n / batch_size)))
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return ds
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def worker_folder(strategy: tf.distribute.Strategy, out: RunFolder) -> RunFolder:
    """Where this process writes: the run folder for the chief, a private subfolder for other
    workers (every worker must save, but only the chief's files are the run's)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if resolver is None or task_type is None:
        return out
    task_id = resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    if task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief):
        return out
    return out.worker(task_type, task_id)


def agreed_stop(strategy: tf.distribute.Strategy, reason: str | None) -> str | None:
    """``reason`` once every worker of a multi-worker run agrees whether to stop (else ``reason`` as is).

    Each worker of a MultiWorkerMirroredStrategy run decides after each epoch on its own: the
    epoch count and early stopping agree (the scores are all-reduced), but the time limit reads
    each process's own clock, and a resumed worker reads its own folder's state. Were one worker
    to stop while another started an epoch, the other would wait for it in the epoch's first
    all-reduce until gRPC gives up. So the workers sum their stop flags: one stops, all stop.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return reason
    flag = tf.constant(0.0 if reason is None else 1.0)
    stop = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.identity(flag)), axis=None)
    if reason is None and float(stop) > 0:
        return "another worker of this multi-worker run stopped (its time limit or state)"
    return reason
