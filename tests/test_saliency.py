"""Saliency maps: planted models whose answers read known quadrants, the real architectures, and a
run folder end to end (an untrained model saved in it: no training)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import write_kaggle_folder

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data.dataset import load_dataset
from galaxy_lib.data.images import read_centre
from galaxy_lib.evaluation import figures, saliency
from galaxy_lib.model.ensemble import EnsembleFolder
from galaxy_lib.model.network import build_model, keras, layers
from galaxy_lib.model.runs import RunFolder

SIDE = 8
HALF = SIDE // 2
QUADRANTS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row, column) of the top-left, top-right, bottom-left, bottom-right


def quadrant_model(reads: dict[int, int], seed: int = 0) -> keras.Model:
    """A linear model of ``SIDE`` x ``SIDE`` images whose answer column ``j`` reads only the pixels of
    quadrant ``reads[j]`` (other answers read quadrant 3), with random positive weights."""
    inputs = keras.Input((SIDE, SIDE, 3))
    parts = [layers.Flatten()(layers.Cropping2D(((r * HALF, (1 - r) * HALF), (c * HALF, (1 - c) * HALF)))(inputs))
             for r, c in QUADRANTS]
    dense = layers.Dense(tree.N_ANSWERS, use_bias=False)
    outputs = dense(layers.Concatenate()(parts))
    block = HALF * HALF * 3
    rng = np.random.default_rng(seed)
    kernel = np.zeros((4 * block, tree.N_ANSWERS), np.float32)
    for j in range(tree.N_ANSWERS):
        q = reads.get(j, 3)
        kernel[q * block : (q + 1) * block, j] = rng.uniform(0.5, 1.5, block)
    dense.set_weights([kernel])
    return keras.Model(inputs, outputs)


def quadrant_mass(maps: np.ndarray) -> np.ndarray:
    """``(..., 4)``: the share of each map's total in each quadrant."""
    masses = np.stack([maps[..., r * HALF : (r + 1) * HALF, c * HALF : (c + 1) * HALF].sum(axis=(-1, -2))
                       for r, c in QUADRANTS], axis=-1)
    return masses / masses.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (3, SIDE, SIDE, 3)).astype(np.float32)


def test_each_answer_looks_where_it_reads(images):
    model = quadrant_model({0: 0, 1: 1, 3: 2})  # Class1.1 reads top-left, Class1.2 top-right, Class2.1 bottom-left
    answers = ("Class1.1", "Class1.2", "Class2.1")
    maps, predicted = saliency.input_saliency(model, images, answers)
    assert maps.shape == (3, 3, SIDE, SIDE) and np.isfinite(maps).all() and (maps >= 0).all()
    masses = quadrant_mass(maps)
    np.testing.assert_allclose(masses[:, 0, 0], 1.0)  # all of smooth's saliency in the top-left quadrant
    np.testing.assert_allclose(masses[:, 1, 1], 1.0)
    np.testing.assert_allclose(masses[:, 2, 2], 1.0)
    # the map of a linear model is |weight|, largest over colours: the same for every image
    kernel = model.layers[-1].get_weights()[0][: HALF * HALF * 3, 0].reshape(HALF, HALF, 3)  # top-left block
    np.testing.assert_allclose(maps[1, 0, :HALF, :HALF], np.abs(kernel).max(axis=-1), rtol=1e-6)
    expected = model(images).numpy()[:, [0, 1, 3]]
    np.testing.assert_allclose(predicted, expected, rtol=1e-5)


def test_gradients_flow_back_through_test_time_views(images):
    """With the four flips averaged, an answer that reads the top-left quadrant of each view reads
    every quadrant of the image once: its saliency spreads evenly, and its prediction is the mean."""
    model = quadrant_model({0: 0})
    flips = (0, 2, 4, 6)
    maps, predicted = saliency.input_saliency(model, images, ("Class1.1",), views=flips, max_batch=4)
    np.testing.assert_allclose(quadrant_mass(maps)[:, 0], 0.25, rtol=1e-5)
    views = [np.asarray(model(np.stack([_view(x, v) for x in images])))[:, 0] for v in flips]
    np.testing.assert_allclose(predicted[:, 0], np.mean(views, axis=0), rtol=1e-5)


def _view(image: np.ndarray, index: int) -> np.ndarray:
    from galaxy_lib.data.augment import dihedral_view

    return dihedral_view(image[None], index).numpy()[0]


def test_an_ensemble_looks_where_its_members_look(images):
    top_left, bottom_right = quadrant_model({0: 0}), quadrant_model({0: 3}, seed=1)
    maps, predicted = saliency.input_saliency([top_left, bottom_right], images, ("Class1.1",))
    masses = quadrant_mass(maps)[:, 0]
    assert (masses[:, 0] > 0.3).all() and (masses[:, 3] > 0.3).all() and np.allclose(masses[:, 1:3], 0)
    mean = (top_left(images).numpy()[:, 0] + bottom_right(images).numpy()[:, 0]) / 2
    np.testing.assert_allclose(predicted[:, 0], mean, rtol=1e-5)
    with pytest.raises(ValueError, match="2 models but views"):
        saliency.input_saliency([top_left, bottom_right], images, ("Class1.1",), views=[(0,), (0,), (0,)])


@pytest.mark.parametrize("keys", [{"model": "vgg6"}, {"model": "vgg6_views", "views": 4}],
                         ids=["vgg6", "vgg6_views"])
def test_both_architectures_give_finite_maps_that_differ_between_answers(keys):
    config = Config(crop=32, second_pool=2, head="tree", **keys)
    keras.utils.set_random_seed(0)
    model = build_model(config)
    pixels = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    maps, predicted = saliency.input_saliency(model, pixels, saliency.SALIENCY_ANSWERS, views=(0, 5))
    assert maps.shape == (2, 5, 32, 32) and predicted.shape == (2, 5)
    assert np.isfinite(maps).all() and maps.max() > 0
    assert not np.allclose(maps[:, 0], maps[:, 3])  # smooth and spiral look at different pixels


def test_galaxies_are_picked_one_per_answer_without_repeats():
    y = np.zeros((6, tree.N_ANSWERS))
    y[2, 0] = y[4, 0] = 0.9  # two equally smooth galaxies: the first is taken
    y[2, 1] = 1.0  # the smoothest is also the most featured: the next best is taken for features
    y[5, 1] = 0.8
    rows, why = saliency.pick_galaxies(y, ("Class1.1", "Class1.2"), n=3)
    assert rows.tolist() == [2, 5, 4] and why == ["Class1.1", "Class1.2", "Class1.1"]
    assert len(saliency.pick_galaxies(y[:1], ("Class1.1", "Class1.2"))[0]) == 1  # never more than there are
    with pytest.raises(ValueError, match="unknown answer column 'Class12.1'"):
        saliency.pick_galaxies(y, ("Class12.1",))


def _run_folder(path, config: Config) -> RunFolder:
    """A run folder holding ``config`` and an untrained model as its best checkpoint."""
    folder = RunFolder(path).create()
    config.save(folder.config_file)
    keras.utils.set_random_seed(0)
    build_model(config).save(folder.model_file("best"))
    return folder


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    root = write_kaggle_folder(tmp_path_factory.mktemp("saliency") / "kaggle", n=8)
    return load_dataset(root, progress=False)


def test_run_saliency_draws_what_the_model_saw(tmp_path, kaggle):
    config = Config(data=str(kaggle.root), crop=64, image_size=32, second_pool=2, tta="flips")
    folder = _run_folder(tmp_path / "run", config)
    maps = saliency.run_saliency(folder.path, kaggle.ids, kaggle.labels, data=kaggle)
    assert maps.maps.shape == (5, 5, 32, 32) and maps.images.shape == (5, 32, 32, 3)
    assert len(set(maps.ids.tolist())) == 5 and maps.chosen_for == list(saliency.SALIENCY_ANSWERS)
    # the drawn image is the model's input: the pipeline's crop and resize of the same galaxies
    np.testing.assert_array_equal(maps.images, saliency.model_inputs(kaggle.images, maps.ids, config))
    centre = read_centre(kaggle.images, int(maps.ids[0]), 64)  # the figures' decoder, shrunk 2x by averaging
    np.testing.assert_allclose(maps.images[0], cv2.resize(centre, (32, 32), interpolation=cv2.INTER_AREA) / 255,
                               atol=1.01 / 255)
    rows = np.searchsorted(kaggle.ids, maps.ids)
    columns = [tree.column_index(a) for a in saliency.SALIENCY_ANSWERS]
    np.testing.assert_allclose(maps.y_true, kaggle.labels[rows][:, columns])
    assert "flips" in maps.note and "central 64 px resized to 32" in maps.note
    # the evaluated predictions title the panels when given; otherwise those differentiated
    given = np.full_like(kaggle.labels, 0.5)
    assert (saliency.run_saliency(folder.path, kaggle.ids, kaggle.labels, given, data=kaggle.images,
                                  n_galaxies=2).y_pred == 0.5).all()
    assert maps.show().data[:2] == b"\xff\xd8"  # the notebook's inline JPEG
    path = figures.save_figure(maps.figure(), tmp_path / "saliency.png")
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] > 600 and image.std() > 5


def test_an_ensemble_folder_uses_the_members_that_see_the_same_pixels(tmp_path, kaggle):
    base = Config(data=str(kaggle.root), crop=64, image_size=32, second_pool=2)
    members = [("a", _run_folder(tmp_path / "a", base)), ("b", _run_folder(tmp_path / "b", base.replace(seed=1))),
               ("c", _run_folder(tmp_path / "c", base.replace(image_size=40)))]
    ensemble = EnsembleFolder(tmp_path / "ensemble").create()
    ensemble.write_members(members)
    maps = saliency.run_saliency(ensemble.path, kaggle.ids, kaggle.labels, data=kaggle, n_galaxies=1)
    assert maps.maps.shape == (1, 5, 32, 32)
    assert "mean of 2 of 3 members" in maps.note


def test_a_folder_that_is_no_run_is_named(tmp_path, kaggle):
    from galaxy_lib.errors import RunError

    with pytest.raises(RunError, match="not a run folder"):
        saliency.run_saliency(tmp_path, kaggle.ids, kaggle.labels, data=kaggle)


def test_saliency_grid_marks_a_map_without_gradient_and_rejects_mismatched_shapes():
    rng = np.random.default_rng(0)
    images, maps = rng.uniform(0, 1, (2, 16, 16, 3)), rng.uniform(0, 1, (2, 2, 16, 16))
    maps[1, 1] = 0.0  # an answer the model cannot move for this galaxy
    answers = ("Class1.1", "Class3.1")
    keys = {"ids": [1, 2], "y_true": np.zeros((2, 2)), "y_pred": np.zeros((2, 2)), "chosen_for": list(answers)}
    fig = figures.saliency_grid(images, maps, answers, **keys)
    assert len(fig.axes) == 2 * 3
    assert "bar: yes" in fig.axes[2].get_title() and "chosen for: bar: yes" in fig.axes[3].get_title()
    assert [t.get_text() for t in fig.axes[5].texts] == ["no gradient"] and not fig.axes[4].texts
    with pytest.raises(ValueError, match="do not match"):
        figures.saliency_grid(images, maps[:, :1], answers, **keys)
