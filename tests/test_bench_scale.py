"""benchmarks/bench_scale.py, the full-size rehearsal (issue 12): its memory sampling counts the whole
process tree, its checks compare with a smaller stored chain, and (slow) the whole chain runs from a
tiny zipped sky and stores seconds and peak RSS for every stage."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_scale  # noqa: E402
import results_store  # noqa: E402

MB = 2**20


@pytest.mark.slow  # its grandchildren live 2 s so that the sampler sees them together
def test_peak_memory_is_summed_over_the_whole_process_tree(tmp_path, capsys):
    """Two grandchildren of 150 MB each, alive together: the tree's peak counts both (and the
    processes between), while the largest single process stays near 150 MB."""
    grandchild = "import time; block = b'x' * (150 * 2**20); time.sleep(2.0)"
    child = textwrap.dedent(f"""
        import subprocess, sys
        kids = [subprocess.Popen([sys.executable, "-c", {grandchild!r}]) for _ in range(2)]
        print("children started", flush=True)
        sys.exit(max(k.wait() for k in kids))
    """)
    figures = bench_scale.run_stage("demo", [sys.executable, "-c", child], tmp_path / "logs" / "demo.log", 0.1)
    assert figures["exit_status"] == 0 and figures["seconds"] >= 2.0 and figures["samples"] >= 10
    assert 150 <= figures["largest_process_mb"] < 250
    assert figures["peak_rss_mb"] >= 300
    assert "children started" in (tmp_path / "logs" / "demo.log").read_text()  # kept in the log ...
    assert "children started" in capsys.readouterr().out  # ... and shown as it ran


def test_a_failing_stage_reports_its_exit_status(tmp_path):
    figures = bench_scale.run_stage("bad", [sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "bad.log")
    assert figures["exit_status"] == 3


def test_flat_memory_is_the_ratio_to_the_stored_smaller_chain():
    stages = {"generate": {"reused": True}, "check-data": {"peak_rss_mb": 600.0}, "train": {"peak_rss_mb": 2400.0}}
    small = {"name": "scale-n6000", "setup": {"n": 6000},
             "figures": {"stages": {"check-data": {"peak_rss_mb": 500.0}, "train": {"peak_rss_mb": 2300.0}}}}
    result = bench_scale.compare(stages, small, 1.2)
    assert result["ratios"] == {"check-data": 1.2, "train": pytest.approx(1.043, abs=1e-3)}
    assert result["within_limit"] and result["with"] == "scale-n6000" and result["n"] == 6000
    stages["check-data"]["peak_rss_mb"] = 601.0
    assert not bench_scale.compare(stages, small, 1.2)["within_limit"]
    assert bench_scale.compare(stages, None, 1.2) == {}


def test_the_work_folder_is_cleared_only_when_it_is_the_benchmarks(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    assert "not made by bench_scale" in bench_scale.prepare_work(foreign)
    assert (foreign / "thesis.tex").read_text() == "keep me"
    own = tmp_path / "work"
    assert bench_scale.prepare_work(own) is None
    (own / "old.log").write_text("from the last run")
    assert bench_scale.prepare_work(own) is None and [p.name for p in own.iterdir()] == [bench_scale.MARKER]


def test_a_reused_set_must_be_the_one_asked_for(tmp_path):
    (tmp_path / "metadata.json").write_text(json.dumps({"n_train": 60, "n_test": 12, "seed": 0}))
    assert bench_scale.check_reused_set(tmp_path, 60, 12, 0) is None
    assert "holds n=60, test-n=12, seed=0, not n=60, test-n=12, seed=1" in bench_scale.check_reused_set(
        tmp_path, 60, 12, 1)
    assert "no metadata.json" in bench_scale.check_reused_set(tmp_path / "other", 60, 12, 0)


@pytest.mark.slow  # generates, trains, evaluates and predicts, each stage a process: half a minute on 2 cores
@pytest.mark.bench  # `make test-bench`
def test_the_whole_chain_runs_from_a_tiny_zipped_sky(tmp_path, capsys):
    """Every stage but the report (the report's own end-to-end test is the smoke report's, conftest),
    each in its own process with its time, memory and log."""
    data, work, results = tmp_path / "data", tmp_path / "work", tmp_path / "results"
    argv = ["--n", "60", "--test-n", "12", "--epochs", "1", "--data", str(data), "--work", str(work),
            "--set", "image_size=32", "--set", "second_pool=2", "--set", "batch_size=16", "--set", "bootstrap=20",
            "--no-report", "--results-dir", str(results), "--label", "tiny"]
    assert bench_scale.main(argv) == 0
    assert sorted(p.name for p in data.iterdir()) == sorted(
        [bench_scale.TRAIN_ZIP, bench_scale.TEST_ZIP, bench_scale.LABELS_ZIP, "truth.csv", "metadata.json"])
    record = results_store.load_results(results)["scale-tiny"]
    stages = record["figures"]["stages"]
    assert list(stages) == [s for s in bench_scale.STAGES if s != "report"] and not record["setup"]["report_stage"]
    for name, figures in stages.items():
        assert figures["seconds"] > 0 and figures["peak_rss_mb"] > 0 and figures["exit_status"] == 0, name
        assert (work / "logs" / f"{name}.log").is_file(), name
    assert stages["train"]["peak_rss_mb"] > 200  # TensorFlow alone is more than that
    figures = record["figures"]
    assert len(figures["epoch_seconds"]) == 1 and figures["epoch_seconds_last"] > 0
    assert figures["paper_50_epochs_hours"] == pytest.approx(figures["epoch_seconds_last"] * 50 / 3600, abs=0.01)
    assert figures["disk"]["data_mb"] > 1 and figures["disk"]["run_mb"] > 0 and figures["disk"]["reports_mb"] == 0
    assert list(figures["checks"]) == ["peak RSS <= 3000 MB at every stage"] and figures["comparison"] == {}
    assert record["setup"]["split"] == {"train": 42, "val": 6, "test": 12} and record["setup"]["data_generated"]
    submission = (work / "submission.csv").read_text().splitlines()
    assert submission[0].startswith("GalaxyID,Class1.1") and len(submission) == 13
    assert not (work / "reports").exists()
    out = capsys.readouterr().out
    assert "peak RSS MB" in out and "the paper's 50 epochs take" in out
    # a complete set of another seed is not reused as if it were the one asked for
    assert bench_scale.main([*argv[:-4], "--seed", "1", "--results-dir", str(results), "--label", "other"]) == 2
    assert "holds n=60, test-n=12, seed=0" in capsys.readouterr().err
