"""The environment record: what every run, report and benchmark says about its machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from galaxy_lib import environment


def test_record_names_the_cpu_and_its_relevant_flags():
    record = environment.environment_record(include_tensorflow=False)
    assert isinstance(record["cpu_model"], str) and record["cpu_model"]
    assert set(record["cpu_flags"]) <= set(environment.CPU_FLAGS)
    assert record["cpu_flags"] == [f for f in environment.CPU_FLAGS if f in record["cpu_flags"]]  # stable order


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="needs Linux /proc/cpuinfo")
def test_cpu_flags_agree_with_proc_cpuinfo():
    text = Path("/proc/cpuinfo").read_text()
    flags = next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split()
    assert environment.cpu_flags() == [f for f in environment.CPU_FLAGS if f in flags]
    model = next(line for line in text.splitlines() if line.startswith("model name")).split(":", 1)[1].strip()
    assert environment.cpu_model() == model


class FakeNvidiaSmi:
    """``subprocess.run`` as seen by :mod:`galaxy_lib.environment`: answers the ``nvidia-smi``
    query with ``stdout`` (or raises ``error``) and passes every other command (git) through."""

    def __init__(self, stdout: str = "", returncode: int = 0, error: Exception | None = None) -> None:
        self.stdout, self.returncode, self.error, self.calls = stdout, returncode, error, []
        self.real = subprocess.run

    def __call__(self, args, *rest, **kwargs):
        if not str(args[0]).endswith("nvidia-smi"):
            return self.real(args, *rest, **kwargs)
        self.calls.append(list(args))
        if self.error is not None:
            raise self.error
        return subprocess.CompletedProcess(args, self.returncode, self.stdout, "")


@pytest.fixture
def smi(monkeypatch):
    """Install a fake ``nvidia-smi`` (on the PATH, answering via :class:`FakeNvidiaSmi`); returns it."""
    fake = FakeNvidiaSmi()
    monkeypatch.setattr(environment.shutil, "which", lambda name: f"/usr/bin/{name}" if name == "nvidia-smi" else None)
    monkeypatch.setattr(environment.subprocess, "run", fake)
    return fake


def test_record_names_the_gpus_nvidia_smi_lists_without_tensorflow(smi):
    smi.stdout = "NVIDIA H100 80GB HBM3\nNVIDIA H100 80GB HBM3\n\n"
    record = environment.environment_record(include_tensorflow=False)
    assert record["gpus"] == ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"]
    assert record["gpu"] == "NVIDIA H100 80GB HBM3, NVIDIA H100 80GB HBM3 (nvidia-smi)"
    assert smi.calls == [["/usr/bin/nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]]
    assert "tensorflow" not in record  # asking nvidia-smi does not need TensorFlow
    from galaxy_lib.report.index import device_text

    assert device_text(record).startswith("NVIDIA H100 80GB HBM3, ")


def test_record_says_none_without_a_gpu(monkeypatch):
    monkeypatch.setattr(environment.shutil, "which", lambda name: None)
    record = environment.environment_record(include_tensorflow=False)
    assert record["gpus"] == [] and record["gpu"] == "none"


@pytest.mark.parametrize("broken", [
    FakeNvidiaSmi(returncode=9, stdout="NVIDIA-SMI has failed because it couldn't communicate with the driver"),
    FakeNvidiaSmi(error=subprocess.TimeoutExpired("nvidia-smi", 10)),
    FakeNvidiaSmi(error=PermissionError(13, "Permission denied")),
])
def test_a_failing_nvidia_smi_means_no_gpu_not_a_failed_record(monkeypatch, broken):
    monkeypatch.setattr(environment.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(environment.subprocess, "run", broken)
    assert environment.nvidia_smi_gpus() == []
    assert environment.environment_record(include_tensorflow=False)["gpu"] == "none"


def test_with_tensorflow_the_gpus_it_uses_are_named_and_an_unused_one_is_flagged(smi, monkeypatch):
    view = {"gpus": ["NVIDIA A100-SXM4-40GB"], "logical_devices": []}
    monkeypatch.setattr(environment, "tensorflow_record", lambda: view)
    smi.stdout = "NVIDIA A100-SXM4-40GB\n"
    record = environment.environment_record(include_tensorflow=True)
    assert record["gpus"] == ["NVIDIA A100-SXM4-40GB"] and record["gpu"] == "NVIDIA A100-SXM4-40GB (seen by TensorFlow)"
    assert smi.calls == []  # TensorFlow's view suffices: no nvidia-smi process
    view["gpus"] = []  # e.g. a CPU-only TensorFlow on a GPU machine: the run used none, the machine has one
    record = environment.environment_record(include_tensorflow=True)
    assert record["gpus"] == [] and record["gpu"] == "none seen by TensorFlow; nvidia-smi lists NVIDIA A100-SXM4-40GB"
