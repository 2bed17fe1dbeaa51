"""One row of the class index per student run, and the flags an instructor should look at.

:class:`ClassRow` is what :mod:`.score` fills in, what :mod:`.page` renders (``index.html``,
``class.csv``, the figure) and what the incremental cache stores (``rows.json``): one plain record,
so a grade book, the page and the cache can never disagree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

FLAG_KINDS: dict[str, str] = {
    "unscorable": "could not be scored",
    "no-gain": "does not beat the training mean",
    "notebooks": "failed or missing notebooks",
    "copy": "identical predictions: a copied run",
    "split-overlap": "split overlaps its own training and test galaxies",
    "key-leak": "trained on the instructor's galaxies",
    "gap": "own test RMSE far from the key's",
    "damaged": "a damaged record in the hand-in",
}
"""Every flag's kind and its short label (the page's legend; the reason says the particulars)."""


@dataclass(frozen=True)
class Flag:
    """One thing for the instructor to look at: ``kind`` (a key of :data:`FLAG_KINDS`) and a
    one-line ``reason`` naming the particulars (the other student of a copy, the threshold...)."""

    kind: str
    reason: str

    def __post_init__(self) -> None:
        if self.kind not in FLAG_KINDS:
            raise ValueError(f"unknown flag kind {self.kind!r}")


@dataclass
class ClassRow:
    """One student run (or one student with no scorable run: ``run`` empty, ``problem`` says why).

    Figures are ``None`` where they could not be measured; ``problem`` is the one-line reason a run
    could not be scored (empty when it was)."""

    student: str
    run: str = ""  # the run folder's name ("" when the student handed in no run)
    source: str = ""  # where it was found, relative to SUBMISSIONS (e.g. "ada/runs/default")
    trained_as: str = ""  # the `student` its config.yaml names ("" when none was set)
    problem: str = ""  # why it could not be scored ("" = scored)
    # --- on the instructor's galaxies ---------------------------------------------------------------
    rmse: float | None = None
    rmse_low: float | None = None  # bootstrap interval (the key's `confidence`, 95%)
    rmse_high: float | None = None
    mean_rmse: float | None = None  # the training-mean predictor on the same galaxies
    gain: float | None = None  # mean_rmse - rmse: positive when the model beats the mean
    gain_low: float | None = None  # paired bootstrap interval of the gain
    gain_high: float | None = None
    galaxies: int | None = None  # galaxies of the key scored
    # --- the student's own figures ---------------------------------------------------------------
    own_test_rmse: float | None = None  # metrics.json test_rmse on the student's own split
    own_test_galaxies: int | None = None
    # --- what the run was -------------------------------------------------------------------------
    changes: dict[str, list[Any]] = field(default_factory=dict)  # key -> [assignment's value, run's value]
    parameters: int | None = None
    model_source: str = ""  # "configuration" or "notebook" (architecture.json), "" unknown
    model_name: str = ""  # the configuration's model or the notebook's function
    epochs: int | None = None
    wall_seconds: float | None = None  # training time (history.csv's seconds, summed)
    device: str = ""  # e.g. "CPU: AMD EPYC (2 cores)" or "GPU: NVIDIA H100"
    tta: str = ""  # the run's test-time averaging, as scored
    answers: dict[str, int] | None = None  # report.json's answers: exercises, answered, predicted
    notebooks: str = ""  # "ok", "failed: 02_train.ipynb ...", "missing" (no report handed in)
    report: str = ""  # link to the copied no-code report, relative to --out ("" when none)
    flags: list[Flag] = field(default_factory=list)

    @property
    def scored(self) -> bool:
        return not self.problem and self.rmse is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassRow:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        values["flags"] = [Flag(**f) for f in values.get("flags") or []]
        return cls(**values)


__all__ = ["FLAG_KINDS", "ClassRow", "Flag"]
