"""Splits: disjoint, seeded, saved and re-read, honouring a test pool and max_images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galaxy_lib.config import load_config
from galaxy_lib.data import dataset, split
from galaxy_lib.errors import DataError

IDS = np.arange(1000, 1200)


def test_split_is_disjoint_sized_and_complete():
    df = split.make_split(IDS, seed=0, val_fraction=0.1, test_fraction=0.2)
    assert df["GalaxyID"].tolist() == IDS.tolist()
    sets = {name: set(split.ids_of(df, name)) for name in split.SPLITS}
    assert [len(sets[n]) for n in split.SPLITS] == [140, 20, 40]
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    assert set().union(*sets.values()) == set(IDS.tolist())


def test_split_is_reproducible_and_seeded():
    a = split.make_split(IDS, seed=7, val_fraction=0.1, test_fraction=0.2)
    b = split.make_split(IDS[::-1].copy(), seed=7, val_fraction=0.1, test_fraction=0.2)  # order does not matter
    c = split.make_split(IDS, seed=8, val_fraction=0.1, test_fraction=0.2)
    assert a.equals(b)
    assert not a.equals(c)


def test_test_pool_keeps_everything_else_in_training():
    pool = IDS[IDS >= 1100]
    df = split.make_split(IDS, seed=0, val_fraction=0.1, test_fraction=0.2, test_pool=pool)
    held_out = np.concatenate([split.ids_of(df, "val"), split.ids_of(df, "test")])
    assert len(split.ids_of(df, "test")) == 40 and len(split.ids_of(df, "val")) == 20
    assert np.isin(held_out, pool).all()
    assert np.isin(IDS[IDS < 1100], split.ids_of(df, "train")).all()
    with pytest.raises(DataError, match="the test pool holds 30 of these 200 galaxies"):
        split.make_split(IDS, seed=0, val_fraction=0.1, test_fraction=0.2, test_pool=IDS[:30])


def test_bad_split_requests():
    with pytest.raises(DataError, match="GalaxyID 5 is listed more than once"):
        split.make_split([5, 5, 6], seed=0, val_fraction=0.1, test_fraction=0.1)
    with pytest.raises(DataError, match="empty"):
        split.make_split([], seed=0, val_fraction=0.1, test_fraction=0.1)
    with pytest.raises(ValueError, match="sum < 1"):
        split.make_split(IDS, seed=0, val_fraction=0.5, test_fraction=0.5)


def test_save_and_load_round_trip(tmp_path):
    df = split.make_split(IDS, seed=1, val_fraction=0.1, test_fraction=0.2)
    path = split.save_split(df, tmp_path / "split.csv")
    assert split.load_split(path).equals(df)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("GalaxyID,part\n1,train\n", "expected columns GalaxyID, split"),
        ("GalaxyID,split\n1,train\n2,holdout\n", r"line 3: split 'holdout' is not one of train, val, test"),
        ("GalaxyID,split\n1,train\n1,test\n", r"line 3: GalaxyID 1 appears more than once"),
        ("GalaxyID,split\nabc,train\n", r"line 2: 'abc' is not a GalaxyID"),
        ("", "not a valid split CSV"),
    ],
)
def test_load_split_rejects_bad_files(tmp_path, text, message):
    path = tmp_path / "split.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        split.load_split(path)


def test_load_split_that_is_not_text_is_a_data_error(tmp_path):
    path = tmp_path / "split.csv"
    path.write_bytes(b"GalaxyID,split\n\xff\xfe\x00,train\n")
    with pytest.raises(DataError, match=r"split.csv: not a valid split CSV \(.*can't decode"):
        split.load_split(path)


def test_load_split_missing_file(tmp_path):
    with pytest.raises(DataError, match="split file not found"):
        split.load_split(tmp_path / "nope.csv")


def test_split_for_config_saves_then_reuses(kaggle_folder, tmp_path):
    data = dataset.load_dataset(kaggle_folder)
    config = load_config(None, {"val_fraction": 0.25, "test_fraction": 0.25, "seed": 3})
    path = tmp_path / "run" / "split.csv"
    first = split.split_for_config(data, config, path)
    assert path.is_file() and split.describe_split(first) == "train 6 / val 3 / test 3"
    reused = split.split_for_config(data, config.replace(seed=99, test_fraction=0.5), path)
    assert reused.equals(first)  # the saved split wins over a changed configuration
    fresh = split.split_for_config(data, config.replace(seed=99))
    assert not fresh.equals(first)


def test_split_for_config_max_images_and_pool(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)
    pd.DataFrame({"GalaxyID": data.ids, "subset": ["pool"] * 8 + ["extra"] * 4}).to_csv(
        kaggle_folder / "manifest.csv", index=False
    )
    config = load_config(None, {"val_fraction": 0.25, "test_fraction": 0.25, "test_pool_file": "manifest.csv",
                                "test_pool_subset": "pool"})
    df = split.split_for_config(data, config)
    assert set(df.loc[df["GalaxyID"].isin(data.ids[8:]), "split"]) == {"train"}
    small = split.split_for_config(data, config.replace(max_images=8, test_pool_file="", test_pool_subset=""))
    assert len(small) == 8 and np.isin(small["GalaxyID"], data.ids).all()
    same = split.split_for_config(data, config.replace(max_images=8, test_pool_file="", test_pool_subset=""))
    assert small.equals(same)
    with pytest.raises(DataError, match="no rows with subset 'other'; subsets are extra, pool"):
        split.split_for_config(data, config.replace(test_pool_subset="other"))
    with pytest.raises(DataError, match="test pool file not found"):
        split.split_for_config(data, config.replace(test_pool_file="absent.csv"))


def test_reused_split_must_match_the_data(kaggle_folder, tmp_path):
    data = dataset.load_dataset(kaggle_folder)
    path = tmp_path / "split.csv"
    pd.DataFrame({"GalaxyID": [data.ids[0], 42], "split": ["train", "test"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="GalaxyID 42 is not in the data set"):
        split.split_for_config(data, load_config(), path)


def test_real_sample_pool_keeps_the_hand_picked_galaxies_in_training(real_sample):
    data = dataset.load_dataset(real_sample, progress=False)
    config = load_config(None, {"test_pool_file": "manifest.csv",
                                "test_pool_subset": "complete_id_block_945990_999967"})
    df = split.split_for_config(data, config)
    manifest = pd.read_csv(real_sample / "manifest.csv")
    extra = manifest.loc[manifest["subset"] == "extra_selected", "GalaxyID"]
    assert len(extra) == 399
    assert set(df.loc[df["GalaxyID"].isin(extra), "split"]) == {"train"}
    assert split.describe_split(df) == "train 2,379 / val 340 / test 680"
    assert (split.ids_of(df, "test") >= 945990).all()


def test_as_trained_counts_validation_galaxies_as_training_only_with_refit():
    table = split.make_split(np.arange(100), seed=1, val_fraction=0.2, test_fraction=0.2)
    assert split.as_trained(table, False) is table
    refit = split.as_trained(table, True)
    assert len(split.ids_of(refit, "val")) == 0
    assert split.ids_of(refit, "train").tolist() == sorted(
        split.ids_of(table, "train").tolist() + split.ids_of(table, "val").tolist())
    assert split.ids_of(refit, "test").tolist() == split.ids_of(table, "test").tolist()
    assert len(split.ids_of(table, "val")) == 20  # the original is left alone
