"""Seeded training augmentation and the test-time views."""

from __future__ import annotations

import math

import numpy as np
import pytest

from galaxy_lib.config import Config
from galaxy_lib.data import augment

tf = augment.tf


def _batch(n: int = 16, side: int = 9) -> np.ndarray:
    return np.random.default_rng(0).uniform(size=(n, side, side, 3)).astype("float32")


def test_dihedral_views_are_the_eight_distinct_symmetries_of_the_square():
    x = _batch(1)
    views = [augment.dihedral_view(x, i).numpy() for i in range(8)]
    assert len({v.tobytes() for v in views}) == 8
    np.testing.assert_array_equal(views[0], x)
    np.testing.assert_array_equal(views[2], x[:, :, ::-1])  # left-right
    np.testing.assert_array_equal(views[6], np.rot90(x, 2, axes=(1, 2)))  # both flips = 180 degrees
    rotations = {np.rot90(x, k, axes=(1, 2)).tobytes() for k in range(4)}
    assert rotations <= {v.tobytes() for v in views}
    with pytest.raises(ValueError):
        augment.dihedral_view(x, 8)


def test_random_dihedral_gives_each_image_one_of_its_views_and_is_seeded():
    x = _batch(64)
    out = augment.random_dihedral(x, tf.constant([3, 4])).numpy()
    chosen = []
    for i in range(len(x)):
        matches = [k for k in range(8) if np.array_equal(out[i], augment.dihedral_view(x[i : i + 1], k).numpy()[0])]
        assert len(matches) == 1
        chosen.append(matches[0])
    assert len(set(chosen)) >= 6  # per image, not one view for the whole batch
    np.testing.assert_array_equal(out, augment.random_dihedral(x, tf.constant([3, 4])).numpy())
    assert not np.array_equal(out, augment.random_dihedral(x, tf.constant([3, 5])).numpy())


def test_rotate_shift_matches_exact_rotations_and_shifts():
    x = _batch(2, side=11)
    quarter = augment.rotate_shift(x, tf.constant([math.pi / 2] * 2), tf.zeros([2, 2])).numpy()
    assert any(np.allclose(quarter, np.rot90(x, k, axes=(1, 2)), atol=1e-4) for k in (1, 3))
    shifted = augment.rotate_shift(x, tf.zeros([2]), tf.constant([[2.0, 0.0]] * 2)).numpy()
    np.testing.assert_allclose(shifted[:, :, 2:], x[:, :, :-2], atol=1e-5)  # moved right by 2 pixels


def test_make_augmenter_follows_the_config():
    assert augment.make_augmenter(Config()) is None
    x = _batch(8)
    plain = augment.make_augmenter(Config(augment=True))
    rotating = augment.make_augmenter(Config(augment=True, augment_rotate=True, augment_shift=2))
    seed = tf.constant([0, 1], tf.int64)
    a = plain(x, seed).numpy()
    assert all(any(np.array_equal(a[i], augment.dihedral_view(x[i : i + 1], k)[0]) for k in range(8)) for i in range(8))
    b1, b2 = rotating(x, seed).numpy(), rotating(x, seed).numpy()
    np.testing.assert_array_equal(b1, b2)
    assert b1.shape == x.shape and not np.allclose(b1, a)


def test_tta_views():
    assert augment.tta_views("none") == (0,)
    assert len(augment.tta_views("flips")) == 4 and len(augment.tta_views("dihedral")) == 8
    with pytest.raises(ValueError):
        augment.tta_views("all")


def test_tta_shifts_name_whole_pixel_moves_only_for_dihedral_shift():
    assert augment.tta_shifts("dihedral") == ((0, 0),)
    shifts = augment.tta_shifts("dihedral_shift")
    assert len(shifts) == 5 and (0, 0) in shifts and len(set(shifts)) == 5
    assert augment.tta_views("dihedral_shift") == augment.tta_views("dihedral")
    with pytest.raises(ValueError, match="all"):
        augment.tta_shifts("all")


def test_shift_view_moves_by_whole_pixels_with_mirrored_borders():
    x = _batch(2, side=11)
    assert augment.shift_view(x, 0, 0) is x
    moved = augment.shift_view(x, 2, 0).numpy()
    np.testing.assert_allclose(moved[:, :, 2:], x[:, :, :-2], atol=1e-5)  # right by 2, as training's shifts
    down = augment.shift_view(x, 0, -1).numpy()
    np.testing.assert_allclose(down[:, :-1], x[:, 1:], atol=1e-5)
    assert not np.allclose(moved[:, :, :2], 0)  # the border is filled from the image, not zeros


def _tree_labels(n: int, seed: int) -> np.ndarray:
    from galaxy_lib import tree

    return tree.random_vote_fractions(n, seed=seed).astype("float32")


def test_mixup_mixes_images_and_labels_by_the_same_weight_and_keeps_the_tree():
    from galaxy_lib import tree

    n = 32
    labels = _tree_labels(n, 1)
    # Image i is constant i, so each output image reveals its weight and partner.
    images = np.broadcast_to(np.arange(n, dtype="float32")[:, None, None, None], (n, 4, 4, 3)).copy()
    seed = tf.constant([5, 6], tf.int64)
    x, y = (t.numpy() for t in augment.mixup(images, labels, seed, 0.4))
    x2, y2 = (t.numpy() for t in augment.mixup(images, labels, seed, 0.4))
    np.testing.assert_array_equal(x, x2)  # seeded
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(y, augment.mixup(images, labels, tf.constant([5, 7], tf.int64), 0.4)[1].numpy())
    assert tree.tree_violations(y, tolerance=1e-4).empty  # convex mixes obey the tree's sums
    assert not np.allclose(y, labels)
    mixed = 0
    for i in range(n):
        value = x[i, 0, 0, 0]
        # find the partner j and weight w with value = w*i + (1-w)*j that also explains the labels
        fits = []
        for j in range(n):
            w = (value - j) / (i - j) if j != i else (1.0 if np.isclose(value, i, atol=1e-4) else None)
            if w is not None and -1e-5 <= w <= 1 + 1e-5 and np.allclose(y[i], w * labels[i] + (1 - w) * labels[j],
                                                                        atol=1e-5):
                fits.append(j)
        assert fits, f"row {i}: its label is not the image's mix"
        mixed += not np.isclose(value, i, atol=1e-3)
    assert mixed > n // 2


def test_smooth_labels_pulls_toward_the_mean_and_keeps_the_tree():
    from galaxy_lib import tree

    labels = _tree_labels(50, 2)
    np.testing.assert_array_equal(augment.smooth_labels(labels, 0.0), labels)
    smooth = augment.smooth_labels(labels, 0.25)
    np.testing.assert_allclose(smooth, 0.75 * labels + 0.25 * labels.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(smooth.mean(axis=0), labels.mean(axis=0), atol=1e-6)
    assert smooth.std(axis=0).sum() < labels.std(axis=0).sum()
    assert tree.tree_violations(smooth, tolerance=1e-4).empty
