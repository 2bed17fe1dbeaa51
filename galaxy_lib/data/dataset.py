"""Read and validate a Kaggle-layout Galaxy Zoo data set without unpacking or decoding it.

A data set is ``training_solutions_rev1.csv`` (GalaxyID + 37 vote fractions, also read from
``training_solutions_rev1.zip`` / ``.csv.zip``) plus ``images_training_rev1/<GalaxyID>.jpg``
(a folder, or Kaggle's ``images_training_rev1.zip`` read in place). Everything wrong with
the input is reported as one line naming the file, line, GalaxyID or column, because a
silent fix (a dropped row, a resized image) would change the numbers a paper reports.

Image sources (folder or zip) and the JPEG checks live in :mod:`galaxy_lib.data.images`; the names
callers use are re-exported here.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galaxy_lib import tree
from galaxy_lib.data.images import (  # re-exported: callers know them as dataset.*
    IMAGE_SIDE,
    TEST_IMAGES,
    TRAINING_IMAGES,
    ImageSource,
    check_images,
    folder_source,
    jpeg_problem,
    open_images,
    require_zip,
    zip_names,
    zip_source,
)
from galaxy_lib.data.sample import BUILD_HINT, LOCAL, locate
from galaxy_lib.errors import BusyError, DataError
from galaxy_lib.kaggle import LABEL_FILES, LABELS_NAME, has_labels
from galaxy_lib.locks import holder
from galaxy_lib.paths import display_path, project_root, resolve_path

_VALUE_SLACK = 1e-6  # vote fractions are rounded; allow this much outside [0, 1]

__all__ = [
    "IMAGE_SIDE", "TEST_IMAGES", "TRAINING_IMAGES", "GalaxyData", "ImageSource", "check_data", "check_images",
    "data_folder", "jpeg_problem", "load_dataset", "load_for_config", "open_images", "read_labels", "summarise",
]


# --------------------------------------------------------------------------- labels


def _find_labels(root: Path) -> tuple[str, bytes]:
    """``(description, CSV bytes)`` of the label file in a folder or zipped data-set root."""
    if root.is_file():
        names = [n for n in zip_names(root) if not n.startswith("__MACOSX/")]
        hits = [n for n in names if n.rsplit("/", 1)[-1] == f"{LABELS_NAME}.csv"]
        if not hits:
            raise DataError(f"{root}: no {LABELS_NAME}.csv inside the archive")
        with zipfile.ZipFile(root) as archive:
            return f"{root}:{hits[0]}", archive.read(hits[0])
    for name in LABEL_FILES:
        path = root / name
        if not path.is_file():
            continue
        if name.endswith(".csv"):
            return str(path), path.read_bytes()
        members = [n for n in zip_names(path) if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")]
        if len(members) != 1:
            raise DataError(f"{path}: expected exactly one .csv inside, found {len(members)}")
        with zipfile.ZipFile(path) as archive:
            return f"{path}:{members[0]}", archive.read(members[0])
    raise DataError(f"{root}: no label file ({' or '.join(LABEL_FILES)})")


def _line(row: int) -> int:
    """CSV line number of a data row (line 1 is the header)."""
    return row + 2


def _check_header(where: str, header: list[str]) -> list[str]:
    """The header with the id column spelled ``GalaxyID``; errors name missing/extra/misspelled columns."""
    header = [h.strip() for h in header]
    header = [tree.ID_COLUMN if h.lower() == tree.ID_COLUMN.lower() else h for h in header]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{where}: column {name!r} appears twice in the header")
        seen.add(name)
    expected = list(tree.KAGGLE_COLUMNS)
    missing = [c for c in expected if c not in seen]
    extra = [c for c in header if c not in expected]
    if missing or extra:
        parts = []
        for name in extra:
            guess = difflib.get_close_matches(name, missing or expected, n=1, cutoff=0.6)
            parts.append(f"unexpected column {name!r}" + (f" (did you mean {guess[0]!r}?)" if guess else ""))
        if missing:
            parts.append("missing column" + ("s " if len(missing) > 1 else " ") + ", ".join(missing))
        raise DataError(f"{where}: " + "; ".join(parts) + " (expected GalaxyID, Class1.1 ... Class11.6)")
    return header


def _bad_value_error(where: str, frame: pd.DataFrame, numbers: pd.DataFrame, ids: np.ndarray) -> None:
    """Raise naming the first non-numeric, missing or out-of-range value (and how many in all)."""
    values = numbers.to_numpy(dtype=np.float64)
    bad_nan = np.isnan(values)
    bad_range = ~bad_nan & ((values < -_VALUE_SLACK) | (values > 1 + _VALUE_SLACK))
    bad = bad_nan | bad_range
    if not bad.any():
        return
    rows, cols = np.nonzero(bad)
    row, col = rows[0], cols[0]
    column = numbers.columns[col]
    raw = frame.iloc[row][column]
    if bad_range[row, col]:
        what = f"value {values[row, col]:g} is outside [0, 1]"
    elif raw.strip().lower() in ("", "nan", "na", "n/a", "null", "none"):
        what = "missing value (NaN)"
    else:
        what = f"{raw!r} is not a number"
    more = f" ({len(rows) - 1} more bad values)" if len(rows) > 1 else ""
    raise DataError(f"{where} line {_line(row)} (GalaxyID {ids[row]}), column {column}: {what}{more}")


def read_numeric(raw: bytes, names: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """``(ids, float32 labels)`` parsed straight to numbers, or None when anything is off.

    The fast path for a good file: the table of strings that :func:`read_checked` needs to
    name a bad value costs about 3 KB a galaxy (190 MB for Kaggle's 61,578) against 0.3 KB here,
    and the bytes are parsed as they are (a ``StringIO`` of the decoded text would be 4 bytes a
    character).
    """
    try:
        frame = pd.read_csv(
            io.BytesIO(raw), header=0, names=names, dtype=np.float64, skipinitialspace=True,
            encoding="utf-8-sig", encoding_errors="replace",
        )
    except (ValueError, pd.errors.ParserError):  # a non-number, a ragged row: the checked path names it
        return None
    id_numbers = frame[tree.ID_COLUMN].to_numpy()
    values = frame[list(tree.ANSWER_COLUMNS)].to_numpy()
    good = (
        len(frame) > 0
        and np.isfinite(id_numbers).all()
        and (id_numbers == np.round(id_numbers)).all()
        and (id_numbers >= 0).all()
        and not np.isnan(values).any()
        and ((values >= -_VALUE_SLACK) & (values <= 1 + _VALUE_SLACK)).all()
    )
    return (id_numbers.astype(np.int64), values.astype(np.float32)) if good else None


def read_checked(where: str, text: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, float32 labels)`` read as text, raising a :class:`DataError` that names the line,
    column and value of the first problem (a ragged row, a non-number, NaN, out of range, a bad id)."""
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, header=0, names=names
        )
    except pd.errors.ParserError as exc:
        raise DataError(f"{where}: not a valid CSV ({str(exc).strip()})") from None
    if len(frame) == 0:
        raise DataError(f"{where}: no galaxies (header only)")

    id_numbers = pd.to_numeric(frame[tree.ID_COLUMN].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad_id = np.isnan(id_numbers) | (id_numbers != np.round(id_numbers)) | (id_numbers < 0)
    if bad_id.any():
        row = int(np.argmax(bad_id))
        raise DataError(
            f"{where} line {_line(row)}, column GalaxyID: {frame[tree.ID_COLUMN].iloc[row]!r} is not a galaxy id"
        )
    ids = id_numbers.astype(np.int64)

    answers = list(tree.ANSWER_COLUMNS)
    numbers = frame[answers].apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    _bad_value_error(where, frame, numbers, ids)
    return ids, numbers.to_numpy(dtype=np.float32)


def read_labels(root: str | os.PathLike[str], *, tree_tolerance: float = 0.01) -> tuple[str, np.ndarray, np.ndarray]:
    """``(label file description, int64 ids, float32 (n, 37) labels)`` in file order, validated.

    Checks the header (missing, extra, misspelled, repeated columns), GalaxyIDs (integers,
    unique), values (numbers in [0, 1], no NaN) and the decision-tree sums (within
    ``tree_tolerance``); the first problem is raised as a :class:`DataError` naming the line.
    """
    where, raw = _find_labels(Path(root))
    if not raw.strip():
        raise DataError(f"{where}: empty file")
    first_line = raw[: raw.find(b"\n")] if b"\n" in raw else raw
    header = next(csv.reader([first_line.decode("utf-8-sig", errors="replace").rstrip("\r")]))
    names = _check_header(where, header)
    numeric = read_numeric(raw, names)
    if numeric is None:
        numeric = read_checked(where, raw.decode("utf-8-sig", errors="replace"), names)
    ids, labels = numeric
    labels = np.clip(labels, 0.0, 1.0)

    duplicated = pd.Series(ids).duplicated(keep=False).to_numpy()
    if duplicated.any():
        rows = np.nonzero(ids == ids[np.argmax(duplicated)])[0]
        lines = ", ".join(str(_line(r)) for r in rows)
        count = len(np.unique(ids[duplicated]))
        more = f" ({count} duplicated ids in all)" if count > 1 else ""
        raise DataError(f"{where}: GalaxyID {ids[rows[0]]} appears {len(rows)} times (lines {lines}){more}")

    violations = tree.tree_violations(labels, tolerance=tree_tolerance)
    if len(violations):
        worst = violations.loc[violations["excess"].abs().idxmax()]
        row, number = int(worst["row"]), int(worst["question"])
        parent = tree.QUESTIONS[number - 1].parent or "1"
        n_rows = violations["row"].nunique()
        raise DataError(
            f"{where}: {n_rows} row(s) break the decision-tree sums by more than {tree_tolerance:g}; worst: "
            f"line {_line(row)} (GalaxyID {ids[row]}), question {number} answers sum to {worst['sum']:.4f} "
            f"but should equal {parent} = {worst['expected']:.4f}"
        )
    return where, ids, labels


# --------------------------------------------------------------------------- data set


@dataclass
class GalaxyData:
    """Labelled galaxies that have a usable image, plus what was left out and why."""

    root: Path
    ids: np.ndarray  # int64, sorted
    labels: np.ndarray  # float32 (n, 37), Kaggle column order (tree.ANSWER_COLUMNS)
    images: ImageSource
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image, reason) skipped on request
    unlabelled: int = 0  # images without a label row (counted, ignored)
    label_file: str = ""  # where the labels came from
    resized: int = 0  # images that are not 424x424, accepted to be resized (resize_bad_size)

    def __len__(self) -> int:
        return len(self.ids)

    def frame(self) -> pd.DataFrame:
        """GalaxyID + the 37 answer columns, one row per galaxy."""
        df = pd.DataFrame(self.labels, columns=list(tree.ANSWER_COLUMNS))
        df.insert(0, tree.ID_COLUMN, self.ids)
        return df

    def subset(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, labels)`` for the given GalaxyIDs, in the given order (unknown ids are an error)."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        missing = ids[self.ids[pos] != ids] if len(self.ids) else ids
        if len(missing):
            raise DataError(f"{self.root}: GalaxyID {missing[0]} is not in the data set ({len(missing)} unknown ids)")
        return ids, self.labels[pos]


def _training_images(root: Path) -> ImageSource:
    if root.is_file():
        return zip_source(root, TRAINING_IMAGES) if any(
            f"{TRAINING_IMAGES}/" in n for n in zip_names(root)
        ) else zip_source(root)
    if (root / TRAINING_IMAGES).is_dir():
        return folder_source(root / TRAINING_IMAGES)
    if (root / f"{TRAINING_IMAGES}.zip").is_file():
        return zip_source(root / f"{TRAINING_IMAGES}.zip", TRAINING_IMAGES)
    raise DataError(f"{root}: no {TRAINING_IMAGES}/ folder or {TRAINING_IMAGES}.zip")


def load_dataset(
    path: str | os.PathLike[str],
    *,
    tree_tolerance: float = 0.01,
    skip_bad_images: bool = False,
    resize_bad_size: bool = False,
    full_decode: bool = False,
    progress: bool | None = None,
) -> GalaxyData:
    """Load and validate a Kaggle-layout data set (folder, folder of Kaggle zips, or one zip).

    Labels are checked first (see :func:`read_labels`), then every labelled galaxy's image
    (markers and size; every pixel with ``full_decode``). Bad images are an error unless
    ``skip_bad_images`` (then listed in ``skipped``); images that are not 424x424 are an error
    unless ``resize_bad_size`` (the pipeline then resizes them). Images without a label row
    are counted in ``unlabelled`` and otherwise ignored.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"data set not found: {root}")
    if root.is_file():
        require_zip(root, "expected a Kaggle-layout folder or a .zip")
    label_file, label_ids, labels = read_labels(root, tree_tolerance=tree_tolerance)
    images = _training_images(root)

    has_image = np.isin(label_ids, images.ids())
    if not has_image.all():
        missing = np.nonzero(~has_image)[0]
        row = int(missing[0])
        raise DataError(
            f"{label_file} line {_line(row)}: GalaxyID {label_ids[row]} has no image {label_ids[row]}.jpg in "
            f"{images.location} ({len(missing)} labelled galaxies without an image)"
        )
    unlabelled = int(len(images) - len(label_ids))

    order = np.argsort(label_ids, kind="stable")
    ids, labels = label_ids[order], labels[order]
    keep = np.ones(len(ids), dtype=bool)
    skipped: list[tuple[str, str]] = []
    resized = 0
    errors: list[tuple[int, str]] = []
    for i, (gid, problem, size) in enumerate(check_images(images, ids, full_decode=full_decode, progress=progress)):
        if problem is None and size != (IMAGE_SIDE, IMAGE_SIDE):
            if resize_bad_size:
                resized += 1
                continue
            problem = f"image is {size[1]}x{size[0]} pixels, expected {IMAGE_SIDE}x{IMAGE_SIDE}"  # type: ignore[index]
        if problem is None:
            continue
        if skip_bad_images:
            keep[i] = False
            skipped.append((images.describe(gid), problem))
        else:
            errors.append((gid, problem))
    if errors:
        gid, problem = errors[0]
        hint = "--resize-bad-size / resize_bad_size=True" if "pixels, expected" in problem else (
            "--skip-bad-images / skip_bad_images=True"
        )
        more = f" ({len(errors)} bad images in all)" if len(errors) > 1 else ""
        raise DataError(f"{images.describe(gid)}: {problem}{more}; use {hint} to go on")
    ids, labels = ids[keep], labels[keep]
    if len(ids) == 0:
        raise DataError(f"{root}: empty data set (no labelled galaxy with a usable image)")
    return GalaxyData(root, ids, labels, images, skipped, unlabelled, label_file, resized)


def load_for_config(config: Any, **kwargs: Any) -> GalaxyData:
    """The data set a configuration names (``config.data``, relative to the project root), read and
    validated. Reads only: a missing folder is the one-line error of :func:`data_folder`, never a new
    synthetic sky (the entry points that need one generate it:
    :func:`galaxy_lib.synth.sky.ensure_synthetic`)."""
    return load_dataset(
        data_folder(config),
        tree_tolerance=config.tree_tolerance,
        skip_bad_images=config.skip_bad_images,
        resize_bad_size=config.resize_bad_size,
        **kwargs,
    )


def data_folder(config: Any) -> Path:
    """The data folder ``config`` reads: ``config.data`` from the project root, or for the shared sample's
    path the locally built copy (:func:`galaxy_lib.data.sample.locate`). Writes nothing.

    Raises a :class:`DataError` naming the folder and the command that makes it when it is not there
    (for ``synthetic: true``, when it holds no labels yet): training, evaluation, baselines, saliency,
    curves and ensembles all load through here, and a read that quietly rendered minutes of galaxies
    into a mistyped path would hide the typo. A folder that another process is generating right now
    is a :class:`BusyError` naming that process instead.
    """
    root = locate(resolve_path(config.data), project_root())  # the shared sample, else its local build
    synthetic = bool(getattr(config, "synthetic", False))
    if root.exists() and not (synthetic and root.is_dir() and not has_labels(root)):
        return root
    generating = holder(root)
    if generating is not None:
        raise BusyError(f"{display_path(root)} is being made by process {generating.get('pid')} "
                        f"({generating.get('what') or 'busy'}: {generating.get('command') or 'unknown command'}); "
                        "wait for it to finish")
    if synthetic:
        from galaxy_lib.synth.sky import synth_command  # a string; the renderer's libraries load only to render

        raise DataError(f"{display_path(root)}: no synthetic sky there yet (config key 'data'); loading never "
                        f"generates one: make it with `{synth_command(config)}` (`report` and the notebooks make it "
                        "too)")
    if root == (project_root() / LOCAL).resolve():
        raise DataError(f"{display_path(root)}: the real sample is not built yet (config key 'data'); build it from "
                        f"Kaggle's zips with `{BUILD_HINT}`")
    raise DataError(f"data set not found: {display_path(root)} (config key 'data'; pass --data PATH, or put "
                    "Kaggle's zips or a Kaggle-layout folder there)")


def summarise(data: GalaxyData, *, tree_tolerance: float = 0.01) -> str:
    """A printable summary: counts, per-answer means and how closely rows follow the tree sums."""
    strict = 1e-4
    sums, expected = tree.question_sums(data.labels)
    deviation = np.abs(sums - expected)
    row, q = np.unravel_index(int(np.argmax(deviation)), deviation.shape)
    n_strict = int((deviation > strict).any(axis=1).sum())
    lines = [
        f"data set:    {display_path(data.root)}",  # relative to the project root: reports show this
        f"labels:      {display_path(data.label_file)}",
        f"images:      {display_path(data.images.location)} ({data.images.kind}, {len(data.images):,} images)",
        f"galaxies:    {len(data):,} labelled with a usable image",
        f"unlabelled:  {data.unlabelled:,} images without a label row (ignored)",
        f"skipped:     {len(data.skipped):,} bad images",
    ]
    lines += [f"  - {name}: {reason}" for name, reason in data.skipped[:20]]
    if len(data.skipped) > 20:
        lines.append(f"  ... and {len(data.skipped) - 20} more")
    if data.resized:
        lines.append(f"resized:     {data.resized:,} images are not {IMAGE_SIDE}x{IMAGE_SIDE} (resized when read)")
    lines += [
        f"tree sums:   all rows within {tree_tolerance:g}; {n_strict:,} rows deviate by more than {strict:g}; "
        f"worst {deviation[row, q]:.2e} (GalaxyID {data.ids[row]}, question {tree.QUESTIONS[q].number})",
        "answer means:",
    ]
    means = data.labels.mean(axis=0, dtype=np.float64)
    lines += [f"  {c:<10} {tree.ANSWER_LABELS[c]:<28} {m:.4f}" for c, m in zip(tree.ANSWER_COLUMNS, means, strict=True)]
    return "\n".join(lines)


def check_data(
    path: str | os.PathLike[str],
    *,
    tree_tolerance: float = 0.01,
    skip_bad_images: bool = False,
    resize_bad_size: bool = False,
    full_decode: bool = False,
) -> str:
    """Validate a data set (raising :class:`DataError` on the first problem) and summarise it."""
    data = load_dataset(
        path,
        tree_tolerance=tree_tolerance,
        skip_bad_images=skip_bad_images,
        resize_bad_size=resize_bad_size,
        full_decode=full_decode,
    )
    return summarise(data, tree_tolerance=tree_tolerance)
