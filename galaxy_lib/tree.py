"""The Galaxy Zoo 2 decision tree: 11 questions, 37 answers, defined once.

Every other module takes column names, question slices and parent answers from here,
so the Kaggle column layout lives in exactly one place (as zoobot's ``Schema`` does).
An answer's vote fraction is multiplied by the fraction of volunteers who reached its
question, so the answers of one question sum to the value of their *parent answer*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ID_COLUMN = "GalaxyID"


@dataclass(frozen=True)
class Question:
    """One question of the tree, its answer labels and the answer that leads to it."""

    number: int
    text: str
    answers: tuple[str, ...]
    parent: str | None  # column name of the parent answer; None = asked of every galaxy

    @property
    def columns(self) -> tuple[str, ...]:
        """Kaggle column names, e.g. ``('Class1.1', 'Class1.2', 'Class1.3')``."""
        return tuple(f"Class{self.number}.{i + 1}" for i in range(len(self.answers)))


QUESTIONS: tuple[Question, ...] = (
    Question(1, "Is the galaxy smooth, with features or a disk, or a star/artifact?",
             ("smooth", "features or disk", "star or artifact"), None),
    Question(2, "Could this be a disk viewed edge-on?", ("edge-on: yes", "edge-on: no"), "Class1.2"),
    Question(3, "Is there a bar through the centre?", ("bar: yes", "bar: no"), "Class2.2"),
    Question(4, "Is there any sign of a spiral arm pattern?", ("spiral: yes", "spiral: no"), "Class2.2"),
    Question(5, "How prominent is the central bulge?",
             ("bulge: none", "bulge: just noticeable", "bulge: obvious", "bulge: dominant"), "Class2.2"),
    Question(6, "Is there anything odd?", ("odd: yes", "odd: no"), None),
    Question(7, "How rounded is it?", ("completely round", "in between", "cigar-shaped"), "Class1.1"),
    Question(8, "Is the odd feature a ring, or is the galaxy disturbed or irregular?",
             ("ring", "lens or arc", "disturbed", "irregular", "other", "merger", "dust lane"), "Class6.1"),
    Question(9, "Does the edge-on galaxy have a bulge? What shape?",
             ("edge-on bulge: rounded", "edge-on bulge: boxy", "edge-on bulge: none"), "Class2.1"),
    Question(10, "How tightly wound do the spiral arms appear?",
             ("arms: tight", "arms: medium", "arms: loose"), "Class4.1"),
    Question(11, "How many spiral arms are there?",
             ("arms: 1", "arms: 2", "arms: 3", "arms: 4", "arms: more than four", "arms: can't tell"), "Class4.1"),
)

ANSWER_COLUMNS: tuple[str, ...] = tuple(c for q in QUESTIONS for c in q.columns)
"""The 37 answer columns in Kaggle order; position = zero-based label index."""

KAGGLE_COLUMNS: tuple[str, ...] = (ID_COLUMN, *ANSWER_COLUMNS)
N_ANSWERS = len(ANSWER_COLUMNS)

ANSWER_LABELS: dict[str, str] = {
    c: f"Q{q.number} {a}" for q in QUESTIONS for c, a in zip(q.columns, q.answers, strict=True)
}
"""Human-readable label per column, e.g. ``'Class1.1' -> 'Q1 smooth'``."""

KEY_ANSWERS: tuple[str, ...] = ("Class1.1", "Class1.2", "Class2.1", "Class4.1")
"""Smooth, features/disk, edge-on and spiral: the answers most science cases use (plotted
predicted against true)."""

MAIN_ANSWERS: tuple[str, ...] = ("Class1.1", "Class1.2", "Class1.3", "Class2.1", "Class4.1", "Class6.1")
"""The key answers plus star/artifact and "anything odd": the answers that carry weight for
many galaxies, compared across the train, validation and test parts of a split."""


def column_index(column: str) -> int:
    """Zero-based index of an answer column (``'Class8.2'`` -> 19)."""
    try:
        return ANSWER_COLUMNS.index(column)
    except ValueError:
        raise ValueError(f"unknown answer column {column!r}; expected one of Class1.1 ... Class11.6") from None


def question_slices() -> list[slice]:
    """Slices of the 37-vector that hold each question's answers, in tree order."""
    slices, start = [], 0
    for q in QUESTIONS:
        slices.append(slice(start, start + len(q.answers)))
        start += len(q.answers)
    return slices


def parent_indices() -> list[int | None]:
    """Per question, the index of its parent answer column (None = root-level question)."""
    return [None if q.parent is None else column_index(q.parent) for q in QUESTIONS]


def question_sums(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per galaxy and question: (sum of the question's answers, value they should sum to).

    Both arrays have shape ``(n, 11)``.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != N_ANSWERS:
        raise ValueError(f"expected an array of shape (n, {N_ANSWERS}), got {labels.shape}")
    sums = np.stack([labels[:, s].sum(axis=1) for s in question_slices()], axis=1)
    expected = np.stack(
        [np.ones(len(labels)) if p is None else labels[:, p] for p in parent_indices()], axis=1
    )
    return sums, expected


def tree_violations(labels: np.ndarray, tolerance: float = 1e-3, ids: np.ndarray | None = None) -> pd.DataFrame:
    """Rows and questions whose answers do not sum to their parent answer within ``tolerance``.

    Returns one row per violation with columns ``row``, ``GalaxyID`` (when ``ids`` given),
    ``question``, ``sum``, ``expected`` and ``excess`` (sum - expected); empty when all hold.
    """
    sums, expected = question_sums(labels)
    diff = sums - expected
    rows, qs = np.nonzero(np.abs(diff) > tolerance)
    out = pd.DataFrame(
        {
            "row": rows,
            "question": [QUESTIONS[q].number for q in qs],
            "sum": sums[rows, qs],
            "expected": expected[rows, qs],
            "excess": diff[rows, qs],
        }
    )
    if ids is not None:
        out.insert(1, ID_COLUMN, np.asarray(ids)[rows])
    return out


def normalise_to_tree(probabilities: np.ndarray) -> np.ndarray:
    """Turn per-question answer probabilities (each question summing to 1) into tree-weighted
    vote fractions: each question is multiplied by its parent answer's final value.

    Every parent answer comes earlier in Kaggle order than the question it leads to, so one
    pass in order suffices. This is the NumPy twin of the model's ``tree`` head.
    """
    p = np.asarray(probabilities, dtype=np.float64).copy()
    for s, parent in zip(question_slices(), parent_indices(), strict=True):
        if parent is not None:
            p[:, s] *= p[:, parent : parent + 1]
    return p


def random_vote_fractions(n: int, seed: int = 0, concentration: float = 1.0) -> np.ndarray:
    """``(n, 37)`` random labels that obey the tree exactly: per question a Dirichlet draw
    (``concentration`` < 1 gives more decisive answers), multiplied down the tree.

    For tests, examples and benchmarks that need plausible labels without any images.
    """
    rng = np.random.default_rng(seed)
    per_question = np.zeros((n, N_ANSWERS))
    for s in question_slices():
        per_question[:, s] = rng.dirichlet(np.full(s.stop - s.start, concentration), size=n)
    return normalise_to_tree(per_question)
