"""The model-alone calibration (benchmarks/calibration.py) and its hook in results_store.machine_record.

No TensorFlow and no training here: the measurement is replaced by a fake, since what these tests guard
is the wiring (measured once, at the start, stored as ``machine["model_img_s"]``, skipped visibly), not
the machine's speed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import calibration  # noqa: E402
import results_store  # noqa: E402


@pytest.fixture
def fake_speed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """A calibration that 'measures' 1234.56 img/s and counts its calls; measuring enabled."""
    calls: list[tuple[Any, ...]] = []

    def measure(config_file: Any, steps: int, overrides: Any = None, **kwargs: Any) -> dict[str, Any]:
        calls.append((Path(config_file), steps))
        return {"images_per_s": 1234.56, "seconds": [1.0, 1.0, 1.0]}

    monkeypatch.setattr(calibration, "model_alone", measure)
    monkeypatch.delenv(calibration.OFF, raising=False)
    calibration.forget()
    yield calls
    calibration.forget()


def test_a_calibrated_benchmark_stores_the_speed_with_its_machine(fake_speed):
    assert "model_img_s" not in results_store.machine_record()  # a benchmark that never calibrates: no key
    assert calibration.calibrate() == 1234.6
    assert calibration.calibrate() == 1234.6  # once a process: an ensemble's members share one figure
    assert fake_speed == [(REPO / calibration.CONFIG_FILE, calibration.STEPS)]
    machine = results_store.machine_record(load_average=1.5)
    assert machine["model_img_s"] == 1234.6 and machine["load_average"] == 1.5


def test_a_result_file_carries_the_speed(fake_speed, tmp_path):
    calibration.calibrate()
    path = results_store.write_result("demo-calibrated", "python benchmarks/bench_demo.py", {}, {"x": 1},
                                      results_dir=tmp_path)
    assert results_store.load_results(tmp_path)["demo-calibrated"]["machine"]["model_img_s"] == 1234.6
    assert path.name == "demo-calibrated.json"


def test_switched_off_it_measures_nothing_and_says_so(fake_speed, monkeypatch):
    monkeypatch.setenv(calibration.OFF, "off")
    assert calibration.calibrate() is None and fake_speed == []
    assert results_store.machine_record()["model_img_s"] is None  # skipped on purpose, not forgotten


def test_a_failed_measurement_is_one_error_naming_the_configuration(monkeypatch):
    def failed(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 1, stdout="", stderr="Traceback ...\nValueError: no model\n")

    monkeypatch.setattr(calibration.subprocess, "run", failed)
    expected = r"(?s)^model-alone timing of parameters/default\.yaml failed.*ValueError: no model"
    with pytest.raises(SystemExit, match=expected):
        calibration.model_alone(REPO / calibration.CONFIG_FILE, 2)


def test_the_measuring_script_compiles_and_every_speed_benchmark_calibrates():
    compile(calibration.MODEL_ALONE_SCRIPT, "<model alone>", "exec")
    calibrated = {path.stem for path in (REPO / "benchmarks").glob("bench_*.py")
                  if "calibration.calibrate()" in path.read_text()}
    # bench_ensemble calibrates through bench_quality (its members); the rest have no speed figure
    assert calibrated == {"bench_quality", "bench_curve", "bench_epoch", "bench_train", "bench_input",
                          "bench_compare", "bench_report", "bench_scale", "bench_class", "bench_tests"}
