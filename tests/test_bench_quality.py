"""benchmarks/bench_quality.py's own bookkeeping, without training (its end-to-end run is a bench
test in tests/test_ensemble.py): what a fine-tuned run's result says about its pretraining."""

from __future__ import annotations

import sys
from pathlib import Path

from galaxy_lib.config import Config
from galaxy_lib.model.runs import ResumeState, RunFolder

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import bench_quality  # noqa: E402


def test_a_fine_tuned_result_names_its_pretraining_run_and_its_minutes(tmp_path):
    folder = RunFolder(tmp_path / "pretrain")
    folder.path.mkdir()
    Config(data="data/pretrain-sky", synthetic=True, synthetic_n=10000).save(folder.config_file)
    ResumeState(epoch=17, elapsed_seconds=300.0, finished="time limit: 5.0 of 5 minutes used").write(folder.state_file)
    for given in (str(folder.path), str(folder.path / "last.keras")):  # a run folder, or its model file
        record = bench_quality.pretraining_record(given)
        assert record == {"init_weights": given, "data": "data/pretrain-sky", "synthetic": True, "galaxies": 10000,
                          "epochs": 17, "minutes": 5.0, "stopped": "time limit: 5.0 of 5 minutes used"}


def test_a_model_file_outside_a_run_folder_is_named_alone(tmp_path):
    model = tmp_path / "weights.keras"
    assert bench_quality.pretraining_record(str(model)) == {"init_weights": str(model)}


def test_a_label_that_would_overwrite_another_commands_result_stops_before_measuring(tmp_path):
    """``quality-improved.json`` holds the two-block run (its command pins ``--set conv_blocks=2``);
    the plain ``-f parameters/improved.yaml`` command draws the same label and must not replace it."""
    import json

    import pytest
    import results_store

    stored = "python benchmarks/bench_quality.py -f parameters/improved.yaml --set conv_blocks=2 --label improved"
    (tmp_path / "quality-improved.json").write_text(json.dumps({"command": stored}))
    with pytest.raises(SystemExit, match=r"quality-improved\.json: holds the result of another command \(.*=2"):
        results_store.refuse_another_commands_result(
            "quality-improved", "python benchmarks/bench_quality.py -f parameters/improved.yaml", tmp_path)
    results_store.refuse_another_commands_result("quality-improved", stored, tmp_path)  # its own command re-measures
    results_store.refuse_another_commands_result("quality-new", "anything", tmp_path)  # nothing stored yet
