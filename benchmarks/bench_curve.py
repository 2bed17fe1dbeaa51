"""Learning curve on real data, its extrapolation and the synthetic check of that extrapolation,
stored as one result (issue 11).

Trains what is missing of a learning-curve file's curves (``python -m galaxy_lib curve -f FILE``
does the same; finished points are reused and an interrupted one resumes, so after ``report -f
FILE`` this only reads), then stores in ``benchmarks/results/curve-<name>.json``:

* every point (size, seed, epochs, minutes, validation and test RMSE, test accuracy, the
  subset's training-mean predictor) and the per-size table;
* the saturating power law fitted to all points, its bootstrap interval at 61,578 galaxies (the
  Kaggle training set), and the compute curve's verdict on more training time (with the epoch at
  which the largest size's best validation RMSE came within the seed-to-seed spread of its end);
* the synthetic check: the law fitted to the validation curve's sizes up to ``fit_up_to``,
  compared with its measured larger sizes;
* the report's generated conclusion.

With ``--figure PATH`` the extrapolation figure is also written there (the README shows it).

Usage::

    python benchmarks/bench_curve.py -f parameters/learning_curve.yaml --figure docs/learning_curve.png
    python benchmarks/bench_curve.py -f parameters/smoke_curve.yaml --results-dir /tmp/trial   # a minute
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

import calibration
import results_store


def _records(frame: Any) -> list[dict[str, Any]]:
    """A frame's rows as plain JSON values (NumPy scalars unwrapped, NaN as null)."""
    def plain(value: Any) -> Any:
        value = value.item() if hasattr(value, "item") else value
        return None if isinstance(value, float) and math.isnan(value) else value

    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _points(frame: Any) -> list[dict[str, Any]]:
    """The curve.csv rows a reader needs."""
    columns = ["n_train", "seed", "epochs", "minutes", "val_rmse", "test_rmse", "test_accuracy", "mean_rmse",
               "stopped", "run"]
    return _records(frame[[c for c in columns if c in frame]])


def _spec_setup(spec: Any, frame: Any) -> dict[str, Any]:
    return {
        "config_file": results_store.display_path(spec.config_file),
        "changes": dict(spec.changes),
        "data": results_store.display_path(spec.config.data),
        "sizes": spec.sizes,
        "seeds": spec.seeds,
        "minutes_per_point": spec.minutes,
        "folder": results_store.display_path(spec.folder),
        "n_val": int(frame["n_val"].iloc[0]) if "n_val" in frame and len(frame) else None,
        "n_test": int(frame["n_test"].iloc[0]) if "n_test" in frame and len(frame) else None,
        "config": spec.point_config.to_dict(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--file", required=True,
                        help="a learning-curve file, e.g. parameters/learning_curve.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a configuration key of every point (as `curve --set`)")
    parser.add_argument("--figure", type=Path, help="also write the extrapolation figure (PNG) here")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)

    from galaxy_lib.config import parse_overrides
    from galaxy_lib.errors import GalaxyLibError
    from galaxy_lib.parameters_file import CURVE, read
    from galaxy_lib.studies import curve, curve_analysis, figures
    from galaxy_lib.studies.curve_file import load_curve_file, run_curves
    from galaxy_lib.synth import sky

    try:
        file = read(args.file)  # read once: its kind, then its curves
    except GalaxyLibError as exc:  # missing, unreadable or not a mapping: one line, as before
        raise SystemExit(f"-f {args.file}: {exc}") from None
    if file.kind != CURVE:
        raise SystemExit(f"-f {args.file}: not a learning-curve file (one with `sizes`, e.g. "
                         "parameters/learning_curve.yaml)")
    load = round(os.getloadavg()[0], 2)  # the load before training (none when every point is reused) ...
    calibration.calibrate()  # ... and before this machine's model-alone speed, stored with the result
    machine = results_store.machine_record(load_average=load)
    curves = load_curve_file(file, parse_overrides(args.set))
    for spec in (curves.curve, curves.validation):  # the validation curve's sky: made here, as `report` makes it
        if spec is not None and spec.config.synthetic:
            sky.ensure_synthetic(spec.config)
    frame, validation = run_curves(curves)

    note = curve.budget_note(frame, curves.curve.point_config)
    extrapolation = curve.extrapolate_curve(frame)
    compute = curve_analysis.compute_curve(curves.curve.folder, frame, note=note)
    check = None
    if curves.validation is not None and validation is not None:
        check = curve_analysis.synthetic_check(
            validation, curves.fit_up_to, note=curve.budget_note(validation, curves.validation.point_config))
    sizes = curve_analysis.size_table(frame).reset_index()
    figures_record = {
        "headline": curve_analysis.headline(frame),
        "sizes": _records(sizes),
        "points": _points(frame),
        "budget": note,
        "extrapolation": extrapolation.to_dict(),
        # how far the extrapolation leans on its smallest sizes: the docs quote it beside the full fit
        "without_smallest": curve_analysis.without_smallest(
            _points(frame), target=extrapolation.target, n_boot=extrapolation.n_boot, seed=extrapolation.seed),
        "compute": {"summary": compute.summary(), "more_time_helps": compute.more_time_helps(),
                    "plateau": compute.plateau(), "table": _records(compute.table)},
        "validation": None if check is None else {"points": _points(validation), "check": check.to_dict()},
        "conclusion": curve_analysis.conclusion(frame, extrapolation, compute=compute, check=check, note=note),
    }
    setup = {
        "curve_file": results_store.display_path(args.file),
        "overrides": list(args.set),
        "curve": _spec_setup(curves.curve, frame),
        "validation": None if check is None else {**_spec_setup(curves.validation, validation),
                                                  "fit_up_to": curves.fit_up_to},
    }
    if args.figure:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        figures.save_figure(figures.learning_curve_extrapolation(frame, extrapolation, note=note), args.figure)
        print(f"figure: {results_store.display_path(args.figure)}")
    print(extrapolation.summary())
    if check is not None:
        print(check.summary())
    print(compute.summary())
    command = results_store.command_line(__file__, argv)
    name = f"curve-{args.label or results_store.label(curves.name, *args.set)}"
    results_store.write_result(name, command, setup, figures_record, results_dir=args.results_dir, machine=machine)
    print(f"reproduce       {command}")
    return figures_record


if __name__ == "__main__":
    main()
