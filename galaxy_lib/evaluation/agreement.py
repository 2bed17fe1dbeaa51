"""How much of a model's error sits on galaxies the volunteers disagreed on (label noise).

A Galaxy Zoo label is the share of a few dozen volunteers who gave each answer. Where they
agreed (all said "smooth") the label is a sharp target; where they split (half "smooth", half
"features") even a perfect model of the *population's* opinion misses the sampled fractions by
the sampling noise of those few dozen votes, and the galaxy is often genuinely ambiguous. So the
per-galaxy RMSE is set against how much the votes agreed, in bins of equal size, and the table says
which share of all squared error each bin carries: if the least agreed-upon fifth carries far more
than a fifth, much of the error is on galaxies whose labels are themselves uncertain.

**The measure.** By default the normalised Shannon entropy of the answers to question 1 (smooth /
features or disk / star or artifact): 0 when every volunteer gave the same answer, 1 for an even
three-way split. Question 1 because it is the only question *every* volunteer answered for *every*
galaxy, so its three fractions form a complete distribution measured with the full vote count;
deeper questions are answered by a varying share of the volunteers (a galaxy with one vote in ten
reaching "is there a bar" would look unanimous on one vote). Entropy rather than the top answer's
share because it uses the whole distribution (0.5 / 0.5 / 0 and 0.5 / 0.25 / 0.25 have the same top
share but not the same disagreement); ``measure="top_fraction"`` gives the top answer's share for
readers who find it more direct (high = agreement). Both are computed from the *true* vote
fractions only, never from the model.

Everything here is NumPy on plain ``(n, 37)`` arrays, like :mod:`galaxy_lib.evaluation.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from galaxy_lib import tree
from galaxy_lib.evaluation import figures, metrics

MEASURES = ("entropy", "top_fraction")
"""Per-galaxy measures of how much the votes of one question agree (see the module docstring)."""


def _question_fractions(y_true: np.ndarray, question: int) -> tuple[np.ndarray, np.ndarray]:
    """The question's answer fractions renormalised to sum to 1 per galaxy, and the raw sums
    (the share of volunteers who reached the question); rows with sum 0 stay 0."""
    if not 1 <= question <= len(tree.QUESTIONS):
        raise ValueError(f"question must be 1..{len(tree.QUESTIONS)}, got {question}")
    y_true = np.asarray(y_true, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape[1] != tree.N_ANSWERS:
        raise ValueError(f"y_true: expected shape (n, {tree.N_ANSWERS}), got {y_true.shape}")
    part = np.clip(y_true[:, tree.question_slices()[question - 1]], 0.0, None)
    sums = part.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(sums[:, None] > 0, part / np.where(sums > 0, sums, 1.0)[:, None], 0.0)
    return shares, sums


def question_entropy(y_true: np.ndarray, question: int = 1) -> np.ndarray:
    """Per galaxy, the normalised Shannon entropy of one question's votes: 0 when all volunteers
    who answered it agreed, 1 for an even split over its answers. The fractions are first divided by
    their sum (the share who reached the question); NaN where nobody reached it."""
    shares, sums = _question_fractions(y_true, question)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(shares > 0, -shares * np.log(np.where(shares > 0, shares, 1.0)), 0.0)
    entropy = terms.sum(axis=1) / np.log(shares.shape[1])
    return np.where(sums > 0, np.clip(entropy, 0.0, 1.0), np.nan)


def top_answer_fraction(y_true: np.ndarray, question: int = 1) -> np.ndarray:
    """Per galaxy, the share of one question's votes that went to its most popular answer
    (1 = unanimous, 1/answers = an even split); NaN where nobody reached the question."""
    shares, sums = _question_fractions(y_true, question)
    return np.where(sums > 0, shares.max(axis=1), np.nan)


def measure_label(measure: str, question: int = 1) -> str:
    """Axis label for a measure, saying which direction means disagreement."""
    if measure == "entropy":
        return f"disagreement: normalised entropy of the Q{question} votes (0 unanimous, 1 even split)"
    if measure == "top_fraction":
        return f"agreement: share of the Q{question} votes for the top answer"
    raise ValueError(f"measure {measure!r} is not one of {', '.join(MEASURES)}")


def agreement_values(y_true: np.ndarray, measure: str = "entropy", question: int = 1) -> np.ndarray:
    """:func:`question_entropy` or :func:`top_answer_fraction`, by name."""
    measure_label(measure, question)  # rejects an unknown measure
    return question_entropy(y_true, question) if measure == "entropy" else top_answer_fraction(y_true, question)


def binned_rmse(
    values: np.ndarray,
    squared_errors: np.ndarray,
    bins: int = 5,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """RMSE of the galaxies in ``bins`` bins of ``values`` holding about equally many galaxies each.

    ``squared_errors`` is each galaxy's mean squared error over its 37 answers, so a bin's ``rmse``
    is the Kaggle metric on that bin's galaxies. Equal counts (quantile edges) rather than equal
    widths, so that ``share of squared error`` can be read against ``share of galaxies``; tied values
    never straddle an edge, so heavily tied data give fewer (and unequal) bins. Galaxies whose value
    is NaN are left out. Columns: ``bin`` (1 = lowest values), ``from``, ``to`` (the values' range in
    the bin), ``galaxies``, ``share of galaxies``, ``rmse``, ``low``, ``high`` (bootstrap
    ``confidence`` interval of the bin's RMSE, resampling its galaxies), ``share of squared error``.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    squared_errors = np.asarray(squared_errors, dtype=np.float64).reshape(-1)
    if values.shape != squared_errors.shape:
        raise ValueError(f"{len(values)} values but {len(squared_errors)} squared errors")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    keep = np.isfinite(values) & np.isfinite(squared_errors)
    values, squared_errors = values[keep], squared_errors[keep]
    columns = ["bin", "from", "to", "galaxies", "share of galaxies", "rmse", "low", "high", "share of squared error"]
    if len(values) == 0:
        return pd.DataFrame(columns=columns)
    # A galaxy goes to the bin of the first edge at or above it; duplicate edges (ties) merge bins.
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1))[1:-1])
    assignment = np.searchsorted(edges, values, side="left")
    rng = np.random.default_rng(seed)
    total = squared_errors.sum()
    rows = []
    for number, label in enumerate(np.unique(assignment), start=1):
        inside = assignment == label
        squared = squared_errors[inside]
        low, high = metrics.squared_rmse_interval(squared, n_bootstrap, rng, confidence)
        rows.append({
            "bin": number, "from": values[inside].min(), "to": values[inside].max(), "galaxies": int(inside.sum()),
            "share of galaxies": inside.mean(), "rmse": float(np.sqrt(squared.mean())), "low": low, "high": high,
            "share of squared error": float(squared.sum() / total) if total > 0 else float("nan"),
        })
    return pd.DataFrame(rows, columns=columns)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their average rank); NaN when either is constant."""
    ranks = pd.DataFrame({"a": np.asarray(a, dtype=float), "b": np.asarray(b, dtype=float)}).dropna().rank()
    if len(ranks) < 2 or ranks["a"].std() == 0 or ranks["b"].std() == 0:
        return float("nan")
    return float(np.corrcoef(ranks["a"], ranks["b"])[0, 1])


@dataclass
class ErrorByAgreement:
    """Per-galaxy error against the agreement of its votes, and the binned table."""

    measure: str  # 'entropy' or 'top_fraction'
    question: int
    agreement: np.ndarray  # (n,) the measure per galaxy
    errors: np.ndarray  # (n,) per-galaxy RMSE over the 37 answers
    table: pd.DataFrame  # binned_rmse's table
    spearman: float  # rank correlation of agreement and error

    @property
    def label(self) -> str:
        return measure_label(self.measure, self.question)

    def summary(self) -> str:
        """One or two sentences for a notebook: how the error splits between the galaxies the
        volunteers agreed on most and those they disagreed on most."""
        table = self.table
        if len(table) < 2:
            return f"too few distinct values of the {self.measure} to compare bins ({len(table)} bin)"
        # entropy grows with disagreement, the top answer's share with agreement
        disagreed, agreed = (table.iloc[-1], table.iloc[0]) if self.measure == "entropy" else (
            table.iloc[0], table.iloc[-1])
        return (
            f"The {disagreed['share of galaxies']:.0%} of galaxies the volunteers disagreed on most "
            f"({self.measure} {disagreed['from']:.2f} to {disagreed['to']:.2f}) carry "
            f"{disagreed['share of squared error']:.0%} of the squared error, at RMSE {disagreed['rmse']:.3f}; "
            f"the {agreed['share of galaxies']:.0%} they agreed on most carry {agreed['share of squared error']:.0%}, "
            f"at RMSE {agreed['rmse']:.3f}. Rank correlation of {self.measure} and per-galaxy RMSE: "
            f"{self.spearman:+.2f}."
        )

    def figure(self) -> Figure:
        """:func:`galaxy_lib.evaluation.figures.error_vs_agreement` of this result."""
        return figures.error_vs_agreement(self.agreement, self.errors, self.table, self.label,
                                          spearman=self.spearman)


def error_by_agreement(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    measure: str = "entropy",
    question: int = 1,
    bins: int = 5,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> ErrorByAgreement:
    """Per-galaxy RMSE against the agreement of its votes (``measure`` of ``question``, from the true
    fractions), binned into ``bins`` equal-count bins with bootstrap intervals (see :func:`binned_rmse`)."""
    errors = metrics.rmse_per_galaxy(y_true, y_pred)
    values = agreement_values(y_true, measure, question)
    table = binned_rmse(values, errors**2, bins, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    return ErrorByAgreement(measure, question, values, errors, table, rank_correlation(values, errors))
