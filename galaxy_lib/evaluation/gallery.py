"""Views of a data set before any model sees it: example galleries per question, the
distribution of every answer's vote fractions, and how closely the labels follow the tree.

The first notebook uses these to teach what the 37 numbers per galaxy mean. Figures are built
without ``pyplot`` (as in :mod:`galaxy_lib.evaluation.figures`), so they never pile up in memory and
Jupyter displays a returned figure inline.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Protocol

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data.images import read_centre
from galaxy_lib.errors import DataError

PAPER_CROP = Config().crop
"""The paper's central crop in pixels (the configuration's default: the paper's code)."""
IMAGE_SIDE = 424
"""Side of a Kaggle image in pixels."""
OUTLINE_MARGIN = 1.25
"""A gallery with outlines shows at least this many times the largest square's side."""
_OUTLINE_STYLES = (("#ffd400", "-"), ("#00e5ff", "--"), ("#ff5c5c", ":"))
"""Colour and line style of the first, second and third square drawn on a gallery."""


def crop_outlines(crop: int) -> dict[str, int]:
    """The squares the first notebook draws on its galleries, by label: the run's crop and, when it
    differs, the paper's, so a student sees what each keeps of a galaxy and what it cuts off."""
    outlines = {f"this run's crop, {crop} px": crop}
    if crop != PAPER_CROP:
        outlines[f"the paper's crop, {PAPER_CROP} px"] = PAPER_CROP
    return outlines


class _ReadsBytes(Protocol):
    def read_bytes(self, galaxy_id: int) -> bytes: ...


def centre_or_none(images: _ReadsBytes, galaxy_id: int, crop: int) -> np.ndarray | None:
    """The central ``crop`` pixels of one galaxy as RGB uint8, or None when the image does not
    decode: a gallery shows a blank panel for it rather than failing over one damaged file."""
    try:
        return read_centre(images, galaxy_id, crop)
    except DataError:
        return None


def as_jpeg(fig: Figure, quality: int = 85, dpi: int = 100):
    """``fig`` as an inline JPEG for notebooks: galleries of photographs are 5-10 times smaller
    as JPEG than as the PNG Jupyter would embed, which keeps the HTML reports light."""
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", dpi=dpi, pil_kwargs={"quality": quality, "optimize": True})
    return Image(data=buffer.getvalue(), format="jpeg")


def decision_tree_table() -> pd.DataFrame:
    """The 11 questions as a table: their answers, columns and which answer leads to them."""
    return pd.DataFrame(
        {
            "question": [q.text for q in tree.QUESTIONS],
            "answers": [" / ".join(q.answers) for q in tree.QUESTIONS],
            "columns": [f"{q.columns[0]}-{q.columns[-1].removeprefix('Class')}" for q in tree.QUESTIONS],
            "asked when (answers sum to)": [
                f"{q.parent} {tree.ANSWER_LABELS[q.parent]}" if q.parent else "always (1)" for q in tree.QUESTIONS
            ],
        },
        index=pd.Index([f"Q{q.number}" for q in tree.QUESTIONS], name="Q"),
    )


def question_gallery(
    images: _ReadsBytes,
    ids: np.ndarray,
    labels: np.ndarray,
    question: int,
    per_answer: int = 3,
    crop: int = 212,
    outlines: Mapping[str, int] | None = None,
) -> Figure:
    """For one question, the galaxies that received the highest vote fraction for each answer.

    Columns are the question's answers, rows the top ``per_answer`` galaxies, each titled with
    its GalaxyID and vote fraction. A rare answer's best example may still have a small fraction:
    the title shows it, which is itself a lesson about how little some answers are used.

    Each panel shows the central ``crop`` pixels (more where an outline needs its margin); ``outlines``
    (label -> side in pixels, e.g. :func:`crop_outlines`) are drawn as centred squares on every
    panel and named under the figure's title, so what a crop keeps and loses is seen, not described.
    """
    if not 1 <= question <= len(tree.QUESTIONS):
        raise ValueError(f"question must be 1..{len(tree.QUESTIONS)}, got {question}")
    outlines = dict(outlines or {})
    if len(outlines) > len(_OUTLINE_STYLES):
        raise ValueError(f"at most {len(_OUTLINE_STYLES)} outlines, got {len(outlines)}")
    for label, side in outlines.items():
        if not 1 <= side <= IMAGE_SIDE:
            raise ValueError(f"outline {label!r}: side must be 1..{IMAGE_SIDE} pixels, got {side}")
    if outlines:  # a margin of sky around the largest square, so that its edge is seen inside the panel
        crop = min(IMAGE_SIDE, max(crop, round(OUTLINE_MARGIN * max(outlines.values()))))
    q = tree.QUESTIONS[question - 1]
    ids = np.asarray(ids)
    labels = np.asarray(labels)
    if len(ids) != len(labels) or len(ids) == 0:
        raise ValueError(f"need as many ids as label rows (and at least one), got {len(ids)} and {len(labels)}")
    per_answer = max(1, min(per_answer, len(ids)))
    fig = Figure(figsize=(1.7 * len(q.columns), 1.8 * per_answer + 0.5), dpi=100, layout="constrained")
    axes = np.atleast_2d(fig.subplots(per_answer, len(q.columns), squeeze=False))
    for c, (column, answer) in enumerate(zip(q.columns, q.answers, strict=True)):
        j = tree.column_index(column)
        best = np.argsort(-labels[:, j], kind="stable")[:per_answer]
        for r, i in enumerate(best):
            ax = axes[r, c]
            ax.axis("off")
            picture = centre_or_none(images, int(ids[i]), crop)
            if picture is not None:
                ax.imshow(picture)
                for (_, side), (colour, style) in zip(outlines.items(), _OUTLINE_STYLES, strict=False):
                    corner = (crop - side) / 2 - 0.5  # pixel centres sit on integers: edges at -0.5
                    ax.add_patch(Rectangle((corner, corner), side, side, fill=False, edgecolor=colour,
                                           linestyle=style, linewidth=1.0))
            ax.set_title(f"{ids[i]}: {labels[i, j]:.2f}", fontsize=7.5)
        axes[0, c].set_title(f"{column} {answer}\n{axes[0, c].get_title()}", fontsize=8)
    title = f"Q{q.number}. {q.text}"
    if outlines:
        names = {"-": "solid", "--": "dashed", ":": "dotted"}
        title += "\nsquares: " + "; ".join(f"{label} ({names[style]})" for label, (_, style)
                                           in zip(outlines, _OUTLINE_STYLES, strict=False))
    fig.suptitle(title, fontsize=10 if not outlines else 9)
    return fig


def answer_distributions(labels: np.ndarray) -> Figure:
    """Box plot of every answer's vote fractions (outliers hidden) with its mean as a dot,
    coloured by question: most answers are near zero for most galaxies, which is why the
    all-zeros predictor is not as bad as it sounds and why RMSE rewards getting Q1 right."""
    labels = np.asarray(labels, dtype=float)
    if labels.ndim != 2 or labels.shape[1] != tree.N_ANSWERS:
        raise ValueError(f"expected labels of shape (n, {tree.N_ANSWERS}), got {labels.shape}")
    names = [f"{c} {tree.ANSWER_LABELS[c]}" for c in tree.ANSWER_COLUMNS]
    long = pd.DataFrame(labels, columns=names).melt(var_name="answer", value_name="vote fraction")
    palette = sns.color_palette("tab20", len(tree.QUESTIONS))
    colours = [palette[int(c.split(".")[0][5:]) - 1] for c in tree.ANSWER_COLUMNS]
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(8.5, 10.5), dpi=100, layout="constrained")
        ax = fig.subplots()
    sns.boxplot(data=long, y="answer", x="vote fraction", hue="answer", palette=colours, legend=False,
                showfliers=False, width=0.65, ax=ax, order=names)
    ax.scatter(labels.mean(axis=0), np.arange(tree.N_ANSWERS), color="black", s=12, zorder=3, label="mean")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylabel("")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Vote fractions of {len(labels):,} galaxies (boxes: quartiles, whiskers: 1.5 IQR)", fontsize=10)
    return fig


def tree_sum_table(labels: np.ndarray, tolerance: float = 0.01) -> pd.DataFrame:
    """Per question: what its answers must sum to, the worst deviation over all galaxies and how
    many galaxies deviate by more than ``tolerance`` and by more than rounding (1e-4)."""
    sums, expected = tree.question_sums(labels)
    deviation = np.abs(sums - expected)
    return pd.DataFrame(
        {
            "question": [f"Q{q.number}" for q in tree.QUESTIONS],
            "answers sum to": [q.parent or "1" for q in tree.QUESTIONS],
            "worst deviation": deviation.max(axis=0),
            f"rows > {tolerance:g}": (deviation > tolerance).sum(axis=0),
            "rows > 1e-4": (deviation > 1e-4).sum(axis=0),
        }
    ).set_index("question")
