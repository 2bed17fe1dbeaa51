"""Figures of studies: learning curves (:mod:`galaxy_lib.studies.curve`) and comparisons of runs
(:mod:`galaxy_lib.studies.compare`).

They share the style of one run's figures (:func:`galaxy_lib.evaluation.figures.new_figure`) but plot
what only a study has (fits, extrapolations, several runs), so they live with the studies: evaluation
stays about one run and imports nothing of this stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

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


__all__ = ["LEARNING_CURVE_REFERENCES", "compute_curve", "learning_curve", "learning_curve_extrapolation",
           "save_figure"]
