"""Stored benchmark results: one JSON file per measurement under ``benchmarks/results/``.

Every figure the README shows comes from one of these files (``benchmarks/readme_tables.py``
writes the README's measured tables from them), so a number can always be traced to what was
run and re-measured with the command stored beside it. Each file holds::

    schema      1
    name        file name without .json, e.g. "quality-improved" (<benchmark>-<label>)
    benchmark   the script, e.g. "bench_quality"
    command     the exact command line, relative to the project root
    date        UTC date of the measurement (YYYY-MM-DD)
    machine     CPU model, cores, load average, python and tensorflow versions, git commit
    setup       what was measured: configuration, data (relative path), split sizes, seed ...
    figures     what came out (every number the README shows, and the rest of the printout)
    provenance  "measured by the command above", or how a file came to exist otherwise

Files are written atomically (``galaxy_lib.paths.atomic_write_text``); a re-run with the same
name replaces the file. This module WRITES results; reading them (validation, key paths,
provenance, the machine) is :mod:`galaxy_lib.results`, the one reader the docs and the notebooks
share, which :func:`load_results` delegates to. Benchmark scripts import this module as a sibling
(``python benchmarks/X.py`` puts ``benchmarks/`` on ``sys.path``). Only the standard library and
the dependency-free core of the package (``galaxy_lib.results``) are imported at the top, so a
benchmark's measuring processes stay lean.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from galaxy_lib.paths import display_path as shown_path
from galaxy_lib.results import KEYS, MEASURED, NAME, SCHEMA, Results
from galaxy_lib.results import load_results as _read_results

__all__ = ["DEFAULT_SAMPLE", "KEYS", "MEASURED", "NAME", "REPO", "RESULTS_DIR", "SCHEMA", "add_result_arguments",
           "command_line", "display_path", "label", "load_results", "machine_record", "write_result"]

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_SAMPLE = Path(os.environ.get("GALAXY_SAMPLE", REPO.parent / "shared" / "data" / "galaxy-zoo-sample"))


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a reader of the README should see it: relative to the project root (the
    shared sample is ``../shared/data/galaxy-zoo-sample``, also when ``../shared`` is a symbolic
    link), absolute only outside both: :func:`galaxy_lib.paths.display_path` of this checkout."""
    return shown_path(Path(path).expanduser().absolute(), REPO, beside=True)


def command_line(script: str | os.PathLike[str], argv: list[str]) -> str:
    """The command that ran ``script`` with ``argv``, as typed from the project root."""
    return shlex.join(["python", f"benchmarks/{Path(script).name}", *argv])


def label(*parts: object) -> str:
    """A file-name-safe label from the parts that are set (``label("improved", "", "augment_shift=0")``
    -> ``improved-augment_shift=0``): anything but letters, digits and ``._=+-`` becomes ``_``."""
    text = "-".join(str(p) for p in parts if p)
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", text).strip("-_") or "default"



def machine_record(**extra: Any) -> dict[str, Any]:
    """Where a measurement ran: CPU model, cores, GPUs (``nvidia-smi``'s names, ``[]`` for none),
    1-minute load average, Python and TensorFlow versions, platform and git commit (``extra`` keys
    are added, e.g. a load average taken before the measurement). Does not import TensorFlow."""
    from galaxy_lib.environment import cpu_flags, cpu_model, git_commit, nvidia_smi_gpus, package_versions

    record: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpus": nvidia_smi_gpus(),
        "load_average": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "tensorflow": package_versions(("tensorflow",))["tensorflow"],
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }
    record.update(__import__("calibration").recorded())  # model_img_s, measured at the start: calibration.py
    record.update(extra)
    return record


def add_result_arguments(parser: argparse.ArgumentParser) -> None:
    """``--results-dir`` (default benchmarks/results; a temporary folder keeps trial runs on a
    busy machine from replacing recorded figures) and ``--label`` (the file name's second part)."""
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                        help="where the result JSON goes (default benchmarks/results)")
    parser.add_argument("--label", help="result file <benchmark>-<label>.json (default: from the arguments)")


def refuse_another_commands_result(name: str, command: str,
                                  results_dir: str | os.PathLike[str] = RESULTS_DIR) -> None:
    """Stop, before anything is measured, when ``<name>.json`` holds the result of another command:
    a label drawn from a parameters file's name would otherwise overwrite a stored row measured with
    that file's older contents (``improved.yaml`` before and after ``conv_blocks: 3``). Re-running a
    result's own command replaces it, as it should."""
    path = Path(results_dir) / f"{name}.json"
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        return  # a damaged file is replaced by the measurement, as before
    if stored and stored != command:
        raise SystemExit(f"{display_path(path)}: holds the result of another command ({stored}); re-run that "
                         "command to re-measure it, or give this one its own --label")


def write_result(
    name: str,
    command: str,
    setup: dict[str, Any],
    figures: dict[str, Any],
    *,
    results_dir: str | os.PathLike[str] = RESULTS_DIR,
    machine: dict[str, Any] | None = None,
    load_before: float | None = None,
    date: str | None = None,
    provenance: str = MEASURED,
) -> Path:
    """Write ``<results_dir>/<name>.json`` atomically and return its path.

    ``name`` is ``<benchmark>-<label>`` (letters, digits and ``._=+-``); ``machine`` defaults to
    :func:`machine_record` now, with ``load_before`` (the load average taken before measuring, which
    the measurement itself would raise) as its ``load_average``; ``date`` defaults to today (UTC).
    """
    from galaxy_lib.paths import atomic_write_text

    if not NAME.fullmatch(name) or "-" not in name:
        raise ValueError(f"result name {name!r} must be <benchmark>-<label> of letters, digits and ._=+-")
    record = {
        "schema": SCHEMA,
        "name": name,
        "benchmark": "bench_" + name.split("-", 1)[0],
        "command": command,
        "date": date or datetime.now(UTC).date().isoformat(),
        "machine": machine if machine is not None else machine_record(
            **({} if load_before is None else {"load_average": round(load_before, 2)})),
        "setup": setup,
        "figures": figures,
        "provenance": provenance,
    }
    path = Path(results_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=2, default=_plain) + "\n")
    print(f"result: {display_path(path)}")
    return path


def load_results(results_dir: str | os.PathLike[str] = RESULTS_DIR) -> Results:
    """Every stored result by name (:func:`galaxy_lib.results.load_results`: a file that is not
    valid JSON, lacks a key of the schema or is named unlike its file is a one-line error naming it)."""
    return _read_results(results_dir)


def _plain(value: Any) -> Any:
    """JSON for NumPy scalars and arrays and for paths (``json.dumps`` default)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return display_path(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
