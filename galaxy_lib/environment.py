"""What a run ran on: package versions, devices, threads and the settings that change numbers.

Every run folder gets an ``environment.json`` so that a figure can be traced to the
software and hardware that produced it (oneDNN and thread counts change floating-point
results on CPU; a GPU changes them again). Reports show the same record. Package versions
come from ``importlib.metadata`` so asking for them does not import TensorFlow; devices and
TensorFlow's thread settings are read only when TensorFlow is already loaded or asked for.
GPU names come from TensorFlow when it is in the record, else from ``nvidia-smi`` when the
machine has it (:func:`gpu_fields`), so a record made without TensorFlow still names the GPU.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from galaxy_lib.paths import atomic_write_json

PACKAGES = (
    "galaxy-lib",
    "tensorflow",
    "keras",
    "numpy",
    "pandas",
    "opencv-python-headless",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbconvert",
    "pyyaml",
    "tqdm",
)
ENV_VARIABLES = (
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_CPP_MIN_LOG_LEVEL",
    "TF_DETERMINISTIC_OPS",
    "TF_CONFIG",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(folder: Path | None = None) -> str | None:
    """The project's git commit (with ``+dirty`` when files changed), or None outside git."""
    folder = folder or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def tensorflow_record() -> dict[str, Any]:
    """Devices, thread settings and determinism as TensorFlow sees them (imports TensorFlow)."""
    from galaxy_lib.tf_setup import import_tensorflow

    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    details = []
    for gpu in gpus:
        try:
            details.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        except (ValueError, RuntimeError):  # pragma: no cover - depends on the driver
            details.append(gpu.name)
    try:  # no public getter exists; this is the one enable_op_determinism() sets
        from tensorflow.python.framework import config as tf_config

        deterministic: bool | None = bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):  # pragma: no cover - other TensorFlow versions
        deterministic = None
    return {
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
        "gpus": details,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "op_determinism": deterministic,
        "built_with_cuda": tf.test.is_built_with_cuda(),
    }


def nvidia_smi_gpus(timeout: float = 10.0) -> list[str]:
    """The names of the GPUs ``nvidia-smi`` lists, one per GPU, without importing TensorFlow.

    Empty where there is no ``nvidia-smi`` (no NVIDIA driver), and also when it fails, hangs
    past ``timeout`` seconds or prints nothing: a record is never worth a failed run.
    """
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        done = subprocess.run(
            [executable, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def gpu_fields(tensorflow_gpus: list[str] | None) -> dict[str, Any]:
    """The record's ``gpus`` (names, ``[]`` for none: what the report index shows as the device)
    and ``gpu`` (one line for people, ``"none"`` without a GPU).

    ``tensorflow_gpus``: the GPUs TensorFlow sees when the record includes its view, else None.
    With TensorFlow's view ``gpus`` are the GPUs the run could use; when TensorFlow sees none,
    ``nvidia-smi`` is asked as well, so that a GPU TensorFlow cannot use (a CPU-only TensorFlow, a
    missing CUDA library) is named rather than silently missing. Without TensorFlow's view ``gpus``
    are the GPUs ``nvidia-smi`` lists.
    """
    if tensorflow_gpus:
        return {"gpus": list(tensorflow_gpus), "gpu": f"{', '.join(tensorflow_gpus)} (seen by TensorFlow)"}
    listed = nvidia_smi_gpus()
    if tensorflow_gpus is not None:
        text = f"none seen by TensorFlow; nvidia-smi lists {', '.join(listed)}" if listed else "none"
        return {"gpus": [], "gpu": text}
    if listed:
        return {"gpus": listed, "gpu": f"{', '.join(listed)} (nvidia-smi)"}
    return {"gpus": [], "gpu": "none"}


CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
"""CPU features that decide which fast kernels oneDNN can use (bfloat16 needs avx512_bf16 or AMX)."""


def _cpuinfo_field(name: str) -> str | None:
    """The first ``name : value`` line of ``/proc/cpuinfo`` (Linux), else None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name, which ``platform.processor()`` leaves empty on Linux."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """Which of :data:`CPU_FLAGS` this CPU has (empty where ``/proc/cpuinfo`` does not exist)."""
    present = set((_cpuinfo_field("flags") or "").split())
    return [flag for flag in CPU_FLAGS if flag in present]


def environment_record(include_tensorflow: bool | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-ready description of this machine and software.

    ``include_tensorflow``: add :func:`tensorflow_record` (None = only when TensorFlow is
    already imported, so callers that never touched it stay quick). ``gpus`` and ``gpu`` name
    the GPUs, or say there are none (:func:`gpu_fields`).
    """
    if include_tensorflow is None:
        include_tensorflow = "tensorflow" in sys.modules
    record: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "packages": package_versions(),
        "environment_variables": {k: os.environ.get(k) for k in ENV_VARIABLES},
        "git_commit": git_commit(),
    }
    if include_tensorflow:
        record["tensorflow"] = tensorflow_record()
    record.update(gpu_fields(record["tensorflow"]["gpus"] if include_tensorflow else None))
    if extra:
        record.update(extra)
    return record


def write_environment(path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write :func:`environment_record` (with TensorFlow's view) as JSON, atomically."""
    path = Path(path)
    atomic_write_json(path, environment_record(include_tensorflow=True, extra=extra))
    return path
