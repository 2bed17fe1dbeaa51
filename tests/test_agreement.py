"""Error against volunteer agreement: the measures on hand-made vote rows, the binning, the figure."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from matplotlib.figure import Figure

from galaxy_lib import tree
from galaxy_lib.evaluation import agreement, figures


def _rows(*q1: tuple[float, float, float]) -> np.ndarray:
    """Tree-consistent label rows with the given Q1 fractions (the other questions random)."""
    rng = np.random.default_rng(3)
    per_question = np.zeros((len(q1), tree.N_ANSWERS))
    for s in tree.question_slices():
        per_question[:, s] = rng.dirichlet(np.ones(s.stop - s.start), size=len(q1))
    per_question[:, :3] = np.array(q1, dtype=float)
    return tree.normalise_to_tree(per_question)


def check_png(path) -> None:
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] >= 800 and image.std() > 5, path


def test_entropy_is_zero_when_unanimous_and_one_for_an_even_split():
    y = _rows((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (1 / 3, 1 / 3, 1 / 3), (0.5, 0.5, 0.0))
    assert tree.tree_violations(y).empty
    entropy = agreement.question_entropy(y)
    np.testing.assert_allclose(entropy[:3], [0.0, 0.0, 1.0], atol=1e-12)
    assert entropy[3] == pytest.approx(np.log(2) / np.log(3))  # two answers of three, evenly
    np.testing.assert_allclose(agreement.top_answer_fraction(y), [1.0, 1.0, 1 / 3, 0.5])


def test_a_deeper_question_is_renormalised_by_the_share_who_reached_it():
    # Q2 (edge-on) is asked of the 'features or disk' voters: 0.3 of them, split 0.15 / 0.15
    y = _rows((0.7, 0.3, 0.0), (1.0, 0.0, 0.0))
    y[:, tree.question_slices()[1]] = [[0.15, 0.15], [0.0, 0.0]]
    entropy = agreement.question_entropy(y, question=2)
    assert entropy[0] == pytest.approx(1.0)
    assert np.isnan(entropy[1])  # nobody reached Q2: no agreement to speak of
    assert agreement.top_answer_fraction(y, question=2)[0] == pytest.approx(0.5)


def test_bad_measure_and_question_are_clear_errors():
    y = _rows((1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="measure 'votes' is not one of entropy, top_fraction"):
        agreement.agreement_values(y, "votes")
    with pytest.raises(ValueError, match="question must be 1..11, got 12"):
        agreement.question_entropy(y, question=12)
    with pytest.raises(ValueError, match=r"expected shape \(n, 37\)"):
        agreement.question_entropy(np.zeros((2, 3)))


def test_bins_hold_equal_counts_and_the_shares_add_up():
    values = np.arange(100, dtype=float)
    squared = np.where(values >= 80, 4.0, 1.0)  # the top fifth has four times the squared error
    table = agreement.binned_rmse(values, squared, bins=5, n_bootstrap=200)
    assert table["galaxies"].tolist() == [20] * 5
    assert table["share of galaxies"].sum() == pytest.approx(1.0)
    assert table["share of squared error"].sum() == pytest.approx(1.0)
    assert table["share of squared error"].iloc[-1] == pytest.approx(80 / 160)  # 20*4 of 80*1 + 20*4
    np.testing.assert_allclose(table["rmse"], [1, 1, 1, 1, 2])
    assert table[["from", "to"]].iloc[0].tolist() == [0, 19] and table[["from", "to"]].iloc[-1].tolist() == [80, 99]
    assert (table["low"] <= table["rmse"]).all() and (table["rmse"] <= table["high"]).all()


def test_tied_values_never_straddle_a_bin_edge_and_nan_is_left_out():
    values = np.r_[np.zeros(60), np.linspace(0.1, 1, 40), np.nan]  # 60 unanimous galaxies
    table = agreement.binned_rmse(values, np.ones(101), bins=5, n_bootstrap=0)
    assert table["galaxies"].sum() == 100
    assert table["galaxies"].iloc[0] == 60 and table["to"].iloc[0] == 0.0  # all zeros in one bin
    assert table["from"].iloc[1] > 0
    assert table["low"].isna().all()  # no bootstrap asked for


def test_error_by_agreement_ranks_noisy_labels_as_harder():
    rng = np.random.default_rng(0)
    q1 = rng.dirichlet([0.5, 0.5, 0.5], size=300)
    y = _rows(*map(tuple, q1))
    result_noise = agreement.question_entropy(y)
    # a model whose error grows with the volunteers' disagreement
    p = np.clip(y + rng.normal(0, 0.02 + 0.2 * result_noise[:, None], y.shape), 0, 1)
    result = agreement.error_by_agreement(y, p, bins=4, n_bootstrap=100)
    assert result.spearman > 0.5
    assert result.table["rmse"].is_monotonic_increasing
    assert result.table["share of squared error"].iloc[-1] > 0.4  # the top quarter holds far more than a quarter
    text = result.summary()
    assert "disagreed on most" in text and "carry" in text and f"{result.spearman:+.2f}" in text
    flipped = agreement.error_by_agreement(y, p, measure="top_fraction", bins=4, n_bootstrap=0)
    assert flipped.spearman < -0.5  # agreement, not disagreement: the sign turns
    assert "disagreed on most" in flipped.summary()


@pytest.mark.parametrize("n", [120, 800], ids=["scatter", "hexbin"])
def test_error_vs_agreement_figure_writes_a_png(tmp_path, n):
    rng = np.random.default_rng(n)
    y = _rows(*map(tuple, rng.dirichlet([0.5, 0.5, 0.5], size=n)))
    p = np.clip(y + rng.normal(0, 0.05, y.shape), 0, 1)
    result = agreement.error_by_agreement(y, p, n_bootstrap=50)
    fig = result.figure()
    assert isinstance(fig, Figure)
    assert "rank correlation" in fig.axes[0].get_title()
    assert len(fig.axes[1].patches) == len(result.table)  # one bar per bin
    check_png(figures.save_figure(fig, tmp_path / "agreement.png"))
