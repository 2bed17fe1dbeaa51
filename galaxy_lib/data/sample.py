"""The real sample for everyone: rebuild the shared 3,399-galaxy sample from Kaggle's own zips.

``parameters/sample.yaml`` and ``improved.yaml`` read the shared sample at
``../shared/data/galaxy-zoo-sample``, which exists on the project's machines but not in a student's
clone. The sample is only a list of Kaggle training galaxies (3,000 from the unbiased GalaxyID block
945990-999967 and 399 hand-picked ones), so the project ships that list (:data:`MANIFEST`: GalaxyID
and subset, no images or labels, which stay under Kaggle's terms) and :func:`build` cuts the
identical sample out of a Kaggle download: the same images byte for byte, the same label rows, and a
``manifest.csv`` whose ``subset`` column the configurations' unbiased test pool reads.
:func:`locate` lets the configurations find either copy.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from galaxy_lib.errors import DataError
from galaxy_lib.kaggle import LABELS_FILE as LABELS
from galaxy_lib.kaggle import TRAINING_IMAGES as IMAGES

MANIFEST = Path(__file__).with_name("galaxy_zoo_sample.csv")  # GalaxyID,subset of the 3,399 galaxies
SHARED = Path("../shared/data/galaxy-zoo-sample")  # where the project's machines hold the sample
LOCAL = Path("data/galaxy-zoo-sample")  # where `python -m galaxy_lib sample` puts it by default
BUILD_HINT = f"python -m galaxy_lib sample --kaggle data/kaggle --out {LOCAL}"


def read_manifest(path: str | os.PathLike[str] = MANIFEST) -> dict[int, str]:
    """GalaxyID -> subset from a manifest CSV (``GalaxyID`` and ``subset`` columns; others ignored).
    Raises :class:`DataError` naming the file and line of a bad row."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"GalaxyID", "subset"} <= set(reader.fieldnames):
                raise DataError(f"{path}: a sample manifest needs the columns GalaxyID and subset")
            manifest: dict[int, str] = {}
            for line, row in enumerate(reader, start=2):
                try:
                    galaxy_id = int(row["GalaxyID"])
                except (TypeError, ValueError):
                    raise DataError(f"{path}, line {line}: {row['GalaxyID']!r} is not a GalaxyID") from None
                if galaxy_id in manifest:
                    raise DataError(f"{path}, line {line}: GalaxyID {galaxy_id} is listed twice")
                manifest[galaxy_id] = row["subset"]
    except OSError as exc:
        raise DataError(f"{path}: cannot read the sample manifest ({exc.strerror})") from None
    if not manifest:
        raise DataError(f"{path}: the sample manifest lists no galaxies")
    return manifest


def locate(root: Path, project: Path) -> Path:
    """The data folder to read for ``root``: ``root`` itself when it exists; for the shared sample's
    path when it is absent, the locally built copy ``data/galaxy-zoo-sample`` when that exists.
    Raises :class:`DataError` saying how to build the sample when neither is there (every other
    missing path is left to the data loader's own message)."""
    if root.exists() or root.resolve() != (project / SHARED).resolve():
        return root
    local = (project / LOCAL).resolve()
    if local.exists():
        return local
    raise DataError(f"{SHARED} is not here and neither is {LOCAL}: build the real sample from Kaggle's zips "
                    f"(download them into data/kaggle) with `{BUILD_HINT}`")


def _find(kaggle: Path, name: str) -> Path | None:
    """``kaggle/name`` as a folder or file, else ``kaggle/name.zip``, else None."""
    for candidate in (kaggle / name, kaggle / f"{name}.zip"):
        if candidate.exists():
            return candidate
    return None


def _label_lines(kaggle: Path) -> Iterator[str]:
    """Kaggle's label file line by line (header first), from the CSV or its zip."""
    path = _find(kaggle, LABELS)
    if path is None:
        raise DataError(f"{kaggle}: no {LABELS} or {LABELS}.zip (Kaggle's training labels)")
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == LABELS]
            if not names:
                raise DataError(f"{path}: no member {LABELS}")
            with archive.open(names[0]) as member:
                yield from io.TextIOWrapper(member, encoding="utf-8", newline="")
        return
    with path.open(encoding="utf-8", newline="") as handle:
        yield from handle


def _copy_images(kaggle: Path, ids: set[int], out: Path) -> set[int]:
    """Copy the images of ``ids`` from Kaggle's zip (or folder) into ``out``; return the ids found."""
    source = _find(kaggle, IMAGES)
    if source is None:
        raise DataError(f"{kaggle}: no {IMAGES}.zip or {IMAGES}/ (Kaggle's training images)")
    found: set[int] = set()
    if source.is_dir():
        for galaxy_id in ids:
            image = source / f"{galaxy_id}.jpg"
            if image.is_file():
                shutil.copyfile(image, out / image.name)
                found.add(galaxy_id)
        return found
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            stem = info.filename.rsplit("/", 1)[-1].removesuffix(".jpg")
            if stem.isdigit() and int(stem) in ids and int(stem) not in found:
                (out / f"{stem}.jpg").write_bytes(archive.read(info))
                found.add(int(stem))
    return found


def _missing(what: str, ids: set[int], whose: str = "the sample's") -> str:
    first = ", ".join(map(str, sorted(ids)[:5]))
    return f"{len(ids):,} of {whose} galaxies have no {what} (first: {first})"


def read_label_rows(kaggle: Path, keep: Callable[[int], bool]) -> tuple[str, dict[int, str]]:
    """``(header, {GalaxyID: row})`` of the rows of Kaggle's label file whose GalaxyID ``keep`` accepts,
    each row exactly as Kaggle wrote it (ending in a newline). One pass over the file: the sample and
    the instructor's key (:mod:`galaxy_lib.classroom.key`) are cut from the same read."""
    lines = _label_lines(kaggle)
    header = next(lines, "")
    if not header.startswith("GalaxyID,"):
        raise DataError(f"{kaggle}: {LABELS} does not start with a GalaxyID header")
    rows: dict[int, str] = {}
    for line in lines:
        head = line.split(",", 1)[0]
        if head.isdigit() and keep(int(head)):
            rows[int(head)] = line if line.endswith("\n") else line + "\n"
    return header, rows


def write_galaxies(kaggle: Path, folder: Path, header: str, rows: dict[int, str], ids: set[int],
                   whose: str = "the sample's") -> None:
    """Write the galaxies ``ids`` into ``folder`` in Kaggle's layout: their images byte for byte from
    the download and their label rows (from :func:`read_label_rows`) sorted by GalaxyID. Raises
    :class:`DataError` naming the galaxies (of ``whose``) that have no label row or no image."""
    if missing := ids - set(rows):
        raise DataError(f"{kaggle}: {_missing('label row in ' + LABELS, missing, whose)}")
    (folder / IMAGES).mkdir(parents=True, exist_ok=True)
    images = _copy_images(kaggle, ids, folder / IMAGES)
    if missing := ids - images:
        raise DataError(f"{kaggle}: {_missing('image in ' + IMAGES, missing, whose)}")
    (folder / LABELS).write_text(header + "".join(rows[i] for i in sorted(ids)), encoding="utf-8")


def check_input(kaggle: Path, out: Path) -> None:
    """Refuse an ``out`` that exists and a ``kaggle`` that is not a folder, before anything is read."""
    if out.exists():
        raise DataError(f"{out} already exists; delete it first or choose another --out")
    if not kaggle.is_dir():
        raise DataError(f"{kaggle}: not a folder (give the folder holding Kaggle's zips)")


def stage(kaggle: Path, staging: Path, wanted: dict[int, str], header: str, rows: dict[int, str]) -> None:
    """Write the sample ``wanted`` (GalaxyID -> subset) into the hidden folder ``staging``: the
    galaxies (:func:`write_galaxies`), ``manifest.csv``, and the check that the images written are
    exactly the listed ones."""
    write_galaxies(kaggle, staging, header, rows, set(wanted))
    (staging / "manifest.csv").write_text(
        "GalaxyID,subset\n" + "".join(f"{i},{wanted[i]}\n" for i in sorted(wanted)), encoding="utf-8")
    built = {int(p.stem) for p in (staging / IMAGES).glob("*.jpg")}
    if built != set(wanted):  # the check the manifest promises, on what was actually written
        raise DataError(f"{staging}: the built sample holds {len(built):,} images, the manifest {len(wanted):,}")


def staging_folder(out: Path) -> Path:
    """The hidden folder beside ``out`` that a sample is built in before it is renamed into place."""
    return out.parent / f".{out.name}.partial"


def build(kaggle: str | os.PathLike[str], out: str | os.PathLike[str] = LOCAL,
          manifest: str | os.PathLike[str] = MANIFEST) -> Path:
    """Write the sample listed in ``manifest`` into ``out`` from the Kaggle download in ``kaggle``
    (``images_training_rev1.zip`` or the folder, ``training_solutions_rev1.csv`` or its zip) and
    return ``out``.

    The result is Kaggle's layout: the images byte for byte, the header and the galaxies' label rows
    as Kaggle wrote them (sorted by GalaxyID) and ``manifest.csv`` (GalaxyID, subset). It is checked
    against the manifest before it appears: it is written into a hidden folder beside ``out`` and
    renamed into place only when every listed galaxy has its image and label row, so an interrupted
    or failed build leaves no half-made sample. Raises :class:`DataError` when ``out`` exists, when a
    Kaggle file is missing, or naming the galaxies the download lacks."""
    kaggle, out = Path(kaggle), Path(out)
    wanted = read_manifest(manifest)
    check_input(kaggle, out)
    staging = staging_folder(out)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        header, rows = read_label_rows(kaggle, wanted.__contains__)
        stage(kaggle, staging, wanted, header, rows)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


__all__ = ["BUILD_HINT", "LOCAL", "MANIFEST", "SHARED", "build", "check_input", "locate", "read_label_rows",
           "read_manifest", "stage", "staging_folder", "write_galaxies"]
