"""Checkpoint and resume: what a run folder keeps of a training in progress, and how a run continues from it.

Why the epoch loop is our own (:mod:`galaxy_lib.model.train`): each epoch's shuffle and augmentation
are seeded by ``(seed, epoch)`` and the dropout generators' state is saved with the checkpoint, so a
run killed at any moment and restarted with the same command continues from its last finished epoch
and ends with *exactly* the history an uninterrupted run would have had. Keras's ``BackupAndRestore``
restarts the data order and dropout streams instead.

Files are written to a temporary name and renamed, and ``resume/state.json`` is written last: it is
the commit point, so a crash between two writes never leaves a run that claims an epoch it has not
saved. A checkpoint, a configuration or a history that cannot be resumed from is a
:class:`~galaxy_lib.errors.RunError` saying what to do, never a silent restart.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from galaxy_lib.config import Config
from galaxy_lib.errors import RunError
from galaxy_lib.model import network
from galaxy_lib.model.averaging import EpochAverage, ema_weights
from galaxy_lib.model.runs import RESUMABLE_CHANGES, ResumeState, RunFolder, check_same_run, read_history
from galaxy_lib.paths import atomic_path, display_path, writing

keras = network.keras


def save_model(model: keras.Model, path: Path) -> None:
    """``model.save`` to a temporary ``.keras`` name beside ``path``, then rename."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def seed_generator_states(model: keras.Model) -> list:
    """Dropout layers' random-generator states: not part of ``.keras`` weights, but needed for
    a resumed run to draw the same dropout masks an uninterrupted one would."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def resume_point(folder: RunFolder, config: Config) -> ResumeState | None:
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


def _check_resumable(saved: Config, config: Config, where: Path) -> None:
    """Refuse to resume with a configuration that differs outside :data:`RESUMABLE_CHANGES`."""
    check_same_run(
        saved, config, allowed=RESUMABLE_CHANGES, where=where,
        advice="use the same settings to resume it, or a new --out folder",
    )


def history_until(folder: RunFolder, state: ResumeState, resuming: bool) -> pd.DataFrame:
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


def load_checkpoint(model: keras.Model, folder: RunFolder, state: ResumeState) -> None:
    """Restore the resume checkpoint ``state.checkpoint`` into ``model`` (weights, optimizer state
    and weight average, dropout generators); a missing or unreadable one is a :class:`RunError`
    naming it (Keras says "File not found" for a corrupt ``.keras`` file, or worse)."""
    path = folder.resume_dir / state.checkpoint
    advice = (f"delete {display_path(folder.resume_dir)} to train this run again from its first epoch, "
              "or train into a new folder")
    if not path.is_file():
        raise RunError(f"{path}: the resume checkpoint that {folder.STATE} names is missing; {advice}")
    reason = None if zipfile.is_zipfile(path) else f"not a zip archive ({path.stat().st_size:,} bytes)"
    generators = seed_generator_states(model)
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


def load_average(folder: RunFolder, state: ResumeState, model: keras.Model) -> EpochAverage:
    """The ``weight_averaging: swa`` average saved with the resume checkpoint (an empty one when no
    epoch has entered it yet); a missing, unreadable or mismatched file is a :class:`RunError` naming it."""
    if not state.swa_average:
        return EpochAverage()
    path = folder.resume_dir / state.swa_average
    advice = (f"delete {display_path(folder.resume_dir)} to train this run again from its first epoch, "
              "or train into a new folder")
    try:
        average = EpochAverage.load(path, state.swa_epochs)
        reason = average.check(model)
    except FileNotFoundError:
        reason = f"the weight average that {folder.STATE} names is missing"
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
        reason = f"not a readable weight average ({type(exc).__name__})"
    if reason is not None:
        raise RunError(f"{path}: {reason}; {advice}")
    return average


def save_checkpoint(
    model: keras.Model, folder: RunFolder, state: ResumeState, best_weights: list[np.ndarray] | None,
    *, averaging: bool, average: EpochAverage | None = None,
) -> None:
    """Write the run's models and its resume point for the epoch ``state.epoch``.

    Called every ``checkpoint_seconds`` and when training stops, not every epoch: three
    ``.keras`` files an epoch cost more than a short epoch's compute. ``best_weights`` (the best
    epoch since the last checkpoint, if any) go to ``best.keras``. ``resume/state.json`` is
    written last, the commit point: a run killed between checkpoints resumes from the last one
    and, every epoch being seeded, recomputes the lost epochs exactly. ``average`` (the
    ``weight_averaging: swa`` mean, once an epoch has entered it) is saved beside the checkpoint.
    """
    if best_weights is not None:
        current = model.get_weights()
        model.set_weights(best_weights)
        try:
            save_model(model, folder.model_file("best"))
        finally:
            model.set_weights(current)
    if averaging:
        with ema_weights(model):
            save_model(model, folder.model_file("ema"))
    save_model(model, folder.model_file("last"))
    checkpoint = f"epoch-{state.epoch:04d}.keras"
    resume_dir = folder.resume_dir
    with writing(resume_dir):
        resume_dir.mkdir(exist_ok=True)
    save_model(model, resume_dir / checkpoint)
    old, old_average = state.checkpoint, state.swa_average
    if average is not None and average.count:
        state.swa_average, state.swa_epochs = f"average-epoch-{state.epoch:04d}.npz", average.count
        average.save(resume_dir / state.swa_average)
    state.checkpoint = checkpoint
    state.seed_generators = [v.numpy().tolist() for v in seed_generator_states(model)]
    state.write(folder.state_file)  # the commit point
    for name, new in ((old, checkpoint), (old_average, state.swa_average)):
        if name and name != new:
            (resume_dir / name).unlink(missing_ok=True)
