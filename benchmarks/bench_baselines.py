"""Baselines without any model on a configuration's own split: the floor every model must beat.

Fits all-zeros, all-ones, the training mean and Kaggle's central-pixel benchmark (its fixed
colour bins, and k-means with ``--clusters`` clusters) on the configuration's training galaxies
and scores them on its test galaxies, with the same split and functions ``evaluate`` uses
(:func:`galaxy_lib.evaluation.baselines.baselines_for_config`). Seconds on the real sample.

Usage::

    python benchmarks/bench_baselines.py -f parameters/sample.yaml              # the README's table
    python benchmarks/bench_baselines.py -f parameters/sample.yaml --clusters 32

Figures, command and setup go to ``benchmarks/results/baselines-<label>.json`` (label: the
parameters file's name and overrides, or ``--label``), which the README's baseline tables are
generated from (``python benchmarks/readme_tables.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import results_store


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--file", required=True, help="parameters/NAME.yaml (its data and split)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--clusters", type=int, default=16, help="k-means clusters of the second central-pixel row")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)

    from galaxy_lib.config import load_config, parse_overrides
    from galaxy_lib.data import dataset, split
    from galaxy_lib.evaluation import baselines
    from galaxy_lib.paths import resolve_path

    config = load_config(args.file, parse_overrides(args.set))
    if config.synthetic:  # a script is an entry point: it makes the sky it needs (loading only reads)
        from galaxy_lib.synth import sky

        sky.ensure_synthetic(config)
    data = dataset.load_for_config(config)
    frame = split.split_for_config(data, config)
    sizes = {part: len(split.ids_of(frame, part)) for part in ("train", "val", "test")}
    test: dict[str, dict[str, float]] = {}
    for clusters in (0, args.clusters):
        table = baselines.baselines_for_config(config.replace(central_pixel_clusters=clusters), data, progress=False)
        for row in table[table["source"] == "baseline"].itertuples():
            name = row.name
            if name == "central pixel":
                name = "central pixel, k-means" if clusters else "central pixel, colour bins"
            elif clusters:
                continue  # the constant baselines do not depend on the clusters
            test[name] = {"rmse": float(row.rmse), "accuracy": float(row.accuracy)}
    for name, figure in sorted(test.items(), key=lambda item: -item[1]["rmse"]):
        print(f"{name:<30} test RMSE {figure['rmse']:.4f}   accuracy {figure['accuracy']:.4f}")

    setup = {
        "parameters_file": results_store.display_path(args.file),
        "overrides": list(args.set),
        "data": results_store.display_path(resolve_path(config.data)),
        "split": sizes,
        "seed": config.seed,
        "split_seed": config.split_seed,
        "test_pool": f"{config.test_pool_file}:{config.test_pool_subset}" if config.test_pool_file else None,
        "clusters": args.clusters,
    }
    name = "baselines-" + (args.label or results_store.label(Path(args.file).stem, *args.set))
    results_store.write_result(name, results_store.command_line(__file__, argv), setup, {"test": test},
                               results_dir=args.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
