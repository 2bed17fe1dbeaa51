"""Input pipeline: crops match a cv2 decode, order/shuffle/cache behave (the paper's in-RAM loader is
benchmark code: tests/test_benchmarks.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from galaxy_lib.data import dataset, images, pipeline
from galaxy_lib.errors import DataError

IMAGES = "images_training_rev1"


def _cv2_crop_rgb(path: str, crop: int) -> np.ndarray:
    lo = (424 - crop) // 2
    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)[lo : lo + crop, lo : lo + crop]


def _batches(ds) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_real_crops_match_cv2_decode(real_sample):
    """decode_and_crop_jpeg decodes only the window; libjpeg's chroma upsampling at the window
    edge may differ from a full decode by a few levels on a handful of pixels, no more."""
    data = dataset.load_dataset(real_sample, progress=False)
    ids, labels = data.ids[::100], data.labels[::100]
    x, y = _batches(pipeline.make_dataset(data.images, ids, labels, crop=128, batch_size=16))
    assert x.shape == (len(ids), 128, 128, 3) and x.dtype == np.float32
    assert np.array_equal(y, labels)
    reference = np.stack([_cv2_crop_rgb(data.images.file_path(g), 128) for g in ids]).astype(np.float32)
    diff = np.abs(x * 255 - reference)
    assert diff.max() <= 8, diff.max()
    assert diff.mean() < 0.05, diff.mean()
    assert (diff > 0.5).mean() < 0.01


def test_shapes_range_and_order(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)
    x, y = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, crop=64, batch_size=5))
    assert x.shape == (12, 64, 64, 3) and y.shape == (12, 37)
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.3
    assert np.array_equal(y, data.labels)  # no shuffle: the order of ids
    batches = list(pipeline.make_dataset(data.images, data.ids, data.labels, crop=64, batch_size=5,
                                         drop_remainder=True))
    assert [len(b[0]) for b in batches] == [5, 5]
    images_only = next(iter(pipeline.make_dataset(data.images, data.ids[:3], crop=32, batch_size=3)))
    assert images_only.shape == (3, 32, 32, 3)
    for gid, image in zip(data.ids[:3], images_only.numpy(), strict=True):
        reference = _cv2_crop_rgb(data.images.file_path(gid), 32).astype(np.float32)
        assert np.abs(image * 255 - reference).max() <= 8


def test_seeded_shuffle_is_reproducible_and_reshuffles_each_epoch(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)

    def epochs(seed: int) -> list[list[float]]:
        ds = pipeline.make_dataset(data.images, data.ids, data.labels, crop=16, batch_size=4, shuffle=True, seed=seed)
        return [_batches(ds)[1][:, 0].tolist() for _ in range(2)]

    for shuffle in (True, False):
        ds = pipeline.make_dataset(data.images, data.ids, data.labels, crop=16, batch_size=5, shuffle=shuffle)
        assert int(ds.cardinality()) == 3  # known up front, so Keras can count the steps of an epoch
    first, again, other = epochs(1), epochs(1), epochs(2)
    assert first == again
    assert first[0] != first[1]  # a new order every epoch
    assert first != other
    assert sorted(first[0]) == sorted(data.labels[:, 0].tolist())  # every galaxy once per epoch


def test_resize_after_crop(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)
    x = next(iter(pipeline.make_dataset(data.images, data.ids[:2], crop=207, image_size=69, batch_size=2)))
    assert x.shape == (2, 69, 69, 3)
    crop = _cv2_crop_rgb(data.images.file_path(data.ids[0]), 207)
    reference = cv2.resize(crop, (69, 69), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(x.numpy()[0] * 255 - reference).mean() < 1.0


def test_tf_decoder_and_numpy_decoder_cut_the_same_window(kaggle_folder):
    """pipeline.decode_crop (tf.data) and images.decode_centre (figures, baselines) share crop_offset."""
    data = dataset.load_dataset(kaggle_folder)
    for crop in (32, 128, 207):
        x = next(iter(pipeline.make_dataset(data.images, data.ids[:3], crop=crop, batch_size=3))).numpy() * 255
        reference = np.stack([images.read_centre(data.images, g, crop) for g in data.ids[:3]]).astype(np.float32)
        assert np.abs(x - reference).max() <= 8  # JPEG chroma upsampling at the window edge, no more


def test_zip_and_folder_give_the_same_batches(kaggle_folder, tmp_path):
    folder = dataset.open_images(kaggle_folder / IMAGES)
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for jpg in sorted((kaggle_folder / IMAGES).iterdir()):
            handle.write(jpg, f"{IMAGES}/{jpg.name}")
    zipped = dataset.open_images(archive)
    ids = folder.ids()
    a = np.concatenate([b.numpy() for b in pipeline.make_dataset(folder, ids, crop=48, batch_size=5)])
    b = np.concatenate([b.numpy() for b in pipeline.make_dataset(zipped, ids, crop=48, batch_size=5)])
    assert np.array_equal(a, b)


def test_crop_cache_gives_identical_batches_and_is_keyed(kaggle_folder, tmp_path):
    data = dataset.load_dataset(kaggle_folder)
    cache = tmp_path / "cache"
    kwargs = {"crop": 60, "image_size": 20, "batch_size": 5}
    plain = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, **kwargs))
    cached = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, cache_dir=cache, **kwargs))
    assert np.array_equal(plain[0], cached[0]) and np.array_equal(plain[1], cached[1])
    files = sorted(cache.glob("*.u8"))
    assert len(files) == 1 and files[0].stat().st_size == 12 * 20 * 20 * 3
    # reused, not rebuilt: with the JPEGs gone the cache still serves the same crops
    stamp = files[0].stat().st_mtime_ns
    shutil.move(kaggle_folder / IMAGES, tmp_path / "moved")
    again = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, cache_dir=cache, **kwargs))
    assert np.array_equal(again[0], plain[0]) and files[0].stat().st_mtime_ns == stamp
    shutil.move(tmp_path / "moved", kaggle_folder / IMAGES)
    # other ids or geometry: a new file, never the stale one
    pipeline.make_dataset(data.images, data.ids[:6], data.labels[:6], cache_dir=cache, **kwargs)
    pipeline.make_dataset(data.images, data.ids, data.labels, cache_dir=cache, crop=60, image_size=0, batch_size=5)
    assert len(list(cache.glob("*.u8"))) == 3
    # shuffled epochs from the cache: same labels/images pairing as without the cache
    shuffled = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, cache_dir=cache, shuffle=True,
                                              seed=3, **kwargs))
    order = [int(np.nonzero(data.labels[:, 0] == v)[0][0]) for v in shuffled[1][:, 0]]
    assert order != list(range(12))
    assert np.array_equal(shuffled[0], plain[0][order])


def test_bad_size_image_is_resized_when_asked(kaggle_folder):
    big = cv2.imread(str(kaggle_folder / IMAGES / "100001.jpg"))
    cv2.imwrite(str(kaggle_folder / IMAGES / "100001.jpg"), cv2.resize(big, (212, 212), interpolation=cv2.INTER_AREA))
    data = dataset.load_dataset(kaggle_folder, resize_bad_size=True)
    x = next(iter(pipeline.make_dataset(data.images, data.ids[:2], crop=64, batch_size=2, resize_bad_size=True)))
    assert x.shape == (2, 64, 64, 3)
    reference = cv2.cvtColor(big, cv2.COLOR_BGR2RGB)[180:244, 180:244].astype(np.float32)
    assert np.abs(x.numpy()[1] * 255 - reference).mean() < 6  # same part of the sky, blurred by the round trip


def test_augment_gets_a_seed_per_batch_and_epoch(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)
    tf = pipeline.tf

    def augment(x, seed):  # marks each batch with (part of) the seed it was given
        assert seed.shape == (2,) and seed.dtype == tf.int64
        return x + tf.cast(tf.abs(seed[1]) % 10007, tf.float32) + tf.cast(seed[0], tf.float32) * 0.0

    def seeds_per_batch(ds) -> list[int]:
        x = _batches(ds)[0] - plain
        return [round(float(x[i * 4, 0, 0, 0])) for i in range(3)]

    plain = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, crop=16, batch_size=4))[0]
    ds = pipeline.make_dataset(data.images, data.ids, data.labels, crop=16, batch_size=4, augment=augment, seed=5)
    epoch_one, epoch_two = seeds_per_batch(ds), seeds_per_batch(ds)
    assert len(set(epoch_one)) == 3 and epoch_one != epoch_two
    again = pipeline.make_dataset(data.images, data.ids, data.labels, crop=16, batch_size=4, augment=augment, seed=5)
    assert seeds_per_batch(again) == epoch_one


def test_inputs_are_checked(kaggle_folder):
    data = dataset.load_dataset(kaggle_folder)
    with pytest.raises(ValueError, match=r"labels must have shape \(12, 37\)"):
        pipeline.make_dataset(data.images, data.ids, data.labels[:5])
    with pytest.raises(DataError, match="empty id list"):
        pipeline.make_dataset(data.images, [])
    with pytest.raises(DataError, match="no image for GalaxyID 5"):
        pipeline.make_dataset(data.images, [5])


def test_cache_key_depends_on_ids_order_and_geometry(kaggle_folder):
    source = dataset.open_images(kaggle_folder / IMAGES)
    ids = source.ids()
    key = pipeline.cache_key(source, ids, 128, 0, False)
    assert key == pipeline.cache_key(source, ids.copy(), 128, 0, False)
    assert len({key, pipeline.cache_key(source, ids[::-1], 128, 0, False),
                pipeline.cache_key(source, ids, 64, 0, False), pipeline.cache_key(source, ids, 128, 64, False),
                pipeline.cache_key(source, ids, 128, 0, True)}) == 5


def test_crop_offset_is_the_papers_window():
    assert pipeline.crop_offset is images.crop_offset  # one definition for tf.data, figures and baselines
    assert pipeline.crop_offset(128) == 148
    assert pipeline.crop_offset(207) == 108
    with pytest.raises(ValueError):
        pipeline.crop_offset(500)



def test_zip_is_opened_once_per_thread_not_once_per_image(tmp_path, monkeypatch):
    """TensorFlow's threads lose ``threading.local`` state between calls; reopening the zip
    (and re-reading its directory) for every image made zip input ~100x slower."""
    from conftest import write_kaggle_folder

    root = write_kaggle_folder(tmp_path / "kaggle", n=48, size=64)
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for jpg in sorted((root / IMAGES).iterdir()):
            handle.write(jpg, f"{IMAGES}/{jpg.name}")
    source = dataset.open_images(archive)
    opened = []
    real_zipfile = zipfile.ZipFile

    def counting(*args, **kwargs):
        opened.append(args[0])
        return real_zipfile(*args, **kwargs)

    monkeypatch.setattr(dataset.zipfile, "ZipFile", counting)
    options = pipeline.tf.data.Options()
    options.threading.private_threadpool_size = 2
    monkeypatch.setattr(pipeline, "crop_offset", lambda crop, side=424: (64 - crop) // 2)
    ds = pipeline.make_dataset(source, source.ids(), crop=32, batch_size=8).with_options(options)
    assert sum(len(x) for x in ds) == 48
    assert 1 <= len(opened) <= 8, len(opened)


def _open_descriptors_on(path) -> int:
    """How many of this process's file descriptors point at ``path`` (Linux /proc)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd) == str(path)
    return count


def test_crop_cache_reader_closes_its_file(kaggle_folder, tmp_path):
    """Each batch opens and closes the cache; no descriptor outlives the read (tf.data keeps the
    reading function alive until exit, so a reader holding its file leaked one per dataset)."""
    data = dataset.load_dataset(kaggle_folder)
    cache = tmp_path / "cache"
    ds = pipeline.make_dataset(data.images, data.ids, data.labels, crop=32, batch_size=5, cache_dir=cache)
    assert sum(len(x) for x, _ in ds) == 12
    path = next(cache.glob("*.u8")).resolve()
    assert _open_descriptors_on(path) == 0  # while the dataset is still alive
    with pipeline.CacheReader(path, 32) as reader:
        assert _open_descriptors_on(path) == 1
        assert reader(np.array([11, 0])).shape == (2, 32, 32, 3)
    assert _open_descriptors_on(path) == 0
    reader.close()  # closing twice is harmless
    with pytest.raises(ValueError, match="closed"):
        reader(np.array([0]))


@pytest.mark.slow
def test_reading_a_crop_cache_then_exiting_is_quiet(kaggle_folder, tmp_path, repo_root):
    """No "Exception ignored in CacheReader.__del__" (or any other) at interpreter exit."""
    script = (
        "import sys\n"
        "from galaxy_lib.data import dataset, pipeline\n"
        "data = dataset.load_dataset(sys.argv[1])\n"
        "for epoch in range(2):  # a fresh dataset per epoch, as training makes them\n"
        "    ds = pipeline.make_dataset(data.images, data.ids, data.labels, crop=32, batch_size=5,\n"
        "                               cache_dir=sys.argv[2], shuffle=True, seed=epoch)\n"
        "    assert sum(len(x) for x, _ in ds) == 12\n"
        "print('read', flush=True)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GALAXY_LIB_ROOT": str(repo_root)}
    done = subprocess.run([sys.executable, "-c", script, str(kaggle_folder), str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "read"
    assert "Exception ignored" not in done.stderr, done.stderr



def test_crops_in_memory_give_the_same_batches_augmented_or_not(kaggle_folder, tmp_path):
    """load_crops decodes every crop once (directly or through the crop cache); batches gathered
    from them are those of the streaming pipeline, shuffled and augmented alike."""
    from galaxy_lib.config import Config
    from galaxy_lib.data import augment

    data = dataset.load_dataset(kaggle_folder)
    geometry = {"crop": 60, "image_size": 20}
    direct = pipeline.load_crops(data.images, data.ids, **geometry)
    cached = pipeline.load_crops(data.images, data.ids, cache_dir=tmp_path / "cache", **geometry)
    assert direct.shape == (12, 20, 20, 3) and direct.dtype == np.uint8 and np.array_equal(direct, cached)
    assert pipeline.crops_nbytes(12, **geometry) == direct.nbytes
    augmenter = augment.make_augmenter(Config(augment=True, augment_shift=2))
    kwargs = {**geometry, "batch_size": 5, "shuffle": True, "seed": 7, "augment": augmenter}
    streamed = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, **kwargs))
    gathered = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, crops=direct, **kwargs))
    assert np.array_equal(streamed[0], gathered[0]) and np.array_equal(streamed[1], gathered[1])
    with pytest.raises(ValueError, match=r"crops must have shape \(12, 20, 20, 3\), got \(11, 20, 20, 3\)"):
        pipeline.make_dataset(data.images, data.ids, data.labels, crops=direct[:11], **kwargs)


def test_mixup_mixes_the_augmented_batches_and_leaves_their_views_alone(kaggle_folder):
    """mixup draws from a seed of its own: the same run without it sees the same views, and the
    mixed labels still obey the tree."""
    from galaxy_lib import tree
    from galaxy_lib.config import Config
    from galaxy_lib.data import augment

    data = dataset.load_dataset(kaggle_folder)
    kwargs = {"crop": 16, "batch_size": 6, "shuffle": True, "seed": 3,
              "augment": augment.make_augmenter(Config(augment=True))}
    plain = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, **kwargs))
    mixed = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, mixup=0.4, **kwargs))
    again = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, mixup=0.4, **kwargs))
    assert np.array_equal(mixed[0], again[0]) and np.array_equal(mixed[1], again[1])
    assert not np.allclose(mixed[1], plain[1]) and not np.allclose(mixed[0], plain[0])
    assert tree.tree_violations(mixed[1], tolerance=1e-4).empty
    # each mixed image is a convex mix of the plain batch's images: inside their range per pixel
    assert mixed[0].min() >= plain[0].min() - 1e-6 and mixed[0].max() <= plain[0].max() + 1e-6
    without_augment = _batches(pipeline.make_dataset(data.images, data.ids, data.labels, crop=16, batch_size=6,
                                                     mixup=0.4))
    assert without_augment[0].shape == plain[0].shape
    with pytest.raises(ValueError, match="needs labels"):
        pipeline.make_dataset(data.images, data.ids, None, crop=16, mixup=0.4)


def test_pipelines_do_not_autotune(kaggle_folder):
    """Autotuning makes a destroyed iterator wait for its optimisation thread (the 2.55/5.11/10.23 s
    epochs; benchmarks/bench_stall.py): every pipeline the library builds has it off."""
    data = dataset.load_dataset(kaggle_folder)
    crops = pipeline.load_crops(data.images, data.ids, crop=32)
    for ds in (
        pipeline.make_dataset(data.images, data.ids, data.labels, crop=32),
        pipeline.make_dataset(data.images, data.ids, data.labels, crop=32, crops=crops, shuffle=True),
        pipeline.decoded_crops(data.images, data.ids, crop=32),
    ):
        assert ds.options().autotune.enabled is False
