"""What the notebooks say the student is looking at: generated from the configuration, the data folder
and the stored results, never typed (issue 28, item 6)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.errors import DataError
from galaxy_lib.kaggle import TRAINING_GALAXIES
from galaxy_lib.report import context

REPO = Path(__file__).resolve().parents[1]
STORED = REPO / "benchmarks" / "results"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty project root: relative data paths are read from it."""
    (tmp_path / "parameters").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    return tmp_path


def _synth_result(folder: Path, synthetic_gain: float, real_gain: float) -> Path:
    folder.mkdir(exist_ok=True)
    record = {"schema": 1, "name": context.SYNTH_RESULT, "benchmark": "bench_synth", "command": "python x",
              "date": "2026-12-01", "machine": {}, "setup": {}, "provenance": "measured by the command above",
              "figures": {"learnability": {"ridge_gain": synthetic_gain}, "real_ridge": {"ridge_gain": real_gain}}}
    (folder / f"{context.SYNTH_RESULT}.json").write_text(json.dumps(record))
    return folder


def test_the_synthetic_sky_is_named_with_the_stored_comparison_and_its_own_noise_floor(project):
    sky = project / "data" / "sky"
    sky.mkdir(parents=True)
    (sky / "metadata.json").write_text(json.dumps({"generator": context.GENERATOR, "noise_floor_rmse": 0.0412,
                                                   "volunteers_per_galaxy": [30, 65]}))
    results = _synth_result(project / "results", 0.25, 0.05)
    note = context.data_note(Config(data="data/sky", synthetic=True), 1234, results=results)
    assert note.startswith("**You are looking at a synthetic sky, not at real galaxies.** `data/sky` holds 1,234 ")
    assert "25.0% better than the training-mean predictor on this kind of sky, but only 5.0% better" in note
    assert "`results/synth-n2000-seed0.json`" in note
    assert "30 to 65 simulated volunteers" in note and "an RMSE of 0.0412 (the noise floor" in note
    assert "truth.csv" in note and note._repr_markdown_() == str(note)
    # the figures follow the stored file
    _synth_result(results, 0.30, 0.10)
    assert "30.0% better" in context.data_note(Config(data="data/sky", synthetic=True), results=results)


def test_a_missing_comparison_or_floor_is_said_not_invented(project):
    note = context.data_note(Config(data="data/none", synthetic=True), results=project / "nowhere")
    assert "which is not available here" in note and "not measured for this folder yet" in note
    assert not re.search(r"\d\.\d{4}|\d%", note)  # no figure at all


def test_a_malformed_comparison_is_an_error_not_a_missing_one(project):
    """Missing is a state of the checkout; a broken result file is a mistake in the project (issue 30)."""
    from galaxy_lib.results import ResultError

    results = _synth_result(project / "results", 0.25, 0.05)
    (results / f"{context.SYNTH_RESULT}.json").write_text("{not json")
    with pytest.raises(ResultError, match=f"{context.SYNTH_RESULT}.json: not valid JSON"):
        context.data_note(Config(data="data/sky", synthetic=True), results=results)


def test_real_data_is_named_real_and_a_generated_folder_is_synthetic_whatever_the_flag_says(project):
    real = project / "data" / "kaggle"
    real.mkdir(parents=True)
    note = context.data_note(Config(data="data/kaggle"), 61)
    assert note.startswith("**You are looking at real galaxies.** `data/kaggle` holds 61 galaxies")
    assert "synthetic" not in note
    (real / "metadata.json").write_text(json.dumps({"generator": context.GENERATOR}))
    assert context.is_synthetic(Config(data="data/kaggle"))  # a generated sky named as plain data
    assert context.data_note(Config(data="data/kaggle")).startswith("**You are looking at a synthetic sky")


def test_the_stored_comparison_fills_todays_text():
    note = context.data_note(Config(data="data/synthetic", synthetic=True), results=STORED)
    record = json.loads((STORED / f"{context.SYNTH_RESULT}.json").read_text())["figures"]
    assert f"{record['learnability']['ridge_gain']:.1%} better" in note
    assert f"only {record['real_ridge']['ridge_gain']:.1%} better on real Galaxy Zoo galaxies" in note


def test_noise_floor_on_the_run_galaxies_comes_from_truth_csv(project):
    sky = project / "data" / "sky"
    sky.mkdir(parents=True)
    rng = np.random.default_rng(0)
    ids = np.array([5, 7, 9, 11])
    truth = rng.random((4, tree.N_ANSWERS))
    frame = pd.DataFrame(truth, columns=[f"p_{c}" for c in tree.ANSWER_COLUMNS])
    frame.insert(0, tree.ID_COLUMN, ids)
    frame.insert(1, "split", 0)
    frame.to_csv(sky / "truth.csv", index=False)
    votes = np.clip(truth + rng.normal(0, 0.05, truth.shape), 0, 1)
    config = Config(data="data/sky", synthetic=True)
    order = [2, 0, 3]  # any subset, in the run's own order
    expected = np.sqrt(np.mean((votes[order] - truth[order]) ** 2))
    assert context.noise_floor(config, ids[order], votes[order]) == pytest.approx(expected)
    assert context.noise_floor(Config(data="data/sky"), ids, votes) is None  # real data: no floor
    assert context.noise_floor(Config(data="data/other", synthetic=True), ids, votes) is None  # no truth.csv
    with pytest.raises(DataError, match=r"truth\.csv: has no row for GalaxyID 99"):
        context.noise_floor(config, [5, 99], votes[:2])


def test_the_kaggle_ratio_is_computed_from_the_run_count():
    note = context.kaggle_note(1400, synthetic=True)
    assert f"{TRAINING_GALAXIES:,} real galaxies, {TRAINING_GALAXIES / 1400:.0f} times the 1,400 synthetic" in note
    assert "not a score to rank against" in note
    real = context.kaggle_note(2447, synthetic=False)
    assert f"{TRAINING_GALAXIES / 2447:.0f} times the 2,447 real galaxies" in real and "rank" not in real
    with pytest.raises(ValueError, match="positive"):
        context.kaggle_note(0, synthetic=False)


@pytest.mark.parametrize(("train", "held", "says"), [
    (0.0935, 0.0901, "is *higher* than the held-out test RMSE 0.0901 (by 0.0034): here it does not flatter"),
    (0.0984, 0.1007, "is lower than the held-out test RMSE 0.1007 (by 0.0023): here it flatters"),
])
def test_the_paper_view_sentence_follows_the_numbers(train, held, says):
    metrics = {"train_rmse_last_epoch": train, "test_rmse": held, "evaluated_split": "test"}
    config = Config(augment=True, augment_shift=4, tta="dihedral")
    note = context.paper_view_note(metrics, config)
    assert says in note
    assert "random rotations, flips and shifts" in note and "`tta: dihedral`" in note
    plain = context.paper_view_note(metrics, Config())
    assert "rotations" not in plain and "tta" not in plain
    assert "no single training log" in context.paper_view_note({"train_rmse_last_epoch": None, "test_rmse": held})
