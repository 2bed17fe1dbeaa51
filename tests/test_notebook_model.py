"""A model the student writes (02_train's `model` cell): trained, recorded, resumed, refused and evaluated."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import write_kaggle_folder
from test_train import COMPARED, Interrupt, InterruptAt, tiny_config

from galaxy_lib.errors import ModelError, RunError
from galaxy_lib.model import architecture, network, runs, train

keras = train.keras
layers = keras.layers


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_kaggle_folder(tmp_path_factory.mktemp("tiny-notebook") / "kaggle", n=24, seed=4)


def extra_block(config):
    """VGG6's two blocks for 32-pixel inputs, then a third block of two convolutions: what a student
    writes in 02_train's `model` cell (plain Keras, unnamed layers)."""
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3))
    x = inputs
    for filters in (8, 16, 32):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(37, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="extra_block")


def two_blocks(config):
    """The same without the third block: another architecture."""
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3))
    x = inputs
    for filters in (8, 16):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    outputs = layers.Dense(37, activation="sigmoid")(layers.Flatten()(x))
    return keras.Model(inputs, outputs)


@pytest.mark.slow
def test_a_notebook_model_with_an_extra_block_trains_resumes_evaluates_and_is_indexed(tiny_data, tmp_path):
    from galaxy_lib.evaluation import evaluate

    config = tiny_config(tiny_data, epochs=2)
    reference = train.train(config, tmp_path / "reference", build_model=extra_block, verbose=False)
    record = json.loads((reference / "architecture.json").read_text())
    assert record["source"] == "notebook" and record["function"] == "extra_block"
    assert record["build_model"]["function"] == "extra_block"
    assert "for filters in (8, 16, 32)" in record["build_model"]["code"]
    assert record["compile_model"] is None  # the library's compile step
    assert [kind for kind, *_ in record["layers"]].count("Conv2D") == 6
    assert record["parameters"] == runs.load_model(reference).count_params()

    out = tmp_path / "killed"
    with pytest.raises(Interrupt):
        train.train(config, out, build_model=extra_block, callbacks=[InterruptAt(epoch=1, batch=0)], verbose=False)
    train.train(config, out, build_model=extra_block, verbose=False)  # resumes after epoch 1
    pd.testing.assert_frame_equal(runs.load_run(out).history[COMPARED], runs.load_run(reference).history[COMPARED])

    evaluation = evaluate.evaluate_run(out, return_evaluation=True)
    assert np.isfinite(evaluation.result.rmse) and evaluation.y_pred.shape[1] == 37
    assert runs.RunFolder(out).read_architecture()["source"] == "notebook"

    # The index lists it, with where its model came from (report.json as the report writes it).
    import datetime as dt

    from galaxy_lib.report.index import write_index
    from galaxy_lib.report.summary import summary_record

    record = summary_record(config, "extra", "", "python3", dt.datetime(2026, 12, 7), [], out)
    assert record["model"]["source"] == "notebook" and record["model"]["function"] == "extra_block"
    (tmp_path / "reports" / "extra").mkdir(parents=True)
    (tmp_path / "reports" / "extra" / "report.json").write_text(json.dumps(record))
    page = write_index(tmp_path / "reports").read_text()
    row = next(line for line in page.split("<tr") if "extra_block" in line)
    assert "notebook" in row and f"{record['model']['parameters']:,}" in row

    # Another architecture, or the command line's configuration model, is refused; nothing changes.
    before = {name: (out / name).read_text() for name in ("config.yaml", "history.csv", "architecture.json")}
    with pytest.raises(RunError, match=r"another architecture \(the saved model has 13 layers .* first difference "
                                       r"at layer 3: saved Conv2D .*, now MaxPooling2D"):
        train.train(tiny_config(tiny_data, epochs=3), out, build_model=two_blocks, verbose=False)
    with pytest.raises(RunError, match=r"model was defined in a notebook \(function extra_block\).* run that "
                                       r"notebook \(02_train\) again"):
        train.train(tiny_config(tiny_data, epochs=3), out, verbose=False)  # what `python -m galaxy_lib train` does
    assert {name: (out / name).read_text() for name in before} == before  # nothing half-written


@pytest.mark.slow
def test_a_notebook_model_on_a_run_of_the_configuration_model_is_refused(tiny_data, tmp_path):
    out = tmp_path / "run"
    train.train(tiny_config(tiny_data, epochs=1), out, verbose=False)
    assert runs.RunFolder(out).read_architecture()["source"] == "configuration"
    (out / "architecture.json").unlink()  # as a run trained before the file existed
    with pytest.raises(RunError, match="was trained with another architecture"):
        train.train(tiny_config(tiny_data, epochs=2), out, build_model=extra_block, verbose=False)


def _wrong_output(config):
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3))
    return keras.Model(inputs, layers.Dense(10, activation="sigmoid")(layers.Flatten()(inputs)))


def _linear_output(config):
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3))
    dense = layers.Dense(37, kernel_initializer=keras.initializers.RandomNormal(stddev=5.0, seed=1))
    return keras.Model(inputs, dense(layers.Flatten()(inputs)))


def _frozen(config):
    model = extra_block(config)
    model.trainable = False
    return model


def _lambda(config):
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3))
    x = layers.Lambda(lambda t: t * 2.0)(inputs)
    return keras.Model(inputs, layers.Dense(37, activation="sigmoid")(layers.Flatten()(x)))


def _wrong_input(config):
    inputs = keras.Input(shape=(64, 64, 3))
    return keras.Model(inputs, layers.Dense(37, activation="sigmoid")(layers.Flatten()(inputs)))


def _not_a_model(config):
    return layers.Dense(37)


def _no_compile(model, config):
    pass


def _no_rmse(model, config):
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse", metrics=["mae"])


def _schedule(model, config):
    rate = keras.optimizers.schedules.ExponentialDecay(config.learning_rate, 10, 0.9)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="mse",
                  metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])


@pytest.mark.slow
@pytest.mark.parametrize(("build", "compile_", "message"), [
    (_wrong_output, None, r"gives \(10,\) per image, not the 37 answers"),
    (_linear_output, None, r"outputs range from .* but vote fractions lie in \[0, 1\]"),
    (_frozen, None, "no trainable weights"),
    (_lambda, None, "cannot be saved and loaded back as a .keras file"),
    (_wrong_input, None, r"input is \(None, 64, 64, 3\), the data gives images of shape \(None, 32, 32, 3\)"),
    (_not_a_model, None, "returned Dense, not a keras.Model"),
    (extra_block, _no_compile, "did not compile the model"),
    (extra_block, _no_rmse, "training records rmse"),
    (extra_block, _schedule, "learning rate is not a number training can set"),
])
def test_a_model_that_cannot_train_stops_before_anything_is_written(tiny_data, tmp_path, build, compile_, message):
    out = tmp_path / "run"
    with pytest.raises(ModelError, match=message) as error:
        train.train(tiny_config(tiny_data, epochs=1), out, build_model=build, compile_model=compile_, verbose=False)
    assert "\n" not in str(error.value)
    assert not out.exists()


def test_the_library_functions_count_as_the_configuration_model():
    assert train.model_source(network.build_model, train.compile_model).source == "configuration"
    assert train.model_source().source == "configuration"
    source = train.model_source(extra_block)
    assert source.source == "notebook" and source.compile is None


def test_a_difference_in_layer_names_alone_is_the_same_architecture():
    from galaxy_lib.config import Config

    config = Config(crop=128, image_size=32, second_pool=2)
    first, second = architecture.describe(extra_block(config)), architecture.describe(extra_block(config))
    assert [name for _, name, *_ in first["layers"]] != [name for _, name, *_ in second["layers"]]
    assert architecture.architecture_difference(first, second) is None
    assert "first difference at layer" in architecture.architecture_difference(
        first, architecture.describe(two_blocks(config)))


def test_the_notebook_shows_the_code_that_builds_the_configured_model():
    from galaxy_lib.config import Config
    from galaxy_lib.report.notebook import show_code

    paper, views = Config(), Config(model="vgg6_views", crop=207, image_size=69, second_pool=2)
    assert network.builder_source(paper).startswith("def vgg6(")
    assert network.builder_source(views).startswith("def vgg6_views(")
    for source in (network.builder_source(paper), network.builder_source(views)):
        assert "layers.Conv2D(" in source and "def _vgg6_top(" in source
        compile(source, "<builder>", "exec")  # whole functions, as the notebook shows them
    shown = show_code(train.compile_model, "x = 1")
    assert "model.compile(" in shown.data and shown.data.rstrip().endswith("x = 1")


def test_the_model_note_explains_the_parameter_count_from_the_model():
    from galaxy_lib.config import Config
    from galaxy_lib.report.notebook import model_note

    improved = Config(model="vgg6_views", crop=207, image_size=69, second_pool=2, head="tree")
    note = model_note(network.build_model(improved), improved)
    assert note.startswith("This model has 1,632,181 parameters; 1,605,888 of them (98%) are in one layer, `dense`")
    assert "the 6,272 numbers that `flatten` passes on" in note
    assert "leaves a 14 x 14 map" in note and "leaves 14 x 14: the same size, hence the same parameter count" in note
    small = Config(crop=128, image_size=32, second_pool=2)
    assert "leaves 5 x 5: a different size" in model_note(network.build_model(small), small)
    assert "The paper's" not in model_note(network.build_model(Config()), Config())  # the paper's own input


def test_the_training_note_counts_this_runs_steps(tmp_path):
    from galaxy_lib.config import Config
    from galaxy_lib.data import split
    from galaxy_lib.report.notebook import training_note

    folder = runs.RunFolder(tmp_path / "run").create()
    table = split.make_split(np.arange(1, 101), seed=0, val_fraction=0.1, test_fraction=0.2)
    split.save_split(table, folder.split_file)
    Config().save(folder.config_file)
    n_train = int((table["split"] == "train").sum())
    note = training_note(Config(batch_size=64, epochs=30, time_limit_minutes=7), folder)
    assert f"the {n_train:,} training galaxies, in batches of 64: {-(-n_train // 64)} steps" in note
    assert "Training stops after 30 epochs or 7 minutes, whichever comes first." in note
    assert "256" not in note


def _cell(notebook, tag: str) -> str:
    tagged = [c.source for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged {tag!r}"
    return tagged[0]


def test_02_trains_the_function_its_model_cell_defines_and_the_extra_block_is_conv_blocks_3(repo_root):
    """The committed 02_train: its `model` cell trains the configuration's VGG6 by default (the stored
    figures were measured with it), its `vgg6_extra_block` is exactly what `conv_blocks: 3` builds
    (exercise 2.1 compares with the stored conv_blocks=3 runs), and training passes both cells' functions."""
    import nbformat

    from galaxy_lib.config import load_config

    notebook = nbformat.read(repo_root / "notebooks" / "02_train.ipynb", as_version=4)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert any("train_run(config, run, build_model=build_model, compile_model=compile_model)" in c for c in code)
    config = load_config(repo_root / "parameters" / "default.yaml")
    namespace = {"config": config, "network": network, "train": train}
    exec(_cell(notebook, "model").replace("model.summary()", ""), namespace)
    assert namespace["build_model"] is network.build_model
    exec(_cell(notebook, "compile"), namespace)
    assert namespace["compile_model"] is train.compile_model
    mine = architecture.describe(namespace["vgg6_extra_block"](config))
    library = architecture.describe(network.build_model(config.replace(conv_blocks=3)))
    assert architecture.architecture_difference(library, mine) is None
    assert mine["parameters"] == library["parameters"]
