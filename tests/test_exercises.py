"""The exercises' cells read back (galaxy_lib.report.exercises): placeholders, answered detection,
damaged cells (strict for the course's notebooks, forgiving for a student's report) and the
"Your answers" section, on small notebooks built here (no kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from galaxy_lib.errors import GalaxyLibError, ReportError
from galaxy_lib.report.exercises import (
    ANSWER_PLACEHOLDER,
    ANSWER_TAG,
    EXERCISE_TAG,
    NOT_ANSWERED,
    PREDICTION_PLACEHOLDER,
    PREDICTION_TAG,
    ExerciseError,
    answered_text,
    answers_markdown,
    answers_record,
    collect,
    short_text,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _md(source: str, tag: str | None = None) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source, metadata={"tags": [tag]} if tag else {})


def _exercise(number: str, title: str, question: str = "What happens?") -> nbformat.NotebookNode:
    return _md(f"### Exercise {number}: {title}\n\n{question}\n\n**Change** `epochs: 3`.", EXERCISE_TAG)


def _write(path: Path, *cells: nbformat.NotebookNode) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [_md("# A notebook"), *cells]
    nbformat.write(notebook, path)
    return path


def test_the_placeholders_are_the_conventions_text():
    """The notebooks' cells hold these exact lines until the student edits them (the shared plan)."""
    assert PREDICTION_PLACEHOLDER == ("**Your prediction** (write it before you run anything): "
                                      "_double-click this cell and replace this line._")
    assert ANSWER_PLACEHOLDER == "**Your answer:** _double-click this cell and replace this line._"
    assert (EXERCISE_TAG, PREDICTION_TAG, ANSWER_TAG) == ("exercise", "prediction", "answer")


@pytest.mark.parametrize(("source", "expected"), [
    (ANSWER_PLACEHOLDER, None),  # untouched
    (f"  {ANSWER_PLACEHOLDER}  \n\n   \n", None),  # untouched, with blank lines around it
    ("", None),  # the student emptied the cell
    ("**Your answer:**", None),  # deleted the instruction, wrote nothing
    ("**Your answer:**   \n\n", None),
    ("**Your answer:** It drops to 0.11.", "It drops to 0.11."),  # wrote after the label
    (f"{ANSWER_PLACEHOLDER}\nIt drops.\n\nBy 0.01.", "It drops.\n\nBy 0.01."),  # wrote below the placeholder
    ("It drops.", "It drops."),  # replaced everything
    (f"{ANSWER_PLACEHOLDER} It drops.", "It drops."),  # typed on the placeholder's line
    ("_double-click this cell and replace this line._", None),  # deleted the label only
])
def test_an_answer_is_the_text_left_without_the_placeholder(source, expected):
    assert answered_text(source, ANSWER_TAG) == expected


def test_a_prediction_is_read_the_same_way():
    assert answered_text(PREDICTION_PLACEHOLDER, PREDICTION_TAG) is None
    label = PREDICTION_PLACEHOLDER.split(" _double")[0]
    assert answered_text(f"{label} lower, about 0.1", PREDICTION_TAG) == "lower, about 0.1"
    assert answered_text(f"{label}\n", PREDICTION_TAG) is None  # the label alone
    assert answered_text("**Your prediction** lower", PREDICTION_TAG) == "lower"  # part of the label kept


def test_collect_reads_each_exercise_with_its_prediction_and_answer(tmp_path):
    first = _write(
        tmp_path / "02_train.ipynb",
        _md("## Exercises"),
        _exercise("2.1", "A deeper model", "Does a fourth block help?\nIt adds parameters."),
        _md(PREDICTION_PLACEHOLDER, PREDICTION_TAG),
        nbformat.v4.new_code_cell('compare_with_ours("02_train", "deeper")'),
        _md(ANSWER_PLACEHOLDER, ANSWER_TAG),
        _exercise("2.2", "A lower learning rate"),
        _md(PREDICTION_PLACEHOLDER.split(" _")[0] + " slower but better", PREDICTION_TAG),
        _md("**Your answer:** It was 0.003 lower, inside the seed spread.", ANSWER_TAG),
    )
    second = _write(tmp_path / "03_evaluate.ipynb", _exercise("3.1", "No answer cell"))
    exercises = collect([first, second])
    assert [(e.notebook, e.number, e.title) for e in exercises] == [
        ("02_train", "2.1", "A deeper model"), ("02_train", "2.2", "A lower learning rate"),
        ("03_evaluate", "3.1", "No answer cell")]
    deeper, lower, alone = exercises
    assert deeper.question.startswith("Does a fourth block help?\nIt adds parameters.\n\n**Change**")
    assert deeper.short_question == "Does a fourth block help? It adds parameters."
    assert (deeper.prediction, deeper.answer, deeper.cell, deeper.problem) == (None, None, 2, None)
    assert lower.prediction == "slower but better" and lower.answer == "It was 0.003 lower, inside the seed spread."
    assert (alone.prediction, alone.answer) == (None, None)
    assert alone.question.startswith("What happens?")
    labelled = _write(tmp_path / "01_data.ipynb", _exercise("1.1", "t", "**Question.** Is the crop too tight?"))
    assert collect([labelled])[0].short_question == "Is the crop too tight?"  # the section labels it already
    assert answers_record(exercises) == {"exercises": 3, "answered": 1, "predicted": 1}
    assert answers_record([]) == {"exercises": 0, "answered": 0, "predicted": 0}


def test_executed_notebooks_read_the_same(tmp_path):
    """papermill adds cells, outputs and metadata; the exercise cells are found by their tags all the same."""
    notebook = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell("run_dir = 'runs/x'", metadata={"tags": ["injected-parameters"]})
    notebook.cells = [injected, _exercise("1.1", "Crop"), _md("**Your answer:** smaller", ANSWER_TAG)]
    notebook.metadata["papermill"] = {"parameters": {"run_dir": "runs/x"}}
    nbformat.write(notebook, tmp_path / "01_data.ipynb")
    (found,) = collect([tmp_path / "01_data.ipynb"], strict=True)
    assert (found.number, found.answer, found.cell) == ("1.1", "smaller", 1)


@pytest.mark.parametrize(("cells", "message"), [
    ([_md(ANSWER_PLACEHOLDER, ANSWER_TAG)],
     "04_x.ipynb, cell 1: a cell tagged 'answer' with no 'exercise' cell above it"),
    ([_md("Exercise without its heading", EXERCISE_TAG)],
     "04_x.ipynb, cell 1: a cell tagged 'exercise' must start with '### Exercise N.M: title', not 'Exercise without"),
    ([_exercise("4.1", "a"), _md("one", PREDICTION_TAG), _md("two", PREDICTION_TAG)],
     "04_x.ipynb, cell 3: a second cell tagged 'prediction' for 4.1 (cell 1)"),
    ([_exercise("3.1", "wrong notebook")], "04_x.ipynb, cell 1: exercise 3.1 in notebook 04_x: its number should"),
    ([_exercise("4.1", "a"), _exercise("4.1", "b")], "04_x.ipynb, cell 2: exercise 4.1 again (first in cell 1)"),
    ([_exercise("4.1", "a"), nbformat.v4.new_code_cell("x = 1", metadata={"tags": [ANSWER_TAG]})],
     "04_x.ipynb, cell 2: a code cell tagged 'answer': exercise cells are markdown cells"),
])
def test_malformed_cells_are_one_line_naming_notebook_and_cell_when_strict(tmp_path, cells, message):
    path = _write(tmp_path / "04_x.ipynb", *cells)
    with pytest.raises(ExerciseError) as caught:
        collect([path], strict=True)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ReportError)
    assert isinstance(caught.value, GalaxyLibError)  # the command line prints it as one line
    collect([path])  # the report's reading never fails on them


def test_a_students_damaged_cells_still_reach_the_report(tmp_path):
    """The student deleted an exercise cell, a heading, and added a second answer: nothing they wrote is lost."""
    path = _write(
        tmp_path / "05_compare.ipynb",
        _md("**Your prediction** early thoughts", PREDICTION_TAG),  # the exercise cell above it was deleted
        _md("What if the split changes? (heading deleted)", EXERCISE_TAG),
        _md("**Your answer:** the test set moved", ANSWER_TAG),
        _exercise("5.1", "Two seeds"),
        _md("**Your answer:** first try", ANSWER_TAG),
        _md("**Your answer:** second thoughts", ANSWER_TAG),
    )
    orphan, headless, seeds = collect([path])
    assert (orphan.number, orphan.title, orphan.prediction, orphan.answer) == ("", "unnumbered", "early thoughts", None)
    assert orphan.problem.startswith("05_compare.ipynb, cell 1: a cell tagged 'prediction' with no 'exercise'")
    assert orphan.label == "Exercise (unnumbered): unnumbered"
    assert (headless.number, headless.answer) == ("", "the test set moved")
    assert headless.title == "What if the split changes? (heading deleted)" and "cell 2" in headless.problem
    assert seeds.answer == "first try\n\nsecond thoughts" and "a second cell tagged 'answer'" in seeds.problem
    assert answers_record([orphan, headless, seeds]) == {"exercises": 3, "answered": 2, "predicted": 1}


def test_an_unreadable_notebook_is_named(tmp_path):
    (tmp_path / "01_bad.ipynb").write_text("{not json")
    with pytest.raises(ExerciseError, match=r"^01_bad\.ipynb: cannot read the notebook"):
        collect([tmp_path / "01_bad.ipynb"])


def test_short_text_is_the_first_paragraph_cut_at_a_word():
    assert short_text("One line\nand its second line.\n\nThe change to make.") == "One line and its second line."
    long = "word " * 100
    cut = short_text(long, limit=30)
    assert len(cut) <= 30 and cut.endswith("…") and cut == "word word word word word word…"
    assert short_text("") == ""


def test_the_answers_section_shows_each_question_with_its_answers_and_marks_empty_ones(tmp_path):
    path = _write(
        tmp_path / "02_train.ipynb",
        _exercise("2.1", "A deeper model", "Does a fourth block help?"),
        _md(PREDICTION_PLACEHOLDER, PREDICTION_TAG),
        _md("**Your answer:** Yes: 0.101 against 0.104,\nbeyond the seed spread of 0.001.", ANSWER_TAG),
        _exercise("2.2", "Batch size", "What does a batch of 16 change?"),
        _md(PREDICTION_PLACEHOLDER, PREDICTION_TAG),
        _md(ANSWER_PLACEHOLDER, ANSWER_TAG),
    )
    text = answers_markdown(collect([path]))
    lines = text.splitlines()
    assert lines[0] == "## Your answers"
    assert lines[2] == "**1 of 2 exercises answered**, 0 with a prediction written before the run."
    assert "**Exercise 2.1: A deeper model** (`02_train`)" in lines
    assert "Question: Does a fourth block help?" in lines
    assert "> Yes: 0.101 against 0.104,\n> beyond the seed spread of 0.001." in text  # the student's words, quoted
    assert text.count(f"Prediction: {NOT_ANSWERED}") == 2 and text.count(f"Answer: {NOT_ANSWERED}") == 1
    assert "###" not in text  # bold lines, not headings: no anchors that repeat the exercise cells'
    assert "double-click" not in text  # placeholders never shown as answers
    assert "**1 of 1 exercise answered**" in answers_markdown(collect([path])[:1])


def test_the_answers_section_says_what_was_damaged(tmp_path):
    path = _write(tmp_path / "01_data.ipynb", _md("**Your answer:** lost exercise", ANSWER_TAG))
    text = answers_markdown(collect([path]))
    assert "**Exercise (unnumbered): unnumbered** (`01_data`)" in text
    assert ("_Damaged exercise cells: 01_data.ipynb, cell 1: a cell tagged 'answer' with no 'exercise' cell "
            "above it_") in text
    assert "> lost exercise" in text


def test_the_course_notebooks_exercise_cells_are_well_formed():
    """notebooks/01-05 as committed: every exercise cell parses strictly, and its prediction and
    answer cells hold the placeholders (a notebook is committed unanswered)."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    exercises = collect(paths, strict=True)
    if not exercises:
        pytest.skip("the notebooks have no exercise cells yet")
    assert answers_record(exercises)["answered"] == 0 and answers_record(exercises)["predicted"] == 0
    for path in paths:
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            tags = cell.get("metadata", {}).get("tags", [])
            source = "".join(cell["source"])
            if PREDICTION_TAG in tags:
                assert source.strip() == PREDICTION_PLACEHOLDER, f"{path.name}: a prediction cell is answered"
            if ANSWER_TAG in tags:
                assert source.strip() == ANSWER_PLACEHOLDER, f"{path.name}: an answer cell is answered"
