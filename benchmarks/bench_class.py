"""Scoring a class: 30 student runs of ``default.yaml``-sized models on the instructor's 665 galaxies.

Issue 29's target: ``python -m galaxy_lib class`` scores 30 runs of ``parameters/default.yaml``'s model
(VGG6 at 207->69 pixels, 1.6 M parameters, 8-view dihedral test-time averaging) on 665 held-back
galaxies in at most 3 minutes on 2 cores, with its peak memory stated.

The class is built, not trained: one run of ``default.yaml`` (the one given with ``--run``, else a
one-epoch run trained here) is handed in by 30 students, each with its weights perturbed by their own
seed, so every run predicts differently (no copy flags) and costs what a trained one costs to score.
The key is the synthetic sky's held-back set (``sample --synthetic --key``). Then the command itself
runs in a fresh process, timed from outside with its peak RSS (``RUSAGE_CHILDREN``): first on the whole
class (an empty cache), then again after one more student hands in (only that run is scored).

Usage::

    python benchmarks/bench_class.py                         # 30 students, 665 galaxies
    python benchmarks/bench_class.py --students 4 --galaxies 100 --results-dir /tmp/trial   # quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import calibration
import results_store
from results_store import REPO


def honest_pair(work: Path, key: Path) -> dict[str, float]:
    """Two students' honest runs of ``default.yaml`` (its 30 epochs; the seed drawn from each name) and
    how far apart their predictions on the key are: what the copy threshold must stay below."""
    import numpy as np

    from galaxy_lib.classroom.key import read_key
    from galaxy_lib.config import load_config
    from galaxy_lib.data import dataset
    from galaxy_lib.evaluation.metrics import rmse
    from galaxy_lib.kaggle import TRAINING_IMAGES
    from galaxy_lib.model import predict, train

    class_key = read_key(key)
    images = dataset.open_images(class_key.root / TRAINING_IMAGES)
    values, scores = [], {}
    for student in ("Ada Lovelace", "Grace Hopper"):
        config = load_config(REPO / "parameters" / "default.yaml",
                             {"data": str(REPO / "data/synthetic"), "student": student}, environment=False)
        run = train.train(config, work / f"pair-{student.split()[0].lower()}", verbose=False)
        values.append(predict.predict_galaxies(run, images, class_key.ids))
        scores[student] = rmse(class_key.labels, values[-1])
    difference = float(np.sqrt(np.mean((values[0] - values[1]) ** 2)))
    shown = ", ".join(f"{v:.4f}" for v in scores.values())
    print(f"two honest default runs (seeds drawn from two names): key RMSE {shown}; "
          f"their predictions differ by {difference:.4f} (root mean square)")
    return {"honest_pair_rms_difference": round(difference, 4),
            "honest_pair_key_rmse": [round(v, 4) for v in scores.values()]}


def _train_one_epoch(root: Path) -> Path:
    from galaxy_lib.config import load_config
    from galaxy_lib.model import train

    config = load_config(REPO / "parameters" / "default.yaml", {"epochs": 1, "data": str(REPO / "data/synthetic")})
    return train.train(config, root / "trained", verbose=False)


def build_class(run: Path, submissions: Path, students: int, first: int = 0) -> None:
    """``students`` hand-ins of ``run`` (runs/default and reports/default), each with weights perturbed by
    its own seed (``first``, ``first + 1``, ...) and a report of the course's three notebooks."""
    import json

    import numpy as np

    from galaxy_lib.model.runs import RunFolder

    model = RunFolder(run).load_model("best")
    weights = model.get_weights()
    notebooks = ("01_data.ipynb", "02_train.ipynb", "03_evaluate.ipynb")
    for i in range(first, first + students):
        student = submissions / f"student{i:02d}"
        folder = student / "runs" / "default"
        shutil.copytree(run, folder, ignore=shutil.ignore_patterns("resume", "cache", "last.keras", "figures"))
        rng = np.random.default_rng(i)
        model.set_weights([w + rng.normal(0, 0.05 * (float(w.std()) or 1.0), w.shape).astype(w.dtype)
                           for w in weights])
        model.save(folder / "best.keras")
        report = student / "reports" / "default"
        report.mkdir(parents=True)
        (report / "report_no_code.html").write_text(f"<html><body>student {i}</body></html>")
        for name in notebooks:
            (report / name).write_text("{}")
        (report / "report.json").write_text(json.dumps({
            "name": "default", "run_dir": "runs/default",
            "answers": {"exercises": 9, "answered": i % 10, "predicted": 0},
            "notebooks": [{"notebook": name, "seconds": 1.0} for name in notebooks]}))


# `python -m galaxy_lib class ...` that prints its own peak RSS last: RUSAGE_CHILDREN in this process would
# be the largest of every child so far (the synthetic key's renderers too), not this command's.
_COMMAND = """
import resource, sys
from galaxy_lib import cli
status = cli.main(sys.argv[1:])
print(f"peak_rss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
sys.exit(status)
"""


def run_class(submissions: Path, key: Path, out: Path) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and the summary line of ``python -m galaxy_lib class`` in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _COMMAND, "class", str(submissions), "--key", str(key),
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO,
                          env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"class failed:\n{done.stderr[-3000:]}")
    *printed, peak = done.stdout.strip().splitlines()
    return seconds, int(peak.split()[1]) / 1024, printed[-1].rsplit("; ", 1)[0]  # without the temporary path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--galaxies", type=int, default=665, help="the key's held-back galaxies (default 665)")
    parser.add_argument("--run", type=Path, default=None,
                        help="a finished run of parameters/default.yaml to hand in (default: train one epoch)")
    parser.add_argument("--honest-pair", action="store_true",
                        help="also train two students' honest default.yaml runs (minutes) and measure how far apart "
                             "their predictions on the key are (the copy threshold's margin)")
    parser.add_argument("--keep", type=Path, default=None, help="build the class here and keep it")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv

    from galaxy_lib.classroom import key as class_key
    from galaxy_lib.config import load_config
    from galaxy_lib.synth import sky

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-class-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        students_config = load_config(REPO / "parameters" / "default.yaml",
                                      {"data": str(REPO / "data/synthetic")}, environment=False)
        sky.ensure_synthetic(students_config)  # the default sky the runs below train on (loading only reads)
        key = class_key.hold_out_synthetic(work / "key", n=args.galaxies, seed=0, students=students_config)
        run = args.run or _train_one_epoch(work)
        submissions = work / "submissions"
        build_class(run, submissions, args.students)
        load_before = os.getloadavg()[0]
        calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)
        seconds, peak_mb, line = run_class(submissions, key, work / "out")
        print(f"{args.students} runs x {args.galaxies} galaxies x 8 views: {seconds:.1f} s, peak RSS {peak_mb:,.0f} MB")
        print(f"  {line}")
        build_class(run, work / "late", 1, first=args.students)
        (work / "late" / f"student{args.students:02d}").rename(submissions / "late-student")
        again, _, again_line = run_class(submissions, key, work / "out")
        print(f"one more student handed in: {again:.1f} s ({again_line})")
        figures = {
            "seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb), "runs": args.students,
            "seconds_per_run": round(seconds / args.students, 2), "target_seconds": 180,
            "meets_target": seconds <= 180, "rescore_one_more_seconds": round(again, 1),
            "output": line, "rescore_output": again_line,
        }
        if args.honest_pair:
            figures |= honest_pair(work, key)
        setup = {"parameters": "parameters/default.yaml", "students": args.students, "galaxies": args.galaxies,
                 "tta": students_config.tta, "input": f"{students_config.crop}->{students_config.input_size} px",
                 "run": results_store.display_path(args.run) if args.run else "one epoch trained by the benchmark",
                 "key": "synthetic sky's held-back set (sample --synthetic --key), seed 0"}
        name = f"class-{args.label or f'{args.students}x{args.galaxies}'}"
        results_store.write_result(name, results_store.command_line(__file__, argv), setup, figures,
                                   results_dir=args.results_dir, load_before=load_before)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
