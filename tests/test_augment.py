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
