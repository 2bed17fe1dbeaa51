"""Data-set views used by the first notebook."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_lib import tree
from galaxy_lib.data import dataset
from galaxy_lib.evaluation import gallery


def test_question_gallery_shows_the_top_galaxies_per_answer(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)
    fig = gallery.question_gallery(data.images, data.ids, data.labels, question=1, per_answer=2)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 2 * 3  # two rows, one column per Q1 answer
    j = tree.column_index("Class1.3")
    best = data.ids[np.argmax(data.labels[:, j])]
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert f"{best}: {data.labels[:, j].max():.2f}" in titles
    assert "Class1.3 star or artifact" in titles
    with pytest.raises(ValueError, match="question must be 1..11"):
        gallery.question_gallery(data.images, data.ids, data.labels, question=12)


def test_tree_sum_table_counts_violations():
    per_question = np.zeros((4, tree.N_ANSWERS))
    for s in tree.question_slices():
        per_question[:, s] = 1 / (s.stop - s.start)  # each question's answers sum to 1
    labels = tree.normalise_to_tree(per_question)  # consistent with the tree
    labels[2, tree.column_index("Class7.1")] += 0.05  # one galaxy breaks Q7 by 0.05
    table = gallery.tree_sum_table(labels, tolerance=0.01)
    assert table.loc["Q7", "rows > 0.01"] == 1
    assert table.loc["Q7", "worst deviation"] == pytest.approx(0.05)
    assert table.drop(index="Q7")["rows > 1e-4"].sum() == 0
    assert table.loc["Q8", "answers sum to"] == "Class6.1"


def test_answer_distributions_and_tree_table():
    labels = tree.normalise_to_tree(np.random.default_rng(0).dirichlet(np.ones(tree.N_ANSWERS), 50))
    fig = gallery.answer_distributions(labels)
    assert len(fig.axes[0].get_yticklabels()) == tree.N_ANSWERS
    with pytest.raises(ValueError, match="shape"):
        gallery.answer_distributions(labels[:, :5])
    table = gallery.decision_tree_table()
    assert list(table.index) == [f"Q{q.number}" for q in tree.QUESTIONS]
    assert table.loc["Q11", "columns"] == "Class11.1-11.6"


def test_as_jpeg_embeds_a_jpeg(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)
    image = gallery.as_jpeg(gallery.question_gallery(data.images, data.ids, data.labels, question=2, per_answer=1))
    assert image.data[:3] == b"\xff\xd8\xff" and image.format == "jpeg"


def test_question_gallery_draws_the_crops_it_names(kaggle_folder):
    """The first notebook says what a crop keeps and loses: the squares are drawn, centred, at their sizes."""
    from matplotlib.patches import Rectangle

    data = dataset.load_dataset(kaggle_folder)
    outlines = gallery.crop_outlines(207)
    assert outlines == {"this run's crop, 207 px": 207, f"the paper's crop, {gallery.PAPER_CROP} px": 128}
    assert gallery.crop_outlines(gallery.PAPER_CROP) == {"this run's crop, 128 px": 128}  # one square when equal
    fig = gallery.question_gallery(data.images, data.ids, data.labels, question=1, per_answer=1, outlines=outlines)
    image_axes = [ax for ax in fig.axes if ax.images]
    for ax in image_axes:
        assert ax.images[0].get_array().shape[:2] == (259, 259)  # the larger square with a margin around it
        squares = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert [(p.get_width(), p.get_xy()) for p in squares] == [(207, (25.5, 25.5)), (128, (65.0, 65.0))]
    assert "this run's crop, 207 px (solid); the paper's crop, 128 px (dashed)" in fig.texts[0].get_text()
    # the view never exceeds the image, and without outlines it is the default
    wide = gallery.question_gallery(data.images, data.ids, data.labels, question=1, per_answer=1,
                                    outlines=gallery.crop_outlines(400))
    assert next(ax for ax in wide.axes if ax.images).images[0].get_array().shape[:2] == (424, 424)
    plain = gallery.question_gallery(data.images, data.ids, data.labels, question=1, per_answer=1)
    assert next(ax for ax in plain.axes if ax.images).images[0].get_array().shape[:2] == (212, 212)
    with pytest.raises(ValueError, match="side must be 1..424"):
        gallery.question_gallery(data.images, data.ids, data.labels, question=1, outlines={"huge": 500})
