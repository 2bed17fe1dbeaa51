"""Train a model into a run folder: resumable, reproducible and, when asked, distributed.

A run folder (``runs/NAME``) holds everything needed to reproduce and evaluate the run:
``config.yaml`` (the resolved configuration), ``split.csv`` (which galaxy is train, val or
test), ``history.csv`` (one row per epoch), ``best.keras`` (lowest validation RMSE),
``last.keras``, ``ema.keras`` (with ``weight_averaging: ema``), ``swa.keras`` and ``swa.json`` (with
``weight_averaging: swa``), ``environment.json`` and
``resume/`` (the last finished epoch's model with its optimizer state, plus ``state.json``).
Its layout and readers live in :mod:`galaxy_lib.model.runs`.

This module is the run and its epoch loop, with the public :func:`train`, :func:`compile_model`
and :func:`model_source`. Each other job of training has its own module, to be read and changed
alone: the learning-rate schedule (:mod:`~galaxy_lib.model.schedule`), the galaxies and each epoch's
seeded batches (:mod:`~galaxy_lib.model.batches`), checkpoint and resume
(:mod:`~galaxy_lib.model.checkpoint`, which says why the epoch loop is our own and not Keras'
``BackupAndRestore``), weight averaging (:mod:`~galaxy_lib.model.averaging`), the distribution
strategy (:mod:`~galaxy_lib.model.strategy`) and what is printed (:mod:`~galaxy_lib.model.progress`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from galaxy_lib.config import Config
from galaxy_lib.environment import write_environment
from galaxy_lib.locks import run_lock
from galaxy_lib.model import architecture, network
from galaxy_lib.model.averaging import AveragingAdam, EpochAverage, averaged_weights, ema_weights, reestimate_batchnorm
from galaxy_lib.model.batches import Batches, training_data
from galaxy_lib.model.checkpoint import (
    history_until,
    load_average,
    load_checkpoint,
    resume_point,
    save_checkpoint,
    save_model,
)
from galaxy_lib.model.keras_patch import fit_across_workers
from galaxy_lib.model.progress import EpochProgress, format_row
from galaxy_lib.model.runs import HISTORY_COLUMNS, ResumeState, RunFolder
from galaxy_lib.model.schedule import learning_rate_at, schedule_progress, unfinished_schedule
from galaxy_lib.model.strategy import agreed_stop, make_strategy, worker_folder
from galaxy_lib.paths import atomic_write_json, atomic_write_text, display_path, resolve_path
from galaxy_lib.tf_setup import configure_threads, import_tensorflow

__all__ = ["compile_model", "learning_rate_at", "model_source", "precision_policy", "stop_reason", "train"]
"""The names notebooks, benchmarks and tests use; ``learning_rate_at`` lives in :mod:`~galaxy_lib.model.schedule`
and is named here because ``notebooks/02_train.ipynb`` shows it beside :func:`compile_model`."""

tf = import_tensorflow()
keras = network.keras


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Keras' global dtype policy set to ``precision`` (a :class:`Config` ``precision``) while
    models are built inside, and the previous policy restored afterwards.

    A model keeps the policy it was built with (it is saved in its ``.keras`` file), so the
    global setting needs to last only while building and compiling; restoring it keeps other
    models of the same process (tests, notebooks, benchmarks) in their own precision. In the
    mixed policies the variables stay float32 and so do the layers built with ``dtype="float32"``
    (the output layers and :class:`~galaxy_lib.model.network.TreeHead`), hence the loss.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def compile_model(model: keras.Model, config: Config) -> None:
    """The compile step every run uses unless a notebook passes its own: loss, optimiser, metrics.

    Adam at ``config.learning_rate`` (training sets the rate each epoch from ``lr_schedule``, so it
    must be a number, not a schedule object); with ``weight_averaging: ema`` Adam also keeps a moving
    average of the weights (:class:`AveragingAdam`). The loss is the paper's binary cross-entropy on
    the soft vote fractions or the mean squared error, the square of the Kaggle metric. The metrics
    are what ``history.csv`` records: RMSE over the 37 answers and the paper's accuracy.
    """
    if config.weight_averaging == "ema":
        optimizer = AveragingAdam(learning_rate=config.learning_rate, use_ema=True, ema_momentum=config.ema_momentum)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    model.compile(optimizer=optimizer, loss=network.make_loss(config), metrics=network.make_metrics())


def model_source(build: architecture.Builder | None = None,
                 compile_step: architecture.Compiler | None = None) -> architecture.ModelSource:
    """Where a run's model comes from: ``build``/``compile_step`` (a notebook's own functions), or the
    configuration's model and :func:`compile_model` when they are None or those very functions."""
    return architecture.ModelSource.of(compile_model, build, compile_step)


def train(
    config: Config,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    build_model: architecture.Builder | None = None,
    compile_model: architecture.Compiler | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: bool | None = None,
) -> Path:
    """Train (or resume) the run that ``config`` describes in ``out_dir`` and return its folder.

    ``out_dir`` defaults to ``<runs_dir>/<run_name>``. Rerunning the same command after an
    interruption continues from the last finished epoch; rerunning a finished run returns at
    once (raise ``epochs`` to train further). ``callbacks`` are extra Keras callbacks (they
    see the real 0-based epoch number). ``verbose``: True prints a progress bar per epoch,
    False only the per-epoch summary lines; None chooses the bar on a terminal.

    ``build_model(config)`` and ``compile_model(model, config)`` replace the configuration's model
    (:func:`galaxy_lib.model.network.build_model`) and compile step (:func:`compile_model`): a
    notebook's own architecture, loss or optimiser. Such a model is checked before anything is
    written (:func:`galaxy_lib.model.architecture.check_model`); the run folder's
    ``architecture.json`` records where the model came from, and resuming with another
    architecture is refused (:func:`~galaxy_lib.model.architecture.check_same_architecture`).

    Another process training in the same folder is a :class:`~galaxy_lib.errors.BusyError` naming
    it (:mod:`galaxy_lib.locks`); a full or read-only disk a :class:`~galaxy_lib.errors.DiskError`
    naming the file, with the last finished epoch still intact (``resume/state.json`` is written last).
    """
    out = RunFolder.for_config(config, out_dir)
    interactive = sys.stdout.isatty() if verbose is None else verbose
    started = time.monotonic()

    # TensorFlow settings that must come before it runs its first op.
    configure_threads(config.threads)
    strategy = make_strategy(config.strategy)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    source = model_source(build_model, compile_model)
    candidate = _checked_candidate(config, source)  # a student's model that cannot train stops here, nothing written
    folder = worker_folder(strategy, out).create()
    # One process per run folder: a second `train` (or report) on it stops at once naming this one,
    # instead of interleaving its epochs with ours. Each worker of a multi-worker run locks its own.
    with run_lock(folder.path, "training"):
        return _train_in(folder, config, strategy, source, candidate, started=started, interactive=interactive,
                         callbacks=callbacks)


def _checked_candidate(config: Config, source: architecture.ModelSource) -> dict | None:
    """For a model defined outside the configuration: build and compile it once, check it
    (:func:`~galaxy_lib.model.architecture.check_model`) and return its ``architecture.json`` record;
    None for the configuration's model, whose keys the configuration itself checks."""
    if source.source == architecture.CONFIGURATION:
        return None
    with precision_policy(config.precision):
        model = source.build_model(config)
        source.compile_model(model, config)
    architecture.check_model(model, config, source)
    return source.record(model)


def _train_in(folder: RunFolder, config: Config, strategy: tf.distribute.Strategy,
              source: architecture.ModelSource, candidate: dict | None, *, started: float,
              interactive: bool, callbacks: Sequence[keras.callbacks.Callback]) -> Path:
    """:func:`train` in its (locked) run folder ``folder``; ``started`` is its ``time.monotonic()`` start.

    The steps, each its own function so that each can be read (and changed) alone: the saved
    state and configuration (:func:`~galaxy_lib.model.checkpoint.resume_point`), the galaxies
    (:func:`~galaxy_lib.model.batches.training_data`), the history and whether anything is left to
    do, the model (:func:`_build_model`), the batches (:class:`~galaxy_lib.model.batches.Batches`)
    and the epoch loop (:func:`_epoch_loop`), which checkpoints.
    """
    run_dir = folder.path
    _check_architecture(folder, config, source, candidate)
    saved = resume_point(folder, config)
    # a resumed run's checkpoint wins over init_weights (whose file it then no longer needs)
    init_file = None if saved is not None and saved.checkpoint else architecture.initial_weights_file(config)
    data = training_data(folder, config)
    state = saved or ResumeState(monitor=data.monitor)
    history = history_until(folder, state, saved is not None)
    reason = agreed_stop(strategy, stop_reason(config, state, history))
    if reason is not None and not _average_pending(folder, config, state):
        print(f"{display_path(run_dir)}: already complete ({reason}); raise `epochs` to train further", flush=True)
        return run_dir

    model = _build_model(folder, config, strategy, state, source, init_file)
    atomic_write_text(folder.architecture_file, json.dumps(candidate or source.record(model), indent=2) + "\n")
    write_environment(
        folder.environment_file,
        extra={
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "precision": config.precision,
            "deterministic": config.deterministic,
            **({"init_weights": display_path(resolve_path(config.init_weights))} if config.init_weights else {}),
        },
    )
    batches = Batches(folder, config, strategy, data)
    first = state.epoch
    print(
        f"training {display_path(run_dir)}: {len(data.train_ids):,} train / {len(data.val_ids):,} val galaxies, "
        f"{config.input_size}x{config.input_size} input{'' if batches.train_crops is not None else ' (streamed)'}, "
        f"{model.count_params():,} parameters ({source.source}'s model), "
        f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}"
        + (f"; resuming after epoch {first}" if first else ""),
        flush=True,
    )
    average = load_average(folder, state, model) if config.weight_averaging == "swa" else None
    if reason is None:  # else only the average of a run killed after its last checkpoint is left to make
        reason = _epoch_loop(folder, config, strategy, model, batches, state, history, data.monitor,
                             started=started, interactive=interactive, callbacks=callbacks, average=average)
    if average is not None and average.count:
        _finish_average(folder, model, batches, state, average)
    state.finished = reason
    state.write(folder.state_file)
    print(f"finished: {reason}; best {data.monitor} {state.best:.4f}; run folder {display_path(run_dir)}", flush=True)
    note = unfinished_schedule(config, state.epoch) if reason.startswith("time limit") else None
    if note:
        print(note, flush=True)
    return run_dir


def _average_pending(folder: RunFolder, config: Config, state: ResumeState) -> bool:
    """Whether a finished ``weight_averaging: swa`` run still lacks the ``swa.keras`` of its last
    checkpoint: killed after that checkpoint and before :func:`_finish_average` wrote ``swa.json``."""
    if config.weight_averaging != "swa" or state.swa_epochs == 0:
        return False
    record = folder.read_swa()
    return record is None or (record.get("after_epoch"), record["epochs"]) != (state.epoch, state.swa_epochs)


def _finish_average(folder: RunFolder, model: keras.Model, batches: Batches, state: ResumeState,
                    average: EpochAverage) -> None:
    """Make the ``weight_averaging: swa`` model when training stops: the mean of the averaged epochs'
    weights with BatchNorm statistics re-estimated on one pass of the last epoch's (seeded, so
    reproducible) training batches, saved as ``swa.keras``, scored on the validation set and recorded
    in ``swa.json``. Model selection stays by validation RMSE: the average becomes ``best.keras``
    too when it beats the best epoch. Without a validation set (``refit``) nothing can compare
    them, and the average, which the configuration asked for, becomes ``best.keras``.

    Runs after the final checkpoint, and the model's weights are restored afterwards: a run resumed
    with more ``epochs`` trains on from its raw weights and makes its average again when it stops.
    """
    with averaged_weights(model, average):
        reestimate_batchnorm(model, batches.train(max(state.epoch - 1, 0)))
        save_model(model, folder.model_file("swa"))
        score = None
        if batches.val is not None:
            score = float(model.evaluate(batches.val, verbose=0, return_dict=True)["rmse"])
        best = score is None or state.best is None or score < state.best
        if best:
            save_model(model, folder.model_file("best"))
    atomic_write_json(folder.swa_file, {"epochs": average.count, "after_epoch": state.epoch,
                                        "val_rmse_swa": score, "best": best})
    scored = "no validation set" if score is None else f"val_rmse {score:.4f}, best epoch's {state.best:.4f}"
    print(f"swa: average of {average.count} epochs ({scored}); saved as swa.keras"
          + (" and best.keras" if best else ""), flush=True)


def _check_architecture(folder: RunFolder, config: Config, source: architecture.ModelSource,
                        candidate: dict | None) -> None:
    """Refuse, before anything in the folder changes, a model other than the one the run was trained
    with (:func:`~galaxy_lib.model.architecture.check_same_architecture`). A run trained before
    ``architecture.json`` existed used the configuration's model, which a notebook's model is compared with."""
    saved = folder.read_architecture()
    if saved is None and candidate is not None and folder.read_state() is not None and folder.config_file.is_file():
        older = network.build_model(folder.load_config())
        saved = {"source": architecture.CONFIGURATION, **architecture.describe(older)}
    architecture.check_same_architecture(saved, candidate or {"source": source.source}, folder.path)


def _build_model(folder: RunFolder, config: Config, strategy: tf.distribute.Strategy, state: ResumeState,
                 source: architecture.ModelSource, init_file: Path | None = None) -> keras.Model:
    """The compiled model (the configuration's or ``source``'s), seeded by the run's seed, with the
    resume checkpoint's weights, optimizer state and dropout generators when the state names one,
    else the weights of ``init_file`` (``init_weights``: fine-tuning a pretrained model) when given."""
    with precision_policy(config.precision):
        keras.utils.set_random_seed(config.model_seed)
        with strategy.scope():
            model = source.build_model(config)
            source.compile_model(model, config)
            fit_across_workers(model, strategy)
            if state.checkpoint:
                load_checkpoint(model, folder, state)
            elif init_file is not None:
                architecture.load_initial_weights(model, init_file)
    return model


def stop_reason(config: Config, state: ResumeState, history: pd.DataFrame) -> str | None:
    """Why training should not start another epoch (None = go on)."""
    if state.epoch >= config.epochs:
        return f"reached {config.epochs} epochs"
    if config.early_stopping_patience and state.epochs_without_improvement >= config.early_stopping_patience:
        return f"early stopping: no better {state.monitor} for {config.early_stopping_patience} epochs"
    if config.time_limit_minutes and len(history):
        # A budget, not a deadline: no epoch starts that would be expected to end after it.
        expected = float(np.median(history["seconds"].to_numpy()[-3:]))
        if state.elapsed_seconds + expected > 60 * config.time_limit_minutes:
            return (
                f"time limit: {state.elapsed_seconds / 60:.1f} of {config.time_limit_minutes:g} minutes used "
                f"and an epoch takes about {expected:.0f} s"
            )
    return None


def _epoch_loop(
    folder: RunFolder, config: Config, strategy: tf.distribute.Strategy, model: keras.Model, batches: Batches,
    state: ResumeState, history: pd.DataFrame, monitor: str, *, started: float, interactive: bool,
    callbacks: Sequence[keras.callbacks.Callback], average: EpochAverage | None = None,
) -> str:
    """Train from ``state.epoch`` until a stop rule says why (returned), updating ``state`` and
    ``history.csv`` every epoch and checkpointing every ``checkpoint_seconds`` and at the end.
    ``average`` (``weight_averaging: swa``) takes in the weights of each epoch that starts at or
    after ``swa_start`` of the schedule (:func:`~galaxy_lib.model.schedule.schedule_progress`).

    The best epoch's weights are kept in memory until the next checkpoint writes them, so a
    short epoch does not pay for three ``.keras`` files.
    """
    averaging = config.weight_averaging == "ema"
    progress = EpochProgress(batches.steps, interactive)
    rows = history.to_dict("records")
    elapsed_before = state.elapsed_seconds  # wall time of earlier sessions of this run
    last_checkpoint = time.monotonic()
    best_weights: list[np.ndarray] | None = None  # the best epoch's weights, until best.keras holds them
    reason = None
    for epoch in range(state.epoch, config.epochs):
        elapsed = elapsed_before + (time.monotonic() - started)
        learning_rate = learning_rate_at(config, epoch, elapsed)
        averaged = average is not None and schedule_progress(config, epoch, elapsed) >= config.swa_start
        model.optimizer.learning_rate.assign(learning_rate)
        train_ds = batches.train(epoch)
        tick = time.monotonic()
        logs = model.fit(
            train_ds, validation_data=batches.val, initial_epoch=epoch, epochs=epoch + 1, verbose=0, shuffle=False,
            callbacks=[progress, *callbacks],
        ).history
        if averaged:
            average.update(model)
        row = {"epoch": epoch + 1, **{k: float(v[-1]) for k, v in logs.items()}}
        row = {c: row.get(c, math.nan) for c in HISTORY_COLUMNS}
        row["learning_rate"] = learning_rate
        if averaging and batches.val is not None:
            with ema_weights(model):
                row["val_rmse_ema"] = float(model.evaluate(batches.val, verbose=0, return_dict=True)["rmse"])
        row["seconds"] = time.monotonic() - tick  # with the average's evaluation: what an epoch costs
        rows.append(row)
        score = row[monitor]
        improved = state.best is None or score < state.best
        if improved:
            state.best, state.epochs_without_improvement = score, 0
            with ema_weights(model) if monitor == "val_rmse_ema" else contextlib.nullcontext():
                best_weights = model.get_weights()  # a copy in memory; written with the next checkpoint
        else:
            state.epochs_without_improvement += 1
        history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        # Every epoch (cheap): rows past the last checkpoint are dropped and recomputed on resume.
        atomic_write_text(folder.history_file, history.to_csv(index=False))
        state.epoch = epoch + 1
        state.elapsed_seconds = elapsed_before + (time.monotonic() - started)
        reason = agreed_stop(strategy, stop_reason(config, state, history))
        if reason is not None or time.monotonic() - last_checkpoint >= config.checkpoint_seconds:
            save_checkpoint(model, folder, state, best_weights, averaging=averaging, average=average)
            best_weights, last_checkpoint = None, time.monotonic()
        print(format_row(row, config.epochs) + ("  *" if improved else ""), flush=True)
        if reason is not None:
            break
    return reason
