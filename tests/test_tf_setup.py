"""Threads sized to what the process may use, not to the host's core count."""

from __future__ import annotations

import os

from galaxy_lib import tf_setup


def test_usable_cores_follow_the_cgroup_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert tf_setup.usable_cores(tmp_path) == 8  # no cgroup file: the affinity
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs
    assert tf_setup.usable_cores(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert tf_setup.usable_cores(tmp_path) == 8
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")  # cgroup v1: 3 CPUs
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert tf_setup.usable_cores(tmp_path) == 3
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # v1 without a quota
    assert tf_setup.usable_cores(tmp_path) == 8


def test_usable_cores_follow_the_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    assert tf_setup.usable_cores(tmp_path) == 1
