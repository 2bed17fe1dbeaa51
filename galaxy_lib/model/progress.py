"""What a person sees while a run trains: a progress bar per epoch on a terminal, one line per epoch everywhere.

Apart from the loop so that changing what is shown cannot change what is trained.
"""

from __future__ import annotations

import math

from galaxy_lib.model import network

keras = network.keras


class EpochProgress(keras.callbacks.Callback):
    """A Keras progress bar over one epoch's steps (only on a terminal: notebooks and logs
    get just the one-line summary per epoch that :func:`format_row` writes)."""

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


def format_row(row: dict[str, float], epochs: int) -> str:
    """One epoch's line of the log: what ``history.csv`` records for it, as a person reads it."""
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
