"""The synthetic sky written as Kaggle's zips (issue 12): member layout, the same galaxies as the
folder layout, byte-identical resumption after an interruption or a full disk, and a folder of
zips only feeding the data layer and ``check-data``."""

from __future__ import annotations

import errno
import json
import zipfile

import numpy as np
import pytest

from galaxy_lib import tree
from galaxy_lib.cli import main as cli_main
from galaxy_lib.data import dataset
from galaxy_lib.errors import ConfigError, DiskError
from galaxy_lib.kaggle import has_labels
from galaxy_lib.synth import catalogue, sky, zipped

N, N_TEST, SEED, CHUNK = 20, 6, 5, 4
EXPECTED = sorted([*zipped.ZIPS, zipped.LABELS_ZIP, sky.TRUTH_FILE, sky.METADATA_FILE])
MAKE_GALAXY = sky.make_galaxy  # the real one, whatever a test patched in since


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same sky as folders and as zips (checkpointed every 4 galaxies), made in one go each."""
    root = tmp_path_factory.mktemp("zipsky")
    folders = sky.generate(root / "folders", n=N, seed=SEED, n_test=N_TEST, progress=False)
    zips = sky.generate(root / "zips", n=N, seed=SEED, n_test=N_TEST, progress=False, zip=True, chunk=CHUNK)
    return folders, zips


def _interrupt_after(monkeypatch, calls: int) -> dict[str, int]:
    """Make galaxy number ``calls + 1`` raise KeyboardInterrupt (as Ctrl-C would); counts the calls."""
    seen = {"n": 0}

    def counting(*args):
        seen["n"] += 1
        if seen["n"] > calls:
            raise KeyboardInterrupt
        return MAKE_GALAXY(*args)

    monkeypatch.setattr(catalogue, "make_galaxy", counting)  # both writers draw their galaxies there
    return seen


def _same_files(a, b) -> None:
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir()) == EXPECTED
    for path in a.iterdir():
        assert path.read_bytes() == (b / path.name).read_bytes(), path.name


def test_zips_hold_kaggles_members_and_the_same_galaxies_as_the_folders(both):
    folders, zips = both
    assert sorted(p.name for p in zips.iterdir()) == EXPECTED
    assert not [p for p in zips.parent.iterdir() if p.name.startswith(".")]  # no partial folder left
    labels = (folders / sky.LABELS_FILE).read_bytes()
    with zipfile.ZipFile(zips / zipped.LABELS_ZIP) as archive:
        (info,) = archive.infolist()
        assert info.filename == sky.LABELS_FILE and info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.read(info) == labels
    for folder, count in ((sky.TRAIN_FOLDER, N), (sky.TEST_FOLDER, N_TEST)):
        files = sorted((folders / folder).glob("*.jpg"))
        with zipfile.ZipFile(zips / f"{folder}.zip") as archive:
            assert archive.testzip() is None
            infos = archive.infolist()
            assert [i.filename for i in infos] == [f"{folder}/{p.name}" for p in files] and len(infos) == count
            assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}  # JPEGs are stored, not deflated
            assert all(archive.read(i) == p.read_bytes() for i, p in zip(infos, files, strict=True))
    assert (zips / sky.TRUTH_FILE).read_bytes() == (folders / sky.TRUTH_FILE).read_bytes()
    meta_zip = json.loads((zips / sky.METADATA_FILE).read_text())
    meta_folder = json.loads((folders / sky.METADATA_FILE).read_text())
    assert meta_zip.pop("layout").startswith("Kaggle's zips") and meta_zip == meta_folder


def test_checkpoints_do_not_change_the_bytes(both, tmp_path):
    """Closing and reopening the zips every chunk (1 galaxy here) gives the bytes of one pass."""
    one_pass = sky.generate(tmp_path / "one", n=N, seed=SEED, n_test=N_TEST, progress=False, zip=True, chunk=1000)
    _same_files(one_pass, both[1])
    every = sky.generate(tmp_path / "every", n=N, seed=SEED, n_test=N_TEST, progress=False, zip=True, chunk=1)
    _same_files(every, both[1])


def test_an_interrupted_generation_resumes_to_the_same_bytes(both, tmp_path, monkeypatch, capsys):
    out = tmp_path / "sky"
    seen = _interrupt_after(monkeypatch, 9)  # checkpoints at 4 and 8: galaxy 9 was written, then lost
    with pytest.raises(KeyboardInterrupt):
        sky.generate(out, n=N, seed=SEED, n_test=N_TEST, progress=False, zip=True, chunk=CHUNK)
    staging = zipped.staging_folder(out)
    assert not out.exists() and json.loads((staging / zipped.PROGRESS_FILE).read_text())["done"] == 8

    seen = _interrupt_after(monkeypatch, 14)  # into the test galaxies: the checkpoint at 20 has no test zip yet
    with pytest.raises(KeyboardInterrupt):
        sky.generate(out, n=N, seed=SEED, n_test=N_TEST, progress=True, zip=True, chunk=CHUNK)
    assert "8 of 26 galaxies already written" in capsys.readouterr().err
    assert json.loads((staging / zipped.PROGRESS_FILE).read_text())["done"] == 20
    assert (staging / f"{sky.TEST_FOLDER}.zip").is_file()  # half a chunk of test galaxies, to be cut away

    seen = _interrupt_after(monkeypatch, 10**6)
    sky.generate(out, n=N, seed=SEED, n_test=N_TEST, progress=True, zip=True, chunk=CHUNK)
    assert "20 of 26 galaxies already written" in capsys.readouterr().err
    assert seen["n"] == N + N_TEST - 20  # only the galaxies after the last checkpoint were made again
    _same_files(out, both[1])
    assert not staging.exists()


def test_a_full_disk_keeps_the_partial_set_to_resume(both, tmp_path, monkeypatch):
    out = tmp_path / "sky"
    real, saves = zipped.save_progress, {"n": 0}

    def full_on_third(staging, state):
        saves["n"] += 1
        if saves["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(staging, state)

    monkeypatch.setattr(zipped, "save_progress", full_on_third)
    with pytest.raises(DiskError, match=r"cannot write .*sky: the disk is full"):
        sky.generate(out, n=N, seed=SEED, n_test=N_TEST, progress=False, zip=True, chunk=CHUNK)
    assert not out.exists() and zipped.staging_folder(out).is_dir()
    monkeypatch.setattr(zipped, "save_progress", real)
    _same_files(sky.generate(out, n=N, seed=SEED, n_test=N_TEST, progress=False, zip=True, chunk=CHUNK), both[1])


def test_a_partial_set_of_another_seed_is_started_again(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sky"
    _interrupt_after(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        sky.generate(out, n=8, seed=1, progress=False, zip=True, chunk=2)
    seen = _interrupt_after(monkeypatch, 10**6)
    sky.generate(out, n=8, seed=2, progress=False, zip=True, chunk=2)
    assert "not resumed, starting again (it holds a set of another seed or size (seed 1" in capsys.readouterr().err
    assert seen["n"] == 8 and json.loads((out / sky.METADATA_FILE).read_text())["seed"] == 2


def test_a_folder_of_zips_only_feeds_the_data_layer(both, capsys):
    zips = both[1]
    data = dataset.load_dataset(zips, progress=False)
    assert data.images.kind == "zip" and len(data) == N and data.unlabelled == 0
    assert data.label_file.endswith(f"{zipped.LABELS_ZIP}:{sky.LABELS_FILE}")
    folder = dataset.load_dataset(both[0], progress=False)
    assert np.array_equal(data.ids, folder.ids) and np.array_equal(data.labels, folder.labels)
    assert tree.tree_violations(data.labels, tolerance=1e-5).empty
    test_images = dataset.open_images(zips)  # a data-set root: the unlabelled test zip
    assert test_images.kind == "zip" and len(test_images) == N_TEST
    assert cli_main(["check-data", str(zips)]) == 0
    out = capsys.readouterr().out
    assert f"{sky.TRAIN_FOLDER}.zip (zip, {N} images)" in out and f"galaxies:    {N} labelled" in out


def test_ensure_synthetic_keeps_a_zipped_set(both):
    """A configuration with ``synthetic: true`` on a folder of zips uses it instead of generating
    into it (which would fail: the folder is not empty)."""
    from galaxy_lib.config import Config

    zips = both[1]
    stamp = (zips / zipped.LABELS_ZIP).stat().st_mtime_ns
    assert has_labels(zips) and not has_labels(zips / "absent")
    assert sky.ensure_synthetic(Config(data=str(zips), synthetic=True, synthetic_n=3)) == zips
    assert (zips / zipped.LABELS_ZIP).stat().st_mtime_ns == stamp


def test_synth_zip_on_the_command_line(tmp_path):
    out = tmp_path / "cli"
    assert cli_main(["synth", "--zip", "--n", "3", "--test-n", "2", "--seed", "4", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == EXPECTED
    with zipfile.ZipFile(out / f"{sky.TEST_FOLDER}.zip") as archive:
        assert len(archive.namelist()) == 2
    with pytest.raises(ConfigError, match="chunk"):
        sky.generate(tmp_path / "bad", n=3, zip=True, chunk=0, progress=False)
