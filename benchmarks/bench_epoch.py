"""Epoch times of real training, side by side: variants of one configuration on one machine.

Each variant trains the configuration (``-f``, default ``parameters/improved.yaml`` on the shared
real sample) for ``--minutes`` in a fresh process, through the library's own ``train`` verb, and
the benchmark reads the run's ``history.csv``:

* the distribution of epoch times (median, 90th percentile, max / median; the first epoch, which
  traces the model and decodes the crops, is left out), so a stall shows as a number;
* epochs that fit in 20 minutes at the median epoch time;
* end-to-end training images/s (training galaxies / median epoch time; validation is part of the
  epoch's cost) against the model-alone speed of the same model and batch (``model.fit`` on one
  in-memory batch, repeated: no input pipeline, no validation, no checkpoints), and their ratio.

A variant is ``NAME`` or ``NAME=KEY=VALUE,KEY=VALUE`` (config overrides; ``env.VAR=VALUE`` sets an
environment variable of the variant's processes instead, e.g. ``env.TF_NUM_INTEROP_THREADS=1``), optionally run from
another checkout of the library with ``--src NAME=DIR`` (e.g. the code before a change, from
``git worktree add /tmp/before <commit>``), so "before" and "after" run on the same machine in the
same session. Variants run one after another, never at once: on 2 cores two trainings would time
each other. The CPU model and flags are stored with the figures (``machine``).

Usage::

    python benchmarks/bench_epoch.py --variant before --src before=/tmp/before --variant after --minutes 3
    python benchmarks/bench_epoch.py --variant intra2 --variant intra1=threads=1 --minutes 2 --label threads
    python benchmarks/bench_epoch.py --variant float32 --variant bf16=precision=mixed_bfloat16 --label bf16
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import calibration
import results_store
from results_store import DEFAULT_SAMPLE, REPO

from galaxy_lib.results import NAME as RESULT_NAME

WINDOW = 20.0  # minutes: the budget of the quality runs whose epoch count this predicts
# Where an autotuned tf.data iterator's deletion waits until (10 x (2^k - 1) ms after it started;
# benchmarks/bench_stall.py): an epoch just above one of these most likely waited there.
BACKOFF_POINTS = (2.55, 5.11, 10.23, 20.47)
BACKOFF_SLACK = 0.08  # seconds between the iterator's start and the epoch's timer, and after the wake-up


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``"bf16=precision=mixed_bfloat16,batch_size=128"`` -> ``("bf16", ["precision=...", "batch_size=128"])``."""
    name, _, rest = text.partition("=")
    if not name or not RESULT_NAME.fullmatch(name):
        raise SystemExit(f"--variant {text!r}: the name must be letters, digits and ._+-")
    overrides = [o for o in rest.split(",") if o] if rest else []
    for override in overrides:
        if "=" not in override:
            raise SystemExit(f"--variant {text!r}: {override!r} is not KEY=VALUE")
    return name, overrides


def epoch_figures(seconds: list[float], train_n: int) -> dict[str, Any]:
    """Distribution of epoch times after the first, and what it means for a 20-minute budget."""
    steady = seconds[1:] if len(seconds) > 1 else seconds
    ordered = sorted(steady)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "epochs": len(seconds),
        "first_epoch_s": round(seconds[0], 3),
        "median_s": round(median, 3),
        "p90_s": round(p90, 3),
        "max_s": round(ordered[-1], 3),
        "max_over_median": round(ordered[-1] / median, 3),
        "epochs_per_20_min": int(60 * WINDOW / median),
        "at_backoff_points": sum(any(q <= s < q + BACKOFF_SLACK for q in BACKOFF_POINTS) for s in steady),
        "images_per_s": round(train_n / median, 1),
        "seconds": [round(s, 3) for s in seconds],
    }




def run_variant(name: str, overrides: list[str], src: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Train one variant for ``args.minutes`` in a fresh process from ``src`` and time it."""
    out = work / name
    data = str(Path(args.data).resolve())
    variables = dict(o[len("env."):].split("=", 1) for o in overrides if o.startswith("env."))
    keys = [o for o in overrides if not o.startswith("env.")]
    sets = [f"data={data}", f"time_limit_minutes={args.minutes}", *args.set, *keys]
    env = {**os.environ, "PYTHONPATH": str(src), "TF_CPP_MIN_LOG_LEVEL": "2", **variables}
    config_file = str((REPO / args.file).resolve())
    command = [sys.executable, "-m", "galaxy_lib", "train", "-f", config_file, "--out", str(out)]
    for item in sets:
        command += ["--set", item]
    print(f"{name}: training {args.minutes:g} min from {results_store.display_path(src)} "
          f"({', '.join(overrides) or 'as configured'})", flush=True)
    started = time.monotonic()
    done = subprocess.run(command, cwd=src, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{name}: training failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    lines = (out / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    seconds = [float(line.split(",")[header.index("seconds")]) for line in lines[1:]]
    split_lines = (out / "split.csv").read_text().splitlines()
    train_n = sum(1 for line in split_lines[1:] if line.rstrip().endswith(",train"))
    figures = epoch_figures(seconds, train_n)
    figures["train_galaxies"] = train_n
    figures["process_seconds"] = round(wall, 1)
    model_alone = calibration.model_alone(config_file, args.steps, sets, src=src, env=variables)
    figures["model_alone_images_per_s"] = round(model_alone["images_per_s"], 1)
    figures["end_to_end_over_model_alone"] = round(figures["images_per_s"] / model_alone["images_per_s"], 3)
    print(f"  {figures['epochs']} epochs; median {figures['median_s']:.2f} s, p90 {figures['p90_s']:.2f} s, "
          f"max/median {figures['max_over_median']:.2f}; {figures['at_backoff_points']} at 2.55/5.11/10.23 s; "
          f"{figures['epochs_per_20_min']} epochs in 20 min; "
          f"{figures['images_per_s']:.0f} img/s end to end vs {figures['model_alone_images_per_s']:.0f} model alone "
          f"({figures['end_to_end_over_model_alone']:.0%})", flush=True)
    return {"variant": name, "src": results_store.display_path(src), "overrides": overrides, **figures}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--file", default="parameters/improved.yaml", help="parameters file (from the repo root)")
    parser.add_argument("--data", default=str(DEFAULT_SAMPLE), help="data folder (default: the shared real sample)")
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes per variant")
    parser.add_argument("--steps", type=int, default=40, help="steps per model-alone timing epoch")
    parser.add_argument("--variant", action="append", required=True, help="NAME or NAME=KEY=VALUE,KEY=VALUE")
    parser.add_argument("--src", action="append", default=[], help="NAME=DIR: run variant NAME from that checkout")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE for every variant")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)
    if not Path(args.data).is_dir():
        sys.exit(f"{args.data}: no such data folder (the shared real sample, or --data)")
    sources = {}
    for item in args.src:
        name, _, folder = item.partition("=")
        if not (Path(folder) / "galaxy_lib").is_dir():
            sys.exit(f"--src {item!r}: {folder} has no galaxy_lib/")
        sources[name] = Path(folder).resolve()
    variants = [parse_variant(v) for v in args.variant]
    load_before = round(os.getloadavg()[0], 2)
    calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-epoch-") as work:
        for name, overrides in variants:
            rows.append(run_variant(name, overrides, sources.get(name, REPO), args, Path(work)))
    label = args.label or results_store.label(Path(args.file).stem, *(name for name, _ in variants))
    results_store.write_result(
        f"epoch-{label}",
        results_store.command_line(__file__, sys.argv[1:] if argv is None else argv),
        {"parameters_file": args.file, "data": results_store.display_path(args.data), "minutes": args.minutes,
         "set": args.set, "model_alone_steps": args.steps},
        {"rows": rows},
        results_dir=args.results_dir,
        machine=results_store.machine_record(load_average_before=load_before),
    )


if __name__ == "__main__":
    main()
