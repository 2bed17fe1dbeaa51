"""Read and validate a Kaggle-layout Galaxy Zoo data set without unpacking or decoding it.

A data set is ``training_solutions_rev1.csv`` (GalaxyID + 37 vote fractions, also read from
``training_solutions_rev1.zip`` / ``.csv.zip``) plus ``images_training_rev1/<GalaxyID>.jpg``
(a folder, or Kaggle's ``images_training_rev1.zip`` read in place). Everything wrong with
the input is reported as one line naming the file, line, GalaxyID or column, because a
silent fix (a dropped row, a resized image) would change the numbers a paper reports.

Images are checked from their JPEG *headers* (start/end markers and frame size) on a
thread pool, which keeps a check of Kaggle's 61,578 images to seconds; a full decode is
optional. Pixels are read later, streamed by :mod:`galaxy_lib.pipeline`.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import os
import re
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.errors import DataError

IMAGE_SIDE = 424
"""Every Kaggle image is 424x424 pixels; crops are taken from its centre."""

TRAINING_IMAGES = "images_training_rev1"
TEST_IMAGES = "images_test_rev1"
LABELS_NAME = "training_solutions_rev1"
LABEL_FILES = (f"{LABELS_NAME}.csv", f"{LABELS_NAME}.csv.zip", f"{LABELS_NAME}.zip")

_IMAGE_NAME = re.compile(r"(?:^|/)(\d+)\.jpe?g$", re.IGNORECASE)
_VALUE_SLACK = 1e-6  # vote fractions are rounded; allow this much outside [0, 1]
_HEAD_BYTES = 4096  # Kaggle JPEGs carry their frame header within the first few hundred bytes
_TAIL_BYTES = 64
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_BIG = 1000  # show a progress bar from this many images on


# --------------------------------------------------------------------------- images


class ImageSource:
    """A folder or a zip of ``<GalaxyID>.jpg`` files, indexed once by GalaxyID.

    Zips are read in place with one handle per OS thread, so the thread pools of the checker
    and of tf.data can read them concurrently. (Handles are keyed by thread id rather than kept
    in ``threading.local``: TensorFlow's threads get a fresh Python thread state on every call,
    which would reopen the archive, and re-read its directory, for every image.)
    """

    def __init__(self, kind: str, location: Path, names: dict[int, str]) -> None:
        if kind not in ("folder", "zip"):
            raise ValueError(f"ImageSource kind must be 'folder' or 'zip', got {kind!r}")
        self.kind = kind
        self.location = Path(location)
        self._names = names
        self._ids = np.array(sorted(names), dtype=np.int64)
        self._handles: dict[int, zipfile.ZipFile] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ImageSource({self.kind!r}, {str(self.location)!r}, {len(self._ids)} images)"

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, galaxy_id: object) -> bool:
        return galaxy_id in self._names

    def __getstate__(self) -> dict[str, Any]:  # open zip handles and locks cannot be pickled
        state = self.__dict__.copy()
        del state["_handles"], state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._handles, self._lock = {}, threading.Lock()

    def close(self) -> None:
        """Close any open zip handles (they reopen on the next read)."""
        with self._lock:
            handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            handle.close()

    def ids(self) -> np.ndarray:
        """Sorted int64 GalaxyIDs of every image present."""
        return self._ids.copy()

    def member(self, galaxy_id: int) -> str:
        """File name (folder) or member name (zip) of one galaxy's image."""
        try:
            return self._names[int(galaxy_id)]
        except KeyError:
            raise DataError(f"{self.location}: no image for GalaxyID {galaxy_id}") from None

    def file_path(self, galaxy_id: int) -> str | None:
        """Real path of the image for folders (for ``tf.io.read_file``); None for zips."""
        return str(self.location / self.member(galaxy_id)) if self.kind == "folder" else None

    def describe(self, galaxy_id: int) -> str:
        """Where an image lives, for error messages: a path, or ``archive.zip:member``."""
        if self.kind == "folder":
            return str(self.location / self.member(galaxy_id))
        return f"{self.location}:{self.member(galaxy_id)}"

    def _zip(self) -> zipfile.ZipFile:
        key = threading.get_ident()
        handle = self._handles.get(key)
        if handle is None:
            handle = zipfile.ZipFile(self.location)
            with self._lock:
                self._handles[key] = handle
        return handle

    def read_bytes(self, galaxy_id: int) -> bytes:
        """The JPEG file's bytes, exactly as stored."""
        name = self.member(galaxy_id)
        if self.kind == "folder":
            return (self.location / name).read_bytes()
        return self._zip().read(name)

    def read_head_tail(self, galaxy_id: int) -> tuple[bytes, bytes]:
        """The first few KB and last bytes of an image: enough to check markers and size.

        A folder file is read at both ends only; a zip member is read whole (it is small,
        and zipfile then also verifies its CRC).
        """
        if self.kind == "zip":
            data = self.read_bytes(galaxy_id)
            return data, data[-_TAIL_BYTES:]
        with open(self.location / self.member(galaxy_id), "rb") as handle:
            head = handle.read(_HEAD_BYTES)
            size = handle.seek(0, os.SEEK_END)
            if size <= len(head):
                return head, head[-_TAIL_BYTES:]
            handle.seek(max(size - _TAIL_BYTES, 0))
            return head, handle.read()


def _image_names(names: list[str], where: Path) -> dict[int, str]:
    """Map GalaxyID -> name for every ``<digits>.jpg`` (ignoring ``__MACOSX`` and ``._`` files)."""
    out: dict[int, str] = {}
    for name in names:
        if name.startswith("__MACOSX/") or "/._" in name or name.startswith("._"):
            continue
        match = _IMAGE_NAME.search(name)
        if match is None:
            continue
        gid = int(match.group(1))
        if gid in out:
            raise DataError(f"{where}: two images for GalaxyID {gid}: {out[gid]} and {name}")
        out[gid] = name
    return out


def _folder_source(folder: Path) -> ImageSource:
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if e.is_file()]
    return ImageSource("folder", folder, _image_names(names, folder))


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable zip archive ({exc})") from None


def _zip_source(path: Path, subset: str | None = None) -> ImageSource:
    """Images inside a zip; ``subset`` keeps only members under a folder of that name."""
    names = _zip_names(path)
    if subset is not None:
        inside = [n for n in names if f"{subset}/" in n]
        names = inside or names  # a re-zipped folder may hold the images at the top level
    else:
        folders = {n.split("/")[-2] for n in names if "/" in n and _IMAGE_NAME.search(n)}
        if {TRAINING_IMAGES, TEST_IMAGES} <= folders:  # a zipped data-set root: prefer the test images
            names = [n for n in names if f"{TEST_IMAGES}/" in n]
    return ImageSource("zip", path, _image_names(names, path))


def _nonempty(source: ImageSource) -> ImageSource:
    if len(source) == 0:
        raise DataError(f"{source.location}: no <GalaxyID>.jpg images found")
    return source


def open_images(path: str | os.PathLike[str], *, subset: str | None = None) -> ImageSource:
    """A folder or zip of ``<GalaxyID>.jpg`` images (no labels needed), e.g. for prediction.

    ``path`` may also be a data-set root holding ``images_test_rev1`` / ``images_training_rev1``
    as folders or zips; ``subset`` picks one of those names, otherwise the test images are
    preferred (prediction is what unlabelled images are for) and the training images used
    when they are the only ones.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"image folder or zip not found: {p}")
    if p.is_file():
        if not zipfile.is_zipfile(p):
            raise DataError(f"{p}: expected a folder or a .zip of <GalaxyID>.jpg images")
        return _nonempty(_zip_source(p, subset))
    candidates = [subset] if subset else [TEST_IMAGES, TRAINING_IMAGES]
    for name in candidates:
        if (p / name).is_dir():
            return _nonempty(_folder_source(p / name))
        if (p / f"{name}.zip").is_file():
            return _nonempty(_zip_source(p / f"{name}.zip", name))
    if subset:
        raise DataError(f"{p}: no {subset}/ folder or {subset}.zip")
    source = _folder_source(p)
    if len(source) == 0:
        raise DataError(
            f"{p}: no <GalaxyID>.jpg images and no {TEST_IMAGES} or {TRAINING_IMAGES} folder or zip"
        )
    return source


# --------------------------------------------------------------------------- JPEG checks


def jpeg_problem(head: bytes, tail: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """Check a JPEG's markers without decoding it: ``(problem or None, (height, width) or None)``.

    Looks for the start-of-image marker, walks the segment headers to the frame header
    (which holds the size) and requires the file to end with the end-of-image marker, which
    catches the common damage: truncated downloads and non-JPEG files.
    """
    if head[:2] != b"\xff\xd8":
        return "not a JPEG (no start-of-image marker)", None
    if not tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return "truncated JPEG (no end-of-image marker)", None
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return f"corrupt JPEG (bad segment marker at byte {i})", None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):
            return "corrupt JPEG (image data before any frame header)", None
        length = int.from_bytes(head[i + 2 : i + 4], "big")
        if marker in _SOF_MARKERS:
            if i + 9 > len(head):
                break
            height = int.from_bytes(head[i + 5 : i + 7], "big")
            width = int.from_bytes(head[i + 7 : i + 9], "big")
            return None, (height, width)
        if length < 2:
            return f"corrupt JPEG (bad segment length at byte {i})", None
        i += 2 + length
    return None, None  # header longer than `head`: caller reads the whole file


def _full_decode_problem(data: bytes) -> str | None:
    """Decode every pixel (PIL raises on truncated or broken entropy-coded data)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception as exc:  # PIL raises several exception types for bad files
        return f"JPEG does not decode ({exc.__class__.__name__}: {exc})"
    return None


def _check_image(source: ImageSource, gid: int, full_decode: bool) -> tuple[str | None, tuple[int, int] | None]:
    try:
        head, tail = source.read_head_tail(gid)
        problem, size = jpeg_problem(head, tail)
        if problem is None and (size is None or full_decode):
            data = source.read_bytes(gid)
            problem, size = jpeg_problem(data, data[-_TAIL_BYTES:])
            if problem is None and size is None:
                problem = "corrupt JPEG (no frame header)"
            if problem is None and full_decode:
                problem = _full_decode_problem(data)
    except (OSError, zipfile.BadZipFile) as exc:
        return f"unreadable ({exc.__class__.__name__}: {exc})", None
    return problem, size


def check_images(
    source: ImageSource,
    ids: np.ndarray,
    *,
    full_decode: bool = False,
    workers: int | None = None,
    progress: bool | None = None,
) -> list[tuple[int, str | None, tuple[int, int] | None]]:
    """``(GalaxyID, problem or None, (height, width))`` for each id, checked on a thread pool."""
    ids = [int(i) for i in ids]
    workers = workers or min(32, 4 * (os.cpu_count() or 1))
    show = len(ids) >= _BIG if progress is None else progress
    check = functools.partial(_check_image, source, full_decode=full_decode)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(tqdm(pool.map(check, ids), total=len(ids), desc="checking images", disable=not show))
    return [(g, p, s) for g, (p, s) in zip(ids, results, strict=True)]


# --------------------------------------------------------------------------- labels


def _find_labels(root: Path) -> tuple[str, bytes]:
    """``(description, CSV bytes)`` of the label file in a folder or zipped data-set root."""
    if root.is_file():
        names = [n for n in _zip_names(root) if not n.startswith("__MACOSX/")]
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
        members = [n for n in _zip_names(path) if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")]
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


def read_labels(root: str | os.PathLike[str], *, tree_tolerance: float = 0.01) -> tuple[str, np.ndarray, np.ndarray]:
    """``(label file description, int64 ids, float32 (n, 37) labels)`` in file order, validated.

    Checks the header (missing, extra, misspelled, repeated columns), GalaxyIDs (integers,
    unique), values (numbers in [0, 1], no NaN) and the decision-tree sums (within
    ``tree_tolerance``); the first problem is raised as a :class:`DataError` naming the line.
    """
    where, raw = _find_labels(Path(root))
    if not raw.strip():
        raise DataError(f"{where}: empty file")
    text = raw.decode("utf-8-sig", errors="replace")
    header = next(csv.reader(io.StringIO(text)))
    names = _check_header(where, header)
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
    labels = np.clip(numbers.to_numpy(dtype=np.float32), 0.0, 1.0)

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
        return _zip_source(root, TRAINING_IMAGES) if any(
            f"{TRAINING_IMAGES}/" in n for n in _zip_names(root)
        ) else _zip_source(root)
    if (root / TRAINING_IMAGES).is_dir():
        return _folder_source(root / TRAINING_IMAGES)
    if (root / f"{TRAINING_IMAGES}.zip").is_file():
        return _zip_source(root / f"{TRAINING_IMAGES}.zip", TRAINING_IMAGES)
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
    if root.is_file() and not zipfile.is_zipfile(root):
        raise DataError(f"{root}: expected a Kaggle-layout folder or a .zip")
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
    """The data set a configuration names (``config.data``, relative to the project root),
    generated first when ``config.synthetic`` asks for it and it is not there yet."""
    from galaxy_lib.config import resolve_path

    root = resolve_path(config.data)
    if getattr(config, "synthetic", False):  # generates only when the labels are not there yet
        from galaxy_lib import synth

        root = Path(synth.ensure_synthetic(config))
    return load_dataset(
        root,
        tree_tolerance=config.tree_tolerance,
        skip_bad_images=config.skip_bad_images,
        resize_bad_size=config.resize_bad_size,
        **kwargs,
    )


def summarise(data: GalaxyData, *, tree_tolerance: float = 0.01) -> str:
    """A printable summary: counts, per-answer means and how closely rows follow the tree sums."""
    strict = 1e-4
    sums, expected = tree.question_sums(data.labels)
    deviation = np.abs(sums - expected)
    row, q = np.unravel_index(int(np.argmax(deviation)), deviation.shape)
    n_strict = int((deviation > strict).any(axis=1).sum())
    lines = [
        f"data set:    {data.root}",
        f"labels:      {data.label_file}",
        f"images:      {data.images.location} ({data.images.kind}, {len(data.images):,} images)",
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
