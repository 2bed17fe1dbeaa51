"""The comparison report: ``python -m galaxy_lib compare runs/A runs/B [...] --name NAME``.

It renders ``notebooks/05_compare.ipynb`` (:data:`~galaxy_lib.report.build.COMPARE_NOTEBOOKS`) through
the same runner as a run's report (:func:`galaxy_lib.report.build.render_report`: staging folder, swap,
``NAME.failed/`` on a failure, the index) into ``reports/compare-NAME/``. The notebook's ``parameters``
cell takes ``runs`` (run folders, relative to the project root) and ``name``; its cells call
:mod:`galaxy_lib.studies.compare`.

The runs may also come from a small comparison file (``-f``)::

    name: paper-vs-improved      # optional: the report is reports/compare-<name>/ (--name wins)
    runs:                        # two or more run (or ensemble) folders, relative to the project root
      - runs/bench-paper
      - runs/bench-improved

The runs are read before any kernel starts, so an unknown, unevaluated or unfinished run is a
one-line error at once (:func:`galaxy_lib.studies.compare.open_run`). ``report.json`` carries
``"kind": "compare"``, the runs (name, folder, kind and held-out figures of each), whether their
held-out figures are directly comparable and the split warning, for the header and the index.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from galaxy_lib.environment import cpu_model, environment_record
from galaxy_lib.errors import ConfigError, ReportError
from galaxy_lib.locks import run_lock
from galaxy_lib.parameters_file import COMPARE, FOLDER_NAME_RULE, ParametersFile, is_folder_name, read
from galaxy_lib.paths import display_path, resolve_path
from galaxy_lib.report.build import COMPARE_NOTEBOOKS, default_notebooks_dir, render_report, report_notebooks
from galaxy_lib.report.summary import RUN_RECORDS

if TYPE_CHECKING:  # pandas and matplotlib: imported when a comparison is built, not with the package
    from galaxy_lib.studies.compare import Comparison

KIND = "compare"
"""``report.json``'s ``kind`` for a comparison (a run's report has no ``kind``)."""
PREFIX = "compare-"
"""Report folders of comparisons are ``reports/compare-<name>/``."""
RUNS_FOLDER = "runs"
"""Inside the report folder: each compared run's small records (``runs/<name>/metrics.json`` ...)."""


def read_compare_file(path: str | os.PathLike[str] | ParametersFile) -> tuple[list[str], str]:
    """The run folders and the name of a comparison file (see the module docstring; its keys are
    :data:`galaxy_lib.parameters_file.COMPARE_KEYS`); every problem is a one-line
    :class:`~galaxy_lib.errors.ConfigError` naming the file."""
    file = read(path, COMPARE)  # unknown keys are named here
    path, raw = file.path, file.values
    runs = raw.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, str) and r for r in runs):
        raise ConfigError(f"{path}: `runs` must be a list of run folders (e.g. [runs/A, runs/B]), got {runs!r:.80}")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{path}: `name` must be text (the report goes to reports/{PREFIX}<name>/), got {name!r}")
    return list(runs), name


def report_name(name: str) -> str:
    """``compare-<name>``, after checking that ``name`` is a plain folder name."""
    if not name:
        raise ConfigError(f"name the comparison with --name NAME (the report goes to reports/{PREFIX}NAME/)")
    if not is_folder_name(name):
        raise ConfigError(f"--name {name!r}: {FOLDER_NAME_RULE}")
    return name if name.startswith(PREFIX) else PREFIX + name


def build_compare(
    runs: Sequence[str | os.PathLike[str]] = (),
    name: str = "",
    *,
    config_file: str | os.PathLike[str] | None = None,
    kernel: str | None = None,
    notebooks_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Render the comparison of ``runs`` into ``reports/compare-<name>/`` and return that folder.

    ``config_file`` is a comparison file naming the runs (and the name, unless ``name`` is given);
    giving both it and ``runs`` is an error. ``reports/`` is the first run's ``reports_dir``. The
    errors are those of :func:`galaxy_lib.report.build.build_report` (a failing notebook, a busy or
    full report folder), plus one line for each run that cannot be compared, before any kernel starts.
    """
    from galaxy_lib.studies.compare import load_comparison  # pandas and matplotlib: only when comparing

    if config_file:
        if runs:
            raise ConfigError(f"give the run folders either on the command line or in -f {config_file}, not both")
        runs, file_name = read_compare_file(config_file)
        name = name or file_name
    folder_name = report_name(name)
    comparison = load_comparison(list(runs), name)
    folder = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    notebooks = report_notebooks(folder, compare=True)
    if not notebooks:
        raise ReportError(f"no notebooks named {' or '.join(COMPARE_NOTEBOOKS)} in {folder}")
    parameters = {"runs": [display_path(r.path) for r in comparison.runs], "name": name}
    reports = resolve_path(str(comparison.runs[0].config.get("reports_dir") or "reports"))
    shown_file = display_path(Path(config_file).absolute()) if config_file else ""

    def records(staging: Path, timings: list[dict[str, Any]], started: dt.datetime) -> dict[str, Any]:
        copy_compared_records(comparison, staging / RUNS_FOLDER)
        return compare_summary(comparison, folder_name, shown_file, kernel or "current interpreter", started,
                               timings)

    # One build per report name (galaxy_lib.locks); the runs are only read, so they are not locked:
    # several comparisons (a class's runs against one reference) may read the same run at once.
    with run_lock(reports / folder_name, "building the report"):
        return render_report(folder_name, notebooks, parameters, reports, records, kernel=kernel, progress=progress)


def compare_summary(comparison: Comparison, name: str, config_file: str, kernel: str, started: dt.datetime,
                    timings: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``report.json`` of a comparison: ``kind`` ``"compare"``, date, inputs, timings, the runs
    (:meth:`~galaxy_lib.studies.compare.Comparison.summary_runs`), whether they are comparable
    (``comparable``, ``split_warning``), the keys that differ and the machine the report ran on."""
    check = comparison.split_check()
    environment = environment_record(include_tensorflow=False)
    environment.setdefault("cpu_model", cpu_model())
    data = list(dict.fromkeys(display_path(str(r.config.get("data", ""))) for r in comparison.runs))
    return {
        "kind": KIND,
        "name": name,
        "date": started.isoformat(timespec="seconds"),
        "config_file": config_file,
        "data": ", ".join(data),
        "synthetic": all(r.config.get("synthetic") is True for r in comparison.runs),
        "kernel": kernel,
        "notebooks": timings,
        "total_seconds": round(sum(t["seconds"] for t in timings), 1),
        "runs": comparison.summary_runs(),
        "comparable": check.comparable,
        "split_warning": check.warning(markdown=False),
        "config_differences": list(comparison.config_differences().index),
        "differing_answers": comparison.differing_answers(),
        "environment": environment,
    }


def copy_compared_records(comparison: Comparison, target: Path) -> None:
    """Copy each run's small records (configuration, history, metrics, AUC table) into
    ``target/<run>/``, so a comparison stays readable when its run folders are cleaned away."""
    for run in comparison.runs:
        folder = target / re.sub(r"[^A-Za-z0-9_.-]+", "_", run.label)
        folder.mkdir(parents=True, exist_ok=True)
        for record in RUN_RECORDS:
            if (run.path / record).is_file():
                shutil.copy2(run.path / record, folder / record)
