"""The synthetic sky written as Kaggle ships it: three zips, resumably, in flat memory.

Kaggle's download is ``images_training_rev1.zip`` (members ``images_training_rev1/<GalaxyID>.jpg``),
``training_solutions_rev1.csv.zip`` (one member, ``training_solutions_rev1.csv``) and
``images_test_rev1.zip`` (``images_test_rev1/<GalaxyID>.jpg``). :func:`write_zipped` (reached as
``sky.generate(..., zip=True)`` or ``python -m galaxy_lib synth --zip``) writes exactly those, plus the
synthetic extras ``truth.csv`` and ``metadata.json``, so the whole chain can be rehearsed from the zips
at Kaggle's size (61,578 + 79,975 galaxies, about 4 GB, some ten minutes on 2 cores). JPEGs are
*stored* (a JPEG does not compress further, and storing costs no CPU); the CSV is deflated.

Each galaxy's JPEG is streamed into its zip as it arrives from the worker processes, so memory does
not grow with ``n``. The work is cut into chunks of :data:`CHUNK` galaxies inside the hidden folder
``.<name>.partial`` beside the target; every chunk ends with a checkpoint (``progress.json``: galaxies
done, the length of each file, where each zip's member data ends, a copy of its central directory,
and the running sums behind ``metadata.json``). An interrupted generation (Ctrl-C, a full disk, a
killed process) keeps that folder; calling it again with the same seed and sizes cuts each file
back to the last checkpoint, puts the saved central directory back and goes on from there. Members
carry a fixed date and attributes and every galaxy is seeded by its own index, so a resumed set is
byte-identical to one made in one go. Only when every galaxy is written is the folder renamed into
place; a partial folder of another seed or size is discarded, with a message.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.errors import ConfigError
from galaxy_lib.kaggle import LABELS_FILE, LABELS_ZIP, TEST_IMAGES, TEST_ZIP, TRAINING_IMAGES, TRAINING_ZIP
from galaxy_lib.paths import (
    atomic_path,
    atomic_write_json,
    display_path,
    read_json_object,
    replace_folder,
)
from galaxy_lib.synth import catalogue
from galaxy_lib.synth.catalogue import METADATA_FILE, TRUTH_FILE, SkyTables

CHUNK = 2000
"""Galaxies between checkpoints: about 8 s of work on 2 cores, at most ~60 MB of JPEGs in flight. Each
checkpoint rereads a zip's central directory (0.3 s at 80,000 members), so much smaller chunks cost time."""

PROGRESS_FILE = "progress.json"
MEMBER_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold: the same seed gives the same bytes
FOLDERS = (TRAINING_IMAGES, TEST_IMAGES)
ZIPS = (TRAINING_ZIP, TEST_ZIP)
__all__ = ["CHUNK", "LABELS_ZIP", "PROGRESS_FILE", "ZIPS", "member_info", "staging_folder", "write_zipped"]
_DIRECTORY = ".directory-"  # <zip name>.directory-<galaxies done>: a zip's central directory at a checkpoint


def staging_folder(out: Path) -> Path:
    """The hidden folder a zipped set is built (and resumed) in: ``.<name>.partial`` beside ``out``."""
    return out.parent / f".{out.name}.partial"


def member_info(name: str, compress_type: int) -> zipfile.ZipInfo:
    """A zip member header that does not depend on the clock or the platform."""
    info = zipfile.ZipInfo(name, date_time=MEMBER_DATE)
    info.compress_type = compress_type
    info.create_system = 3  # Unix, also on Windows: identical bytes everywhere
    info.external_attr = 0o644 << 16
    return info


def _task(seed: int, ids: tuple[np.ndarray, np.ndarray], n: int, position: int) -> tuple[int, int, int, int]:
    """Galaxy number ``position`` of the whole set (training galaxies first): (seed, split, index, id)."""
    split = 0 if position < n else 1
    index = position - split * n
    return seed, split, index, int(ids[split][index])


def _render(task: tuple[int, int, int, int]) -> tuple[int, int, dict[str, Any], np.ndarray, np.ndarray, bytes]:
    """Pool worker: one galaxy's table rows and JPEG bytes (the main process writes the zip)."""
    seed, split, index, galaxy_id = task
    morph, probabilities, votes, jpeg = catalogue.make_galaxy(seed, split, index)
    return split, galaxy_id, morph.to_row(), tree.normalise_to_tree(probabilities[None])[0], votes, jpeg


def write_zipped(out: Path, n: int, seed: int, n_test: int, overwrite: bool, workers: int | None,
                 progress: bool, chunk: int = CHUNK) -> None:
    """Generate (or resume) the zipped set for :func:`galaxy_lib.synth.sky.generate`, which has
    checked the arguments and holds the lock of ``out``; rename it into place when complete."""
    if not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ConfigError(f"chunk (galaxies between checkpoints) must be a positive integer, got {chunk!r}")
    staging = staging_folder(out)
    request = {"generator": "galaxy_lib.synth.zipped", "version": catalogue.VERSION, "seed": int(seed), "n": int(n),
               "n_test": int(n_test)}
    state = _resume(staging, request, progress)
    if state is None:
        state = _start(staging, request)
    total = n + n_test
    if workers is None:
        workers = catalogue.default_workers(total)
    ids = catalogue.galaxy_ids(seed, n, n_test)
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(workers, initializer=catalogue.init_worker) if workers > 1 else None
    try:
        with tqdm(total=total, initial=state["done"], desc="synthetic galaxies (zips)", unit="gal",
                  disable=not progress) as bar:
            for start in range(state["done"], total, chunk):
                stop = min(start + chunk, total)
                tasks = [_task(seed, ids, n, p) for p in range(start, stop)]
                results = pool.imap(_render, tasks, chunksize=16) if pool is not None else map(_render, tasks)
                state = _write_chunk(staging, state, stop, results, bar)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    _finish(staging, state, seed, n, n_test)
    catalogue.check_output(out, overwrite)  # someone may have written there meanwhile
    replace_folder(staging, out)


# --- checkpoints ------------------------------------------------------------------------------------------


def _start(staging: Path, request: dict[str, Any]) -> dict[str, Any]:
    """An empty staging folder with the two CSV headers, and its first checkpoint."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    with SkyTables(staging) as tables:  # the two headers
        sums = tables.state()
    state = {"request": request, "done": 0, "files": _sizes(staging), "zips": {}, **sums}
    save_progress(staging, state)
    return state


def _sizes(staging: Path) -> dict[str, int]:
    return {name: (staging / name).stat().st_size for name in SkyTables.FILES}


def save_progress(staging: Path, state: dict[str, Any]) -> None:
    """Write the resumable checkpoint of the set being made in ``staging`` (atomically: a crash or a
    full disk here leaves the previous checkpoint, from which the next run resumes)."""
    atomic_write_json(staging / PROGRESS_FILE, state, indent=None)


def _problem(staging: Path, state: Any, request: dict[str, Any]) -> str | None:
    """Why the checkpoint in ``staging`` cannot be resumed, or None when it can."""
    keys = ("request", "done", "files", "zips", "squared", "counted", "vote_sums")
    if not isinstance(state, dict) or any(key not in state for key in keys):
        return "its progress file is unreadable"
    if state["request"] != request:
        old = state["request"]
        return (f"it holds a set of another seed or size (seed {old.get('seed')}, n {old.get('n')}, "
                f"n_test {old.get('n_test')})")
    for name, size in state["files"].items():
        path = staging / name
        if not path.is_file() or path.stat().st_size < size:
            return f"{name} is shorter than at its last checkpoint"
    for name, record in state["zips"].items():
        path = staging / name
        if not path.is_file() or path.stat().st_size < record["data_end"]:
            return f"{name} is shorter than at its last checkpoint"
        if not (staging / record["directory"]).is_file():
            return f"the saved central directory of {name} is missing"
    return None


def _resume(staging: Path, request: dict[str, Any], progress: bool) -> dict[str, Any] | None:
    """The last checkpoint of an interrupted generation of the same set, with every file cut back to
    it; None when there is none to resume (a folder left by another set is discarded, with a message)."""
    path = staging / PROGRESS_FILE
    if not path.is_file():
        return None
    state = read_json_object(path)
    problem = _problem(staging, state, request)
    if problem is not None:
        print(f"{display_path(staging)}: not resumed, starting again ({problem})", file=sys.stderr)
        return None
    for name, size in state["files"].items():
        os.truncate(staging / name, size)
    for name in ZIPS:
        record = state["zips"].get(name)
        if record is None:  # its first galaxy came after the checkpoint
            (staging / name).unlink(missing_ok=True)
            continue
        directory = (staging / record["directory"]).read_bytes()
        with open(staging / name, "r+b") as handle:  # members as at the checkpoint, then its central directory
            handle.truncate(record["data_end"])
            handle.seek(record["data_end"])
            handle.write(directory)
    keep = {PROGRESS_FILE, *state["files"], *state["zips"], *(r["directory"] for r in state["zips"].values())}
    for leftover in staging.iterdir():  # central directories of a later, unfinished checkpoint; temporary files
        if leftover.name not in keep and leftover.is_file():
            leftover.unlink()
    if progress:
        total = request["n"] + request["n_test"]
        print(f"resuming {display_path(staging)}: {state['done']:,} of {total:,} galaxies already written",
              file=sys.stderr)
    return state


def _open_zip(path: Path, append: bool) -> tuple[BinaryIO, zipfile.ZipFile]:
    """A zip to add members to, on a file handle of our own (so that its central directory can be
    read back after ``close``); ``append`` continues a zip closed at a checkpoint."""
    handle = open(path, "r+b" if append else "w+b")  # noqa: SIM115 - closed by _write_chunk
    try:
        return handle, zipfile.ZipFile(handle, "a" if append else "w", allowZip64=True)
    except BaseException:
        handle.close()
        raise


def _write_chunk(staging: Path, state: dict[str, Any], stop: int,
                 results: Iterable[tuple[int, int, dict[str, Any], np.ndarray, np.ndarray, bytes]],
                 bar: tqdm) -> dict[str, Any]:
    """Stream one chunk of galaxies into the zips and CSVs, close the zips and save a checkpoint
    (the new state): each zip's central directory is copied aside, because the next chunk writes its
    members over it."""
    zips = dict(state["zips"])
    writers: dict[str, tuple[BinaryIO, zipfile.ZipFile]] = {}
    closed = False
    try:
        with SkyTables(staging, state) as tables:  # appending, from the checkpoint's sums
            for split, galaxy_id, row, probabilities, votes, jpeg in results:
                name = ZIPS[split]
                if name not in writers:
                    writers[name] = _open_zip(staging / name, append=name in zips)
                member = member_info(f"{FOLDERS[split]}/{galaxy_id}.jpg", zipfile.ZIP_STORED)
                writers[name][1].writestr(member, jpeg)
                tables.add(split, galaxy_id, row, probabilities, votes)
                bar.update()
        for name, (handle, archive) in writers.items():
            data_end = handle.tell()  # after a member is written the file stands where the members end,
            archive.close()  # which is where close() writes the central directory
            handle.seek(data_end)
            directory = f"{name}{_DIRECTORY}{stop}"
            with atomic_path(staging / directory) as tmp:
                tmp.write_bytes(handle.read())
            zips[name] = {"data_end": data_end, "directory": directory}
        closed = True
    finally:
        for handle, archive in writers.values():
            handle.close()
            if not closed:  # abandoned: the next run cuts the file back, so no central directory is needed;
                with contextlib.suppress(ValueError, OSError):  # on the closed handle close() writes none
                    archive.close()  # (and garbage collection has nothing left to write either)
    new = {**state, "done": stop, "files": _sizes(staging), "zips": zips, **tables.state()}
    save_progress(staging, new)
    for name, record in state["zips"].items():  # the previous checkpoint's copies are no longer needed
        if zips[name]["directory"] != record["directory"]:
            (staging / record["directory"]).unlink(missing_ok=True)
    return new


# --- the end ----------------------------------------------------------------------------------------------


def _finish(staging: Path, state: dict[str, Any], seed: int, n: int, n_test: int) -> None:
    """Deflate the labels into Kaggle's ``training_solutions_rev1.csv.zip``, write ``metadata.json``
    and remove everything that only served the checkpoints."""
    labels = staging / LABELS_FILE
    with atomic_path(staging / LABELS_ZIP) as tmp, zipfile.ZipFile(tmp, "w") as archive, open(labels, "rb") as source:
        info = member_info(LABELS_FILE, zipfile.ZIP_DEFLATED)
        with archive.open(info, "w") as target:
            shutil.copyfileobj(source, target, 1 << 20)
    metadata = catalogue.sky_metadata(seed, n, n_test, state)
    metadata["layout"] = f"Kaggle's zips: {', '.join(z for z in ZIPS if z in state['zips'])}, {LABELS_ZIP}"
    atomic_write_json(staging / METADATA_FILE, metadata)
    keep = {*state["zips"], LABELS_ZIP, TRUTH_FILE, METADATA_FILE}
    (staging / PROGRESS_FILE).unlink()
    for leftover in staging.iterdir():
        if leftover.name not in keep:
            leftover.unlink()
