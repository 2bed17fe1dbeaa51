"""The paper's VGG6 and its configurable relatives, as Keras models.

``vgg6`` with the default :class:`~galaxy_lib.config.Config` is exactly what the paper's
*code* built (1,632,181 parameters for a 128x128x3 input; see
``../shared/docs/galaxy-zoo-facts.md``): valid padding, max-pool 2 then 4, dropout
0.25/0.25/0.5, BatchNorm after the fourth convolution and a 37-wide sigmoid output.
Configuration changes only what it names: the input side (``crop``/``image_size``), the
second pool, a width multiplier and the output head. The ``tree`` head (Dieleman's Kaggle
winner) makes every prediction obey the decision tree's sums by construction.

``vgg6_views`` is Dieleman's viewpoint pooling around the same body: the model cuts each input
image into 4, 8 or 16 rotated / mirrored views *inside the graph* (:class:`ViewStack`), runs one
shared VGG6 body on all of them as one larger batch, and combines each image's view features
(:class:`ViewMerge`) before VGG6's dense layers. A galaxy's answers do not depend on how the
telescope was oriented; with the default ``mean`` combination the model is exactly invariant to
the views' symmetry group instead of having to learn it from augmentation.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from galaxy_lib import tree
from galaxy_lib.config import CHOICES, VIEW_COUNTS, Config
from galaxy_lib.data.augment import dihedral_view
from galaxy_lib.errors import ConfigError
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's environment defaults are set)
from keras import layers  # noqa: E402


@keras.saving.register_keras_serializable(package="galaxy_lib")
class TreeHead(layers.Layer):
    """37 raw scores -> tree-consistent vote fractions.

    Per question the scores become answer probabilities that sum to 1 (``softmax``, or
    Dieleman's ``relu``: ReLU then divide by the question's sum, ``epsilon`` keeping an
    all-negative question uniform rather than zero), then each
    question is multiplied by its parent answer's *final* value in tree order. Parents always
    come earlier in Kaggle order, so one pass suffices (the NumPy twin is
    :func:`galaxy_lib.tree.normalise_to_tree`). Computed in float32 even under mixed precision.
    """

    def __init__(self, normalisation: str = "relu", epsilon: float = 1e-6, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        allowed = CHOICES["tree_normalisation"]  # the configuration's list: one home for the names
        if normalisation not in allowed:
            raise ValueError(f"tree normalisation {normalisation!r} is not one of {', '.join(allowed)}")
        self.normalisation = normalisation
        self.epsilon = float(epsilon)
        self._slices = [(s.start, s.stop) for s in tree.question_slices()]
        self._parents = tree.parent_indices()

    def call(self, scores):
        scores = tf.cast(scores, "float32")
        columns: list = []  # final value of every answer column so far, in Kaggle order
        for (start, stop), parent in zip(self._slices, self._parents, strict=True):
            part = scores[:, start:stop]
            if self.normalisation == "softmax":
                probabilities = tf.nn.softmax(part, axis=-1)
            else:
                # Dieleman's ReLU / sum, with epsilon added to every answer (not only the sum)
                # so that a question whose scores are all negative gets uniform answers that
                # still sum to 1 instead of all zeros.
                positive = tf.nn.relu(part) + self.epsilon
                probabilities = positive / tf.reduce_sum(positive, axis=-1, keepdims=True)
            if parent is not None:
                probabilities = probabilities * columns[parent]
            columns.extend(probabilities[:, i : i + 1] for i in range(stop - start))
        return tf.concat(columns, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], tree.N_ANSWERS)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "normalisation": self.normalisation, "epsilon": self.epsilon}


def _scaled(units: int, width: float) -> int:
    """A layer size times the width multiplier, at least 1."""
    return max(1, round(units * width))


def final_side(input_size: int, second_pool: int, conv_blocks: int = 2, last_block_convs: int = 2) -> int:
    """Side of VGG6's last feature map: four valid 3x3 convolutions and two pools shrink the input,
    and each extra block two more valid convolutions (``last_block_convs`` in the last one) and a
    pool of 2. Below 1 when the map vanishes on the way (a convolution or pool would get nothing)."""
    side = ((input_size - 4) // 2 - 4) // second_pool
    for block in range(3, conv_blocks + 1):
        convs = last_block_convs if block == conv_blocks else 2
        side = (side - 2 * convs) // 2  # each valid 3x3 convolution takes 2 pixels, then a pool of 2
    return side


def builder_source(config: Config) -> str:
    """The Keras code that builds ``config``'s model, as the notebook shows it to students: the
    model function (:func:`vgg6` or :func:`vgg6_views`) and VGG6's body and top, in reading order.
    Shown from this module's own source, so what a student reads is what trains."""
    import inspect

    model = MODELS.get(config.model, vgg6)
    return "\n\n".join(inspect.getsource(f) for f in (model, _vgg6_body, _vgg6_top))


def _check_head(head: str) -> None:
    if head not in ("sigmoid", "tree"):
        raise ValueError(f"head {head!r} is not one of sigmoid, tree")


def _check_last_block(conv_blocks: int, last_block_convs: int, last_block_filters: int) -> None:
    """The last block's shape applies to the blocks past the paper's two only: refuse it otherwise,
    rather than build a model that silently ignores it."""
    if last_block_convs < 1 or last_block_filters < 0:
        raise ValueError(f"last_block_convs {last_block_convs} must be at least 1 and last_block_filters "
                         f"{last_block_filters} at least 0")
    if conv_blocks <= 2 and (last_block_convs != 2 or last_block_filters != 0):
        raise ValueError(f"last_block_convs={last_block_convs} and last_block_filters={last_block_filters} shape "
                         f"the blocks past the paper's two; conv_blocks={conv_blocks} has none")


def _vgg6_body(x, *, second_pool: int, width: float, conv_blocks: int = 2, last_block_convs: int = 2,
               last_block_filters: int = 0):
    """VGG6 from its first convolution to ``Flatten``: the part that sees pixels.

    Shared by :func:`vgg6` (once per image) and :func:`vgg6_views` (once per view, the same
    weights for all views), so both models are the paper's layers, in the paper's order.
    ``conv_blocks`` above 2 appends VGG-style blocks (two 3x3 convolutions with twice the
    previous block's filters, BatchNorm, a pool of 2, dropout 0.25) before ``Flatten``: a deeper
    body sees larger structures (spiral arms, bars) at the cost of a little compute on small maps,
    and shrinks the dense layer's input. The last of those blocks may have ``last_block_convs``
    convolutions (a deeper block) of ``last_block_filters`` filters each (0: the doubling rule; more:
    a wider block): on its small map either costs little compute. Layers are named by position, so
    the default body keeps its names and only the extra convolutions get new ones.
    """
    x = layers.Conv2D(_scaled(16, width), 3, activation="relu", name="conv1")(x)
    x = layers.Conv2D(_scaled(16, width), 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Dropout(0.25, name="dropout1")(x)
    x = layers.Conv2D(_scaled(32, width), 3, activation="relu", name="conv3")(x)
    x = layers.Conv2D(_scaled(32, width), 3, activation="relu", name="conv4")(x)
    x = layers.BatchNormalization(name="batchnorm")(x)
    x = layers.MaxPooling2D(second_pool, name="pool2")(x)
    x = layers.Dropout(0.25, name="dropout2")(x)
    filters = 32
    for block in range(3, conv_blocks + 1):
        filters *= 2
        last = block == conv_blocks
        block_filters = (last_block_filters or filters) if last else filters
        first = 2 * block - 1
        for i in range(last_block_convs if last else 2):
            x = layers.Conv2D(_scaled(block_filters, width), 3, activation="relu", name=f"conv{first + i}")(x)
        x = layers.BatchNormalization(name=f"batchnorm{block}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
        x = layers.Dropout(0.25, name=f"dropout_block{block}")(x)
    return layers.Flatten(name="flatten")(x)


def _vgg6_top(x, *, head: str, width: float, tree_normalisation: str):
    """VGG6 after ``Flatten``: Dense256-Dropout0.5-Dense37 and the output head."""
    x = layers.Dense(_scaled(256, width), activation="relu", name="dense")(x)
    x = layers.Dropout(0.5, name="dropout3")(x)
    if head == "sigmoid":
        # float32 output so that mixed precision keeps a stable loss.
        return layers.Dense(tree.N_ANSWERS, activation="sigmoid", dtype="float32", name="answers")(x)
    scores = layers.Dense(tree.N_ANSWERS, dtype="float32", name="scores")(x)
    return TreeHead(tree_normalisation, name="answers")(scores)


def vgg6(
    input_size: int = 128,
    *,
    head: str = "sigmoid",
    second_pool: int = 4,
    width: float = 1.0,
    conv_blocks: int = 2,
    last_block_convs: int = 2,
    last_block_filters: int = 0,
    tree_normalisation: str = "relu",
    name: str = "vgg6",
) -> keras.Model:
    """The paper's VGG6 (as coded), for square RGB inputs of side ``input_size``.

    Layer order: Conv16-Conv16-MaxPool2-Dropout0.25-Conv32-Conv32-BatchNorm-MaxPool(second_pool)-
    Dropout0.25-Flatten-Dense256-Dropout0.5-Dense37 + head. ``head='sigmoid'`` is the paper's;
    ``head='tree'`` feeds the 37 linear outputs to :class:`TreeHead`. ``conv_blocks`` above 2
    deepens the body (see :func:`_vgg6_body`); 2 is the paper's. ``last_block_convs`` and
    ``last_block_filters`` shape the last of those extra blocks (they need ``conv_blocks`` above 2).
    """
    _check_head(head)
    _check_last_block(conv_blocks, last_block_convs, last_block_filters)
    if final_side(input_size, second_pool, conv_blocks, last_block_convs) < 1:
        raise ValueError(
            f"input side {input_size} is too small for VGG6 with second_pool={second_pool}, "
            f"conv_blocks={conv_blocks} and last_block_convs={last_block_convs}"
        )
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = _vgg6_body(inputs, second_pool=second_pool, width=width, conv_blocks=conv_blocks,
                   last_block_convs=last_block_convs, last_block_filters=last_block_filters)
    outputs = _vgg6_top(x, head=head, width=width, tree_normalisation=tree_normalisation)
    return keras.Model(inputs, outputs, name=name)


# --- viewpoint pooling ----------------------------------------------------------------------------

ROTATION_VIEWS = (0, 5, 6, 3)
""":func:`~galaxy_lib.data.augment.dihedral_view` indices of the rotations by 0, 90, 180 and 270
degrees (the views with an even number of mirrorings), in that order."""

PART_FRACTION = 45 / 69
"""Side of a 16-view part relative to the input: Dieleman's 45x45 parts of a 69x69 view. A part
reaches past the image centre, so neighbouring parts overlap (less overlap measured worse)."""


def view_side(input_size: int, views: int) -> int:
    """Side of each view the shared body sees: the whole input for 4 and 8 views, one corner
    part (:data:`PART_FRACTION` of the side) for 16."""
    return max(1, round(input_size * PART_FRACTION)) if views == 16 else input_size


@functools.lru_cache(maxsize=16)
def _rotation_sampling(side: int, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """For each output pixel of a ``side``-square rotated by ``degrees``: the flat indices of the
    four input pixels around its source point and their bilinear weights (0 for pixels outside
    the image), each ``(side * side, 4)``. Computed once in float64 from the exact geometry."""
    centre = (side - 1) / 2
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    row, col = np.mgrid[0:side, 0:side].astype(np.float64)
    # Output pixel (col, row) samples the input at R (col - c, row - c) + c.
    src_col = cos * (col - centre) - sin * (row - centre) + centre
    src_row = sin * (col - centre) + cos * (row - centre) + centre
    col0, row0 = np.floor(src_col), np.floor(src_row)
    fcol, frow = src_col - col0, src_row - row0
    indices, weights = [], []
    for drow, wrow in ((0, 1 - frow), (1, frow)):
        for dcol, wcol in ((0, 1 - fcol), (1, fcol)):
            r, c = (row0 + drow).astype(np.int64), (col0 + dcol).astype(np.int64)
            inside = (r >= 0) & (r < side) & (c >= 0) & (c < side)
            indices.append(np.where(inside, r * side + c, 0).ravel())
            weights.append(np.where(inside, wrow * wcol, 0.0).ravel())
    return np.stack(indices, axis=1).astype(np.int32), np.stack(weights, axis=1).astype(np.float32)


def rotate_images(images, degrees: float):
    """A batch of square NHWC images rotated by ``degrees`` about their centre: bilinear
    sampling, pixels from outside the image are 0 (the dark sky of a survey image).

    A fixed transform, unlike Keras' random rotation layer, done as one gather with
    precomputed weights (:func:`_rotation_sampling`) rather than ``ImageProjectiveTransformV3``,
    which XLA cannot compile (Keras compiles with XLA on GPUs). The centre is
    ``(side - 1) / 2`` in pixel-centre coordinates, so a 45-degree rotation commutes with the
    exact 90-degree rotations and mirrors of :func:`dihedral_view` to float rounding: that is
    what makes the 16-view model invariant to them.
    """
    side, channels = int(images.shape[1]), int(images.shape[-1])
    indices, weights = _rotation_sampling(side, float(degrees))
    flat = tf.reshape(tf.cast(images, "float32"), [-1, side * side, channels])
    gathered = tf.gather(flat, tf.constant(indices), axis=1)  # (batch, side * side, 4, channels)
    rotated = tf.reduce_sum(gathered * tf.constant(weights)[None, :, :, None], axis=2)
    return tf.cast(tf.reshape(rotated, [-1, side, side, channels]), images.dtype)


def _check_views(views: int) -> None:
    if views not in VIEW_COUNTS:
        raise ValueError(f"views {views!r} is not one of {', '.join(map(str, VIEW_COUNTS))}")


@keras.saving.register_keras_serializable(package="galaxy_lib")
class ViewStack(layers.Layer):
    """``(batch, side, side, C)`` images -> ``(views * batch, s, s, C)``: each image's views,
    stacked view-major into the batch dimension so one shared body processes them all.

    * 4: the four 90-degree rotations (:data:`ROTATION_VIEWS`);
    * 8: the dihedral group, the four rotations each with and without a mirror;
    * 16: Dieleman's scheme adapted: the 8 dihedral views of the image and of the image rotated
      by 45 degrees (:func:`rotate_images`), each cut to its top-left part of side
      :func:`view_side`. Cutting the top-left corner of all four rotations is cutting all four
      corners, each turned so that the galaxy centre sits in the same (bottom-right) corner of
      the part, as in Dieleman's model.

    In each case the views are the orbit of the image under a group that contains the four
    rotations (and for 8 and 16 the mirrors), so rotating or mirroring the input only permutes
    the views.
    """

    def __init__(self, views: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_views(views)
        self.views = int(views)

    def call(self, images):
        indices = ROTATION_VIEWS if self.views == 4 else range(8)
        sources = [images] if self.views != 16 else [images, rotate_images(images, 45.0)]
        stacked = tf.concat([dihedral_view(source, i) for source in sources for i in indices], axis=0)
        if self.views == 16:
            part = view_side(int(images.shape[1]), 16)
            stacked = stacked[:, :part, :part, :]
        return stacked

    def compute_output_shape(self, input_shape):
        batch, side, _, channels = input_shape
        part = view_side(side, self.views)
        return (None if batch is None else batch * self.views, part, part, channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "views": self.views}


@keras.saving.register_keras_serializable(package="galaxy_lib")
class ViewMerge(layers.Layer):
    """``(views * batch, features)`` -> one row per image, undoing :class:`ViewStack`'s stacking.

    ``combine='mean'`` averages the views' features (``features`` wide): the output then no
    longer depends on the order of the views, which makes the model exactly invariant to the
    rotations (and mirrors) that permute them. ``'concat'`` places them side by side
    (``views * features`` wide), as Dieleman did: the dense layer can relate the views, but a
    rotation of the input permutes the blocks, so the model is invariant only as far as
    training teaches it, and the dense layer has ``views`` times the weights.
    """

    def __init__(self, views: int = 8, combine: str = "mean", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_views(views)
        if combine not in CHOICES["views_combine"]:
            raise ValueError(f"combine {combine!r} is not one of {', '.join(CHOICES['views_combine'])}")
        self.views = int(views)
        self.combine = combine

    def call(self, features):
        width = int(features.shape[-1])
        grouped = tf.reshape(features, [self.views, -1, width])  # view-major, as ViewStack stacked them
        if self.combine == "mean":
            return tf.cast(tf.reduce_mean(tf.cast(grouped, "float32"), axis=0), features.dtype)
        return tf.reshape(tf.transpose(grouped, [1, 0, 2]), [-1, self.views * width])

    def compute_output_shape(self, input_shape):
        batch, width = input_shape
        out_batch = None if batch is None else batch // self.views
        return (out_batch, width if self.combine == "mean" else width * self.views)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "views": self.views, "combine": self.combine}


def vgg6_views(
    input_size: int = 69,
    *,
    views: int = 8,
    combine: str = "mean",
    head: str = "sigmoid",
    second_pool: int = 2,
    width: float = 1.0,
    conv_blocks: int = 2,
    last_block_convs: int = 2,
    last_block_filters: int = 0,
    tree_normalisation: str = "relu",
    name: str = "vgg6_views",
) -> keras.Model:
    """VGG6 with viewpoint pooling: the input as in :func:`vgg6`, then :class:`ViewStack`,
    VGG6's body (shared by all views), :class:`ViewMerge` and VGG6's dense layers and head.

    With ``combine='mean'`` the parameter count is that of :func:`vgg6` at the view side
    (1,632,181 for 4 or 8 views of a 69x69 input with ``second_pool=2``; 550,837 for 16 parts
    of 45x45); ``'concat'`` multiplies the first dense layer's weights by ``views``
    (6,449,077 for 4 views, 12,871,605 for 8, 8,415,157 for 16). Compute per image is about ``views`` times
    VGG6's (16 parts of 45x45: about 7 times).
    """
    _check_head(head)
    _check_views(views)
    _check_last_block(conv_blocks, last_block_convs, last_block_filters)
    side = view_side(input_size, views)
    if final_side(side, second_pool, conv_blocks, last_block_convs) < 1:
        raise ValueError(
            f"input side {input_size} (views of side {side}) is too small for VGG6 with second_pool={second_pool}, "
            f"conv_blocks={conv_blocks} and last_block_convs={last_block_convs}"
        )
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = ViewStack(views, name="views")(inputs)
    x = _vgg6_body(x, second_pool=second_pool, width=width, conv_blocks=conv_blocks,
                   last_block_convs=last_block_convs, last_block_filters=last_block_filters)
    x = ViewMerge(views, combine, name="merge_views")(x)
    outputs = _vgg6_top(x, head=head, width=width, tree_normalisation=tree_normalisation)
    return keras.Model(inputs, outputs, name=name)


MODELS = {"vgg6": vgg6, "vgg6_views": vgg6_views}


def build_model(config: Config) -> keras.Model:
    """The (uncompiled) model that ``config`` describes; its input side is ``config.input_size``."""
    if config.model not in MODELS:
        raise ConfigError(f"config key 'model': {config.model!r} is not one of {', '.join(MODELS)}")
    extra: dict[str, Any] = {}
    side, parts = config.input_size, ""
    if config.model == "vgg6_views":
        extra = {"views": config.views, "combine": config.views_combine}
        side = view_side(config.input_size, config.views)
        if side != config.input_size:
            parts = f" (cut into {side}-pixel parts by views: {config.views})"
    if final_side(side, config.second_pool, config.conv_blocks, config.last_block_convs) < 1:
        deeper = config.last_block_convs != Config.last_block_convs
        keys = "'second_pool', 'conv_blocks' and 'last_block_convs'" if deeper else "'second_pool' and 'conv_blocks'"
        last = f" ({config.last_block_convs} convolutions in the last)" if deeper else ""
        raise ConfigError(
            f"config keys 'crop'/'image_size', {keys}: "
            f"a {config.input_size}-pixel input{parts} leaves nothing after VGG6's convolutions, "
            f"a second pool of {config.second_pool} and {config.conv_blocks} blocks{last}; "
            "use a larger image_size, a smaller second_pool or fewer conv_blocks"
            + (" or last_block_convs" if deeper else "")
        )
    return MODELS[config.model](
        config.input_size,
        head=config.head,
        second_pool=config.second_pool,
        width=config.width,
        conv_blocks=config.conv_blocks,
        last_block_convs=config.last_block_convs,
        last_block_filters=config.last_block_filters,
        tree_normalisation=config.tree_normalisation,
        **extra,
    )


def make_loss(config: Config) -> keras.losses.Loss:
    """``bce`` on the soft vote fractions (the paper) or ``mse`` (the square of the Kaggle metric)."""
    if config.loss == "bce":
        return keras.losses.BinaryCrossentropy(name="bce")
    return keras.losses.MeanSquaredError(name="mse")


def make_metrics() -> list[keras.metrics.Metric]:
    """RMSE over all 37 answers (Kaggle's metric) and the paper's categorical accuracy
    (argmax of the 37 predictions equals argmax of the 37 targets)."""
    return [
        keras.metrics.RootMeanSquaredError(name="rmse"),
        keras.metrics.CategoricalAccuracy(name="accuracy"),
    ]


def layer_summary(model: keras.Model) -> list[tuple[str, str]]:
    """(class name, layer name) for every layer after the input: a compact layer sequence."""
    return [(layer.__class__.__name__, layer.name) for layer in model.layers[1:]]
