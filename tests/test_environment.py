"""The environment record: what every run, report and benchmark says about its machine."""

from __future__ import annotations

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
