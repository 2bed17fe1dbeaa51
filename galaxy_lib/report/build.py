"""Build a report: run the notebooks with papermill and render them as HTML reports.

``python -m galaxy_lib report -f parameters/NAME.yaml`` is the product's face: it executes
``notebooks/01_data.ipynb``, ``02_train.ipynb`` and ``03_evaluate.ipynb`` in order on a Jupyter
kernel, keeps the executed notebooks, renders one HTML report with the code (for students) and
one without (for instructors), and lists every run in ``reports/index.html``.

Every notebook's ``parameters`` cell takes the same three values, so one scheme serves the
command line, CI and a student in JupyterLab:

- ``config_file``: the parameters file (``""`` = the built-in defaults);
- ``overrides``: config keys that differ from that file (``--set`` and ``--data``);
- ``run_dir``: the run folder (``""`` = ``<runs_dir>/<run_name>`` from the configuration).

Paths are passed relative to the project root when they lie inside it (the executed notebooks
are part of the report and must not carry the machine's folders); the notebook resolves them
with :func:`galaxy_lib.paths.resolve_path` and rebuilds the configuration with
``load_config(config_file, overrides)``, which gives exactly the object the runner holds. The
kernel gets ``GALAXY_LIB_ROOT`` so that relative paths mean the same folder in the kernel as in
the runner.

A report is built in a hidden staging folder and swapped into ``reports/NAME/`` only when every
notebook succeeded, so a failing run never destroys the previous report; the failed notebooks
are kept in ``reports/NAME.failed/`` with papermill's error banner at the top.

A learning-curve file (:mod:`galaxy_lib.studies.curve_file`) renders its own notebook instead,
``04_learning_curve.ipynb`` (:data:`CURVE_NOTEBOOKS`; a run's report never runs it): ``config_file``
is the learning-curve file, ``overrides`` the keys given for every point and ``run_dir`` the curve
folder; the notebook trains the points that are missing, then fits and reports the curve into
``reports/<name>/``.

A comparison of finished runs (:mod:`galaxy_lib.report.compare`, ``python -m galaxy_lib compare``)
renders ``05_compare.ipynb`` (:data:`COMPARE_NOTEBOOKS`) through :func:`render_report`, the same
staging, swap and index, with parameters ``runs`` and ``name`` and a ``report.json`` of its own.

An ensemble parameters file (:mod:`galaxy_lib.model.ensemble`) goes through the same notebooks:
``config_file`` is the ensemble file, ``overrides`` the keys given for every member and
``run_dir`` the ensemble folder; :func:`galaxy_lib.report.notebook.setup` recognises it, notebook 2
trains the members one after the other and notebook 3 evaluates their mean as one model.

Every ``report.json`` carries ``answers``: how many of the executed notebooks' exercises the
student answered (:func:`galaxy_lib.report.exercises.answers_record`), read from the notebooks as
they were run, which is what the index shows beside each report.

The other modules of this package each do one of those jobs: :mod:`.kernels` (which kernel),
:mod:`.execute` (papermill), :mod:`.summary` (``report.json`` and the run's records),
:mod:`.html` (the two pages), :mod:`.exercises` (the student's answers) and :mod:`.index`
(``reports/index.html``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from galaxy_lib.config import Config, load_config
from galaxy_lib.errors import ConfigError, ReportError
from galaxy_lib.locks import run_lock
from galaxy_lib.model.ensemble import EnsembleConfig, EnsembleFolder, load_ensemble
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.parameters_file import FOLDER_NAME_RULE, is_folder_name
from galaxy_lib.paths import (
    atomic_write_json,
    disk_error,
    display_path,
    project_root,
    replace_folder,
    resolve_path,
    writing,
)
from galaxy_lib.report.execute import KERNEL_LOG, NotebookFailed, execute_notebook, kernel_stderr_to
from galaxy_lib.report.exercises import answers_record, collect
from galaxy_lib.report.html import FULL_HTML, NO_CODE_HTML, render_html
from galaxy_lib.report.index import INDEX_FILE, write_index
from galaxy_lib.report.kernels import kernel_environment, kernel_spec
from galaxy_lib.report.summary import FAILURE_FILE, SUMMARY_FILE, copy_run_records, summary_record
from galaxy_lib.studies.curve_file import CurveConfig, load_curve_file

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"  # notebooks run in name order: 01_data, 02_train, 03_evaluate
CURVE_NOTEBOOKS = ("04_learning_curve.ipynb",)
"""The numbered notebooks of a learning-curve report; every other numbered notebook is a run's (or an
ensemble's), so ``make report`` keeps running 01-03 only."""
COMPARE_NOTEBOOKS = ("05_compare.ipynb",)
"""The numbered notebooks of a comparison of runs (``python -m galaxy_lib compare``,
:mod:`galaxy_lib.report.compare`); a run's report never runs them."""


def report_notebooks(folder: str | os.PathLike[str], *, curve: bool = False, compare: bool = False) -> list[Path]:
    """The notebooks a report runs, in name order: a learning curve's (:data:`CURVE_NOTEBOOKS`), a
    comparison's (:data:`COMPARE_NOTEBOOKS`) or a run's (the other numbered notebooks)."""
    special = CURVE_NOTEBOOKS if curve else COMPARE_NOTEBOOKS if compare else ()
    paths = sorted(Path(folder).glob(NOTEBOOK_PATTERN))
    if special:
        return [p for p in paths if p.name in special]
    return [p for p in paths if p.name not in CURVE_NOTEBOOKS + COMPARE_NOTEBOOKS]


def build_report(
    config: Config | EnsembleConfig | CurveConfig,
    kernel: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    *,
    notebooks_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Execute the numbered notebooks for ``config`` and render ``reports/<run_name>/``.

    ``kernel`` names a Jupyter kernel (e.g. one on a GPU machine); ``None`` runs them on the
    current interpreter, registering a private kernel spec if no spec points at it.
    ``config_file`` is the parameters file the configuration came from: notebooks re-read it and
    receive only the keys that differ as ``overrides``. Returns the report folder. Raises
    :class:`ReportError` naming the notebook and cell when one fails (the previous report of the
    same name is left untouched, the failed notebooks go to ``reports/<run_name>.failed/``), a
    :class:`~galaxy_lib.errors.BusyError` naming the other process when one is building the same
    report or working in its run folder, and a :class:`~galaxy_lib.errors.DiskError` naming the
    report folder on a full or read-only disk (the previous report again untouched).

    ``config`` may be an :class:`~galaxy_lib.model.ensemble.EnsembleConfig`: the report is then
    ``reports/<name>/`` for the whole ensemble (its data and ``reports_dir`` are the members' own).
    A :class:`~galaxy_lib.studies.curve_file.CurveConfig` renders the learning-curve notebook into
    ``reports/<name>/`` (data and ``reports_dir``: the main curve's configuration's).
    """
    ensemble = isinstance(config, EnsembleConfig)
    curve = isinstance(config, CurveConfig)
    base = config.first if ensemble else config.config if curve else config
    name = _safe_name(config.run_name if isinstance(config, Config) else config.name)
    folder = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    notebooks = report_notebooks(folder, curve=curve)
    if not notebooks:
        wanted = " or ".join(CURVE_NOTEBOOKS) if curve else f"{NOTEBOOK_PATTERN} (other than {CURVE_NOTEBOOKS[0]})"
        raise ReportError(f"no notebooks named {wanted} in {folder}")
    if (ensemble or curve) and not config_file:
        config_file = config.source
    config_path = str(Path(config_file).resolve()) if config_file else ""
    parameters = notebook_parameters(config, config_path)
    reports = resolve_path(base.reports_dir)
    # One build per report name and per run folder (galaxy_lib.locks): a second `report` on the same
    # name, or a `train` into the same run, stops at once naming this one. The notebooks' kernels,
    # started inside, inherit the run folder's lock and train into it.
    with (run_lock(reports / name, "building the report"),
          run_lock(resolve_path(parameters["run_dir"]), "building a report on it")):
        return _build(config, name, notebooks, parameters, reports, kernel=kernel, config_path=config_path,
                      progress=progress)


_KEPT = "the previous report there is unchanged"


def _build(config: Config | EnsembleConfig | CurveConfig, name: str, notebooks: list[Path],
           parameters: dict[str, Any], reports: Path, *, kernel: str | None, config_path: str,
           progress: bool) -> Path:
    """:func:`build_report` holding its locks: the data, then :func:`render_report` with the run's records."""
    prepare_data(config, progress=progress)

    def records(staging: Path, timings: list[dict[str, Any]], started: dt.datetime) -> dict[str, Any]:
        run_dir = resolve_path(parameters["run_dir"])
        summary = summary_record(config, name, config_path, kernel or "current interpreter", started, timings, run_dir)
        copy_run_records(run_dir, staging)
        return summary

    return render_report(name, notebooks, parameters, reports, records, kernel=kernel, progress=progress)


def render_report(name: str, notebooks: list[Path], parameters: dict[str, Any], reports: Path,
                  records: Callable[[Path, list[dict[str, Any]], dt.datetime], dict[str, Any]], *,
                  kernel: str | None, progress: bool) -> Path:
    """Execute ``notebooks`` with ``parameters`` in a staging folder, write ``records``' summary as
    ``report.json`` (``records(staging, timings, started)`` may copy files beside it), render the HTML,
    swap the folder into ``reports/<name>/`` and rebuild the index. The caller holds the report's lock.

    A full or read-only disk is a :class:`~galaxy_lib.errors.DiskError` naming the report folder;
    the staging folder goes and the previous report stays."""
    with writing(reports / name, note=_KEPT):
        reports.mkdir(parents=True, exist_ok=True)
        for stale in reports.glob(f".{name}.building-*"):  # left by a build that was killed (one build per name)
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=reports, prefix=f".{name}.building-"))
    timings: list[dict[str, Any]] = []
    started = dt.datetime.now(dt.UTC)
    try:
        with kernel_spec(kernel) as kernel_name, kernel_environment(), kernel_stderr_to(staging / KERNEL_LOG):
            for number, notebook in enumerate(notebooks, 1):
                if progress:
                    print(f"[{number}/{len(notebooks)}] {notebook.name} on kernel {kernel_name}", file=sys.stderr)
                seconds = execute_notebook(notebook, staging / notebook.name, parameters, kernel_name, progress)
                timings.append({"notebook": notebook.name, "seconds": round(seconds, 1)})
        summary = records(staging, timings, started)
        executed = [staging / n.name for n in notebooks]
        summary["answers"] = answers_record(collect(executed))  # the instructor's count (index, report.json)
        atomic_write_json(staging / SUMMARY_FILE, summary, default=str)
        render_html(executed, staging, summary)
    except BaseException as exc:
        failed = _keep_failed(staging, reports / f"{name}.failed", exc, timings)
        with contextlib.suppress(OSError):
            write_index(reports)
        disk = disk_error(exc.__cause__ if isinstance(exc, NotebookFailed) else exc, reports / name, note=_KEPT)
        if disk is not None and disk is not exc:  # papermill or the runner met a full or read-only disk
            raise disk from exc
        if isinstance(exc, NotebookFailed):
            message = f"{exc.message}; executed notebook kept in {display_path(failed / exc.notebook)}"
            if exc.user_error:
                raise ReportError(message) from None
            # A bug in the library or a notebook: not the user's fault, so not a one-line user error
            # (the CLI shows it with a traceback and exit status 1); the cell's traceback comes along.
            raise RuntimeError(f"{message}\n{exc.traceback}") from None
        raise
    target = reports / name
    try:
        with writing(target, note=_KEPT):
            _make_readable(staging)
            replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(reports / f"{name}.failed", ignore_errors=True)
    write_index(reports)
    if progress:
        print(f"report: {target / FULL_HTML} (no code: {target / NO_CODE_HTML}); index: {reports / INDEX_FILE}",
              file=sys.stderr)
    return target


def default_notebooks_dir() -> Path:
    """``notebooks/`` of the project (the checkout the package was installed from)."""
    for root in (project_root(), Path(__file__).resolve().parents[2]):
        if (root / "notebooks").is_dir():
            return root / "notebooks"
    raise ReportError(f"no notebooks/ folder under {project_root()} (run from the project folder)")


def notebook_parameters(config: Config | EnsembleConfig | CurveConfig, config_file: str = "") -> dict[str, Any]:
    """The values papermill injects: the parameters file, the keys that differ from it, the run folder.

    Passing differences rather than the whole configuration keeps the injected cell short and
    readable while ``load_config(resolve_path(config_file), overrides)`` still reproduces
    ``config`` exactly. Both paths are relative to the project root when they lie inside it.
    For an ensemble, ``overrides`` are the keys given for every member and the run folder is the
    ensemble's; for a learning curve, the keys given for every point and the main curve's folder.
    """
    if isinstance(config, CurveConfig):
        config_file = config_file or config.source
        overrides = dict(config.overrides)
        if load_curve_file(config_file, overrides).with_folder(config.curve.folder) != config:  # pragma: no cover
            raise RuntimeError("internal error: overrides do not reproduce the learning curve")
        return {"config_file": display_path(Path(config_file).absolute()), "overrides": overrides,
                "run_dir": display_path(config.curve.folder)}
    if isinstance(config, EnsembleConfig):
        config_file = config_file or config.source
        overrides = dict(config.overrides)
        if load_ensemble(config_file, overrides) != config:  # pragma: no cover - guards the scheme
            raise RuntimeError("internal error: overrides do not reproduce the ensemble")
        return {"config_file": display_path(Path(config_file).absolute()), "overrides": overrides,
                "run_dir": display_path(EnsembleFolder.for_ensemble(config).path)}
    base = load_config(config_file or None).to_dict()
    overrides = {key: value for key, value in config.to_dict().items() if base[key] != value}
    if load_config(config_file or None, overrides) != config:  # pragma: no cover - guards the scheme
        raise RuntimeError("internal error: overrides do not reproduce the configuration")  # a bug, not the user's
    run_dir = RunFolder.for_config(config).path
    shown_file = display_path(Path(config_file).absolute()) if config_file else ""  # relative ones: to the cwd
    return {"config_file": shown_file, "overrides": overrides, "run_dir": display_path(run_dir)}


def _safe_name(run_name: str) -> str:
    if not is_folder_name(run_name):
        raise ConfigError(f"config key 'run_name': {run_name!r} {FOLDER_NAME_RULE}")
    return run_name


def data_configs(parameters: Config | EnsembleConfig | CurveConfig) -> list[Config]:
    """Every configuration whose data a parameters file's report reads: the run's, each ensemble member's,
    or a learning curve's main and validation curves' (without repeats)."""
    if isinstance(parameters, EnsembleConfig):
        configs = [member.config for member in parameters.members]
    elif isinstance(parameters, CurveConfig):
        configs = [spec.config for spec in (parameters.curve, parameters.validation) if spec is not None]
    else:
        configs = [parameters]
    return [config for i, config in enumerate(configs) if config not in configs[:i]]


def prepare_data(parameters: Config | EnsembleConfig | CurveConfig, *, progress: bool = True,
                 check: bool = True) -> list[Path]:
    """Generate the synthetic skies ``parameters`` needs and does not have yet, each with a printed line
    (:func:`galaxy_lib.synth.sky.ensure_synthetic`); with ``check``, also fail now, in one line naming the
    command that makes it, on any other data folder that is not there (:func:`galaxy_lib.data.dataset.
    data_folder`). Returns the folders.

    This is the one step of ``report`` and of the notebooks' set-up that writes data: library loading only
    reads, so the report makes its data before the first notebook starts (a notebook run alone in
    JupyterLab makes it in its ``setup`` cell), and a real data set that is missing stops the report before
    minutes of notebooks rather than in notebook 1.
    """
    from galaxy_lib.data.dataset import data_folder
    from galaxy_lib.synth.sky import ensure_synthetic

    folders = []
    for config in data_configs(parameters):
        if config.synthetic:
            folders.append(ensure_synthetic(config, progress=progress))
        elif check:
            folders.append(data_folder(config))
    return folders


# --- staging, swap and the failed folder ----------------------------------------------------------


def _keep_failed(staging: Path, failed: Path, exc: BaseException, timings: list[dict[str, Any]]) -> Path:
    """Move the staging folder to ``NAME.failed/`` (replacing an older one) with a note of the error."""
    shutil.rmtree(failed, ignore_errors=True)
    note = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "notebook": getattr(exc, "notebook", None),
        "error": getattr(exc, "message", f"{type(exc).__name__}: {exc}"),
        "completed": timings,
    }
    try:
        atomic_write_json(staging / FAILURE_FILE, note)
        _make_readable(staging)
        os.replace(staging, failed)
    except OSError:  # pragma: no cover - the original error matters more
        shutil.rmtree(staging, ignore_errors=True)
    return failed


def _make_readable(folder: Path) -> None:
    """Temporary folders and files are private (0700/0600); a report is meant to be shared or served."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
