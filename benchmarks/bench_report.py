"""Wall time of a report (``make report`` by default) and what it measured, from a fresh run.

Runs ``python -m galaxy_lib report -f FILE`` in a subprocess and times the whole command, as
``time make report`` does, with its run and report folders in a temporary directory: training
starts from scratch and ``runs/`` and ``reports/`` stay untouched. The data folder of the
parameters file is used as it is (for ``parameters/default.yaml`` the synthetic sky is generated
first when missing); ``--from-scratch`` generates it into the temporary directory, so the time
includes it. The report's ``report.json`` gives the seconds per notebook, its ``metrics.json``
the held-out figures and baselines.

Usage::

    python benchmarks/bench_report.py                    # parameters/default.yaml, the sky reused
    python benchmarks/bench_report.py --from-scratch     # ... and generated first

Figures, command and setup go to ``benchmarks/results/report-<label>.json`` (label: the
parameters file's name, ``-from-scratch``, or ``--label``), which the README's paragraph on the
default report's time is generated from. Minutes on 2 cores: use an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import calibration
import results_store
from results_store import REPO


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--file", default="parameters/default.yaml", help="parameters file (default: default)")
    parser.add_argument("--from-scratch", action="store_true", help="generate the synthetic sky too (timed)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)

    from galaxy_lib.config import load_config, parse_overrides
    from galaxy_lib.paths import resolve_path

    config = load_config(args.file, parse_overrides(args.set))
    load_before = os.getloadavg()[0]
    calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        places = [f"runs_dir={tmp}/runs", f"reports_dir={tmp}/reports"]
        if args.from_scratch:
            places.append(f"data={tmp}/synthetic")
        data = Path(tmp) / "synthetic" if args.from_scratch else resolve_path(config.data)
        generated = config.synthetic and not (data / "training_solutions_rev1.csv").is_file()
        command = [sys.executable, "-m", "galaxy_lib", "report", "-f", args.file]
        for override in [*args.set, *places]:
            command += ["--set", override]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(f"report failed with exit status {done.returncode}", file=sys.stderr)
            return done.returncode
        folder = Path(tmp) / "reports" / config.run_name
        summary = json.loads((folder / "report.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())

    notebooks = {t["notebook"]: t["seconds"] for t in summary["notebooks"]}
    print(f"\n{args.file}: {seconds:.0f} s in all ({', '.join(f'{k} {v:.0f} s' for k, v in notebooks.items())}); "
          f"test RMSE {metrics['test_rmse']:.4f} (accuracy {metrics['test_accuracy']:.3f}) on {metrics['n_test']} "
          f"held-out galaxies; training mean {metrics['baselines'].get('training mean', float('nan')):.4f}, "
          f"central pixel {metrics['baselines'].get('central pixel', float('nan')):.4f}")
    setup = {
        "parameters_file": results_store.display_path(args.file),
        "overrides": list(args.set),
        "data": results_store.display_path(data) if not args.from_scratch else "generated in a temporary folder",
        "sky_generated": bool(generated),
        "split": {"train": metrics["n_train"], "val": metrics["n_val"], "test": metrics["n_test"]},
        "seed": config.seed,
        "epochs": config.epochs,
        "crop": config.crop,
        "image_size": config.image_size,
    }
    figures = {
        "total_seconds": seconds,
        "notebooks": notebooks,
        "epochs": metrics.get("epochs"),
        "test_rmse": metrics["test_rmse"],
        "test_accuracy": metrics["test_accuracy"],
        "baselines": metrics["baselines"],
    }
    name = "report-" + (args.label or results_store.label(Path(args.file).stem, *args.set,
                                                         args.from_scratch and "from-scratch"))
    results_store.write_result(name, results_store.command_line(__file__, argv), setup, figures,
                               results_dir=args.results_dir, load_before=load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
