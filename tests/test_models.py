"""VGG6 as the paper coded it, its options, and the tree head's guarantee."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.errors import ConfigError
from galaxy_lib.model import network

keras = network.keras

PAPER_LAYERS = [
    ("Conv2D", "conv1"),
    ("Conv2D", "conv2"),
    ("MaxPooling2D", "pool1"),
    ("Dropout", "dropout1"),
    ("Conv2D", "conv3"),
    ("Conv2D", "conv4"),
    ("BatchNormalization", "batchnorm"),
    ("MaxPooling2D", "pool2"),
    ("Dropout", "dropout2"),
    ("Flatten", "flatten"),
    ("Dense", "dense"),
    ("Dropout", "dropout3"),
    ("Dense", "answers"),
]


def test_paper_vgg6_matches_the_papers_code():
    model = network.build_model(Config())
    assert model.count_params() == 1_632_181
    assert network.layer_summary(model) == PAPER_LAYERS
    assert model.input_shape == (None, 128, 128, 3)
    assert model.output_shape == (None, 37)
    by_name = {layer.name: layer for layer in model.layers}
    assert all(by_name[f"conv{i}"].padding == "valid" for i in range(1, 5))
    assert [by_name[f"dropout{i}"].rate for i in range(1, 4)] == [0.25, 0.25, 0.5]
    assert by_name["pool1"].pool_size == (2, 2) and by_name["pool2"].pool_size == (4, 4)
    assert by_name["answers"].activation.__name__ == "sigmoid"
    assert by_name["pool2"].output.shape[1:] == (14, 14, 32)


def test_options_change_only_what_they_name():
    small = network.build_model(Config(crop=207, image_size=69, second_pool=2))
    assert small.input_shape == (None, 69, 69, 3)
    # 69 -> 67 -> 65 -> pool 32 -> 30 -> 28 -> pool2 14: same Flatten width as the paper's 128/pool4.
    assert small.count_params() == 1_632_181
    wide = network.build_model(Config(width=2.0))
    assert wide.get_layer("conv1").filters == 32 and wide.get_layer("dense").units == 512
    tree_model = network.build_model(Config(head="tree"))
    assert network.layer_summary(tree_model)[-2:] == [("Dense", "scores"), ("TreeHead", "answers")]
    assert tree_model.count_params() == 1_632_181


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        network.vgg6(16)


def test_a_configuration_too_small_for_vgg6_is_a_config_error():
    """Reachable from a parameters file, so it is the user's error naming the keys, not a bug."""
    with pytest.raises(ConfigError, match=r"'crop'/'image_size' and 'second_pool': a 16-pixel input"):
        network.build_model(Config(crop=128, image_size=16))
    assert network.build_model(Config(crop=128, image_size=16, second_pool=1)).output.shape[-1] == tree.N_ANSWERS


@pytest.mark.parametrize("normalisation", ["softmax", "relu"])
def test_tree_head_outputs_obey_the_tree(normalisation):
    rng = np.random.default_rng(1)
    scores = rng.normal(0, 3, size=(64, tree.N_ANSWERS)).astype("float32")
    out = network.TreeHead(normalisation)(scores).numpy()
    assert out.shape == (64, 37)
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    assert tree.tree_violations(out, tolerance=1e-5).empty
    # Against the NumPy twin: per-question probabilities, multiplied down the tree.
    per_question = np.zeros_like(scores, dtype=np.float64)
    for s in tree.question_slices():
        part = scores[:, s].astype(np.float64)
        if normalisation == "softmax":
            e = np.exp(part - part.max(axis=1, keepdims=True))
            per_question[:, s] = e / e.sum(axis=1, keepdims=True)
        else:
            r = np.maximum(part, 0) + 1e-6
            per_question[:, s] = r / r.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, tree.normalise_to_tree(per_question), atol=1e-5)


def test_untrained_tree_model_output_obeys_the_tree():
    model = network.build_model(Config(crop=32, second_pool=2, head="tree"))
    x = np.random.default_rng(0).uniform(size=(5, 32, 32, 3)).astype("float32")
    assert tree.tree_violations(model.predict(x, verbose=0), tolerance=1e-5).empty


def test_tree_model_survives_keras_save_and_load(tmp_path):
    model = network.build_model(Config(crop=32, second_pool=2, head="tree", tree_normalisation="relu"))
    x = np.random.default_rng(0).uniform(size=(3, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("answers").normalisation == "relu"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_mixed_precision_keeps_a_float32_output():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for head in ("sigmoid", "tree"):
            model = network.build_model(Config(crop=32, second_pool=2, head=head))
            assert model.get_layer("conv1").compute_dtype == "float16"
            assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_unknown_tree_normalisation_is_rejected():
    with pytest.raises(ValueError, match="tree normalisation"):
        network.TreeHead("sum")
