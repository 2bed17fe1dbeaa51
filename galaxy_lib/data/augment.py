"""Seeded augmentation of training batches and test-time averaging (TTA) views.

A galaxy's morphology does not depend on how the telescope happened to be oriented, so
every image has eight equally valid views: the dihedral group of the square (four 90-degree
rotations, each optionally mirrored). Training on random views teaches the network that
invariance; averaging its predictions over the views at test time removes what is left of
the orientation noise.

The eight views are built from three independent choices, applied in this order:
transpose (mirror about the main diagonal), flip left-right, flip up-down. View ``i`` uses
bit 0 of ``i`` for the transpose, bit 1 for left-right and bit 2 for up-down, so view 0 is
the image itself and views 0, 2, 4, 6 are the four plain flips (no transpose).

All randomness is *stateless* (``tf.random.stateless_*`` keyed by an explicit seed): the
same seed gives the same batch, inside or outside ``tf.data``, before and after a resume.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from galaxy_lib.config import Config
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()

TTA_VIEWS: dict[str, tuple[int, ...]] = {
    "none": (0,),
    "flips": (0, 2, 4, 6),  # identity, left-right, up-down, both (= rotation by 180 degrees)
    "dihedral": tuple(range(8)),  # all four rotations, each with and without a mirror
    "dihedral_shift": tuple(range(8)),  # the same eight, each at the shifts of TTA_SHIFTS
}

TTA_SHIFT_PIXELS = 2
"""How far ``dihedral_shift`` moves each view: half of ``improved.yaml``'s ``augment_shift`` of 4,
so the shifted views stay inside what the network saw in training."""

TTA_SHIFTS: dict[str, tuple[tuple[int, int], ...]] = {
    "dihedral_shift": ((0, 0), (TTA_SHIFT_PIXELS, 0), (-TTA_SHIFT_PIXELS, 0), (0, TTA_SHIFT_PIXELS),
                       (0, -TTA_SHIFT_PIXELS)),
}
"""Pixel shifts ``(dx, dy)`` averaged on top of the dihedral views (none but ``(0, 0)`` unless named)."""

Augmenter = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def dihedral_view(images: tf.Tensor, index: int) -> tf.Tensor:
    """View ``index`` (0-7) of a batch of square NHWC images; see the module docstring."""
    if not 0 <= index < 8:
        raise ValueError(f"dihedral view index must be 0-7, got {index}")
    images = tf.convert_to_tensor(images)
    if index & 1:
        images = tf.transpose(images, [0, 2, 1, 3])
    if index & 2:
        images = tf.reverse(images, axis=[2])
    if index & 4:
        images = tf.reverse(images, axis=[1])
    return images


def random_dihedral(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Each image of the batch in one of its 8 dihedral views, chosen uniformly per image.

    ``seed`` is a stateless seed (two integers). Square images only (a transpose must keep
    the shape). One gather moves every pixel to its place: each view is a fixed permutation of
    the pixel positions, so the batch is read once (choosing between the whole batch and its
    transposed and flipped copies with ``tf.where`` read and wrote it six times, and took most
    of an epoch's input time at 69x69).
    """
    shape = tf.shape(images)
    batch, side, channels = shape[0], shape[1], shape[3]
    bits = tf.random.stateless_uniform([batch, 3], seed=seed, minval=0, maxval=2, dtype=tf.int32)
    # Where output pixel (r, c) comes from: undo the up-down flip, then the left-right flip, then
    # the transpose (the order they were applied in, reversed).
    r, c = tf.meshgrid(tf.range(side), tf.range(side), indexing="ij")
    r, c = tf.reshape(r, [1, -1]), tf.reshape(c, [1, -1])
    transpose, left_right, up_down = (tf.reshape(bits[:, i], [-1, 1]) > 0 for i in range(3))
    r = tf.where(up_down, side - 1 - r, r)
    c = tf.where(left_right, side - 1 - c, c)
    source = tf.where(transpose, c * side + r, r * side + c)
    flat = tf.reshape(images, [batch, side * side, channels])
    return tf.reshape(tf.gather(flat, source, batch_dims=1), shape)


def rotate_shift(images: tf.Tensor, angles: tf.Tensor, shifts: tf.Tensor) -> tf.Tensor:
    """Rotate each image by ``angles[i]`` radians about its centre and move it by
    ``shifts[i] = (dx, dy)`` pixels, with bilinear interpolation and mirrored borders."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    angles = tf.cast(angles, tf.float32)
    shifts = tf.cast(shifts, tf.float32)
    cos, sin = tf.cos(angles), tf.sin(angles)
    cx = (tf.cast(width, tf.float32) - 1) / 2
    cy = (tf.cast(height, tf.float32) - 1) / 2
    # Output pixel (x, y) samples the input at R(x - c) + c - shift.
    transforms = tf.stack(
        [
            cos,
            -sin,
            cx - cos * cx + sin * cy - shifts[:, 0],
            sin,
            cos,
            cy - sin * cx - cos * cy - shifts[:, 1],
            tf.zeros([batch]),
            tf.zeros([batch]),
        ],
        axis=1,
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.stack([height, width]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


def random_rotate_shift(images: tf.Tensor, seed: tf.Tensor, *, rotate: bool, max_shift: int) -> tf.Tensor:
    """:func:`rotate_shift` by a uniform angle (when ``rotate``) and a uniform shift of up to
    ``max_shift`` pixels in x and y; the images unchanged when neither is asked for."""
    if not rotate and max_shift <= 0:
        return images
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    if rotate:
        angles = tf.random.stateless_uniform([batch], seed=seeds[0], minval=0.0, maxval=2 * math.pi)
    else:
        angles = tf.zeros([batch])
    limit = float(max_shift)
    shifts = tf.random.stateless_uniform([batch, 2], seed=seeds[1], minval=-limit, maxval=limit)
    return rotate_shift(images, angles, shifts)


def make_augmenter(config: Config) -> Augmenter | None:
    """``augment(images, seed) -> images`` for the configuration, or None when ``augment`` is off.

    Random dihedral view always; free rotation and shifts when ``augment_rotate`` /
    ``augment_shift`` ask for them. ``seed`` is a stateless seed (two integers):
    :func:`galaxy_lib.data.pipeline.make_dataset` passes one per batch, derived from its own seed.
    """
    if not config.augment:
        return None
    rotate, max_shift = config.augment_rotate, config.augment_shift

    def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
        images = random_dihedral(images, seeds[0])
        return random_rotate_shift(images, seeds[1], rotate=rotate, max_shift=max_shift)

    return augment


def tta_views(name: str) -> tuple[int, ...]:
    """Dihedral view indices averaged by the test-time augmentation ``name``."""
    if name not in TTA_VIEWS:
        raise ValueError(f"tta {name!r} is not one of {', '.join(TTA_VIEWS)}")
    return TTA_VIEWS[name]


def tta_shifts(name: str) -> tuple[tuple[int, int], ...]:
    """Pixel shifts averaged by the test-time augmentation ``name`` on top of its dihedral views."""
    tta_views(name)  # the same error for an unknown name
    return TTA_SHIFTS.get(name, ((0, 0),))


def shift_view(images: tf.Tensor, dx: int, dy: int) -> tf.Tensor:
    """A batch moved by whole pixels, borders mirrored: the same move as training's
    :func:`rotate_shift` (bilinear sampling at whole pixels is exact), without its cost at (0, 0)."""
    if dx == 0 and dy == 0:
        return images
    batch = tf.shape(images)[0]
    return rotate_shift(images, tf.zeros([batch]), tf.tile(tf.constant([[dx, dy]], tf.float32), [batch, 1]))


def mixup(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor, alpha: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Mixup (Zhang et al. 2018): each image and its 37 vote fractions mixed with another of the
    batch by a weight drawn from Beta(alpha, alpha).

    Why it suits this data: a convex mix of two answer vectors that obey the decision tree's sums
    obeys them too, so the mixed targets are still valid Galaxy Zoo answers, and a small training
    set gets a continuum of new (image, target) pairs. ``seed`` is a stateless seed (two integers).
    """
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    a = tf.random.stateless_gamma([batch], seed=seeds[0], alpha=alpha)
    b = tf.random.stateless_gamma([batch], seed=seeds[1], alpha=alpha)
    weight = a / tf.maximum(a + b, 1e-12)
    partner = tf.argsort(tf.random.stateless_uniform([batch], seed=seeds[2]))
    w_images = tf.reshape(weight, [-1, 1, 1, 1])
    w_labels = tf.reshape(weight, [-1, 1])
    mixed_images = w_images * images + (1.0 - w_images) * tf.gather(images, partner)
    mixed_labels = w_labels * labels + (1.0 - w_labels) * tf.gather(labels, partner)
    return mixed_images, mixed_labels


def smooth_labels(labels: np.ndarray, amount: float) -> np.ndarray:
    """Training targets pulled ``amount`` of the way toward their mean: a shrinkage that keeps the
    tree's sums (a convex mix of tree-consistent vectors), unlike smoothing toward uniform."""
    labels = np.asarray(labels, dtype=np.float32)
    if amount <= 0 or len(labels) == 0:
        return labels
    return ((1.0 - amount) * labels + amount * labels.mean(axis=0, keepdims=True)).astype(np.float32)
