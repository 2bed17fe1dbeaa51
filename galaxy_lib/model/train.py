"""Train a model into a run folder: resumable, reproducible and, when asked, distributed.

A run folder (``runs/NAME``) holds everything needed to reproduce and evaluate the run:
``config.yaml`` (the resolved configuration), ``split.csv`` (which galaxy is train, val or
test), ``history.csv`` (one row per epoch), ``best.keras`` (lowest validation RMSE),
``last.keras``, ``ema.keras`` (with ``weight_averaging: ema``), ``environment.json`` and
``resume/`` (the last finished epoch's model with its optimizer state, plus ``state.json``).
Its layout and readers live in :mod:`galaxy_lib.model.runs`.

Why the epoch loop is our own: each epoch's shuffle and augmentation are seeded by
``(seed, epoch)`` and the dropout generators' state is saved with the checkpoint, so a run
killed at any moment and restarted with the same command continues from its last finished
epoch and ends with *exactly* the history an uninterrupted run would have had. Keras's
``BackupAndRestore`` restarts the data order and dropout streams instead.

Files are written to a temporary name and renamed, and ``resume/state.json`` is written last:
it is the commit point, so a crash between two writes never leaves a run that claims an
epoch it has not saved.

Weight averaging (``weight_averaging: ema``) keeps an exponential moving average of the
trainable weights, updated after every step by the optimizer (Keras' ``use_ema``), so it lives
in the optimizer's variables and is saved and restored with the resume checkpoint like Adam's
moments. After each epoch the average is swapped into the model, scored on the validation set
(``val_rmse_ema``), saved as ``ema.keras`` (and as ``best.keras`` when it is the best so far:
with a validation set, ``best`` is chosen by the average's RMSE), and swapped out again, so the
raw weights train on exactly as without it. The average covers the *trainable* variables only
(kernels, biases, BatchNorm's scale and offset); BatchNorm's moving mean and variance are not
trained by the optimizer and are the raw model's (already running averages of their own).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from galaxy_lib.config import Config
from galaxy_lib.data import augment, dataset, pipeline
from galaxy_lib.data import split as split_module
from galaxy_lib.environment import write_environment
from galaxy_lib.errors import DataError, RunError
from galaxy_lib.locks import run_lock
from galaxy_lib.model import architecture, network
from galaxy_lib.model.keras_patch import fit_across_workers
from galaxy_lib.model.runs import (
    HISTORY_COLUMNS,
    RESUMABLE_CHANGES,
    ResumeState,
    RunFolder,
    check_same_run,
    read_history,
)
from galaxy_lib.paths import atomic_path, atomic_write_text, display_path, writing
from galaxy_lib.tf_setup import configure_threads, import_tensorflow

tf = import_tensorflow()
keras = network.keras

# --------------------------------------------------------------------------- writing


def _save_model(model: keras.Model, path: Path) -> None:
    """``model.save`` to a temporary ``.keras`` name beside ``path``, then rename."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


# --------------------------------------------------------------------------- TensorFlow set-up


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


def schedule_progress(config: Config, epoch: int, elapsed_seconds: float = 0.0) -> float:
    """How far through its schedule a run is at the start of 0-based ``epoch``: the share of
    ``epochs`` done, or with ``schedule_clock: budget`` the larger of that and the share of
    ``time_limit_minutes`` used (``elapsed_seconds``), since training ends at whichever comes first."""
    progress = epoch / config.epochs
    if config.clock == "budget" and config.time_limit_minutes > 0:
        progress = max(progress, elapsed_seconds / (60 * config.time_limit_minutes))
    return min(progress, 1.0)


STEP_SCHEDULE: tuple[tuple[int, int], ...] = ((92, 100), (72, 10))
"""Dieleman's step schedule, the one place its thresholds are written: ``(percent done, divisor)``,
latest step first: the learning rate is divided by 10 once 72% of the schedule is done, by 100
once 92% is."""


def _step_divisor(done: float, total: float = 1) -> int:
    """The step schedule's divisor once ``done`` of ``total`` is through: epochs of ``epochs``
    (integers, compared exactly: "72% of 25 epochs" must not hinge on float rounding) or, with
    the default ``total``, a share of the time budget."""
    return next((divisor for percent, divisor in STEP_SCHEDULE if 100 * done >= percent * total), 1)


def learning_rate_at(config: Config, epoch: int, elapsed_seconds: float = 0.0) -> float:
    """Learning rate for 0-based ``epoch``, evaluated at the epoch's start.

    ``lr_schedule``: ``constant``; ``cosine``, half a cosine from the configured rate towards
    zero over ``epochs``; ``step``, Dieleman's: the rate divided by 10 once 72% of ``epochs``
    have finished and by 100 once 92% have. ``warmup_epochs`` > 0 multiplies any of them by a
    linear ramp from 1/10 (epoch 0) to 1 (epoch ``warmup_epochs`` and later).

    With the default ``schedule_clock: epochs`` a schedule is defined over ``epochs`` alone
    (seeded runs stay reproducible on any machine), so a run that ``time_limit_minutes`` ends
    first never reaches the schedule's end. ``schedule_clock: budget`` measures progress by
    :func:`schedule_progress` instead: a 20-minute run then always decays within its 20 minutes,
    however fast the machine, at the price of bit-for-bit reproducibility.
    """
    rate = config.learning_rate
    if config.clock == "budget":
        progress = schedule_progress(config, epoch, elapsed_seconds)
        if config.lr_schedule == "cosine":
            rate *= 0.5 * (1 + math.cos(math.pi * progress))
        elif config.lr_schedule == "step":  # the epochs' share exactly, as with the epoch clock
            rate /= max(_step_divisor(epoch, config.epochs), _step_divisor(progress))
    elif config.lr_schedule == "cosine":
        rate *= 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    elif config.lr_schedule == "step":
        rate /= _step_divisor(epoch, config.epochs)
    if epoch < config.warmup_epochs:
        rate *= 0.1 + 0.9 * epoch / config.warmup_epochs
    return rate


def unfinished_schedule(config: Config, epochs_done: int) -> str | None:
    """A note when the time limit ended training before its learning-rate schedule did its work.

    With ``schedule_clock: epochs`` the schedule is laid over ``epochs``; on a machine slower than
    the one the file was tuned on, the budget can end the run before the first step of a ``step``
    schedule (the rate then never decays) or early in a ``cosine`` one. Measured: ``sample.yaml``
    on a machine running at about one core's speed fit 267 of its 440 epochs, its first step (due at
    epoch 318) never came, and it scored 0.1039 against 0.0997
    (benchmarks/results/compare-paper-vs-improved.json).
    """
    if config.clock != "epochs" or epochs_done >= config.epochs or config.lr_schedule == "constant":
        return None
    if config.lr_schedule == "step":
        first = next((e for e in range(config.epochs) if _step_divisor(e, config.epochs) > 1), config.epochs)
        if epochs_done > first or first == config.epochs:  # it acted, or has no step (a run of 1 epoch)
            return None
        what = f"the learning rate never stepped down (its first step was due at epoch {first + 1} of {config.epochs})"
    else:
        what = f"the cosine schedule stopped {epochs_done / config.epochs:.0%} of the way through"
    return (f"note: {what}, because training ended after {epochs_done} epochs; on a machine this slow set "
            "schedule_clock: budget (the schedule then follows the time limit) or fewer epochs")


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
    if not math.isnan(row.get("val_rmse_ema", math.nan)):
        parts.append(f"ema_val_rmse {row['val_rmse_ema']:.4f}")
    parts.append(f"lr {row['learning_rate']:.2g}  {row['seconds']:.1f} s")
    return " | ".join(parts)


# --------------------------------------------------------------------------- the run


def _check_resumable(saved: Config, config: Config, where: Path) -> None:
    """Refuse to resume with a configuration that differs outside :data:`RESUMABLE_CHANGES`."""
    check_same_run(
        saved, config, allowed=RESUMABLE_CHANGES, where=where,
        advice="use the same settings to resume it, or a new --out folder",
    )


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


def _agreed_stop(strategy: tf.distribute.Strategy, reason: str | None) -> str | None:
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


@keras.saving.register_keras_serializable(package="galaxy_lib")
class AveragingAdam(keras.optimizers.Adam):
    """Adam keeping an exponential moving average of the weights (``use_ema``) that is *not*
    copied into the model when ``fit`` returns.

    Keras' ``fit`` ends with ``finalize_variable_values``, which overwrites the weights with
    their average. :func:`train` calls ``fit`` once per epoch, so that would restart training
    from the average after every epoch: a different algorithm. Here it does nothing, and
    :func:`_ema_weights` swaps the average in only to score and save it.
    """

    def finalize_variable_values(self, var_list: Sequence) -> None:
        pass

    def copy_average_into(self, var_list: Sequence) -> None:
        """Overwrite ``var_list`` (the model's trainable variables) with their averages."""
        super().finalize_variable_values(var_list)


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


@contextlib.contextmanager
def _ema_weights(model: keras.Model) -> Iterator[None]:
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


def _checkpoint(
    model: keras.Model, folder: RunFolder, state: ResumeState, best_weights: list[np.ndarray] | None,
    *, averaging: bool,
) -> None:
    """Write the run's models and its resume point for the epoch ``state.epoch``.

    Called every ``checkpoint_seconds`` and when training stops, not every epoch: three
    ``.keras`` files an epoch cost more than a short epoch's compute. ``best_weights`` (the best
    epoch since the last checkpoint, if any) go to ``best.keras``. ``resume/state.json`` is
    written last, the commit point: a run killed between checkpoints resumes from the last one
    and, every epoch being seeded, recomputes the lost epochs exactly.
    """
    if best_weights is not None:
        current = model.get_weights()
        model.set_weights(best_weights)
        try:
            _save_model(model, folder.model_file("best"))
        finally:
            model.set_weights(current)
    if averaging:
        with _ema_weights(model):
            _save_model(model, folder.model_file("ema"))
    _save_model(model, folder.model_file("last"))
    checkpoint = f"epoch-{state.epoch:04d}.keras"
    resume_dir = folder.resume_dir
    with writing(resume_dir):
        resume_dir.mkdir(exist_ok=True)
    _save_model(model, resume_dir / checkpoint)
    old = state.checkpoint
    state.checkpoint = checkpoint
    state.seed_generators = [v.numpy().tolist() for v in _seed_generator_states(model)]
    state.write(folder.state_file)  # the commit point
    if old and old != checkpoint:
        (resume_dir / old).unlink(missing_ok=True)


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
    folder = _worker_folder(strategy, out).create()
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
    state and configuration (:func:`_resume_point`), the galaxies (:func:`_training_data`), the
    history and whether anything is left to do, the model (:func:`_build_model`), the batches
    (:class:`_Batches`) and the epoch loop (:func:`_epoch_loop`), which checkpoints.
    """
    run_dir = folder.path
    _check_architecture(folder, config, source, candidate)
    saved = _resume_point(folder, config)
    data = _training_data(folder, config)
    state = saved or ResumeState(monitor=data.monitor)
    history = _history_until(folder, state, saved is not None)
    reason = _agreed_stop(strategy, stop_reason(config, state, history))
    if reason is not None:
        print(f"{display_path(run_dir)}: already complete ({reason}); raise `epochs` to train further", flush=True)
        return run_dir

    model = _build_model(folder, config, strategy, state, source)
    atomic_write_text(folder.architecture_file, json.dumps(candidate or source.record(model), indent=2) + "\n")
    write_environment(
        folder.environment_file,
        extra={
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "precision": config.precision,
            "deterministic": config.deterministic,
        },
    )
    batches = _Batches(folder, config, strategy, data)
    first = state.epoch
    print(
        f"training {display_path(run_dir)}: {len(data.train_ids):,} train / {len(data.val_ids):,} val galaxies, "
        f"{config.input_size}x{config.input_size} input{'' if batches.train_crops is not None else ' (streamed)'}, "
        f"{model.count_params():,} parameters ({source.source}'s model), "
        f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}"
        + (f"; resuming after epoch {first}" if first else ""),
        flush=True,
    )
    reason = _epoch_loop(folder, config, strategy, model, batches, state, history, data.monitor,
                         started=started, interactive=interactive, callbacks=callbacks)
    state.finished = reason
    state.write(folder.state_file)
    print(f"finished: {reason}; best {data.monitor} {state.best:.4f}; run folder {display_path(run_dir)}", flush=True)
    note = unfinished_schedule(config, state.epoch) if reason.startswith("time limit") else None
    if note:
        print(note, flush=True)
    return run_dir


# --------------------------------------------------------------------------- the run's parts


def _resume_point(folder: RunFolder, config: Config) -> ResumeState | None:
    """The run's saved state (None for a new run), after refusing a configuration it cannot resume
    with; saves ``config`` as the run's ``config.yaml``.

    A damaged ``config.yaml`` only matters when there is something to resume: a run that has no
    checkpoint yet simply gets the configuration written again.
    """
    state = folder.read_state()
    if state is not None and folder.config_file.is_file():
        _check_resumable(folder.load_config(), config, folder.path)
    config.save(folder.config_file)
    return state


@dataclass(frozen=True)
class _TrainingData:
    """The galaxies a run trains and validates on, as training uses them, and the score that
    picks its best model."""

    data: dataset.GalaxyData
    train_ids: np.ndarray
    train_labels: np.ndarray
    val_ids: np.ndarray
    val_labels: np.ndarray
    monitor: str


def _training_data(folder: RunFolder, config: Config) -> _TrainingData:
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
    return _TrainingData(data, train_ids, train_labels, val_ids, val_labels, monitor)


def _history_until(folder: RunFolder, state: ResumeState, resuming: bool) -> pd.DataFrame:
    """``history.csv`` up to the state's epoch: rows past the last checkpoint are recomputed.

    A resumed run's history must hold every epoch the state counts (it is written before the
    state, every epoch); one that does not is a damaged run folder, refused rather than
    continued with a gap.
    """
    history = read_history(folder.history_file)
    history = history[history["epoch"] <= state.epoch].reset_index(drop=True)
    if resuming and len(history) != state.epoch:
        raise RunError(
            f"{folder.history_file}: holds {len(history)} of the {state.epoch} epochs that "
            f"{display_path(folder.state_file)} counts; the run folder is damaged; delete "
            f"{display_path(folder.resume_dir)} to train this run again from its first epoch, "
            "or train into a new folder"
        )
    return history


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
                 source: architecture.ModelSource) -> keras.Model:
    """The compiled model (the configuration's or ``source``'s), seeded by the run's seed, with the
    resume checkpoint's weights, optimizer state and dropout generators when the state names one."""
    with precision_policy(config.precision):
        keras.utils.set_random_seed(config.model_seed)
        with strategy.scope():
            model = source.build_model(config)
            source.compile_model(model, config)
            fit_across_workers(model, strategy)
            if state.checkpoint:
                _load_checkpoint(model, folder, state)
    return model


def _load_checkpoint(model: keras.Model, folder: RunFolder, state: ResumeState) -> None:
    """Restore the resume checkpoint ``state.checkpoint`` into ``model`` (weights, optimizer state
    and weight average, dropout generators); a missing or unreadable one is a :class:`RunError`
    naming it (Keras says "File not found" for a corrupt ``.keras`` file, or worse)."""
    path = folder.resume_dir / state.checkpoint
    advice = (f"delete {display_path(folder.resume_dir)} to train this run again from its first epoch, "
              "or train into a new folder")
    if not path.is_file():
        raise RunError(f"{path}: the resume checkpoint that {folder.STATE} names is missing; {advice}")
    reason = None if zipfile.is_zipfile(path) else f"not a zip archive ({path.stat().st_size:,} bytes)"
    generators = _seed_generator_states(model)
    if reason is None and len(state.seed_generators) != len(generators):
        reason = (f"{folder.STATE} has {len(state.seed_generators)} dropout generator states, "
                  f"the model {len(generators)}")
    if reason is None:
        try:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(path)  # weights and optimizer state (and average)
            for variable, value in zip(generators, state.seed_generators, strict=True):
                variable.assign(np.asarray(value, dtype=variable.dtype))
        except (ValueError, KeyError, OSError, EOFError, TypeError, zipfile.BadZipFile) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if reason is not None:
        raise RunError(f"{path}: cannot be resumed from (corrupt or partial file?): {reason}; {advice}")


class _Batches:
    """The run's batches: the validation set once, and a new seeded order of the training set
    per epoch, from crops held in memory when they fit ``crop_memory_mb`` (else streamed)."""

    def __init__(self, folder: RunFolder, config: Config, strategy: tf.distribute.Strategy,
                 data: _TrainingData) -> None:
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


def _epoch_loop(
    folder: RunFolder, config: Config, strategy: tf.distribute.Strategy, model: keras.Model, batches: _Batches,
    state: ResumeState, history: pd.DataFrame, monitor: str, *, started: float, interactive: bool,
    callbacks: Sequence[keras.callbacks.Callback],
) -> str:
    """Train from ``state.epoch`` until a stop rule says why (returned), updating ``state`` and
    ``history.csv`` every epoch and checkpointing every ``checkpoint_seconds`` and at the end.

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
        learning_rate = learning_rate_at(config, epoch, elapsed_before + (time.monotonic() - started))
        model.optimizer.learning_rate.assign(learning_rate)
        train_ds = batches.train(epoch)
        tick = time.monotonic()
        logs = model.fit(
            train_ds, validation_data=batches.val, initial_epoch=epoch, epochs=epoch + 1, verbose=0, shuffle=False,
            callbacks=[progress, *callbacks],
        ).history
        row = {"epoch": epoch + 1, **{k: float(v[-1]) for k, v in logs.items()}}
        row = {c: row.get(c, math.nan) for c in HISTORY_COLUMNS}
        row["learning_rate"] = learning_rate
        if averaging and batches.val is not None:
            with _ema_weights(model):
                row["val_rmse_ema"] = float(model.evaluate(batches.val, verbose=0, return_dict=True)["rmse"])
        row["seconds"] = time.monotonic() - tick  # with the average's evaluation: what an epoch costs
        rows.append(row)
        score = row[monitor]
        improved = state.best is None or score < state.best
        if improved:
            state.best, state.epochs_without_improvement = score, 0
            with _ema_weights(model) if monitor == "val_rmse_ema" else contextlib.nullcontext():
                best_weights = model.get_weights()  # a copy in memory; written with the next checkpoint
        else:
            state.epochs_without_improvement += 1
        history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        # Every epoch (cheap): rows past the last checkpoint are dropped and recomputed on resume.
        atomic_write_text(folder.history_file, history.to_csv(index=False))
        state.epoch = epoch + 1
        state.elapsed_seconds = elapsed_before + (time.monotonic() - started)
        reason = _agreed_stop(strategy, stop_reason(config, state, history))
        if reason is not None or time.monotonic() - last_checkpoint >= config.checkpoint_seconds:
            _checkpoint(model, folder, state, best_weights, averaging=averaging)
            best_weights, last_checkpoint = None, time.monotonic()
        print(_format_row(row, config.epochs) + ("  *" if improved else ""), flush=True)
        if reason is not None:
            break
    return reason
