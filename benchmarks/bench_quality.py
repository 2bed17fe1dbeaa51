"""Held-out quality on real data: train a configuration for a fixed wall time on the shared
sample and score it on galaxies it never saw.

Every configuration is scored on the *same* test set: the split is made once here (seed
``--split-seed``, which also becomes the configuration's ``split_seed`` so that the run's
``config.yaml`` names it; ``--set seed=K`` changes the model only) with the test galaxies drawn
only from the sample's unbiased GalaxyID block (``complete_id_block_945990_999967`` in
``manifest.csv``; 612 galaxies, about 20% of the block) and written into the run folder before
training, so ``train`` reuses it. The 399 hand-picked
``extra_selected`` galaxies stay in training. The configuration's own data, split and
time-limit keys are overridden; everything else (model, loss, augmentation, batch size ...)
is what the parameters file says.

Printed: epochs run, wall time, validation RMSE, and on the test set the RMSE (Kaggle's metric)
and the paper's categorical accuracy for the best-by-validation model with each test-time
averaging (none, flips, dihedral, dihedral_shift), plus the training-mean predictor for scale. The same figures,
the command and the setup are stored in ``benchmarks/results/quality-<label>.json`` (label:
the parameters file's name and the overrides, or ``--label``), which the README's results table
is generated from (``python benchmarks/readme_tables.py``).

Usage::

    python benchmarks/bench_quality.py -f parameters/paper.yaml --minutes 20
    python benchmarks/bench_quality.py -f parameters/improved.yaml --minutes 20 --out runs/bench-improved
    python benchmarks/bench_quality.py -f parameters/improved.yaml --minutes 5 --set batch_size=32

Screens (``--screen``) choose between levers on the validation galaxies alone: the best model is
scored there with the configuration's test-time averaging (``val_rmse_tta``, also stored for every
other run) and the test set is left unscored, so that the test figure of the finalists, each scored
once, stays an unbiased estimate.

A run folder that exists is resumed (or, when finished, only re-scored). Use 2 otherwise idle
CPU cores for figures worth recording: the time limit makes the score depend on speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import calibration
import results_store
from results_store import DEFAULT_SAMPLE, REPO

POOL_FILE = "manifest.csv"
POOL_SUBSET = "complete_id_block_945990_999967"
TEST_FRACTION = 0.18  # of all 3,399 galaxies: 612, about 20% of the 3,000-galaxy unbiased block
VAL_FRACTION = 0.1


def main(argv: list[str] | None = None) -> Path:
    """Train (or resume, or only re-score) and store the result; returns the run folder
    (``bench_ensemble.py`` trains its members through here)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--file", required=True, help="parameters/NAME.yaml")
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall-time budget (default 20)")
    parser.add_argument("--data", type=Path, default=DEFAULT_SAMPLE, help="the shared real sample")
    parser.add_argument("--out", type=Path, help="run folder (default runs/bench-<label>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the shared split (default 0)")
    parser.add_argument("--screen", action="store_true",
                        help="score the validation galaxies only and leave the test set unscored "
                             "(for screening levers: choose on validation, confirm finalists once on test)")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)

    from galaxy_lib.config import load_config, parse_overrides
    from galaxy_lib.data import dataset, split
    from galaxy_lib.evaluation import metrics
    from galaxy_lib.model import predict, train
    from galaxy_lib.model.runs import RunFolder

    if not (args.data / "training_solutions_rev1.csv").is_file():
        raise SystemExit(f"real sample not found at {args.data} (set --data or $GALAXY_SAMPLE)")
    overrides = parse_overrides(args.set)
    overrides.update(
        data=str(args.data.resolve()), max_images=0, test_pool_file=POOL_FILE, test_pool_subset=POOL_SUBSET,
        test_fraction=TEST_FRACTION, val_fraction=VAL_FRACTION, time_limit_minutes=args.minutes,
        split_seed=args.split_seed,
    )
    config = load_config(args.file, overrides)
    calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)
    run_label = args.label or results_store.label(Path(args.file).stem, *args.set)
    out = args.out or REPO / "runs" / f"bench-{run_label}"  # one folder per variant: runs resume, not collide
    results_store.refuse_another_commands_result(f"quality-{run_label}", results_store.command_line(__file__, argv),
                                                 args.results_dir)

    data = dataset.load_for_config(config)
    if not RunFolder(out).split_file.is_file():
        pool = split.read_test_pool(args.data / POOL_FILE, POOL_SUBSET)
        shared = split.make_split(
            data.ids, seed=args.split_seed, val_fraction=VAL_FRACTION, test_fraction=TEST_FRACTION, test_pool=pool
        )
        out.mkdir(parents=True, exist_ok=True)
        split.save_split(shared, RunFolder(out).split_file)

    started = time.monotonic()
    run_dir = train.train(config, out)
    wall = time.monotonic() - started
    folder = RunFolder(run_dir)
    run, state = folder.load(), folder.read_state()

    test_ids, test_labels = data.subset(split.ids_of(run.split, "test"))
    train_ids, train_labels = data.subset(split.ids_of(run.split, "train"))
    pool = set(split.read_test_pool(args.data / POOL_FILE, POOL_SUBSET).tolist())
    assert set(test_ids.tolist()) <= pool, "test galaxies must come from the unbiased block"
    mean_prediction = metrics.rmse(test_labels, np_tile(train_labels.mean(axis=0), len(test_ids)))

    model = folder.load_model("best")
    val_ids = split.ids_of(run.split, "val")
    print()
    print(f"configuration   {args.file} (+ {', '.join(args.set) or 'no overrides'}), budget {args.minutes:g} min")
    print(f"run folder      {run_dir}")
    print(f"galaxies        {len(train_ids):,} train / {len(val_ids):,} val / "
          f"{len(test_ids):,} test (test only from {POOL_SUBSET})")
    print(f"training        {state.epoch} epochs, {state.elapsed_seconds / 60:.1f} min in all "
          f"(this call {wall / 60:.1f} min); stopped: {state.finished}")
    # the column the best checkpoint was chosen by: the weight average's when there is one, the
    # training RMSE when nothing was held out (refit)
    monitor = state.monitor
    if config.refit:
        print(f"refit           the {len(val_ids):,} validation galaxies trained too; best.keras by training RMSE")
    print(f"validation      best {monitor} {run.history[monitor].min():.4f} "
          f"(epoch {int(run.history.loc[run.history[monitor].idxmin(), 'epoch'])})")
    swa = folder.read_swa() if config.weight_averaging == "swa" else None
    if swa is not None:
        scored = "no validation set" if swa["val_rmse_swa"] is None else f"val_rmse {swa['val_rmse_swa']:.4f}"
        print(f"swa             average of {swa['epochs']} epochs, {scored}"
              f"{'; it is best.keras' if swa['best'] else ''}")
    print(f"training mean   test RMSE {mean_prediction:.4f} (predict the training set's mean answers)")
    scored = len(val_ids) and not config.refit
    validation = _score_validation(run_dir, data, val_ids, config.tta, model) if scored else None
    if validation is not None:
        print(f"validation, TTA {config.tta:<9}RMSE {validation:.4f} (the best model, as the test set is scored)")
    test = {}
    for tta in () if args.screen else ("none", "flips", "dihedral", "dihedral_shift"):
        predictions = predict.predict_galaxies(run_dir, data.images, test_ids, tta=tta, model=model)
        test[tta] = {"rmse": metrics.rmse(test_labels, predictions),
                     "accuracy": metrics.paper_accuracy(test_labels, predictions)}
        print(f"test, TTA {tta:<15}RMSE {test[tta]['rmse']:.4f}   accuracy {test[tta]['accuracy']:.4f}")
    history = run.history
    best = int(history[monitor].idxmin())
    setup = {
        "parameters_file": results_store.display_path(args.file),
        "overrides": list(args.set),
        "minutes": args.minutes,
        "data": results_store.display_path(args.data),
        "split_seed": args.split_seed,
        "test_pool": f"{POOL_FILE}:{POOL_SUBSET}",
        "split": {"train": len(train_ids), "val": len(val_ids), "test": len(test_ids)},
        "run_dir": results_store.display_path(run_dir),
        "config": {**config.to_dict(), "data": results_store.display_path(args.data)},
    }
    if config.init_weights:
        setup["pretraining"] = pretraining_record(config.init_weights)
    figures = {
        "epochs": state.epoch,
        "training_minutes": state.elapsed_seconds / 60,
        "stopped": state.finished,
        "last_train_rmse": float(history["rmse"].iloc[-1]),
        "last_train_accuracy": float(history["accuracy"].iloc[-1]),
        "first_val_rmse": _number(history["val_rmse"].iloc[0]),
        "last_val_rmse": _number(history["val_rmse"].iloc[-1]),
        "best_val_rmse": None if config.refit else float(history[monitor].iloc[best]),
        "best_val_monitor": monitor,
        "best_epoch": int(history["epoch"].iloc[best]),
        "val_rmse_tta": validation,
        "screen": args.screen,
        "training_mean_test_rmse": mean_prediction,
        "tta": config.tta,
        "test_rmse": test[config.tta]["rmse"] if config.tta in test else None,
        "test_accuracy": test[config.tta]["accuracy"] if config.tta in test else None,
        "test": test,
    }
    if swa is not None:  # best_val_rmse stays the best epoch's; best.keras (scored above) may be the average
        figures.update(swa_epochs=swa["epochs"], val_rmse_swa=swa["val_rmse_swa"], swa_is_best=swa["best"])
    command = results_store.command_line(__file__, argv)
    results_store.write_result(f"quality-{run_label}", command, setup, figures, results_dir=args.results_dir)
    print(f"reproduce       {command}")
    return Path(run_dir)


def pretraining_record(init_weights: str) -> dict:
    """Where a fine-tuned run's starting weights came from: the pretraining run's data, epochs and
    wall time, so that a result can say what its minutes do not include (the pretraining's own)."""
    from galaxy_lib.model.runs import RunFolder
    from galaxy_lib.paths import resolve_path

    path = resolve_path(init_weights)
    record: dict = {"init_weights": init_weights}
    folder = RunFolder(path if path.is_dir() else path.parent)
    state = folder.read_state() if folder.config_file.is_file() else None
    if state is not None:
        pre = folder.load_config()
        record.update(data=pre.data, synthetic=pre.synthetic, galaxies=pre.synthetic_n if pre.synthetic else None,
                      epochs=state.epoch, minutes=state.elapsed_seconds / 60, stopped=state.finished)
    return record


def _score_validation(run_dir: Path, data, val_ids, tta: str, model) -> float:
    """The best model's RMSE on the validation galaxies with the configuration's test-time averaging:
    the figure screens choose by, computed as the test figure is, so the test set can stay unscored."""
    from galaxy_lib.evaluation import metrics
    from galaxy_lib.model import predict

    ids, labels = data.subset(val_ids)
    return metrics.rmse(labels, predict.predict_galaxies(run_dir, data.images, ids, tta=tta, model=model))


def np_tile(row, n: int):
    """``n`` copies of one prediction row."""
    import numpy as np

    return np.tile(np.asarray(row, dtype=np.float32), (n, 1))


def _number(value: float) -> float | None:
    """A history figure for JSON: None where the column is empty (no validation set with refit)."""
    value = float(value)
    return None if value != value else value


if __name__ == "__main__":
    main()
