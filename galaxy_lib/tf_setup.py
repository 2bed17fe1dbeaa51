"""Import TensorFlow once, quietly and with sensible defaults, and size its threads to the machine.

TensorFlow reads a few environment variables only at import time, so every module that needs
it goes through :func:`import_tensorflow` instead of ``import tensorflow`` directly. The
defaults silence the C++ start-up chatter (warnings and errors still show) and keep oneDNN's
fast CPU kernels on; a user who sets either variable keeps their own value.

Threads: TensorFlow sizes its pools from the machine's core count, which inside a container
is often the host's, not the cores the process may use. :func:`usable_cores` reads what the
process is really given (CPU affinity and the cgroup's CPU quota), and :func:`configure_threads`
sizes the intra-op pool to it (see the README's training-speed page for the measured choice).
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path
from types import ModuleType


def import_tensorflow() -> ModuleType:
    """Return the ``tensorflow`` module, setting quiet defaults before its first import."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    import tensorflow as tf

    return tf


def _cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup's quota (v2 ``cpu.max``, else v1 ``cfs_quota_us / cfs_period_us``),
    or None when there is no quota (or no cgroup file to read)."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (rounded up,
    at least 1). ``os.cpu_count()`` alone counts the host's cores in a container."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


def configure_threads(threads: int = 0) -> int:
    """Size TensorFlow's intra-op pool to ``threads`` (0 = :func:`usable_cores`) and return it.

    TensorFlow fixes its thread pools when it first runs an op; a later, different request is
    reported as a warning rather than silently ignored. The inter-op pool is left at
    TensorFlow's default: a sequential CNN runs one op at a time (measured in
    ``benchmarks/bench_epoch.py --threads``).
    """
    tf = import_tensorflow()
    wanted = threads if threads > 0 else usable_cores()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(wanted)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if threads > 0 and current != threads:
            warnings.warn(
                f"threads={threads} ignored: TensorFlow already started with {current or 'default'} intra-op threads "
                "(set it before TensorFlow runs anything, e.g. in a fresh process)",
                stacklevel=2,
            )
        return current or wanted
    return wanted


@functools.cache  # read once per process: every epoch's pipeline asks
def data_threads() -> int:
    """Threads for tf.data's map calls: the usable cores (fixed, not autotuned: see
    :mod:`galaxy_lib.data.pipeline` for why autotuning is off)."""
    return usable_cores()
