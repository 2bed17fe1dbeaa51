"""The paper's configuration against the improved one on the real sample, as a comparison report.

Runs, from the project root and into its ``runs/`` and ``reports/``:

1. ``python -m galaxy_lib report -f parameters/paper_sample.yaml`` (the paper's VGG6 at 128x128,
   batch 256, 50 epochs: about 13 minutes on 2 cores);
2. ``python -m galaxy_lib report -f parameters/sample.yaml`` (the improved configuration for its
   20-minute budget);
3. ``python -m galaxy_lib compare -f parameters/compare_sample.yaml`` into
   ``reports/compare-paper-vs-improved/``.

Both runs split the sample the same way (seed 0, the unbiased test block), so the comparison is
on the same 612 test galaxies. ``--reuse`` skips a run whose folder is already trained and
evaluated (the comparison alone then takes seconds). The figures (each run's held-out RMSE and
accuracy, its training-mean baseline and gain, epochs and training minutes; the answers whose AUC
intervals do not overlap) go to ``benchmarks/results/compare-paper-vs-improved.json``, which the
README's comparison paragraph is generated from. The improved run is budget-bound: measure on an
otherwise idle machine.

Usage::

    python benchmarks/bench_compare.py            # both runs from scratch, then the comparison
    python benchmarks/bench_compare.py --reuse    # reuse finished runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import calibration
import results_store
from results_store import REPO

RUNS = ("parameters/paper_sample.yaml", "parameters/sample.yaml")
COMPARISON = "parameters/compare_sample.yaml"


def _finished(run_dir: Path) -> bool:
    """Whether ``compare`` accepts the folder as it is (trained, evaluated, not trained since): its own check."""
    from galaxy_lib.errors import RunError
    from galaxy_lib.studies.compare import open_run

    try:
        open_run(run_dir)
    except RunError:
        return False
    return True


def _run_figures(run_dir: Path) -> dict[str, Any]:
    from galaxy_lib.studies.compare import open_run

    run = open_run(run_dir)  # the comparison's own reader of metrics.json and history.csv
    metrics = run.metrics
    mean = metrics["baselines"].get("training mean")
    return {
        "run_dir": results_store.display_path(run_dir),
        "test_rmse": metrics["test_rmse"],
        "test_accuracy": metrics["test_accuracy"],
        "n_test": metrics["n_test"],
        "training_mean_rmse": mean,
        "gain_over_training_mean": None if mean is None else (mean - metrics["test_rmse"]) / mean,
        "epochs": metrics.get("epochs"),
        "training_minutes": float(run.history["seconds"].sum()) / 60 if "seconds" in run.history else None,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="skip runs already trained and evaluated")
    parser.add_argument("--note", default="", help="how the runs went (machine state, ...), stored with the figures")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)

    from galaxy_lib.config import load_config
    from galaxy_lib.paths import resolve_path
    from galaxy_lib.report.compare import read_compare_file, report_name

    if not resolve_path(load_config(RUNS[0]).data).is_dir():
        raise SystemExit(f"real sample not found at {load_config(RUNS[0]).data}")
    load_before = os.getloadavg()[0]
    calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)
    python = [sys.executable, "-m", "galaxy_lib"]
    seconds: dict[str, float | None] = {}
    for parameters in RUNS:
        config = load_config(parameters)
        run_dir = resolve_path(config.runs_dir) / config.run_name
        if args.reuse and _finished(run_dir):
            print(f"reusing {results_store.display_path(run_dir)}")
            seconds[parameters] = None
            continue
        started = time.perf_counter()
        done = subprocess.run([*python, "report", "-f", parameters], cwd=REPO, check=False)
        if done.returncode != 0:
            print(f"{parameters}: report failed with exit status {done.returncode}", file=sys.stderr)
            return done.returncode
        seconds[parameters] = time.perf_counter() - started
    done = subprocess.run([*python, "compare", "-f", COMPARISON], cwd=REPO, check=False)
    if done.returncode != 0:
        return done.returncode

    run_dirs, name = read_compare_file(REPO / COMPARISON)
    report = Path(load_config(RUNS[0]).reports_dir) / report_name(name)
    summary = json.loads((REPO / report / "report.json").read_text())
    runs = {Path(d).name: _run_figures(REPO / d) for d in run_dirs}
    for parameters, config_name in zip(RUNS, runs, strict=True):
        runs[config_name]["report_seconds"] = seconds[parameters]
        runs[config_name]["parameters_file"] = parameters
    figures = {
        "runs": runs,
        "comparable": summary["comparable"],
        "split_warning": summary["split_warning"],
        "config_differences": summary["config_differences"],
        "differing_answers": summary["differing_answers"],
        "report": f"{report.as_posix()}/",
    }
    for label, run in runs.items():
        print(f"{label}: test RMSE {run['test_rmse']:.4f}, accuracy {run['test_accuracy']:.3f}, "
              f"{run['gain_over_training_mean']:+.1%} vs the training mean, {run['epochs']} epochs")
    print(f"{len(figures['differing_answers'])} of 37 answers' AUC intervals do not overlap")
    setup = {"parameters_files": list(RUNS), "comparison_file": COMPARISON, "reused": args.reuse, "note": args.note}
    command = [a for i, a in enumerate(argv) if a != "--note" and (i == 0 or argv[i - 1] != "--note")]
    command = [a for a in command if not a.startswith("--note=")]  # the note is a record, not a setting
    results_store.write_result("compare-" + (args.label or name), results_store.command_line(__file__, command),
                               setup, figures, results_dir=args.results_dir, load_before=load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
