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
