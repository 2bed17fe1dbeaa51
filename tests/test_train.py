"""Training runs on a tiny data set: run folder, reproducibility, resume, stopping rules, strategies."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_run_config, train_on_two_logical_cpus, write_kaggle_folder

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data import split
from galaxy_lib.errors import RunError
from galaxy_lib.model import runs, schedule, train

COMPARED = [c for c in runs.HISTORY_COLUMNS if c != "seconds"]
RAW = [c for c in COMPARED if c != "val_rmse_ema"]  # what every run has (val_rmse_ema: weight averaging only)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_kaggle_folder(tmp_path_factory.mktemp("tiny") / "kaggle", n=24, seed=3)


tiny_config = tiny_run_config


class Interrupt(Exception):
    pass


class InterruptAt:
    """A Keras-like callback that kills training at (epoch, batch), as a crash or Ctrl-C would."""

    def __new__(cls, epoch: int, batch: int):
        class _Callback(train.keras.callbacks.Callback):
            def on_train_batch_end(self, b, logs=None):
                if self.current_epoch == epoch and b == batch:
                    raise Interrupt(f"killed in epoch {epoch}, batch {batch}")

            def on_epoch_begin(self, e, logs=None):
                self.current_epoch = e

        return _Callback()


@pytest.fixture(scope="module")
def uninterrupted(tiny_data, tmp_path_factory):
    """A 3-epoch run, never stopped: the reference for reproducibility and resume."""
    return train.train(tiny_config(tiny_data), tmp_path_factory.mktemp("runs") / "reference", verbose=False)


@pytest.mark.slow
def test_run_folder_holds_everything_needed(uninterrupted, tiny_data):
    run = runs.load_run(uninterrupted)
    for name in ("config.yaml", "split.csv", "history.csv", "best.keras", "last.keras", "environment.json"):
        assert (uninterrupted / name).is_file(), name
    assert run.config == tiny_config(tiny_data)
    assert list(run.history.columns) == runs.HISTORY_COLUMNS
    assert run.history["epoch"].tolist() == [1, 2, 3]
    assert np.isfinite(run.history[RAW].to_numpy(dtype=float)).all()
    assert run.history["val_rmse_ema"].isna().all() and not (uninterrupted / "ema.keras").exists()
    assert (run.history["rmse"] > 0).all() and (run.history["val_accuracy"].between(0, 1)).all()
    counts = run.split["split"].value_counts()
    assert (counts["train"], counts["val"], counts["test"]) == (12, 6, 6)
    split.check_disjoint(run.split)
    best = run.history["val_rmse"].min()
    state = json.loads((uninterrupted / "resume" / "state.json").read_text())
    assert state["epoch"] == 3 and state["best"] == pytest.approx(best) and state["finished"].startswith("reached")
    assert [p.name for p in (uninterrupted / "resume").glob("*.keras")] == ["epoch-0003.keras"]
    env = json.loads((uninterrupted / "environment.json").read_text())
    assert env["packages"]["tensorflow"] and env["replicas"] == 1 and env["deterministic"] is True
    assert env["precision"] == "float32" and "mixed_precision" not in env
    model = runs.load_model(uninterrupted, "best")
    assert model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape == (2, 37)
    with pytest.raises(ValueError):
        runs.load_model(uninterrupted, "first")


@pytest.mark.slow
def test_same_seed_same_history_and_a_different_seed_differs(uninterrupted, tiny_data, tmp_path):
    again = train.train(tiny_config(tiny_data), tmp_path / "again", verbose=False)
    reference = runs.load_run(uninterrupted).history[COMPARED]
    pd.testing.assert_frame_equal(runs.load_run(again).history[COMPARED], reference)
    other = train.train(tiny_config(tiny_data, seed=6, epochs=1), tmp_path / "other", verbose=False)
    assert runs.load_run(other).history["loss"].iloc[0] != reference["loss"].iloc[0]


@pytest.mark.slow
def test_killed_run_resumes_where_it_stopped_and_matches_an_uninterrupted_one(uninterrupted, tiny_data, tmp_path):
    out = tmp_path / "killed"
    config = tiny_config(tiny_data)
    with pytest.raises(Interrupt):
        train.train(config, out, callbacks=[InterruptAt(epoch=1, batch=0)], verbose=False)
    assert runs.read_history(out / "history.csv")["epoch"].tolist() == [1]  # epoch 2 was cut short
    train.train(config, out, verbose=False)
    history = runs.load_run(out).history
    assert history["epoch"].tolist() == [1, 2, 3]  # every epoch once, epoch 1 not redone
    pd.testing.assert_frame_equal(history[COMPARED], runs.load_run(uninterrupted).history[COMPARED])
    # Rerunning a finished run trains nothing more.
    before = (out / "history.csv").read_text()
    train.train(config, out, verbose=False)
    assert (out / "history.csv").read_text() == before


@pytest.mark.slow
def test_a_run_killed_between_checkpoints_redoes_the_epochs_since_the_last_one_exactly(
    uninterrupted, tiny_data, tmp_path
):
    """checkpoint_seconds throttles the resume checkpoint (not three models every epoch): a kill
    loses the epochs since the last one, which the resumed run recomputes to the same history."""
    out = tmp_path / "killed"
    config = tiny_config(tiny_data, checkpoint_seconds=3600)  # no checkpoint before the end
    with pytest.raises(Interrupt):
        train.train(config, out, callbacks=[InterruptAt(epoch=2, batch=0)], verbose=False)
    assert runs.read_history(out / "history.csv")["epoch"].tolist() == [1, 2]  # the history is written every epoch
    assert not (out / "resume" / "state.json").exists() and not (out / "best.keras").exists()
    train.train(config, out, verbose=False)
    history = runs.load_run(out).history
    pd.testing.assert_frame_equal(history[COMPARED], runs.load_run(uninterrupted).history[COMPARED])
    assert [p.name for p in (out / "resume").glob("*.keras")] == ["epoch-0003.keras"]
    state = json.loads((out / "resume" / "state.json").read_text())
    assert state["epoch"] == 3 and state["finished"] == "reached 3 epochs"
    best, reference = runs.load_model(out, "best"), runs.load_model(uninterrupted, "best")
    for mine, theirs in zip(best.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.slow
def test_resume_refuses_a_different_configuration(tiny_data, tmp_path):
    out = tmp_path / "run"
    train.train(tiny_config(tiny_data, epochs=1), out, verbose=False)
    with pytest.raises(RunError, match=r"learning_rate: 0.001 -> 0.01\); use the same settings to resume it"):
        train.train(tiny_config(tiny_data, epochs=2, learning_rate=0.01), out, verbose=False)
    train.train(tiny_config(tiny_data, epochs=2), out, verbose=False)  # more epochs: allowed
    assert runs.load_run(out).history["epoch"].tolist() == [1, 2]


@pytest.mark.slow
def test_tree_head_with_augmentation_mse_and_cosine_schedule(tiny_data, tmp_path):
    config = tiny_config(
        tiny_data, head="tree", loss="mse", augment=True, augment_rotate=True, augment_shift=2,
        lr_schedule="cosine", epochs=2, time_limit_minutes=60,
    )
    out = train.train(config, tmp_path / "improved", verbose=True)
    history = runs.load_run(out).history
    assert history["learning_rate"].tolist() == pytest.approx([1e-3, 0.5e-3])
    x = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype("float32")
    predictions = runs.load_model(out, "last").predict(x, verbose=0)
    assert tree.tree_violations(predictions, tolerance=1e-5).empty


@pytest.mark.slow
def test_mixup_and_label_smoothing_reach_the_training_batches(tiny_data, tmp_path):
    """The two target levers change what the network is fitted to (not the validation targets)."""
    base = tiny_config(tiny_data, head="tree", loss="mse", epochs=1)
    plain = runs.load_run(train.train(base, tmp_path / "plain", verbose=False)).history
    for key, value in (("mixup", 0.4), ("label_smoothing", 0.3)):
        out = train.train(base.replace(**{key: value}), tmp_path / key, verbose=False)
        history = runs.load_run(out).history
        assert history["loss"].iloc[0] != pytest.approx(plain["loss"].iloc[0], rel=1e-6), key
        assert runs.load_run(out).config.__getattribute__(key) == value


def test_stop_rules():
    config = Config(epochs=10, early_stopping_patience=2, time_limit_minutes=1)
    state = runs.ResumeState(epoch=3, epochs_without_improvement=1, elapsed_seconds=30.0, monitor="val_rmse")
    history = pd.DataFrame({"seconds": [20.0, 10.0, 10.0]})
    assert train.stop_reason(config, state, history) is None
    assert "early stopping" in train.stop_reason(config, replace(state, epochs_without_improvement=2), history)
    assert "time limit" in train.stop_reason(config, replace(state, elapsed_seconds=51.0), history)
    assert "reached 10 epochs" in train.stop_reason(config, replace(state, epoch=10), history)
    assert train.stop_reason(config.replace(early_stopping_patience=0, time_limit_minutes=0),
                              replace(state, epochs_without_improvement=9, elapsed_seconds=1e6), history) is None


@pytest.mark.slow
def test_time_limit_stops_cleanly_after_a_finished_epoch(tiny_data, tmp_path):
    out = train.train(tiny_config(tiny_data, epochs=5, time_limit_minutes=0.001), tmp_path / "timed", verbose=False)
    state = json.loads((out / "resume" / "state.json").read_text())
    assert state["epoch"] == 1 and state["finished"].startswith("time limit")
    assert runs.load_run(out).history["epoch"].tolist() == [1]


@pytest.mark.slow
def test_refit_trains_on_validation_galaxies_too_and_keeps_the_split(uninterrupted, tiny_data, tmp_path, capsys):
    out = train.train(tiny_config(tiny_data, epochs=1, refit=True), tmp_path / "refit", verbose=False)
    run = runs.load_run(out)
    assert (out / "split.csv").read_text() == (uninterrupted / "split.csv").read_text()  # test untouched
    counts = run.split["split"].value_counts()
    printed = capsys.readouterr().out
    assert f"{counts['train'] + counts['val']:,} train / 0 val galaxies" in printed
    assert run.history["val_rmse"].isna().all() and run.history["rmse"].notna().all()
    # evaluation counts the validation galaxies as training ones: no "held-out" figure on seen galaxies
    from galaxy_lib.evaluation.evaluate import evaluate_run

    metrics = evaluate_run(out, progress=False, verbose=False)
    assert metrics["n_val"] == 0 and metrics["val_rmse"] is None
    assert metrics["n_train"] == counts["train"] + counts["val"] and metrics["test_rmse"] is not None


def test_learning_rate_schedule():
    constant = Config(learning_rate=0.01, epochs=4)
    assert [schedule.learning_rate_at(constant, e) for e in range(4)] == [0.01] * 4
    cosine = constant.replace(lr_schedule="cosine")
    rates = [schedule.learning_rate_at(cosine, e) for e in range(4)]
    assert rates[0] == pytest.approx(0.01) and rates[2] == pytest.approx(0.005) and rates == sorted(rates, reverse=True)


def test_step_schedule_divides_by_ten_after_72_and_92_percent_of_the_epochs():
    step = Config(learning_rate=0.04, epochs=25, lr_schedule="step")  # Dieleman's 18 and 23 of 25 (million images)
    rates = [schedule.learning_rate_at(step, e) for e in range(25)]
    assert rates[:18] == pytest.approx([0.04] * 18)  # epochs 0-17: 18 of 25 = 72% not yet finished
    assert rates[18:23] == pytest.approx([0.004] * 5) and rates[23:] == pytest.approx([0.0004] * 2)
    # exact percentages need no float luck: 72% of 50 is 36, 92% is 46
    fifty = step.replace(epochs=50)
    assert [schedule.learning_rate_at(fifty, e) for e in (35, 36, 45, 46)] == pytest.approx(
        [0.04, 0.004, 0.004, 0.0004])


def test_a_run_cut_short_before_its_schedule_acted_is_told_so():
    """A time-limited run on a slow machine that never reached its first step gets a note; one that
    decayed, finished, uses the budget clock or a constant rate does not."""
    step = Config(epochs=25, lr_schedule="step", time_limit_minutes=10, schedule_clock="epochs")
    first_decayed = next(e for e in range(25) if schedule.learning_rate_at(step, e) < step.learning_rate)
    note = schedule.unfinished_schedule(step, first_decayed)  # every epoch so far at the full rate
    assert note and f"due at epoch {first_decayed + 1} of 25" in note and "schedule_clock: budget" in note
    assert schedule.unfinished_schedule(step, first_decayed + 1) is None  # one epoch at a tenth: it acted
    assert schedule.unfinished_schedule(step, 25) is None
    assert schedule.unfinished_schedule(step.replace(epochs=1), 0) is None  # no step to miss
    assert schedule.unfinished_schedule(step.replace(schedule_clock="budget"), 3) is None
    assert schedule.unfinished_schedule(step.replace(lr_schedule="constant"), 3) is None
    assert "40% of the way" in schedule.unfinished_schedule(step.replace(lr_schedule="cosine"), 10)


def test_budget_clock_decays_by_the_time_used_or_the_epochs_done_whichever_is_further():
    step = Config(learning_rate=0.04, epochs=100, lr_schedule="step", time_limit_minutes=10, schedule_clock="budget")
    # early epochs on a slow machine: 7.2 of 10 minutes gone -> the first step, 9.2 -> the second
    assert [schedule.learning_rate_at(step, 5, 60 * m) for m in (0, 7.1, 7.2, 9.19, 9.2)] == pytest.approx(
        [0.04, 0.04, 0.004, 0.004, 0.0004])
    # a fast machine reaches the epochs first: the epoch share rules, as with the default clock
    by_epochs = step.replace(schedule_clock="epochs")
    assert [schedule.learning_rate_at(step, e, 1.0) for e in (71, 72, 92)] == pytest.approx(
        [schedule.learning_rate_at(by_epochs, e) for e in (71, 72, 92)])
    assert schedule.schedule_progress(step, 50, 60 * 20) == 1.0  # never past the end
    cosine = step.replace(lr_schedule="cosine")
    assert schedule.learning_rate_at(cosine, 0, 60 * 5) == pytest.approx(0.02)  # half the budget: half the cosine
    # the epoch clock ignores the time used (seeded runs reproduce on any machine)
    assert schedule.learning_rate_at(by_epochs, 5, 60 * 9.5) == pytest.approx(0.04)


def test_a_time_limit_times_the_schedule_by_the_budget_unless_told_otherwise():
    """The default clock ('auto'): with a time limit a slow machine still gets its decay; without
    one the schedule follows the epochs, and an explicit clock is kept."""
    timed = Config(learning_rate=0.04, epochs=440, lr_schedule="step", time_limit_minutes=20)
    assert timed.schedule_clock == "auto" and timed.clock == "budget"
    assert schedule.learning_rate_at(timed, 130, 60 * 15) == pytest.approx(0.004)  # epoch 130 of 440, 75% of the time
    assert schedule.unfinished_schedule(timed, 130) is None
    assert timed.replace(time_limit_minutes=0).clock == "epochs"
    assert timed.replace(schedule_clock="epochs").clock == "epochs"
    assert schedule.learning_rate_at(timed.replace(schedule_clock="epochs"), 130, 60 * 15) == pytest.approx(0.04)


def test_warmup_ramps_any_schedule_from_a_tenth():
    warm = Config(learning_rate=0.01, epochs=10, warmup_epochs=3)
    assert [schedule.learning_rate_at(warm, e) for e in range(5)] == pytest.approx([0.001, 0.004, 0.007, 0.01, 0.01])
    cosine = warm.replace(lr_schedule="cosine")
    plain = warm.replace(lr_schedule="cosine", warmup_epochs=0)
    assert schedule.learning_rate_at(cosine, 1) == pytest.approx(0.4 * schedule.learning_rate_at(plain, 1))
    assert [schedule.learning_rate_at(cosine, e) for e in range(3, 10)] == [
        schedule.learning_rate_at(plain, e) for e in range(3, 10)]  # after the warm-up: the schedule itself
    step = warm.replace(lr_schedule="step", epochs=4, warmup_epochs=1)
    assert [schedule.learning_rate_at(step, e) for e in range(4)] == pytest.approx([0.001, 0.01, 0.01, 0.001])


@pytest.mark.slow
def test_cli_train_verb(tiny_data, tmp_path, repo_root):
    from galaxy_lib import cli

    out = tmp_path / "cli"
    rc = cli.main([
        "train", "-f", str(repo_root / "parameters" / "smoke.yaml"), "--data", str(tiny_data), "--out", str(out),
        "--set", "epochs=1", "--set", "synthetic=false",
    ])
    assert rc == 0 and runs.load_run(out).history["epoch"].tolist() == [1]


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tiny_data, tmp_path):
    """Two logical CPU devices must be declared before TensorFlow starts: a fresh process."""
    env = train_on_two_logical_cpus(
        tmp_path / "mirrored", data=str(tiny_data), crop=128, image_size=32, second_pool=2, epochs=1, batch_size=8,
        val_fraction=0.25, test_fraction=0.25,
    )
    assert env["strategy"] == "MirroredStrategy" and env["replicas"] == 2
    history = pd.read_csv(tmp_path / "mirrored" / "history.csv")
    assert len(history) == 1 and np.isfinite(history["val_rmse"]).all()


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "compute", "head"),
                         [("mixed_float16", "float16", "sigmoid"), ("mixed_bfloat16", "bfloat16", "tree")])
def test_mixed_precision_run_trains_and_saves_float32_outputs(tiny_data, tmp_path, precision, compute, head):
    from galaxy_lib.data import dataset
    from galaxy_lib.model import predict

    config = tiny_config(tiny_data, precision=precision, head=head, epochs=1)
    out = train.train(config, tmp_path / "mixed", verbose=False)
    assert train.keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
    assert json.loads((out / "environment.json").read_text())["precision"] == precision
    model = runs.load_model(out)
    assert model.get_layer("conv1").compute_dtype == compute
    assert model.get_layer("dense").compute_dtype == compute
    assert model.output.dtype == "float32"
    # the output layers (and so the loss) stay float32: the sigmoid Dense, or the tree head's scores and TreeHead
    for name in ("answers", "scores") if head == "tree" else ("answers",):
        assert model.get_layer(name).compute_dtype == "float32", name
    assert np.isfinite(runs.load_run(out).history["val_rmse"]).all()
    # Predicting needs no policy: the loaded model takes float32 images and gives float32 answers.
    data = dataset.load_for_config(config)
    ids = split.ids_of(runs.load_run(out).split, "test")
    predictions = predict.predict_galaxies(out, data.images, ids, tta="flips")
    assert predictions.dtype == np.float32 and predictions.shape == (len(ids), 37)
    assert np.isfinite(predictions).all()


def _val_rmse(run_dir, which: str) -> float:
    """RMSE over the run's validation galaxies of one of its checkpoints, computed here."""
    from galaxy_lib.data import dataset
    from galaxy_lib.model import predict

    run = runs.load_run(run_dir)
    data = dataset.load_for_config(run.config)
    ids, labels = data.subset(split.ids_of(run.split, "val"))
    model = runs.load_model(run_dir, which)
    predictions = predict.predict_galaxies(run_dir, data.images, ids, tta="none", model=model)
    return float(np.sqrt(np.mean((predictions - labels) ** 2)))


@pytest.fixture(scope="module")
def averaged(tiny_data, tmp_path_factory):
    """The reference run with an exponential moving average of the weights."""
    config = tiny_config(tiny_data, weight_averaging="ema", ema_momentum=0.5)
    return train.train(config, tmp_path_factory.mktemp("runs") / "ema", verbose=False)


@pytest.mark.slow
def test_weight_average_is_scored_saved_and_chooses_best(averaged, uninterrupted):
    history = runs.load_run(averaged).history
    assert np.isfinite(history["val_rmse_ema"]).all()
    assert not np.allclose(history["val_rmse_ema"], history["val_rmse"])  # the average is another model
    # The average is only watched: the raw weights train exactly as without it.
    pd.testing.assert_frame_equal(history[RAW], runs.load_run(uninterrupted).history[RAW])
    # ema.keras is the average after the last epoch; best.keras the average at its best epoch.
    assert _val_rmse(averaged, "ema") == pytest.approx(history["val_rmse_ema"].iloc[-1], rel=1e-4)
    assert _val_rmse(averaged, "best") == pytest.approx(history["val_rmse_ema"].min(), rel=1e-4)
    assert _val_rmse(averaged, "last") == pytest.approx(history["val_rmse"].iloc[-1], rel=1e-4)
    state = json.loads((averaged / "resume" / "state.json").read_text())
    assert state["monitor"] == "val_rmse_ema" and state["best"] == pytest.approx(history["val_rmse_ema"].min())
    # a run without weight averaging has no ema checkpoint, and says why
    with pytest.raises(RunError, match="trained without weight_averaging: ema"):
        runs.load_model(uninterrupted, "ema")


@pytest.mark.slow
def test_killed_run_with_weight_averaging_resumes_exactly(averaged, tiny_data, tmp_path):
    """The average lives in the optimizer's variables, saved with the resume checkpoint."""
    out = tmp_path / "killed-ema"
    config = tiny_config(tiny_data, weight_averaging="ema", ema_momentum=0.5)
    with pytest.raises(Interrupt):
        train.train(config, out, callbacks=[InterruptAt(epoch=2, batch=1)], verbose=False)
    assert runs.read_history(out / "history.csv")["epoch"].tolist() == [1, 2]
    train.train(config, out, verbose=False)
    pd.testing.assert_frame_equal(runs.load_run(out).history[COMPARED], runs.load_run(averaged).history[COMPARED])
    for a, b in zip(runs.load_model(out, "ema").get_weights(), runs.load_model(averaged, "ema").get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_crop_cache_gives_the_same_history(uninterrupted, tiny_data, tmp_path):
    out = train.train(tiny_config(tiny_data, cache_crops=True), tmp_path / "cached", verbose=False)
    assert list((out / "cache").glob("crops-*.u8"))
    reference = runs.load_run(uninterrupted).history[COMPARED]
    pd.testing.assert_frame_equal(runs.load_run(out).history[COMPARED], reference)


def test_a_bfloat16_model_predicts_float32_without_the_policy(tmp_path):
    """Prediction runs with the global policy float32 (another process, a notebook): a saved
    mixed_bfloat16 model still takes the float32 images of the predict signature."""
    from galaxy_lib.model import network, predict

    with train.precision_policy("mixed_bfloat16"):
        assert train.keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        model = network.build_model(Config(crop=32, second_pool=2, head="tree"))
    assert train.keras.mixed_precision.global_policy().name == "float32"
    model.save(tmp_path / "bf16.keras")
    loaded = train.keras.models.load_model(tmp_path / "bf16.keras", compile=False)
    assert loaded.get_layer("conv1").compute_dtype == "bfloat16" and loaded.input.dtype == "float32"
    images = np.random.default_rng(0).uniform(size=(3, 32, 32, 3)).astype("float32")
    out = predict.predict_function(loaded, (0, 1))(images).numpy()
    assert out.dtype == np.float32 and out.shape == (3, 37) and np.isfinite(out).all()
    assert tree.tree_violations(out, tolerance=1e-5).empty
