"""Train a model into a run folder: resumable, reproducible and, when asked, distributed.

A run folder (``runs/NAME``) holds everything needed to reproduce and evaluate the run:
``config.yaml`` (the resolved configuration), ``split.csv`` (which galaxy is train, val or
test), ``history.csv`` (one row per epoch), ``best.keras`` (lowest validation RMSE),
``last.keras``, ``environment.json`` and ``resume/`` (the last finished epoch's model with
its optimizer state, plus ``state.json``). Its layout and readers live in
:mod:`galaxy_lib.model.runs`.

Why the epoch loop is our own: each epoch's shuffle and augmentation are seeded by
``(seed, epoch)`` and the dropout generators' state is saved with the checkpoint, so a run
killed at any moment and restarted with the same command continues from its last finished
epoch and ends with *exactly* the history an uninterrupted run would have had. Keras's
``BackupAndRestore`` restarts the data order and dropout streams instead.

Files are written to a temporary name and renamed, and ``resume/state.json`` is written last:
it is the commit point, so a crash between two writes never leaves a run that claims an
epoch it has not saved.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galaxy_lib.config import Config, atomic_path, atomic_write_text, display_path
from galaxy_lib.data import augment, dataset, pipeline
from galaxy_lib.data import split as split_module
from galaxy_lib.environment import write_environment
from galaxy_lib.errors import DataError
from galaxy_lib.model import network
from galaxy_lib.model.runs import HISTORY_COLUMNS, RESUMABLE_CHANGES, RunFolder, check_same_run, read_history
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()
keras = network.keras

# --------------------------------------------------------------------------- writing


def _save_model(model: keras.Model, path: Path) -> None:
    """``model.save`` to a temporary ``.keras`` name beside ``path``, then rename."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


# --------------------------------------------------------------------------- TensorFlow set-up


def configure_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads (0 = TensorFlow's default, one per core).

    TensorFlow fixes its thread pools when it first runs an op; a later, different request
    is reported as a warning rather than silently ignored.
    """
    if threads <= 0:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            warnings.warn(
                f"threads={threads} ignored: TensorFlow already started with {current or 'default'} intra-op threads "
                "(set it before TensorFlow runs anything, e.g. in a fresh process)",
                stacklevel=2,
            )


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy for the ``strategy`` option.

    ``none``: the default (one device). ``auto``: MirroredStrategy when more than one GPU is
    visible, else the default. ``mirrored``: MirroredStrategy over all GPUs, or over all
    logical CPU devices when there is no GPU. ``multi_worker``: MultiWorkerMirroredStrategy,
    configured by the ``TF_CONFIG`` environment variable (see the README).
    """
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "none" or (name == "auto" and len(gpus) <= 1):
        return tf.distribute.get_strategy()
    if name in ("auto", "mirrored"):
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"config key 'strategy': {name!r} is not one of auto, none, mirrored, multi_worker")


def _worker_folder(strategy: tf.distribute.Strategy, out: RunFolder) -> RunFolder:
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


def _seed_generator_states(model: keras.Model) -> list:
    """Dropout layers' random-generator states: not part of ``.keras`` weights, but needed for
    a resumed run to draw the same dropout masks an uninterrupted one would."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


# --------------------------------------------------------------------------- schedule and logging


def learning_rate_at(config: Config, epoch: int) -> float:
    """Learning rate for 0-based ``epoch``: constant, or cosine decay from the configured
    rate towards zero over ``epochs`` (half a cosine, evaluated at the epoch's start)."""
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    return config.learning_rate


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's shuffle and augmentation: fixed by the run's seed and the epoch."""
    return (seed * 1_000_003 + epoch) % (2**62)


class EpochProgress(keras.callbacks.Callback):
    """A Keras progress bar over one epoch's steps (only on a terminal: notebooks and logs
    get just the one-line summary per epoch that :func:`train` prints)."""

    def __init__(self, steps: int, interactive: bool) -> None:
        super().__init__()
        self.steps, self.interactive = steps, interactive
        self.bar: keras.utils.Progbar | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.interactive:
            self.bar = keras.utils.Progbar(self.steps, stateful_metrics=["loss", "rmse", "accuracy"])

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            values = [(k, float(v)) for k, v in (logs or {}).items() if k in ("loss", "rmse", "accuracy")]
            self.bar.update(batch + 1, values=values)


def _format_row(row: dict[str, float], epochs: int) -> str:
    parts = [f"epoch {int(row['epoch'])}/{epochs}"]
    parts.append(f"loss {row['loss']:.4f}  rmse {row['rmse']:.4f}  acc {row['accuracy']:.3f}")
    if not math.isnan(row.get("val_rmse", math.nan)):
        parts.append(
            f"val_loss {row['val_loss']:.4f}  val_rmse {row['val_rmse']:.4f}  val_acc {row['val_accuracy']:.3f}"
        )
    parts.append(f"lr {row['learning_rate']:.2g}  {row['seconds']:.1f} s")
    return " | ".join(parts)


# --------------------------------------------------------------------------- the run


def _check_resumable(saved: Config, config: Config, where: Path) -> None:
    """Refuse to resume with a configuration that differs outside :data:`RESUMABLE_CHANGES`."""
    check_same_run(
        saved, config, allowed=RESUMABLE_CHANGES, where=where,
        advice="use the same settings to resume it, or a new --out folder",
    )


def _stop_reason(config: Config, state: dict[str, Any], history: pd.DataFrame) -> str | None:
    """Why training should not start another epoch (None = go on)."""
    if state["epoch"] >= config.epochs:
        return f"reached {config.epochs} epochs"
    if config.early_stopping_patience and state["epochs_without_improvement"] >= config.early_stopping_patience:
        return f"early stopping: no better {state['monitor']} for {config.early_stopping_patience} epochs"
    if config.time_limit_minutes and len(history):
        # A budget, not a deadline: no epoch starts that would be expected to end after it.
        expected = float(np.median(history["seconds"].to_numpy()[-3:]))
        if state["elapsed_seconds"] + expected > 60 * config.time_limit_minutes:
            return (
                f"time limit: {state['elapsed_seconds'] / 60:.1f} of {config.time_limit_minutes:g} minutes used "
                f"and an epoch takes about {expected:.0f} s"
            )
    return None


def _compile(model: keras.Model, config: Config) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=network.make_loss(config),
        metrics=network.make_metrics(),
    )


def train(
    config: Config,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: bool | None = None,
) -> Path:
    """Train (or resume) the run that ``config`` describes in ``out_dir`` and return its folder.

    ``out_dir`` defaults to ``<runs_dir>/<run_name>``. Rerunning the same command after an
    interruption continues from the last finished epoch; rerunning a finished run returns at
    once (raise ``epochs`` to train further). ``callbacks`` are extra Keras callbacks (they
    see the real 0-based epoch number). ``verbose``: True prints a progress bar per epoch,
    False only the per-epoch summary lines; None chooses the bar on a terminal.
    """
    out = RunFolder.for_config(config, out_dir)
    interactive = sys.stdout.isatty() if verbose is None else verbose
    started = time.monotonic()

    # TensorFlow settings that must come before it runs its first op.
    configure_threads(config.threads)
    strategy = make_strategy(config.strategy)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    folder = _worker_folder(strategy, out).create()
    run_dir = folder.path
    resume_dir = folder.resume_dir
    state_path = folder.state_file

    state: dict[str, Any] | None = folder.read_state()
    if state is not None and folder.config_file.is_file():
        _check_resumable(folder.load_config(), config, run_dir)
    config.save(folder.config_file)

    data = dataset.load_for_config(config)
    split = split_module.split_for_config(data, config, folder.split_file)
    train_ids, train_labels = data.subset(split_module.ids_of(split, "train"))
    val_ids, val_labels = data.subset(split_module.ids_of(split, "val"))
    if len(train_ids) == 0:
        raise DataError(f"{folder.split_file}: no training galaxies")
    monitor = "val_rmse" if len(val_ids) else "rmse"

    history = read_history(folder.history_file)
    if state is None:
        state = {
            "epoch": 0, "best": None, "monitor": monitor, "epochs_without_improvement": 0,
            "elapsed_seconds": 0.0, "checkpoint": None, "seed_generators": [], "finished": None,
        }
    history = history[history["epoch"] <= state["epoch"]].reset_index(drop=True)
    reason = _stop_reason(config, state, history)
    if reason is not None:
        print(f"{display_path(run_dir)}: already complete ({reason}); raise `epochs` to train further", flush=True)
        return run_dir

    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model = network.build_model(config)
            _compile(model, config)
            if state["checkpoint"]:
                model.optimizer.build(model.trainable_variables)
                model.load_weights(resume_dir / state["checkpoint"])
                for variable, value in zip(_seed_generator_states(model), state["seed_generators"], strict=True):
                    variable.assign(np.asarray(value, dtype=variable.dtype))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    write_environment(
        folder.environment_file,
        extra={
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "mixed_precision": config.mixed_precision,
            "deterministic": config.deterministic,
        },
    )

    cache_dir = folder.cache_dir if config.cache_crops else None
    augmenter = augment.make_augmenter(config)
    geometry = {"crop": config.crop, "image_size": config.image_size, "resize_bad_size": config.resize_bad_size}
    sharded = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def shard(ds: tf.data.Dataset, n: int) -> tf.data.Dataset:
        # The pipeline's cardinality can be unknown to tf.data; stating it lets Keras size its
        # epochs without running into the end of the data (and checks the batch count).
        ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(n / config.batch_size)))
        if not sharded:
            return ds
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options)

    val_ds = None
    if len(val_ids):
        val_ds = shard(pipeline.make_dataset(
            data.images, val_ids, val_labels, batch_size=config.batch_size, cache_dir=cache_dir, **geometry
        ), len(val_ids))
    steps = math.ceil(len(train_ids) / config.batch_size)
    progress = EpochProgress(steps, interactive)
    first = state["epoch"]
    print(
        f"training {display_path(run_dir)}: {len(train_ids):,} train / {len(val_ids):,} val galaxies, "
        f"{config.input_size}x{config.input_size} input, {model.count_params():,} parameters, "
        f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}"
        + (f"; resuming after epoch {first}" if first else ""),
        flush=True,
    )

    rows = history.to_dict("records")
    elapsed_before = state["elapsed_seconds"]  # wall time of earlier sessions of this run
    for epoch in range(first, config.epochs):
        learning_rate = learning_rate_at(config, epoch)
        model.optimizer.learning_rate.assign(learning_rate)
        train_ds = shard(pipeline.make_dataset(
            data.images, train_ids, train_labels, batch_size=config.batch_size, shuffle=True,
            seed=epoch_seed(config.seed, epoch), augment=augmenter, cache_dir=cache_dir, **geometry,
        ), len(train_ids))
        tick = time.monotonic()
        logs = model.fit(
            train_ds, validation_data=val_ds, initial_epoch=epoch, epochs=epoch + 1, verbose=0, shuffle=False,
            callbacks=[progress, *callbacks],
        ).history
        row = {"epoch": epoch + 1, **{k: float(v[-1]) for k, v in logs.items()}}
        row = {c: row.get(c, math.nan) for c in HISTORY_COLUMNS}
        row["learning_rate"] = learning_rate
        row["seconds"] = time.monotonic() - tick
        rows.append(row)
        score = row[monitor]
        improved = state["best"] is None or score < state["best"]
        if improved:
            state["best"], state["epochs_without_improvement"] = score, 0
            _save_model(model, folder.model_file("best"))
        else:
            state["epochs_without_improvement"] += 1
        _save_model(model, folder.model_file("last"))
        checkpoint = f"epoch-{epoch + 1:04d}.keras"
        resume_dir.mkdir(exist_ok=True)
        _save_model(model, resume_dir / checkpoint)
        history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        atomic_write_text(folder.history_file, history.to_csv(index=False))
        old = state["checkpoint"]
        state.update(
            epoch=epoch + 1,
            checkpoint=checkpoint,
            seed_generators=[v.numpy().tolist() for v in _seed_generator_states(model)],
            elapsed_seconds=elapsed_before + (time.monotonic() - started),
        )
        _write_json(state_path, state)  # the commit point
        if old and old != checkpoint:
            (resume_dir / old).unlink(missing_ok=True)
        print(_format_row(row, config.epochs) + ("  *" if improved else ""), flush=True)
        reason = _stop_reason(config, state, history)
        if reason is not None:
            break
    state["finished"] = reason
    _write_json(state_path, state)
    print(f"finished: {reason}; best {monitor} {state['best']:.4f}; run folder {display_path(run_dir)}", flush=True)
    return run_dir
