"""The run folder: its names, readers, clear errors, and which keys may differ from its config."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.errors import RunError
from galaxy_lib.model import runs
from galaxy_lib.model.runs import RunFolder


@pytest.fixture
def run_folder(tmp_path) -> RunFolder:
    """A run folder as training leaves it before its first epoch ends: config and split only."""
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    Config(crop=96, image_size=32, tta="flips").save(folder.config_file)
    split = pd.DataFrame({tree.ID_COLUMN: [1, 2, 3, 4], "split": ["train", "train", "val", "test"]})
    split.to_csv(folder.split_file, index=False)
    return folder


def test_names_live_in_one_place(tmp_path):
    folder = RunFolder(str(tmp_path))  # a string is accepted and kept as a Path
    assert folder.path == tmp_path and os.fspath(folder) == str(tmp_path) and str(folder) == str(tmp_path)
    expected = {
        folder.config_file: "config.yaml", folder.split_file: "split.csv", folder.history_file: "history.csv",
        folder.model_file("best"): "best.keras", folder.model_file("last"): "last.keras",
        folder.environment_file: "environment.json", folder.resume_dir: "resume",
        folder.state_file: "resume/state.json", folder.metrics_file: "metrics.json", folder.auc_file: "auc.csv",
        folder.baselines_file: "baselines.csv", folder.paper_vs_honest_file: "paper_vs_honest.csv",
        folder.question_accuracy_file: "question_accuracy.csv", folder.predictions_file("test"): "predictions_test.csv",
        folder.figures_dir: "figures", folder.figure_file("roc_curves"): "figures/roc_curves.png",
        folder.submission_file: "submission.csv", folder.cache_dir: "cache",
        folder.worker("worker", 1).path: "workers/worker-1",
    }
    for path, relative in expected.items():
        assert path == tmp_path / relative
    assert RunFolder.figure_name("gallery") == "figures/gallery.png"
    assert folder.model_file("ema") == tmp_path / "ema.keras"  # the weight average (weight_averaging: ema)
    with pytest.raises(ValueError, match="'best', 'last', 'ema'"):
        folder.model_file("first")


def test_the_run_folder_for_a_config(tmp_path, monkeypatch):
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    config = Config(run_name="trial", runs_dir="elsewhere/runs")
    assert RunFolder.for_config(config).path == tmp_path / "elsewhere" / "runs" / "trial"  # from the project root
    assert RunFolder.for_config(config, "").path == tmp_path / "elsewhere" / "runs" / "trial"
    assert RunFolder.for_config(config, tmp_path / "mine").path == tmp_path / "mine"
    assert RunFolder.for_config(config, "runs/mine").path == tmp_path / "runs" / "mine"  # as the report passes it


def test_readers(run_folder):
    assert run_folder.load_config() == Config(crop=96, image_size=32, tta="flips")
    assert run_folder.load_config({"tta": "none"}).tta == "none"
    assert run_folder.load_split()["split"].tolist() == ["train", "train", "val", "test"]
    history = run_folder.read_history()  # no epoch yet: empty, with the right columns
    assert history.empty and list(history.columns) == runs.HISTORY_COLUMNS
    assert run_folder.read_state() is None
    run_folder.resume_dir.mkdir()
    state = runs.ResumeState(epoch=2, best=0.25, elapsed_seconds=7.5, checkpoint="epoch-0002.keras")
    state.write(run_folder.state_file)
    assert run_folder.read_state() == state
    assert list(json.loads(run_folder.state_file.read_text())) == [  # the keys and order state.json always had
        "epoch", "best", "monitor", "epochs_without_improvement", "elapsed_seconds", "checkpoint", "seed_generators",
        "finished",
    ]
    run = runs.load_run(run_folder.path)
    assert run.config.crop == 96 and len(run.split) == 4 and run.folder == run_folder


def test_history_and_config_of_a_run_trained_before_weight_averaging_and_precision(run_folder):
    """Older run folders lack the ``val_rmse_ema`` column and say ``mixed_precision``: both still read."""
    old_columns = [c for c in runs.HISTORY_COLUMNS if c not in runs.ADDED_HISTORY_COLUMNS]
    pd.DataFrame([[1.0] * len(old_columns)], columns=old_columns).to_csv(run_folder.history_file, index=False)
    history = run_folder.read_history()
    assert list(history.columns) == runs.HISTORY_COLUMNS and history["val_rmse_ema"].isna().all()
    run_folder.config_file.write_text(run_folder.config_file.read_text().replace(
        "precision: float32", "mixed_precision: false"))
    assert "mixed_precision: false" in run_folder.config_file.read_text()
    assert run_folder.load_config() == Config(crop=96, image_size=32, tta="flips")
    with pytest.raises(RunError, match=r"ema.keras: no weight average: the run was trained without weight_averaging"):
        run_folder.load_model("ema")


def test_run_folder_problems_are_run_errors_naming_the_file(run_folder, tmp_path):
    with pytest.raises(RunError, match="run folder not found"):
        RunFolder(tmp_path / "nothing").load_config()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"empty: not a run folder \(no config.yaml\)"):
        runs.load_run(tmp_path / "empty")
    with pytest.raises(RunError, match=r"empty: not a run folder"):
        runs.load_model(tmp_path / "empty")
    with pytest.raises(RunError, match=r"best.keras: no model yet; has the run finished an epoch\?"):
        run_folder.load_model()
    pd.DataFrame({"epoch": [1]}).to_csv(run_folder.history_file, index=False)
    with pytest.raises(RunError, match=r"history.csv: missing column\(s\) loss, rmse"):
        run_folder.read_history()
    run_folder.resume_dir.mkdir()
    run_folder.state_file.write_text('{"epoch": ')  # cut short
    with pytest.raises(RunError, match=r"state.json: not valid JSON"):
        run_folder.read_state()
    run_folder.split_file.unlink()
    with pytest.raises(RunError, match=r"run: run folder has no split.csv"):
        run_folder.load()
    (tmp_path / "a-file").write_text("not a folder")
    for blocked in (tmp_path / "a-file", tmp_path / "a-file" / "run"):  # `train --out FILE`, or below a file
        with pytest.raises(RunError, match=r"a-file.*: cannot be a run folder, a file .* is in the way"):
            RunFolder(blocked).create()
    assert RunFolder(tmp_path / "new" / "run").create().path.is_dir()


def test_a_corrupt_model_file_says_so(run_folder):
    """Keras reports a damaged .keras file as "File not found"; the run folder says what is wrong."""
    run_folder.model_file("best").write_bytes(b"\x00garbage, not a zip archive")
    with pytest.raises(RunError) as caught:
        run_folder.load_model("best")
    message = str(caught.value)
    assert message.startswith(f"{run_folder.model_file('best')}: cannot be loaded as a Keras model "
                              "(corrupt or partial file?): not a zip archive (27 bytes)")
    assert "File not found" not in message and "\n" not in message
    # a zip archive that is not a Keras model (Keras's own reason is kept)
    with zipfile.ZipFile(run_folder.model_file("last"), "w") as archive:
        archive.writestr("config.json", "{not json")
    with pytest.raises(RunError, match=r"last.keras: cannot be loaded as a Keras model \(corrupt or partial file\?\)"):
        run_folder.load_model("last")


def test_key_sets_name_real_keys_and_resuming_allows_what_evaluating_allows():
    keys = {f.name for f in dataclasses.fields(Config)}
    assert runs.RESUMABLE_CHANGES.issubset(keys) and runs.EVALUATION_CHANGES.issubset(keys)
    assert runs.EVALUATION_CHANGES < runs.RESUMABLE_CHANGES
    assert sorted(runs.EVALUATION_KEYS) == ["auc_min_positives", "bootstrap", "central_pixel_clusters", "tta"]
    assert not runs.EVALUATION_CHANGES & {"crop", "image_size", "model", "head", "seed", "epochs", "loss"}
    # they change what is computed: a run cannot resume (nor be evaluated) with other values
    computing = {"precision", "weight_averaging", "ema_momentum", "warmup_epochs", "lr_schedule"}
    assert not runs.RESUMABLE_CHANGES & computing


def test_evaluation_may_change_evaluation_keys_only(run_folder):
    saved = run_folder.load_config()
    assert run_folder.config_for_evaluation(None) == saved  # None: the run's own
    changed = saved.replace(tta="dihedral", bootstrap=10, auc_min_positives=3, central_pixel_clusters=4,
                            data="/somewhere/else", run_name="other", threads=1)
    assert run_folder.config_for_evaluation(changed) is changed
    with pytest.raises(RunError) as caught:
        run_folder.config_for_evaluation(saved.replace(crop=128, head="tree", tta="none"))
    message = str(caught.value)
    detail = message.split(";")[0]
    assert "crop: 96 -> 128" in detail and "head: 'sigmoid' -> 'tree'" in detail and "tta" not in detail
    assert "\n" not in message and message.startswith(f"{run_folder.path} was trained with a different configuration")


def test_check_same_run_names_every_refused_key(tmp_path):
    saved = Config()
    runs.check_same_run(saved, saved.replace(epochs=3), allowed=runs.RESUMABLE_CHANGES, where=tmp_path, advice="x")
    with pytest.raises(RunError, match=r"\(batch_size: 256 -> 8, learning_rate: 0.001 -> 0.01\); use the same"):
        runs.check_same_run(saved, saved.replace(learning_rate=0.01, batch_size=8), allowed=runs.RESUMABLE_CHANGES,
                            where=tmp_path, advice="use the same settings")


def _imported_modules(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_reading_a_run_does_not_start_tensorflow():
    assert "tensorflow" not in _imported_modules("import galaxy_lib.model.runs")


@pytest.mark.slow  # over 2 s: left out of `make test-fast`
def test_predict_and_evaluate_do_not_import_train():
    """Opening a run is the run folder's job: predicting and evaluating need no training code."""
    modules = _imported_modules("import galaxy_lib.model.predict, galaxy_lib.evaluation.evaluate")
    assert "galaxy_lib.model.predict" in modules and "galaxy_lib.model.runs" in modules
    assert "galaxy_lib.model.train" not in modules
