"""The synthetic Galaxy Zoo sky: layout, tree sums, determinism, bad arguments (learnability and the
gallery are measured in benchmarks/synth_quality.py: tests/test_benchmarks.py)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from galaxy_lib import tree
from galaxy_lib.cli import main as cli_main
from galaxy_lib.data.dataset import load_dataset
from galaxy_lib.errors import ConfigError, DataError
from galaxy_lib.synth import catalogue, morphology, sky


@pytest.fixture(scope="module")
def small_sky(tmp_path_factory):
    """40 labelled + 6 unlabelled galaxies, made in-process."""
    return sky.generate(tmp_path_factory.mktemp("sky") / "synthetic", n=40, seed=3, n_test=6, progress=False)


def test_layout_is_kaggle_and_readable_by_the_loader(small_sky):
    labels = pd.read_csv(small_sky / sky.LABELS_FILE)
    assert tuple(labels.columns) == tree.KAGGLE_COLUMNS
    assert len(labels) == 40 and labels[tree.ID_COLUMN].is_monotonic_increasing
    assert labels[tree.ID_COLUMN].between(100000, 999999).all()
    data = load_dataset(small_sky)
    assert len(data.ids) == 40 and data.unlabelled == 0
    np.testing.assert_allclose(data.labels, labels[list(tree.ANSWER_COLUMNS)].to_numpy(), atol=1e-6)
    image = cv2.imread(str(small_sky / sky.TRAIN_FOLDER / f"{data.ids[0]}.jpg"))
    assert image.shape == (424, 424, 3)
    assert (small_sky / sky.TRAIN_FOLDER / f"{data.ids[0]}.jpg").read_bytes()[:2] == b"\xff\xd8"  # JPEG
    test_ids = sorted(int(p.stem) for p in (small_sky / sky.TEST_FOLDER).glob("*.jpg"))
    assert len(test_ids) == 6 and not set(test_ids) & set(data.ids.tolist())
    assert not [p for p in small_sky.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_every_row_obeys_the_tree_sums(small_sky):
    labels = pd.read_csv(small_sky / sky.LABELS_FILE)[list(tree.ANSWER_COLUMNS)].to_numpy()
    assert tree.tree_violations(labels, tolerance=1e-5).empty
    truth = sky.read_truth(small_sky)
    probabilities = truth[[f"p_{c}" for c in tree.ANSWER_COLUMNS]].to_numpy()
    assert tree.tree_violations(probabilities, tolerance=1e-5).empty
    assert ((labels >= 0) & (labels <= 1)).all()


def test_truth_and_metadata_describe_the_set(small_sky):
    truth = sky.read_truth(small_sky)
    assert (truth["split"] == "train").sum() == 40 and (truth["split"] == "test").sum() == 6
    assert set(truth["kind"]) <= set(morphology.KINDS)
    meta = json.loads((small_sky / sky.METADATA_FILE).read_text())
    assert (meta["seed"], meta["n_train"], meta["n_test"]) == (3, 40, 6)
    with pytest.raises(DataError, match="truth.csv not found"):
        sky.read_truth(small_sky.parent)
    labels = pd.read_csv(small_sky / sky.LABELS_FILE)
    train = truth[truth["split"] == "train"].set_index(tree.ID_COLUMN).loc[labels[tree.ID_COLUMN]]
    diff = labels[list(tree.ANSWER_COLUMNS)].to_numpy() - train[[f"p_{c}" for c in tree.ANSWER_COLUMNS]].to_numpy()
    assert meta["noise_floor_rmse"] == pytest.approx(np.sqrt(np.mean(diff**2)), abs=2e-6)
    assert 0.01 < meta["noise_floor_rmse"] < 0.08


def test_same_seed_same_bytes_whatever_the_workers(tmp_path, small_sky):
    again = sky.generate(tmp_path / "again", n=40, seed=3, n_test=6, workers=2, progress=False)
    for name in (sky.LABELS_FILE, sky.TRUTH_FILE, sky.METADATA_FILE):
        assert (again / name).read_bytes() == (small_sky / name).read_bytes(), name
    for folder in (sky.TRAIN_FOLDER, sky.TEST_FOLDER):
        files = sorted((small_sky / folder).glob("*.jpg"))
        assert [p.name for p in files] == sorted(p.name for p in (again / folder).glob("*.jpg"))
        assert all((again / folder / p.name).read_bytes() == p.read_bytes() for p in files)
    other = sky.generate(tmp_path / "other", n=40, seed=4, progress=False)
    assert (other / sky.LABELS_FILE).read_bytes() != (small_sky / sky.LABELS_FILE).read_bytes()


def test_volunteers_follow_the_probabilities():
    """Many volunteers converge on the noise-free probabilities; few scatter around them."""
    rng = np.random.default_rng(0)
    morph = morphology.sample_morphology(rng)
    p = morphology.question_probabilities(morph)
    for s in tree.question_slices():
        assert p[s].sum() == pytest.approx(1.0)
    expected = tree.normalise_to_tree(p[None])[0]
    many = morphology.simulate_votes(p, 200_000, rng)
    np.testing.assert_allclose(many, expected, atol=5e-3)
    few = morphology.simulate_votes(p, 30, rng)
    assert tree.tree_violations(few[None], tolerance=1e-12).empty
    assert np.all(np.isclose(few * 30, np.round(few * 30)))  # whole votes


def test_visibility_makes_small_faint_galaxies_uncertain():
    big = morphology.visibility(re=40.0, brightness=80.0)
    small = morphology.visibility(re=5.0, brightness=5.0)
    assert big > 0.8 > 0.2 > small


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="positive"):
        sky.generate(tmp_path / "a", n=0)
    with pytest.raises(ConfigError, match="n_test"):
        sky.generate(tmp_path / "a", n=5, n_test=-1)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="overwrite"):
        sky.generate(busy, n=3, progress=False)
    with pytest.raises(DataError, match="not a folder"):
        sky.generate(busy / "keep.txt", n=3, progress=False)
    assert (busy / "keep.txt").read_text() == "mine"
    assert cli_main(["synth", "--n", "-2", "--out", str(tmp_path / "b")]) == 2
    assert cli_main(["synth", "--n", "3", "--out", str(busy)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli_main(["synth", "--n", "3", "--out", str(busy), "--overwrite"]) == 0
    assert not (busy / "keep.txt").exists() and len(list((busy / sky.TRAIN_FOLDER).iterdir())) == 3


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = sky.make_galaxy

    def failing(*args):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(catalogue, "make_galaxy", failing)
    with pytest.raises(KeyboardInterrupt):
        sky.generate(tmp_path / "sky", n=5, progress=False, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_ensure_synthetic_generates_only_when_missing(tmp_path, capsys):
    from galaxy_lib.config import Config

    config = Config(data=str(tmp_path / "sky"), synthetic=True, synthetic_n=4, synthetic_seed=7)
    root = sky.ensure_synthetic(config, progress=False)
    assert root == tmp_path / "sky" and len(pd.read_csv(root / sky.LABELS_FILE)) == 4
    assert f"generating the synthetic sky {root}: 4 galaxies (seed 7)" in capsys.readouterr().out  # visibly
    stamp = (root / sky.LABELS_FILE).stat().st_mtime_ns
    assert sky.ensure_synthetic(config.replace(synthetic_n=9), progress=False) == root
    assert (root / sky.LABELS_FILE).stat().st_mtime_ns == stamp  # existing data is kept
    assert capsys.readouterr().out == ""
    plain = Config(data=str(tmp_path / "absent"), synthetic=False)
    with pytest.raises(ConfigError, match="config key 'synthetic' is false"):  # someone's real data: never made
        sky.ensure_synthetic(plain)
    assert not (tmp_path / "absent").exists()


def test_synth_f_makes_the_sky_a_parameters_file_reads(tmp_path, monkeypatch, capsys):
    """``synth -f``: the entry point that generates a configuration's sky, visibly, and only when missing."""
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    (tmp_path / "tiny.yaml").write_text("data: data/tiny\nsynthetic: true\nsynthetic_n: 4\nsynthetic_seed: 3\n")
    (tmp_path / "real.yaml").write_text("data: data/kaggle\n")
    assert cli_main(["synth", "-f", str(tmp_path / "tiny.yaml"), "--set", "synthetic_test_n=1"]) == 0
    out = capsys.readouterr().out
    assert "generating the synthetic sky data/tiny: 4 galaxies (seed 3) and 1 unlabelled test images" in out
    assert out.rstrip().endswith("synthetic sky data/tiny is ready")
    assert len(load_dataset(tmp_path / "data" / "tiny")) == 4
    assert len(list((tmp_path / "data" / "tiny" / sky.TEST_FOLDER).iterdir())) == 1
    assert cli_main(["synth", "-f", str(tmp_path / "tiny.yaml")]) == 0  # there: kept, not generated again
    assert "generating" not in capsys.readouterr().out
    assert cli_main(["synth", "-f", str(tmp_path / "tiny.yaml"), "--n", "9", "--out", "x"]) == 2
    assert "--out, --n are for a sky without one" in capsys.readouterr().err
    assert cli_main(["synth", "-f", str(tmp_path / "real.yaml")]) == 2
    assert "names no synthetic sky" in capsys.readouterr().err
    assert cli_main(["synth"]) == 2
    assert "--out FOLDER is required" in capsys.readouterr().err
    assert not (tmp_path / "data" / "kaggle").exists() and not (tmp_path / "x").exists()
