"""Full-size rehearsal: the whole chain from Kaggle's zips at Kaggle's size, with the wall time,
peak memory and disk use of every stage.

Generates a synthetic sky of ``--n`` labelled and ``--test-n`` unlabelled galaxies written as
Kaggle ships its data (``python -m galaxy_lib synth --zip``: ``images_training_rev1.zip``,
``training_solutions_rev1.csv.zip``, ``images_test_rev1.zip``; resumable, with a progress bar),
or reuses it when ``--data`` already holds it, then runs each stage as its own process, reading
the zips in place (never unpacked):

1. ``check-data DATA``: labels and every image's JPEG header;
2. ``train -f parameters/paper.yaml --data DATA --set epochs=E``: the paper's configuration
   (VGG6, 128x128 central crops, batch 256) for ``--epochs`` epochs, run folder under ``--work``;
3. ``evaluate RUN``: held-out metrics, baselines, AUCs and figures;
4. ``predict RUN DATA/images_test_rev1.zip``: a Kaggle submission of every test galaxy;
5. ``report`` with the same configuration: the three notebooks on that run (it is complete, so
   notebook 2 does not train again; notebook 3 evaluates and predicts again) and the HTML pages
   (``--no-report`` leaves this stage out; the test suite does, having its own report test).

Per stage it records the wall time and the peak RSS of the whole process tree: the stage's
process and all its descendants (the sky's worker processes, the report's Jupyter kernel),
polled with psutil every ``--interval`` seconds and summed (pages shared between processes count
once per process, so the sum errs high; a spike shorter than the interval can be missed). Also
recorded: the seconds of each epoch from the run's ``history.csv`` (the first includes tracing;
with ``--epochs 2`` the second is the steady pace) and what that means for the paper's 50 epochs,
and the disk used by the data set, the run folder, the report and the submission. MB are 2**20
bytes, like the other benchmarks' RSS figures.

Targets (issue 12): peak RSS <= 3 GB at every stage (``--rss-limit-mb``), and within 20% of the
same chain at 6,000 galaxies (``--compare``, a stored result; ``--ratio-limit``): memory flat in N,
because nothing holds all images in memory.

Usage::

    python benchmarks/bench_scale.py --n 6000               # the small chain first: scale-n6000.json
    python benchmarks/bench_scale.py                        # Kaggle's size, compared with scale-n6000
    python benchmarks/bench_scale.py --epochs 2             # ... with a steady-state epoch (scale-n61578-epochs=2)

Generating the full set (about 140,000 galaxies, 4 GB) takes some ten minutes on 2 cores; an
interrupted generation resumes when the command is run again, and a complete one is reused (its
``metadata.json`` must match ``--n``, ``--test-n`` and ``--seed``). ``--work`` (default
``runs/scale-n<N>``) is this benchmark's own folder, cleared at the start: the run folder, the report,
the submission and each stage's log (``logs/<stage>.log``). Figures, command and setup go to
``benchmarks/results/scale-<label>.json`` (label ``n<N>``, plus ``epochs=E`` and the ``--set``
overrides when given, or ``--label``). Use an otherwise idle machine for figures worth recording.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import calibration
import results_store
from results_store import REPO

from galaxy_lib.results import load_results

KAGGLE_TRAIN, KAGGLE_TEST = 61578, 79975
PAPER_EPOCHS = 50
MB = 2**20
TRAIN_ZIP, TEST_ZIP, LABELS_ZIP = "images_training_rev1.zip", "images_test_rev1.zip", "training_solutions_rev1.csv.zip"
STAGES = ("generate", "check-data", "train", "evaluate", "predict", "report")
MARKER = ".bench_scale"  # marks --work as this benchmark's folder, which it may clear


class TreeMemory:
    """Peak RSS of a process and all its descendants, sampled on a background thread.

    ``peak_mb``: the largest sum over the tree at one sample; ``largest_mb``: the largest single
    process seen. Processes that end between two samples are simply not counted at that sample."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        import psutil

        self._psutil = psutil
        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_mb = 0.0
        self.largest_mb = 0.0
        self.samples = 0

    def sample(self) -> float:
        """One reading of the tree's total RSS in MB (also folded into the peaks)."""
        psutil = self._psutil
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:  # the root has ended
            return 0.0
        total = largest = 0
        for process in processes:
            try:
                rss = process.memory_info().rss
            except psutil.Error:  # ended (or a zombie) since it was listed
                continue
            total += rss
            largest = max(largest, rss)
        self.samples += 1
        self.peak_mb = max(self.peak_mb, total / MB)
        self.largest_mb = max(self.largest_mb, largest / MB)
        return total / MB

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_stage(name: str, command: list[str], log: Path, interval: float = 0.2) -> dict[str, Any]:
    """Run one stage as a subprocess from the project root, its output shown and kept in ``log``;
    returns ``{seconds, peak_rss_mb, largest_process_mb, samples, exit_status}``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = ["python", *command[1:]] if command[0] == sys.executable else command
    print(f"\n=== {name}: {' '.join(shown)}", flush=True)
    # This checkout's package in every process, the report's kernel too (which starts elsewhere and
    # would otherwise import whatever copy the interpreter has installed): the code measured is REPO's.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    started = time.perf_counter()
    with open(log, "wb") as keep:
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        with TreeMemory(process.pid, interval) as memory:
            assert process.stdout is not None
            while chunk := os.read(process.stdout.fileno(), 65536):  # progress bars pass through as they come
                keep.write(chunk)
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            status = process.wait()
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(memory.peak_mb, 1),
            "largest_process_mb": round(memory.largest_mb, 1), "samples": memory.samples, "exit_status": status}


def disk_mb(path: Path) -> float:
    """Apparent size of a file or of everything under a folder, in MB (0 when absent)."""
    if path.is_file():
        return path.stat().st_size / MB
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total / MB


def complete_set(data: Path, test_n: int) -> bool:
    """Whether ``data`` holds a finished zipped set (the zips only appear when generation ends)."""
    wanted = [TRAIN_ZIP, LABELS_ZIP] + ([TEST_ZIP] if test_n else [])
    return all((data / name).is_file() for name in wanted)


def check_reused_set(data: Path, n: int, test_n: int, seed: int) -> str | None:
    """Why a complete set at ``data`` is not the one asked for (None when it is)."""
    meta_file = data / "metadata.json"
    if not meta_file.is_file():
        return f"{data} holds zips but no metadata.json: not a synthetic set made by `synth --zip`"
    meta = json.loads(meta_file.read_text())
    made = (meta.get("n_train"), meta.get("n_test"), meta.get("seed"))
    if made != (n, test_n, seed):
        return (f"{data} holds n={made[0]}, test-n={made[1]}, seed={made[2]}, not n={n}, test-n={test_n}, "
                f"seed={seed}: choose another --data")
    return None


def epoch_seconds(history: Path) -> list[float]:
    """Seconds of each finished epoch, from the run's ``history.csv``."""
    if not history.is_file():
        return []
    with open(history, newline="") as handle:
        return [round(float(row["seconds"]), 2) for row in csv.DictReader(handle) if row.get("seconds")]


def compare(stages: dict[str, dict[str, Any]], other: Mapping[str, Any] | None, ratio_limit: float) -> dict[str, Any]:
    """Peak RSS of each stage over the same stage of ``other`` (a stored result), and whether
    every ratio is within ``ratio_limit``; stages missing from either side are left out."""
    if other is None:
        return {}
    theirs = other["figures"].get("stages", {})
    ratios = {}
    for name, figures in stages.items():
        mine, base = figures.get("peak_rss_mb"), theirs.get(name, {}).get("peak_rss_mb")
        if mine and base:
            ratios[name] = round(mine / base, 3)
    return {"with": other["name"], "n": other["setup"].get("n"), "ratios": ratios,
            "within_limit": bool(ratios) and all(r <= ratio_limit for r in ratios.values())}


def prepare_work(work: Path) -> str | None:
    """Clear this benchmark's folder; a non-empty folder that it did not make is refused (the
    reason is returned) rather than deleted."""
    if work.exists() and any(work.iterdir()) and not (work / MARKER).is_file():
        return f"{work} is not empty and was not made by bench_scale; choose another --work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / MARKER).write_text("made by benchmarks/bench_scale.py; cleared at its next start\n")
    return None


def print_table(stages: dict[str, dict[str, Any]], comparison: dict[str, Any]) -> None:
    ratios = comparison.get("ratios", {})
    head = f"{'stage':<11} {'seconds':>9} {'peak RSS MB':>12} {'largest MB':>11}"
    if comparison:
        head += f" {'vs ' + comparison['with']:>20}"
    print("\n" + head)
    for name, figures in stages.items():
        if figures.get("reused"):
            print(f"{name:<11} {'reused':>9}")
            continue
        line = (f"{name:<11} {figures['seconds']:>9.1f} {figures['peak_rss_mb']:>12.0f} "
                f"{figures['largest_process_mb']:>11.0f}")
        if comparison:
            line += f" {ratios[name]:>20.2f}" if name in ratios else f" {'-':>20}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=KAGGLE_TRAIN, help=f"labelled galaxies (default {KAGGLE_TRAIN:,})")
    parser.add_argument("--test-n", type=int, default=None,
                        help=f"unlabelled test galaxies (default: Kaggle's ratio, {KAGGLE_TEST:,} at "
                             f"--n {KAGGLE_TRAIN})")
    parser.add_argument("--seed", type=int, default=0, help="the sky's seed (default 0)")
    parser.add_argument("--data", type=Path, help="the zipped set, generated when missing (default data/scale-n<N>)")
    parser.add_argument("--work", type=Path, help="run, report, submission and logs; cleared first "
                                                  "(default runs/scale-n<N>)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default 1)")
    parser.add_argument("-f", "--file", default="parameters/paper.yaml", help="parameters file (default: the paper's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key for train and report (repeatable)")
    parser.add_argument("--compare", default="scale-n6000",
                        help="stored result to compare peak RSS with (default scale-n6000; skipped when absent)")
    parser.add_argument("--rss-limit-mb", type=float, default=3000.0, help="peak RSS target per stage (default 3000)")
    parser.add_argument("--ratio-limit", type=float, default=1.2, help="allowed peak-RSS ratio to --compare (1.2)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between memory samples (default 0.2)")
    parser.add_argument("--no-report", action="store_true",
                        help="leave out the last stage, the report (its notebooks evaluate and predict again)")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)
    if args.n < 1 or args.epochs < 1:
        parser.error("--n and --epochs must be at least 1")
    test_n = round(args.n * KAGGLE_TEST / KAGGLE_TRAIN) if args.test_n is None else args.test_n
    data = (args.data or REPO / "data" / f"scale-n{args.n}").expanduser().resolve()
    work = (args.work or REPO / "runs" / f"scale-n{args.n}").expanduser().resolve()
    run_name = f"scale-n{args.n}"
    run = work / "runs" / run_name
    submission = work / "submission.csv"
    logs = work / "logs"
    problem = prepare_work(work)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    python = [sys.executable, "-m", "galaxy_lib"]
    parameters = str(Path(args.file).expanduser().resolve())  # the stages run from the project root
    config_keys = [f"epochs={args.epochs}", *args.set, f"runs_dir={work / 'runs'}", f"run_name={run_name}",
                   f"reports_dir={work / 'reports'}"]
    sets = [item for key in config_keys for item in ("--set", key)]
    commands = {
        "generate": [*python, "synth", "--zip", "--n", str(args.n), "--test-n", str(test_n), "--seed",
                     str(args.seed), "--out", str(data)],
        "check-data": [*python, "check-data", str(data)],
        "train": [*python, "train", "-f", parameters, "--data", str(data), *sets, "--out", str(run)],
        "evaluate": [*python, "evaluate", str(run)],
        "predict": [*python, "predict", str(run), str(data / TEST_ZIP), "--out", str(submission)],
        "report": [*python, "report", "-f", parameters, "--data", str(data), *sets],
    }
    load_before = os.getloadavg()[0]
    calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)
    data.parent.mkdir(parents=True, exist_ok=True)
    free_before = shutil.disk_usage(data.parent).free / MB
    stages: dict[str, dict[str, Any]] = {}
    generated = not complete_set(data, test_n)
    if not generated:
        problem = check_reused_set(data, args.n, test_n, args.seed)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        print(f"reusing the zipped set at {results_store.display_path(data)}")
        stages["generate"] = {"reused": True}
    for name in STAGES:
        if ((name == "generate" and not generated) or (name == "predict" and not test_n)
                or (name == "report" and args.no_report)):
            continue
        stages[name] = run_stage(name, commands[name], logs / f"{name}.log", args.interval)
        if stages[name]["exit_status"] != 0:
            print_table(stages, {})
            print(f"\n{name} failed with exit status {stages[name]['exit_status']} (log: {logs / name}.log)",
                  file=sys.stderr)
            return stages[name]["exit_status"]

    epochs = epoch_seconds(run / "history.csv")
    metrics_file = run / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    steady = epochs[-1] if epochs else None
    disk = {"data_mb": round(disk_mb(data), 1),
            "data_files_mb": {p.name: round(disk_mb(p), 1) for p in sorted(data.iterdir()) if p.is_file()},
            "run_mb": round(disk_mb(run), 1), "reports_mb": round(disk_mb(work / "reports"), 1),
            "submission_mb": round(disk_mb(submission), 1), "free_before_mb": round(free_before, 1),
            "free_after_mb": round(shutil.disk_usage(data.parent).free / MB, 1)}
    name = "scale-" + (args.label or results_store.label(f"n{args.n}", args.epochs != 1 and f"epochs={args.epochs}",
                                                         args.no_report and "no-report", *args.set))
    other_name = args.compare if args.compare and args.compare != name else ""
    other = load_results(args.results_dir, names=[other_name]).get(other_name) if other_name else None
    comparison = compare(stages, other, args.ratio_limit)
    measured = [s for s in stages.values() if not s.get("reused")]
    checks = {f"peak RSS <= {args.rss_limit_mb:g} MB at every stage":
              all(s["peak_rss_mb"] <= args.rss_limit_mb for s in measured)}
    if comparison:
        checks[f"peak RSS within {args.ratio_limit:g}x of {comparison['with']} at every stage"] = (
            comparison["within_limit"])

    print_table(stages, comparison)
    if steady:
        print(f"\nepochs: {', '.join(f'{s:.0f} s' for s in epochs)}; at {steady:.0f} s an epoch the paper's "
              f"{PAPER_EPOCHS} epochs take {steady * PAPER_EPOCHS / 3600:.1f} h")
    print(f"disk: data {disk['data_mb']:,.0f} MB, run {disk['run_mb']:,.0f} MB, report {disk['reports_mb']:,.0f} MB, "
          f"submission {disk['submission_mb']:,.1f} MB")
    if not comparison:
        print(f"(no stored {args.compare or 'comparison'} result: the flat-memory check needs the small chain first)")
    for check, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {check}")

    setup = {
        "parameters_file": results_store.display_path(args.file),
        "overrides": list(args.set),
        "epochs": args.epochs,
        "n": args.n,
        "test_n": test_n,
        "seed": args.seed,
        "data": results_store.display_path(data),
        "data_generated": generated,
        "report_stage": not args.no_report,
        "split": {k: metrics.get(f"n_{k}") for k in ("train", "val", "test")},
        "memory_sampling_seconds": args.interval,
        "cpu_count": os.cpu_count(),
    }
    figures = {
        "stages": stages,
        "epoch_seconds": epochs,
        "epoch_seconds_last": steady,
        "images_per_second": round(metrics["n_train"] / steady, 1) if steady and metrics.get("n_train") else None,
        "paper_50_epochs_hours": round(steady * PAPER_EPOCHS / 3600, 2) if steady else None,
        "peak_rss_mb_max": max((s["peak_rss_mb"] for s in measured), default=None),
        "disk": disk,
        "comparison": comparison,
        "checks": checks,
        "test_rmse": metrics.get("test_rmse"),
    }
    results_store.write_result(name, results_store.command_line(__file__, argv), setup, figures,
                               results_dir=args.results_dir, load_before=load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
