"""Wall time of ``make test-fast`` and ``make test``, as a developer types them (issue 21's targets:
at most 45 s and 6 minutes on 2 cores).

Runs each Makefile target from the project root and times the whole command: ruff, Python's
start-up, collection and pytest-xdist's workers. ``--cold`` first deletes the project's
``__pycache__`` folders (not those of ``.venv``), so Python compiles the package and pytest rewrites
the tests again, as on a fresh clone in CI; without it the bytecode of an earlier run is reused, as
on a developer's second run. pytest's summary line gives the tests passed, skipped and failed and
pytest's own seconds. The real-sample tests run only when ``../shared/data/galaxy-zoo-sample`` is
there: the record says how many were skipped.

Usage::

    python benchmarks/bench_tests.py                      # make test-fast, then make test
    python benchmarks/bench_tests.py --cold               # ... each after deleting __pycache__
    python benchmarks/bench_tests.py --target test-fast   # one target

Figures, command and machine go to ``benchmarks/results/tests-<label>.json`` (label ``warm`` or
``cold``), which the test-suite table of ``docs/operations.md`` is generated from. Both targets use
every core: measure on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import calibration
import results_store
from results_store import REPO

TARGETS = ("test-fast", "test")
TARGET_SECONDS = {"test-fast": 45, "test": 360}  # issue 21, on 2 cores
_SUMMARY = re.compile(r"=+ (?P<body>[^=]*?) in (?P<seconds>[\d.]+)s(?: \([\d:]+\))? =+\s*$", re.MULTILINE)


def pytest_summary(output: str) -> dict[str, Any]:
    """Counts (passed, skipped, failed, error, ...) and seconds from pytest's last summary line;
    an empty dict when there is none (pytest did not get that far)."""
    matches = list(_SUMMARY.finditer(output))
    if not matches:
        return {}
    last = matches[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last["body"])}
    return {"counts": counts, "pytest_seconds": float(last["seconds"])}


def clear_bytecode(root: Path) -> int:
    """Delete the ``__pycache__`` folders under ``root`` outside ``.venv``; returns how many."""
    removed = 0
    for folder in sorted(root.rglob("__pycache__")):
        if ".venv" in folder.relative_to(root).parts or not folder.is_dir():
            continue
        shutil.rmtree(folder)
        removed += 1
    return removed


def time_target(target: str, cold: bool, command: list[str] | None = None) -> dict[str, Any]:
    """Run ``make TARGET`` (or ``command``) from the project root, its output shown as it runs, and time it."""
    if cold:
        clear_bytecode(REPO)
    started = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(command or ["make", target], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "exit_status": process.returncode, **pytest_summary("".join(lines))}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=TARGETS, action="append", help="a Makefile target (default: both)")
    parser.add_argument("--cold", action="store_true", help="delete the project's __pycache__ folders before each")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)
    figures = {target: time_target(target, args.cold) for target in (args.target or TARGETS)}
    print()
    for target, f in figures.items():
        counts = ", ".join(f"{n} {word}" for word, n in f.get("counts", {}).items()) or "no pytest summary"
        verdict = "within" if f["seconds"] <= TARGET_SECONDS[target] else "over"
        print(f"make {target}: {f['seconds']:.0f} s ({counts}; exit status {f['exit_status']}), {verdict} the "
              f"{TARGET_SECONDS[target]} s target")
    failed = [t for t, f in figures.items() if f["exit_status"] != 0]
    if failed:
        print(f"not stored: make {' and make '.join(failed)} failed", file=sys.stderr)
        return 1
    setup = {
        "targets": list(figures),
        "bytecode": "cold (project __pycache__ deleted first)" if args.cold else "warm (an earlier run's)",
        "workers": os.environ.get("TEST_WORKERS", "2 (the Makefile's default)"),
        "sample_present": (results_store.DEFAULT_SAMPLE / "training_solutions_rev1.csv").is_file(),
        "target_seconds": {t: TARGET_SECONDS[t] for t in figures},
    }
    name = "tests-" + (args.label or ("cold" if args.cold else "warm"))
    results_store.write_result(name, results_store.command_line(__file__, argv), setup, figures,
                               results_dir=args.results_dir, load_before=load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
