"""Metrics against hand computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from galaxy_lib import tree
from galaxy_lib.evaluation import metrics


def _labels(n: int, seed: int = 0) -> np.ndarray:
    return tree.random_vote_fractions(n, seed, concentration=0.5)


def noisy(y: np.ndarray, scale: float, seed: int = 1) -> np.ndarray:
    return np.clip(y + np.random.default_rng(seed).normal(0, scale, y.shape), 0, 1)


# --- RMSE ------------------------------------------------------------------------------------


def test_rmse_by_hand():
    y = np.zeros((2, 37))
    p = np.zeros((2, 37))
    p[0, 0] = 0.37 * 2  # one error of 0.74 over 74 cells: mse = 0.74**2 / 74
    assert metrics.rmse(y, p) == pytest.approx(np.sqrt(0.74**2 / 74))
    per_answer = metrics.rmse_per_answer(y, p)
    assert per_answer["Class1.1"] == pytest.approx(np.sqrt(0.74**2 / 2))
    assert per_answer.drop("Class1.1").eq(0).all()
    per_question = metrics.rmse_per_question(y, p)
    assert list(per_question.index) == [f"Q{i}" for i in range(1, 12)]
    assert per_question["Q1"] == pytest.approx(np.sqrt(0.74**2 / 6))  # 2 galaxies x 3 answers
    assert per_question.drop("Q1").eq(0).all()


def test_per_question_rmse_recombines_to_total():
    y = _labels(50)
    p = noisy(y, 0.1)
    sizes = np.array([len(q.answers) for q in tree.QUESTIONS])
    recombined = np.sqrt((metrics.rmse_per_question(y, p).to_numpy() ** 2 * sizes).sum() / 37)
    assert recombined == pytest.approx(metrics.rmse(y, p))
    assert metrics.rmse_per_galaxy(y, p).shape == (50,)


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="shape"):
        metrics.rmse(np.zeros((3, 36)), np.zeros((3, 36)))
    with pytest.raises(ValueError, match="rows"):
        metrics.rmse(np.zeros((3, 37)), np.zeros((4, 37)))
    bad = np.zeros((3, 37))
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match="row 2"):
        metrics.rmse(np.zeros((3, 37)), bad)


# --- accuracy -------------------------------------------------------------------------------


def test_paper_accuracy_is_argmax_over_all_37():
    y = np.zeros((3, 37))
    p = np.zeros((3, 37))
    y[0, 0], p[0, 0] = 0.9, 0.8  # right
    y[1, 3], p[1, 4] = 0.9, 0.8  # wrong
    y[2, 36], p[2, 36], p[2, 0] = 0.9, 0.5, 0.6  # wrong: another column is larger
    assert metrics.paper_accuracy(y, p) == pytest.approx(1 / 3)


def test_question_accuracy_counts_only_reached_galaxies():
    y = np.zeros((4, 37))
    p = np.zeros((4, 37))
    q2 = tree.question_slices()[1]  # Class2.1, Class2.2; parent Class1.2 (index 1)
    # galaxies 0 and 1 reached Q2 (Class1.2 >= 0.5); 2 and 3 did not
    y[:, 1] = [0.8, 0.5, 0.2, 0.0]
    y[0, q2] = [0.6, 0.2]
    p[0, q2] = [0.7, 0.1]  # right
    y[1, q2] = [0.1, 0.4]
    p[1, q2] = [0.3, 0.2]  # wrong
    y[2, q2] = [0.2, 0.0]
    p[2, q2] = [0.0, 0.2]  # wrong, but not counted
    table = metrics.question_accuracy(y, p).set_index("question")
    assert table.loc["Q2", "reached"] == 2
    assert table.loc["Q2", "accuracy"] == pytest.approx(0.5)
    assert table.loc["Q1", "reached"] == 4  # asked of every galaxy
    assert table.loc["Q6", "reached"] == 4
    assert table.loc["Q3", "reached"] == 0  # Class2.2 is below 0.5 everywhere
    assert np.isnan(table.loc["Q3", "accuracy"])


# --- AUC ------------------------------------------------------------------------------------


def test_auc_equals_sklearn_where_measurable_and_is_withheld_below_threshold():
    y = _labels(400, seed=3)
    p = noisy(y, 0.15, seed=4)
    table = metrics.auc_table(y, p, min_positives=20, n_bootstrap=200, seed=0)
    positives = (y > 0.5).sum(axis=0)
    assert list(table["column"]) == list(tree.ANSWER_COLUMNS)
    assert (table["positives"].to_numpy() == positives).all()
    assert (table["negatives"].to_numpy() == 400 - positives).all()
    measurable = positives >= 20
    assert measurable.any() and (~measurable).any(), "fixture should have both kinds of answers"
    for j in np.flatnonzero(measurable):
        assert table.loc[j, "auc"] == pytest.approx(roc_auc_score(y[:, j] > 0.5, p[:, j]))
        assert table.loc[j, "note"] == ""
    for j in np.flatnonzero(~measurable):
        assert np.isnan(table.loc[j, "auc"])
        assert table.loc[j, "note"].startswith(f"not measurable ({positives[j]} positive")


def test_single_positive_answer_is_not_measurable():
    """The paper's label-19 case: an AUC from one positive galaxy is withheld."""
    y = _labels(200, seed=5)
    y[:, 19] = 0.0
    y[7, 19] = 0.9
    table = metrics.auc_table(y, noisy(y, 0.1), n_bootstrap=0)
    row = table.set_index("column").loc["Class8.2"]
    assert np.isnan(row["auc"]) and row["positives"] == 1
    assert row["note"] == "not measurable (1 positive)"
    # ... but a threshold of 1 measures it
    table1 = metrics.auc_table(y, noisy(y, 0.1), n_bootstrap=0, min_positives=1)
    assert np.isfinite(table1.set_index("column").loc["Class8.2", "auc"])


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    y = _labels(300, seed=6)
    p = noisy(y, 0.2, seed=7)
    a = metrics.auc_table(y, p, n_bootstrap=300, seed=11)
    b = metrics.auc_table(y, p, n_bootstrap=300, seed=11)
    c = metrics.auc_table(y, p, n_bootstrap=300, seed=12)
    ok = a["auc"].notna()
    assert ok.sum() >= 3
    assert (a.loc[ok, "low"] <= a.loc[ok, "auc"]).all() and (a.loc[ok, "auc"] <= a.loc[ok, "high"]).all()
    assert (a.loc[ok, "high"] - a.loc[ok, "low"] > 0).all()
    assert a[["low", "high"]].equals(b[["low", "high"]])
    assert not a.loc[ok, ["low", "high"]].equals(c.loc[ok, ["low", "high"]])
    assert a.loc[~ok, ["low", "high"]].isna().all().all()


def test_weighted_auc_matches_sklearn_with_sample_weights_and_ties():
    """The vectorised bootstrap scores a resample as integer weights; check that algebra."""
    rng = np.random.default_rng(0)
    positive = rng.random(300) < 0.3
    scores = np.round(rng.random(300) + 0.3 * positive, 1)  # many ties
    weights = rng.integers(0, 4, size=(5, 300))
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    got = metrics.weighted_auc(order, starts, positive, weights)
    for row, w in zip(got, weights, strict=True):
        assert row == pytest.approx(roc_auc_score(positive, scores, sample_weight=w))


def test_bootstrap_interval_matches_a_plain_loop():
    """Same seeded resamples drawn one by one and scored by scikit-learn give the same interval."""
    rng = np.random.default_rng(2)
    positive = (rng.random((120, 2)) < 0.4)
    scores = rng.random((120, 2)) + 0.4 * positive
    bounds = metrics.bootstrap_auc(positive, scores, n_bootstrap=50, seed=3, chunk=7)
    # replay the resamples: counts come from the same generator in the same chunk order
    gen = np.random.default_rng(3)
    aucs = []
    for start in range(0, 50, 7):
        counts = metrics.bootstrap_counts(gen, min(7, 50 - start), 120)
        for c in counts:
            aucs.append([roc_auc_score(positive[:, j], scores[:, j], sample_weight=c) for j in range(2)])
    expected = np.percentile(np.array(aucs), [2.5, 97.5], axis=0).T
    assert np.allclose(bounds, expected)


def test_roc_curves_for_every_answer_with_both_classes():
    y = _labels(100, seed=8)
    y[:, 36] = 0.0  # no positives: undefined curve
    curves = metrics.roc_curves(y, noisy(y, 0.1))
    assert set(curves) == set(tree.ANSWER_COLUMNS)
    assert curves["Class11.6"] is None
    some = next(c for c in curves.values() if c is not None)
    assert list(some.columns) == ["fpr", "tpr", "threshold"]
    assert some["fpr"].iloc[0] == 0 and some["tpr"].iloc[-1] == 1


def test_evaluate_predictions_bundles_everything():
    y = _labels(150, seed=9)
    p = noisy(y, 0.05)
    result = metrics.evaluate_predictions(y, p, n_bootstrap=50)
    assert result.n == 150
    assert result.rmse == pytest.approx(metrics.rmse(y, p))
    assert result.accuracy == pytest.approx(metrics.paper_accuracy(y, p))
    assert len(result.auc) == 37 and len(result.roc) == 37
    summary = result.summary()
    assert summary["auc_measurable"] == int(result.auc["auc"].notna().sum())
    assert 0.5 < summary["auc_mean"] <= 1.0


def test_rmse_gain_is_paired_and_says_whether_it_is_more_than_chance():
    rng = np.random.default_rng(3)
    y = rng.random((300, 37))
    mean = y[:150].mean(axis=0)
    good = np.clip(y + rng.normal(0, 0.05, y.shape), 0, 1)
    gain = metrics.rmse_gain(y, good, mean, n_bootstrap=200, seed=0)
    assert gain.gain == pytest.approx(metrics.rmse(y, np.tile(mean, (300, 1))) - metrics.rmse(y, good))
    assert 0 < gain.low < gain.gain < gain.high
    assert "more than chance" in gain.summary() and gain.summary().startswith("The model ")
    assert gain == metrics.rmse_gain(y, good, mean, n_bootstrap=200, seed=0)  # seeded
    # a model as good as the mean on average: a third more squared error on half the galaxies, a third
    # less on the other half; the interval straddles zero
    factor = np.sqrt(1 + 0.3 * np.repeat([1.0, -1.0], 150))[rng.permutation(300)]
    same = metrics.rmse_gain(y, y + factor[:, None] * (mean - y), mean, n_bootstrap=200)
    assert same.low < 0 < same.high and "not more than chance" in same.summary()
    # pairing: a model whose error is half the mean's on every galaxy gains half the mean's RMSE on every
    # resample, so its interval is half as wide as the mean's own RMSE interval (unpaired: wider than it)
    halfway = metrics.rmse_gain(y, y + 0.5 * (mean - y), mean, n_bootstrap=400, seed=1)
    squared = ((y - mean) ** 2).mean(axis=1)
    draws = np.sqrt(squared[np.random.default_rng(2).integers(0, 300, (400, 300))].mean(axis=1))
    low, high = np.percentile(draws, [2.5, 97.5])
    assert halfway.high - halfway.low < 0.7 * (high - low)
    assert np.isnan(metrics.rmse_gain(y, good, mean, n_bootstrap=0).low)
    with pytest.raises(ValueError, match="confidence"):
        metrics.rmse_gain(y, good, mean, confidence=1.5)


def test_rmse_interval_brackets_the_rmse_and_is_the_same_for_the_same_seed():
    from galaxy_lib.evaluation.metrics import rmse, rmse_interval

    rng = np.random.default_rng(0)
    y_true = rng.random((300, 37))
    y_pred = np.clip(y_true + rng.normal(0, 0.1, y_true.shape), 0, 1)
    low, high = rmse_interval(y_true, y_pred, n_bootstrap=200, seed=3)
    assert low < rmse(y_true, y_pred) < high and high - low < 0.01
    assert (low, high) == rmse_interval(y_true, y_pred, n_bootstrap=200, seed=3)
    assert all(np.isnan(v) for v in rmse_interval(y_true[:1], y_pred[:1]))
