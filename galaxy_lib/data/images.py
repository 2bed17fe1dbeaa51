"""Kaggle image folders and zips as sources of JPEG bytes, and quick JPEG checks.

An :class:`ImageSource` hides whether ``images_training_rev1`` is a folder or Kaggle's zip read
in place, so the rest of the library asks for a galaxy's bytes by GalaxyID. Images are checked
from their JPEG *headers* (start/end markers and frame size) on a thread pool, which keeps a
check of Kaggle's 61,578 images to seconds; a full decode is optional. Pixels are read later,
streamed by :mod:`galaxy_lib.data.pipeline`.
"""

from __future__ import annotations

import functools
import io
import os
import re
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from galaxy_lib.errors import DataError
from galaxy_lib.kaggle import IMAGE_SIDE, TEST_IMAGES, TRAINING_IMAGES  # also known as images.*

_IMAGE_NAME = re.compile(r"(?:^|/)(\d+)\.jpe?g$", re.IGNORECASE)
_HEAD_BYTES = 4096  # Kaggle JPEGs carry their frame header within the first few hundred bytes
_TAIL_BYTES = 64
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_BIG = 1000  # show a progress bar from this many images on
_CHECK_CHUNK = 1024  # ids in flight on the checker's thread pool


class ImageSource:
    """A folder or a zip of ``<GalaxyID>.jpg`` files, indexed once by GalaxyID.

    Zips are read in place through one shared :class:`zipfile.ZipFile`: its members can be read
    from several threads at once (each read seeks and reads under the archive's own lock, and
    decompresses outside it), so the thread pools of the checker and of tf.data share it. One
    handle per thread would parse the central directory once per thread: 36 MB for Kaggle's
    61,578 training images, times every thread tf.data or the checker starts, which made peak
    memory grow with the data set (benchmarks/results/scale-n61578.json).
    """

    def __init__(self, kind: str, location: Path, names: dict[int, str]) -> None:
        if kind not in ("folder", "zip"):
            raise ValueError(f"ImageSource kind must be 'folder' or 'zip', got {kind!r}")
        self.kind = kind
        self.location = Path(location)
        self._names = names
        self._ids = np.array(sorted(names), dtype=np.int64)
        self._handle: zipfile.ZipFile | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ImageSource({self.kind!r}, {str(self.location)!r}, {len(self._ids)} images)"

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, galaxy_id: object) -> bool:
        return galaxy_id in self._names

    def __getstate__(self) -> dict[str, Any]:  # an open zip handle and a lock cannot be pickled
        state = self.__dict__.copy()
        del state["_handle"], state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._handle, self._lock = None, threading.Lock()

    def close(self) -> None:
        """Close the zip handle if open (it reopens on the next read)."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
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
        handle = self._handle
        if handle is None:
            with self._lock:
                if self._handle is None:
                    self._handle = zipfile.ZipFile(self.location)
                handle = self._handle
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


def folder_source(folder: Path) -> ImageSource:
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if e.is_file()]
    return ImageSource("folder", folder, _image_names(names, folder))


def zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable zip archive ({exc})") from None


def require_zip(path: Path, expected: str) -> None:
    """Refuse a file that is not a zip archive, saying which of two mistakes it is: a file named
    ``.zip`` that is damaged or not a zip at all, or some other file where ``expected`` was meant."""
    if zipfile.is_zipfile(path):
        return
    if path.suffix.lower() == ".zip":
        raise DataError(f"{path}: not a valid zip archive (damaged, truncated or not a zip file)")
    raise DataError(f"{path}: {expected}")


def zip_source(path: Path, subset: str | None = None) -> ImageSource:
    """Images inside a zip; ``subset`` keeps only members under a folder of that name."""
    names = zip_names(path)
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
        require_zip(p, "expected a folder or a .zip of <GalaxyID>.jpg images")
        return _nonempty(zip_source(p, subset))
    candidates = [subset] if subset else [TEST_IMAGES, TRAINING_IMAGES]
    for name in candidates:
        if (p / name).is_dir():
            return _nonempty(folder_source(p / name))
        if (p / f"{name}.zip").is_file():
            return _nonempty(zip_source(p / f"{name}.zip", name))
    if subset:
        raise DataError(f"{p}: no {subset}/ folder or {subset}.zip")
    source = folder_source(p)
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
    """``(GalaxyID, problem or None, (height, width))`` for each id, checked on a thread pool.

    Ids go to the pool a chunk at a time: ``Executor.map`` submits every task at once, and a
    pending future per galaxy is about 100 MB at Kaggle's 61,578.
    """
    ids = [int(i) for i in ids]
    workers = workers or min(32, 4 * (os.cpu_count() or 1))
    show = len(ids) >= _BIG if progress is None else progress
    check = functools.partial(_check_image, source, full_decode=full_decode)
    results: list[tuple[str | None, tuple[int, int] | None]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(ids), desc="checking images", disable=not show
    ) as bar:
        for start in range(0, len(ids), _CHECK_CHUNK):
            results.extend(pool.map(check, ids[start : start + _CHECK_CHUNK]))
            bar.update(min(_CHECK_CHUNK, len(ids) - start))
    return [(g, p, s) for g, (p, s) in zip(ids, results, strict=True)]


# --------------------------------------------------------------------------- central crops


def crop_offset(crop: int, side: int = IMAGE_SIDE) -> int:
    """Top/left pixel of the central ``crop`` of a ``side``-pixel edge: 148 for the paper's 128 of 424.

    The one definition of "central": the tf.data decoder (:func:`galaxy_lib.data.pipeline.decode_crop`),
    the galleries and the central-pixel baseline all cut their window here.
    """
    if not 1 <= crop <= side:
        raise ValueError(f"crop {crop} must be between 1 and {side}")
    return (side - crop) // 2


def decode_centre(data: bytes, crop: int, where: str = "image") -> np.ndarray:
    """The central ``crop`` x ``crop`` pixels of an encoded image (JPEG, PNG) as RGB uint8.

    The NumPy/OpenCV twin of the tf.data decoder, for code outside tf.data (figures, galleries,
    baselines). An image smaller than ``crop`` gives its central square as large as it fits.
    Raises :class:`DataError` naming ``where`` (the galaxy's file) when the bytes do not decode.
    """
    import cv2

    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:  # empty input, for one
        raise DataError(f"{where}: not a decodable image ({' '.join(str(exc).split())})") from None
    if image is None:
        raise DataError(f"{where}: not a decodable image")
    height, width = image.shape[:2]
    side = min(crop, height, width)
    top, left = crop_offset(side, height), crop_offset(side, width)
    return cv2.cvtColor(image[top : top + side, left : left + side], cv2.COLOR_BGR2RGB)


def read_centre(images: Any, galaxy_id: int, crop: int) -> np.ndarray:
    """:func:`decode_centre` of one galaxy of ``images`` (anything with ``read_bytes(galaxy_id)``,
    e.g. an :class:`ImageSource`); an undecodable image is a :class:`DataError` naming its file."""
    galaxy_id = int(galaxy_id)
    where = images.describe(galaxy_id) if hasattr(images, "describe") else f"galaxy {galaxy_id}"
    return decode_centre(images.read_bytes(galaxy_id), crop, where)
