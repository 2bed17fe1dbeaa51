"""Which machine a figure came from: a model-alone speed, measured at the start of a benchmark.

A result's CPU model names a family, not a machine. The stored results show 2-core "AMD EPYC"
figures from three platform strings (``...-fc-v657-...``, ``-fc-v1272-``, ``-fc-v1300-``), and
the same ``fc-v1300`` under an Intel Xeon too, so neither the CPU name nor the platform string
alone says two figures came from machines of one speed; the epoch counts of 20-minute runs and
the epoch times of ``bench_epoch`` were nevertheless compared as if they had (issue 30). So every
benchmark whose figures depend on the machine's speed measures, before its own work, how fast
this machine trains the default model, and stores it with the machine record as
``machine["model_img_s"]``: two figures are compared only when they come from one host (same CPU
model and platform, and model-alone speeds within :data:`galaxy_lib.results.SAME_HOST_RATIO`; the
comparison itself is :func:`galaxy_lib.results.same_host`, the one reader's).

**What is measured.** The training step of ``parameters/default.yaml``'s model (the VGG6 of
``improved.yaml``: 69x69 input, batch 64, float32, tree head, MSE) on one random in-memory batch
repeated :data:`STEPS` times, in a fresh process, timed three times after one warm-up pass; the
median, in images/s. No input pipeline, no disk, no validation: only the machine and TensorFlow.
It is ``bench_epoch``'s model-alone figure (:data:`MODEL_ALONE_SCRIPT`, the same code), at the
default configuration instead of the benchmark's own.

**What it costs.** One process: importing TensorFlow, building and tracing the model, four passes
of 1,280 images, about 10 s on 2 cores. Benchmarks that train or time the model call
:func:`calibrate` first (``bench_quality``, ``bench_curve``, ``bench_ensemble``, ``bench_epoch``,
``bench_train``, ``bench_input``, ``bench_compare``, ``bench_report``, ``bench_scale``,
``bench_class``, ``bench_tests``: minutes to hours each, so 10 s is a few per cent at most).
``bench_synth`` (the sky generator's speed, NumPy and Pillow), ``bench_baselines`` (no speed
figure) and ``bench_stall`` (a consumer that only sleeps: its figures hold on any CPU) do not,
so their results carry no ``model_img_s``.

**How noisy.** With tf.data's autotuning off (as the project's pipeline has it), five calibrations
in a row on one idle 2-core AMD EPYC host gave 813-889 img/s. Before that was set, the autotune stall
(an iterator's destruction waiting 2.55 s for its optimisation thread) hit one, two or none of the
three passes, and the same host read 503, 738, 853 and 854 img/s: a difference up to
:data:`galaxy_lib.results.SAME_HOST_RATIO` (1.5x) is still not taken as evidence of another machine.

``GALAXY_CALIBRATION=off`` skips the measurement (``model_img_s`` is then ``None``: measured by
nobody, said so): the test suite sets it, since its benchmark runs are about the code, not the
machine. Standard library only at the top, like ``results_store``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG_FILE = "parameters/default.yaml"  # the model every benchmark calibrates with, whatever it measures
STEPS = 20  # steps of one timed pass: 1,280 images at batch 64, about a second on 2 cores
OFF = "GALAXY_CALIBRATION"  # environment variable: "off" skips the measurement

# A fresh process that times the configured model's training step on one random in-memory batch:
# argv = config file, steps, KEY=VALUE overrides. It must run on older checkouts too (bench_epoch's
# --src before=/tmp/before), hence the fallback import.
MODEL_ALONE_SCRIPT = r"""
import json, sys, time
from galaxy_lib.config import load_config
from galaxy_lib.model import network, train
from galaxy_lib.tf_setup import import_tensorflow
try:
    from galaxy_lib.tf_setup import configure_threads
except ImportError:  # a checkout from before the threads moved there
    configure_threads = train.configure_threads
tf = import_tensorflow()
config = load_config(sys.argv[1], sys.argv[3:])
configure_threads(config.threads)
steps = int(sys.argv[2])
with train.precision_policy(config.precision):
    tf.keras.utils.set_random_seed(config.seed)
    model = network.build_model(config)
    train.compile_model(model, config)
side = config.input_size
x = tf.random.stateless_uniform([config.batch_size, side, side, 3], seed=[1, 2])
y = tf.random.stateless_uniform([config.batch_size, 37], seed=[3, 4])
# autotuning off, as the project's pipeline has it: destroying an autotuned iterator (fit does, at the
# end of every pass) can wait 2.55 s for its optimisation thread, which turned 1.5 s passes into 2.55 s
# ones in two of three passes and halved the figure (galaxy_lib/data/pipeline.py, fixed_parallelism)
options = tf.data.Options()
options.autotune.enabled = False
ds = tf.data.Dataset.from_tensors((x, y)).repeat(steps).with_options(options)
model.fit(ds, epochs=1, verbose=0)  # trace and warm up
times = []
for _ in range(3):
    tick = time.monotonic()
    model.fit(ds, epochs=1, verbose=0)
    times.append(time.monotonic() - tick)
print(json.dumps({"images_per_s": config.batch_size * steps / sorted(times)[1], "seconds": times}))
"""

_measured: dict[str, float | None] = {}  # this process's calibration, once measured (or skipped)


def model_alone(config_file: str | os.PathLike[str], steps: int, overrides: list[str] | None = None, *,
                src: Path = REPO, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run :data:`MODEL_ALONE_SCRIPT` in a fresh process from the checkout ``src`` and return its
    ``{"images_per_s", "seconds"}``. A fresh process, so the benchmark's own TensorFlow state (threads,
    precision policy, memory) neither helps nor hinders it. A failure is a ``SystemExit`` naming it,
    with the child's last lines: a model that cannot train here would fail the benchmark anyway."""
    child_env = {**os.environ, "PYTHONPATH": str(src), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", MODEL_ALONE_SCRIPT, str(config_file), str(steps), *(overrides or [])],
        cwd=src, env=child_env, capture_output=True, text=True,
    )
    if done.returncode != 0:
        shown = Path(config_file).resolve()
        shown = shown.relative_to(REPO) if shown.is_relative_to(REPO) else shown
        raise SystemExit(f"model-alone timing of {shown} failed (the child's last lines follow):\n"
                         f"{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def calibrate() -> float | None:
    """Measure this machine's model-alone speed once per process (images/s of :data:`CONFIG_FILE`'s
    training step, :data:`STEPS` steps) and keep it for :func:`recorded`; ``None`` when
    ``GALAXY_CALIBRATION=off``. Call it first in a benchmark's ``main``, before the benchmark loads the
    machine, so the figure describes the machine rather than the benchmark's own load."""
    if "model_img_s" not in _measured:
        if os.environ.get(OFF, "").lower() == "off":
            _measured["model_img_s"] = None
        else:
            print(f"calibration: model-alone speed of {CONFIG_FILE} ({STEPS} steps a pass) ...", flush=True)
            speed = model_alone(REPO / CONFIG_FILE, STEPS)["images_per_s"]
            _measured["model_img_s"] = round(float(speed), 1)
            print(f"calibration: {_measured['model_img_s']:,.0f} img/s model alone", flush=True)
    return _measured["model_img_s"]


def forget() -> None:
    """Drop this process's calibration, so the next :func:`calibrate` measures again: for a process
    that runs several benchmarks on purpose at different times (and for tests)."""
    _measured.clear()


def recorded() -> dict[str, float | None]:
    """``{"model_img_s": ...}`` when this process calibrated (or skipped it), else ``{}``: the keys
    ``results_store.machine_record`` adds, so a benchmark that never calibrates stores no such key
    (absent: not a speed benchmark, or measured before issue 30; ``None``: skipped on purpose)."""
    return dict(_measured)


__all__ = ["CONFIG_FILE", "MODEL_ALONE_SCRIPT", "OFF", "STEPS", "calibrate", "forget",
           "model_alone", "recorded"]
