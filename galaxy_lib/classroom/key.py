"""The instructor's key: galaxies set aside so that every student is scored on galaxies they never saw.

Each student tests on a split they drew themselves, and with the same seed every honest default run
gives the same figures, so a student's own test RMSE can neither be trusted nor told from a copy.
The key is a set of labelled galaxies that only the instructor has; the class verb scores every
student's model on it. It is written in Kaggle's layout, so the data readers work on it unchanged::

    KEY/
      images_training_rev1/<GalaxyID>.jpg   the held-back galaxies' images
      training_solutions_rev1.csv           GalaxyID + 37 answers, sorted by GalaxyID
      key.json                              kind, galaxies, seed, what the students got, their
                                            training mean (the baseline every run must beat), date

Two ways to make one, both checked before anything appears (staged in hidden folders beside the
targets and renamed into place only once the key reads back and shares no GalaxyID with what the
students get; an interrupted or failed build leaves neither):

- :func:`hold_out_kaggle`: from Kaggle's download, the students' sample (the shipped 3,399 galaxies,
  :mod:`galaxy_lib.data.sample`, unchanged so that the course's stored results stay comparable) and
  the key: Kaggle training galaxies the sample does not hold (GalaxyIDs are random, so they are an
  unbiased draw, like the sample's test pool). A sample built earlier (and already handed out) is
  kept and checked against the key.
- :func:`hold_out_synthetic`: galaxies of the synthetic sky's generator drawn from a split the
  students' ``synth`` never uses, with GalaxyIDs outside the students' sky, so the whole flow runs
  without a download.

:func:`read_key` reads a key back (what the class verb scores on).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxy_lib import tree
from galaxy_lib.config import load_config
from galaxy_lib.data import dataset, sample
from galaxy_lib.errors import ConfigError, DataError
from galaxy_lib.kaggle import LABELS_FILE, TRAINING_IMAGES
from galaxy_lib.paths import atomic_write_json, display_path, project_root, resolve_path, writing

if TYPE_CHECKING:
    from galaxy_lib.config import Config

KEY_FILE = "key.json"
VERSION = 1
KINDS = ("kaggle", "synthetic")
DEFAULT_N = 665
"""Galaxies in a key by default: enough for an RMSE interval a few thousandths wide."""
UNBIASED_SUBSET = "complete_id_block_945990_999967"
KEY_SPLIT = 2
"""The synthetic generator's split a key is drawn from: a sky draws its training galaxies from split
0 and its test galaxies from split 1, so no student's sky of any seed holds a key's galaxy."""
DEFAULT_STUDENTS = Path("parameters/default.yaml")
"""The students' configuration a synthetic key is set aside against, unless another is named."""

__all__ = ["DEFAULT_N", "KEY_FILE", "KEY_SPLIT", "ClassKey", "hold_out_kaggle",
           "hold_out_synthetic", "read_key"]


@dataclass
class ClassKey:
    """An instructor's key as read back by :func:`read_key`."""

    root: Path
    kind: str  # "kaggle" or "synthetic"
    ids: np.ndarray  # int64, sorted
    labels: np.ndarray  # float32 (n, 37) in ``ids`` order, Kaggle's column order
    training_mean: np.ndarray  # float64 (37,): mean answers over the students' labelled galaxies
    info: dict[str, Any] = field(repr=False)  # key.json as written
    fingerprint: str = ""  # sha256 of the ids and labels: a cache of scores on this key is valid for it alone

    def __len__(self) -> int:
        return len(self.ids)


# --------------------------------------------------------------------------- reading


def read_key(path: str | os.PathLike[str]) -> ClassKey:
    """Read and check the key folder ``path``: ``key.json`` (a known kind, a training mean of 37
    numbers, the number of galaxies), the label file (as :func:`galaxy_lib.data.dataset.read_labels`
    checks any) and one image per labelled galaxy, with no other image beside them (JPEG markers and
    size checked, not decoded). Each problem is a one-line :class:`DataError` naming the file."""
    root = Path(path)
    meta = root / KEY_FILE
    if not root.is_dir():
        raise DataError(f"{root}: no such key folder (set one aside with `python -m galaxy_lib sample ... --key "
                        f"{root}`)")
    if not meta.is_file():
        raise DataError(f"{meta}: not found; {root} is not an instructor's key (made by `python -m galaxy_lib "
                        "sample ... --key FOLDER`)")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{meta}: not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise DataError(f"{meta}: expected a JSON object, got {type(info).__name__}")
    kind = info.get("kind")
    if kind not in KINDS:
        raise DataError(f"{meta}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    mean = _training_mean(meta, info.get("training_mean"))
    where, ids, labels = dataset.read_labels(root)
    order = np.argsort(ids, kind="stable")
    ids, labels = ids[order], labels[order]
    galaxies = info.get("galaxies")
    if galaxies != len(ids):
        raise DataError(f"{meta}: 'galaxies' says {galaxies!r}, but {where} holds {len(ids):,} galaxies")
    _check_images(root, ids)
    digest = hashlib.sha256(ids.astype("<i8").tobytes() + labels.astype("<f4").tobytes()).hexdigest()
    return ClassKey(root, kind, ids, labels, mean, info, digest)


def _training_mean(meta: Path, value: Any) -> np.ndarray:
    """``training_mean`` as 37 finite float64 numbers, or a :class:`DataError` naming ``meta``."""
    good = isinstance(value, list) and len(value) == tree.N_ANSWERS and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not good:
        got = f"{len(value)} values" if isinstance(value, list) else repr(value)[:40]
        raise DataError(f"{meta}: 'training_mean' must be a list of {tree.N_ANSWERS} numbers (the students' "
                        f"mean answers), got {got}")
    return np.asarray(value, dtype=np.float64)


def _check_images(root: Path, ids: np.ndarray) -> None:
    """Every labelled galaxy has a sound image and every image a label row."""
    images = dataset.open_images(root, subset=TRAINING_IMAGES)
    try:
        have = images.ids()
        if len(missing := np.setdiff1d(ids, have)):
            raise DataError(f"{images.location}: no image {missing[0]}.jpg ({len(missing):,} of the key's "
                            f"{len(ids):,} galaxies have none)")
        if len(extra := np.setdiff1d(have, ids)):
            raise DataError(f"{images.location}: {extra[0]}.jpg has no row in {root / LABELS_FILE} "
                            f"({len(extra):,} images without one)")
        for galaxy_id, problem, size in dataset.check_images(images, ids, progress=False):
            if problem is None and size != (dataset.IMAGE_SIDE, dataset.IMAGE_SIDE):
                problem = f"image is {size[1]}x{size[0]} pixels, expected {dataset.IMAGE_SIDE}x{dataset.IMAGE_SIDE}"  # type: ignore[index]
            if problem is not None:
                raise DataError(f"{images.describe(galaxy_id)}: {problem}")
    finally:
        images.close()


# --------------------------------------------------------------------------- writing


def _check_size(n: object, seed: object) -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n <= 0:
        raise ConfigError(f"the key's size (--key-n) must be a positive integer, got {n!r}")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"the key's seed (--key-seed) must be zero or a positive integer, got {seed!r}")


def _check_key_folder(key_out: Path, *others: Path) -> None:
    """Refuse a key folder that exists, or one that lies inside (or around) what the students get."""
    if key_out.exists():
        raise DataError(f"{key_out} already exists; delete it first or choose another --key")
    for other in others:
        a, b = key_out.resolve(), other.resolve()
        if a == b or b in a.parents or a in b.parents:
            raise DataError(f"--key {key_out} and the students' data {other} must be separate folders (the key "
                            "is what the students never get)")


def _staging(folder: Path) -> Path:
    """The hidden folder beside ``folder`` that a key is built in."""
    return folder.parent / f".{folder.name}.partial-{os.getpid()}"


def _info(kind: str, n: int, seed: int, students_data: str, students_galaxies: int, mean: np.ndarray,
          **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind, "galaxies": int(n), "seed": int(seed), "students_data": students_data,
        "students_galaxies": int(students_galaxies), "training_mean": [round(float(v), 8) for v in mean],
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "version": VERSION, **extra,
    }


def _finish_key(staging: Path, info: dict[str, Any], students: np.ndarray, students_data: str) -> ClassKey:
    """Write ``key.json`` into the staged key, read the key back and check that none of its galaxies is
    one the students get (``students``: their GalaxyIDs)."""
    atomic_write_json(staging / KEY_FILE, info)
    key = read_key(staging)
    if len(shared := np.intersect1d(key.ids, students)):
        raise DataError(f"{len(shared):,} of the key's galaxies are in the students' data {students_data} "
                        f"(first: GalaxyID {shared[0]}); nothing was written")
    return key


def _remove(*folders: Path | None) -> None:
    for folder in folders:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def hold_out_kaggle(kaggle: str | os.PathLike[str], out: str | os.PathLike[str], key_out: str | os.PathLike[str],
                    *, n: int = DEFAULT_N, seed: int = 0,
                    manifest: str | os.PathLike[str] = sample.MANIFEST) -> tuple[Path, Path]:
    """Write the students' sample into ``out`` and the instructor's key into ``key_out`` from the
    Kaggle download in ``kaggle``; return both paths.

    The sample is the one ``manifest`` lists, built as :func:`galaxy_lib.data.sample.build` builds it
    (so the course's stored results stay comparable). The key is ``n`` galaxies drawn with ``seed``
    from Kaggle's training galaxies that the manifest does not list. The sample's unbiased block
    (GalaxyIDs 945990-999967) holds *every* training galaxy of its GalaxyID range, so none is left there;
    but Kaggle assigned GalaxyIDs at random, and the only hand-picked galaxies are the manifest's own,
    so any other training galaxy is an unbiased draw, like the students' test pool, and none of them
    is the students'. Its images are Kaggle's bytes, its label rows Kaggle's rows,
    and ``key.json`` holds the mean answers of the students' sample (the training-mean baseline).

    Both are staged in hidden folders, checked against each other (no GalaxyID in both, the key read
    back with :func:`read_key`) and only then renamed into place, the sample first; an interrupted or
    failed build leaves neither. When ``out`` exists (the sample was built, and perhaps handed out,
    before) it is kept as it is: it must hold exactly the manifest's galaxies, each with its image,
    and only the key is written, checked against it, so an instructor can set a key aside for a
    class that already has its sample (or finish a build stopped between the two renames).

    Raises :class:`DataError` when ``key_out`` exists or lies inside ``out`` (or around it), when
    the download lacks a file or a listed galaxy, when it holds fewer than ``n`` galaxies
    outside the sample (saying how many it holds), or when an existing ``out`` is not the
    manifest's sample; :class:`ConfigError` for a bad ``n`` or ``seed``."""
    kaggle, out, key_out = Path(kaggle), Path(out), Path(key_out)
    _check_size(n, seed)
    wanted = sample.read_manifest(manifest)
    _check_key_folder(key_out, out)
    if not kaggle.is_dir():
        raise DataError(f"{kaggle}: not a folder (give the folder holding Kaggle's zips)")
    kept = out.exists()
    if kept:
        _check_existing_sample(out, wanted, Path(manifest))
    header, rows = sample.read_label_rows(kaggle, lambda i: True)  # 61,578 short rows: a few MB
    pool = np.array(sorted(i for i in rows if i not in wanted), dtype=np.int64)
    if len(pool) < n:
        raise DataError(f"{kaggle}: the key needs {n:,} of Kaggle's training galaxies that the students' sample "
                        f"does not hold, and the download has {len(pool):,}"
                        + (f"; ask for fewer (--key-n {len(pool)})" if len(pool) else ""))
    ids = np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))
    students_data = f"{display_path(out)} ({len(wanted):,} galaxies)"

    sample_staging = None if kept else sample.staging_folder(out)
    key_staging = _staging(key_out)
    with writing(key_out, note="neither the key nor the sample was written"):
        _remove(sample_staging, key_staging)
        try:
            if sample_staging is not None:
                sample_staging.mkdir(parents=True)
                sample.stage(kaggle, sample_staging, wanted, header, rows)
            students = sample_staging or out
            key_staging.mkdir(parents=True)
            sample.write_galaxies(kaggle, key_staging, header, rows, {int(i) for i in ids}, whose="the key's")
            _, student_ids, student_labels = dataset.read_labels(students)
            info = _info("kaggle", n, seed, students_data, len(student_ids),
                         student_labels.mean(axis=0, dtype=np.float64),
                         source="Kaggle's training galaxies not in the students' sample (GalaxyIDs are random: "
                                "an unbiased draw)", pool_galaxies=len(pool),
                         manifest=display_path(manifest))
            _finish_key(key_staging, info, student_ids, students_data)
            if sample_staging is not None:
                sample.check_input(kaggle, out)  # someone may have built it meanwhile
                sample_staging.rename(out)
            try:
                _check_key_folder(key_out)
                key_staging.rename(key_out)
            except BaseException:
                if sample_staging is not None:  # the sample appeared with this key: take it back
                    _remove(out)
                raise
        except BaseException:
            _remove(sample_staging, key_staging)
            raise
    return out, key_out


def _check_existing_sample(out: Path, wanted: dict[int, str], manifest: Path) -> None:
    """An ``out`` built earlier must be the manifest's sample: the same GalaxyIDs in its label file and
    its images (the students hold it, so the key is set aside against exactly those)."""
    where, ids, _ = dataset.read_labels(out)
    listed = np.array(sorted(wanted), dtype=np.int64)
    if len(diff := np.setxor1d(ids, listed)):
        raise DataError(f"{out} exists but is not the sample {display_path(manifest)} lists ({where} holds "
                        f"{len(ids):,} galaxies, the list {len(listed):,}; {len(diff):,} differ, first: GalaxyID "
                        f"{diff[0]}); name the list it was built from with --manifest, or delete it")
    images = dataset.open_images(out, subset=TRAINING_IMAGES)
    try:
        if len(diff := np.setxor1d(images.ids(), listed)):
            raise DataError(f"{images.location}: holds {len(images):,} images, the sample {len(listed):,} galaxies "
                            f"(first difference: GalaxyID {diff[0]}); rebuild it (delete {out})")
    finally:
        images.close()


def _students_config(students: Config | None) -> Config:
    return students if students is not None else load_config(project_root() / DEFAULT_STUDENTS)


def _students_mean(seed: int, n: int) -> np.ndarray:
    """Mean answers over the ``n`` training galaxies of the sky of ``seed``, from the generator's labels
    alone (:func:`galaxy_lib.synth.catalogue.galaxy_labels`, no image rendered: about 0.3 ms a galaxy),
    rounded as the sky's label file rounds them and read as float32, as the students read them."""
    from galaxy_lib.synth import catalogue

    total = np.zeros(tree.N_ANSWERS, dtype=np.float64)
    for index in range(n):
        total += np.round(catalogue.galaxy_labels(seed, 0, index)[2], 6).astype(np.float32)
    return total / n


def hold_out_synthetic(key_out: str | os.PathLike[str], *, n: int = DEFAULT_N, seed: int = 0,
                       students: Config | None = None, workers: int | None = None,
                       progress: bool = False) -> Path:
    """Write an instructor's key of ``n`` synthetic galaxies into ``key_out`` and return its path.

    The galaxies come from the sky's own generator (:func:`galaxy_lib.synth.catalogue.make_galaxy`,
    written by :func:`galaxy_lib.synth.sky.write_held_back`) with ``seed`` and split
    :data:`KEY_SPLIT`, which ``synth`` never draws from, under GalaxyIDs drawn outside the students'
    sky (:func:`galaxy_lib.synth.catalogue.held_back_ids`): the sky that ``students`` generates
    (``synthetic_seed``, ``synthetic_n``, ``synthetic_test_n``; default: ``parameters/default.yaml``).
    The students' GalaxyIDs and training mean are computed from the generator, not read from disk:
    every student's sky of that configuration is byte-identical, the instructor need not have one,
    and the labels alone cost about half a second for 2,000 galaxies (rendering is 50x that).

    The key is written (streamed, one galaxy at a time, ``workers`` processes) into a hidden folder
    beside ``key_out``, read back with :func:`read_key`, checked to share no GalaxyID with the
    students' sky, and only then renamed into place. Raises :class:`DataError` when ``key_out``
    exists or lies inside (or around) the students' data folder, :class:`ConfigError` when
    ``students`` does not generate a synthetic sky or for a bad ``n`` or ``seed``."""
    from galaxy_lib.synth import catalogue, sky

    key_out = Path(key_out)
    _check_size(n, seed)
    config = _students_config(students)
    if not config.synthetic:
        raise ConfigError(f"the students' configuration ({config.data}) does not generate a synthetic sky "
                          "(synthetic: false): set a key aside from Kaggle's download with --kaggle instead")
    s_seed, s_n, s_test = config.synthetic_seed, config.synthetic_n, config.synthetic_test_n
    if n + s_n + s_test > catalogue.MAX_GALAXIES:
        raise ConfigError(f"the key's {n:,} galaxies and the students' {s_n + s_test:,} are more than six-digit "
                          f"GalaxyIDs allow ({catalogue.MAX_GALAXIES:,})")
    _check_key_folder(key_out, resolve_path(config.data))
    taken = np.concatenate(catalogue.galaxy_ids(s_seed, s_n, s_test))
    ids = catalogue.held_back_ids(seed, n, taken)
    students_data = f"synthetic sky seed {s_seed} n {s_n}" + (f" (+{s_test} unlabelled)" if s_test else "")
    staging = _staging(key_out)
    with writing(key_out, note="no key was written"):
        _remove(staging)
        try:
            sky.write_held_back(staging, seed, KEY_SPLIT, ids, workers=workers, progress=progress)
            info = _info("synthetic", n, seed, students_data, s_n, _students_mean(s_seed, s_n),
                         source=f"synthetic galaxies of seed {seed}, split {KEY_SPLIT} (a sky draws 0 and 1)",
                         students_sky={"seed": s_seed, "n": s_n, "n_test": s_test, "data": config.data})
            key = _finish_key(staging, info, taken, students_data)
            if not np.array_equal(key.ids, ids):
                raise DataError(f"{staging}: the key read back holds other galaxies than were drawn")
            _check_key_folder(key_out)
            staging.rename(key_out)
        except BaseException:
            _remove(staging)
            raise
    return key_out
