"""Stochastic weight averaging (``weight_averaging: swa``): the running mean, BatchNorm's
re-estimation, the configuration's checks, and real tiny runs (saved, scored, resumed exactly)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import tiny_run_config, write_kaggle_folder

from galaxy_lib.config import Config
from galaxy_lib.errors import ConfigError, RunError
from galaxy_lib.model import averaging, runs, train

keras = train.keras


def _toy_model(seed: int = 0) -> keras.Model:
    """Dense(3) then BatchNormalization: small enough to check by hand."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    outputs = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(3, name="dense")(inputs))
    return keras.Model(inputs, outputs)


# --- the running mean ---------------------------------------------------------------------------------


def test_epoch_average_is_the_arithmetic_mean_and_survives_save_and_load(tmp_path):
    model = _toy_model()
    rng = np.random.default_rng(0)
    snapshots = []
    average = averaging.EpochAverage()
    for _ in range(5):
        weights = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
        for variable, value in zip(model.trainable_variables, weights, strict=True):
            variable.assign(value)
        snapshots.append(weights)
        average.update(model)
        if average.count == 2:  # a "killed" run continues from the saved mean and count
            average.save(tmp_path / "average.npz")
            resumed = averaging.EpochAverage.load(tmp_path / "average.npz", average.count)
            assert resumed.check(model) is None
            for a, b in zip(resumed.mean, average.mean, strict=True):
                np.testing.assert_array_equal(a, b)
            average = resumed
    assert average.count == 5
    for mean, *values in zip(average.mean, *snapshots, strict=True):
        np.testing.assert_allclose(mean, np.mean(np.asarray(values, dtype=np.float64), axis=0), rtol=0, atol=1e-12)
    assert "weight arrays" in averaging.EpochAverage([np.zeros(2)], 1).check(model)


def test_averaged_weights_swaps_the_mean_in_and_restores_every_variable(tmp_path):
    model = _toy_model()
    before = [v.numpy().copy() for v in model.variables]
    average = averaging.EpochAverage([np.full(v.shape, 0.5) for v in model.trainable_variables], 3)
    with averaging.averaged_weights(model, average):
        for variable in model.trainable_variables:
            np.testing.assert_array_equal(variable.numpy(), 0.5)
        averaging.reestimate_batchnorm(model, [np.ones((2, 4), "float32")])  # changes BatchNorm's statistics
    for variable, value in zip(model.variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)


# --- BatchNorm's statistics for the averaged weights -----------------------------------------------------


def test_batchnorm_reestimation_gives_the_mean_and_variance_of_the_pass():
    """Equal batches: the moving mean becomes the pass's mean, the moving variance the mean of the
    batch variances (the whole pass's variance with one batch); the momentum is restored."""
    model = _toy_model()
    bn = model.get_layer("bn")
    rng = np.random.default_rng(1)
    batches = [(rng.normal(2.0, 3.0, size=(6, 4)).astype("float32"), np.zeros((6, 3), "float32")) for _ in range(4)]
    kernel, bias = (w.astype(np.float64) for w in model.get_layer("dense").get_weights())
    activations = [x.astype(np.float64) @ kernel + bias for x, _ in batches]

    assert averaging.reestimate_batchnorm(model, batches) == 4
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.concatenate(activations).mean(axis=0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([a.var(axis=0) for a in activations], axis=0),
                               rtol=1e-4)
    assert bn.momentum == 0.99

    averaging.reestimate_batchnorm(model, [batches[0]])  # one batch: exactly its statistics
    np.testing.assert_allclose(bn.moving_mean.numpy(), activations[0].mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), activations[0].var(axis=0), rtol=1e-4)
    assert [layer.name for layer in averaging.batchnorm_layers(model)] == ["bn"]


def test_a_model_without_batchnorm_needs_no_pass():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert averaging.reestimate_batchnorm(model, [np.ones((2, 4), "float32")]) == 0


# --- configuration and run folder ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"swa_start": 0.5}, r"'swa_start' \(0.5\) does nothing while 'weight_averaging' is none: "
                             "set weight_averaging: swa"),
        ({"weight_averaging": "ema", "swa_start": 0.5}, "'swa_start'.*set weight_averaging: swa"),
        ({"weight_averaging": "swa", "ema_momentum": 0.9}, "'ema_momentum'.*set weight_averaging: ema"),
        ({"weight_averaging": "swa", "swa_start": 1.0}, "'swa_start'.*out of range"),
        ({"weight_averaging": "swa", "swa_start": -0.1}, "'swa_start'.*out of range"),
    ],
)
def test_swa_keys_are_checked(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config(**changes)


def test_swa_configurations_that_are_accepted():
    assert Config(weight_averaging="swa").swa_start == 0.72
    assert Config(weight_averaging="swa", swa_start=0).swa_start == 0


def test_older_state_files_without_the_average_still_read(tmp_path):
    path = tmp_path / "state.json"
    state = runs.ResumeState(epoch=2, checkpoint="epoch-0002.keras")
    payload = {k: v for k, v in json.loads(json.dumps(state.__dict__)).items() if not k.startswith("swa_")}
    path.write_text(json.dumps(payload))
    assert runs.ResumeState.read(path) == state
    state.write(path)  # without an average, written as before the keys existed
    assert json.loads(path.read_text()) == payload
    runs.ResumeState(epoch=2, swa_epochs=1, swa_average="average-epoch-0002.npz").write(path)
    assert runs.ResumeState.read(path).swa_epochs == 1
    path.write_text(json.dumps({**payload, "swa_epochs": 2, "swa_average": None}))
    with pytest.raises(RunError, match="swa_epochs 2 and swa_average None disagree"):
        runs.ResumeState.read(path)
    path.write_text(json.dumps({**payload, "swa_epochs": 1, "swa_average": "../x.npz"}))
    with pytest.raises(RunError, match="swa_average '../x.npz' is not a file name"):
        runs.ResumeState.read(path)


def test_a_run_without_swa_has_no_swa_model_and_says_why(tmp_path):
    folder = runs.RunFolder(tmp_path)
    Config().save(folder.config_file)
    with pytest.raises(RunError, match="trained without weight_averaging: swa"):
        folder.load_model("swa")
    Config(weight_averaging="swa").save(folder.config_file)
    with pytest.raises(RunError, match="no average yet"):
        folder.load_model("swa")
    assert folder.read_swa() is None and folder.model_file("swa").name == "swa.keras"


# --- real tiny runs -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_kaggle_folder(tmp_path_factory.mktemp("tiny") / "kaggle", n=24, seed=3)


def swa_config(data, **changes) -> Config:
    """test_train's tiny run; swa_start 0.3 of 3 epochs averages the last two (progress 1/3 and 2/3)."""
    return tiny_run_config(data, **{"weight_averaging": "swa", "swa_start": 0.3, **changes})


class Interrupt(Exception):
    pass


def interrupt_at(epoch: int, batch: int) -> keras.callbacks.Callback:
    """A callback that kills training at (epoch, batch), as a crash or Ctrl-C would."""

    class _Callback(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.current_epoch = e

        def on_train_batch_end(self, b, logs=None):
            if self.current_epoch == epoch and b == batch:
                raise Interrupt(f"killed in epoch {epoch}, batch {batch}")

    return _Callback()


@pytest.fixture(scope="module")
def swa_run(tiny_data, tmp_path_factory):
    return train.train(swa_config(tiny_data), tmp_path_factory.mktemp("runs") / "swa", verbose=False)


def _val_rmse(run_dir, which: str) -> float:
    """RMSE over the run's validation galaxies of one of its models, computed here."""
    from galaxy_lib.data import dataset, split
    from galaxy_lib.model import predict

    run = runs.load_run(run_dir)
    data = dataset.load_for_config(run.config)
    ids, labels = data.subset(split.ids_of(run.split, "val"))
    predictions = predict.predict_galaxies(run_dir, data.images, ids, tta="none", model=runs.load_model(run_dir, which))
    return float(np.sqrt(np.mean((predictions - labels) ** 2)))


def _same_weights(a: keras.Model, b: keras.Model) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


@pytest.mark.slow
def test_swa_run_saves_scores_and_selects_the_average(swa_run):
    folder = runs.RunFolder(swa_run)
    record = folder.read_swa()
    assert record["epochs"] == 2 and record["after_epoch"] == 3
    state = folder.read_state()
    assert state.swa_epochs == 2 and state.swa_average == "average-epoch-0003.npz" and state.monitor == "val_rmse"
    assert [p.name for p in folder.resume_dir.glob("average-*.npz")] == ["average-epoch-0003.npz"]
    assert record["val_rmse_swa"] == pytest.approx(_val_rmse(swa_run, "swa"), rel=1e-4)
    history = folder.read_history()
    assert record["best"] == (record["val_rmse_swa"] < history["val_rmse"].min())
    swa, best, last = (folder.load_model(which) for which in ("swa", "best", "last"))
    assert _same_weights(swa, best) == record["best"]
    assert not _same_weights(swa, last)  # the average of epochs 2 and 3 is not epoch 3
    # the averaged trainable weights of swa.keras are the saved mean's; its BatchNorm statistics are its own
    average = averaging.EpochAverage.load(folder.resume_dir / state.swa_average, state.swa_epochs)
    for variable, mean in zip(swa.trainable_variables, average.mean, strict=True):
        np.testing.assert_array_equal(variable.numpy(), mean.astype("float32"))
    assert not np.array_equal(swa.get_layer("batchnorm").moving_mean.numpy(),
                              last.get_layer("batchnorm").moving_mean.numpy())


@pytest.mark.slow
def test_killed_swa_run_resumes_to_the_same_average(swa_run, tiny_data, tmp_path):
    """The mean and its count are saved with the checkpoint: killed in the third epoch (one epoch
    averaged), the resumed run ends with the uninterrupted run's swa.keras, bit for bit; killed after
    its last checkpoint but before swa.json, a rerun makes the average again instead of "complete"."""
    out = tmp_path / "killed-swa"
    config = swa_config(tiny_data)
    with pytest.raises(Interrupt):
        train.train(config, out, callbacks=[interrupt_at(epoch=2, batch=1)], verbose=False)
    assert runs.RunFolder(out).read_state().swa_epochs == 1 and not (out / "swa.keras").exists()
    train.train(config, out, verbose=False)
    assert _same_weights(runs.load_model(out, "swa"), runs.load_model(swa_run, "swa"))
    assert runs.RunFolder(out).read_swa() == runs.RunFolder(swa_run).read_swa()
    (out / "swa.json").unlink()
    (out / "swa.keras").unlink()
    train.train(config, out, verbose=False)
    assert _same_weights(runs.load_model(out, "swa"), runs.load_model(swa_run, "swa"))
    assert runs.RunFolder(out).read_swa() == runs.RunFolder(swa_run).read_swa()


@pytest.mark.slow
def test_refit_makes_the_average_best(tiny_data, tmp_path):
    """Nothing held out: the average the configuration asked for is best.keras."""
    out = train.train(swa_config(tiny_data, refit=True, epochs=2, swa_start=0), tmp_path / "refit", verbose=False)
    record = runs.RunFolder(out).read_swa()
    assert record == {"epochs": 2, "after_epoch": 2, "val_rmse_swa": None, "best": True}
    assert _same_weights(runs.load_model(out, "swa"), runs.load_model(out, "best"))


@pytest.mark.slow
def test_a_damaged_average_is_refused(swa_run, tmp_path):
    out = tmp_path / "damaged"
    shutil.copytree(swa_run, out)
    state = runs.RunFolder(out).read_state()
    (out / "resume" / state.swa_average).write_bytes(b"not an archive")
    from galaxy_lib.model import checkpoint

    with pytest.raises(RunError, match="not a readable weight average"):
        checkpoint.load_average(runs.RunFolder(out), state, runs.load_model(swa_run, "last"))
