"""``init_weights``: a run that starts from a saved model's weights (pretraining, then fine-tuning)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import tiny_run_config, write_kaggle_folder

from galaxy_lib.config import Config
from galaxy_lib.errors import ConfigError, RunError
from galaxy_lib.model import architecture, network, runs, train

keras = network.keras


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_kaggle_folder(tmp_path_factory.mktemp("init-weights") / "kaggle", n=16, seed=7)


def tiny_config(data, **changes) -> Config:
    return tiny_run_config(data, **{"epochs": 1, **changes})


@pytest.fixture(scope="module")
def pretrained(tiny_data, tmp_path_factory):
    """A saved model of the tiny configuration's architecture, its weights drawn from another seed:
    what a pretraining run leaves (no training needed to test that its weights are the start)."""
    keras.utils.set_random_seed(123)
    model = network.build_model(tiny_config(tiny_data))
    path = tmp_path_factory.mktemp("pretrained") / "pretrained.keras"
    model.save(path)
    return path


class StartingWeights(keras.callbacks.Callback):
    """The model's weights when the first epoch's ``fit`` begins, before any training step."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs=None) -> None:
        if self.weights is None:
            self.weights = [np.array(w) for w in self.model.get_weights()]


def same_weights(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.slow  # trains two tiny runs
def test_a_fine_tuned_run_starts_from_the_saved_weights_and_records_them(tiny_data, pretrained, tmp_path):
    saved = keras.models.load_model(pretrained, compile=False).get_weights()
    start = StartingWeights()
    out = train.train(tiny_config(tiny_data, init_weights=str(pretrained)), tmp_path / "fine", callbacks=[start],
                      verbose=False)
    assert start.weights is not None and same_weights(start.weights, saved)
    keras.utils.set_random_seed(5)  # the run's own seed: what it would have started from without init_weights
    scratch = network.build_model(tiny_config(tiny_data)).get_weights()
    assert not same_weights(start.weights, scratch)
    folder = runs.RunFolder(out)
    assert folder.load_config().init_weights == str(pretrained)
    assert json.loads(folder.environment_file.read_text())["init_weights"] == str(pretrained)
    # it is part of what the run computed: resuming without it (or with another file) is refused
    assert "init_weights" not in runs.RESUMABLE_CHANGES
    with pytest.raises(RunError, match=r"init_weights: '.*pretrained.keras' -> ''"):
        train.train(tiny_config(tiny_data, epochs=2), out, verbose=False)


def test_a_run_folder_means_its_last_model(tiny_data, pretrained, tmp_path):
    folder = tmp_path / "pretraining-run"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"^config key 'init_weights': .*pretraining-run/last.keras: the run folder "
                                          r"has no last.keras"):
        architecture.initial_weights_file(tiny_config(tiny_data, init_weights=str(folder)))
    (folder / "last.keras").write_bytes(pretrained.read_bytes())
    assert architecture.initial_weights_file(tiny_config(tiny_data, init_weights=str(folder))) == folder / "last.keras"
    assert architecture.initial_weights_file(tiny_config(tiny_data)) is None


def test_a_missing_file_stops_training_before_the_data_is_read(tiny_data, tmp_path):
    missing = tmp_path / "nowhere.keras"
    with pytest.raises(ConfigError) as caught:
        train.train(tiny_config(tiny_data, init_weights=str(missing)), tmp_path / "run", verbose=False)
    message = str(caught.value)
    assert message == f"config key 'init_weights': {missing}: no such model file or run folder"
    assert not (tmp_path / "run" / "split.csv").exists()


def test_a_file_that_is_not_a_model_is_one_line(tiny_data, tmp_path):
    model = network.build_model(tiny_config(tiny_data))
    text = tmp_path / "notes.keras"
    text.write_text("not a model\n")
    with pytest.raises(ConfigError, match=r"^config key 'init_weights': .*notes.keras: not a .keras model"):
        architecture.load_initial_weights(model, text)
    archive = tmp_path / "archive.keras"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("config.json", "{not json")
    with pytest.raises(ConfigError) as caught:
        architecture.load_initial_weights(model, archive)
    assert str(caught.value).startswith(f"config key 'init_weights': {archive}: cannot be loaded as a Keras model (")
    assert "\n" not in str(caught.value)


def test_another_architecture_names_the_first_layer_that_differs(tiny_data, pretrained):
    wider = network.build_model(tiny_config(tiny_data, width=2.0))
    before = [np.array(w) for w in wider.get_weights()]
    with pytest.raises(ConfigError) as caught:
        architecture.load_initial_weights(wider, pretrained)
    message = str(caught.value)
    assert message.startswith(f"config key 'init_weights': {pretrained}: another architecture than this run's (")
    assert "first difference at layer 2: saved Conv2D (None, 30, 30, 16) with 448 parameters, " \
           "now Conv2D (None, 30, 30, 32) with 896 parameters" in message
    assert "\n" not in message
    assert same_weights(wider.get_weights(), before)  # nothing copied
