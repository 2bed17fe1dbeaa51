"""Every figure renders to a readable PNG from small hand-made inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from galaxy_lib import tree
from galaxy_lib.evaluation import baselines, figures, metrics


@pytest.fixture(scope="module")
def arrays():
    y = _labels(120)
    p = np.clip(y + np.random.default_rng(1).normal(0, 0.1, y.shape), 0, 1)
    return y, p



def _labels(n: int, seed: int = 0) -> np.ndarray:
    return tree.random_vote_fractions(n, seed, concentration=0.5)


def check_png(path, min_width=300):
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not a readable image"
    height, width = image.shape[:2]
    assert min_width <= width <= 2500 and 150 <= height <= 2500, (width, height)
    assert image.std() > 5, "blank image"
    return width, height


def test_training_curves(tmp_path):
    history = pd.DataFrame(
        {"epoch": [1, 2, 3], "loss": [0.6, 0.5, 0.4], "val_loss": [0.6, 0.55, 0.5], "rmse": [0.2, 0.15, 0.12],
         "val_rmse": [0.2, 0.17, 0.16], "accuracy": [0.5, 0.6, 0.7], "val_accuracy": [0.5, 0.55, 0.6]}
    )
    fig = figures.training_curves(history)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2]
    check_png(figures.save_figure(fig, tmp_path / "curves.png"))
    with pytest.raises(ValueError, match="epoch"):
        figures.training_curves(pd.DataFrame({"step": [1]}))


@pytest.mark.slow  # over 2 s: left out of `make test-fast`
def test_roc_grid_and_auc_bars_mark_unmeasurable_answers(tmp_path, arrays):
    y, p = arrays
    result = metrics.evaluate_predictions(y, p, n_bootstrap=50, min_positives=20)
    unmeasurable = result.auc.loc[result.auc["auc"].isna(), "column"].tolist()
    assert unmeasurable, "fixture should include unmeasurable answers"
    grid = figures.roc_grid(result.roc, result.auc)
    titles = [ax.get_title() for ax in grid.axes if ax.get_visible()]
    assert len(titles) == 37
    assert sum("not measurable" in t for t in titles) == len(unmeasurable)
    assert sum("AUC " in t for t in titles) == 37 - len(unmeasurable)
    check_png(figures.save_figure(grid, tmp_path / "roc.png"), min_width=1000)

    bars = figures.auc_bars(result.auc)
    texts = [t.get_text() for t in bars.axes[0].texts]
    assert sum(t.startswith("not measurable") for t in texts) == len(unmeasurable)
    check_png(figures.save_figure(bars, tmp_path / "auc.png"))


def test_rmse_comparison_and_scatter(tmp_path, arrays):
    y, p = arrays
    preds = baselines.constant_predictions(y[:60], len(y))
    table = baselines.baseline_table(y, preds, models={"model": p})
    fig = figures.rmse_comparison(table)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "model" in labels and "Kaggle winner (private LB)" in labels
    check_png(figures.save_figure(fig, tmp_path / "rmse.png"))

    scatter = figures.prediction_scatter(y, p)
    assert len(scatter.axes) == len(tree.KEY_ANSWERS)
    assert "Class1.1" in scatter.axes[0].get_title()
    check_png(figures.save_figure(scatter, tmp_path / "scatter.png"))


class MemoryImages:
    def __init__(self, ids):
        rng = np.random.default_rng(0)
        self.data = {
            int(g): cv2.imencode(".jpg", rng.integers(0, 255, (424, 424, 3), dtype=np.uint8))[1].tobytes()
            for g in ids
        }

    def read_bytes(self, galaxy_id):
        return self.data[galaxy_id]


def test_gallery_shows_best_and_worst(tmp_path, arrays):
    y, p = arrays
    ids = np.arange(1000, 1000 + len(y))
    fig = figures.galaxy_gallery(MemoryImages(ids), ids, y, p, n=4)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    errors = metrics.rmse_per_galaxy(y, p)
    assert titles[0].startswith(f"best: {ids[np.argmin(errors)]}")
    assert titles[4].startswith(f"worst: {ids[np.argmax(errors)]}")
    assert all("\ntrue: " in t and "\npred: " in t for t in titles)
    best = int(np.argmin(errors))
    assert figures.describe_galaxy(y[best]).split(",")[0] in titles[0]
    check_png(figures.save_figure(fig, tmp_path / "gallery.png"))


def test_describe_galaxy_follows_the_main_path_of_the_tree():
    values = np.zeros(37)
    values[tree.column_index("Class1.2")] = 0.8  # features or disk
    values[tree.column_index("Class1.1")] = 0.2
    values[tree.column_index("Class2.2")] = 0.7  # not edge-on -> spiral question
    values[tree.column_index("Class2.1")] = 0.1
    values[tree.column_index("Class4.1")] = 0.5
    values[tree.column_index("Class4.2")] = 0.2
    assert figures.describe_galaxy(values) == "features or disk 0.80, edge-on: no 0.70, spiral: yes 0.50"
    smooth = np.zeros(37)
    smooth[tree.column_index("Class1.1")] = 0.9
    smooth[tree.column_index("Class7.3")] = 0.6
    assert figures.describe_galaxy(smooth) == "smooth 0.90, cigar-shaped 0.60"
    star = np.zeros(37)
    star[tree.column_index("Class1.3")] = 0.7
    assert figures.describe_galaxy(star) == "star or artifact 0.70"


def test_rmse_comparison_names_the_galaxies_of_each_kind_of_row(arrays):
    from galaxy_lib.evaluation import evaluate

    y, p = arrays
    table = baselines.baseline_table(y, baselines.constant_predictions(y[:60], len(y)), models={"model": p})
    table = evaluate.with_data_column(table, synthetic=True, n=len(y))
    title = figures.rmse_comparison(table).axes[0].get_title()
    assert f"model and baselines: synthetic sky: these {len(y):,} test galaxies" in title
    assert f"Kaggle rows: {evaluate.KAGGLE_DATA}" in title
    assert figures.rmse_comparison(table.drop(columns="measured on")).axes[0].get_title() == ""
