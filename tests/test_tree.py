import numpy as np
import pandas as pd
import pytest

from galaxy_lib import tree


def test_schema_shape():
    assert len(tree.QUESTIONS) == 11
    assert tree.N_ANSWERS == 37
    assert tree.ANSWER_COLUMNS[0] == "Class1.1" and tree.ANSWER_COLUMNS[-1] == "Class11.6"
    assert tree.column_index("Class8.2") == 19  # the paper's "label 19"
    assert [len(q.answers) for q in tree.QUESTIONS] == [3, 2, 2, 2, 4, 2, 3, 7, 3, 3, 6]
    assert tree.parent_indices()[7] == tree.column_index("Class6.1")
    with pytest.raises(ValueError, match="Class12.1"):
        tree.column_index("Class12.1")



def test_normalised_rows_obey_tree():
    labels = tree.random_vote_fractions(50)
    assert tree.tree_violations(labels, tolerance=1e-9).empty
    sums, expected = tree.question_sums(labels)
    np.testing.assert_allclose(sums, expected, atol=1e-12)


def test_violations_name_row_question_and_excess():
    labels = tree.random_vote_fractions(5)
    labels[3, tree.column_index("Class10.2")] += 0.2  # Q10 now sums past Class4.1
    v = tree.tree_violations(labels, tolerance=1e-3, ids=np.arange(100, 105))
    assert list(v["row"]) == [3] and list(v["question"]) == [10]
    assert list(v["GalaxyID"]) == [103]
    assert v["excess"].iloc[0] == pytest.approx(0.2)


def test_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        tree.question_sums(np.zeros((3, 36)))


def test_real_sample_obeys_tree(real_sample):
    df = pd.read_csv(real_sample / "training_solutions_rev1.csv")
    assert list(df.columns) == list(tree.KAGGLE_COLUMNS)
    assert len(df) == 3399
    v = tree.tree_violations(df[list(tree.ANSWER_COLUMNS)].to_numpy(), tolerance=1e-3)
    assert v.empty, v.head()


def test_key_and_main_answers_are_real_columns_in_kaggle_order():
    for answers in (tree.KEY_ANSWERS, tree.MAIN_ANSWERS):
        indices = [tree.column_index(column) for column in answers]
        assert indices == sorted(indices) and len(set(answers)) == len(answers)
    assert set(tree.KEY_ANSWERS) < set(tree.MAIN_ANSWERS)
    assert set(tree.QUESTIONS[0].columns) <= set(tree.MAIN_ANSWERS)  # all of Q1: a split must balance it
