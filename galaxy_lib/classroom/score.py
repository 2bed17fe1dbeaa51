"""Score every student's run on the instructor's galaxies: ``python -m galaxy_lib class``.

Each student scores their own run on a split they drew themselves, so the instructor cannot tell an
honest test figure from a lucky or a copied one. Here every run's ``best.keras`` predicts the same
held-back galaxies (the key, :mod:`.key`) through the run's own preprocessing and test-time averaging
(the ``predict`` path), and is scored with the same functions as ``evaluate``: RMSE with a bootstrap
interval, and its paired gain over the training-mean predictor (the students' training galaxies'
mean answers, recorded in the key).

What it costs: the key's images are decoded once per preprocessing (crop, size), not once per
student; runs are scored grouped by preprocessing, so one group's crops are held at a time. A run
whose hand-in has not changed since the last scoring is not scored again (the rows and predictions
are kept under ``--out/.cache``), so adding one late submission costs one run.

A submission is data, never code (:mod:`.submissions` checks paths, links and sizes): models load in
Keras' safe mode (a model that needs custom code is a row saying so), no notebook is executed,
student HTML is shown only in a sandboxed frame (:func:`.page.copy_report`), and everything written
goes under ``--out``.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.classroom import page
from galaxy_lib.classroom.key import ClassKey, read_key
from galaxy_lib.classroom.rows import ClassRow, Flag
from galaxy_lib.classroom.submissions import RunEntry, Submission, find_submissions
from galaxy_lib.config import Config, load_config
from galaxy_lib.errors import ConfigError, GalaxyLibError
from galaxy_lib.evaluation import metrics
from galaxy_lib.kaggle import TRAINING_IMAGES
from galaxy_lib.locks import run_lock
from galaxy_lib.model.runs import EVALUATION_KEYS, PLACE_KEYS, RUNTIME_KEYS, RunFolder
from galaxy_lib.parameters_file import BASE_KEY, read_mapping
from galaxy_lib.paths import atomic_path, atomic_write_json, display_path, read_json_object
from galaxy_lib.report.index import device_text
from galaxy_lib.report.summary import FAILURE_FILE, SUMMARY_FILE

VERSION = 2
"""Bumped when scoring changes, so that cached rows from an older scorer are scored again."""

COPY_THRESHOLD = 1e-3
"""Two runs whose predictions on the key differ by less than this root-mean-square (over every galaxy
and answer; answers lie in [0, 1]) are flagged as a copy. Honest runs of the same configuration by two
students (different seeds) differ by about 0.02-0.05; a copied run folder differs by 0."""

GAP_THRESHOLD = 0.015
"""A student's own test RMSE more than this away from the run's RMSE on the key is flagged: both are
held-out galaxies of the same kind, so they differ by a few thousandths (their intervals' width)."""

BOOTSTRAP = 1000
"""Bootstrap resamples for every interval; the same seeded resamples for every run."""

COURSE_NOTEBOOKS = ("01_data.ipynb", "02_train.ipynb", "03_evaluate.ipynb")
"""The notebooks a run's report must have executed (``report.json``'s ``notebooks``)."""

IGNORED_CHANGES = PLACE_KEYS | RUNTIME_KEYS | (EVALUATION_KEYS - {"tta"}) | {"student"}
"""Keys whose difference from the assignment says nothing about the model scored here: where things
are (a student's data folder is their own), who ran it (the row says so), how the same computation
was run, and how the student's own figures were computed (``tta`` stays: it is how the key is scored)."""

SMALL_FILE_BYTES = 64 * 2**20
"""Records (JSON, CSV) larger than this are not parsed: no honest one comes near it."""

CACHE = ".cache"  # under --out: scored rows and predictions of unchanged hand-ins
WORK = ".unpacked"  # under --out: zips, unpacked after their members are checked


@dataclass
class _Pending:
    """A run to score: its row so far, the configuration it was trained with and its cache key."""

    entry: RunEntry
    row: ClassRow
    config: Config
    cache_key: str


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def _read_small_json(path: Path) -> dict[str, Any]:
    if not path.is_file() or path.is_symlink() or path.stat().st_size > SMALL_FILE_BYTES:
        return {}
    return read_json_object(path)


class KeyCrops:
    """The key's images decoded once per preprocessing ``(crop, image_size, resize_bad_size)``.

    Holds one preprocessing's crops at a time (runs are scored grouped by it): a class that mixes
    424-pixel crops with the default's 207->69 never holds both."""

    def __init__(self, key: ClassKey) -> None:
        self.key = key
        self._which: tuple[int, int, bool] | None = None
        self._crops: np.ndarray | None = None
        self.decoded = 0  # how many preprocessings were decoded (the benchmark prints it)

    def get(self, config: Config) -> np.ndarray:
        from galaxy_lib.data import dataset, pipeline

        which = (config.crop, config.image_size, config.resize_bad_size)
        if which != self._which:
            self._crops = None  # free the previous group's crops first
            images = dataset.open_images(self.key.root / TRAINING_IMAGES)
            self._crops = pipeline.load_crops(images, self.key.ids, crop=config.crop, image_size=config.image_size,
                                              resize_bad_size=config.resize_bad_size, progress=False)
            self._which = which
            self.decoded += 1
        assert self._crops is not None
        return self._crops


# --- what the hand-in says ------------------------------------------------------------------------


def _notebooks_status(entry: RunEntry, summary: dict[str, Any]) -> tuple[str, list[Flag]]:
    """``ok``/``failed: ...``/``missing ...`` for the run's report (``summary``: its ``report.json``),
    and the flag when it is not ok."""
    if entry.failed_report is not None:
        failure = _read_small_json(entry.failed_report / FAILURE_FILE)
        notebook = failure.get("notebook") or "a notebook"
        error = str(failure.get("error") or "").splitlines()[0:1]
        reason = f"the report's build failed in {notebook}" + (f": {error[0][:150]}" if error else "")
        if entry.report_dir is None:
            return f"failed: {notebook}", [Flag("notebooks", reason)]
        return f"failed: {notebook} (an older report exists)", [Flag("notebooks", reason + " (an older report exists)")]
    if entry.report_dir is None:
        return "missing", [Flag("notebooks", "no report handed in for this run (reports/<run>/ with report.json)")]
    ran = {str(t.get("notebook")) for t in summary.get("notebooks") or [] if isinstance(t, dict)}
    missing = [name for name in COURSE_NOTEBOOKS if name not in ran or not (entry.report_dir / name).is_file()]
    if not summary:
        return "missing", [Flag("notebooks", f"{SUMMARY_FILE} missing or damaged in the handed-in report")]
    if missing:
        return f"missing: {', '.join(missing)}", [Flag("notebooks", f"the report lacks {', '.join(missing)}")]
    return "ok", []


def _changes(config: Config, assignment: Config | None) -> dict[str, list[Any]]:
    if assignment is None:
        return {}
    return {key: [before, after] for key, (before, after) in config.changes_from(assignment).items()
            if key not in IGNORED_CHANGES}


def _history_facts(folder: RunFolder, row: ClassRow) -> None:
    path = folder.history_file
    if not path.is_file():
        row.flags.append(Flag("damaged", "no history.csv: epochs and training time unknown"))
        return
    if path.stat().st_size > SMALL_FILE_BYTES:
        row.flags.append(Flag("damaged", f"history.csv is {path.stat().st_size:,} bytes: not read"))
        return
    try:
        history = folder.read_history()
    except GalaxyLibError as exc:
        row.flags.append(Flag("damaged", f"history.csv: {_first_line(exc)}"))
        return
    row.epochs = len(history)
    if "seconds" in history and len(history):
        row.wall_seconds = float(pd.to_numeric(history["seconds"], errors="coerce").fillna(0).sum())


def _split_flags(folder: RunFolder, key: ClassKey, row: ClassRow) -> None:
    """Overlap between the run's own training and held-out galaxies, and any key galaxy it holds."""
    path = folder.split_file
    if not path.is_file() or path.stat().st_size > SMALL_FILE_BYTES:
        row.flags.append(Flag("damaged", "no readable split.csv: its galaxies cannot be checked"))
        return
    try:
        split = pd.read_csv(path, usecols=[tree.ID_COLUMN, "split"])
        ids = pd.to_numeric(split[tree.ID_COLUMN], errors="raise").astype(np.int64)
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        row.flags.append(Flag("damaged", f"split.csv: {_first_line(exc)}"))
        return
    groups = {name: set(ids[split["split"] == name]) for name in ("train", "val", "test")}
    for held in ("test", "val"):
        shared = groups["train"] & groups[held]
        if shared:
            row.flags.append(Flag("split-overlap", f"{len(shared):,} galaxies are in both its train and {held} "
                                                   f"splits (first: {min(shared)}): its own {held} figure is not "
                                                   "held out"))
    leaked = set(ids) & set(key.ids.tolist())
    if leaked:
        row.flags.append(Flag("key-leak", f"its split.csv holds {len(leaked):,} of the instructor's galaxies "
                                          f"(first: {min(leaked)}): its key figure is not held out"))


def _describe(entry: RunEntry, key: ClassKey, assignment: Config | None) -> tuple[ClassRow, Config | None]:
    """The row's facts from the hand-in's records (no model loaded yet), and the run's configuration
    (None when it cannot be read: the row's ``problem`` says why)."""
    row = ClassRow(student=entry.student, run=entry.run, source=entry.source)
    summary = _read_small_json(entry.report_dir / SUMMARY_FILE) if entry.report_dir is not None else {}
    row.notebooks, flags = _notebooks_status(entry, summary)
    row.flags.extend(flags)
    if entry.problem:
        row.problem = entry.problem
        return row, None
    folder = RunFolder(entry.run_dir)
    try:
        if folder.config_file.stat().st_size > SMALL_FILE_BYTES:
            raise ConfigError(f"config.yaml is {folder.config_file.stat().st_size:,} bytes")
        if BASE_KEY in read_mapping(folder.config_file):  # it would name a file to read, anywhere
            raise ConfigError("it names a 'base' file; a run's config.yaml is complete and never names another")
        config = folder.load_config()
    except (GalaxyLibError, OSError) as exc:
        row.problem = f"config.yaml cannot be read: {_first_line(exc)}"
        return row, None
    row.changes = _changes(config, assignment)
    row.tta = config.tta
    row.trained_as = config.student
    measured = _read_small_json(folder.metrics_file)
    if isinstance(measured.get("test_rmse"), int | float):
        row.own_test_rmse = float(measured["test_rmse"])
        row.own_test_galaxies = measured.get("n_test") if isinstance(measured.get("n_test"), int) else None
    architecture = _read_small_json(folder.architecture_file)
    row.model_source = str(architecture.get("source") or ("configuration" if not folder.architecture_file.exists()
                                                          else ""))
    row.model_name = str(architecture.get("function") or architecture.get("name") or config.model)
    if isinstance(architecture.get("parameters"), int):
        row.parameters = architecture["parameters"]
    environment = _read_small_json(folder.environment_file)
    row.device = device_text(environment) if environment else ""
    answers = summary.get("answers")
    if isinstance(answers, dict):
        row.answers = {k: int(v) for k, v in answers.items() if isinstance(v, int) and not isinstance(v, bool)}
    _history_facts(folder, row)
    _split_flags(folder, key, row)
    return row, config


# --- the model on the key ---------------------------------------------------------------------------


def _load_model(entry: RunEntry, config: Config) -> Any:
    """The run's ``best.keras`` in safe mode, checked for the run's input and 37 outputs; a
    :class:`ValueError` with the one-line reason when it cannot be used."""
    from galaxy_lib.model import network

    keras = network.keras
    path = RunFolder(entry.run_dir).model_file("best")
    if not path.is_file():
        raise ValueError("no best.keras: half-copied, or never trained an epoch")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # any failure to load an untrusted file is that row's reason, not a crash
        text = _first_line(exc)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise ValueError("best.keras needs custom code (a Lambda layer or unknown class), which is not "
                             "run: safe mode refused it") from None
        raise ValueError(f"best.keras cannot be loaded (corrupted or partial file?): {text}") from None
    inputs, outputs = tuple(model.input_shape), tuple(model.output_shape)
    if inputs[1:] != (config.input_size, config.input_size, 3):
        raise ValueError(f"best.keras takes {inputs[1:]}, but its config.yaml makes "
                         f"{config.input_size}x{config.input_size} RGB inputs")
    if outputs[1:] != (tree.N_ANSWERS,):
        raise ValueError(f"best.keras gives outputs of shape {outputs[1:]}, not the {tree.N_ANSWERS} answers")
    return model


def _predict(entry: RunEntry, config: Config, model: Any, key: ClassKey, crops: KeyCrops) -> np.ndarray:
    from galaxy_lib.data import dataset
    from galaxy_lib.model import predict

    images = dataset.open_images(key.root / TRAINING_IMAGES)
    parts = [values for _, values in predict.iter_predictions(entry.run_dir, images, key.ids, model=model,
                                                             crops=crops.get(config), progress=False)]
    values = np.concatenate(parts).astype(np.float32)
    if not np.isfinite(values).all():
        raise ValueError("best.keras predicts NaN or infinite answers on the instructor's galaxies")
    return values


def _score(row: ClassRow, predictions: np.ndarray, key: ClassKey) -> None:
    low, high = metrics.rmse_interval(key.labels, predictions, n_bootstrap=BOOTSTRAP, seed=0)
    gain = metrics.rmse_gain(key.labels, predictions, key.training_mean, n_bootstrap=BOOTSTRAP, seed=0)
    row.rmse, row.rmse_low, row.rmse_high = gain.rmse, low, high
    row.mean_rmse, row.gain, row.gain_low, row.gain_high = gain.reference_rmse, gain.gain, gain.low, gain.high
    row.galaxies = gain.n


def _verdict_flags(row: ClassRow) -> None:
    """The flags that follow from the row's own figures (not from other students')."""
    if not row.scored:
        row.flags.insert(0, Flag("unscorable", row.problem or "not scored"))
        return
    if row.gain is not None and not (row.gain_low is not None and math.isfinite(row.gain_low) and row.gain_low > 0):
        interval = (f" [{row.gain_low:+.4f}, {row.gain_high:+.4f}]"
                    if row.gain_low is not None and math.isfinite(row.gain_low) else "")
        row.flags.append(Flag("no-gain", f"RMSE {row.rmse:.4f} against the training mean's {row.mean_rmse:.4f}: "
                                         f"gain {row.gain:+.4f}{interval}, not above zero beyond chance"))
    if row.own_test_rmse is not None and row.rmse is not None and abs(row.own_test_rmse - row.rmse) > GAP_THRESHOLD:
        side = "lower" if row.own_test_rmse < row.rmse else "higher"
        gap = abs(row.own_test_rmse - row.rmse)
        row.flags.append(Flag("gap", f"its own test RMSE {row.own_test_rmse:.4f} is {gap:.4f} {side} than on the "
                                     f"instructor's galaxies (threshold {GAP_THRESHOLD})"))


def name_flags(rows: Sequence[ClassRow]) -> None:
    """Flag a run trained under a classmate's name: its ``config.yaml`` names another hand-in's student
    (its folder's name), or a name that runs of two hand-ins carry (then both, since either may be the
    copy). A name merely spelled otherwise than the hand-in's folder (``Ada Lovelace`` handed in as
    ``ada`` or as a student number) is no sign of anything: it is shown, not flagged."""
    folders = {row.student.casefold(): row.student for row in rows}
    carriers: dict[str, set[str]] = {}
    for row in rows:
        if row.trained_as:
            carriers.setdefault(row.trained_as.casefold(), set()).add(row.student)
    for row in rows:
        name = row.trained_as.casefold()
        if not name or name == row.student.casefold():
            continue
        if name in folders:
            row.flags.append(Flag("copy", f"trained as student {row.trained_as!r} (its config.yaml): "
                                          f"{folders[name]}'s name, handed in by {row.student}"))
        elif len(carriers[name]) > 1:
            others = ", ".join(sorted(carriers[name] - {row.student}))
            row.flags.append(Flag("copy", f"trained as student {row.trained_as!r} (its config.yaml), a name "
                                          f"on {others}'s hand-in too"))


def copy_flags(rows: Sequence[ClassRow], predictions: dict[int, np.ndarray],
               threshold: float = COPY_THRESHOLD) -> None:
    """Flag every pair of different students' runs whose predictions on the key differ by less than
    ``threshold`` (root mean square): ``predictions`` maps a row's index to its ``(n, 37)`` values."""
    order = sorted(predictions)
    for a_pos, a in enumerate(order):
        for b in order[a_pos + 1:]:
            first, second = rows[a], rows[b]
            if first.student.casefold() == second.student.casefold():
                continue  # a student's own two runs may share a model (a re-evaluation)
            difference = float(np.sqrt(np.mean((predictions[a] - predictions[b]) ** 2)))
            if difference < threshold:
                for one, other in ((first, second), (second, first)):
                    one.flags.append(Flag("copy", f"predictions identical to {other.student} / {other.run} "
                                                  f"(RMS difference {difference:.2g} < {threshold:g})"))


# --- the cache ----------------------------------------------------------------------------------------


class _Cache:
    """Rows and predictions of hand-ins already scored, keyed by what they depend on."""

    def __init__(self, out: Path) -> None:
        self.folder = out / CACHE
        self.index_file = self.folder / "rows.json"
        self.rows: dict[str, dict[str, Any]] = read_json_object(self.index_file)
        self.used: set[str] = set()

    def get(self, cache_key: str) -> tuple[ClassRow, np.ndarray | None] | None:
        record = self.rows.get(cache_key)
        if not isinstance(record, dict):
            return None
        try:
            row = ClassRow.from_dict(record)
            file = self.folder / f"{cache_key}.npy"
            values = np.load(file, allow_pickle=False) if row.scored else None
        except (OSError, ValueError, TypeError):
            return None
        self.used.add(cache_key)
        return row, values

    def put(self, cache_key: str, row: ClassRow, values: np.ndarray | None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if values is not None:
            with atomic_path(self.folder / f"{cache_key}.npy", suffix=".npy") as tmp:
                np.save(tmp, values, allow_pickle=False)
        self.rows[cache_key] = row.to_dict()
        self.used.add(cache_key)

    def save(self) -> None:
        """Keep only what this scoring used: a replaced hand-in's old row goes."""
        kept = {k: v for k, v in self.rows.items() if k in self.used}
        for stale in set(self.rows) - self.used:
            (self.folder / f"{stale}.npy").unlink(missing_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.index_file, kept, indent=None)


def _cache_key(entry: RunEntry, key: ClassKey, assignment: Config | None) -> str:
    parts = [str(VERSION), key.fingerprint, entry.fingerprint(), entry.student, entry.run, entry.source,
             json.dumps(assignment.to_dict() if assignment else None, sort_keys=True, default=str)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


# --- the command -------------------------------------------------------------------------------------


@dataclass
class ClassResult:
    """What :func:`score_class` did: the rows (students, then references) and how much was new."""

    rows: list[ClassRow]
    references: list[ClassRow]
    scored_now: int
    from_cache: int
    decoded: int
    out: Path


def _empty_rows(submissions: Iterable[Submission]) -> list[ClassRow]:
    rows = []
    for submission in submissions:
        if not submission.runs:
            reason = submission.problem or "handed in no run folder"
            rows.append(ClassRow(student=submission.student, source=submission.source, problem=reason,
                                 notebooks="missing", flags=[Flag("unscorable", reason)]))
    return rows


def _reference_entries(references: Sequence[tuple[str, Path]]) -> list[RunEntry]:
    entries = []
    for name, run_dir in references:
        run_dir = Path(run_dir)
        if not (run_dir / RunFolder.CONFIG).is_file():
            raise ConfigError(f"--reference {name}={run_dir}: not a run folder (no {RunFolder.CONFIG})")
        entries.append(RunEntry(student="reference", run=name, run_dir=run_dir, source=display_path(run_dir),
                                report_dir=None, failed_report=None))
    return entries


def score_class(
    submissions: str | Path,
    key: str | Path,
    out: str | Path,
    *,
    assignment: str | Path | None = None,
    references: Sequence[tuple[str, Path]] = (),
    progress: bool = True,
) -> ClassResult:
    """Score every run handed in under ``submissions`` on the key at ``key`` and write the class index,
    ``class.csv`` and the figure into ``out`` (see the module's docstring). ``assignment``: the
    parameters file the class was given (each row lists its changes against it); ``references``:
    ``(name, run folder)`` pairs the instructor trained (the paper's configuration, say), scored the
    same way and drawn as reference lines."""
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise ConfigError(f"{submissions}: not a folder of submissions (one sub-folder or zip per student)")
    if out == submissions or out in submissions.parents:
        raise ConfigError(f"--out {out} contains the submissions folder; choose a folder of its own")
    class_key = read_key(key)
    assignment_config = load_config(assignment, environment=False) if assignment else None
    (out / CACHE).mkdir(parents=True, exist_ok=True)
    # One scorer per --out (a second stops at once naming the first); the lock file lies inside --out.
    with run_lock(out / CACHE, "scoring a class"):
        return _score_locked(submissions, class_key, out, assignment, assignment_config, references, progress)


def _score_locked(submissions: Path, class_key: ClassKey, out: Path, assignment: str | Path | None,
                  assignment_config: Config | None, references: Sequence[tuple[str, Path]],
                  progress: bool) -> ClassResult:
    found = find_submissions(submissions, out / WORK, out=out)
    # A learning curve's points are many small runs of one study, not runs handed in to be graded.
    entries = [entry for submission in found for entry in submission.runs if not entry.part_of.startswith("learning")]
    cache = _Cache(out)
    crops = KeyCrops(class_key)

    student_rows = _empty_rows(found)
    reference_rows: list[ClassRow] = []
    predictions: dict[int, np.ndarray] = {}  # id() of a row -> its predictions on the key
    pending: list[tuple[_Pending, bool]] = []
    scored_now = from_cache = 0
    for is_reference, group in ((False, entries), (True, _reference_entries(references))):
        for entry in group:
            cache_key = _cache_key(entry, class_key, assignment_config)
            cached = cache.get(cache_key)
            if cached is not None:
                row, values = cached
                from_cache += 1
                if row.report and not (out / row.report).is_file():  # the copy was deleted: copy it again
                    row.report = _copy_report(entry, out, row) if not is_reference else ""
                (reference_rows if is_reference else student_rows).append(row)
                if values is not None:
                    predictions[id(row)] = values
                continue
            row, config = _describe(entry, class_key, assignment_config)
            if config is None:
                _verdict_flags(row)
                cache.put(cache_key, row, None)
                (reference_rows if is_reference else student_rows).append(row)
                continue
            pending.append((_Pending(entry, row, config, cache_key), is_reference))

    # Grouped by preprocessing: the key's crops are decoded once per group and one group is held at a time.
    pending.sort(key=lambda p: (p[0].config.crop, p[0].config.image_size, p[0].config.resize_bad_size))
    with tqdm(total=len(pending), desc="scoring runs on the key", unit="run", disable=not progress) as bar:
        for item, is_reference in pending:
            values = None
            try:
                model = _load_model(item.entry, item.config)
                values = _predict(item.entry, item.config, model, class_key, crops)
                _score(item.row, values, class_key)
            except ValueError as exc:
                item.row.problem = _first_line(exc)
            finally:
                _release_model()
            _verdict_flags(item.row)
            if not is_reference:
                item.row.report = _copy_report(item.entry, out, item.row)
            cache.put(item.cache_key, item.row, values)
            scored_now += 1
            (reference_rows if is_reference else student_rows).append(item.row)
            if values is not None:
                predictions[id(item.row)] = values
            bar.update()

    all_rows = sorted(student_rows, key=lambda r: (r.student.casefold(), r.run))
    # Copy flags are between students, so they are recomputed over the whole class every time.
    for row in all_rows:
        row.flags = [f for f in row.flags if f.kind != "copy"]
    name_flags(all_rows)
    copy_flags(all_rows, {i: predictions[id(r)] for i, r in enumerate(all_rows) if id(r) in predictions})
    cache.save()
    _remove_stale_reports(out, all_rows)
    page.write_class_outputs(all_rows, out, key=class_key.info | {"galaxies": len(class_key.ids)},
                             assignment=display_path(assignment) if assignment else "",
                             references=reference_rows, copy_threshold=COPY_THRESHOLD, gap_threshold=GAP_THRESHOLD)
    return ClassResult(all_rows, reference_rows, scored_now, from_cache, crops.decoded, out)


def _copy_report(entry: RunEntry, out: Path, row: ClassRow) -> str:
    """The student's no-code report copied under ``out`` (shown sandboxed), or "" when none was handed in."""
    if entry.report_dir is None:
        return ""
    source = entry.report_dir / "report_no_code.html"
    if not source.is_file() or source.is_symlink():
        return ""
    return page.copy_report(source, out, row.student, row.run)


def _release_model() -> None:
    """Free the last model's graph: thirty models in one process would otherwise pile up."""
    from galaxy_lib.model import network

    network.keras.backend.clear_session()


def _remove_stale_reports(out: Path, rows: Sequence[ClassRow]) -> None:
    """Copied reports of runs no longer handed in are removed (``out/students/`` mirrors the class)."""
    kept = {(out / row.report).resolve().parent for row in rows if row.report}
    students = out / "students"
    if not students.is_dir():
        return
    for view in students.glob("*/*/"):
        if view.resolve() not in kept:
            shutil.rmtree(view, ignore_errors=True)


__all__ = ["COPY_THRESHOLD", "GAP_THRESHOLD", "ClassResult", "KeyCrops", "copy_flags", "score_class"]
