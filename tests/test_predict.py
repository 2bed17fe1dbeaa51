"""Predictions from a run: same preprocessing as training, TTA, and Kaggle submission files."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import write_kaggle_folder

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data import augment, dataset, pipeline
from galaxy_lib.model import predict, runs, train


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    data = write_kaggle_folder(root / "kaggle", n=16, seed=4)
    config = Config(
        data=str(data), crop=96, image_size=32, second_pool=2, epochs=1, batch_size=8, head="tree", loss="mse",
        val_fraction=0.25, test_fraction=0.25,
    )
    return train.train(config, root / "run", verbose=False), data


@pytest.mark.slow
def test_predictions_use_the_runs_preprocessing(run_and_data):
    run, data = run_and_data
    images = dataset.open_images(data)
    ids = images.ids()[::-1][:10]  # any order is kept
    got = predict.predict_galaxies(run, images, ids, batch_size=4)
    x = np.concatenate(list(pipeline.make_dataset(images, ids, crop=96, image_size=32, batch_size=16)))
    expected = runs.load_model(run).predict(x, verbose=0)
    assert got.shape == (10, 37)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert tree.tree_violations(got, tolerance=1e-5).empty


@pytest.mark.slow
def test_dihedral_tta_averages_the_views_and_is_rotation_invariant(run_and_data):
    run, data = run_and_data
    model = runs.load_model(run)
    x = np.random.default_rng(0).uniform(size=(3, 32, 32, 3)).astype("float32")
    averaged = predict.predict_function(model, augment.tta_views("dihedral"))
    by_hand = np.mean([model.predict(augment.dihedral_view(x, v).numpy(), verbose=0) for v in range(8)], axis=0)
    np.testing.assert_allclose(averaged(x).numpy(), by_hand, atol=1e-5)
    rotated = np.rot90(x, 1, axes=(1, 2)).copy()
    np.testing.assert_allclose(averaged(rotated).numpy(), averaged(x).numpy(), atol=1e-5)
    images = dataset.open_images(data)
    plain = predict.predict_galaxies(run, images, images.ids()[:4])
    flips = predict.predict_galaxies(run, images, images.ids()[:4], tta="flips")
    assert not np.allclose(plain, flips)


@pytest.mark.slow
def test_submission_csv_from_a_folder_and_a_zip(run_and_data, tmp_path):
    run, data = run_and_data
    folder = data / "images_training_rev1"
    out = predict.predict_to_csv(run, folder, tmp_path / "sub" / "predictions.csv", batch_size=5)
    df = pd.read_csv(out)
    assert list(df.columns) == list(tree.KAGGLE_COLUMNS)
    assert df[tree.ID_COLUMN].tolist() == sorted(int(p.stem) for p in folder.glob("*.jpg"))
    values = df[list(tree.ANSWER_COLUMNS)].to_numpy()
    assert values.min() >= 0 and values.max() <= 1
    expected = predict.predict_galaxies(run, dataset.open_images(folder), df[tree.ID_COLUMN].to_numpy())
    np.testing.assert_allclose(values, expected, atol=1e-6)
    archive = tmp_path / "images_test_rev1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.glob("*.jpg")):
            zf.write(p, f"images_test_rev1/{p.name}")
    from_zip = pd.read_csv(predict.predict_to_csv(run, archive, tmp_path / "zip.csv"))
    # Same galaxies and values; the two runs use different batch sizes (5 and 64), so float32
    # sums may differ in the last bit and round differently at the CSV's 6th decimal.
    pd.testing.assert_frame_equal(from_zip, df, check_exact=False, rtol=0, atol=2e-6)
    assert not list((tmp_path / "sub").glob(".*tmp"))  # no temporary file left behind


@pytest.mark.slow
def test_cli_predict_verb_and_clear_errors(run_and_data, tmp_path):
    from galaxy_lib import cli

    run, data = run_and_data
    test_images = tmp_path / "images_test_rev1"
    shutil.copytree(data / "images_training_rev1", test_images)
    assert cli.main(["predict", str(run), str(test_images), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 16
    assert cli.main(["predict", str(tmp_path / "nothing"), str(test_images), "--out", str(tmp_path / "q.csv")]) == 2
    assert not (tmp_path / "q.csv").exists()


def test_find_test_images_looks_in_the_data_folder_or_where_told(tmp_path, monkeypatch):
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    data = tmp_path / "data"
    data.mkdir()
    path, message = predict.find_test_images("data")
    assert path is None
    assert message == ("no unlabelled test images found (looked for data/images_test_rev1, "
                       "data/images_test_rev1.zip): no submission written")
    (data / "images_test_rev1.zip").write_bytes(b"")
    zipped = data / "images_test_rev1.zip"
    assert predict.find_test_images(data) == (zipped, "unlabelled test images: data/images_test_rev1.zip")
    (data / "images_test_rev1").mkdir()  # the folder comes first
    assert predict.find_test_images(data)[0] == data / "images_test_rev1"
    path, message = predict.find_test_images(data, "elsewhere/test.zip")  # explicit: only there, from the root
    assert path is None and "looked for elsewhere/test.zip)" in message
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "test.zip").write_bytes(b"")
    assert predict.find_test_images(data, "elsewhere/test.zip")[0] == tmp_path / "elsewhere" / "test.zip"


@pytest.mark.slow
def test_shift_tta_averages_every_view_at_every_shift(run_and_data):
    run, data = run_and_data
    model = runs.load_model(run)
    x = np.random.default_rng(1).uniform(size=(3, 32, 32, 3)).astype("float32")
    views, shifts = augment.tta_views("dihedral_shift"), augment.tta_shifts("dihedral_shift")
    averaged = predict.predict_function(model, views, shifts)
    by_hand = np.mean([model.predict(augment.dihedral_view(augment.shift_view(x, dx, dy), v).numpy(), verbose=0)
                       for dx, dy in shifts for v in views], axis=0)
    np.testing.assert_allclose(averaged(x).numpy(), by_hand, atol=1e-5)
    images = dataset.open_images(data)
    dihedral = predict.predict_galaxies(run, images, images.ids()[:4], tta="dihedral")
    shifted = predict.predict_galaxies(run, images, images.ids()[:4], tta="dihedral_shift")
    assert not np.allclose(dihedral, shifted)
    assert tree.tree_violations(shifted, tolerance=1e-5).empty
