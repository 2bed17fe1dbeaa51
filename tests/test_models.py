"""VGG6 as the paper coded it, its options, the tree head's guarantee, and vgg6_views' invariance."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import train_on_two_logical_cpus, write_kaggle_folder

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data import dataset
from galaxy_lib.errors import ConfigError
from galaxy_lib.model import network, predict, runs, train

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


def test_a_third_conv_block_deepens_the_body_and_shrinks_the_dense_layer():
    """69 -> ... -> pool2 14 (as above) -> 12 -> 10 -> pool 5: 5x5x64 = 1,600 features into the dense layer.
    Parameters by hand: convs 448 + 2,320 + 4,640 + 9,248 + 18,496 + 36,928, BatchNorms 128 + 256,
    dense 1,600 x 256 + 256 = 409,856, answers 9,509: 491,829."""
    deep = network.build_model(Config(crop=207, image_size=69, second_pool=2, conv_blocks=3))
    assert deep.get_layer("conv5").filters == 64 and deep.get_layer("conv6").filters == 64
    assert deep.get_layer("pool3").output.shape[1:] == (5, 5, 64)
    assert deep.count_params() == 491_829
    views = network.build_model(Config(crop=207, image_size=69, second_pool=2, conv_blocks=3, model="vgg6_views"))
    assert views.count_params() == 491_829  # the shared body and mean merge: the same weights
    with pytest.raises(ConfigError, match="conv_blocks"):
        network.build_model(Config(crop=207, image_size=69, second_pool=2, conv_blocks=4))  # 5 -> 1 -> nothing
    with pytest.raises(ConfigError, match="'conv_blocks'"):
        Config(conv_blocks=1)


def test_a_deeper_or_wider_last_block_by_hand():
    """The conv_blocks 3 model above (491,829 parameters) with a third convolution in its last block:
    + conv7 3*3*64*64 + 64 = 36,928, and the map 14 -> 12 -> 10 -> 8 -> pool 4, so the dense layer gets
    4*4*64 = 1,024 features (1,024*256 + 256 = 262,400 instead of 409,856): 381,301. With 96 filters in
    the last block: conv5 3*3*32*96 + 96 = 27,744 (not 18,496), conv6 3*3*96*96 + 96 = 83,040 (not 36,928),
    BatchNorm 4*96 = 384 (not 256), dense 5*5*96*256 + 256 = 614,656 (not 409,856): 752,117."""
    base = Config(crop=207, image_size=69, second_pool=2, conv_blocks=3)
    default = network.build_model(base)
    assert default.count_params() == 491_829
    assert [name for _, name in network.layer_summary(default)][:13] == [
        "conv1", "conv2", "pool1", "dropout1", "conv3", "conv4", "batchnorm", "pool2", "dropout2",
        "conv5", "conv6", "batchnorm3", "pool3"]  # the names saved models have: unchanged
    deeper = network.build_model(base.replace(last_block_convs=3))
    assert deeper.get_layer("conv7").output.shape[1:] == (8, 8, 64)
    assert deeper.get_layer("pool3").output.shape[1:] == (4, 4, 64)
    assert deeper.get_layer("flatten").output.shape[-1] == 1_024
    assert deeper.count_params() == 491_829 + 3 * 3 * 64 * 64 + 64 - (1_600 - 1_024) * 256 == 381_301
    assert network.final_side(69, 2, 3, 3) == 4 and network.final_side(69, 2, 3) == 5
    wider = network.build_model(base.replace(last_block_filters=96))
    assert wider.get_layer("conv5").filters == 96 and wider.get_layer("conv6").filters == 96
    assert "conv7" not in [layer.name for layer in wider.layers]
    assert wider.count_params() == 491_829 + (27_744 - 18_496) + (83_040 - 36_928) + (384 - 256) + (
        614_656 - 409_856) == 752_117
    views = network.build_model(base.replace(model="vgg6_views", last_block_convs=3))
    assert views.count_params() == 381_301  # the shared body, mean merge
    # conv_blocks 4 at 69: block 4 (the last) gets the keys, block 3 keeps its two 64-filter convolutions
    four = network.build_model(base.replace(image_size=128, conv_blocks=4, last_block_filters=96))
    assert four.get_layer("conv6").filters == 64 and four.get_layer("conv8").filters == 96


def test_the_last_block_keys_need_a_block_past_the_papers_two():
    for key, value in (("last_block_convs", 3), ("last_block_filters", 96)):
        with pytest.raises(ConfigError, match=rf"^config key '{key}' \({value}\) does nothing while 'conv_blocks' "
                                              r"is 2: set conv_blocks: 3 or more"):
            Config(**{key: value})
        with pytest.raises(ValueError, match=key):
            network.vgg6(69, second_pool=2, **{key: value})
    for key, value in (("last_block_convs", 0), ("last_block_convs", 5), ("last_block_filters", -1)):
        with pytest.raises(ConfigError, match=rf"'{key}'.*out of range"):
            Config(conv_blocks=3, **{key: value})
    # a deeper last block can leave nothing: the error names the key that did it
    config = Config(crop=207, image_size=40, second_pool=2, conv_blocks=3, last_block_convs=3)  # 7 -> 1 -> pool 0
    with pytest.raises(ConfigError, match=r"^config keys 'crop'/'image_size', 'second_pool', 'conv_blocks' and "
                                          r"'last_block_convs': a 40-pixel input .* and 3 blocks \(3 convolutions "
                                          r"in the last\); .* or last_block_convs$"):
        network.build_model(config)
    assert network.final_side(40, 2, 3) == 1 and network.final_side(40, 2, 3, 3) == 0
    assert network.build_model(config.replace(last_block_convs=2)).get_layer("pool3").output.shape[1:] == (1, 1, 64)
    with pytest.raises(ValueError, match="too small .* last_block_convs=3"):
        network.vgg6(40, second_pool=2, conv_blocks=3, last_block_convs=3)


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        network.vgg6(16)


def test_a_configuration_too_small_for_vgg6_is_a_config_error():
    """Reachable from a parameters file, so it is the user's error naming the keys, not a bug."""
    with pytest.raises(ConfigError, match=r"'crop'/'image_size', 'second_pool' and 'conv_blocks': a 16-pixel input"):
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


# --- vgg6_views: Dieleman's viewpoint pooling ------------------------------------------------------

VIEWS_69 = dict(crop=207, image_size=69, second_pool=2, model="vgg6_views")


def _views_config(**changes) -> Config:
    return Config(**{**VIEWS_69, **changes})


def _images(n: int = 3, side: int = 69, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, side, side, 3)).astype("float32")


def _dihedral_inputs(x: np.ndarray) -> dict[str, np.ndarray]:
    """The input turned by 90, 180 and 270 degrees, and mirrored three ways."""
    return {
        "rot90": np.rot90(x, 1, axes=(1, 2)), "rot180": np.rot90(x, 2, axes=(1, 2)),
        "rot270": np.rot90(x, 3, axes=(1, 2)), "mirror left-right": x[:, :, ::-1],
        "mirror up-down": x[:, ::-1], "transpose": x.transpose(0, 2, 1, 3),
    }


@pytest.mark.parametrize(("views", "combine", "params"), [
    (4, "mean", 1_632_181), (8, "mean", 1_632_181), (16, "mean", 550_837),
    (4, "concat", 6_449_077), (8, "concat", 12_871_605), (16, "concat", 8_415_157),
])
def test_views_model_shares_vgg6s_body_and_has_the_documented_size(views, combine, params):
    """Mean keeps VGG6's parameters (one shared body, features averaged); concat widens the first
    dense layer by the number of views (the counts the docstring of vgg6_views quotes)."""
    model = network.build_model(_views_config(views=views, views_combine=combine))
    assert model.count_params() == params
    assert model.input_shape == (None, 69, 69, 3) and model.output_shape == (None, 37)
    assert network.layer_summary(model) == [
        ("ViewStack", "views"), *PAPER_LAYERS[:10], ("ViewMerge", "merge_views"), *PAPER_LAYERS[10:],
    ]
    side = 45 if views == 16 else 69  # Dieleman's 45x45 parts of a 69x69 view
    assert model.get_layer("views").output.shape == (None, side, side, 3)
    flat = model.get_layer("flatten").output.shape[-1]
    assert model.get_layer("merge_views").output.shape[-1] == flat * (views if combine == "concat" else 1)


@pytest.mark.parametrize("views", [4, 8, 16])
def test_views_model_builds_at_a_small_size_with_the_tree_head(views):
    model = network.build_model(Config(crop=32, second_pool=2, model="vgg6_views", views=views, head="tree"))
    out = model.predict(_images(4, 32), verbose=0)
    assert out.shape == (4, 37) and tree.tree_violations(out, tolerance=1e-5).empty


@pytest.mark.parametrize(("views", "side", "head"), [(4, 69, "sigmoid"), (8, 69, "tree"), (16, 69, "sigmoid"),
                                                     (8, 32, "sigmoid"), (16, 32, "tree")])
def test_views_model_is_invariant_to_the_rotations_and_mirrors_of_its_views(views, side, head):
    """The point of viewpoint pooling: turning the input permutes its views, and the mean of the
    views' features does not see the order. 4 views: rotations only (a mirror is not one of them);
    8 and 16: all rotations and mirrors (16 also holds the 45-degree views, rotated by a fixed
    bilinear resampling that commutes with them). Inference mode: dropout would differ per view."""
    geometry = dict(crop=207, image_size=69) if side == 69 else dict(crop=side)
    config = Config(**geometry, second_pool=2, model="vgg6_views", views=views, head=head)
    model = network.build_model(config)
    x = _images(3, side)
    reference = model.predict(x, verbose=0)
    for name, turned in _dihedral_inputs(x).items():
        out = model.predict(np.ascontiguousarray(turned), verbose=0)
        if views == 4 and not name.startswith("rot"):
            assert np.abs(out - reference).max() > 1e-4, f"4 rotation views should not pool over a {name}"
        else:
            # float32 sums of 8-16 views in another order: 1e-5 is far below the 1e-4 a lost invariance shows
            # (2e-6 failed once under load, when oneDNN's threads may split a reduction differently)
            np.testing.assert_allclose(out, reference, atol=1e-5, rtol=1e-5, err_msg=name)


def test_concatenated_views_are_only_permuted_by_a_rotation():
    """Dieleman's concatenation keeps each view's features in its own block: a 90-degree turn of
    the input moves every block one place along (view k of the turned image is view k+1 of the
    original), so the dense layer sees a different vector and the output is not invariant."""
    model = network.build_model(Config(crop=32, second_pool=2, model="vgg6_views", views=4, views_combine="concat"))
    features = keras.Model(model.input, model.get_layer("merge_views").output)
    x = _images(2, 32)
    blocks = features.predict(x, verbose=0).reshape(2, 4, -1)
    turned = features.predict(np.ascontiguousarray(np.rot90(x, 1, axes=(1, 2))), verbose=0).reshape(2, 4, -1)
    np.testing.assert_allclose(turned, np.roll(blocks, -1, axis=1), atol=1e-5)
    assert np.abs(turned - blocks).max() > 1e-3
    out = model.predict(x, verbose=0)
    assert np.abs(model.predict(np.ascontiguousarray(np.rot90(x, 1, axes=(1, 2))), verbose=0) - out).max() > 1e-4


def test_views_are_the_rotations_mirrors_and_corner_parts():
    x = _images(2, 69)
    four = network.ViewStack(4)(x).numpy().reshape(4, 2, 69, 69, 3)
    for k in range(4):
        np.testing.assert_array_equal(four[k], np.rot90(x, k, axes=(1, 2)))
    eight = network.ViewStack(8)(x).numpy().reshape(8, 2, 69, 69, 3)
    assert len({view.tobytes() for view in eight}) == 8  # all different
    sixteen = network.ViewStack(16)(x).numpy().reshape(16, 2, 45, 45, 3)
    np.testing.assert_array_equal(sixteen[0], x[:, :45, :45])  # the top-left part, the centre in its far corner
    np.testing.assert_array_equal(sixteen[5], np.rot90(x, 1, axes=(1, 2))[:, :45, :45])  # another corner, turned
    rotated = network.rotate_images(network.tf.constant(x), 45.0).numpy()
    np.testing.assert_allclose(sixteen[8], rotated[:, :45, :45], atol=1e-6)


def test_fixed_rotation_matches_tensorflows_projective_transform_and_compiles_with_xla():
    tf = network.tf
    x = tf.constant(_images(2, 20))
    np.testing.assert_array_equal(network.rotate_images(x, 90.0).numpy(), tf.image.rot90(x, 1).numpy())
    c, r = 9.5, np.sqrt(0.5)
    reference = tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=tf.constant([[r, -r, c, r, r, c * (1 - 2 * r), 0, 0]], "float32"),
        output_shape=tf.constant([20, 20]), fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    rotated = network.rotate_images(x, 45.0).numpy()
    np.testing.assert_allclose(rotated, reference.numpy(), atol=1e-5)
    assert rotated[:, 0, 0].max() == 0  # a corner comes from outside the image: dark sky
    # Keras compiles with XLA on GPUs, which has no kernel for ImageProjectiveTransformV3.
    compiled = tf.function(lambda t: network.rotate_images(t, 45.0), jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), rotated, atol=1e-6)


@pytest.mark.parametrize(("views", "combine", "head"), [(8, "mean", "tree"), (16, "concat", "sigmoid")])
def test_views_model_survives_keras_save_and_load(tmp_path, views, combine, head):
    model = network.build_model(Config(crop=32, second_pool=2, model="vgg6_views", views=views,
                                       views_combine=combine, head=head))
    x = _images(3, 32)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("views").views == views and loaded.get_layer("merge_views").combine == combine
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_views_model_keeps_a_float32_output_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = network.build_model(Config(crop=32, second_pool=2, model="vgg6_views", views=16, head="tree"))
        assert model.get_layer("conv1").compute_dtype == "bfloat16"
        out = model.predict(_images(2, 32), verbose=0)
        assert out.dtype == np.float32 and np.isfinite(out).all()
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_views_layers_reject_what_they_cannot_do():
    with pytest.raises(ValueError, match="views 6 is not one of 4, 8, 16"):
        network.ViewStack(6)
    with pytest.raises(ValueError, match="combine 'max' is not one of mean, concat"):
        network.ViewMerge(8, "max")
    with pytest.raises(ValueError, match=r"input side 20 \(views of side 13\) is too small"):
        network.vgg6_views(20, views=16)
    # From a parameters file it is the user's error, naming the keys and the parts.
    with pytest.raises(ConfigError, match=r"a 20-pixel input \(cut into 13-pixel parts by views: 16\) leaves nothing"):
        network.build_model(Config(crop=20, second_pool=2, model="vgg6_views", views=16))
    assert network.build_model(Config(crop=20, second_pool=2, model="vgg6_views", views=8)).output_shape == (None, 37)


@pytest.mark.slow
def test_views_model_trains_predicts_and_makes_test_time_averaging_redundant(tmp_path):
    """A tiny run through model/train.py; the saved best model is invariant, so dihedral TTA
    (8 views of the input, each giving the same answer) changes nothing beyond float rounding."""
    data = write_kaggle_folder(tmp_path / "kaggle", n=16, seed=4)
    config = Config(data=str(data), crop=128, image_size=32, second_pool=2, epochs=1, batch_size=4,
                    val_fraction=0.25, test_fraction=0.25, model="vgg6_views", views=8, head="tree", loss="mse")
    out = train.train(config, tmp_path / "views", verbose=False)
    run = runs.load_run(out)
    assert run.config.model == "vgg6_views" and np.isfinite(run.history["val_rmse"]).all()
    ids = run.split.loc[run.split["split"] == "test", tree.ID_COLUMN].to_numpy()
    images = dataset.open_images(data)
    plain = predict.predict_galaxies(out, images, ids, tta="none")
    averaged = predict.predict_galaxies(out, images, ids, tta="dihedral")
    assert plain.shape == (len(ids), 37) and tree.tree_violations(plain, tolerance=1e-5).empty
    np.testing.assert_allclose(averaged, plain, atol=1e-5)


@pytest.mark.slow
def test_views_model_trains_under_a_mirrored_strategy(tmp_path):
    """Two replicas each stack and merge the views of their half of the batch; two logical CPU
    devices must be declared before TensorFlow starts: a fresh process."""
    data = write_kaggle_folder(tmp_path / "kaggle", n=16, seed=4)
    env = train_on_two_logical_cpus(
        tmp_path / "mirrored", data=str(data), crop=128, image_size=32, second_pool=2, epochs=1, batch_size=4,
        val_fraction=0.25, test_fraction=0.25, model="vgg6_views", views=16,
    )
    assert env["strategy"] == "MirroredStrategy" and env["replicas"] == 2
    history = runs.read_history(tmp_path / "mirrored" / "history.csv")
    assert len(history) == 1 and np.isfinite(history["val_rmse"]).all()
