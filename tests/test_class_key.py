"""The instructor's key (galaxy_lib.classroom.key, `python -m galaxy_lib sample --key`).

A tiny Kaggle-layout download straddles the start of the unbiased GalaxyID block (945990): ten
galaxies below it, ten inside; the manifest lists a few of each, as the shipped one lists the block's
3,000 and 399 hand-picked galaxies below it. A key may take any galaxy the manifest does not list.
The synthetic key is set aside against a 30-galaxy sky.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_kaggle_folder

from galaxy_lib import cli
from galaxy_lib.classroom import key
from galaxy_lib.config import load_config
from galaxy_lib.data import dataset, sample
from galaxy_lib.errors import ConfigError, DataError
from galaxy_lib.synth import catalogue, sky

LOW = 945990  # the sample's unbiased block starts here; the hand-picked galaxies lie below it
BELOW = list(range(LOW - 10, LOW))
BLOCK = list(range(LOW, LOW + 10))
LISTED = {BELOW[1]: "extra_selected", BELOW[5]: "extra_selected",
          BLOCK[0]: key.UNBIASED_SUBSET, BLOCK[3]: key.UNBIASED_SUBSET, BLOCK[4]: key.UNBIASED_SUBSET,
          BLOCK[8]: key.UNBIASED_SUBSET}
POOL = sorted(set(BELOW + BLOCK) - set(LISTED))  # the 14 galaxies a key may take: any not in the manifest


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory) -> Path:
    return write_kaggle_folder(tmp_path_factory.mktemp("download") / "kaggle", n=20, first_id=BELOW[0])


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("manifest") / "ids.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([("GalaxyID", "subset"), *sorted(LISTED.items())])
    return path


def _hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def _image_ids(root: Path) -> set[int]:
    return {int(p.stem) for p in (root / "images_training_rev1").glob("*.jpg")}


def _rows(path: Path) -> dict[int, str]:
    return {int(line.split(",", 1)[0]): line for line in path.read_text().splitlines(keepends=True)[1:]}


def test_the_key_is_drawn_outside_the_sample_and_checked_against_it(kaggle, manifest, tmp_path):
    out, key_out = key.hold_out_kaggle(kaggle, tmp_path / "sample", tmp_path / "key", n=4, seed=0, manifest=manifest)
    # the students' sample is exactly the manifest's, as `sample` alone builds it
    assert _image_ids(out) == set(LISTED)
    assert sample.read_manifest(out / "manifest.csv") == sample.read_manifest(manifest)
    got = key.read_key(key_out)
    assert got.kind == "kaggle" and len(got) == 4 and list(got.ids) == sorted(got.ids)
    assert set(got.ids) <= set(POOL)  # not in the manifest
    assert not set(got.ids) & _image_ids(out) and not set(got.ids) & set(_rows(out / "training_solutions_rev1.csv"))
    assert _image_ids(key_out) == set(got.ids)
    # Kaggle's bytes: label rows and images
    kaggle_rows = _rows(kaggle / "training_solutions_rev1.csv")
    key_rows = _rows(key_out / "training_solutions_rev1.csv")
    assert key_rows == {i: kaggle_rows[i] for i in got.ids}
    first = int(got.ids[0])
    assert (key_out / f"images_training_rev1/{first}.jpg").read_bytes() == (
        kaggle / f"images_training_rev1/{first}.jpg").read_bytes()
    # the baseline is the students' training mean, not the key's
    _, _, students = dataset.read_labels(out)
    np.testing.assert_allclose(got.training_mean, students.mean(axis=0, dtype=np.float64), atol=1e-7)
    assert got.info["students_galaxies"] == len(LISTED) and got.info["galaxies"] == 4
    assert got.labels.shape == (4, 37) and got.labels.dtype == np.float32
    assert key.read_key(key_out).fingerprint == got.fingerprint
    assert _hidden(tmp_path) == []
    # the same seed draws the same galaxies
    _, again = key.hold_out_kaggle(kaggle, tmp_path / "sample2", tmp_path / "key2", n=4, seed=0, manifest=manifest)
    assert list(key.read_key(again).ids) == list(got.ids)


def test_a_sample_built_earlier_is_kept_and_only_the_key_is_written(kaggle, manifest, tmp_path):
    out = sample.build(kaggle, tmp_path / "sample", manifest)
    before = {p.name: p.stat().st_mtime_ns for p in out.rglob("*")}
    _, key_out = key.hold_out_kaggle(kaggle, out, tmp_path / "key", n=len(POOL), manifest=manifest)
    assert {p.name: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert set(key.read_key(key_out).ids) == set(POOL)
    with pytest.raises(DataError, match="already exists; delete it first or choose another --key"):
        key.hold_out_kaggle(kaggle, out, key_out, n=2, manifest=manifest)
    with pytest.raises(DataError, match="must be separate folders"):
        key.hold_out_kaggle(kaggle, out, out / "key", n=2, manifest=manifest)
    (out / "images_training_rev1" / f"{BLOCK[0]}.jpg").unlink()  # not the sample the list describes
    with pytest.raises(DataError, match=f"first difference: GalaxyID {BLOCK[0]}"):
        key.hold_out_kaggle(kaggle, out, tmp_path / "key3", n=2, manifest=manifest)
    other = tmp_path / "other.csv"
    other.write_text(f"GalaxyID,subset\n{BLOCK[0]},x\n")
    with pytest.raises(DataError, match="is not the sample .* lists"):
        key.hold_out_kaggle(kaggle, out, tmp_path / "key3", n=2, manifest=other)
    assert not (tmp_path / "key3").exists() and _hidden(tmp_path) == []


def test_too_few_galaxies_outside_the_sample_is_one_line_and_leaves_nothing(kaggle, manifest, tmp_path):
    with pytest.raises(DataError, match=r"needs 15 of Kaggle's .* has 14; ask for fewer \(--key-n 14\)"):
        key.hold_out_kaggle(kaggle, tmp_path / "sample", tmp_path / "key", n=15, manifest=manifest)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_or_interrupted_build_leaves_neither_folder(kaggle, manifest, tmp_path, monkeypatch):
    broken = shutil.copytree(kaggle, tmp_path / "broken")
    (broken / "images_training_rev1" / f"{POOL[2]}.jpg").unlink()
    with pytest.raises(DataError, match=rf"1 of the key's galaxies have no image .*{POOL[2]}"):
        key.hold_out_kaggle(broken, tmp_path / "sample", tmp_path / "key", n=len(POOL), manifest=manifest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]

    rename = Path.rename

    def interrupted(self: Path, target):  # Ctrl-C between the sample's rename and the key's
        if self.name.startswith(".key."):
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        key.hold_out_kaggle(kaggle, tmp_path / "sample", tmp_path / "key", n=2, manifest=manifest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    """A students' configuration whose sky is 30 labelled and 2 unlabelled galaxies, and that sky."""
    folder = tmp_path_factory.mktemp("class")
    config = load_config(None, {"synthetic": True, "synthetic_n": 30, "synthetic_test_n": 2, "synthetic_seed": 0,
                                "data": str(folder / "sky")})
    sky.generate(folder / "sky", n=30, seed=0, n_test=2, workers=1, progress=False)
    return config, folder / "sky"


@pytest.mark.slow  # renders a synthetic sky and a key: left out of make test-fast
def test_a_synthetic_key_holds_galaxies_the_students_sky_never_does(students, tmp_path):
    config, students_sky = students
    # the key's seed equals the students' on purpose: the split alone keeps the galaxies apart
    got = key.read_key(key.hold_out_synthetic(tmp_path / "key", n=8, seed=0, students=config, workers=1))
    assert got.kind == "synthetic" and len(got) == 8
    student_ids = _image_ids(students_sky) | {int(p.stem) for p in (students_sky / "images_test_rev1").glob("*.jpg")}
    assert len(student_ids) == 32 and not set(got.ids) & student_ids
    student_images = {p.read_bytes() for p in students_sky.rglob("*.jpg")}
    assert not {p.read_bytes() for p in (tmp_path / "key").rglob("*.jpg")} & student_images
    # the key's galaxy i is the generator's galaxy (key seed, split 2, i)
    np.testing.assert_allclose(got.labels[0], catalogue.galaxy_labels(0, key.KEY_SPLIT, 0)[2], atol=1e-6)
    # its baseline is the students' training mean, computed without their sky but equal to it
    _, _, labels = dataset.read_labels(students_sky)
    np.testing.assert_allclose(got.training_mean, labels.mean(axis=0, dtype=np.float64), atol=1e-6)
    assert got.info["students_galaxies"] == 30 and got.info["students_sky"]["n_test"] == 2
    assert _hidden(tmp_path) == []
    with pytest.raises(DataError, match="already exists"):
        key.hold_out_synthetic(tmp_path / "key", n=8, students=config)
    with pytest.raises(DataError, match="must be separate folders"):
        key.hold_out_synthetic(students_sky / "key", n=2, students=config)
    with pytest.raises(ConfigError, match="does not generate a synthetic sky"):
        key.hold_out_synthetic(tmp_path / "key2", n=2, students=load_config(None, {"synthetic": False}))
    with pytest.raises(ConfigError, match="positive integer"):
        key.hold_out_synthetic(tmp_path / "key2", n=0, students=config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]


@pytest.mark.slow  # renders a synthetic sky and a key: left out of make test-fast
def test_a_key_sharing_a_galaxy_with_the_students_is_refused_before_it_appears(students, tmp_path, monkeypatch):
    config, students_sky = students
    shared = int(next(students_sky.glob("images_training_rev1/*.jpg")).stem)
    drawn = catalogue.held_back_ids
    monkeypatch.setattr(catalogue, "held_back_ids", lambda seed, n, taken: np.sort(
        np.append(drawn(seed, n - 1, taken), shared)))  # a drawing gone wrong: the check must catch it
    with pytest.raises(DataError, match=rf"1 of the key's galaxies are in the students' data .* GalaxyID {shared}"):
        key.hold_out_synthetic(tmp_path / "key", n=3, students=config, workers=1)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def a_key(students, tmp_path_factory) -> Path:
    return key.hold_out_synthetic(tmp_path_factory.mktemp("keys") / "key", n=3, seed=4, students=students[0],
                                  workers=1)


def _json(root: Path, **changes) -> None:
    info = json.loads((root / "key.json").read_text())
    info.update(changes)
    (root / "key.json").write_text(json.dumps(info))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda root: shutil.rmtree(root), r"no such key folder"),
    (lambda root: (root / "key.json").unlink(), r"key\.json: not found"),
    (lambda root: (root / "key.json").write_text("{"), r"key\.json: not valid JSON"),
    (lambda root: _json(root, kind="kaggel"), r"key\.json: 'kind' must be one of kaggle, synthetic, got 'kaggel'"),
    (lambda root: _json(root, training_mean=[0.1] * 36), r"key\.json: 'training_mean' must be a list of 37 numbers"),
    (lambda root: _json(root, training_mean=None), r"key\.json: 'training_mean' must be a list of 37 numbers"),
    (lambda root: _json(root, galaxies=4), r"key\.json: 'galaxies' says 4, but .* holds 3 galaxies"),
    (lambda root: (root / "training_solutions_rev1.csv").unlink(), r"no label file"),
    (lambda root: next((root / "images_training_rev1").glob("*.jpg")).unlink(), r"images_training_rev1: no image"),
    (lambda root: (root / "images_training_rev1" / "123456.jpg").write_bytes(b"x"), r"123456\.jpg has no row"),
    (lambda root: next((root / "images_training_rev1").glob("*.jpg")).write_bytes(b"not a jpeg"), r"\d+\.jpg"),
])
def test_a_missing_or_damaged_key_is_one_line_naming_the_file(a_key, tmp_path, damage, message):
    root = shutil.copytree(a_key, tmp_path / "key")
    key.read_key(root)  # the copy is sound
    damage(root)
    with pytest.raises(DataError, match=message) as caught:
        key.read_key(root)
    assert "\n" not in str(caught.value)


@pytest.mark.slow  # renders a synthetic sky and a key: left out of make test-fast
def test_the_sample_verb_writes_the_key_and_refuses_bad_combinations(kaggle, manifest, students, tmp_path, capsys):
    out, key_out = tmp_path / "sample", tmp_path / "key"
    argv = ["sample", "--kaggle", str(kaggle), "--out", str(out), "--manifest", str(manifest)]
    assert cli.main([*argv, "--key", str(key_out), "--key-n", "3", "--key-seed", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "built" in lines[0] and "6 galaxies (the students' sample)" in lines[0]
    assert "3 held-back galaxies" in lines[1]
    assert not set(key.read_key(key_out).ids) & _image_ids(out)
    # a second key for the sample built above: the sample is kept
    assert cli.main([*argv, "--key", str(tmp_path / "key-b"), "--key-n", "6"]) == 0
    assert "kept" in capsys.readouterr().out.splitlines()[0] and len(key.read_key(tmp_path / "key-b")) == 6

    students_file = tmp_path / "students.yaml"
    students_file.write_text(f"data: {students[1]}\nsynthetic: true\nsynthetic_n: 30\nsynthetic_test_n: 2\n")
    assert cli.main(["sample", "--synthetic", "-f", str(students_file), "--key", str(tmp_path / "synth-key"),
                     "--key-n", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert "2 held-back synthetic galaxies" in line and "seed 0, 30 galaxies" in line and "\n" not in line

    for bad, message in [
        (["sample"], "--kaggle FOLDER is required"),
        (["sample", "--synthetic"], "name its folder with --key FOLDER"),
        (["sample", "--synthetic", "--key", "k", "--kaggle", "x"], "--kaggle is for Kaggle's download"),
        (["sample", "--synthetic", "--key", "k", "--out", "x", "--manifest", "m"], "--out, --manifest are for"),
        (["sample", "--kaggle", "x", "--key-n", "3"], "--key-n set aside the instructor's key"),
        (["sample", "--kaggle", "x", "-f", str(students_file)], "goes with --synthetic"),
        (["sample", "--synthetic", "--key", str(tmp_path / "k"), "-f", str(students_file), "--key-n", "0"],
         "must be a positive integer"),
        (["sample", "--synthetic", "--key", str(tmp_path / "k"), "-f", "parameters/sample.yaml"],
         "does not generate a synthetic sky"),
        ([*argv, "--key", str(key_out)], "already exists"),
    ]:
        assert cli.main(bad) == 2, bad
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (bad, err)
