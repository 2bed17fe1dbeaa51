"""Stream galaxy crops into Keras with tf.data, in memory that does not grow with the data set.

The paper read every image with ``cv2.imread``, cropped it, appended it to a list and made
one NumPy array: 61,578 crops of 128x128x3 are 12 GB as float32, which crashed its authors'
kernels. Here the JPEG bytes are read in parallel and ``tf.io.decode_and_crop_jpeg`` decodes
only the central window, so a batch exists in memory only while it is being used. (The
paper's loop is kept for comparisons in ``benchmarks/paper_loader.py``.)

Geometry: the crop is the central ``crop`` x ``crop`` square of the 424x424 image (the paper:
pixels 148:276), optionally resized to ``image_size`` (Dieleman: crop 207, then 69x69).
Pixels come out RGB, float32 in [0, 1].

Data sets whose decoded crops fit a memory budget (``crop_memory_mb``; the real sample at 69x69
is 35 MB) are decoded once into one uint8 tensor (:func:`load_crops`), and every batch is a
gather from it plus in-graph augmentation: no Python call per batch, no GIL. Larger ones (the
full Kaggle set at 128x128 is 3 GB) stream from JPEGs or the on-disk crop cache as before, so
memory stays flat in the data set's size.

tf.data's autotuning is switched off (:func:`fixed_parallelism`), with the parallelism set to
the usable cores: destroying an autotuned iterator waits for its optimisation thread's next
wake-up, which backs off 10, 20, 40 ... ms from the iterator's start, so an epoch that made a
fresh iterator could end at 2.55, 5.11 or 10.23 s (the "10.3 s epochs"). ``benchmarks/bench_stall.py``
reproduces it in isolation: 4 of 8 epochs of 1.5 s ended at 2.55 s and 1 of 8 epochs of 6 s at 10.24 s
with autotuning, none without (benchmarks/results/stall-iterator.json).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.data.augment import mixup as mix_pairs
from galaxy_lib.data.images import IMAGE_SIDE, ImageSource, crop_offset
from galaxy_lib.errors import DataError
from galaxy_lib.paths import atomic_path
from galaxy_lib.tf_setup import data_threads, import_tensorflow

tf = import_tensorflow()

PREFETCH = 2  # batches ready ahead of the model: one being used, one next
DCT_METHOD = "INTEGER_ACCURATE"  # libjpeg's islow IDCT, as cv2.imread uses; "" (fast) differs by a few levels
CACHE_VERSION = 1  # bump when the decoding below changes, so old crop caches are not reused


def _output_side(crop: int, image_size: int) -> int:
    return image_size or crop


def fixed_parallelism(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data's autotuning off (parallelism is set explicitly where it is used).

    Why: an autotuned iterator runs an optimisation thread that sleeps 10 ms, 20 ms, 40 ms ...
    between rounds, and destroying the iterator (Keras does at the end of every ``fit`` and
    ``evaluate``) sometimes waits for that thread's next wake-up: 2.55, 5.11 or 10.23 s after the
    iterator started. In isolation (``benchmarks/bench_stall.py``,
    ``stall-iterator.json``) 5 of 16 autotuned epochs were rounded up to those lengths, none without.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _resize_uint8(image: tf.Tensor, side: int) -> tf.Tensor:
    """Resize a uint8 image; area averaging when shrinking (a 3x downsample averages 3x3 blocks)."""
    shrinking = image.shape[0] is not None and image.shape[0] >= side
    method = "area" if shrinking else "bilinear"
    resized = tf.image.resize(image, [side, side], method=method, antialias=not shrinking)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def decode_crop(data: tf.Tensor, crop: int = 128, image_size: int = 0, resize_bad_size: bool = False) -> tf.Tensor:
    """JPEG bytes -> uint8 RGB crop of side ``image_size or crop``, decoding only the crop window.

    The window is :func:`~galaxy_lib.data.images.crop_offset`'s, as in the NumPy twin
    :func:`~galaxy_lib.data.images.decode_centre` that figures and baselines use; this one is
    TensorFlow ops so that it runs inside tf.data.
    With ``resize_bad_size`` an image whose header says it is not 424x424 is decoded whole and
    resized to 424x424 first, so its crop covers the same part of the sky.
    """
    offset = crop_offset(crop)
    window = tf.constant([offset, offset, crop, crop], tf.int32)

    def fast() -> tf.Tensor:
        return tf.io.decode_and_crop_jpeg(data, window, channels=3, dct_method=DCT_METHOD)

    if resize_bad_size:
        shape = tf.io.extract_jpeg_shape(data)

        def full() -> tf.Tensor:
            image = tf.io.decode_jpeg(data, channels=3, dct_method=DCT_METHOD)
            image = tf.image.resize(image, [IMAGE_SIDE, IMAGE_SIDE], method="bilinear", antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
            return image[offset : offset + crop, offset : offset + crop, :]

        image = tf.cond(tf.reduce_all(tf.equal(shape[:2], IMAGE_SIDE)), fast, full)
    else:
        image = fast()
    image = tf.ensure_shape(image, [crop, crop, 3])
    if image_size and image_size != crop:
        image = _resize_uint8(image, image_size)
    return image


def _check_inputs(images: ImageSource, ids: Any, labels: Any) -> tuple[np.ndarray, np.ndarray | None]:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) == 0:
        raise DataError(f"{images.location}: no galaxies to read (empty id list)")
    if labels is not None:
        labels = np.asarray(labels, dtype=np.float32)
        if labels.shape != (len(ids), tree.N_ANSWERS):
            raise ValueError(f"labels must have shape ({len(ids)}, {tree.N_ANSWERS}), got {labels.shape}")
    return ids, labels


def _byte_reader(images: ImageSource, ids: np.ndarray) -> tuple[np.ndarray, Callable[[tf.Tensor], tf.Tensor]]:
    """``(table, reader)``: ``reader(table[i])`` gives the JPEG bytes of ``ids[i]``.

    Folders: file paths read by ``tf.io.read_file`` (no Python per image). Zips: GalaxyIDs read
    by ``ImageSource.read_bytes`` inside ``tf.numpy_function``, which needs the GIL (zips are
    read about half as fast as folders; extract them, or use a crop cache, for long training).
    """
    if images.kind == "folder":
        paths = np.array([images.file_path(int(g)) for g in ids], dtype=object)
        return paths, tf.io.read_file

    def read(galaxy_id: np.ndarray) -> np.bytes_:
        # A NumPy bytes scalar, not an object array: tf.numpy_function kept every object array's
        # bytes alive (RSS grew by the size of every JPEG read: 0.74 GB per 30,000 Kaggle images,
        # so an epoch of the full set from its zip leaked about 1.3 GB). np.bytes_ drops trailing
        # NUL bytes, which no complete JPEG has (it ends with the EOI marker FF D9); decoders
        # ignore anything after EOI anyway.
        return np.bytes_(images.read_bytes(int(galaxy_id)))

    def read_zip(galaxy_id: tf.Tensor) -> tf.Tensor:
        data = tf.numpy_function(read, [galaxy_id], tf.string, stateful=False)
        return tf.ensure_shape(data, [])

    return ids, read_zip


def decoded_crops(
    images: ImageSource,
    ids: Any,
    *,
    crop: int = 128,
    image_size: int = 0,
    resize_bad_size: bool = False,
    deterministic: bool = True,
) -> tf.data.Dataset:
    """Unbatched uint8 crops in ``ids`` order (the building block of :func:`make_dataset`)."""
    ids, _ = _check_inputs(images, ids, None)
    source, read = _byte_reader(images, ids)
    return fixed_parallelism(tf.data.Dataset.from_tensor_slices(source).map(
        lambda s: decode_crop(read(s), crop, image_size, resize_bad_size),
        num_parallel_calls=data_threads(),
        deterministic=deterministic,
    ))


# --------------------------------------------------------------------------- crop cache


def cache_key(images: ImageSource, ids: np.ndarray, crop: int, image_size: int, resize_bad_size: bool) -> str:
    """Hash of everything that decides the cached bytes: source, ids in order, geometry."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            [CACHE_VERSION, images.kind, str(images.location.resolve()), crop, image_size, resize_bad_size, DCT_METHOD]
        ).encode()
    )
    digest.update(np.asarray(ids, dtype="<i8").tobytes())
    return digest.hexdigest()[:20]


def build_crop_cache(
    images: ImageSource,
    ids: Any,
    cache_dir: str | os.PathLike[str],
    *,
    crop: int = 128,
    image_size: int = 0,
    resize_bad_size: bool = False,
    progress: bool | None = None,
) -> Path:
    """Decode every crop once into a flat uint8 file (row ``i`` = ``ids[i]``) and return its path.

    The file name carries :func:`cache_key`, so a different id list, crop or size never
    reuses a stale cache; it is written to a temporary name and renamed when complete.
    """
    ids, _ = _check_inputs(images, ids, None)
    side = _output_side(crop, image_size)
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crops-{side}px-{len(ids)}-{cache_key(images, ids, crop, image_size, resize_bad_size)}.u8"
    if path.is_file() and path.stat().st_size == crops_nbytes(len(ids), crop, image_size):
        return path
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        for batch in _decoded_batches(images, ids, crop, image_size, resize_bad_size, "caching crops", progress):
            handle.write(batch.tobytes())
    return path


def _decoded_batches(
    images: ImageSource, ids: np.ndarray, crop: int, image_size: int, resize_bad_size: bool, desc: str,
    progress: bool | None,
) -> Iterator[np.ndarray]:
    """uint8 crops of ``ids`` in order, 256 at a time, with a progress bar (shown from 1,000
    galaxies when ``progress`` is None): the one decoding loop of the cache and of :func:`load_crops`."""
    batches = decoded_crops(images, ids, crop=crop, image_size=image_size, resize_bad_size=resize_bad_size)
    show = len(ids) >= 1000 if progress is None else progress
    with tqdm(total=len(ids), desc=desc, disable=not show) as bar:
        for batch in batches.batch(256).prefetch(PREFETCH).as_numpy_iterator():
            yield batch
            bar.update(len(batch))


class CacheReader:
    """Reads rows of a crop cache with ``os.pread`` (no memory map, so nothing accumulates in RSS).

    A context manager that closes its file on exit (or by :meth:`close`); :func:`make_dataset`
    opens one per batch. It used to open the file once per dataset and leave closing it to
    ``__del__``, but tf.data keeps the Python function of a ``numpy_function`` alive until the
    interpreter exits: every epoch's dataset held one more descriptor, and ``__del__`` closed them
    during interpreter shutdown, where it could fail ("Exception ignored in CacheReader.__del__").
    An ``open`` per batch of crops costs microseconds.
    """

    def __init__(self, path: Path, side: int) -> None:
        self.path, self.side = path, side
        self.row_bytes = side * side * 3
        self.fd: int | None = os.open(path, os.O_RDONLY)

    def close(self) -> None:
        """Close the file (again: nothing happens)."""
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> CacheReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        if self.fd is None:
            raise ValueError(f"{self.path}: crop cache reader is closed")
        out = np.empty((len(rows), self.side, self.side, 3), dtype=np.uint8)
        flat = out.reshape(len(rows), -1)
        for j, row in enumerate(rows):
            data = os.pread(self.fd, self.row_bytes, int(row) * self.row_bytes)
            if len(data) != self.row_bytes:
                raise DataError(f"{self.path}: crop cache is truncated at row {row}; delete it to rebuild")
            flat[j] = np.frombuffer(data, dtype=np.uint8)
        return out


# --------------------------------------------------------------------------- the pipeline


def epoch_order(n: int, *, shuffle: bool, seed: int = 0) -> tf.data.Dataset:
    """Row numbers ``0..n-1`` for one pass: in order, or a fresh seeded permutation per epoch.

    A shuffle buffer would hold ``n`` elements (and refill at every epoch); one int64
    permutation tensor is 8 bytes a row. Each new iteration (epoch) draws its permutation
    seed from ``Dataset.random(seed)``, so the sequence of epochs is fixed by ``seed``.
    """
    if not shuffle:
        return tf.data.Dataset.range(n)
    epoch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)

    def permutation(epoch_seed: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), epoch_seed])
        rows = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key)
        return tf.data.Dataset.from_tensor_slices(rows)

    # flat_map hides the length from tf.data; stating it lets Keras count the steps of an epoch
    return epoch_seeds.flat_map(permutation).apply(tf.data.experimental.assert_cardinality(n))


def crops_nbytes(n: int, crop: int, image_size: int) -> int:
    """Bytes of ``n`` decoded uint8 crops of side ``image_size or crop``."""
    side = _output_side(crop, image_size)
    return n * side * side * 3


def load_crops(
    images: ImageSource,
    ids: Any,
    *,
    crop: int = 128,
    image_size: int = 0,
    resize_bad_size: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Every crop of ``ids``, in order, as one uint8 array ``(n, side, side, 3)``.

    With ``cache_dir`` the crops come from (or first go to) the on-disk crop cache
    (:func:`build_crop_cache`), so later runs skip the JPEG decoding; without it they are
    decoded straight into the array. Callers check the size first (:func:`crops_nbytes`).
    """
    ids, _ = _check_inputs(images, ids, None)
    side = _output_side(crop, image_size)
    if cache_dir is not None:
        path = build_crop_cache(
            images, ids, cache_dir, crop=crop, image_size=image_size, resize_bad_size=resize_bad_size,
            progress=progress,
        )
        return np.fromfile(path, dtype=np.uint8).reshape(len(ids), side, side, 3)
    out = np.empty((len(ids), side, side, 3), dtype=np.uint8)
    row = 0
    for batch in _decoded_batches(images, ids, crop, image_size, resize_bad_size, "decoding crops", progress):
        out[row : row + len(batch)] = batch
        row += len(batch)
    return out


def make_dataset(
    images: ImageSource,
    ids: Any,
    labels: Any = None,
    *,
    crop: int = 128,
    image_size: int = 0,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    augment: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    drop_remainder: bool = False,
    resize_bad_size: bool = False,
    deterministic: bool = True,
    crops: tf.Tensor | np.ndarray | None = None,
    mixup: float = 0.0,
) -> tf.data.Dataset:
    """Batches ``(x, y)`` (or ``x`` when ``labels`` is None) for Keras.

    ``x`` is float32 NHWC RGB in [0, 1] of side ``image_size or crop``; ``y`` float32 (b, 37).
    With ``shuffle`` the order is reshuffled every epoch from ``seed`` (the same ``seed`` gives
    the same sequence of epochs); otherwise it is the order of ``ids``. ``augment(x, seed)``
    gets each batch and a stateless seed (two int64) that differs per batch and epoch; ``mixup``
    (a Beta parameter, needs ``labels``) then mixes each augmented batch's images and labels in
    pairs (:func:`galaxy_lib.data.augment.mixup`) from a seed of its own, so the views are those
    of the same run without mixup.

    Where the crops come from, fastest first (the batches are the same in every case):

    - ``crops``: every crop of ``ids`` already in memory (:func:`load_crops`, once per run);
      a batch is a gather from it. Building such a dataset costs tens of milliseconds, so a training
      loop can lay a new seeded order over the same crops every epoch.
    - ``cache_dir``: all crops are decoded once, now, into a uint8 file there
      (:func:`build_crop_cache`) and each batch reads its rows back.
    - neither: each crop is read and decoded from its JPEG; only the list of file names (and
      one permutation of row numbers) is held in memory, never the images.
    """
    ids, labels = _check_inputs(images, ids, labels)
    side = _output_side(crop, image_size)
    batching = _Batching(
        order=epoch_order(len(ids), shuffle=shuffle, seed=seed), batch_size=batch_size, drop_remainder=drop_remainder,
        threads=data_threads(), deterministic=deterministic,
        label_table=None if labels is None else tf.constant(labels),
    )
    if crops is not None:
        batches = _batches_from_crops(batching, crops, len(ids), side)
    elif cache_dir is not None:
        path = build_crop_cache(
            images, ids, cache_dir, crop=crop, image_size=image_size, resize_bad_size=resize_bad_size
        )
        batches = _batches_from_cache(batching, path, side)
    else:
        batches = _batches_from_jpegs(batching, images, ids, crop, image_size, resize_bad_size)
    batches = _model_inputs(batching, batches, augment=augment, mixup=mixup, seed=seed)
    return fixed_parallelism(batches.prefetch(PREFETCH))


@dataclass(frozen=True)
class _Batching:
    """What :func:`make_dataset`'s three crop sources share: the epoch's order of rows, how they
    are batched and mapped in parallel, and the labels each batch of crops is joined with."""

    order: tf.data.Dataset
    batch_size: int
    drop_remainder: bool
    threads: int
    deterministic: bool
    label_table: tf.Tensor | None  # None: batches of images alone

    def with_labels(self, x: tf.Tensor, rows: tf.Tensor) -> Any:
        return x if self.label_table is None else (x, tf.gather(self.label_table, rows))

    def map(self, batches: tf.data.Dataset, function: Callable[..., Any]) -> tf.data.Dataset:
        return batches.map(function, num_parallel_calls=self.threads, deterministic=self.deterministic)

    def batched(self, rows: tf.data.Dataset) -> tf.data.Dataset:
        return rows.batch(self.batch_size, drop_remainder=self.drop_remainder)


def _batches_from_crops(batching: _Batching, crops: tf.Tensor | np.ndarray, n: int, side: int) -> tf.data.Dataset:
    """Batches gathered from every crop already in memory (one uint8 tensor): no decoding, no reading."""
    table = tf.convert_to_tensor(crops, dtype=tf.uint8)
    if tuple(table.shape) != (n, side, side, 3):
        raise ValueError(f"crops must have shape ({n}, {side}, {side}, 3), got {tuple(table.shape)}")
    return batching.map(batching.batched(batching.order),
                        lambda rows: batching.with_labels(tf.gather(table, rows), rows))


def _batches_from_cache(batching: _Batching, path: Path, side: int) -> tf.data.Dataset:
    """Batches read back, row by row, from the crop cache file ``path`` (:func:`build_crop_cache`)."""

    def read_rows(rows: np.ndarray) -> np.ndarray:
        with CacheReader(path, side) as reader:  # open for this batch only: closed when read
            return reader(rows)

    def load_batch(rows: tf.Tensor) -> Any:
        x = tf.ensure_shape(tf.numpy_function(read_rows, [rows], tf.uint8, stateful=False), [None, side, side, 3])
        return batching.with_labels(x, rows)

    return batching.map(batching.batched(batching.order), load_batch)


def _batches_from_jpegs(batching: _Batching, images: ImageSource, ids: np.ndarray, crop: int, image_size: int,
                        resize_bad_size: bool) -> tf.data.Dataset:
    """Batches of crops read and decoded from their JPEGs: only the file names are held in memory."""
    source, read = _byte_reader(images, ids)
    paths = tf.constant(source)

    def load_one(row: tf.Tensor) -> Any:
        return batching.with_labels(decode_crop(read(tf.gather(paths, row)), crop, image_size, resize_bad_size), row)

    return batching.batched(batching.map(batching.order, load_one))


def _model_inputs(batching: _Batching, batches: tf.data.Dataset, *,
                  augment: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None, mixup: float,
                  seed: int) -> tf.data.Dataset:
    """``batches`` of uint8 crops as the model takes them: float32 in [0, 1], augmented and mixed
    (``mixup``) when asked, each batch from a stateless seed drawn from ``seed``."""
    labelled = batching.label_table is not None

    def to_float(*batch: Any) -> Any:
        x = tf.cast(batch[0], tf.float32) / 255.0
        return x if not labelled else (x, batch[1])

    if mixup > 0 and not labelled:
        raise ValueError("mixup mixes labels too: it needs labels")
    if augment is None and mixup <= 0:
        return batching.map(batches, to_float)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def apply(batch: Any, random: tf.Tensor) -> Any:
        # One map for the cast and the augmentation: a batch crosses one fewer tf.data stage.
        batch = to_float(*batch) if isinstance(batch, tuple) else to_float(batch)
        pair = tf.stack([tf.constant(seed, tf.int64), random])
        if not labelled:
            return augment(batch, pair)
        x, y = batch
        if augment is not None:
            x = augment(x, pair)
        if mixup > 0:
            x, y = mix_pairs(x, y, tf.random.experimental.stateless_fold_in(pair, 1), mixup)
        return x, y

    return batching.map(tf.data.Dataset.zip((batches, seeds)), apply)
