"""Data layer: Kaggle layout from folders and zips, and one clear error per kind of bad input."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from galaxy_lib import tree
from galaxy_lib.data import dataset
from galaxy_lib.errors import DataError

CSV = "training_solutions_rev1.csv"
IMAGES = "images_training_rev1"


def _csv(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / CSV, dtype=str, keep_default_na=False)


def _write_csv(root: Path, df: pd.DataFrame) -> None:
    df.to_csv(root / CSV, index=False)


def _zip_folder(root: Path, out: Path) -> Path:
    """The Kaggle downloads: images_training_rev1.zip (with its folder) + training_solutions_rev1.zip."""
    out.mkdir(parents=True)
    with zipfile.ZipFile(out / f"{IMAGES}.zip", "w") as archive:
        for jpg in sorted((root / IMAGES).iterdir()):
            archive.write(jpg, f"{IMAGES}/{jpg.name}")
    with zipfile.ZipFile(out / "training_solutions_rev1.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(root / CSV, CSV)
    return out


# --------------------------------------------------------------------------- real data


def test_real_sample_loads_every_galaxy(real_sample):
    data = dataset.load_dataset(real_sample, progress=False)
    frame = pd.read_csv(real_sample / CSV)
    jpgs = list((real_sample / IMAGES).glob("*.jpg"))
    assert len(data) == len(frame) == len(jpgs) == 3399
    assert data.unlabelled == 0 and data.skipped == [] and data.resized == 0
    assert np.array_equal(data.ids, np.sort(frame["GalaxyID"].to_numpy()))
    row = frame.set_index("GalaxyID").loc[data.ids[17], list(tree.ANSWER_COLUMNS)].to_numpy(dtype=np.float32)
    assert np.array_equal(data.labels[17], row)
    assert data.images.kind == "folder"


def test_real_sample_tree_sums_hold_on_every_row(real_sample):
    _, ids, labels = dataset.read_labels(real_sample, tree_tolerance=0.01)
    assert len(ids) == 3399
    violations = tree.tree_violations(labels, tolerance=1e-4)
    assert violations.empty, violations.head()


def test_real_sample_summary(real_sample):
    summary = dataset.check_data(real_sample)
    assert "3,399 labelled" in summary
    smooth_mean = pd.read_csv(real_sample / CSV)["Class1.1"].mean()
    assert f"{smooth_mean:.4f}" in summary


# --------------------------------------------------------------------------- layouts


def test_folder_zips_and_single_zip_give_the_same_data(kaggle_folder, tmp_path):
    folder = dataset.load_dataset(kaggle_folder)
    zipped = dataset.load_dataset(_zip_folder(kaggle_folder, tmp_path / "zips"))
    single = tmp_path / "whole.zip"
    with zipfile.ZipFile(single, "w") as archive:
        for path in sorted(kaggle_folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"kaggle/{path.relative_to(kaggle_folder)}")
    whole = dataset.load_dataset(single)
    assert zipped.images.kind == whole.images.kind == "zip"
    for other in (zipped, whole):
        assert np.array_equal(folder.ids, other.ids)
        assert np.array_equal(folder.labels, other.labels)
        for gid in folder.ids:
            assert folder.images.read_bytes(gid) == other.images.read_bytes(gid)
    assert zipped.images.file_path(folder.ids[0]) is None
    assert zipped.images.describe(folder.ids[0]).endswith(f"{IMAGES}.zip:{IMAGES}/{folder.ids[0]}.jpg")


def test_labels_from_csv_zip(kaggle_folder):
    with zipfile.ZipFile(kaggle_folder / f"{CSV}.zip", "w") as archive:
        archive.write(kaggle_folder / CSV, CSV)
    expected = dataset.load_dataset(kaggle_folder).labels
    (kaggle_folder / CSV).unlink()
    data = dataset.load_dataset(kaggle_folder)
    assert data.label_file.endswith(f"{CSV}.zip:{CSV}")
    assert np.array_equal(data.labels, expected)


def test_open_images_folder_zip_and_root(kaggle_folder, tmp_path):
    ids = dataset.load_dataset(kaggle_folder).ids
    assert np.array_equal(dataset.open_images(kaggle_folder / IMAGES).ids(), ids)
    assert np.array_equal(dataset.open_images(kaggle_folder).ids(), ids)  # root with training images only
    test = kaggle_folder / "images_test_rev1"
    test.mkdir()
    shutil.copy(kaggle_folder / IMAGES / f"{ids[0]}.jpg", test / "555.jpg")
    assert dataset.open_images(kaggle_folder).ids().tolist() == [555]  # test images preferred
    assert np.array_equal(dataset.open_images(kaggle_folder, subset=IMAGES).ids(), ids)
    zipped = _zip_folder(kaggle_folder, tmp_path / "zips") / f"{IMAGES}.zip"
    assert np.array_equal(dataset.open_images(zipped).ids(), ids)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no <GalaxyID>.jpg images"):
        dataset.open_images(empty)
    with pytest.raises(DataError, match="not found"):
        dataset.open_images(tmp_path / "nope")


def test_frame_and_subset(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)
    frame = data.frame()
    assert list(frame.columns) == list(tree.KAGGLE_COLUMNS)
    ids, labels = data.subset(data.ids[[3, 1]])
    assert ids.tolist() == data.ids[[3, 1]].tolist()
    assert np.array_equal(labels, data.labels[[3, 1]])
    with pytest.raises(DataError, match="GalaxyID 7 is not in the data set"):
        data.subset([7])


# --------------------------------------------------------------------------- bad labels


def test_missing_data_set_and_label_file(kaggle_folder, tmp_path):
    with pytest.raises(DataError, match="data set not found"):
        dataset.load_dataset(tmp_path / "missing")
    shutil.rmtree(kaggle_folder / IMAGES)
    with pytest.raises(DataError, match=f"no {IMAGES}/ folder"):
        dataset.load_dataset(kaggle_folder)
    (kaggle_folder / CSV).unlink()
    with pytest.raises(DataError, match="no label file"):
        dataset.load_dataset(kaggle_folder)


def test_a_file_named_zip_that_is_not_a_zip_says_so(tmp_path):
    """A damaged download must not be described as a wrong kind of path."""
    fake = tmp_path / "galaxy-zoo.zip"
    fake.write_text("hi\n")
    for load in (dataset.load_dataset, dataset.open_images):
        with pytest.raises(DataError, match=rf"^{re.escape(str(fake))}: not a valid zip archive"):
            load(fake)
    other = tmp_path / "labels.txt"
    other.write_text("hi\n")
    with pytest.raises(DataError, match="expected a Kaggle-layout folder or a .zip"):
        dataset.load_dataset(other)
    with pytest.raises(DataError, match="expected a folder or a .zip of <GalaxyID>.jpg images"):
        dataset.open_images(other)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns=["Class3.2"]), r"missing column Class3\.2"),
        (lambda df: df.assign(Notes="x"), r"unexpected column 'Notes'"),
        (
            lambda df: df.rename(columns={"Class1.1": "Class1.l"}),
            r"unexpected column 'Class1\.l' \(did you mean 'Class1\.1'\?\)",
        ),
        (lambda df: df.rename(columns={"GalaxyID": "Galaxy"}), r"missing column GalaxyID"),
    ],
)
def test_bad_columns(kaggle_folder, change, message):
    _write_csv(kaggle_folder, change(_csv(kaggle_folder)))
    with pytest.raises(DataError, match=message) as info:
        dataset.load_dataset(kaggle_folder)
    assert CSV in str(info.value) and "\n" not in str(info.value)


def test_repeated_column(kaggle_folder):
    text = (kaggle_folder / CSV).read_text().splitlines()
    text[0] = text[0].replace("Class2.2", "Class2.1")
    (kaggle_folder / CSV).write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match="'Class2.1' appears twice"):
        dataset.load_dataset(kaggle_folder)


def test_galaxy_id_spelled_like_the_kaggle_evaluation_page_is_accepted(kaggle_folder):
    _write_csv(kaggle_folder, _csv(kaggle_folder).rename(columns={"GalaxyID": "GalaxyId"}))
    assert len(dataset.load_dataset(kaggle_folder)) == 12


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", r"line 5 \(GalaxyID 100003\), column Class2\.1: 'abc' is not a number"),
        ("", r"line 5 \(GalaxyID 100003\), column Class2\.1: missing value \(NaN\)"),
        ("nan", r"line 5 \(GalaxyID 100003\), column Class2\.1: missing value \(NaN\)"),
        ("1.5", r"line 5 \(GalaxyID 100003\), column Class2\.1: value 1\.5 is outside \[0, 1\]"),
        ("-0.2", r"column Class2\.1: value -0\.2 is outside \[0, 1\]"),
    ],
)
def test_bad_values(kaggle_folder, value, message):
    df = _csv(kaggle_folder)
    df.loc[3, "Class2.1"] = value
    _write_csv(kaggle_folder, df)
    with pytest.raises(DataError, match=message):
        dataset.load_dataset(kaggle_folder)


def test_numeric_fast_path_reads_what_the_checked_path_reads(kaggle_folder, monkeypatch):
    """A good file is parsed straight to numbers (no table of strings); anything the fast path
    doubts falls back to the checked reader, so its results and errors are the same."""
    df = _csv(kaggle_folder)
    df.loc[1, "Class1.1"] = f"  {df.loc[1, 'Class1.1']}"  # spaces are allowed
    _write_csv(kaggle_folder, df)
    _, fast_ids, fast_labels = dataset.read_labels(kaggle_folder)
    checked = []
    real = dataset.read_checked
    monkeypatch.setattr(dataset, "read_checked", lambda *a: checked.append(1) or real(*a))
    monkeypatch.setattr(dataset, "read_numeric", lambda *a: None)
    _, ids, labels = dataset.read_labels(kaggle_folder)
    assert checked and np.array_equal(ids, fast_ids) and np.array_equal(labels, fast_labels)
    monkeypatch.undo()
    df.loc[3, "Class2.1"] = "abc"
    _write_csv(kaggle_folder, df)
    assert dataset.read_numeric((kaggle_folder / CSV).read_bytes(), list(df.columns)) is None


def test_bad_galaxy_id(kaggle_folder):
    df = _csv(kaggle_folder)
    df.loc[2, "GalaxyID"] = "12.5"
    _write_csv(kaggle_folder, df)
    with pytest.raises(DataError, match=r"line 4, column GalaxyID: '12.5' is not a galaxy id"):
        dataset.load_dataset(kaggle_folder)


def test_rows_breaking_the_tree_sums(kaggle_folder):
    df = _csv(kaggle_folder)
    df.loc[6, "Class7.1"] = str(float(df.loc[6, "Class7.1"]) + 0.05)  # question 7 no longer sums to Class1.1
    _write_csv(kaggle_folder, df)
    with pytest.raises(DataError, match=r"1 row\(s\) break the decision-tree sums by more than 0.01; worst: "
                       r"line 8 \(GalaxyID 100006\), question 7 .* should equal Class1\.1"):
        dataset.load_dataset(kaggle_folder)
    assert len(dataset.load_dataset(kaggle_folder, tree_tolerance=0.1)) == 12


def test_duplicate_galaxy_ids(kaggle_folder):
    df = _csv(kaggle_folder)
    df.loc[5, :] = df.loc[2, :]
    _write_csv(kaggle_folder, df)
    with pytest.raises(DataError, match=r"GalaxyID 100002 appears 2 times \(lines 4, 7\)"):
        dataset.load_dataset(kaggle_folder)


def test_empty_label_file_and_header_only(kaggle_folder):
    _write_csv(kaggle_folder, _csv(kaggle_folder).iloc[:0])
    with pytest.raises(DataError, match=r"no galaxies \(header only\)"):
        dataset.load_dataset(kaggle_folder)
    (kaggle_folder / CSV).write_text("")
    with pytest.raises(DataError, match="empty file"):
        dataset.load_dataset(kaggle_folder)


def test_ragged_csv_row(kaggle_folder):
    lines = (kaggle_folder / CSV).read_text().splitlines()
    lines[3] += ",0.5"
    (kaggle_folder / CSV).write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="not a valid CSV"):
        dataset.load_dataset(kaggle_folder)


# --------------------------------------------------------------------------- bad images


def test_labelled_galaxy_without_image(kaggle_folder):
    (kaggle_folder / IMAGES / "100004.jpg").unlink()
    with pytest.raises(DataError, match=r"line 6: GalaxyID 100004 has no image 100004.jpg"):
        dataset.load_dataset(kaggle_folder)


def test_images_without_labels_are_counted_and_ignored(kaggle_folder):
    shutil.copy(kaggle_folder / IMAGES / "100000.jpg", kaggle_folder / IMAGES / "999999.jpg")
    (kaggle_folder / IMAGES / "notes.txt").write_text("not an image")
    data = dataset.load_dataset(kaggle_folder)
    assert data.unlabelled == 1 and len(data) == 12 and 999999 not in data.ids
    assert "1 images without a label row" in dataset.summarise(data)


def test_truncated_jpeg_is_named_or_skipped(kaggle_folder):
    path = kaggle_folder / IMAGES / "100005.jpg"
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(DataError, match=r"100005\.jpg: truncated JPEG .*skip_bad_images"):
        dataset.load_dataset(kaggle_folder)
    data = dataset.load_dataset(kaggle_folder, skip_bad_images=True)
    assert len(data) == 11 and 100005 not in data.ids
    assert data.skipped == [(str(path), "truncated JPEG (no end-of-image marker)")]
    assert "skipped:     1 bad images" in dataset.summarise(data)


def test_non_jpeg_and_bad_image_in_zip(kaggle_folder, tmp_path):
    (kaggle_folder / IMAGES / "100001.jpg").write_text("<html>not found</html>")
    with pytest.raises(DataError, match=r"100001\.jpg: not a JPEG"):
        dataset.load_dataset(kaggle_folder)
    zipped = _zip_folder(kaggle_folder, tmp_path / "zips")
    with pytest.raises(DataError, match=rf"{IMAGES}\.zip:{IMAGES}/100001\.jpg: not a JPEG"):
        dataset.load_dataset(zipped)


def test_full_decode_catches_what_the_header_check_cannot(kaggle_folder):
    path = kaggle_folder / IMAGES / "100002.jpg"
    data = bytearray(path.read_bytes())
    dht = data.find(b"\xff\xc4")
    data[dht + 5 : dht + 25] = b"\xff" * 20  # a broken Huffman table after an intact frame header
    path.write_bytes(bytes(data))
    assert len(dataset.load_dataset(kaggle_folder)) == 12
    with pytest.raises(DataError, match=r"100002\.jpg: JPEG does not decode"):
        dataset.load_dataset(kaggle_folder, full_decode=True)


def test_image_of_the_wrong_size(kaggle_folder):
    cv2.imwrite(str(kaggle_folder / IMAGES / "100003.jpg"), np.full((200, 300, 3), 90, np.uint8))
    with pytest.raises(DataError, match=r"100003\.jpg: image is 300x200 pixels, expected 424x424.*resize_bad_size"):
        dataset.load_dataset(kaggle_folder)
    data = dataset.load_dataset(kaggle_folder, resize_bad_size=True)
    assert len(data) == 12 and data.resized == 1
    assert len(dataset.load_dataset(kaggle_folder, skip_bad_images=True)) == 11


def test_every_image_bad_is_an_empty_data_set(kaggle_folder):
    for jpg in (kaggle_folder / IMAGES).glob("*.jpg"):
        jpg.write_bytes(jpg.read_bytes()[:500])
    with pytest.raises(DataError, match="empty data set"):
        dataset.load_dataset(kaggle_folder, skip_bad_images=True)


def test_jpeg_header_parser_reads_sizes():
    ok, encoded = cv2.imencode(".jpg", np.zeros((37, 53, 3), np.uint8))
    assert ok
    data = encoded.tobytes()
    assert dataset.jpeg_problem(data, data[-8:]) == (None, (37, 53))
    assert dataset.jpeg_problem(b"GIF89a", b"")[0].startswith("not a JPEG")
    assert dataset.jpeg_problem(data[:100], data[:100])[0].startswith("truncated")


def test_check_images_runs_on_many_threads(kaggle_folder):
    source = dataset.open_images(kaggle_folder / IMAGES)
    results = dataset.check_images(source, source.ids(), workers=4, progress=False)
    assert [r[0] for r in results] == source.ids().tolist()
    assert all(problem is None and size == (424, 424) for _, problem, size in results)


def test_zip_is_parsed_once_and_read_from_many_threads(kaggle_folder, tmp_path, monkeypatch):
    """Every thread reads through one ZipFile: a handle per thread re-parses the archive's
    directory (36 MB at Kaggle's 61,578 images) once per thread tf.data or the checker starts."""
    from concurrent.futures import ThreadPoolExecutor

    from galaxy_lib.data import images

    archive = _zip_folder(kaggle_folder, tmp_path / "zips") / f"{IMAGES}.zip"
    source = dataset.open_images(archive)
    opened = []
    real_zipfile = zipfile.ZipFile
    monkeypatch.setattr(images.zipfile, "ZipFile", lambda *a, **k: opened.append(a) or real_zipfile(*a, **k))
    ids = source.ids().tolist() * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        read = list(pool.map(source.read_bytes, ids))
    assert len(opened) == 1
    assert read == [(kaggle_folder / IMAGES / f"{gid}.jpg").read_bytes() for gid in ids]
    results = dataset.check_images(source, source.ids(), workers=4, progress=False)
    assert all(problem is None for _, problem, _ in results) and len(opened) == 1
    source.close()
    source.read_bytes(ids[0])  # reopens after close
    assert len(opened) == 2


def test_load_for_config_reads_the_configured_folder(kaggle_folder):
    from galaxy_lib.config import load_config

    config = load_config(None, {"data": str(kaggle_folder), "tree_tolerance": 0.5})
    data = dataset.load_for_config(config)
    assert len(data) == 12 and data.root == kaggle_folder
    (kaggle_folder / "images_training_rev1" / "100000.jpg").write_bytes(b"\xff\xd8broken")
    with pytest.raises(DataError, match="100000.jpg"):
        dataset.load_for_config(config)
    assert len(dataset.load_for_config(config.replace(skip_bad_images=True))) == 11


def test_loading_a_missing_synthetic_sky_names_the_command_and_writes_nothing(tmp_path, monkeypatch):
    """Loading reads: the command that makes the sky is named, and neither the folder nor its lock appears."""
    from galaxy_lib.config import load_config
    from galaxy_lib.synth import sky

    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    config = load_config(None, {"data": "data/sky", "synthetic": True, "synthetic_n": 4, "synthetic_seed": 2,
                                "synthetic_test_n": 1})
    command = "python -m galaxy_lib synth --out data/sky --n 4 --seed 2 --test-n 1"
    with pytest.raises(DataError, match=re.escape(f"data/sky: no synthetic sky there yet (config key 'data'); "
                                                  f"loading never generates one: make it with `{command}`")):
        dataset.load_for_config(config)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even data/ or a lock file
    (tmp_path / "data" / "sky").mkdir(parents=True)  # an empty folder is no sky either
    with pytest.raises(DataError, match=re.escape(command)):
        dataset.load_for_config(config)
    assert sky.synth_command(config) == command
    assert sky.ensure_synthetic(config, progress=False) == tmp_path / "data" / "sky"  # what the entry points do
    assert len(dataset.load_for_config(config)) == 4


def test_loading_a_missing_real_data_set_says_where_it_comes_from(tmp_path, monkeypatch):
    from galaxy_lib.config import load_config
    from galaxy_lib.data import sample

    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    with pytest.raises(DataError, match=r"^data set not found: data/kaggle \(config key 'data'; pass --data PATH"):
        dataset.load_for_config(load_config(None, {"data": "data/kaggle"}))
    with pytest.raises(DataError, match=re.escape(f"build it from Kaggle's zips with `{sample.BUILD_HINT}`")):
        dataset.load_for_config(load_config(None, {"data": str(sample.LOCAL)}))
    with pytest.raises(DataError, match=re.escape(sample.BUILD_HINT)):  # the shared sample's path, absent
        dataset.load_for_config(load_config(None, {"data": str(sample.SHARED)}))
    assert list(tmp_path.iterdir()) == []
