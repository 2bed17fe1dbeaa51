"""The learning-rate schedule: the rate of each epoch, and whether a run ended before its schedule did its work.

Its own module because it is pure arithmetic on the configuration: training asks it for each epoch's
rate (:func:`learning_rate_at`), the notebooks show it, and it needs neither TensorFlow nor a run folder.
"""

from __future__ import annotations

import math

from galaxy_lib.config import Config


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
    epoch 318) never came, and it scored 0.1039 (benchmarks/results/compare-paper-vs-improved.json),
    where the same 440-epoch step schedule that reached both steps (385 and 400 epochs, another
    host) scored 0.0992 and 0.1001 (quality-improved-epochs=440-lr_schedule=step*.json).
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
