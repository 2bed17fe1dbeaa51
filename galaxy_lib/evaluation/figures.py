"""Evaluation figures (matplotlib + seaborn) for notebooks, HTML reports and run folders.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``: no
global figure list to leak memory over many calls, no backend to pick (saving uses Agg),
and Jupyter still displays a returned figure inline. :func:`save_figure` writes a PNG
atomically. Sizes are chosen to read well at 100 dpi in an HTML page.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from galaxy_lib import tree
from galaxy_lib.evaluation import metrics
from galaxy_lib.evaluation.gallery import centre_or_none
from galaxy_lib.paths import atomic_path

DPI = 100

SOURCE_COLOURS = {"model": "#c0392b", "baseline": "#7f8c8d", "Kaggle leaderboard": "#2980b9"}
_QUESTION_PALETTE = sns.husl_palette(len(tree.QUESTIONS), l=0.5, s=0.85)  # distinct and dark enough for text


def new_figure(width: float, height: float) -> Figure:
    """A figure in the report's style (white grid, constrained layout, :data:`DPI`): every figure of the
    package, also the studies' (:mod:`galaxy_lib.studies.figures`), starts here so that they look alike."""
    with sns.axes_style("whitegrid"):
        return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def subplots(fig: Figure, rows: int, cols: int, **kwargs) -> np.ndarray:
    """``rows`` x ``cols`` axes of ``fig`` in the report's style, always as a 2-D array."""
    with sns.axes_style("whitegrid"):
        return np.atleast_1d(fig.subplots(rows, cols, squeeze=False, **kwargs))


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = DPI) -> Path:
    """Save ``fig`` as PNG at ``path`` via a temporary file and a rename (never half-written)."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        # 'tight' also keeps titles of fixed-aspect panels (images) inside the PNG
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight", pad_inches=0.1)
    return path


# --- training ---------------------------------------------------------------------------------


def training_curves(history: pd.DataFrame) -> Figure:
    """Loss, RMSE and the paper's accuracy per epoch, training vs validation.

    The training curves are Keras' running averages with dropout on, the kind of number the
    paper reported; the validation curves are galaxies the model never trained on.
    """
    panels = [("loss", "loss"), ("rmse", "RMSE (Kaggle metric)"), ("accuracy", "accuracy (argmax of 37)")]
    panels = [(key, title) for key, title in panels if key in history or f"val_{key}" in history]
    if not panels or "epoch" not in history:
        raise ValueError("history needs an 'epoch' column and at least one of loss, rmse, accuracy")
    fig = new_figure(4.2 * len(panels), 3.4)
    axes = subplots(fig, 1, len(panels)).ravel()
    # An ensemble's history (EnsembleFolder.read_history) has a `member` column: one colour per
    # member, training dashed and validation solid.
    groups = list(history.groupby("member", sort=False)) if "member" in history else [(None, history)]
    for ax, (key, title) in zip(axes, panels, strict=True):
        for number, (member, part) in enumerate(groups):
            colour = {} if member is None else {"color": f"C{number % 10}"}
            prefix = "" if member is None else f"{member}: "
            if key in part:
                ax.plot(part["epoch"], part[key], marker="o", ms=3, label=f"{prefix}training (dropout on)",
                        **({"ls": "--"} if member is not None else {}), **colour)
            if f"val_{key}" in part:
                ax.plot(part["epoch"], part[f"val_{key}"], marker="o", ms=3, label=f"{prefix}validation", **colour)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    return fig


# --- ROC and AUC ------------------------------------------------------------------------------------


def _auc_title(row: pd.Series) -> tuple[str, str]:
    head = f"{row['column']} {tree.ANSWER_LABELS[row['column']].split(' ', 1)[1]}"
    if pd.isna(row["auc"]):
        return f"{head}\n{row['note']}", "#999999"
    return f"{head}\nAUC {row['auc']:.3f}, {int(row['positives'])} pos.", "black"


def roc_grid(roc: Mapping[str, pd.DataFrame | None], auc: pd.DataFrame, cols: int = 7) -> Figure:
    """ROC curves of all 37 answers, one panel each, titled with the AUC and the number of
    positives; unmeasurable answers are drawn dashed and grey, titled 'not measurable'."""
    rows = int(np.ceil(tree.N_ANSWERS / cols))
    fig = new_figure(2.1 * cols, 2.15 * rows)
    axes = subplots(fig, rows, cols, sharex=True, sharey=True).ravel()
    table = auc.set_index("column", drop=False)
    for ax, column in zip(axes, tree.ANSWER_COLUMNS, strict=False):
        row = table.loc[column]
        title, colour = _auc_title(row)
        curve = roc.get(column)
        ax.plot([0, 1], [0, 1], color="#cccccc", lw=0.8)
        if curve is not None:
            measurable = not pd.isna(row["auc"])
            ax.plot(curve["fpr"], curve["tpr"], color="#c0392b" if measurable else "#999999",
                    ls="-" if measurable else "--", lw=1.4)
        else:
            ax.text(0.5, 0.5, "no curve", ha="center", va="center", color="#999999", fontsize=8)
        ax.set_title(title, fontsize=7.5, color=colour)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    for ax in axes[tree.N_ANSWERS:]:
        ax.set_visible(False)
    fig.supxlabel("false positive rate", fontsize=9)
    fig.supylabel("true positive rate", fontsize=9)
    return fig


def auc_bars(auc: pd.DataFrame) -> Figure:
    """AUC per answer with its bootstrap 95% interval, coloured and grouped by question;
    unmeasurable answers have no bar and say why."""
    fig = new_figure(8.5, 10.5)
    (ax,) = subplots(fig, 1, 1).ravel()
    y = np.arange(len(auc))[::-1]
    question_index = {f"Q{q.number}": i for i, q in enumerate(tree.QUESTIONS)}
    colours = [_QUESTION_PALETTE[question_index[q]] for q in auc["question"]]
    values = auc["auc"].to_numpy(dtype=float)
    measurable = np.isfinite(values)
    err = np.vstack([values - auc["low"].to_numpy(dtype=float), auc["high"].to_numpy(dtype=float) - values])
    err = np.where(np.isfinite(err), err, 0.0)
    lowest = np.nanmin(np.r_[auc["low"].to_numpy(dtype=float), values, 0.5])
    left = min(0.5, np.floor(lowest * 20) / 20)  # below 0.5 (worse than chance) stays visible
    ax.barh(y[measurable], values[measurable] - left, left=left, color=np.array(colours)[measurable], height=0.75,
            xerr=err[:, measurable], error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "#333333"})
    for yi, note in zip(y[~measurable], auc.loc[~measurable, "note"], strict=True):
        ax.text(left + 0.005, yi, note, va="center", fontsize=8, color="#777777", style="italic",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5}, zorder=3)
    ax.axvline(0.5, color="#555555", lw=1, ls=":")
    ax.set_yticks(y, [f"{c}  {tree.ANSWER_LABELS[c]}" for c in auc["column"]], fontsize=8)
    for tick, colour in zip(ax.get_yticklabels(), colours, strict=True):
        tick.set_color(colour)
    ax.set_xlim(left, 1.0)
    ax.set_ylim(-0.7, len(auc) - 0.3)
    ax.set_xlabel("ROC AUC (vote fraction > 0.5 is positive), bootstrap 95% interval")
    return fig


# --- RMSE vs baselines -------------------------------------------------------------------------------


def rmse_comparison(table: pd.DataFrame) -> Figure:
    """Horizontal bars of RMSE for the model(s), the baselines (measured on the same test
    galaxies) and the Kaggle leaderboard anchors (measured on Kaggle's test set).
    ``table`` is :func:`galaxy_lib.evaluation.baselines.baseline_table`'s output; with a ``measured on``
    column (:func:`galaxy_lib.evaluation.evaluate.with_data_column`) the title says which rows were
    measured on which galaxies (a synthetic sky beside Kaggle's real test set)."""
    table = table.sort_values("rmse", kind="stable").reset_index(drop=True)
    fig = new_figure(8.0, 0.38 * len(table) + 1.4)
    (ax,) = subplots(fig, 1, 1).ravel()
    reasonable = table.loc[table["rmse"] < 0.5, "rmse"]
    limit = 1.2 * (reasonable.max() if len(reasonable) else table["rmse"].max())
    y = np.arange(len(table))[::-1]
    colours = [SOURCE_COLOURS.get(s, "#333333") for s in table["source"]]
    ax.barh(y, np.minimum(table["rmse"], limit), color=colours, height=0.7)
    for yi, value in zip(y, table["rmse"], strict=True):
        clipped = value > limit
        ax.text(min(value, limit) * (0.99 if clipped else 1.0) + (0 if clipped else limit * 0.01), yi,
                f"{value:.4f}" + (" (off scale)" if clipped else ""), va="center",
                ha="right" if clipped else "left", fontsize=8, color="white" if clipped else "black")
    ax.set_yticks(y, table["name"], fontsize=9)
    ax.set_xlim(0, limit * 1.12)
    ax.set_xlabel("RMSE over 37 answers (lower is better)")
    handles = [Patch(color=c, label=s) for s, c in SOURCE_COLOURS.items() if s in set(table["source"])]
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    if "measured on" in table:  # say on every figure which rows were scored on which galaxies
        groups = {}
        for source, data in zip(table["source"], table["measured on"], strict=True):
            groups.setdefault(data, "Kaggle rows" if source == "Kaggle leaderboard" else "model and baselines")
        lines = sorted(groups.items(), key=lambda item: item[1] == "Kaggle rows")  # this run's galaxies first
        ax.set_title("\n".join(f"{who}: {data}" for data, who in lines), fontsize=8.5)
    return fig


# --- predictions ------------------------------------------------------------------------------------------


def prediction_scatter(y_true: np.ndarray, y_pred: np.ndarray, columns: Sequence[str] = tree.KEY_ANSWERS) -> Figure:
    """Predicted vs true vote fraction for a few key answers, with the RMSE and Pearson r."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    fig = new_figure(3.3 * len(columns), 3.5)
    axes = subplots(fig, 1, len(columns)).ravel()
    alpha = float(np.clip(30 / max(len(y_true), 1) ** 0.5, 0.08, 0.8))
    for ax, column in zip(axes, columns, strict=True):
        j = tree.column_index(column)
        t, p = y_true[:, j], y_pred[:, j]
        ax.scatter(t, p, s=6, alpha=alpha, color="#2c3e50", edgecolors="none")
        ax.plot([0, 1], [0, 1], color="#c0392b", lw=1)
        r = np.corrcoef(t, p)[0, 1] if t.std() > 0 and p.std() > 0 else float("nan")
        rmse = float(np.sqrt(np.mean((p - t) ** 2)))
        ax.set_title(f"{column} {tree.ANSWER_LABELS[column]}\nRMSE {rmse:.3f}, r {r:.2f}", fontsize=9)
        ax.set_xlabel("true vote fraction")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)  # panels are near-square by figure size; a fixed aspect would defeat the layout
    axes[0].set_ylabel("predicted")
    return fig


_FOLLOW_UP = {"Class1.1": 7, "Class1.2": 2, "Class2.1": 9, "Class2.2": 4}
"""Which question to describe next after a top answer: smooth -> roundness, features -> edge-on,
edge-on -> bulge shape, not edge-on -> spiral arms."""


def _top_in(values: np.ndarray, question: int) -> str:
    s = tree.question_slices()[question - 1]
    column = tree.ANSWER_COLUMNS[s.start + int(np.argmax(values[s]))]
    return column


def _wrap(text: str, width: int = 44) -> str:
    """Break a description after a comma so it fits a gallery panel."""
    return textwrap.fill(text, width, subsequent_indent="      ", break_long_words=False)


def describe_galaxy(values: np.ndarray) -> str:
    """A short morphology along the tree's main path, e.g. ``'features or disk 0.97, edge-on: no
    0.90, spiral: yes 0.71'``: the top answer of Q1, then of the question it leads to, and so on."""
    parts, question = [], 1
    while question:
        column = _top_in(values, question)
        parts.append(f"{tree.ANSWER_LABELS[column].split(' ', 1)[1]} {values[tree.column_index(column)]:.2f}")
        question = _FOLLOW_UP.get(column, 0)
    return ", ".join(parts)


def galaxy_gallery(
    images, ids: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, n: int = 6, crop: int = 212
) -> Figure:
    """The ``n`` best and ``n`` worst predicted galaxies (by per-galaxy RMSE), showing the
    central ``crop`` pixels, with the true and predicted top answers along the tree's main path
    (:func:`describe_galaxy`).

    ``images`` is anything with ``read_bytes(galaxy_id)`` (a :class:`~galaxy_lib.data.dataset.ImageSource`).
    """
    ids = np.asarray(ids)
    errors = metrics.rmse_per_galaxy(y_true, y_pred)
    order = np.argsort(errors, kind="stable")
    n = max(1, min(n, len(ids) // 2 or 1))
    picks = [("best", order[:n]), ("worst", order[::-1][:n])]
    fig = new_figure(2.6 * n, 2 * 3.2)
    axes = subplots(fig, 2, n)
    for r, (name, rows) in enumerate(picks):
        for c in range(n):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(rows):
                continue
            i = int(rows[c])
            picture = centre_or_none(images, int(ids[i]), crop)
            if picture is not None:
                ax.imshow(picture)
            ax.set_title(
                f"{name}: {ids[i]}, RMSE {errors[i]:.3f}\n"
                f"true: {_wrap(describe_galaxy(y_true[i]))}\npred: {_wrap(describe_galaxy(y_pred[i]))}",
                fontsize=7,
                loc="left",
            )
    return fig


# --- error against volunteer agreement -----------------------------------------------------------------


def error_vs_agreement(
    agreement: np.ndarray, errors: np.ndarray, table: pd.DataFrame, label: str, *, spearman: float | None = None
) -> Figure:
    """Per-galaxy RMSE against how much the volunteers agreed, beside the share of all squared
    error each bin of galaxies carries (:func:`galaxy_lib.evaluation.agreement.error_by_agreement`).

    Left: every galaxy (a hexbin from 500 galaxies on, a scatter below), with each bin's RMSE and its
    bootstrap interval drawn at the bin's median value. Right: each bin's share of the squared error
    against its share of the galaxies (dashed): a bin above its line holds more than its share.
    """
    agreement = np.asarray(agreement, dtype=float)
    errors = np.asarray(errors, dtype=float)
    keep = np.isfinite(agreement) & np.isfinite(errors)
    fig = new_figure(10.5, 3.8)
    left, right = subplots(fig, 1, 2, gridspec_kw={"width_ratios": [1.6, 1]}).ravel()
    if keep.sum() >= 500:
        cells = left.hexbin(agreement[keep], errors[keep], gridsize=30, mincnt=1, cmap="Greys", bins="log")
        fig.colorbar(cells, ax=left, label="galaxies (log)", shrink=0.8)
    else:
        alpha = float(np.clip(30 / max(int(keep.sum()), 1) ** 0.5, 0.15, 0.8))
        left.scatter(agreement[keep], errors[keep], s=8, alpha=alpha, color="#7f8c8d", edgecolors="none",
                     label="one galaxy")
    if len(table):
        # each bin's RMSE at the median value of its galaxies
        sorted_values = np.sort(agreement[keep])
        centres = [float(np.median(sorted_values[(sorted_values >= row["from"]) & (sorted_values <= row["to"])]))
                   for _, row in table.iterrows()]
        rmse = table["rmse"].to_numpy(dtype=float)
        err = np.vstack([rmse - table["low"].to_numpy(dtype=float), table["high"].to_numpy(dtype=float) - rmse])
        err = np.where(np.isfinite(err), err, 0.0)
        left.errorbar(centres, rmse, yerr=err, color="#c0392b", marker="o", ms=5, lw=1.5, capsize=3,
                      label="RMSE of the bin, 95% interval")
        x = np.arange(len(table))
        right.bar(x, table["share of squared error"], color="#c0392b", width=0.7, label="share of squared error")
        right.step(np.r_[x - 0.5, x[-1] + 0.5], np.r_[table["share of galaxies"], table["share of galaxies"].iloc[-1]],
                   where="post", color="#2c3e50", ls="--", lw=1.2, label="share of galaxies")
        right.set_xticks(x, [f"{row['from']:.2f}-\n{row['to']:.2f}" for _, row in table.iterrows()], fontsize=8)
        right.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        top = float(np.nanmax(np.r_[table["share of squared error"], table["share of galaxies"]]))
        right.set_ylim(0, 1.3 * top if top > 0 else 1)  # room for the legend above the bars
        right.legend(fontsize=8, loc="upper center", ncol=2)
    title = "per-galaxy RMSE over 37 answers" + (f" (rank correlation {spearman:+.2f})" if spearman is not None
                                                  and np.isfinite(spearman) else "")
    left.set_title(title, fontsize=9)
    left.set_xlabel(label, fontsize=8.5)
    left.set_ylabel("RMSE of the galaxy")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8, loc="upper left")
    right.set_title("where the squared error sits, by bin", fontsize=9)
    right.set_xlabel(label.split(":")[0] + " bin (range of values)", fontsize=8.5)
    return fig


# --- saliency --------------------------------------------------------------------------------------------


def saliency_grid(
    images: np.ndarray,
    maps: np.ndarray,
    answers: Sequence[str],
    *,
    ids: Sequence[int],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    chosen_for: Sequence[str] | None = None,
    note: str = "",
    percentile: float = 99.0,
) -> Figure:
    """One row per galaxy: the image the model saw, then per answer where its prediction is most
    sensitive to the pixels (:mod:`galaxy_lib.evaluation.saliency`), over a grey copy of the image.

    ``images`` ``(n, H, W, 3)`` in [0, 1] and ``maps`` ``(n, k, H, W)`` non-negative are the model's
    input and its saliency maps for the ``k`` ``answers``; ``y_true`` and ``y_pred`` are ``(n, k)``
    for the panel titles; ``chosen_for`` names why each galaxy was picked. Each map is scaled to its
    own ``percentile`` (it shows *where* an answer looks, not how strongly), so a map without any
    gradient is left blank and says so.
    """
    images = np.asarray(images, dtype=float)
    maps = np.asarray(maps, dtype=float)
    n, k = maps.shape[:2]
    if images.shape[0] != n or len(answers) != k or images.shape[1:3] != maps.shape[2:]:
        raise ValueError(f"images {images.shape}, maps {maps.shape} and {len(answers)} answers do not match")
    fig = new_figure(1.75 * (k + 1), 1.95 * n + 0.5)
    axes = subplots(fig, n, k + 1)
    for r in range(n):
        picture = np.clip(images[r], 0.0, 1.0)
        grey = picture.mean(axis=-1)
        ax = axes[r, 0]
        ax.imshow(picture)
        why = f"\nchosen for: {tree.ANSWER_LABELS[chosen_for[r]].split(' ', 1)[1]}" if chosen_for else ""
        ax.set_title(f"{ids[r]}{why}", fontsize=7.5)
        for c, column in enumerate(answers):
            ax = axes[r, c + 1]
            scale = float(np.percentile(maps[r, c], percentile)) if maps[r, c].size else 0.0
            ax.imshow(grey, cmap="gray", vmin=0, vmax=max(float(grey.max()), 1e-6))
            if scale > 0:
                ax.imshow(np.clip(maps[r, c] / scale, 0.0, 1.0), cmap="inferno", alpha=0.7, vmin=0, vmax=1)
            else:
                ax.text(0.5, 0.5, "no gradient", transform=ax.transAxes, ha="center", va="center", fontsize=7,
                        color="white")
            heading = f"{tree.ANSWER_LABELS[column].split(' ', 1)[1]}\n" if r == 0 else ""
            ax.set_title(f"{heading}true {y_true[r, c]:.2f}, pred {y_pred[r, c]:.2f}", fontsize=7.5)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    caption = "|d answer / d pixel| (largest over the colours), each map scaled to its own 99th percentile"
    if percentile != 99.0:
        caption = caption.replace("99th", f"{percentile:g}th")
    fig.suptitle(caption + (f"\n{note}" if note else ""), fontsize=8.5)
    return fig
