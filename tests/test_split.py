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
    config = load_config(None, {"val_fraction": 0.25, "test_fraction": 0.25, "split_seed": 3})
    path = tmp_path / "run" / "split.csv"
    first = split.split_for_config(data, config, path)
    assert path.is_file() and split.describe_split(first) == "train 6 / val 3 / test 3"
    reused = split.split_for_config(data, config.replace(split_seed=99, test_fraction=0.5), path)
    assert reused.equals(first)  # the saved split wins over a changed configuration
    fresh = split.split_for_config(data, config.replace(split_seed=99))
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


# --- split_seed: the split has a seed of its own --------------------------------------------------------


def _draw_before_split_seed(ids, config, root):
    """How ``split_for_config`` drew a new split before ``split_seed`` existed: ``seed`` chose the
    ``max_images`` subset and the validation and test galaxies."""
    pool = None
    if config.test_pool_file:
        pool = split.read_test_pool(root / config.test_pool_file, config.test_pool_subset)
    chosen = split.subsample_ids(ids, config.max_images, config.seed)
    return split.make_split(chosen, seed=config.seed, val_fraction=config.val_fraction,
                            test_fraction=config.test_fraction, test_pool=pool)


def _tiny_data(root, pool_subset=""):
    """A stand-in for a data set (``split_for_config`` reads only its ids and root), with a test pool
    file in which three in four galaxies carry ``pool_subset``."""
    from types import SimpleNamespace

    ids = np.arange(5000, 5200)
    if pool_subset:
        subsets = [pool_subset if i % 4 else "extra_selected" for i in range(len(ids))]
        pd.DataFrame({"GalaxyID": ids, "subset": subsets}).to_csv(root / "manifest.csv", index=False)
    return SimpleNamespace(ids=ids, root=root)


def test_runs_that_differ_only_in_seed_share_the_split(tmp_path):
    data = _tiny_data(tmp_path)
    base = load_config(None, {"val_fraction": 0.1, "test_fraction": 0.2, "max_images": 150, "split_seed": 4})
    first = split.split_for_config(data, base.replace(seed=0))
    for seed in (1, 7):
        other = split.split_for_config(data, base.replace(seed=seed))
        assert other.equals(first)  # the same galaxies in the subset, in validation and in test
    assert len(first) == 150 and split.describe_split(first) == "train 105 / val 15 / test 30"
    moved = split.split_for_config(data, base.replace(split_seed=5))
    for name in ("val", "test"):
        assert not np.array_equal(split.ids_of(moved, name), split.ids_of(first, name))
    assert not np.array_equal(np.sort(moved["GalaxyID"]), np.sort(first["GalaxyID"]))  # another subset too


def test_a_file_that_pinned_its_split_with_seed_gets_it_with_split_seed(tmp_path):
    """A parameters file written before ``split_seed`` (``seed: 3``, relying on it for the split, with
    a test pool and ``max_images``) draws exactly its old galaxies once it says ``split_seed: 3``;
    without it, the same seed now trains on the default split (``split_seed`` 0)."""
    data = _tiny_data(tmp_path, pool_subset="block")
    old_text = ("seed: 3\nmax_images: 160\nval_fraction: 0.1\ntest_fraction: 0.2\n"
                "test_pool_file: manifest.csv\ntest_pool_subset: block\n")
    (tmp_path / "old.yaml").write_text(old_text)
    (tmp_path / "pinned.yaml").write_text(old_text + "split_seed: 3\n")
    old = load_config(tmp_path / "old.yaml")
    before = _draw_before_split_seed(data.ids, old, tmp_path)
    pinned = load_config(tmp_path / "pinned.yaml")
    assert (pinned.seed, pinned.split_seed) == (3, 3)
    assert split.split_for_config(data, pinned).equals(before)
    assert not split.split_for_config(data, old).equals(before)
    assert split.split_for_config(data, old).equals(_draw_before_split_seed(data.ids, old.replace(seed=0), tmp_path))


def test_the_repository_parameters_files_split_as_before(repo_root, tmp_path):
    """Every parameters file draws the galaxies it drew when ``seed`` made the split: an ordinary
    file and a learning curve by their configuration, an ensemble by its first member's (which made
    the shared split), all on a stand-in data set with the file's fractions, pool and ``max_images``."""
    from galaxy_lib.model.ensemble import EnsembleConfig, load_parameters
    from galaxy_lib.parameters_file import COMPARE, CURVE, read
    from galaxy_lib.studies.curve_file import load_curve_file

    checked = 0
    for path in sorted((repo_root / "parameters").glob("*.yaml")):
        file = read(path)
        if file.kind == COMPARE:
            continue  # names finished runs: no split of its own
        if file.kind == CURVE:
            loaded = load_curve_file(file)
            configs = [loaded.curve.config] + ([loaded.validation.config] if loaded.validation else [])
        else:
            loaded = load_parameters(file)
            configs = [loaded.first] if isinstance(loaded, EnsembleConfig) else [loaded]
        for config in configs:
            root = tmp_path / f"{path.stem}-{checked}"
            root.mkdir()
            data = _tiny_data(root, pool_subset=config.test_pool_subset)
            before = _draw_before_split_seed(data.ids, config, root)
            assert split.split_for_config(data, config).equals(before), path.name
            checked += 1
    assert checked >= 10
