"""The records a report keeps: ``report.json`` (what the index reads) and copies of the run's files.

``report.json`` says what ran (parameters file, data, kernel, configuration), how long each
notebook took, the headline metrics and the machine. Paths in it are relative to the project
root when they lie inside it (:func:`galaxy_lib.paths.display_path`), so a report rendered on a
CI runner does not carry the runner's folders.

An ensemble's record is the same, for the ensemble as one model, plus ``members`` (each
member's own held-out figures, epochs and training minutes, from the ensemble's
``metrics.json``) and ``ensemble`` (its training minutes in all and its budget).

A run's record (and an ensemble's, from its first member) adds ``model``: where the trained
architecture came from, ``configuration`` or ``notebook`` (a ``build_model`` the student defined),
the function's name and the parameter counts, from the run's ``architecture.json``
(:func:`model_record`); a run trained before that file existed is the configuration's model.

A learning curve's record takes its headline figures from the largest size of ``curve.csv``
(means over its seeds) and adds ``curve``: the sizes and seeds, the extrapolation of ``fit.json``
and the synthetic check of the validation curve's ``check.json`` (files the notebook wrote).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from galaxy_lib.config import Config
from galaxy_lib.environment import cpu_model, environment_record
from galaxy_lib.errors import GalaxyLibError, RunError
from galaxy_lib.model.ensemble import EnsembleConfig, EnsembleFolder, open_folder
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import display_path, read_json_object
from galaxy_lib.studies.curve_file import CurveConfig

SUMMARY_FILE = "report.json"  # what the index reads: date, data, timings, headline metrics
FAILURE_FILE = "failure.json"  # left in NAME.failed/ by a failed build
HEADLINE_KEYS = ("test_rmse", "test_accuracy", "val_rmse", "train_rmse_last_epoch", "train_accuracy_last_epoch")
RUN_RECORDS = (  # the run folder's small files, copied beside the report
    RunFolder.METRICS, RunFolder.AUC, RunFolder.CONFIG, RunFolder.ENVIRONMENT, RunFolder.HISTORY, RunFolder.SUBMISSION,
    RunFolder.ARCHITECTURE, EnsembleFolder.MEMBERS,
)
MODEL_KEYS = ("source", "function", "parameters", "trainable_parameters")
"""What ``report.json``'s ``model`` keeps of the run's ``architecture.json`` (not its code or layers:
those stay in the copy beside the report)."""
MEMBER_KEYS = ("name", "test_rmse", "test_accuracy", "val_rmse", "epochs", "training_minutes")
"""What ``report.json`` keeps of each ensemble member."""


def summary_record(
    config: Config | EnsembleConfig | CurveConfig,
    name: str,
    config_file: str,
    kernel: str,
    started: dt.datetime,
    timings: list[dict[str, Any]],
    run_dir: Path,
) -> dict[str, Any]:
    """The ``report.json`` of one build: run, date, inputs, timings, headline metrics, environment."""
    run = open_folder(run_dir)
    ensemble = isinstance(config, EnsembleConfig)
    curve = isinstance(config, CurveConfig)
    base = config.first if ensemble else config.config if curve else config
    metrics = curve_metrics(config, run_dir) if curve else read_json_object(run.metrics_file)
    headline = {key: metrics[key] for key in HEADLINE_KEYS if key in metrics}
    environment_file = run.environment_file
    if curve:  # the points trained in the same kernel: one point's record describes the machine
        environment_file = next(iter(sorted(run_dir.glob(f"*/{RunFolder.ENVIRONMENT}"))), environment_file)
    if isinstance(run, EnsembleFolder):
        # the members trained in the same kernel: the first one's record describes the machine
        with contextlib.suppress(RunError, IndexError):
            environment_file = run.member_folders()[0].environment_file
    environment = read_json_object(environment_file)  # written by training, in the kernel
    if not environment:
        environment = environment_record(include_tensorflow=False)
    environment.setdefault("cpu_model", cpu_model())  # older runs' records lack it; kernels ran on this machine
    record = {
        "name": name,
        "date": started.isoformat(timespec="seconds"),
        "config_file": display_path(config_file),
        "data": display_path(base.data),
        "synthetic": base.synthetic,
        "run_dir": display_path(run_dir),
        "kernel": kernel,
        "notebooks": timings,
        "total_seconds": round(sum(t["seconds"] for t in timings), 1),
        "metrics": headline,
        "baselines": metrics.get("baselines", {}),
        "environment": environment,
        "config": config.to_dict(),
    }
    if base.student:  # who ran it (a class's reports are told apart by it), and the seed that trained
        record["student"] = base.student
        record["model_seed"] = base.model_seed
    model = None if curve else model_record(_first_member(run) if ensemble else run_dir)
    if model is not None:
        record["model"] = model
    if ensemble:
        measured = {m.get("name"): m for m in metrics.get("members", []) if isinstance(m, dict)}
        record["members"] = [
            {key: measured.get(member.name, {}).get(key) for key in MEMBER_KEYS} | {"name": member.name}
            for member in config.members
        ]
        record["ensemble"] = metrics.get("ensemble", {"name": config.name, "budget_minutes": config.budget_minutes})
    if curve:
        record["curve"] = metrics.get("curve", {})
    return record


def model_record(run_dir: Path | None) -> dict[str, Any] | None:
    """``report.json``'s ``model`` for the run in ``run_dir``: :data:`MODEL_KEYS` of its
    ``architecture.json``, ``{"source": "configuration"}`` for a run trained before that file existed,
    None when there is no run folder or the file is damaged (the report still renders; training or
    evaluation names the damage)."""
    if run_dir is None:
        return None
    try:
        architecture = RunFolder(run_dir).read_architecture()
    except GalaxyLibError:
        return None
    if architecture is None:
        return {"source": "configuration"}
    return {key: architecture.get(key) for key in MODEL_KEYS}


def model_text(model: dict[str, Any]) -> str:
    """``report.json``'s ``model`` in a few words: ``configuration`` or ``notebook: build_model``, with
    the parameter count where known (the header and the index)."""
    source = str(model.get("source") or "configuration")
    text = f"{source}: {model['function']}" if source != "configuration" and model.get("function") else source
    parameters = model.get("parameters")
    if isinstance(parameters, int) and not isinstance(parameters, bool):
        text += f", {parameters:,} parameters"
    return text


def _first_member(run: Any) -> Path | None:
    """An ensemble's first member's run folder (its members share the model's code), or None."""
    with contextlib.suppress(GalaxyLibError, IndexError):
        return run.member_folders()[0].path
    return None


def curve_metrics(config: CurveConfig, run_dir: Path) -> dict[str, Any]:
    """A learning curve's figures in the shape of a run's ``metrics.json``: the largest size's test and
    validation RMSE and accuracy (means over seeds), its training-mean predictor as the baseline, and
    ``curve`` (sizes, seeds, extrapolation, synthetic check). ``{}`` when the curve cannot be read."""
    from galaxy_lib.studies import curve as curve_module
    from galaxy_lib.studies import curve_analysis

    try:
        frame = curve_module.read_curve(run_dir)
        top = curve_analysis.headline(frame)
    except GalaxyLibError:
        return {}
    fit = read_json_object(run_dir / curve_module.FIT_FILE)
    info: dict[str, Any] = {
        "sizes": top["sizes"], "seeds": int(frame["seed"].nunique()), "points": len(frame),
        "n_train": top["n_train"], "test_rmse_sd": top["test_rmse_sd"], "n_test": top["n_test"],
        "minutes_per_point": config.curve.point_config.time_limit_minutes,
    }
    if fit:
        info["extrapolation"] = {key: fit.get(key) for key in ("target", "prediction", "low", "high", "level")}
        info["extrapolation"]["formula"] = (fit.get("fit") or {}).get("formula")
    if config.validation is not None:
        check = curve_analysis.read_check(config.validation.folder)
        if check:
            info["check"] = {"fit_up_to": check.get("fit_up_to"), "inside": check.get("inside"),
                             "checked": len(check.get("checked") or []), "summary": check.get("summary")}
    return {"test_rmse": top["test_rmse"], "test_accuracy": top["test_accuracy"], "val_rmse": top["val_rmse"],
            "baselines": {"training mean": top["mean_rmse"]}, "curve": info}


def curve_headline(curve: dict[str, Any]) -> tuple[list[int], int | None, dict[str, Any] | None]:
    """A learning curve's summary as the report header and the index show it: its sizes, its
    seed count and its extrapolation (None where a field is missing or malformed, e.g. before
    three sizes are measured)."""
    sizes = [s for s in curve.get("sizes") or [] if isinstance(s, int)]
    seeds = curve["seeds"] if isinstance(curve.get("seeds"), int) else None
    fit = curve.get("extrapolation") if isinstance(curve.get("extrapolation"), dict) else {}
    complete = all(isinstance(fit.get(k), int | float) for k in ("target", "prediction", "low", "high"))
    return sizes, seeds, fit if complete else None


def copy_run_records(run_dir: Path, staging: Path) -> None:
    """Copy the run's small records (metrics, AUC table, configuration, environment) beside the report,
    so a report folder stays meaningful when the run folder is cleaned away."""
    from galaxy_lib.studies import curve  # a curve folder's records: its table, fit and set-up

    for record in (*RUN_RECORDS, curve.CURVE_FILE, curve.FIT_FILE, curve.SETUP_FILE):
        if (run_dir / record).is_file():
            shutil.copy2(run_dir / record, staging / record)


