"""Held-out quality of an ensemble on real data: the mean prediction of several bench runs,
scored on ``bench_quality.py``'s shared test split, next to each member's own figures.

Two ways to name the members:

* ``-f parameters/ENSEMBLE.yaml``: each member of the ensemble file is trained (or resumed, or
  only re-scored when finished) through ``bench_quality.py`` on the shared sample and split,
  with its own ``time_limit_minutes`` as budget (``--minutes`` overrides it for all), into
  ``runs/bench-<label>`` (the label is the member's parameters file and the keys in which the
  member differs from it, e.g. ``improved-seed=1``), which also stores each member's own
  ``quality-<label>.json`` row; then the ensemble is scored.
* ``--members runs/bench-A runs/bench-B ...``: existing bench runs (e.g. from ``bench_quality.py
  --set seed=1``), scored as an ensemble without training.

Every member must have been tested on the same galaxies (``bench_quality.py`` writes the same
split into every run folder it makes, whatever the configuration's seed); otherwise the script
stops with the member named. Each member predicts with its own preprocessing and test-time
averaging; the ensemble's prediction is their mean.

Printed and stored in ``benchmarks/results/ensemble-<label>.json`` (label: the ensemble's name,
or the members' folder names joined with ``+``, or ``--label``): each member's epochs, training
minutes, validation and test RMSE and accuracy; the ensemble's test RMSE and accuracy (and
validation RMSE when the members share their validation galaxies); the training minutes of all
members together (the ensemble's budget), the best and median member, and the gain over the best.

Usage::

    python benchmarks/bench_ensemble.py -f parameters/ensemble.yaml
    python benchmarks/bench_ensemble.py --members runs/bench-improved runs/bench-improved-seed=1 \\
        runs/bench-improved-seed=2 --label improved-x3-seeds
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import bench_quality
import results_store
from results_store import DEFAULT_SAMPLE, REPO


def member_arguments(member: Any, minutes: float | None, data: Path, results_dir: Path) -> list[str]:
    """``bench_quality.py`` arguments for one member of an ensemble file: its parameters file and
    the keys in which the member differs from that file (``data`` and the time limit are the
    benchmark's own), so that a member equal to its file reuses that file's bench run."""
    from galaxy_lib.config import load_config

    base = load_config(member.config_file)
    sets = [f"{key}={json.dumps(value)}" for key, value in member.overrides.items()
            if key not in {"data", "time_limit_minutes"} and getattr(base, key) != value]
    budget = minutes if minutes is not None else member.config.time_limit_minutes
    if not budget:
        raise SystemExit(f"member {member.name}: no time_limit_minutes; give --minutes")
    argv = ["-f", results_store.display_path(member.config_file), "--minutes", f"{budget:g}"]
    if data.resolve() != DEFAULT_SAMPLE.resolve():  # the stored command stays short and machine-free
        argv += ["--data", str(data)]
    if Path(results_dir).resolve() != results_store.RESULTS_DIR.resolve():
        argv += ["--results-dir", str(results_dir)]
    for item in sets:
        argv += ["--set", item]
    return argv


def score(members: list[Path], data_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ensemble's and each member's held-out figures: ``(setup, figures)`` for the result file."""
    import numpy as np

    from galaxy_lib.data import dataset, split
    from galaxy_lib.evaluation import metrics
    from galaxy_lib.model import predict
    from galaxy_lib.model.ensemble import check_same_test_set
    from galaxy_lib.model.runs import ResumeState, RunFolder

    folders = [RunFolder(m).require() for m in members]
    configs = [f.load_config() for f in folders]
    splits = [f.load_split() for f in folders]
    for folder, other in zip(folders[1:], splits[1:], strict=True):
        check_same_test_set(splits[0], other, reference_where=folders[0].path, where=folder.path)
    same_val = all(np.array_equal(split.ids_of(s, "val"), split.ids_of(splits[0], "val")) for s in splits)
    data = dataset.load_for_config(configs[0].replace(data=str(data_path.resolve())))
    test_ids, test_labels = data.subset(split.ids_of(splits[0], "test"))
    train_ids, train_labels = data.subset(split.ids_of(splits[0], "train"))
    pool = set(split.read_test_pool(data_path / bench_quality.POOL_FILE, bench_quality.POOL_SUBSET).tolist())
    if not set(test_ids.tolist()) <= pool:
        raise SystemExit(f"{folders[0].path}: test galaxies outside the unbiased block; not a bench_quality split")
    mean_prediction = metrics.rmse(test_labels, np.tile(train_labels.mean(axis=0), (len(test_ids), 1)))

    test_mean, test_own = predict.predict_ensemble(folders, data.images, test_ids, return_members=True)
    val = None
    if same_val:
        val_ids, val_labels = data.subset(split.ids_of(splits[0], "val"))
        val_mean, val_own = predict.predict_ensemble(folders, data.images, val_ids, return_members=True)
        val = {"mean": metrics.rmse(val_labels, val_mean), "own": [metrics.rmse(val_labels, v) for v in val_own]}

    rows = []
    for i, (folder, config) in enumerate(zip(folders, configs, strict=True)):
        state = folder.read_state() or ResumeState()
        history = folder.read_history()
        rows.append({
            "name": folder.path.name,
            "run_dir": results_store.display_path(folder.path),
            "epochs": state.epoch,
            "training_minutes": state.elapsed_seconds / 60,
            "stopped": state.finished,
            "time_limit_minutes": config.time_limit_minutes,
            "seed": config.seed,
            "tta": config.tta,
            "best_val_rmse": float(history["val_rmse"].min()) if len(history) else None,
            "val_rmse": val["own"][i] if val else None,
            "test_rmse": metrics.rmse(test_labels, test_own[i]),
            "test_accuracy": metrics.paper_accuracy(test_labels, test_own[i]),
        })
    own = [row["test_rmse"] for row in rows]
    figures = {
        "members": rows,
        "test_rmse": metrics.rmse(test_labels, test_mean),
        "test_accuracy": metrics.paper_accuracy(test_labels, test_mean),
        "val_rmse": val["mean"] if val else None,
        "training_minutes": sum(row["training_minutes"] for row in rows),
        "best_member_test_rmse": min(own),
        "median_member_test_rmse": statistics.median(own),
        "gain_over_best_member": min(own) - metrics.rmse(test_labels, test_mean),
        "training_mean_test_rmse": mean_prediction,
    }
    setup = {
        "members": [row["run_dir"] for row in rows],
        "data": results_store.display_path(data_path),
        "test_pool": f"{bench_quality.POOL_FILE}:{bench_quality.POOL_SUBSET}",
        "split": {"train": len(train_ids), "val": len(split.ids_of(splits[0], "val")), "test": len(test_ids)},
        "same_validation_galaxies": same_val,
        "budget_minutes": sum(row["time_limit_minutes"] for row in rows)
        if all(row["time_limit_minutes"] for row in rows) else None,
    }
    return setup, figures


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--file", help="an ensemble parameters file: train its members as bench runs, then score")
    source.add_argument("--members", nargs="+", type=Path, help="existing bench run folders to score as an ensemble")
    parser.add_argument("--minutes", type=float, help="with -f: every member's budget (default: each one's own)")
    parser.add_argument("--data", type=Path, default=DEFAULT_SAMPLE, help="the shared real sample")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)
    if not (args.data / "training_solutions_rev1.csv").is_file():
        raise SystemExit(f"real sample not found at {args.data} (set --data or $GALAXY_SAMPLE)")

    if args.file:
        from galaxy_lib.model.ensemble import load_ensemble

        ensemble = load_ensemble(args.file)
        members = []
        for number, member in enumerate(ensemble.members, 1):
            print(f"=== member {number}/{len(ensemble.members)}: {member.name}", flush=True)
            members.append(bench_quality.main(member_arguments(member, args.minutes, args.data, args.results_dir)))
        default_label = ensemble.name
    else:
        members = [m if m.is_absolute() else REPO / m for m in args.members]
        if len(members) < 2:
            raise SystemExit("an ensemble needs at least 2 members")
        default_label = "+".join(m.name.removeprefix("bench-") for m in members)
    run_label = args.label or results_store.label(default_label)

    setup, figures = score(members, args.data)
    if args.file:
        setup["parameters_file"] = results_store.display_path(args.file)
    print()
    print(f"ensemble        {len(members)} members, {figures['training_minutes']:.1f} training minutes in all"
          + (f" (budget {setup['budget_minutes']:g})" if setup["budget_minutes"] else ""))
    for row in figures["members"]:
        val = f"val RMSE {row['val_rmse']:.4f}   " if row["val_rmse"] is not None else ""
        print(f"  {row['name']:<30} {row['epochs']:>4} epochs {row['training_minutes']:5.1f} min   {val}"
              f"test RMSE {row['test_rmse']:.4f}   accuracy {row['test_accuracy']:.4f}")
    val = f"val RMSE {figures['val_rmse']:.4f}   " if figures["val_rmse"] is not None else ""
    print(f"  {'the ensemble (mean)':<30} {'':>22}   {val}test RMSE {figures['test_rmse']:.4f}   "
          f"accuracy {figures['test_accuracy']:.4f}")
    print(f"gain            {figures['gain_over_best_member']:+.4f} over the best member, "
          f"{figures['median_member_test_rmse'] - figures['test_rmse']:+.4f} over the median member; "
          f"training mean {figures['training_mean_test_rmse']:.4f}")
    command = results_store.command_line(__file__, argv)
    results_store.write_result(f"ensemble-{run_label}", command, setup, figures, results_dir=args.results_dir)
    print(f"reproduce       {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
