"""Input speed and memory: the paper's in-RAM loop versus the tf.data pipeline.

Measures, each in a fresh Python process so that peak RSS belongs to one configuration:

1. the paper's loop (``cv2.imread``, central crop, append to a list, ``np.array``) over the
   sample: images/s and peak RSS;
2. one pass of :func:`galaxy_lib.data.pipeline.make_dataset` over the same images (shuffled,
   batches of 256): images/s and peak RSS;
3. one pass of the pipeline over a 3,000-entry and a 60,000-entry file list (the sample
   repeated, as big as Kaggle's 61,578 training images): peak RSS must not grow with the list;
4. the data check's JPEG header scan (``dataset.check_images``) over the 60,000 entries.

Targets (issue 2, 2 cores): pipeline >= 4x the paper's loop and >= 2,000 images/s at the 128
crop; peak RSS over 60,000 entries <= 1.5 GB and within 20% of the 3,000-entry figure.

Usage::

    python benchmarks/bench_input.py                      # shared sample, else generated JPEGs
    python benchmarks/bench_input.py --data PATH --cores 2 --crop 128
    python benchmarks/bench_input.py --big 3000 --small 300 --repeats 1 --results-dir /tmp/trial   # quick check

Figures, command and setup go to ``benchmarks/results/input-<label>.json`` (label: the data
source and crop, or ``--label``), which the README's input table is generated from.

The page cache is warmed first (every file read once), so both loaders read from memory and
the comparison is about decoding, not about the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import calibration
import numpy as np
import results_store  # standard library only: keeps the measuring processes lean
from results_store import DEFAULT_SAMPLE


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate_jpegs(folder: Path, n: int = 3000, seed: int = 0) -> Path:
    """Synthetic-sky 424x424 JPEGs (galaxy_lib.synth.sky) when the real sample is absent."""
    from galaxy_lib.synth import sky

    return sky.generate(folder / "synthetic", n=n, seed=seed) / "images_training_rev1"


def _pin(cores: int) -> None:
    if cores and hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, available[:cores])


def worker(args: argparse.Namespace) -> dict[str, float]:
    """One measurement in this (fresh) process; returns figures for the parent to print."""
    _pin(args.cores)
    if args.mode == "check":  # dataset.check_images: JPEG markers and size, on a thread pool
        from galaxy_lib.data import dataset

        images = dataset.open_images(args.images)
        ids = np.resize(images.ids(), args.entries or len(images))
        rss_start = peak_rss_mb()
        start, cpu = time.perf_counter(), time.process_time()
        results = dataset.check_images(images, ids, progress=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert all(problem is None for _, problem, _ in results)
        return {"images": len(ids), "seconds": seconds, "cpu_seconds": cpu, "rss_start_mb": rss_start,
                "peak_rss_mb": peak_rss_mb()}
    if args.mode in ("paper", "paper-copy"):  # no TensorFlow in this process, as in the paper's loop
        import cv2  # noqa: F401 - imported before the clock starts
        from paper_loader import paper_loop  # NumPy only

        paths = sorted(str(p) for p in args.images.glob("*.jpg"))
        rss_start = peak_rss_mb()
        start, cpu = time.perf_counter(), time.process_time()
        array = paper_loop(paths, args.crop, copy=args.mode == "paper-copy")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert array.shape[0] == len(paths)
        return {"images": len(paths), "seconds": seconds, "cpu_seconds": cpu, "rss_start_mb": rss_start,
                "peak_rss_mb": peak_rss_mb()}

    from galaxy_lib.data import dataset, pipeline

    images = dataset.open_images(args.images)
    ids = images.ids()
    rss_start = peak_rss_mb()
    entries = args.entries or len(ids)
    ids = np.resize(ids, entries)  # the sample repeated to the requested length
    labels = np.zeros((entries, 37), np.float32)
    ds = pipeline.make_dataset(
        images, ids, labels, crop=args.crop, image_size=args.image_size, batch_size=args.batch_size,
        shuffle=True, seed=0,
    )
    for _ in ds.take(2):  # build the graph and start the threads before timing
        pass
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    for x, _y in ds:
        count += int(x.shape[0])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert count == entries
    return {"images": count, "seconds": seconds, "cpu_seconds": cpu, "rss_start_mb": rss_start,
            "peak_rss_mb": peak_rss_mb()}


def run_worker(images: Path, mode: str, args: argparse.Namespace, entries: int = 0) -> dict[str, float]:
    command = [
        sys.executable, __file__, "--worker", mode, "--images", str(images), "--crop", str(args.crop),
        "--image-size", str(args.image_size), "--batch-size", str(args.batch_size), "--cores", str(args.cores),
        "--entries", str(entries),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_SAMPLE, help="Kaggle-layout folder (default: the sample)")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--cores", type=int, default=2, help="pin every measurement to this many cores (0 = all)")
    parser.add_argument("--big", type=int, default=60000, help="entries in the large file list")
    parser.add_argument("--small", type=int, default=3000, help="entries in the small file list")
    parser.add_argument("--repeats", type=int, default=2, help="speed runs per loader (the best is reported)")
    parser.add_argument("--worker", choices=["paper", "paper-copy", "pipeline", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--entries", type=int, default=0, help=argparse.SUPPRESS)
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)

    if args.worker:
        args.mode = args.worker
        print(json.dumps(worker(args)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        real = (args.data / "images_training_rev1").is_dir()
        if real:
            images, source = args.data / "images_training_rev1", f"real sample {results_store.display_path(args.data)}"
        else:
            print(f"no images at {args.data}; generating 3,000 JPEGs", flush=True)
            images, source = generate_jpegs(Path(tmp)), "3,000 synthetic-sky JPEGs (real sample not found)"
        files = sorted(images.glob("*.jpg"))
        total_bytes = sum(len(p.read_bytes()) for p in files)  # warms the page cache
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        load_before = os.getloadavg()[0]
        calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)
        print(f"images: {source} ({len(files):,} files, {total_bytes / 1e6:.0f} MB)")
        print(f"crop {args.crop}" + (f" -> {args.image_size}" if args.image_size else "")
              + f", batch {args.batch_size}, pinned to {args.cores or cpus} of {cpus} cores, "
              f"load average {load_before:.2f}")

        def best(mode: str) -> dict[str, float]:
            runs = [run_worker(images, mode, args) for _ in range(args.repeats)]
            return min(runs, key=lambda r: r["seconds"])

        views, copies, ours = best("paper"), best("paper-copy"), best("pipeline")
        paper = max(views, copies, key=lambda r: r["images"] / r["seconds"])  # compare with the faster one
        small = run_worker(images, "pipeline", args, entries=args.small)
        big = run_worker(images, "pipeline", args, entries=args.big)
        check = run_worker(images, "check", args, entries=args.big)

    def speed(r: dict[str, float]) -> float:
        return r["images"] / r["seconds"]

    print(f"\n{'configuration':<34}{'images':>8}{'images/s':>10}{'CPU ms/image':>14}{'peak RSS MB':>13}"
          f"{'RSS at start':>14}")
    rows = [
        ("paper loop (crop views in list)", views),
        ("paper loop (crops copied)", copies),
        ("pipeline (tf.data), one pass", ours),
        (f"pipeline, {args.small:,}-entry list", small),
        (f"pipeline, {args.big:,}-entry list", big),
        (f"header check, {args.big:,} entries", check),
    ]
    for name, r in rows:
        cpu_ms = 1000 * r["cpu_seconds"] / r["images"]
        print(f"{name:<34}{r['images']:>8,}{speed(r):>10,.0f}{cpu_ms:>14.3f}{r['peak_rss_mb']:>13,.0f}"
              f"{r['rss_start_mb']:>14,.0f}")
    ratio = speed(ours) / speed(paper)
    growth = big["peak_rss_mb"] / small["peak_rss_mb"] - 1
    checks = [
        (f"pipeline / faster paper loop = {ratio:.1f}x", ratio >= 4, ">= 4x"),
        (f"pipeline = {speed(ours):,.0f} images/s", speed(ours) >= 2000, ">= 2,000 images/s"),
        (f"peak RSS over {args.big:,} entries = {big['peak_rss_mb']:,.0f} MB", big["peak_rss_mb"] <= 1536, "<= 1.5 GB"),
        (f"RSS {args.big:,} vs {args.small:,} entries = {growth:+.1%}", abs(growth) <= 0.2, "within 20%"),
    ]
    print()
    for text, ok, target in checks:
        print(f"{'PASS' if ok else 'MISS'}  {text}  (target {target})")

    setup = {
        "data": results_store.display_path(args.data) if real else "generated synthetic-sky JPEGs",
        "files": len(files),
        "megabytes": round(total_bytes / 1e6, 1),
        "crop": args.crop,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "cores": args.cores,
        "small_list": args.small,
        "big_list": args.big,
        "repeats": args.repeats,
    }
    keys = ("paper_loop_views", "paper_loop_copies", "pipeline_one_pass", "pipeline_small_list",
            "pipeline_big_list", "header_check")
    figures: dict = {
        key: {**r, "images_per_s": speed(r), "cpu_ms_per_image": 1000 * r["cpu_seconds"] / r["images"]}
        for key, (_, r) in zip(keys, rows, strict=True)
    }
    figures.update(
        pipeline_vs_paper_best=ratio,
        pipeline_vs_paper_as_written=speed(ours) / speed(views),
        big_vs_small_rss_growth=growth,
        tensorflow_rss_mb=ours["rss_start_mb"],  # the pipeline worker's RSS before reading: TensorFlow itself
        targets={target: ok for _, ok, target in checks},
    )
    name = "input-" + (args.label or results_store.label(
        "sample" if real else "synthetic", f"crop{args.crop}", args.image_size and f"to{args.image_size}",
        args.batch_size != 256 and f"batch{args.batch_size}",
    ))
    results_store.write_result(name, results_store.command_line(__file__, argv), setup, figures,
                               results_dir=args.results_dir, load_before=load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
