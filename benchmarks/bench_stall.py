"""The "10.3-second epochs", reproduced without a model: destroying an autotuned tf.data iterator.

Keras makes a fresh iterator for every ``fit`` (every epoch of ``galaxy_lib.model.train``) and
every ``evaluate``, and destroys it when the epoch ends. With tf.data's autotuning on, each
iterator runs an optimisation thread that sleeps 10 ms, 20 ms, 40 ms ... between rounds;
destroying the iterator sometimes waits for that thread's next wake-up. An epoch then ends at
10 x (2^k - 1) ms after its iterator started: 2.55, 5.11, 10.23 s, whatever its compute took.

Here a trivial pipeline (``range -> map -> prefetch``, parallelism AUTOTUNE) is consumed in
about ``--work`` seconds by a consumer that only sleeps (so the figures do not depend on the
CPU or on what else runs), then its iterator is deleted and the deletion is timed; the same with
``options.autotune.enabled = False``, as :func:`galaxy_lib.data.pipeline.fixed_parallelism`
sets. A deletion over 0.5 s counts as a stall.

Usage::

    python benchmarks/bench_stall.py                # --work 1.5 6 --epochs 8 (about 4 minutes)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import results_store

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
STALL_SECONDS = 0.5


def one_epoch(tf: Any, autotune: bool, work: float, elements: int = 40) -> dict[str, float]:
    """Consume one fresh iterator in about ``work`` seconds; time the consumption and the deletion."""
    ds = tf.data.Dataset.range(elements).map(lambda i: i * 2, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    if not autotune:
        options = tf.data.Options()
        options.autotune.enabled = False
        ds = ds.with_options(options)
    started = time.monotonic()
    iterator = iter(ds)
    for _ in iterator:
        time.sleep(work / elements)
    consumed = time.monotonic()
    del iterator
    deleted = time.monotonic()
    return {"iterate_s": round(consumed - started, 3), "delete_s": round(deleted - consumed, 3),
            "total_s": round(deleted - started, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=float, nargs="+", default=[1.5, 6.0], help="seconds of consumption per epoch")
    parser.add_argument("--epochs", type=int, default=8, help="iterators per setting")
    results_store.add_result_arguments(parser)
    args = parser.parse_args(argv)
    from galaxy_lib.tf_setup import import_tensorflow

    tf = import_tensorflow()
    rows = []
    for work in args.work:
        for autotune in (True, False):
            epochs = [one_epoch(tf, autotune, work) for _ in range(args.epochs)]
            stalls = [e for e in epochs if e["delete_s"] > STALL_SECONDS]
            row = {
                "autotune": autotune, "work_s": work, "epochs": len(epochs), "stalled": len(stalls),
                "stalled_totals_s": [e["total_s"] for e in stalls],
                "max_delete_s": max(e["delete_s"] for e in epochs), "per_epoch": epochs,
            }
            rows.append(row)
            print(f"autotune {'on ' if autotune else 'off'}  work {work:4.1f} s: {len(stalls)} of {len(epochs)} "
                  f"iterator deletions waited (epochs ended at {row['stalled_totals_s'] or '-'} s); "
                  f"longest deletion {row['max_delete_s']:.3f} s", flush=True)
    results_store.write_result(
        f"stall-{args.label or 'iterator'}",
        results_store.command_line(__file__, sys.argv[1:] if argv is None else argv),
        {"work_s": args.work, "epochs": args.epochs, "stall_seconds": STALL_SECONDS,
         "pipeline": "range(40) -> map(AUTOTUNE) -> prefetch(AUTOTUNE), consumer sleeps"},
        {"rows": rows},
        results_dir=args.results_dir,
    )


if __name__ == "__main__":
    main()
