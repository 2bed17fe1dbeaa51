"""What a measured learning curve says: per-size table, compute curve, synthetic check and conclusion.

The learning-curve report (``notebooks/04_learning_curve.ipynb``) reads a curve folder made by
:mod:`galaxy_lib.studies.curve` and calls one function per section:

- :func:`size_table`: each size's held-out test RMSE (mean and spread over seeds) next to the
  training-mean predictor of that subset;
- :func:`compute_curve`: error against training minutes (below);
- :func:`synthetic_check`: the extrapolation method tested where the truth is known;
- :func:`conclusion`: a few sentences generated from those numbers, so that the report's text
  cannot drift from its figures.

**The compute curve shows validation RMSE, not test RMSE.** It answers "would more time on the
same galaxies still help?" from what every point already recorded: ``history.csv`` holds each
epoch's validation RMSE and duration, so the curve costs nothing to draw. The alternatives were
more expensive or more intrusive: test RMSE at checkpoints would need training to keep a model at
several elapsed times (a change to training for every run) and to score each with test-time
averaging; several budgets per configuration would multiply the curve's training time. The
validation galaxies are held out like the test ones (never trained on, the same for every point);
what differs is that the epoch-wise figure has no test-time averaging and that its running minimum
chose the kept model (so it is slightly optimistic). The figure therefore also marks each point's
held-out *test* RMSE (with test-time averaging) at its end, which shows the offset between the two.
Minutes are the epochs' own durations from ``history.csv`` scaled to add up to the run's wall time
in ``resume/state.json`` (which also counts saving checkpoints), so a curve ends at the minutes
``curve.csv`` reports.

No TensorFlow here; everything reads the files of a finished curve.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from galaxy_lib.errors import DataError
from galaxy_lib.evaluation.baselines import KAGGLE_ANCHORS
from galaxy_lib.evaluation.metrics import percentile_interval
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import atomic_write_json, display_path, read_json_object, resolve_path
from galaxy_lib.studies import figures
from galaxy_lib.studies.power_law import KAGGLE_TRAINING_GALAXIES, MIN_SIZES, Extrapolation, extrapolate

COMPUTE_COLUMNS = ("n_train", "seed", "run", "epoch", "minutes", "val_rmse", "best_val_rmse")
"""Columns of :attr:`ComputeCurve.points`: one row per epoch of every point."""
LAST_FRACTION = 0.25
"""The compute curve's verdict compares the best validation RMSE at the end with the best at
``1 - LAST_FRACTION`` of each point's training time (the last quarter's gain)."""
RELATIVE_TOLERANCE = 0.01
"""With one seed per size there is no seed-to-seed spread to compare the last quarter's gain
with; a gain under this share of the RMSE then counts as small."""
CHECK_FILE = "check.json"  # the synthetic check, written into the validation curve's folder
WINNER = "Kaggle winner (private LB)"


def _span(values: pd.Series, fmt: str) -> str:
    low, high = format(values.min(), fmt), format(values.max(), fmt)
    return low if low == high else f"{low}-{high}"


# --- the measured curve ----------------------------------------------------------------------------------------


def size_table(curve: pd.DataFrame) -> pd.DataFrame:
    """One row per training-set size: points (seeds), test RMSE mean and standard deviation over
    seeds, validation RMSE and test accuracy means, the training-mean predictor of the subset, and
    the epochs and minutes each point trained."""
    if not len(curve):
        raise DataError("the learning curve has no points yet")
    groups = curve.groupby("n_train", sort=True)
    table = pd.DataFrame({
        "points": groups.size(),
        "test RMSE": groups["test_rmse"].mean(),
        "test RMSE sd": groups["test_rmse"].std(ddof=1),
        "validation RMSE": groups["val_rmse"].mean(),
        "test accuracy": groups["test_accuracy"].mean(),
        "training-mean predictor": groups["mean_rmse"].mean(),
        "epochs": groups["epochs"].agg(lambda s: _span(s.astype(int), "d")),
        "minutes": groups["minutes"].agg(lambda s: _span(s, ".1f")),
    })
    table.index.name = "training galaxies"
    return table


def headline(curve: pd.DataFrame) -> dict[str, Any]:
    """The largest size's figures (means over its seeds): what the curve reached with all it measured."""
    if not len(curve):
        raise DataError("the learning curve has no points yet")
    largest = curve[curve["n_train"] == curve["n_train"].max()]
    sd = float(largest["test_rmse"].std(ddof=1)) if len(largest) > 1 else math.nan
    return {
        "n_train": int(largest["n_train"].iloc[0]),
        "seeds": len(largest),
        "test_rmse": float(largest["test_rmse"].mean()),
        "test_rmse_sd": None if math.isnan(sd) else sd,
        "test_accuracy": float(largest["test_accuracy"].mean()),
        "val_rmse": float(largest["val_rmse"].mean()),
        "mean_rmse": float(largest["mean_rmse"].mean()),
        "n_test": int(largest["n_test"].iloc[0]) if "n_test" in largest else None,
        "sizes": sorted(int(n) for n in curve["n_train"].unique()),
    }


# --- the compute curve -----------------------------------------------------------------------------------------


@dataclass
class ComputeCurve:
    """Validation RMSE against training minutes for every point (see the module docstring)."""

    points: pd.DataFrame  # COMPUTE_COLUMNS: one row per epoch of every point
    table: pd.DataFrame  # one row per size: minutes, best validation RMSE before the last quarter and at the end
    curve: pd.DataFrame  # the curve.csv frame (each point's test RMSE)
    fraction: float = LAST_FRACTION
    note: str = ""
    schedule: str = ""  # the points' lr_schedule ("" when their config.yaml is not there to say)

    def largest(self) -> pd.Series:
        return self.table.iloc[-1]

    def more_time_helps(self) -> bool:
        """Whether the largest size's best validation RMSE still fell by more than its tolerance
        (the seed-to-seed spread of its test RMSE, or :data:`RELATIVE_TOLERANCE` of the RMSE with one
        seed) over the last part of its training time."""
        row = self.largest()
        return bool(row["gain"] > row["tolerance"])

    def summary(self) -> str:
        """One sentence on the largest size: the last quarter's gain and what it means for more time."""
        row = self.largest()
        share = f"{1 - self.fraction:.0%}"
        if math.isnan(row["gain"]):
            return (f"{int(row['n_train']):,} training galaxies: too few epochs to compare the end of training with "
                    f"its first {share}.")
        tolerance = (f"the seed-to-seed spread of the test RMSE ({row['tolerance']:.4f})" if row["seeds"] > 1
                     else f"{RELATIVE_TOLERANCE:.0%} of the RMSE ({row['tolerance']:.4f}; one seed, so no spread)")
        verdict = ("more training time on these galaxies would still help" if self.more_time_helps()
                   else "more training time on these galaxies would help little")
        against = f"against {tolerance}"
        if self.schedule == "step" and self.more_time_helps():
            # the step decay's last step comes at 92% of its clock (schedule.STEP_SCHEDULE), always inside the
            # last quarter: the fall there measures the step as much as the extra time (issue 30)
            against = f"more than {tolerance}"
            verdict = ("but that part holds the step decay's last learning-rate step, so the fall measures the step "
                       "as much as the time, and this curve alone does not show that more time would help")
        ended = ""
        if str(row["stopped"]).startswith("reached"):
            ended = f" Training ended at its epoch count ({row['stopped']}), before the time budget."
        plateau = self.plateau_sentence()
        return (f"{int(row['n_train']):,} training galaxies: over the last {self.fraction:.0%} of training "
                f"({row['cut_minutes']:.1f} to {row['minutes']:.1f} min, mean over {int(row['seeds'])} "
                f"seed{'s' if row['seeds'] > 1 else ''}) the best validation RMSE fell by {row['gain']:.4f} "
                f"({row['gain_percent']:.1f}%), from {row['best_before']:.4f} to {row['best_end']:.4f}; "
                f"{against}, {verdict}.{ended}{' ' + plateau if plateau else ''}")

    def plateau(self) -> dict[str, Any] | None:
        """Where the largest size's training stopped paying, counted in epochs: the first epoch at
        which the best validation RMSE so far (mean over seeds) is within the tolerance of
        :meth:`more_time_helps` (the seed-to-seed spread) of its final value; None with under two
        epochs. Epochs, not minutes, so that points from machines of different speeds compare."""
        row = self.largest()
        points = self.points[self.points["n_train"] == int(row["n_train"])]
        best = points.pivot_table(index="epoch", columns="seed", values="best_val_rmse").dropna().mean(axis=1)
        if len(best) < 2 or math.isnan(row["tolerance"]):
            return None
        final = float(best.iloc[-1])
        epoch = int(best.index[(best - final <= row["tolerance"]).to_numpy().argmax()])
        return {"n_train": int(row["n_train"]), "epoch": epoch, "epochs": int(best.index[-1]), "final": final,
                "tolerance": float(row["tolerance"]), "seeds": int(row["seeds"])}

    def plateau_sentence(self) -> str:
        """:meth:`plateau` in one sentence (empty when there is none)."""
        p = self.plateau()
        if p is None:
            return ""
        spread = "the seed-to-seed spread" if p["seeds"] > 1 else f"{RELATIVE_TOLERANCE:.0%} of the RMSE"
        seeds = f"{p['seeds']} seed{'s' if p['seeds'] > 1 else ''}"
        return (f"Counted in epochs, its best validation RMSE (mean over {seeds}) "
                f"came within {spread} ({p['tolerance']:.4f}) of its final {p['final']:.4f} at epoch {p['epoch']} of "
                f"{p['epochs']}.")

    def figure(self) -> Figure:
        return figures.compute_curve(self.points, self.curve, note=self.note)


def _point_history(folder: RunFolder) -> pd.DataFrame:
    """A point's epochs with cumulative minutes scaled to its wall time, and its monitored RMSE."""
    if not folder.history_file.is_file():
        raise DataError(f"{display_path(folder.history_file)} not found: the point has not trained (run the curve "
                        "again to train it)")
    history = folder.read_history()
    state = folder.read_state()
    monitor = state.monitor if state else "val_rmse"
    if monitor not in history or history[monitor].isna().all():
        monitor = "val_rmse"
    seconds = history["seconds"].astype(float).cumsum()
    elapsed = state.elapsed_seconds if state else None
    total = float(seconds.iloc[-1]) if len(seconds) else 0.0
    same_epochs = state is not None and state.epoch == len(history)
    scale = float(elapsed) / total if isinstance(elapsed, int | float) and total > 0 and same_epochs else 1.0
    values = history[monitor].astype(float)
    return pd.DataFrame({"epoch": history["epoch"].astype(int), "minutes": seconds * scale / 60,
                         "val_rmse": values, "best_val_rmse": values.cummin()})


def compute_curve(
    curve_dir: str | os.PathLike[str],
    curve: pd.DataFrame | None = None,
    *,
    fraction: float = LAST_FRACTION,
    note: str = "",
) -> ComputeCurve:
    """The compute curve of every point in ``curve_dir`` (its ``curve.csv`` unless ``curve`` is
    given), from the points' ``history.csv`` and ``resume/state.json``; a point without its history
    is a :class:`DataError` naming the file. ``note`` goes under the figure's title."""
    from galaxy_lib.studies.curve import read_curve

    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    folder = resolve_path(curve_dir)
    curve = read_curve(folder) if curve is None else curve
    if not len(curve):
        raise DataError("the learning curve has no points yet")
    parts, rows = [], []
    for point in curve.itertuples(index=False):
        history = _point_history(RunFolder(folder / str(point.run)))
        history.insert(0, "run", str(point.run))
        history.insert(0, "seed", int(point.seed))
        history.insert(0, "n_train", int(point.n_train))
        parts.append(history)
        end = float(history["minutes"].iloc[-1]) if len(history) else math.nan
        cut = (1 - fraction) * end
        before = history.loc[history["minutes"] <= cut, "best_val_rmse"]
        rows.append({"n_train": int(point.n_train), "minutes": end, "cut_minutes": cut,
                     "best_before": float(before.iloc[-1]) if len(before) else math.nan,
                     "best_end": float(history["best_val_rmse"].iloc[-1]) if len(history) else math.nan,
                     "test_rmse": float(point.test_rmse), "stopped": str(getattr(point, "stopped", ""))})
    points = pd.concat(parts, ignore_index=True)[list(COMPUTE_COLUMNS)]
    per_point = pd.DataFrame(rows)
    groups = per_point.groupby("n_train", sort=True)
    table = pd.DataFrame({
        "seeds": groups.size(),
        "minutes": groups["minutes"].mean(),
        "cut_minutes": groups["cut_minutes"].mean(),
        "best_before": groups["best_before"].mean(),
        "best_end": groups["best_end"].mean(),
        "stopped": groups["stopped"].agg(lambda s: s.mode().iloc[0] if len(s.mode()) else ""),
    })
    table["gain"] = table["best_before"] - table["best_end"]
    table["gain_percent"] = 100 * table["gain"] / table["best_before"]
    spread = groups["test_rmse"].std(ddof=1)
    table["tolerance"] = np.where(table["seeds"] > 1, spread, RELATIVE_TOLERANCE * table["best_end"])
    table = table.reset_index()
    from galaxy_lib.config import load_config

    largest = RunFolder(folder / str(curve.sort_values("n_train").iloc[-1]["run"])).config_file
    schedule = str(load_config(largest).lr_schedule) if largest.is_file() else ""
    return ComputeCurve(points=points, table=table, curve=curve, fraction=fraction, note=note, schedule=schedule)


# --- the synthetic check -----------------------------------------------------------------------------------------


@dataclass
class SyntheticCheck:
    """A power law fitted to the sizes up to ``fit_up_to`` and compared with the larger measured ones."""

    curve: pd.DataFrame  # every point of the validation curve
    fit_up_to: int
    extrapolation: Extrapolation  # fitted to the points up to fit_up_to, extrapolated to the largest size
    table: pd.DataFrame  # per checked size: measured (mean over seeds), predicted, interval, inside
    note: str = ""

    @property
    def fitted(self) -> pd.DataFrame:
        return self.curve[self.curve["n_train"] <= self.fit_up_to]

    @property
    def checked(self) -> pd.DataFrame:
        return self.curve[self.curve["n_train"] > self.fit_up_to]

    @property
    def inside(self) -> int:
        return int(self.table["inside"].sum())

    def summary(self) -> str:
        e = self.extrapolation
        parts = [f"{int(r.n_train):,}: predicted {r.predicted:.4f} ({r.low:.4f}-{r.high:.4f}), measured "
                 f"{r.measured:.4f} ({'inside' if r.inside else 'outside'})" for r in self.table.itertuples()]
        return (f"Fitted to the {len(e.fit.sizes)} sizes up to {self.fit_up_to:,} galaxies ({e.fit.law.formula()}), "
                f"the law's {e.level:.0%} bootstrap interval held {self.inside} of the {len(self.table)} larger "
                f"measured sizes: " + "; ".join(parts) + ".")

    def to_dict(self) -> dict[str, Any]:
        return {"fit_up_to": self.fit_up_to, "fit": self.extrapolation.fit.to_dict(),
                "level": self.extrapolation.level, "n_boot": self.extrapolation.n_boot,
                "checked": [{k: (bool(v) if k == "inside" else int(v) if k in ("n_train", "points") else float(v))
                             for k, v in row.items()} for row in self.table.to_dict("records")],
                "inside": self.inside, "summary": self.summary()}

    def figure(self) -> Figure:
        return figures.learning_curve_extrapolation(self.fitted, self.extrapolation, note=self.note, references=(),
                                                    unfitted=self.checked)


def interval_at(extrapolation: Extrapolation, n: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap interval of the fit at sizes ``n`` (the same resamples and level as its band)."""
    n = np.asarray(n, dtype=np.float64)
    p = extrapolation.boot_params
    values = p[:, [0]] + p[:, [1]] * np.power(n[None, :], -p[:, [2]])
    return percentile_interval(values, extrapolation.level, axis=0)


def synthetic_check(
    curve: pd.DataFrame,
    fit_up_to: int,
    *,
    folder: str | os.PathLike[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    note: str = "",
) -> SyntheticCheck:
    """Fit the law to the points up to ``fit_up_to`` galaxies, extrapolate to each larger measured
    size and say whether the measured RMSE (mean over seeds) lies inside the bootstrap interval.
    Fewer than :data:`~galaxy_lib.studies.power_law.MIN_SIZES` sizes to fit, or none above
    ``fit_up_to``, is a :class:`DataError`. With ``folder`` (the validation curve's), the result is
    also written there as ``check.json``."""
    fitted = curve[curve["n_train"] <= fit_up_to]
    checked = curve[curve["n_train"] > fit_up_to]
    if fitted["n_train"].nunique() < MIN_SIZES:
        raise DataError(f"the synthetic check needs at least {MIN_SIZES} sizes up to {fit_up_to:,} galaxies to fit, "
                        f"the validation curve has {fitted['n_train'].nunique()}")
    if not len(checked):
        raise DataError(f"the synthetic check has no measured size above {fit_up_to:,} galaxies to compare with")
    target = int(checked["n_train"].max())
    result = extrapolate(fitted["n_train"].to_numpy(dtype=float), fitted["test_rmse"].to_numpy(dtype=float),
                         target=target, n_boot=n_boot, seed=seed)
    measured = checked.groupby("n_train", sort=True)["test_rmse"].agg(["mean", "size"])
    sizes = measured.index.to_numpy(dtype=float)
    low, high = interval_at(result, sizes)
    predicted = np.asarray(result.fit.law(sizes), dtype=float)
    table = pd.DataFrame({
        "n_train": measured.index.astype(int), "points": measured["size"].to_numpy(),
        "measured": measured["mean"].to_numpy(), "predicted": predicted, "low": low, "high": high,
    })
    table["error"] = table["measured"] - table["predicted"]
    table["inside"] = (table["low"] <= table["measured"]) & (table["measured"] <= table["high"])
    check = SyntheticCheck(curve=curve, fit_up_to=int(fit_up_to), extrapolation=result, table=table, note=note)
    if folder is not None:
        atomic_write_json(resolve_path(folder) / CHECK_FILE, check.to_dict())
    return check


def read_check(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """A validation curve folder's ``check.json`` (``{}`` when it has none or it cannot be read)."""
    return read_json_object(Path(resolve_path(folder)) / CHECK_FILE)


# --- the conclusion -------------------------------------------------------------------------------------------


def _winner_sentence(e: Extrapolation, references: Sequence[str], budget: bool = False) -> str:
    """Where the Kaggle winner lies against the interval; with budget-limited points (``budget``) the
    interval is that budget's, so the sentence says so instead of speaking for the method."""
    if WINNER not in references:
        return ""
    winner = KAGGLE_ANCHORS[WINNER]
    who = "this budget's curve" if budget else "this method"
    if winner < e.low:
        where = ("lies below the interval: by this extrapolation, Kaggle's training set with this configuration and "
                 "budget would not reach it, so the rest of the gap would have to come from elsewhere (method, "
                 "training time, ensembles)")
    elif winner > e.high:
        where = f"lies above the interval: by this extrapolation, {who} would beat it with Kaggle's training set"
    else:
        where = "lies inside the interval: more galaxies alone could plausibly close the gap"
    return (f"The Kaggle winner's {winner:.4f} (measured on Kaggle's own test set, not on ours) {where}.")


def _epoch_span(text: str | int) -> tuple[int, int]:
    """``"70-72"`` -> (70, 72); ``425`` -> (425, 425): the epochs a size's points trained."""
    low, _, high = str(text).partition("-")
    return int(low), int(high or low)


def budget_limited(sizes: Sequence[dict[str, Any]]) -> bool:
    """Whether the larger sizes trained fewer epochs than the smallest (every epoch of the smallest
    size's points above every epoch of the largest's): then the points share a time budget, not a
    training length. ``sizes`` are :func:`size_table` rows as records (``training galaxies``, ``epochs``)."""
    first, last = _epoch_span(sizes[0]["epochs"]), _epoch_span(sizes[-1]["epochs"])
    return first[0] > last[1]


def data_or_method(extrapolation: dict[str, Any], sizes: Sequence[dict[str, Any]]) -> str:
    """The learning curve's answer to "how much of the gap to the Kaggle winners is data?" in one
    sentence, or why this curve cannot give it.

    Only a curve whose points all trained the same number of epochs speaks for the method (a
    budget-limited one describes its budget: :func:`budget_limited`), and only a fit that pins its
    law down (no parameter on a bound) gives an interval worth quoting. The winner's score is on
    Kaggle's own test set, ours on the sample's test split, so the difference is indicative, and
    the sentence says so. ``extrapolation`` is :meth:`Extrapolation.to_dict`; ``sizes`` are
    :func:`size_table` rows as records."""
    e = extrapolation
    winner = KAGGLE_ANCHORS[WINNER]
    if budget_limited(sizes):
        return ("This curve cannot say how much of the gap to the Kaggle winners is data: its larger points trained "
                "fewer epochs, so it measures data and compute together; a curve with the same epochs at every "
                "size answers it (`parameters/learning_curve_epochs.yaml`).")
    epochs = _epoch_span(sizes[-1]["epochs"])
    reach = (f"With all {e['target']:,} Kaggle training galaxies this method ({epochs[1]} epochs) would reach "
             f"{e['prediction']:.4f} ({e['level']:.0%} bootstrap interval {e['low']:.4f}-{e['high']:.4f})")
    if e["fit"].get("at_bounds"):
        return (f"{reach}, but the fit puts {', '.join(e['fit']['at_bounds'])} on a bound, so the data cannot tell how "
                f"much of the gap to the winners' {winner:.4f} is data and how much method.")
    if e["low"] <= winner <= e["high"]:
        return (f"{reach}: the winners' {winner:.4f} (on Kaggle's own test set) lies inside that interval, so by "
                "this curve more galaxies alone could close the gap, and the interval is too wide to tell how much "
                "of it, if any, is the method.")
    gap = abs(e["prediction"] - winner)
    if winner < e["low"]:
        return (f"{reach}; the winners' {winner:.4f} (on Kaggle's own test set) is {gap:.4f} below that, a gap that "
                "more galaxies alone would not close with this method.")
    return (f"{reach}; the winners' {winner:.4f} (on Kaggle's own test set) is {gap:.4f} above that: by this curve, "
            "this method with Kaggle's galaxies would beat it, so the gap is data.")


def extrapolation_paragraph(extrapolation: dict[str, Any], sizes: Sequence[dict[str, Any]], measured: str = "") -> str:
    """What a curve's fit says, worded for what its points measure: one Markdown paragraph, the same
    in the learning-curve report's conclusion and in the docs (``benchmarks/readme_tables.py``), so
    the two cannot disagree.

    When the points share a time budget (:func:`budget_limited`), the larger sizes train fewer
    epochs, so the fitted law describes that budget as the training set grows, not the method: its
    level is not the method's asymptote, and the claim is left to a curve whose points all train the
    same number of epochs. The bootstrap interval is printed as the interval it is, low-high: it is
    not symmetric about the prediction, so a ``±`` would misstate one side. ``extrapolation`` is
    :meth:`Extrapolation.to_dict`; ``sizes`` are :func:`size_table` rows as records, smallest first;
    ``measured`` is an optional sentence (longer runs at the largest size) put before the last one."""
    e = extrapolation
    fit = (f"{e['fit']['formula']} (fitted to {e['fit']['points']} points at {len(e['fit']['sizes'])} sizes); at "
           f"{e['target']:,} galaxies it gives {e['prediction']:.4f}, {e['level']:.0%} bootstrap interval "
           f"{e['low']:.4f}-{e['high']:.4f} ({e['n_boot']} resamples), and it levels off at {e['fit']['c']:.4f}.")
    if not budget_limited(sizes):  # every size trained about as long: the law is about the galaxies
        return f"**Extrapolated:** {fit}"
    first, last = _epoch_span(sizes[0]["epochs"]), _epoch_span(sizes[-1]["epochs"])
    return (
        f"**Fitted to budget-limited points:** {fit} Every point had the same time budget, so the larger sizes "
        f"trained fewer epochs ({first[0]}-{first[1]} at {sizes[0]['training galaxies']:,} galaxies, "
        f"{last[0]}-{last[1]} at {sizes[-1]['training galaxies']:,}): the law describes what this budget gives as "
        "the training set grows, not what the method reaches with more galaxies, and its level is not the "
        f"method's asymptote.{' ' + measured if measured else ''} That asymptote needs a curve that gives every "
        "point the same number of epochs."
    )


def without_smallest(
    points: Sequence[dict[str, Any]], most: int = 2, *, target: int = KAGGLE_TRAINING_GALAXIES,
    n_boot: int = 1000, seed: int = 0,
) -> list[dict[str, Any]]:
    """The extrapolation refitted without the smallest size, then without the two smallest (up to
    ``most``, while :data:`~galaxy_lib.studies.power_law.MIN_SIZES` sizes remain).

    Why: a three-parameter law fitted to a handful of sizes and read 25x beyond the largest leans on
    its ends, and its bootstrap interval covers only the points' scatter around the law, not how much
    the answer hangs on which sizes were measured. Leaving the smallest sizes out, where the law's
    curvature is set, shows that directly (issue 30: the level moved from 0.044 to 0.082 without the
    two smallest sizes of the fixed-epoch curve). Deterministic: the same ``n_boot`` and ``seed`` as
    the full fit give the same figures on every render. ``points`` are a curve's points as records
    (``n_train``, ``test_rmse``: bench_curve's ``figures.points``); each item is
    :meth:`~galaxy_lib.studies.power_law.Extrapolation.to_dict` with ``left_out``, the sizes dropped."""
    sizes = sorted({int(p["n_train"]) for p in points})
    refits = []
    for drop in range(1, most + 1):
        if len(sizes) - drop < MIN_SIZES:
            break
        kept = [p for p in points if int(p["n_train"]) not in sizes[:drop]]
        e = extrapolate([p["n_train"] for p in kept], [p["test_rmse"] for p in kept],
                        target=target, n_boot=n_boot, seed=seed)
        refits.append({"left_out": sizes[:drop], **e.to_dict()})
    return refits


def conclusion(
    curve: pd.DataFrame,
    extrapolation: Extrapolation,
    *,
    compute: ComputeCurve | None = None,
    check: SyntheticCheck | None = None,
    note: str = "",
    references: Sequence[str] = figures.LEARNING_CURVE_REFERENCES,
) -> str:
    """The report's conclusion as Markdown bullets, every number taken from the arguments: what the
    largest size reached, what the fit says at the extrapolation's target (:func:`extrapolation_paragraph`,
    the docs' own wording: for budget-limited points, what that budget gives, not the method's
    asymptote; the interval as low-high, never ±), where the Kaggle winner lies against that
    interval, how far to trust the fit (parameters on a bound, the synthetic check), whether more
    time would help (the compute curve) and what budget the points had (``note``)."""
    top = headline(curve)
    e = extrapolation
    spread = (f" ± {top['test_rmse_sd']:.4f} (standard deviation over {top['seeds']} seeds)"
              if top["test_rmse_sd"] is not None else "")
    on = f" on the same {top['n_test']:,} held-out test galaxies" if top["n_test"] else ""
    sizes = size_table(curve).reset_index().to_dict("records")
    lines = [
        f"- **Data or method:** {data_or_method(e.to_dict(), size_table(curve).reset_index().to_dict('records'))}",
        f"- **Measured:** with {top['n_train']:,} training galaxies this configuration reaches a test RMSE of "
        f"{top['test_rmse']:.4f}{spread}{on} (the training-mean predictor: {top['mean_rmse']:.4f}).",
        f"- {extrapolation_paragraph(e.to_dict(), sizes)}",
    ]
    winner = _winner_sentence(e, references, budget=budget_limited(sizes))
    if winner:
        lines.append(f"- {winner}")
    trust = []
    if len(e.fit.n) <= MIN_SIZES:
        trust.append(f"with one point at each of only {len(e.fit.n)} sizes every bootstrap resample that can be fitted "
                     "is the same points, so the interval has no width and says nothing about the uncertainty; "
                     "measure more seeds or sizes")
    if e.fit.at_bounds:
        trust.append(f"the fit puts {', '.join(e.fit.at_bounds)} on a bound, so the points do not pin the law down "
                     "and the interval understates the uncertainty")
    trust.append("the interval covers the scatter of these points, not the risk that the law bends beyond the "
                 "largest measured size")
    lines.append(f"- **How far to trust it:** {'; '.join(trust)}.")
    if check is not None:
        verdict = ("the method held there" if check.inside == len(check.table)
                   else "so read the extrapolation above with that miss in mind")
        lines.append(f"- **Checked on a synthetic sky:** {check.summary()} {verdict[0].upper()}{verdict[1:]}.")
    if compute is not None:
        lines.append(f"- **More time:** {compute.summary()}")
    if note:
        lines.append(f"- **Budget:** {note}.")
    return "\n".join(lines)


__all__ = [
    "CHECK_FILE",
    "COMPUTE_COLUMNS",
    "ComputeCurve",
    "SyntheticCheck",
    "budget_limited",
    "compute_curve",
    "conclusion",
    "data_or_method",
    "extrapolation_paragraph",
    "headline",
    "interval_at",
    "read_check",
    "size_table",
    "synthetic_check",
    "without_smallest",
]
