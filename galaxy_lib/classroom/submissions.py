"""What the students handed in, found and made safe to read: one :class:`Submission` per hand-in
and one :class:`RunEntry` per run folder in it (:func:`find_submissions`).

**Layouts.** SUBMISSIONS holds one folder per student (the folder's name is the student) with
their ``runs/`` and ``reports/``, or a whole checkout (runs and reports somewhere below, perhaps
in a sub-folder), or ``STUDENT.zip`` holding either. nbgrader's layout is recognised too:
SUBMISSIONS is (or holds) ``submitted/STUDENT/ASSIGNMENT/``, every assignment folder a hand-in of
its own, and zips found in a hand-in folder (``submitted/ada/ps1/handin.zip``) are hand-ins of
their own as well. A run folder is a folder with ``config.yaml`` and at least one of
``best.keras``, ``history.csv`` or ``split.csv`` (or ``config.yaml`` alone directly inside
``runs/``: a run whose other files never arrived). A folder with ``report.json`` is a report, never
a run, although the report keeps copies of the run's ``config.yaml`` and ``history.csv``; a run's
report is ``reports/<run>/`` beside ``runs/<run>/``, or the report whose ``report.json`` names the
run in ``run_dir``.

**A submission is data, never code, and untrusted.** Nothing here imports TensorFlow or runs
anything of the students'. Links are never followed: a link in a run or report folder is that
run's one-line ``problem``, and the search does not step through one. Every file read lies inside
SUBMISSIONS or, for a zip, inside its unpacked copy in ``work``; files are opened with
``O_NOFOLLOW`` and ``O_NONBLOCK`` and only when they are regular files (a named pipe would hang the
class). A zip is read only after every member has been checked: absolute paths, ``..``, drive
letters, links, encrypted or duplicated members refuse the whole zip, and so does a member over
the size limit or a total over :data:`MAX_TOTAL_BYTES` (counted again while unpacking, so a
member that inflates past what it declared is caught too). Only the run and report folders are
unpacked (not a checkout's data, nor ``resume/`` or ``cache/``), into a temporary folder inside
``work`` renamed into place when complete: a refused zip leaves nothing unpacked. A zip is
unpacked again only when it changed (size, modification time, then SHA-256, kept in a small json
record beside the copy), so re-running the class after one more hand-in costs one unpacking.

**Sizes.** A file in a run or report folder over ``max_file_bytes`` (:data:`MAX_FILE_BYTES`, 1 GiB;
a ``default.yaml`` ``best.keras`` is about 20 MB) is the run's problem: it is never read, so a
10 GB file costs neither time nor memory.

**Change.** :meth:`RunEntry.fingerprint` hashes what scoring reads, so the scorer can keep the
rows of runs that did not change.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from galaxy_lib.errors import DataError
from galaxy_lib.model.ensemble import EnsembleFolder
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import atomic_write_json, disk_error, replace_folder, writing
from galaxy_lib.report.html import NO_CODE_HTML
from galaxy_lib.report.summary import FAILURE_FILE, SUMMARY_FILE

MAX_FILE_BYTES = 2**30
"""The largest file a hand-in may hold in a run or report folder: far above a real model (a
``default.yaml`` ``best.keras`` is about 20 MB), far below what would fill the instructor's disk."""
MAX_TOTAL_BYTES = 8 * 2**30
"""The most one zip may unpack to (its run and report folders together): a zip bomb stops here."""
MAX_DEPTH = 16
"""How deep below a hand-in's top the search looks for run folders: a checkout's ``runs/`` is a
few levels down; a deeper tree is not a hand-in, and a bound keeps a hostile one cheap."""

BEST = RunFolder.model_name("best")
RUN_MARKERS = (BEST, RunFolder.HISTORY, RunFolder.SPLIT)
"""With ``config.yaml``, any of these makes a folder a run folder (a parameters file alone does not)."""
NOT_SEARCHED_IN_RUN = frozenset({RunFolder.RESUME, RunFolder.CACHE, RunFolder.WORKERS})
"""A run folder's sub-folders that scoring never reads: neither checked, nor unpacked from a zip."""
CURVE_MARKERS = ("curve.json", "train_order.csv")
"""A learning-curve folder's own files (:mod:`galaxy_lib.studies.curve`'s ``SETUP_FILE`` and
``ORDER_FILE``, named here because importing that module would load scikit-learn)."""
FINGERPRINT_RUN_FILES = (
    RunFolder.CONFIG, BEST, RunFolder.SPLIT, RunFolder.HISTORY, RunFolder.METRICS, RunFolder.ARCHITECTURE,
    RunFolder.ENVIRONMENT,
)
"""The run's files that scoring reads: a change to any of them (or its absence) rescores the run."""
FINGERPRINT_REPORT_FILES = (SUMMARY_FILE, NO_CODE_HTML)
"""The report's files the class page reads and copies."""
OTHER_ARCHIVES = (".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz", ".7z", ".rar")
"""Archives that are not read (only zips are): a student who handed one in gets a row saying so."""

NOTHING = "handed in nothing (no run folder with config.yaml)"
HALF_COPIED = f"no {BEST}: half-copied or never trained"
LINK = "is a link, and links in a hand-in are not followed"

UNPACK_VERSION = 1  # part of a zip's record: a new version of the unpacker unpacks every zip again
RECORD_SUFFIX = ".unpacked.json"
_CHUNK = 1 << 20
_REPORT_JSON_LIMIT = 8 * 2**20  # report.json is read for its run_dir only; a real one is a few kB
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})


# --- the records --------------------------------------------------------------------------------


@dataclass
class RunEntry:
    """One run folder a student handed in, with the report built on it (if handed in too).

    ``run`` names it within the hand-in: its path below ``runs/`` (``default``, an ensemble's member
    ``x3/seed0``); ``source`` says where it was found, relative to SUBMISSIONS (``ada/runs/default``,
    ``ada.zip:runs/default``). ``problem`` is the one-line reason it cannot be scored as handed in
    (a link, a file over the size limit, no ``best.keras``...), empty when nothing is wrong so far.
    ``part_of`` names the ensemble or learning curve whose member it is (``""`` for a run of its own),
    so the scorer can tell a student's main runs from a study's many small ones."""

    student: str
    run: str
    run_dir: Path
    source: str
    report_dir: Path | None = None  # reports/<run>/ (has report.json), if handed in
    failed_report: Path | None = None  # reports/<run>.failed/ (a build that failed), if handed in
    problem: str = ""
    part_of: str = ""

    def fingerprint(self) -> str:
        """SHA-256 over the name, size and content of every file scoring and the page read (the
        run's :data:`FINGERPRINT_RUN_FILES`, the report's :data:`FINGERPRINT_REPORT_FILES`, the failed
        build's ``failure.json``), a missing file counting as missing, and over ``problem``.

        Modification times are left out, so copying the class again rescores nothing. A run with a
        problem is never scored, so its files are not read: their sizes and times stand in (a 10 GB
        file costs nothing)."""
        digest = hashlib.sha256(f"problem\0{self.problem}\0".encode())
        groups = (("run", self.run_dir, FINGERPRINT_RUN_FILES), ("report", self.report_dir, FINGERPRINT_REPORT_FILES),
                  ("failed", self.failed_report, (FAILURE_FILE,)))
        for label, folder, names in groups:
            for name in names:
                digest.update(f"{label}/{name}\0".encode())
                digest.update(_file_token(folder / name if folder else None, content=not self.problem))
        return digest.hexdigest()


@dataclass
class Submission:
    """One hand-in: a student's folder, zip, or nbgrader assignment folder. ``source`` is where it
    is, relative to SUBMISSIONS (``ada``, ``ada.zip``, ``submitted/ada/ps1``); ``problem`` the
    one-line reason nothing of it could be read (:data:`NOTHING`, a refused zip member...)."""

    student: str
    source: str
    runs: list[RunEntry] = field(default_factory=list)
    problem: str = ""


# --- the entry point ----------------------------------------------------------------------------


def find_submissions(root: Path, work: Path, *, max_file_bytes: int = MAX_FILE_BYTES,
                     max_total_bytes: int = MAX_TOTAL_BYTES, out: Path | None = None) -> list[Submission]:
    """Every hand-in below ``root`` (SUBMISSIONS), sorted by student then source, with its runs.

    Zips are unpacked into ``work`` (a folder inside ``--out``, created when a zip needs it; copies
    of zips no longer handed in are removed from it). ``work`` and ``out`` (the ``--out`` folder)
    are skipped when they lie inside SUBMISSIONS. A student's problem never stops the others:
    only a missing SUBMISSIONS folder raises (:class:`~galaxy_lib.errors.DataError`).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder of submissions (one folder or zip per student)")
    root = root.resolve()
    work = Path(work).resolve()
    skip = frozenset({work} | ({Path(out).resolve()} if out is not None else set()))
    finder = _Finder(root, work, skip, max_file_bytes, max_total_bytes)
    if root.name == "submitted":
        found = finder.nbgrader(root, prefix="")
    elif _is_folder(root / "submitted"):  # an nbgrader course folder: source/, release/... are not students
        found = finder.nbgrader(root / "submitted", prefix="submitted/")
    else:
        found = finder.plain(root)
    _tidy(work, finder.unpacked)
    return sorted(found, key=lambda s: (s.student.casefold(), s.student, s.source))


def safe_name(student: str) -> str:
    """``student`` as a folder or file name in ``--out``: unchanged when it is already a plain name
    (letters, digits, ``_ . -``, at most 80), else its plain characters plus a short hash of the
    whole name, so that two students never share a folder and no name can climb out of one."""
    stem = student.split(".")[0].lower()
    if _SAFE_NAME.fullmatch(student) and not student.endswith(".") and stem not in _RESERVED:
        return student
    plain = re.sub(r"[^A-Za-z0-9_.-]+", "_", student).strip("._-")[:51] or "student"  # 60 with its tag
    tag = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{plain}-{tag}"


def half_copied(run_dir: Path) -> str:
    """Why ``run_dir``'s ``best.keras`` cannot be a trained model, or ``""``: missing (training never
    finished an epoch, or the copy stopped before it), empty, or cut short (a ``.keras`` file is a zip,
    whose directory is written last). The one place this message is worded."""
    best = Path(run_dir) / BEST
    try:
        info = os.lstat(best)
    except FileNotFoundError:
        return HALF_COPIED
    except OSError as exc:
        return f"{BEST} cannot be read ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return f"{BEST} {LINK}"
    if not stat.S_ISREG(info.st_mode):
        return f"{BEST} is not a regular file"
    if info.st_size == 0:
        return f"{BEST} is empty (0 bytes): half-copied"
    try:
        with _open_file(best) as handle:
            complete = zipfile.is_zipfile(handle)
    except OSError as exc:
        return f"{BEST} cannot be read ({exc.strerror})"
    return "" if complete else f"{BEST} is cut short or damaged (not a complete .keras archive)"


# --- finding hand-ins ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    """A tree holding one hand-in: a folder inside SUBMISSIONS, or a zip's unpacked copy inside work."""

    root: Path  # the hand-in's top: problems name files relative to it
    base: Path  # SUBMISSIONS or work: nothing outside it is read
    label: str  # the hand-in as shown: "ada", "submitted/ada/ps1", "ada.zip"
    name: str  # a run at the very top is named after the hand-in
    zipped: bool = False

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def show(self, path: Path) -> str:
        rel = self.rel(path)
        if rel == ".":
            return self.label
        return f"{self.label}:{rel}" if self.zipped else f"{self.label}/{rel}"


@dataclass
class _Found:
    """What a search of one hand-in met."""

    runs: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)
    zips: list[Path] = field(default_factory=list)
    links: list[Path] = field(default_factory=list)  # not followed, outside run and report folders


class _Finder:
    """The search with its settings, and the names of the zips' copies it used in ``work``."""

    def __init__(self, root: Path, work: Path, skip: frozenset[Path], max_file: int, max_total: int) -> None:
        self.root, self.work, self.skip = root, work, skip
        self.max_file, self.max_total = max_file, max_total
        self.unpacked: set[str] = set()

    def plain(self, folder: Path) -> list[Submission]:
        """One folder or zip per student."""
        found: list[Submission] = []
        for entry in _listing(folder, self.skip):
            path, label = Path(entry.path), _one_line(entry.name)
            if entry.is_symlink():
                found.append(Submission(_one_line(entry.name), label, [], _link_problem(label, path)))
            elif entry.is_dir(follow_symlinks=False):
                found.extend(self.folder(_one_line(entry.name), path, label, alone=True))
            elif entry.is_file(follow_symlinks=False) and entry.name.lower().endswith(".zip"):
                found.append(self.zipped(_one_line(entry.name[:-4]), path, label, alone=True))
            elif entry.is_file(follow_symlinks=False) and entry.name.lower().endswith(OTHER_ARCHIVES):
                student = _one_line(re.sub(r"(\.tar)?\.[A-Za-z0-9]+$", "", entry.name))
                found.append(Submission(student, label, [], f"{label} is not a folder or a .zip: not read"))
        return found

    def nbgrader(self, submitted: Path, prefix: str) -> list[Submission]:
        """``submitted/STUDENT/ASSIGNMENT/``: each assignment folder (or zip) a hand-in of its own."""
        found: list[Submission] = []
        for student_entry in _listing(submitted, self.skip):
            student = _one_line(student_entry.name)
            label = f"{prefix}{student}"
            path = Path(student_entry.path)
            if student_entry.is_symlink():
                found.append(Submission(student, label, [], _link_problem(label, path)))
                continue
            if student_entry.is_file(follow_symlinks=False) and student_entry.name.lower().endswith(".zip"):
                found.append(self.zipped(_one_line(student_entry.name[:-4]), path, label, alone=True))
                continue
            if not student_entry.is_dir(follow_symlinks=False):
                continue
            mine: list[Submission] = []
            for entry in _listing(path, self.skip):
                source = f"{label}/{_one_line(entry.name)}"
                if entry.is_symlink():
                    mine.append(Submission(student, source, [], _link_problem(source, Path(entry.path))))
                elif entry.is_dir(follow_symlinks=False):
                    mine.extend(self.folder(student, Path(entry.path), source, alone=True))
                elif entry.is_file(follow_symlinks=False) and entry.name.lower().endswith(".zip"):
                    mine.append(self.zipped(student, Path(entry.path), source, alone=True))
            found.extend(mine or [Submission(student, label, [], NOTHING)])
        return found

    def folder(self, student: str, folder: Path, label: str, *, alone: bool) -> list[Submission]:
        """A hand-in folder, and the zips found in it (each a hand-in of its own). With ``alone``,
        a folder that yields nothing at all is still a row: the student handed in nothing."""
        place = _Place(folder, self.root, label, _one_line(folder.name))
        found = _scan(folder, self.skip, zips=True)
        zips = [self.zipped(student, path, place.show(path), alone=False) for path in found.zips]
        zips = [s for s in zips if s.runs or s.problem]
        if found.runs or (alone and not zips):
            runs = _entries(student, place, found, self.max_file)
            problem = "" if runs else _nothing(place, found)
            return [Submission(student, label, runs, problem), *zips]
        return zips

    def zipped(self, student: str, path: Path, label: str, *, alone: bool) -> Submission:
        """A zip: checked, unpacked into ``work`` when it changed, then searched as a folder is."""
        name = safe_name(os.fsdecode(path.relative_to(self.root)))  # unique: a path with "/" gets a hash
        self.unpacked.add(name)
        copy, problem = _unpack(path, self.work / name, label, self.max_file, self.max_total)
        if problem or copy is None:
            return Submission(student, label, [], problem or (NOTHING if alone else ""))
        place = _Place(copy, self.work, label, _one_line(re.sub(r"\.zip$", "", path.name, flags=re.I)), zipped=True)
        found = _scan(copy, frozenset(), zips=False)  # a zip inside a zip is not unpacked
        runs = _entries(student, place, found, self.max_file)
        return Submission(student, label, runs, "" if runs or not alone else NOTHING)


def _listing(folder: Path, skip: frozenset[Path]) -> list[os.DirEntry[str]]:
    """``folder``'s entries by name, without hidden ones (``.git``, ``.venv``, ``.DS_Store``), macOS'
    ``__MACOSX`` and the ``skip`` folders (``--out`` when it lies inside SUBMISSIONS)."""
    try:
        with os.scandir(folder) as entries:
            return sorted((e for e in entries if not _hidden(e.name) and Path(e.path) not in skip),
                          key=lambda e: e.name)
    except OSError:
        return []


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _is_folder(path: Path) -> bool:
    """A real folder (not a link to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _classify(name: str, files: set[str], parent: str) -> str:
    """What a folder holding the regular files ``files`` is: ``"failed"`` (a failed report build),
    ``"report"``, ``"run"``, ``"skip"`` (neither, and nothing below it is) or ``""`` (search below it).
    Reports are tested first: they keep copies of their run's ``config.yaml`` and ``history.csv``."""
    if name.endswith(".failed"):
        return "failed" if FAILURE_FILE in files or SUMMARY_FILE in files else "skip"
    if SUMMARY_FILE in files:
        return "report"
    if RunFolder.CONFIG in files and (parent == "runs" or any(marker in files for marker in RUN_MARKERS)):
        return "run"
    return ""


def _scan(top: Path, skip: frozenset[Path], *, zips: bool) -> _Found:
    """Search ``top`` for run folders, reports, failed reports and (with ``zips``) zip files, without
    following links and without looking inside a run or report folder once found."""
    found = _Found()
    stack = [(top, 0)]
    while stack:
        folder, depth = stack.pop()
        files: set[str] = set()
        folders: list[Path] = []
        links: list[Path] = []
        archives: list[Path] = []
        for entry in _listing(folder, skip):
            path = Path(entry.path)
            if entry.is_symlink():
                links.append(path)
            elif entry.is_dir(follow_symlinks=False):
                folders.append(path)
            elif entry.is_file(follow_symlinks=False):
                files.add(entry.name)
                if zips and entry.name.lower().endswith(".zip"):
                    archives.append(path)
        kind = _classify(folder.name, files, folder.parent.name)
        if kind == "run":
            found.runs.append(folder)
        elif kind == "report":
            found.reports.append(folder)
        elif kind == "failed":
            found.failed.append(folder)
        elif not kind:
            found.links.extend(links)
            found.zips.extend(archives)
            if depth < MAX_DEPTH:
                stack.extend((sub, depth + 1) for sub in reversed(folders))
    for kept in (found.runs, found.reports, found.failed, found.zips, found.links):
        kept.sort()
    return found


def _nothing(place: _Place, found: _Found) -> str:
    """:data:`NOTHING`, naming the links that were not followed (a ``runs`` link is a likely cause)."""
    if not found.links:
        return NOTHING
    shown = ", ".join(_one_line(place.rel(link)) for link in found.links[:3])
    more = f" and {len(found.links) - 3} more" if len(found.links) > 3 else ""
    return f"{NOTHING}; links not followed: {shown}{more}"


# --- runs and their reports ---------------------------------------------------------------------


def _entries(student: str, place: _Place, found: _Found, max_file: int) -> list[RunEntry]:
    """The run entries of one hand-in, each with its report and its problem, sorted by run."""
    names = {run: _run_name(run, place) for run in found.runs}
    repeated = Counter(names.values())
    for run, name in names.items():  # two checkouts in one hand-in: runs/default twice
        if repeated[name] > 1:
            names[run] = place.rel(run)
    reports = _match(found.reports, found.runs, names, failed=False)
    failed = _match(found.failed, found.runs, names, failed=True)
    entries = []
    for run in found.runs:
        entry = RunEntry(student, names[run], run, place.show(run), reports.get(run), failed.get(run),
                         part_of=_part_of(run, place))
        entry.problem = _problem(entry, place, max_file)
        entries.append(entry)
    return sorted(entries, key=lambda e: e.run)


def _run_name(run: Path, place: _Place) -> str:
    """The run's path below the last ``runs/`` (``default``, ``x3/seed0``), else below the hand-in."""
    parts = run.relative_to(place.root).parts
    if "runs" in parts[:-1]:
        return _one_line("/".join(parts[_last_runs(parts) + 1:]))
    return _one_line("/".join(parts)) if parts else place.name


def _match(reports: list[Path], runs: list[Path], names: dict[Path, str], *, failed: bool) -> dict[Path, Path]:
    """Each run's report: the one whose ``report.json`` names it in ``run_dir`` (the build's own word,
    so it wins over names), else ``reports/<run>/`` beside ``runs/<run>/``. When several reports claim
    a run, the one named like the run wins, then the first by name."""
    claims: dict[Path, list[tuple[int, str, Path]]] = defaultdict(list)
    for report in reports:
        name = report.name.removesuffix(".failed") if failed else report.name
        run = _named_run(report, runs)
        if run is None:
            run = next((r for r in runs if r.parent.name == "runs" and r.name == name
                        and r.parent.parent == report.parent.parent), None)
        if run is not None:
            claims[run].append((0 if name == names[run] else 1, report.name, report))
    return {run: min(options)[2] for run, options in claims.items()}


def _last_runs(parts: tuple[str, ...]) -> int:
    """The index of the last ``runs`` component of ``parts`` before its last one."""
    return len(parts) - 2 - parts[:-1][::-1].index("runs")


def _named_run(report: Path, runs: list[Path]) -> Path | None:
    """The run that ``report.json``'s ``run_dir`` names: relative (``runs/default``, from the project
    the report lies in), or a path on the student's machine matched by its end from ``runs/`` on."""
    record = _read_json(report / SUMMARY_FILE)
    run_dir = record.get("run_dir") if isinstance(record, dict) else None
    if not isinstance(run_dir, str) or not run_dir or "\0" in run_dir:
        return None
    posix = run_dir.replace("\\", "/")
    written = PurePosixPath(posix)
    project = report.parent.parent
    if not written.is_absolute() and not re.match(r"[A-Za-z]:", posix):
        target = Path(os.path.normpath(project / written))  # compared with found runs only, never opened
        if target in runs:
            return target
    parts = written.parts
    if "runs" not in parts[:-1]:
        return None
    tail = parts[_last_runs(parts):]
    matches = [run for run in runs if run.parts[-len(tail):] == tail]
    return min(matches, key=lambda run: (not run.is_relative_to(project), run)) if matches else None


def _part_of(run: Path, place: _Place) -> str:
    """``"ensemble <folder>"`` or ``"learning curve <folder>"`` for a member of one, else ``""``."""
    parent = run.parent
    if parent == place.root or not parent.is_relative_to(place.root):
        return ""
    if _regular(parent / EnsembleFolder.MEMBERS):
        return f"ensemble {place.show(parent)}"
    if any(_regular(parent / marker) for marker in CURVE_MARKERS):
        return f"learning curve {place.show(parent)}"
    return ""


def _problem(entry: RunEntry, place: _Place, max_file: int) -> str:
    """The first reason the run cannot be scored as handed in: a folder outside the hand-in, a link
    or odd file, a file over the limit (in the run, its report or failed build), then
    :func:`half_copied`."""
    folders = ((entry.run_dir, NOT_SEARCHED_IN_RUN), (entry.report_dir, frozenset()),
               (entry.failed_report, frozenset()))
    for folder, skipped in folders:
        if folder is None:
            continue
        if not _inside(folder, place.base):
            return f"{_one_line(place.rel(folder))} lies outside the hand-in"
        problem = _check_tree(folder, place, max_file, skipped)
        if problem:
            return problem
    return half_copied(entry.run_dir)


def _check_tree(top: Path, place: _Place, max_file: int, skipped: frozenset[str]) -> str:
    """The first link, non-regular file or file over ``max_file`` in ``top`` (by name, hidden files
    too; ``skipped`` sub-folders of ``top`` are never read), or ``""``."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            return f"{_one_line(place.rel(folder))} cannot be read ({exc.strerror})"
        folders = []
        for entry in entries:
            path = Path(entry.path)
            shown = _one_line(place.rel(path))
            if entry.is_symlink():
                return _link_problem(shown, path)
            if entry.is_dir(follow_symlinks=False):
                if not (folder == top and entry.name in skipped):
                    folders.append(path)
                continue
            if not entry.is_file(follow_symlinks=False):
                return f"{shown} is not a regular file"
            size = entry.stat(follow_symlinks=False).st_size
            if size > max_file:
                return f"{shown} is {_size(size)}, over the {_size(max_file)} limit for a hand-in file"
        stack.extend(reversed(folders))
    return ""


# --- zips ---------------------------------------------------------------------------------------


_Member = tuple[zipfile.ZipInfo, tuple[str, ...]]  # a member to unpack and its path's parts


class _Refused(Exception):
    """A zip refused while unpacking; the message is the submission's one-line problem."""


def _unpack(path: Path, target: Path, label: str, max_file: int, max_total: int) -> tuple[Path | None, str]:
    """``(copy, problem)``: the zip's run and report folders unpacked in ``target`` (``None`` when it
    holds none, or was refused), and the one-line reason it was refused (``""`` when it was not).

    The record beside ``target`` keeps the zip's size, time, SHA-256 and the outcome: an unchanged
    zip (same size and time, or a new time but the same content) is not read or unpacked again."""
    record_file = target.with_name(target.name + RECORD_SUFFIX)
    settings = {"version": UNPACK_VERSION, "max_file_bytes": max_file, "max_total_bytes": max_total}
    try:
        handle = _open_file(path)
    except OSError as exc:
        return None, f"{_one_line(label)} cannot be read ({exc.strerror or exc})"
    with handle:
        info = os.fstat(handle.fileno())
        record = _read_json(record_file)
        usable = (isinstance(record, dict) and all(record.get(k) == v for k, v in settings.items())
                  and record.get("size") == info.st_size and isinstance(record.get("problem"), str)
                  and (not record.get("unpacked") or _is_folder(target)))
        kept = target if usable and record.get("unpacked") else None
        if usable and record.get("mtime_ns") == info.st_mtime_ns:
            return kept, record["problem"]
        digest = _sha256(handle)
        if usable and record.get("sha256") == digest:  # touched, not changed
            atomic_write_json(record_file, record | {"mtime_ns": info.st_mtime_ns}, indent=1)
            return kept, record["problem"]
        record_file.unlink(missing_ok=True)  # from here on the old copy is not this zip's
        handle.seek(0)
        made, problem = _extract(handle, target.parent, label, max_file, max_total)
    if made is None:
        shutil.rmtree(target, ignore_errors=True)  # a refused or emptied zip leaves no stale copy
    else:
        replace_folder(made, target)
    outcome = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest, "problem": problem,
               "unpacked": made is not None, "zip": label}
    atomic_write_json(record_file, settings | outcome, indent=1)
    return (target if made is not None else None), problem


def _extract(handle: IO[bytes], work: Path, label: str, max_file: int, max_total: int) -> tuple[Path | None, str]:
    """Check every member, then unpack the selected ones into a new temporary folder in ``work``:
    ``(folder, "")``, ``(None, "")`` when there is nothing to unpack, or ``(None, problem)``."""
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        return None, f"{_one_line(label)} is not a readable zip ({_one_line(str(exc)) or type(exc).__name__})"
    with archive:
        try:
            members = _select(archive.infolist(), max_file, max_total)
        except _Refused as exc:
            return None, str(exc)
        if not members:
            return None, ""
        with writing(work):
            work.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=work, prefix=".unpacking-"))
        try:
            _copy_members(archive, members, staging, max_file, max_total)
        except _Refused as exc:
            shutil.rmtree(staging, ignore_errors=True)
            return None, str(exc)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return staging, ""


def _copy_members(archive: zipfile.ZipFile, members: list[_Member], staging: Path, max_file: int,
                  max_total: int) -> None:
    """Write the members below ``staging``, counting the bytes actually inflated: a member that
    inflates past its declared size or the limits is refused, whatever its header said."""
    total = 0
    for info, parts in members:
        shown = _one_line(info.filename)
        dest = staging.joinpath(*parts)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            with os.fdopen(fd, "wb") as out, archive.open(info) as source:
                written = 0
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    total += len(chunk)
                    if written > min(info.file_size, max_file):
                        raise _Refused(f"zip member {shown} refused: it inflates past its declared size "
                                       f"({_size(info.file_size)})")
                    if total > max_total:
                        raise _Refused(f"zip unpacks to more than the {_size(max_total)} limit for one hand-in "
                                       f"(at member {shown})")
                    out.write(chunk)
        except _Refused:
            raise
        except OSError as exc:
            error = disk_error(exc, dest, verb="unpack to")
            if error is not None:  # the instructor's disk, not the student's zip
                raise error from exc
            raise _Refused(f"zip member {shown} could not be unpacked ({_one_line(str(exc))})") from exc
        except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error) as exc:
            raise _Refused(f"zip member {shown} could not be unpacked ({_one_line(str(exc))})") from exc


def _select(infos: list[zipfile.ZipInfo], max_file: int, max_total: int) -> list[_Member]:
    """The members to unpack with their path parts: those in run folders (not their ``resume/``,
    ``cache/`` or ``workers/``) and report folders, found from the member names as :func:`_scan`
    finds them on disk. Every member is checked first; one unsafe member refuses the zip."""
    seen: set[str] = set()
    members: list[_Member] = []
    for info in infos:
        why = _unsafe(info)
        shown = _one_line(info.orig_filename)
        if why:
            raise _Refused(f"zip member {shown} refused: {why}")
        parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
        key = "/".join(parts)
        if key in seen and not info.is_dir():
            raise _Refused(f"zip member {shown} refused: it appears twice")
        seen.add(key)
        if not info.is_dir() and parts and not any(_hidden(p) for p in parts):
            members.append((info, parts))
    files: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for _, parts in members:
        files[parts[:-1]].add(parts[-1])
    kinds = {folder: kind for folder, names in files.items()
             if (kind := _classify(folder[-1] if folder else "", names, folder[-2] if len(folder) > 1 else ""))}
    selected = []
    for info, parts in members:
        top = next((parts[:i] for i in range(len(parts)) if parts[:i] in kinds), None)
        if top is None:
            continue
        if kinds[top] == "skip":
            continue
        if kinds[top] == "run" and len(parts) > len(top) + 1 and parts[len(top)] in NOT_SEARCHED_IN_RUN:
            continue
        if info.file_size > max_file:
            raise _Refused(f"zip member {_one_line(info.filename)} is {_size(info.file_size)}, "
                           f"over the {_size(max_file)} limit for a hand-in file")
        selected.append((info, parts))
    total = sum(info.file_size for info, _ in selected)
    if total > max_total:
        raise _Refused(f"zip unpacks to {_size(total)}, over the {_size(max_total)} limit for one hand-in")
    return selected


def _unsafe(info: zipfile.ZipInfo) -> str:
    """Why a member may not be unpacked (``""`` when it may): a path that could land outside the
    folder, a link, a device or pipe, or encryption (it could not be checked as it would be read)."""
    name = info.orig_filename
    posix = name.replace("\\", "/")
    mode = info.external_attr >> 16
    if "\0" in name:
        return "its name holds a NUL character"
    if posix.startswith("/"):
        return "absolute path"
    if re.match(r"[A-Za-z]:", posix):
        return "drive letter"
    if ".." in posix.split("/"):
        return "'..' in its path"
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted"
    return ""


def _tidy(work: Path, used: set[str]) -> None:
    """Remove the copies (and records) of zips that were not handed in this time, so that ``work``
    holds only the class as it is; only folders with a record of ours are touched."""
    if not _is_folder(work):
        return
    for record in work.glob(f"*{RECORD_SUFFIX}"):
        name = record.name[: -len(RECORD_SUFFIX)]
        if name not in used and isinstance(_read_json(record), dict):
            shutil.rmtree(work / name, ignore_errors=True)
            record.unlink(missing_ok=True)


# --- reading safely -----------------------------------------------------------------------------


def _open_file(path: Path) -> IO[bytes]:
    """``path`` opened for reading only if it is a regular file, never through a link (``O_NOFOLLOW``)
    and without waiting on a named pipe (``O_NONBLOCK``)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _read_json(path: Path) -> Any:
    """A small json file's content, or ``None`` (missing, a link, too big, not json)."""
    try:
        with _open_file(path) as handle:
            if os.fstat(handle.fileno()).st_size > _REPORT_JSON_LIMIT:
                return None
            return json.loads(handle.read(_REPORT_JSON_LIMIT))
    except (OSError, ValueError, RecursionError):
        return None


def _sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _file_token(path: Path | None, *, content: bool) -> bytes:
    """What :meth:`RunEntry.fingerprint` hashes for one file: missing, a link, another kind, or its
    size and content hash (size and time without ``content``)."""
    if path is None:
        return b"missing\0"
    try:
        info = os.lstat(path)
    except OSError:
        return b"missing\0"
    if stat.S_ISLNK(info.st_mode):
        return b"link\0"
    if not stat.S_ISREG(info.st_mode):
        return b"other\0"
    if not content:
        return f"{info.st_size}:{info.st_mtime_ns}\0".encode()
    try:
        with _open_file(path) as handle:
            return f"{info.st_size}:{_sha256(handle)}\0".encode()
    except OSError:
        return b"unreadable\0"


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _inside(path: Path, base: Path) -> bool:
    """Whether ``path``, links resolved, lies inside ``base``: the search never steps through a link,
    so this holds unless the tree changed under it; checked anyway before anything is read."""
    try:
        return path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError):
        return False


def _link_problem(shown: str, path: Path) -> str:
    try:
        target = _one_line(os.readlink(path))
    except OSError:
        target = "?"
    if len(target) > 80:
        target = target[:77] + "..."
    return f"{_one_line(shown)} {LINK} (it points to {target})"


def _one_line(text: str) -> str:
    """``text`` without control or undecodable characters: names come from students' file systems
    and zips, and a newline in one must not break the one-line problem, the page or ``class.csv``."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def _size(size: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


__all__ = [
    "HALF_COPIED",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "NOTHING",
    "RunEntry",
    "Submission",
    "find_submissions",
    "half_copied",
    "safe_name",
]
