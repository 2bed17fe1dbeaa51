"""The paper's VGG6 and its configurable relatives, as Keras models.

``vgg6`` with the default :class:`~galaxy_lib.config.Config` is exactly what the paper's
*code* built (1,632,181 parameters for a 128x128x3 input; see
``../shared/docs/galaxy-zoo-facts.md``): valid padding, max-pool 2 then 4, dropout
0.25/0.25/0.5, BatchNorm after the fourth convolution and a 37-wide sigmoid output.
Configuration changes only what it names: the input side (``crop``/``image_size``), the
second pool, a width multiplier and the output head. The ``tree`` head (Dieleman's Kaggle
winner) makes every prediction obey the decision tree's sums by construction.
"""

from __future__ import annotations

from typing import Any

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.errors import ConfigError
from galaxy_lib.tf_setup import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's environment defaults are set)
from keras import layers  # noqa: E402

TREE_NORMALISATIONS = ("relu", "softmax")


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
        if normalisation not in TREE_NORMALISATIONS:
            raise ValueError(f"tree normalisation {normalisation!r} is not one of {', '.join(TREE_NORMALISATIONS)}")
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


def _vgg6_final_side(input_size: int, second_pool: int) -> int:
    """Side of VGG6's last feature map: four valid 3x3 convolutions and two pools shrink the input."""
    return ((input_size - 4) // 2 - 4) // second_pool


def vgg6(
    input_size: int = 128,
    *,
    head: str = "sigmoid",
    second_pool: int = 4,
    width: float = 1.0,
    tree_normalisation: str = "relu",
    name: str = "vgg6",
) -> keras.Model:
    """The paper's VGG6 (as coded), for square RGB inputs of side ``input_size``.

    Layer order: Conv16-Conv16-MaxPool2-Dropout0.25-Conv32-Conv32-BatchNorm-MaxPool(second_pool)-
    Dropout0.25-Flatten-Dense256-Dropout0.5-Dense37 + head. ``head='sigmoid'`` is the paper's;
    ``head='tree'`` feeds the 37 linear outputs to :class:`TreeHead`.
    """
    if head not in ("sigmoid", "tree"):
        raise ValueError(f"head {head!r} is not one of sigmoid, tree")
    if _vgg6_final_side(input_size, second_pool) < 1:
        raise ValueError(f"input side {input_size} is too small for VGG6 with second_pool={second_pool}")
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = layers.Conv2D(_scaled(16, width), 3, activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(_scaled(16, width), 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Dropout(0.25, name="dropout1")(x)
    x = layers.Conv2D(_scaled(32, width), 3, activation="relu", name="conv3")(x)
    x = layers.Conv2D(_scaled(32, width), 3, activation="relu", name="conv4")(x)
    x = layers.BatchNormalization(name="batchnorm")(x)
    x = layers.MaxPooling2D(second_pool, name="pool2")(x)
    x = layers.Dropout(0.25, name="dropout2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(_scaled(256, width), activation="relu", name="dense")(x)
    x = layers.Dropout(0.5, name="dropout3")(x)
    if head == "sigmoid":
        # float32 output so that mixed precision keeps a stable loss.
        outputs = layers.Dense(tree.N_ANSWERS, activation="sigmoid", dtype="float32", name="answers")(x)
    else:
        scores = layers.Dense(tree.N_ANSWERS, dtype="float32", name="scores")(x)
        outputs = TreeHead(tree_normalisation, name="answers")(scores)
    return keras.Model(inputs, outputs, name=name)


MODELS = {"vgg6": vgg6}


def build_model(config: Config) -> keras.Model:
    """The (uncompiled) model that ``config`` describes; its input side is ``config.input_size``."""
    if config.model not in MODELS:
        raise ConfigError(f"config key 'model': {config.model!r} is not one of {', '.join(MODELS)}")
    if config.model == "vgg6" and _vgg6_final_side(config.input_size, config.second_pool) < 1:
        raise ConfigError(
            f"config keys 'crop'/'image_size' and 'second_pool': a {config.input_size}-pixel input leaves nothing "
            f"after VGG6's convolutions and a second pool of {config.second_pool}; use a larger image_size or a "
            "smaller second_pool"
        )
    return MODELS[config.model](
        config.input_size,
        head=config.head,
        second_pool=config.second_pool,
        width=config.width,
        tree_normalisation=config.tree_normalisation,
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
