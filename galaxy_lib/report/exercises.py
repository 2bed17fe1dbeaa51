"""The notebooks' exercises and the student's answers to them, read back for the instructor.

Each notebook ends with ``## Exercises``: for each exercise, in order, a markdown cell tagged
:data:`EXERCISE_TAG` that starts with ``### Exercise N.M: <short title>`` followed by the
question, a markdown cell tagged :data:`PREDICTION_TAG` whose text is :data:`PREDICTION_PLACEHOLDER`
until the student writes in it, optional cells (the student's run, "compare with ours"), and a
markdown cell tagged :data:`ANSWER_TAG` holding :data:`ANSWER_PLACEHOLDER` until answered. A
prediction or answer cell belongs to the nearest exercise cell above it.

:func:`collect` reads those cells from plain or executed notebooks (nbformat alone, no kernel);
:func:`answers_record` is what ``report.json`` and the index carry (how many were answered) and
:func:`answers_markdown` the report's "Your answers" section (each question with the student's
prediction and answer, the empty ones marked).

A cell counts as answered when its text, without the placeholder line, is not blank. Neither
part of the placeholder alone is an answer: a student who deleted the italic instruction and left
the bold label (``**Your answer:**``), or the other way round, has not answered; one who wrote after
the label has, and the label is left out of the text shown to the instructor.

Damaged exercise cells are the student's, not the course author's: the student may have deleted
an exercise cell, its heading or a tag. A report must still show what the student wrote, so
``collect(..., strict=False)`` (what the report uses) keeps every prediction and answer: one with
no exercise cell above it, or under an exercise cell without its heading, becomes an *unnumbered*
exercise carrying a one-line :attr:`Exercise.problem`; two prediction (or answer) cells of one
exercise are joined. ``strict=True`` (the course's own tests of notebooks 01-05) raises an
:class:`ExerciseError` naming the notebook and the cell instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from galaxy_lib.errors import ReportError

EXERCISE_TAG = "exercise"
"""Tag of the markdown cell holding an exercise: its ``### Exercise N.M: title`` heading and its question."""
PREDICTION_TAG = "prediction"
"""Tag of the markdown cell where the student writes a prediction before running anything."""
ANSWER_TAG = "answer"
"""Tag of the markdown cell where the student answers the exercise after the run."""
TAGS = (EXERCISE_TAG, PREDICTION_TAG, ANSWER_TAG)

PREDICTION_PLACEHOLDER = (
    "**Your prediction** (write it before you run anything): _double-click this cell and replace this line._"
)
"""The text of a prediction cell until the student edits it."""
ANSWER_PLACEHOLDER = "**Your answer:** _double-click this cell and replace this line._"
"""The text of an answer cell until the student edits it."""

UNNUMBERED = "unnumbered"
"""The title shown for a prediction or answer whose exercise cell (or its heading) is missing."""
NOT_ANSWERED = "**not answered**"
"""How the "Your answers" section marks an empty prediction or answer."""
SECTION_TITLE = "Your answers"
"""The heading of the report's answers section (its anchor in the HTML page is ``#Your-answers``)."""

HEADING = re.compile(r"^\s*###\s+Exercise\s+(?P<number>\d+\.\d+)\s*:\s*(?P<title>\S.*?)\s*$")
"""The first line of an exercise cell: ``### Exercise 2.1: A deeper model``."""
_INSTRUCTION = "_double-click this cell and replace this line._"
"""The instruction both placeholders end with: not an answer either, wherever it is left."""
_LABELS = {  # the bold label each placeholder starts with, however much of it is kept: it is not an answer
    PREDICTION_TAG: re.compile(r"^\*\*Your prediction:?\*\*:?(?:\s*\(write it before you run anything\):?)?"),
    ANSWER_TAG: re.compile(r"^\*\*Your answer:?\*\*:?"),
}
_PLACEHOLDERS = {PREDICTION_TAG: PREDICTION_PLACEHOLDER, ANSWER_TAG: ANSWER_PLACEHOLDER}
_QUESTION_LABEL = re.compile(r"^\*\*Question[.:]?\*\*[.:]?\s*", re.IGNORECASE)
SHORT_QUESTION = 300
"""At most this many characters of a question in the "Your answers" section (its first paragraph)."""


class ExerciseError(ReportError, ValueError):
    """An exercise cell is malformed (no heading, a prediction or answer with no exercise above it,
    a tag on a code cell, a repeated number); the message names the notebook and the cell index."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of one notebook as the student left it.

    ``prediction`` and ``answer`` are the student's text (without the placeholder and its label),
    None when unanswered or when the cell is missing. ``number`` is ``"2.1"``, ``""`` for an
    unnumbered exercise; ``cell`` the index of its exercise cell in the notebook (of its first
    prediction or answer cell when there is none). ``problem`` says, in one line, what was wrong
    with its cells (``collect(..., strict=False)`` only), else None.
    """

    notebook: str
    number: str
    title: str
    question: str
    prediction: str | None
    answer: str | None
    cell: int
    problem: str | None = None

    @property
    def label(self) -> str:
        """``Exercise 2.1: A deeper model``, or ``Exercise (unnumbered): ...`` for a damaged one."""
        return f"Exercise {self.number or f'({UNNUMBERED})'}: {self.title}"

    @property
    def short_question(self) -> str:
        """The question's first paragraph on one line, cut at a word near :data:`SHORT_QUESTION` characters,
        without a leading bold ``**Question.**`` (the section labels it already)."""
        return short_text(_QUESTION_LABEL.sub("", self.question.strip(), count=1))


def answered_text(source: str, tag: str) -> str | None:
    """The student's text in a ``tag`` (:data:`PREDICTION_TAG` or :data:`ANSWER_TAG`) cell: ``source``
    without the placeholder (wherever the student left it: its own line, or the start of the line they
    typed on), its italic instruction and the bold label it starts with; None when nothing is left."""
    placeholder, label = _PLACEHOLDERS[tag], _LABELS[tag]
    text = source.replace(placeholder, "").replace(_INSTRUCTION, "").strip()
    return label.sub("", text, count=1).strip() or None


def short_text(markdown: str, limit: int = SHORT_QUESTION) -> str:
    """The first paragraph of ``markdown`` on one line, at most ``limit`` characters (cut at a word, with "…")."""
    paragraph = re.split(r"\n\s*\n", markdown.strip(), maxsplit=1)[0]
    text = " ".join(paragraph.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " ":  # the cut falls inside a word: drop that word
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _tag(cell: Any) -> str | None:
    """The exercise tag of ``cell`` (the first one, should a cell carry two), or None."""
    tags = cell.get("metadata", {}).get("tags", []) or []
    return next((tag for tag in TAGS if tag in tags), None)


@dataclass
class _Draft:
    """An exercise being read: its heading's fields and the prediction and answer cells met so far."""

    number: str
    title: str
    question: str
    cell: int
    problem: str | None = None
    texts: dict[str, list[str]] = field(default_factory=dict)
    """The student's text of each prediction and answer cell met so far, by tag ("" when unanswered)."""

    def add(self, tag: str, text: str | None) -> int:
        """Keep the student's ``text`` of a ``tag`` cell; how many such cells the exercise now has."""
        self.texts.setdefault(tag, []).append(text or "")
        return len(self.texts[tag])

    def finish(self, notebook: str) -> Exercise:
        def joined(tag: str) -> str | None:
            return "\n\n".join(t for t in self.texts.get(tag, []) if t) or None

        return Exercise(notebook, self.number, self.title, self.question, joined(PREDICTION_TAG),
                        joined(ANSWER_TAG), self.cell, self.problem)


def parse_notebook(notebook: Any, name: str, *, strict: bool = True) -> list[Exercise]:
    """The exercises of one notebook node (``nbformat.read(..., as_version=4)``), in order; ``name``
    is its file name for messages and :attr:`Exercise.notebook` (its stem).

    ``strict`` raises :class:`ExerciseError` on the first malformed cell; otherwise the damage is
    described in :attr:`Exercise.problem` and nothing the student wrote is dropped (module docstring).
    """
    stem = Path(name).stem
    leading = re.match(r"\d+", stem)
    expected = str(int(leading.group())) if leading else None
    drafts: list[_Draft] = []
    seen: dict[str, int] = {}

    def fail(index: int, message: str) -> str:
        line = f"{name}, cell {index}: {message}"
        if strict:
            raise ExerciseError(line)
        return line

    for index, cell in enumerate(notebook.get("cells", [])):
        tag = _tag(cell)
        if tag is None:
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        problem = None
        if cell.get("cell_type") != "markdown":
            problem = fail(index, f"a {cell.get('cell_type')} cell tagged '{tag}': exercise cells are markdown cells")
        if tag == EXERCISE_TAG:
            first, _, rest = source.strip().partition("\n")
            match = HEADING.match(first)
            if match is None:
                problem = problem or fail(index, f"a cell tagged '{EXERCISE_TAG}' must start with "
                                                 f"'### Exercise N.M: title', not {first.strip()[:60]!r}")
                title = first.strip().lstrip("#").strip() or UNNUMBERED
                drafts.append(_Draft("", title, source.strip(), index, problem))
                continue
            number = match["number"]
            if expected is not None and number.split(".")[0] != expected:
                problem = problem or fail(index, f"exercise {number} in notebook {stem}: "
                                                 f"its number should start with {expected}.")
            if number in seen:
                problem = problem or fail(index, f"exercise {number} again (first in cell {seen[number]})")
            seen.setdefault(number, index)
            drafts.append(_Draft(number, match["title"], rest.strip(), index, problem))
            continue
        text = answered_text(source, tag)
        if not drafts:
            problem = problem or fail(index, f"a cell tagged '{tag}' with no '{EXERCISE_TAG}' cell above it")
            drafts.append(_Draft("", UNNUMBERED, "", index, problem))
        elif problem and drafts[-1].problem is None:
            drafts[-1].problem = problem
        count = drafts[-1].add(tag, text)
        if count > 1:
            message = fail(index, f"a second cell tagged '{tag}' for {drafts[-1].number or UNNUMBERED} "
                                  f"(cell {drafts[-1].cell}); the two are joined")
            drafts[-1].problem = drafts[-1].problem or message
    return [draft.finish(stem) for draft in drafts]


def collect(paths: Iterable[str | os.PathLike[str]], *, strict: bool = False) -> list[Exercise]:
    """The exercises of the notebooks at ``paths`` (plain or executed ``.ipynb``), in the order given.

    ``strict=False`` (the default, the report's) never fails on a damaged exercise cell: see the
    module docstring. A notebook nbformat cannot read is an :class:`ExerciseError` naming it.
    """
    import nbformat

    found: list[Exercise] = []
    for path in map(Path, paths):
        try:
            notebook = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as exc:  # nbformat's read errors derive from ValueError
            raise ExerciseError(f"{path.name}: cannot read the notebook ({type(exc).__name__})") from None
        found += parse_notebook(notebook, path.name, strict=strict)
    return found


def answers_record(exercises: Sequence[Exercise]) -> dict[str, int]:
    """What ``report.json`` keeps and the index shows: ``exercises`` (how many), ``answered`` (with an
    answer) and ``predicted`` (with a prediction written)."""
    return {
        "exercises": len(exercises),
        "answered": sum(e.answer is not None for e in exercises),
        "predicted": sum(e.prediction is not None for e in exercises),
    }


def answered_count(record: dict[str, int]) -> str:
    """``2 of 9 exercises answered``, from an :func:`answers_record`."""
    total = record["exercises"]
    return f"{record['answered']} of {total} exercise{'s' if total != 1 else ''} answered"


def _quoted(text: str) -> str:
    """The student's markdown as a block quote, so it stands apart from the questions around it."""
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())


def answers_markdown(exercises: Sequence[Exercise], heading: str = f"## {SECTION_TITLE}") -> str:
    """The report's "Your answers" section: a one-line count, then for each exercise its title and
    notebook, the question's first paragraph, the prediction and the answer (empty ones marked
    :data:`NOT_ANSWERED`). Exercises are bold lines rather than headings so that their anchors do
    not repeat the exercise cells' own in the same page."""
    record = answers_record(exercises)
    lines = [heading, "",
             f"**{answered_count(record)}**, "
             f"{record['predicted']} with a prediction written before the run."]
    for exercise in exercises:
        lines += ["", f"**{exercise.label}** (`{exercise.notebook}`)"]
        if exercise.problem:
            lines += ["", f"_Damaged exercise cells: {exercise.problem}_"]
        if exercise.short_question:
            lines += ["", f"Question: {exercise.short_question}"]
        for what, text in (("Prediction", exercise.prediction), ("Answer", exercise.answer)):
            if text is None:
                lines += ["", f"{what}: {NOT_ANSWERED}"]
            else:
                lines += ["", f"{what}:", "", _quoted(text)]
    return "\n".join(lines)
