"""Figures of studies: learning curves (:mod:`galaxy_lib.studies.curve`) and comparisons of runs
(:mod:`galaxy_lib.studies.compare`, whose :class:`~galaxy_lib.studies.compare.Comparison` methods
compute the tables and call the ``compare_*`` functions here, so that the plotting sits with the
other figures and uses only the public helpers of :mod:`galaxy_lib.evaluation.figures`).

They share the style of one run's figures (:func:`galaxy_lib.evaluation.figures.new_figure`) but plot
what only a study has (fits, extrapolations, several runs), so they live with the studies: evaluation
stays about one run and imports nothing of this stage.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from galaxy_lib import tree
from galaxy_lib.evaluation.baselines import KAGGLE_ANCHORS
from galaxy_lib.evaluation.figures import SOURCE_COLOURS, new_figure, save_figure, subplots
from galaxy_lib.kaggle import TRAINING_GALAXIES
from galaxy_lib.studies.power_law import Extrapolation

# --- learning curve ------------------------------------------------------------------------------------

LEARNING_CURVE_REFERENCES = ("Kaggle winner (private LB)", "Kaggle 2nd place (private LB)",
                             "Kaggle central-pixel benchmark")
"""The reference lines of :func:`learning_curve_extrapolation`: keys of
:data:`~galaxy_lib.evaluation.baselines.KAGGLE_ANCHORS` (the one home of their values), which were
measured on Kaggle's own test set, not on ours: the figure labels them so."""


def _size_axis(ax, sizes: Sequence[float]) -> None:
    """A log axis of training galaxies, ticked at the measured sizes (with thousands separators)."""
    ax.set_xscale("log")
    ax.set_xticks(list(sizes), [f"{int(s):,}" for s in sizes], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("training galaxies (log scale)")


def _curve_points(ax, curve: pd.DataFrame) -> None:
    """Each point's test RMSE, one colour per seed, and the training-mean predictor per size."""
    for number, (seed, part) in enumerate(curve.groupby("seed", sort=True)):
        ax.scatter(part["n_train"], part["test_rmse"], s=28, color=f"C{number % 10}", zorder=3,
                   label=f"test RMSE, seed {seed}")
    means = curve.groupby("n_train", sort=True)["mean_rmse"].mean()
    ax.plot(means.index, means.to_numpy(), color=SOURCE_COLOURS["baseline"], ls="--", marker=".", lw=1.2,
            label="training-mean predictor of each subset")


def learning_curve(curve: pd.DataFrame, note: str = "") -> Figure:
    """Held-out test RMSE against the number of training galaxies (log x): every point (one colour
    per seed), the mean over seeds, and the training-mean predictor of each subset on the same test
    galaxies (a ``curve.csv`` frame, :mod:`galaxy_lib.studies.curve`). ``note`` (what each point's
    training budget was) goes under the title: a curve of short runs must say so."""
    if not len(curve):
        raise ValueError("the learning curve has no points yet")
    fig = new_figure(6.8, 4.2)
    (ax,) = subplots(fig, 1, 1).ravel()
    _curve_points(ax, curve)
    mean = curve.groupby("n_train", sort=True)["test_rmse"].mean()
    ax.plot(mean.index, mean.to_numpy(), color=SOURCE_COLOURS["model"], lw=1.6,
            label="this model, mean over seeds" if curve["seed"].nunique() > 1 else "this model")
    _size_axis(ax, mean.index)
    ax.set_ylabel("held-out test RMSE")
    n_test = int(curve["n_test"].iloc[0]) if "n_test" in curve else None
    fig.suptitle("Learning curve" + (f": the same {n_test:,} test galaxies for every point" if n_test else ""),
                 fontsize=10)
    if note:
        ax.set_title(note, fontsize=8)
    ax.legend(fontsize=8)
    return fig


def learning_curve_extrapolation(
    curve: pd.DataFrame,
    extrapolation: Extrapolation,
    note: str = "",
    references: Sequence[str] = LEARNING_CURVE_REFERENCES,
    unfitted: pd.DataFrame | None = None,
) -> Figure:
    """The measured points with the fitted power law, its bootstrap band, the extrapolated RMSE at
    the target size with its interval, and horizontal reference lines from the Kaggle leaderboard
    (``references``: keys of :data:`~galaxy_lib.evaluation.baselines.KAGGLE_ANCHORS`), labelled as
    measured on Kaggle's test set (other galaxies than ours, so a guide, not a like-for-like score).

    ``unfitted``: points measured but kept out of the fit (``n_train``, ``test_rmse``), drawn apart:
    the check of an extrapolation where the truth is known (fit on small sizes of the synthetic sky,
    compare with larger ones)."""
    e = extrapolation
    fig = new_figure(8.0, 6.0)
    (ax,) = subplots(fig, 1, 1).ravel()
    ax.fill_between(e.grid, e.band_low, e.band_high, color=SOURCE_COLOURS["model"], alpha=0.15, lw=0,
                    label=f"{e.level:.0%} bootstrap band ({e.n_boot} resamples of the points)")
    ax.plot(e.grid, e.curve, color=SOURCE_COLOURS["model"], lw=1.6, label=f"fit: {e.fit.law.formula()}")
    _curve_points(ax, curve)
    ax.errorbar([e.target], [e.prediction], yerr=[[e.prediction - e.low], [e.high - e.prediction]],
                color=SOURCE_COLOURS["model"], marker="D", ms=7, capsize=4, lw=1.5, zorder=4,
                label=f"extrapolated to {e.target:,}: {e.prediction:.4f} ({e.low:.4f}-{e.high:.4f})")
    if unfitted is not None and len(unfitted):
        ax.scatter(unfitted["n_train"], unfitted["test_rmse"], s=46, marker="X", color="black", zorder=5,
                   label="measured, not used in the fit")
    palette = ["#1a5276", "#2980b9", "#85929e", "#a569bd"]
    for number, name in enumerate(references):
        value = KAGGLE_ANCHORS[name]
        ax.axhline(value, color=palette[number % len(palette)], ls=":", lw=1.3,
                   label=f"{name}: {value:.4f} (Kaggle's test set)")
    what = "Kaggle training set" if e.target == TRAINING_GALAXIES else "target"
    ax.axvline(e.target, color="#555555", lw=0.8, ls="-.")
    ax.text(e.target, 1.0, f"{what}\n{e.target:,}", transform=ax.get_xaxis_transform(), ha="right", va="top",
            fontsize=7.5, color="#555555")
    extra = unfitted if unfitted is not None else pd.DataFrame({"n_train": [], "test_rmse": []})
    sizes = sorted(set(curve["n_train"].astype(int).tolist()) | set(extra["n_train"].astype(int).tolist())
                   | {int(e.target)})
    _size_axis(ax, sizes)
    values = np.r_[curve["test_rmse"].to_numpy(dtype=float), extra["test_rmse"].to_numpy(dtype=float), e.band_low,
                   [KAGGLE_ANCHORS[r] for r in references]]
    top = max(float(np.nanmax(curve["mean_rmse"])), float(np.nanmax(curve["test_rmse"])))
    top = max([top] + [KAGGLE_ANCHORS[r] for r in references])
    ax.set_ylim(max(0.0, float(np.nanmin(values)) - 0.01), top + 0.01)
    ax.set_ylabel("held-out test RMSE")
    fig.suptitle(f"Extrapolating the learning curve to {e.target:,} training galaxies", fontsize=10)
    if note:
        ax.set_title(note, fontsize=8)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=7.5)
    return fig


def compute_curve(points: pd.DataFrame, curve: pd.DataFrame, note: str = "") -> Figure:
    """Validation RMSE against training minutes for every point of a learning curve, one colour
    per training-set size (seeds share it): the best so far (solid; the model a run stopped then
    would keep) over each epoch's own (faint), and each point's held-out *test* RMSE with its
    test-time averaging at its end (cross). ``points``: :attr:`ComputeCurve.points
    <galaxy_lib.studies.curve_analysis.ComputeCurve>`; ``curve``: the ``curve.csv`` frame."""
    if not len(points):
        raise ValueError("the compute curve has no epochs")
    sizes = sorted(int(n) for n in points["n_train"].unique())
    palette = sns.color_palette("viridis", max(len(sizes), 2))
    fig = new_figure(7.2, 4.4)
    (ax,) = subplots(fig, 1, 1).ravel()
    for number, n in enumerate(sizes):
        colour = palette[number]
        for seed_number, (_, part) in enumerate(points[points["n_train"] == n].groupby("seed", sort=True)):
            label = f"{n:,} galaxies" if seed_number == 0 else None
            ax.plot(part["minutes"], part["val_rmse"], color=colour, lw=0.6, alpha=0.3)
            ax.plot(part["minutes"], part["best_val_rmse"], color=colour, lw=1.6, label=label,
                    marker="o" if len(part) == 1 else None)  # a one-epoch point has no line to draw
            end = curve[(curve["n_train"] == n) & (curve["seed"] == part["seed"].iloc[0])]
            if len(end):
                ax.scatter([part["minutes"].iloc[-1]], [float(end["test_rmse"].iloc[0])], marker="X", s=44,
                           color=colour, edgecolor="black", linewidth=0.5, zorder=4)
    ax.scatter([], [], marker="X", s=44, color="white", edgecolor="black", label="test RMSE of the kept model")
    best = points["best_val_rmse"].to_numpy(dtype=float)
    ends = curve["test_rmse"].to_numpy(dtype=float)
    low = float(np.nanmin(np.r_[best, ends]))
    high = max(float(np.nanquantile(best, 0.97)), float(np.nanmax(ends)))
    ax.set_ylim(max(0.0, low - 0.005), high + 0.005)
    ax.set_xlim(left=0)
    ax.set_xlabel("training minutes")
    ax.set_ylabel("RMSE")
    fig.suptitle("Compute curve: validation RMSE per epoch (faint) and best so far (solid), no test-time averaging",
                 fontsize=10)
    if note:
        ax.set_title(note, fontsize=8)
    ax.legend(fontsize=8, title="training-set size", title_fontsize=8)
    return fig


# --- comparisons of runs -------------------------------------------------------------------------------


def compare_heldout(table: pd.DataFrame) -> Figure:
    """Held-out RMSE of each run next to its own training-mean and central-pixel baselines: one
    group of bars per run. ``table``: :meth:`Comparison.heldout_table
    <galaxy_lib.studies.compare.Comparison.heldout_table>` (one row per run, columns ``RMSE`` and
    ``<baseline> RMSE``); baselines a table lacks are left out, not drawn as zero."""
    series = {"model": table["RMSE"]}
    series |= {name: table[f"{name} RMSE"] for name in ("training mean", "central pixel")
               if f"{name} RMSE" in table}
    fig = new_figure(7.5, 0.55 * len(table) * len(series) + 1.4)
    (ax,) = subplots(fig, 1, 1).ravel()
    height = 0.8 / len(series)
    colours = {"model": SOURCE_COLOURS["model"], "training mean": SOURCE_COLOURS["baseline"],
               "central pixel": "#b8c0c2"}
    y = np.arange(len(table))[::-1]
    for number, (what, values) in enumerate(series.items()):
        pos = y + 0.4 - height * (number + 0.5)
        vals = values.to_numpy(dtype=float)
        ax.barh(pos, np.nan_to_num(vals), height=height * 0.92, color=colours[what],
                label=what if what == "model" else f"{what} (baseline)")
        for p, v in zip(pos, vals, strict=True):
            if np.isfinite(v):
                ax.text(v, p, f" {v:.4f}", va="center", fontsize=8)
    ax.set_yticks(y, list(table.index), fontsize=9)
    ax.grid(False, axis="y")  # bars, not points: horizontal grid lines cut through the groups
    top = np.nanmax([np.nanmax(v.to_numpy(dtype=float)) for v in series.values()] + [0.01])
    ax.set_xlim(0, top * 1.2)
    ax.set_xlabel("held-out RMSE over 37 answers (lower is better); baselines on each run's own galaxies")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=len(series), fontsize=8)
    return fig


def compare_questions(values: pd.DataFrame) -> Figure:
    """Per-question held-out RMSE, one bar per run (a column of ``values``, in order) in each
    question's group; ``values`` has one row per question of :data:`galaxy_lib.tree.QUESTIONS`, in
    their order (:meth:`Comparison.rmse_per_question
    <galaxy_lib.studies.compare.Comparison.rmse_per_question>`, its run columns)."""
    labels = list(values.columns)
    fig = new_figure(8.0, 0.32 * len(values) * len(labels) + 1.6)
    (ax,) = subplots(fig, 1, 1).ravel()
    height = 0.8 / len(labels)
    y = np.arange(len(values))[::-1]
    for number, label in enumerate(labels):
        ax.barh(y + 0.4 - height * (number + 0.5), np.nan_to_num(values[label].to_numpy(dtype=float)),
                height=height * 0.92, color=f"C{number % 10}", label=label)
    ax.set_yticks(y, [f"{q}  {textwrap.shorten(t.text, 40, placeholder=' …')}"
                      for q, t in zip(values.index, tree.QUESTIONS, strict=True)], fontsize=8)
    ax.grid(False, axis="y")
    ax.set_xlabel("held-out RMSE of the question's answers (lower is better)")
    ax.legend(fontsize=8)
    return fig


def compare_auc(table: pd.DataFrame, labels: Sequence[str], mark: str) -> Figure:
    """Every measurable AUC with its interval, one colour per run, answers whose intervals do not
    overlap marked with ``mark`` (and in bold); unmeasurable ones are left out (fewer positives
    than ``auc_min_positives``). ``table``: :meth:`Comparison.auc_table
    <galaxy_lib.studies.compare.Comparison.auc_table>`, columns ``(run, "AUC" | "low" | "high")``
    for each of ``labels`` and ``("", "no overlap")``. ``mark`` is the comparison's, passed in so
    that the table and the figure cannot disagree on it."""
    fig = new_figure(8.5, 0.27 * len(table) + 1.6)
    (ax,) = subplots(fig, 1, 1).ravel()
    y = np.arange(len(table))[::-1]
    step = 0.6 / max(len(labels) - 1, 1)
    for number, label in enumerate(labels):
        auc = table[(label, "AUC")].to_numpy(dtype=float)
        low, high = table[(label, "low")].to_numpy(dtype=float), table[(label, "high")].to_numpy(dtype=float)
        pos = y + 0.3 - step * number if len(labels) > 1 else y
        err = np.vstack([auc - low, high - auc])
        err = np.where(np.isfinite(err), err, 0.0)
        shown = np.isfinite(auc)
        ax.errorbar(auc[shown], pos[shown], xerr=err[:, shown], fmt="o", ms=3.5, color=f"C{number % 10}",
                    elinewidth=1, capsize=1.5, label=label)
    marks = table[("", "no overlap")].to_numpy()
    ax.set_yticks(y, [f"{mark if marked else ' '} {c}  {tree.ANSWER_LABELS[c]}"
                      for c, marked in zip(table.index, marks, strict=True)], fontsize=7.5)
    for tick, marked in zip(ax.get_yticklabels(), marks, strict=True):
        if marked:
            tick.set_fontweight("bold")
    ax.axvline(0.5, color="#555555", lw=1, ls=":")
    ax.set_ylim(-0.7, len(table) - 0.3)
    ax.set_xlabel(f"ROC AUC with bootstrap 95% interval ({mark}: intervals of two runs do not overlap;"
                  " missing: not measurable)", fontsize=8)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def compare_history(histories: Mapping[str, pd.DataFrame]) -> Figure:
    """The runs' training curves overlaid, one colour per run (``histories``: run label ->
    ``history.csv`` frame; an ensemble's has a ``member`` column, and its members share its colour):
    RMSE per epoch (training dashed, with dropout on; validation solid), validation RMSE against
    training minutes (runs whose epochs cost different times compare fairly there), and the paper's
    accuracy per epoch."""
    fig = new_figure(13.0, 3.6)
    axes = subplots(fig, 1, 3).ravel()
    for number, (run_label, history) in enumerate(histories.items()):
        colour = f"C{number % 10}"
        groups = list(history.groupby("member", sort=False)) if "member" in history else [(None, history)]
        for index, (member, part) in enumerate(groups):
            part = part.sort_values("epoch")
            label = run_label if index == 0 else None
            width = 1.4 if member is None else 1.0
            for ax, key in ((axes[0], "rmse"), (axes[2], "accuracy")):
                if part[key].notna().any():
                    ax.plot(part["epoch"], part[key], ls="--", lw=width * 0.8, color=colour, alpha=0.7)
                if part[f"val_{key}"].notna().any():
                    ax.plot(part["epoch"], part[f"val_{key}"], lw=width, color=colour, label=label)
            seconds = pd.to_numeric(part["seconds"], errors="coerce")
            if seconds.notna().all() and part["val_rmse"].notna().any():
                axes[1].plot(seconds.cumsum() / 60, part["val_rmse"], lw=width, color=colour, label=label)
    titles = ("RMSE (dashed: training, dropout on)", "validation RMSE against training time",
              "accuracy, argmax of 37 (dashed: training)")
    for ax, title, xlabel in zip(axes, titles, ("epoch", "training minutes", "epoch"), strict=True):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return fig


__all__ = ["LEARNING_CURVE_REFERENCES", "compare_auc", "compare_heldout", "compare_history", "compare_questions",
           "compute_curve", "learning_curve", "learning_curve_extrapolation", "save_figure"]
