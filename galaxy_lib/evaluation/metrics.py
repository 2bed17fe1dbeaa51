"""Metrics for 37-answer Galaxy Zoo predictions, all on plain arrays (no TensorFlow).

The seed paper reported one RMSE and one "accuracy", both taken from the last *training*
epoch, and per-answer AUCs from a leaky test set (one of them from a single positive
galaxy). The functions here compute the same quantities *and* the ones that make them
interpretable on held-out galaxies:

* :func:`rmse` -- the Kaggle metric, over every galaxy x 37 answers; per answer and per
  question too, so one can see where the error lives.
* :func:`rmse_gain` -- how much lower a model's RMSE is than a reference's (the training mean) on the
  same galaxies, with a paired bootstrap interval: whether the model beats the average galaxy by more
  than chance.
* :func:`paper_accuracy` -- Keras' categorical accuracy on a 37-wide output, as the paper
  logged it: argmax of the 37 predictions equals argmax of the 37 targets. It mixes
  answers of different questions (and depths of the tree), so :func:`question_accuracy`
  gives the meaningful version: per question, is the top answer right, among galaxies
  for which most volunteers actually reached that question.
* :func:`auc_table` -- per-answer ROC AUC with the paper's binarisation (vote fraction
  > 0.5 is positive), with positive/negative counts and a seeded bootstrap interval; an
  answer with too few positives is reported as "not measurable (n positives)" instead of
  a number that would only describe a handful of galaxies.
* :func:`roc_curves` -- false/true positive rates for every answer that has both classes.

:func:`evaluate_predictions` bundles them into one :class:`EvaluationResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from galaxy_lib import tree

POSITIVE_THRESHOLD = 0.5
"""The paper's binarisation: an answer is 'present' when its vote fraction exceeds this."""


def _check_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 ``(n, 37)``, same shape, finite; a clear ValueError otherwise."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.ndim != 2 or arr.shape[1] != tree.N_ANSWERS:
            raise ValueError(f"{name}: expected shape (n, {tree.N_ANSWERS}), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.argwhere(~np.isfinite(arr))[0][0])
            raise ValueError(f"{name}: row {bad} holds NaN or infinite values")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("no galaxies to evaluate (empty arrays)")
    return y_true, y_pred


# --- RMSE ---------------------------------------------------------------------------------


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The Kaggle metric: root of the mean squared error over all galaxies x 37 answers."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_pred - y_true) ** 2)))


def rmse_per_answer(y_true: np.ndarray, y_pred: np.ndarray) -> pd.Series:
    """RMSE of each answer column over all galaxies, indexed by column name."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    values = np.sqrt(np.mean((y_pred - y_true) ** 2, axis=0))
    return pd.Series(values, index=list(tree.ANSWER_COLUMNS), name="rmse")


def rmse_per_question(y_true: np.ndarray, y_pred: np.ndarray) -> pd.Series:
    """RMSE over each question's answer columns (all galaxies), indexed ``Q1`` ... ``Q11``.

    The squares of these, weighted by each question's number of answers, average to the
    square of :func:`rmse`, so the table shows which questions the overall error comes from.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    sq = (y_pred - y_true) ** 2
    values = [np.sqrt(sq[:, s].mean()) for s in tree.question_slices()]
    return pd.Series(values, index=[f"Q{q.number}" for q in tree.QUESTIONS], name="rmse")


def rmse_per_galaxy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """RMSE of each galaxy over its 37 answers (used to pick best and worst examples)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return np.sqrt(np.mean((y_pred - y_true) ** 2, axis=1))


# --- accuracy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RmseGain:
    """How much lower one predictor's RMSE is than a reference's on the same galaxies, with a paired
    bootstrap interval (:func:`rmse_gain`)."""

    rmse: float
    reference_rmse: float
    gain: float  # reference_rmse - rmse: positive when the predictor is better
    low: float
    high: float
    n: int
    confidence: float

    def summary(self, name: str = "the model", reference: str = "the training mean") -> str:
        """One sentence, e.g. ``the model 0.0901 against the training mean 0.1560 on the same 400
        galaxies: 0.0659 lower (95% bootstrap interval 0.0631-0.0688), more than chance``."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            verdict = "no interval (too few galaxies or no resamples)"
        elif self.low > 0:
            verdict = "more than chance: the whole interval lies above zero"
        elif self.high < 0:
            verdict = f"{name} is worse, beyond chance: the whole interval lies below zero"
        else:
            verdict = "not more than chance: the interval includes zero"
        direction = "lower" if self.gain >= 0 else "higher"
        name = name[:1].upper() + name[1:]
        return (f"{name} {self.rmse:.4f} against {reference} {self.reference_rmse:.4f} on the same {self.n:,} "
                f"galaxies: {abs(self.gain):.4f} {direction} ({self.confidence:.0%} bootstrap interval of the gain "
                f"{self.low:.4f} to {self.high:.4f}); {verdict}")


def resampled_means(columns: tuple[np.ndarray, ...], n_bootstrap: int,
                    seed: int | np.random.Generator) -> tuple[np.ndarray, ...]:
    """Each per-galaxy array's mean over ``n_bootstrap`` resamples of the galaxies, the same resamples
    for all of them (a paired bootstrap), drawn from ``seed`` in chunks that keep memory flat. The one
    resampling loop of the package's RMSE intervals (here and per agreement bin in
    :mod:`~galaxy_lib.evaluation.agreement`); ``seed`` may be a generator that several calls share."""
    rng = np.random.default_rng(seed)
    n = len(columns[0])
    draws: list[list[np.ndarray]] = [[] for _ in columns]
    for start in range(0, n_bootstrap, 100):
        index = rng.integers(0, n, size=(min(100, n_bootstrap - start), n))
        for out, values in zip(draws, columns, strict=True):
            out.append(values[index].mean(axis=1))
    return tuple(np.concatenate(out) for out in draws)


def rmse_gain(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_ref: np.ndarray,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> RmseGain:
    """The reference's RMSE minus the predictor's, with a percentile interval from resampling the
    galaxies (the same resample for both: a paired bootstrap). Pairing matters: an easy set of
    galaxies lowers both RMSEs together, so the gain varies far less between resamples than either
    RMSE does, and two intervals drawn separately would hide a real difference. ``y_ref`` may be one
    row of 37 answers (the training mean), used for every galaxy."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    y_ref = np.broadcast_to(np.asarray(y_ref, dtype=np.float64), y_true.shape)
    _check_pair(y_true, y_ref)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    own = ((y_true - y_pred) ** 2).mean(axis=1)  # per galaxy: the mean over 37 answers
    ref = ((y_true - y_ref) ** 2).mean(axis=1)
    gain = float(np.sqrt(ref.mean()) - np.sqrt(own.mean()))
    low = high = float("nan")
    if n_bootstrap > 0 and len(own) >= 2:
        ref_means, own_means = resampled_means((ref, own), n_bootstrap, seed)
        low, high = (float(v) for v in percentile_interval(np.sqrt(ref_means) - np.sqrt(own_means), confidence))
    return RmseGain(rmse=float(np.sqrt(own.mean())), reference_rmse=float(np.sqrt(ref.mean())), gain=gain,
                    low=low, high=high, n=len(own), confidence=confidence)


def rmse_interval(
    y_true: np.ndarray, y_pred: np.ndarray, *, n_bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """A percentile bootstrap interval of the RMSE, resampling galaxies (NaNs without resamples or with
    fewer than two galaxies). The same ``seed`` draws the same resamples for every predictor of the same
    galaxies, so the intervals of a class's runs are comparable."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return squared_rmse_interval(((y_true - y_pred) ** 2).mean(axis=1), n_bootstrap, seed, confidence)


def squared_rmse_interval(squared: np.ndarray, n_bootstrap: int, seed: int | np.random.Generator,
                          confidence: float) -> tuple[float, float]:
    """:func:`rmse_interval` from each galaxy's mean squared error (``squared``), for callers that
    hold only those (the agreement bins); NaNs without resamples or with fewer than two galaxies."""
    if n_bootstrap <= 0 or len(squared) < 2:
        return float("nan"), float("nan")
    (means,) = resampled_means((squared,), n_bootstrap, seed)
    low, high = percentile_interval(np.sqrt(means), confidence)
    return float(low), float(high)


def percentile_interval(values: np.ndarray, confidence: float, axis: int | None = None) -> tuple[Any, Any]:
    """The central ``confidence`` share of ``values`` (along ``axis``): a percentile bootstrap
    interval's low and high ends, written once so that every interval cuts its tails alike."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail], axis=axis)
    return low, high


def paper_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The paper's accuracy (Keras categorical accuracy on 37 outputs): the share of
    galaxies whose largest predicted answer is their largest true answer, over all 37
    columns at once. Ties go to the first column, as ``argmax`` does in Keras."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(np.argmax(y_pred, axis=1) == np.argmax(y_true, axis=1)))


def reach_weights(y_true: np.ndarray) -> np.ndarray:
    """Per galaxy and question ``(n, 11)``: the share of volunteers who reached the question,
    i.e. the true value of its parent answer (1 for questions asked of every galaxy)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    return np.stack(
        [np.ones(len(y_true)) if p is None else y_true[:, p] for p in tree.parent_indices()], axis=1
    )


def question_accuracy(y_true: np.ndarray, y_pred: np.ndarray, min_reach: float = 0.5) -> pd.DataFrame:
    """Per question, how often the predicted top answer (argmax within the question's
    answers) is the true top answer, among galaxies that reached the question with weight
    ``>= min_reach``. Deep questions (bar, arms, odd features) are only meaningful for the
    galaxies most volunteers were actually asked them about.

    Columns: ``question`` (``Q1``...), ``text``, ``reached`` (galaxies counted), ``accuracy``
    (NaN when none reached it).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    reach = reach_weights(y_true)
    rows = []
    for qi, (q, s) in enumerate(zip(tree.QUESTIONS, tree.question_slices(), strict=True)):
        mask = reach[:, qi] >= min_reach
        n = int(mask.sum())
        if n:
            hits = np.argmax(y_pred[mask, s], axis=1) == np.argmax(y_true[mask, s], axis=1)
            acc = float(hits.mean())
        else:
            acc = float("nan")
        rows.append({"question": f"Q{q.number}", "text": q.text, "reached": n, "accuracy": acc})
    return pd.DataFrame(rows)


# --- ROC AUC -------------------------------------------------------------------------------


def binarise(y_true: np.ndarray, threshold: float = POSITIVE_THRESHOLD) -> np.ndarray:
    """The paper's truth for ROC analysis: ``True`` where the vote fraction exceeds ``threshold``."""
    return np.asarray(y_true) > threshold


def bootstrap_counts(rng: np.random.Generator, n_rows: int, n: int) -> np.ndarray:
    """How often each of ``n`` galaxies is drawn in each of ``n_rows`` resamples of size ``n``."""
    draws = rng.integers(0, n, size=(n_rows, n))
    offsets = (np.arange(n_rows) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n_rows * n).reshape(n_rows, n)


def weighted_auc(order: np.ndarray, group_starts: np.ndarray, positive: np.ndarray,
                  weights: np.ndarray) -> np.ndarray:
    """AUC for many weightings of the same galaxies at once.

    A bootstrap resample is the original sample with integer weights (how often each galaxy
    was drawn), so the scores need sorting only once. With galaxies sorted by score and tied
    scores grouped, AUC = sum over groups of (positive weight in the group) x (negative weight
    in lower groups + half the negative weight in the group), over (P x N). Rows without
    positives or negatives give NaN.

    ``order`` sorts the galaxies by score, ``group_starts`` marks where each run of tied
    scores starts in that order, ``positive`` is the boolean truth, ``weights`` is
    ``(rows, n)``.
    """
    w = weights[:, order].astype(np.float64)
    pos = positive[order]
    wp = np.add.reduceat(w * pos, group_starts, axis=1)
    wn = np.add.reduceat(w * ~pos, group_starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    total_p, total_n = wp.sum(axis=1), wn.sum(axis=1)
    numerator = (wp * (below + 0.5 * wn)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = numerator / (total_p * total_n)
    auc[(total_p == 0) | (total_n == 0)] = np.nan
    return auc


def bootstrap_auc(
    positive: np.ndarray,
    scores: np.ndarray,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 100,
) -> np.ndarray:
    """Percentile bootstrap interval of ROC AUC for several answers at once.

    ``positive`` and ``scores`` are ``(n, k)``; every answer is evaluated on the *same*
    seeded resamples of galaxies (so the intervals of different answers are comparable and
    the result depends only on ``seed``). Returns ``(k, 2)`` low/high bounds (NaN when
    ``n_bootstrap`` is 0). Resamples are processed ``chunk`` at a time to bound memory.
    """
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n, k = scores.shape
    out = np.full((k, 2), np.nan)
    if n_bootstrap <= 0 or k == 0:
        return out
    prepared = []
    for j in range(k):
        order = np.argsort(scores[:, j], kind="stable")
        sorted_scores = scores[order, j]
        starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        prepared.append((order, starts))
    rng = np.random.default_rng(seed)
    aucs = np.empty((n_bootstrap, k))
    for start in range(0, n_bootstrap, chunk):
        rows = min(chunk, n_bootstrap - start)
        counts = bootstrap_counts(rng, rows, n)
        for j, (order, starts) in enumerate(prepared):
            aucs[start : start + rows, j] = weighted_auc(order, starts, positive[:, j], counts)
    for j in range(k):
        finite = aucs[:, j][np.isfinite(aucs[:, j])]
        if len(finite):
            out[j] = percentile_interval(finite, confidence)
    return out


def auc_table(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    min_positives: int = 20,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    threshold: float = POSITIVE_THRESHOLD,
) -> pd.DataFrame:
    """Per-answer ROC AUC with the paper's binarisation, counts and a bootstrap interval.

    An answer with fewer than ``min_positives`` positive galaxies, or with no negatives,
    gets ``auc`` NaN and the note ``"not measurable (n positives)"``: the paper's AUC of 0.42
    for label 19 (Class8.2) came from a single positive galaxy and says nothing about the
    model. Measurable AUCs are scikit-learn's ``roc_auc_score``.

    Columns: ``column``, ``label``, ``question``, ``positives``, ``negatives``, ``auc``,
    ``low``, ``high``, ``note``; one row per answer in Kaggle order.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    if min_positives < 1:
        raise ValueError(f"min_positives must be at least 1, got {min_positives}")
    positive = binarise(y_true, threshold)
    n_pos = positive.sum(axis=0)
    n_neg = len(y_true) - n_pos
    measurable = (n_pos >= min_positives) & (n_neg > 0)
    auc = np.full(tree.N_ANSWERS, np.nan)
    for j in np.flatnonzero(measurable):
        auc[j] = roc_auc_score(positive[:, j], y_pred[:, j])
    bounds = np.full((tree.N_ANSWERS, 2), np.nan)
    idx = np.flatnonzero(measurable)
    bounds[idx] = bootstrap_auc(positive[:, idx], y_pred[:, idx], n_bootstrap, seed, confidence)
    question_of = {c: f"Q{q.number}" for q in tree.QUESTIONS for c in q.columns}
    notes = []
    for j in range(tree.N_ANSWERS):
        if measurable[j]:
            notes.append("")
        elif n_neg[j] == 0:
            notes.append("not measurable (no negatives)")
        else:
            notes.append(f"not measurable ({int(n_pos[j])} positive{'s' if n_pos[j] != 1 else ''})")
    return pd.DataFrame(
        {
            "column": list(tree.ANSWER_COLUMNS),
            "label": [tree.ANSWER_LABELS[c] for c in tree.ANSWER_COLUMNS],
            "question": [question_of[c] for c in tree.ANSWER_COLUMNS],
            "positives": n_pos.astype(int),
            "negatives": n_neg.astype(int),
            "auc": auc,
            "low": bounds[:, 0],
            "high": bounds[:, 1],
            "note": notes,
        }
    )


def roc_curves(
    y_true: np.ndarray, y_pred: np.ndarray, threshold: float = POSITIVE_THRESHOLD
) -> dict[str, pd.DataFrame | None]:
    """ROC curve data per answer (scikit-learn ``roc_curve``): a DataFrame with ``fpr``,
    ``tpr``, ``threshold``, or ``None`` where the answer has no positives or no negatives
    (a curve is undefined). Curves are given for every answer with both classes, measurable
    or not, so a figure can still show them -- marked."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    positive = binarise(y_true, threshold)
    out: dict[str, pd.DataFrame | None] = {}
    for j, column in enumerate(tree.ANSWER_COLUMNS):
        if positive[:, j].all() or not positive[:, j].any():
            out[column] = None
            continue
        fpr, tpr, thresholds = roc_curve(positive[:, j], y_pred[:, j])
        out[column] = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})
    return out


# --- everything at once ------------------------------------------------------------------------


@dataclass
class EvaluationResult:
    """All metrics of one set of predictions against the truth (one split of one model)."""

    n: int
    rmse: float
    accuracy: float  # the paper's 37-way argmax accuracy
    rmse_per_answer: pd.Series
    rmse_per_question: pd.Series
    question_accuracy: pd.DataFrame
    auc: pd.DataFrame
    roc: dict[str, pd.DataFrame | None] = field(repr=False)

    def summary(self) -> dict[str, float | int]:
        """The headline numbers as plain Python values."""
        measurable = self.auc["auc"].notna()
        return {
            "n": self.n,
            "rmse": self.rmse,
            "accuracy": self.accuracy,
            "auc_measurable": int(measurable.sum()),
            "auc_mean": float(self.auc.loc[measurable, "auc"].mean()) if measurable.any() else float("nan"),
        }


def evaluate_predictions(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    min_positives: int = 20,
    n_bootstrap: int = 1000,
    seed: int = 0,
    min_reach: float = 0.5,
) -> EvaluationResult:
    """Every metric of this module for one set of predictions (see the module docstring)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return EvaluationResult(
        n=len(y_true),
        rmse=rmse(y_true, y_pred),
        accuracy=paper_accuracy(y_true, y_pred),
        rmse_per_answer=rmse_per_answer(y_true, y_pred),
        rmse_per_question=rmse_per_question(y_true, y_pred),
        question_accuracy=question_accuracy(y_true, y_pred, min_reach),
        auc=auc_table(y_true, y_pred, min_positives=min_positives, n_bootstrap=n_bootstrap, seed=seed),
        roc=roc_curves(y_true, y_pred),
    )
