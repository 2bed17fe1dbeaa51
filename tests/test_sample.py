"""The real sample rebuilt from Kaggle-layout zips (galaxy_lib.data.sample, `python -m galaxy_lib sample`).

The zips are a small synthetic sky written as Kaggle ships its data (`synth --zip`), and the
manifest lists some of its galaxies, as the shipped manifest lists 3,399 of Kaggle's.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest

from galaxy_lib import cli
from galaxy_lib.data import sample
from galaxy_lib.errors import DataError
from galaxy_lib.synth import sky

SHARED_MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "galaxy-zoo-sample" / "manifest.csv"


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory) -> Path:
    """Kaggle's three zips of a 16-galaxy synthetic sky."""
    return sky.generate(tmp_path_factory.mktemp("kaggle") / "kaggle", n=16, seed=5, n_test=2, workers=1,
                        progress=False, zip=True)


def _label_rows(kaggle: Path) -> tuple[str, dict[int, str]]:
    with zipfile.ZipFile(kaggle / "training_solutions_rev1.csv.zip") as archive:
        text = archive.read("training_solutions_rev1.csv").decode()
    header, *rows = text.splitlines(keepends=True)
    return header, {int(row.split(",", 1)[0]): row for row in rows}


def _manifest(path: Path, ids: list[int]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["GalaxyID", "subset"])
        writer.writerows([i, "complete_id_block" if n % 2 else "extra_selected"] for n, i in enumerate(ids))
    return path


def test_sample_is_rebuilt_from_the_zips_and_checked_against_its_manifest(kaggle, tmp_path):
    header, rows = _label_rows(kaggle)
    ids = sorted(rows)[::2]  # 8 of the 16 galaxies
    manifest = _manifest(tmp_path / "ids.csv", ids[::-1])  # order in the manifest does not matter
    out = tmp_path / "galaxy-zoo-sample"
    assert cli.main(["sample", "--kaggle", str(kaggle), "--out", str(out), "--manifest", str(manifest)]) == 0
    assert sorted(int(p.stem) for p in (out / "images_training_rev1").glob("*.jpg")) == ids
    labels = (out / "training_solutions_rev1.csv").read_text()
    assert labels == header + "".join(rows[i] for i in ids)  # Kaggle's rows byte for byte, sorted
    with zipfile.ZipFile(kaggle / "images_training_rev1.zip") as archive:
        assert (out / "images_training_rev1" / f"{ids[0]}.jpg").read_bytes() == archive.read(
            f"images_training_rev1/{ids[0]}.jpg")
    assert sample.read_manifest(out / "manifest.csv") == sample.read_manifest(manifest)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_a_galaxy_missing_from_the_download_is_named_and_nothing_is_left(kaggle, tmp_path, capsys):
    _, rows = _label_rows(kaggle)
    manifest = _manifest(tmp_path / "ids.csv", [*sorted(rows)[:3], 123])
    out = tmp_path / "sample"
    assert cli.main(["sample", "--kaggle", str(kaggle), "--out", str(out), "--manifest", str(manifest)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 of the sample's galaxies have no label row" in err and "123" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [manifest]
    out.mkdir()
    with pytest.raises(DataError, match="already exists"):
        sample.build(kaggle, out, manifest)


def test_a_bad_manifest_row_is_named(tmp_path):
    bad = tmp_path / "ids.csv"
    bad.write_text("GalaxyID,subset\n100,a\nx7,b\n")
    with pytest.raises(DataError, match=r"ids.csv, line 3: 'x7' is not a GalaxyID"):
        sample.read_manifest(bad)
    bad.write_text("GalaxyID\n100\n")
    with pytest.raises(DataError, match="needs the columns GalaxyID and subset"):
        sample.read_manifest(bad)


def test_the_shipped_manifest_lists_the_shared_sample():
    """3,399 galaxies, 3,000 of them the unbiased block the configurations test on; ids and subsets
    only (no image or label columns); the same as the shared sample's manifest where it exists."""
    assert sample.MANIFEST.read_text().splitlines()[0] == "GalaxyID,subset"
    shipped = sample.read_manifest()
    assert len(shipped) == 3399
    assert sum(s == "complete_id_block_945990_999967" for s in shipped.values()) == 3000
    if SHARED_MANIFEST.is_file():
        assert shipped == sample.read_manifest(SHARED_MANIFEST)


def test_the_configurations_find_the_local_sample_or_say_how_to_build_it(tmp_path):
    project = tmp_path / "project"
    shared = project / sample.SHARED
    with pytest.raises(DataError, match="python -m galaxy_lib sample --kaggle data/kaggle"):
        sample.locate(shared, project)
    (project / sample.LOCAL).mkdir(parents=True)
    assert sample.locate(shared, project) == (project / sample.LOCAL).resolve()
    shared.mkdir(parents=True)
    assert sample.locate(shared, project) == shared  # the shared copy first, when present
    other = project / "data" / "elsewhere"
    assert sample.locate(other, project) == other  # any other path: the loader's own message
