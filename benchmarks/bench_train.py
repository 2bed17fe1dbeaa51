"""Training speed of VGG6: images/s per input size, batch size, oneDNN and thread setting,
and the share of each step spent waiting for input.

For each setting a train step is timed twice with the same model and optimizer as
``galaxy_lib.model.train`` uses:

* ``cached``: one in-memory batch repeated (no JPEG decoding, no augmentation): the speed of
  the model itself;
* ``pipeline``: the real input pipeline (``pipeline.make_dataset``: read, decode-and-crop,
  resize, shuffle, augment when the configuration does) feeding ``model.fit``;
* ``crop cache``: the same pipeline reading decoded uint8 crops from its on-disk cache
  (``cache_crops: true``) instead of decoding JPEGs.

``input wait = 1 - pipeline images/s / cached images/s``: the part of a step the model sat
waiting for data (0 means the pipeline keeps up; it is noisy around 0 and can go slightly
negative). CPU milliseconds per image (all threads of the process; cached / pipeline / crop
cache) are printed too: unlike images/s they barely change when other jobs share the cores,
so they compare settings fairly on a busy machine; the 1-minute load average is shown.
Each oneDNN / thread setting runs in its own Python process because TensorFlow
reads ``TF_ENABLE_ONEDNN_OPTS`` and fixes its thread pools when it starts. ``--precision``
measures each listed Keras precision policy (``Config.precision``: ``mixed_bfloat16`` uses the
CPU's AVX-512 BF16 through oneDNN) at every size and batch size in the same process, one model
per policy built as training builds it; rows carry their ``precision``.

Usage::

    python benchmarks/bench_train.py            # the full grid, oneDNN on and off (about 15 minutes on 2 idle cores)
    python benchmarks/bench_train.py --quick    # batch 64 and 256, oneDNN on, fewer images (about 3 minutes)
    python benchmarks/bench_train.py --sizes 128 --batch-sizes 64 --onednn on --threads 0 1 2
    python benchmarks/bench_train.py --quick --precision float32 mixed_bfloat16   # bfloat16 against float32
    python benchmarks/bench_train.py --quick --sizes 69 --model vgg6_views --views 8   # viewpoint pooling's cost

Input images: the shared real sample (``../shared/data/galaxy-zoo-sample`` or
``$GALAXY_SAMPLE``), else generated JPEGs. Figures depend on what else the machine is doing:
run it on an idle machine for numbers worth recording. Every row, the command and the setup go
to ``benchmarks/results/train-<label>.json`` (label ``quick`` or ``grid``, or ``--label``;
``--results-dir /tmp/trial`` keeps a trial run from replacing recorded figures), which the
README's training-speed table is generated from.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import calibration
import results_store
from results_store import DEFAULT_SAMPLE

# Input geometry per benchmarked side: the paper's 128 crop, and Dieleman's 207 crop shrunk
# to 69 with the second pool at 2 (parameters/improved.yaml).
GEOMETRY = {
    128: {"crop": 128, "image_size": 0, "second_pool": 4},
    69: {"crop": 207, "image_size": 69, "second_pool": 2},
}


def generate_jpegs(folder: Path, n: int = 400, seed: int = 0) -> Path:
    """Synthetic-sky 424x424 JPEGs (galaxy_lib.synth.sky) when the real sample is absent."""
    from galaxy_lib.synth import sky

    return sky.generate(folder / "synthetic", n=n, seed=seed) / "images_training_rev1"


def _timed_fit(model, dataset, steps: int, warmup: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) per step over ``steps`` steps after
    ``warmup`` untimed ones (tracing, caches). CPU time counts every thread (model and
    tf.data alike) and hardly depends on what else the machine runs: a fair comparison of
    settings on a busy machine; wall time is what an idle machine gives."""
    import keras

    marks: list[tuple[float, float]] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append((time.perf_counter(), time.process_time()))

    model.fit(dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[Clock()], shuffle=False)
    return (marks[-1][0] - marks[warmup - 1][0]) / steps, (marks[-1][1] - marks[warmup - 1][1]) / steps


def child(args: argparse.Namespace) -> None:
    """Measure every size x batch size in this process (one oneDNN / thread setting)."""
    from galaxy_lib.tf_setup import import_tensorflow

    tf = import_tensorflow()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    import numpy as np

    from galaxy_lib.config import Config
    from galaxy_lib.data import augment, dataset, pipeline
    from galaxy_lib.model import network
    from galaxy_lib.model.train import compile_model, precision_policy

    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    images = dataset.open_images(args.images)
    ids = images.ids()
    rng = np.random.default_rng(0)
    labels = rng.dirichlet(np.ones(37), size=len(ids)).astype("float32")
    for side in args.sizes:
        for batch_size, precision in itertools.product(args.batch_sizes, args.precision):
            config = Config(
                **GEOMETRY[side], batch_size=batch_size, head=args.head, loss=args.loss, augment=args.augment,
                precision=precision,
                **_model_keys(args),
            )
            steps = max(3, args.images_per_run // batch_size)
            warmup = 2
            keras = network.keras
            keras.utils.set_random_seed(0)
            with precision_policy(config.precision):  # as training builds it: outputs, tree head and loss float32
                model = network.build_model(config)
                compile_model(model, config)
            x = tf.random.uniform([batch_size, side, side, 3])
            y = tf.constant(labels[:batch_size] if batch_size <= len(ids) else np.resize(labels, (batch_size, 37)))
            cached = tf.data.Dataset.from_tensors((x, y)).repeat()
            cached_step, cached_cpu = _timed_fit(model, cached, steps, warmup)
            streamed = pipeline.make_dataset(
                images, ids, labels, crop=config.crop, image_size=config.image_size, batch_size=batch_size,
                shuffle=True, seed=0, augment=augment.make_augmenter(config), drop_remainder=True,
            ).repeat()
            pipeline_step, pipeline_cpu = _timed_fit(model, streamed, steps, warmup)
            with tempfile.TemporaryDirectory() as cache:
                from_cache = pipeline.make_dataset(
                    images, ids, labels, crop=config.crop, image_size=config.image_size, batch_size=batch_size,
                    shuffle=True, seed=0, augment=augment.make_augmenter(config), drop_remainder=True,
                    cache_dir=cache,
                ).repeat()
                cache_step, cache_cpu = _timed_fit(model, from_cache, steps, warmup)
            result = {
                **_model_keys(args),
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                "threads": args.threads,
                "deterministic": args.deterministic,
                "side": side,
                "batch_size": batch_size,
                "precision": precision,
                "steps": steps,
                "cached_images_per_s": batch_size / cached_step,
                "pipeline_images_per_s": batch_size / pipeline_step,
                "input_wait": 1 - cached_step / pipeline_step,
                "crop_cache_images_per_s": batch_size / cache_step,
                "crop_cache_input_wait": 1 - cached_step / cache_step,
                "cached_cpu_ms_per_image": 1000 * cached_cpu / batch_size,
                "pipeline_cpu_ms_per_image": 1000 * pipeline_cpu / batch_size,
                "crop_cache_cpu_ms_per_image": 1000 * cache_cpu / batch_size,
                "load_average": os.getloadavg()[0],
            }
            print("RESULT " + json.dumps(result), flush=True)


def _model_keys(args: argparse.Namespace) -> dict[str, object]:
    """The model's config keys: ``model``, and for ``vgg6_views`` its ``views`` and ``views_combine``."""
    if args.model == "vgg6_views":
        return {"model": args.model, "views": args.views, "views_combine": args.views_combine}
    return {"model": args.model}


def _print_precision_speedups(results: list[dict]) -> None:
    """Each non-float32 row's images/s as a multiple of the float32 row of the same setting."""
    same = ("side", "batch_size", "onednn", "threads", "deterministic")
    reference = {tuple(r[k] for k in same): r for r in results if r["precision"] == "float32"}
    for r in results:
        base = reference.get(tuple(r[k] for k in same))
        if r["precision"] == "float32" or base is None:
            continue
        print(
            f"{r['precision']} at {r['side']}px batch {r['batch_size']}: "
            f"x{r['cached_images_per_s'] / base['cached_images_per_s']:.2f} cached, "
            f"x{r['pipeline_images_per_s'] / base['pipeline_images_per_s']:.2f} pipeline images/s of float32"
        )


def _settle(args: argparse.Namespace) -> argparse.Namespace:
    """Apply ``--quick``'s presets and the oneDNN default (in place; returns ``args``)."""
    if args.quick:
        args.batch_sizes, args.images_per_run = [64, 256], 512
    args.onednn = args.onednn or ("on" if args.quick else "both")
    return args


def main(argv: list[str] | None = None) -> None:
    from galaxy_lib.config import CHOICES  # (not at the top: measuring processes stay lean)

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_SAMPLE, help="Kaggle-layout data set or image folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 69], choices=sorted(GEOMETRY))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--onednn", choices=["on", "off", "both"], help="default: both (--quick: on)")
    parser.add_argument("--threads", type=int, nargs="+", default=[0], help="intra-op threads (0 = TF default)")
    parser.add_argument("--deterministic", choices=["on", "off", "both"], default="on")
    parser.add_argument("--images-per-run", type=int, default=1536, help="images timed per measurement")
    parser.add_argument("--head", default="tree")
    parser.add_argument("--loss", default="mse")
    parser.add_argument("--model", choices=["vgg6", "vgg6_views"], default="vgg6",
                        help="vgg6_views: one image costs about `views` VGG6 bodies (Dieleman's viewpoint pooling)")
    parser.add_argument("--views", type=int, choices=[4, 8, 16], default=8, help="views of vgg6_views")
    parser.add_argument("--views-combine", choices=["mean", "concat"], default="mean", help="vgg6_views' combination")
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=list(CHOICES["precision"]),
                        help="Keras precision policies to measure, each at every size and batch size (default float32)")
    parser.add_argument("--no-augment", dest="augment", action="store_false", help="pipeline without augmentation")
    parser.add_argument("--quick", action="store_true", help="batch 64 and 256, 512 images each, oneDNN on only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)
    if args.child:
        args.threads = args.threads[0]
        args.deterministic = args.deterministic == "on"
        child(args)
        return
    _settle(args)
    calibration.calibrate()  # this machine's model-alone speed, stored with the result (calibration.py)

    with tempfile.TemporaryDirectory() as tmp:
        shown = results_store.display_path(args.data)
        if (args.data / "images_training_rev1").is_dir():
            images, source = args.data / "images_training_rev1", f"real images from {shown}"
        elif args.data.is_dir() and any(args.data.glob("*.jpg")):
            images, source = args.data, f"images from {shown}"
        else:
            images, source = generate_jpegs(Path(tmp)), "400 synthetic-sky JPEGs (real sample not found)"
        onednn = {"on": ["1"], "off": ["0"], "both": ["1", "0"]}[args.onednn]
        deterministic = {"on": ["on"], "off": ["off"], "both": ["on", "off"]}[args.deterministic]
        model = " ".join(f"{key} {value}" for key, value in _model_keys(args).items())
        print(f"{model} training speed on {os.cpu_count()} CPU cores; {source}")
        print(f"head {args.head}, loss {args.loss}, augmentation {'on' if args.augment else 'off'} in the pipeline")
        results = []
        for flag in onednn:
            for threads in args.threads:
                for det in deterministic:
                    command = [
                        sys.executable, __file__, "--child", "--images", str(images),
                        "--sizes", *map(str, args.sizes), "--batch-sizes", *map(str, args.batch_sizes),
                        "--threads", str(threads), "--deterministic", det,
                        "--images-per-run", str(args.images_per_run), "--head", args.head, "--loss", args.loss,
                        "--model", args.model, "--views", str(args.views), "--views-combine", args.views_combine,
                        "--precision", *args.precision,
                    ]
                    if not args.augment:
                        command.append("--no-augment")
                    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": flag, "TF_CPP_MIN_LOG_LEVEL": "2"}
                    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        sys.exit(f"child failed (oneDNN {flag}, threads {threads}):\n{done.stderr[-3000:]}")
                    for line in done.stdout.splitlines():
                        if line.startswith("RESULT "):
                            results.append(json.loads(line[7:]))
                            r = results[-1]
                            print(
                                f"  {r['side']:>3}px batch {r['batch_size']:>3} {r['precision']:>14}"
                                f"  oneDNN {'on ' if flag == '1' else 'off'}"
                                f"  threads {threads or 'default':>7}  determinism {det:>3}:"
                                f"  cached {r['cached_images_per_s']:6.1f} img/s"
                                f"  pipeline {r['pipeline_images_per_s']:6.1f} img/s"
                                f" (input wait {100 * r['input_wait']:5.1f}%)"
                                f"  crop cache {r['crop_cache_images_per_s']:6.1f} img/s"
                                f" (input wait {100 * r['crop_cache_input_wait']:5.1f}%)"
                                f"  CPU ms/image {r['cached_cpu_ms_per_image']:.1f} / "
                                f"{r['pipeline_cpu_ms_per_image']:.1f} / {r['crop_cache_cpu_ms_per_image']:.1f}"
                                f"  load {r['load_average']:.1f}",
                                flush=True,
                            )
        best = {}
        for r in results:
            key = (r["side"], r["precision"])
            if key not in best or r["pipeline_images_per_s"] > best[key]["pipeline_images_per_s"]:
                best[key] = r
        for (side, precision), r in sorted(best.items(), key=lambda item: (-item[0][0], item[0][1])):
            print(
                f"fastest at {side}px in {precision}: {r['pipeline_images_per_s']:.1f} img/s with batch "
                f"{r['batch_size']}, oneDNN {'on' if r['onednn'] == '1' else 'off'}, "
                f"threads {r['threads'] or 'default'}"
            )
        _print_precision_speedups(results)
        setup = {
            "data": source,
            "sizes": {side: GEOMETRY[side] for side in args.sizes},
            "batch_sizes": args.batch_sizes,
            "onednn": args.onednn,
            "threads": args.threads,
            "deterministic": args.deterministic,
            "images_per_run": args.images_per_run,
            "head": args.head,
            "loss": args.loss,
            "precision": args.precision,
            **_model_keys(args),
            "augment": args.augment,
            "quick": args.quick,
        }
        loads = [r["load_average"] for r in results]
        spread = f"{min(loads):.1f}-{max(loads):.1f}" if loads and min(loads) != max(loads) else None
        machine = results_store.machine_record(load_average=spread or (round(loads[0], 2) if loads else None))
        default = _settle(parser.parse_args(["--quick"] if args.quick else []))  # unnamed settings: the defaults
        name = "train-" + (args.label or results_store.label(
            "quick" if args.quick else "grid",
            *(f"{key}={'+'.join(map(str, value)) if isinstance(value, list) else value}"
              for key in ("sizes", "batch_sizes", "onednn", "threads", "deterministic", "images_per_run", "augment",
                          "precision")
              if (value := getattr(args, key)) != getattr(default, key)),
            # the model always, when it is not VGG6: vgg6_views-8 and vgg6_views-4 are different files
            *([f"{args.model}-{args.views}" + ("-concat" if args.views_combine == "concat" else "")]
              if args.model == "vgg6_views" else []),
        ))
        results_store.write_result(name, results_store.command_line(__file__, argv), setup, {"rows": results},
                                   results_dir=args.results_dir, machine=machine)


if __name__ == "__main__":
    main()
