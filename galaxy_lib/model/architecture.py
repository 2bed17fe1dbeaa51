"""Where a run's model came from, what it is, and whether a model written by a student can train.

The course's point is that a student changes the model. ``02_train`` therefore passes its own
model-building function (``build_model(config) -> keras.Model``, plain Keras in a notebook cell)
to training; by default that is :func:`galaxy_lib.model.network.build_model`, the configuration's
VGG6. Everything after training (evaluation, prediction, the report, comparisons, the index) reads
the run's saved ``best.keras``, so it works on any such model that Keras can save and load back.

This module holds what the rest of training needs to know about that function:

* :class:`ModelSource`: the building and compiling functions and where they came from
  (``configuration`` or ``notebook``), recorded in the run folder's ``architecture.json``
  (:func:`describe`: the source, the function's name and code, the layers and the parameter count);
* :func:`check_model`: a student's model that cannot train here (wrong input or output shape, outputs
  outside [0, 1], no trainable weights, not savable, not compiled with the metrics the history
  records) stops *before* the run folder is written, with one line naming the problem;
* :func:`check_same_architecture`: resuming a run folder with another architecture, or with the
  command line's configuration model on a run whose model came from a notebook, is refused with
  one line naming what differs, as a changed configuration key is.
"""

from __future__ import annotations

import inspect
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.errors import ConfigError, ModelError, RunError
from galaxy_lib.paths import display_path, resolve_path

if TYPE_CHECKING:
    import keras

CONFIGURATION = "configuration"
NOTEBOOK = "notebook"

Builder = Callable[[Config], "keras.Model"]
Compiler = Callable[["keras.Model", Config], None]

REQUIRED_METRICS = ("rmse",)
"""Metrics a compiled model must report: the validation RMSE picks ``best.keras`` and the history records it."""


def _source_code(function: Callable[..., Any]) -> str | None:
    """The function's source text (a notebook cell's function included: IPython keeps cell sources),
    or None where Python cannot find it (a function built at run time)."""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return None


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or repr(function)


@dataclass(frozen=True)
class ModelSource:
    """How a run builds and compiles its model.

    ``build`` is None for the configuration's model (:func:`galaxy_lib.model.network.build_model`),
    ``compile`` None for the library's compile step (``default_compile``,
    :func:`galaxy_lib.model.train.compile_model`, which :func:`galaxy_lib.model.train.model_source`
    passes in); passing those functions themselves counts as the configuration's too, so a notebook
    that leaves its default cells alone trains exactly what the command line trains.
    """

    default_compile: Compiler
    build: Builder | None = None
    compile: Compiler | None = None

    @classmethod
    def of(cls, default_compile: Compiler, build: Builder | None = None,
           compile: Compiler | None = None) -> ModelSource:
        from galaxy_lib.model import network

        return cls(default_compile, None if build in (None, network.build_model) else build,
                   None if compile in (None, default_compile) else compile)

    @property
    def source(self) -> str:
        """``configuration`` or ``notebook`` (any code that passed its own function)."""
        return CONFIGURATION if self.build is None else NOTEBOOK

    def build_model(self, config: Config) -> keras.Model:
        from galaxy_lib.model import network

        if self.build is None:
            return network.build_model(config)
        model = self.build(config)
        _check_is_model(model, _name(self.build))
        return model

    def compile_model(self, model: keras.Model, config: Config) -> None:
        (self.compile or self.default_compile)(model, config)

    def record(self, model: keras.Model) -> dict[str, Any]:
        """``architecture.json``'s content for ``model`` built by this source (:func:`describe`)."""
        functions = {"build_model": self.build, "compile_model": self.compile}
        return {
            "source": self.source,
            "function": _name(self.build) if self.build is not None else "galaxy_lib.model.network.build_model",
            **{name: (None if f is None else {"function": _name(f), "module": getattr(f, "__module__", None),
                                              "code": _source_code(f)})
               for name, f in functions.items()},
            **describe(model),
        }


def _check_is_model(model: Any, name: str) -> None:
    import keras

    if not isinstance(model, keras.Model):
        raise ModelError(f"{name}(config) returned {type(model).__name__}, not a keras.Model; "
                         "end the function with `return keras.Model(inputs, outputs)`")


def _shape(layer: Any) -> str:
    try:
        return str(tuple(layer.output.shape))
    except (AttributeError, ValueError):  # a layer used twice, or not yet called
        return "?"


def describe(model: keras.Model) -> dict[str, Any]:
    """The model's name, parameter counts and layers (class, name, output shape, parameters), in order:
    what ``architecture.json`` records and what resuming compares."""
    trainable = int(sum(int(np.prod(v.shape)) for v in model.trainable_weights))
    return {
        "name": model.name,
        "parameters": int(model.count_params()),
        "trainable_parameters": trainable,
        "layers": [[type(layer).__name__, layer.name, _shape(layer), int(layer.count_params())]
                   for layer in model.layers],
    }


def _signature(record: dict[str, Any]) -> list[tuple[str, str, int]]:
    """Layers by class, output shape and parameters: names are left out, since Keras numbers unnamed
    layers per process (``conv2d_3`` in a kernel that built three models before)."""
    return [(str(c), str(s), int(p)) for c, _name, s, p in record.get("layers", [])]


def architecture_difference(saved: dict[str, Any], new: dict[str, Any]) -> str | None:
    """One phrase saying how ``new`` differs from ``saved`` (None when the layers are the same)."""
    old_layers, new_layers = _signature(saved), _signature(new)
    if old_layers == new_layers:
        return None
    first = next((i for i, (a, b) in enumerate(zip(old_layers, new_layers, strict=False)) if a != b),
                 min(len(old_layers), len(new_layers)))

    def layer(layers: list[tuple[str, str, int]]) -> str:
        if first >= len(layers):
            return "nothing"
        kind, shape, params = layers[first]
        return f"{kind} {shape} with {params:,} parameters"

    return (f"the saved model has {len(old_layers)} layers and {int(saved.get('parameters', 0)):,} parameters, "
            f"this one {len(new_layers)} and {int(new.get('parameters', 0)):,}; first difference at layer "
            f"{first + 1}: saved {layer(old_layers)}, now {layer(new_layers)}")


def check_same_architecture(saved: dict[str, Any] | None, new: dict[str, Any], where: Path) -> None:
    """Refuse to go on training ``where`` (a run folder whose ``architecture.json`` is ``saved``)
    with the model ``new`` describes; ``saved`` None (an older run) means the configuration's model.

    Two refusals, each one line: the command line (the configuration's model) on a run whose model a
    notebook defined, which it cannot rebuild; and a model whose layers differ from the saved ones.
    ``new`` without ``layers`` is the configuration's model before it is built: only its source is
    compared, its keys being checked against the run's ``config.yaml``.
    """
    if saved is None:
        return
    if saved["source"] == NOTEBOOK and new["source"] == CONFIGURATION:
        function = (saved.get("build_model") or {}).get("function", "build_model")
        raise RunError(f"{display_path(where)}: its model was defined in a notebook (function {function}), "
                       "and this command can only build the configuration's model; run that notebook "
                       "(02_train) again to resume it, or train into a new folder")
    if "layers" not in new:  # the configuration's model: its keys are checked against config.yaml instead
        return
    difference = architecture_difference(saved, new)
    if difference is not None:
        raise RunError(f"{display_path(where)}: was trained with another architecture ({difference}); "
                       "use the same model to resume it, or a new run_name")


def check_model(model: keras.Model, config: Config, source: ModelSource) -> None:
    """Stop, with one line naming the problem, a model that cannot train and be evaluated here.

    Checked on a few random images of the configuration's input size, before anything is written:
    the input shape; 37 outputs per image, each finite and in [0, 1] (vote fractions: a linear or
    ReLU output is caught here, not after an hour of training); trainable weights; a compiled model
    that reports the metrics training records; a learning rate training can set each epoch; and a
    ``.keras`` file that Keras' safe mode loads back (evaluation and the class reader load models
    that way: a Lambda layer or an unregistered custom layer would fail there).
    """
    import keras

    name = _name(source.build) if source.build is not None else "build_model"
    side = config.input_size
    expected = (None, side, side, 3)
    got = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    if got is None or len(model.inputs) != 1 or tuple(got[1:]) != expected[1:]:
        raise ModelError(f"{name}(config): the model's input is {got}, the data gives images of shape {expected} "
                         f"(config.input_size = {side}); start with keras.Input(shape=(config.input_size, "
                         "config.input_size, 3))")
    if not model.trainable_weights:
        raise ModelError(f"{name}(config): the model has no trainable weights, so training could not change it")
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, size=(4, side, side, 3)).astype("float32")  # the pipeline's [0, 1] pixels
    outputs = np.asarray(model(images, training=False))
    if outputs.shape != (4, tree.N_ANSWERS):
        raise ModelError(f"{name}(config): the model gives {outputs.shape[1:]} per image, not the "
                         f"{tree.N_ANSWERS} answers; end with layers.Dense({tree.N_ANSWERS}, activation='sigmoid')")
    if not np.all(np.isfinite(outputs)) or outputs.min() < -1e-6 or outputs.max() > 1 + 1e-6:
        raise ModelError(f"{name}(config): outputs range from {np.nanmin(outputs):.3g} to {np.nanmax(outputs):.3g}, "
                         "but vote fractions lie in [0, 1]; end with activation='sigmoid' (or the tree head)")
    _check_compiled(model, config, images)
    with tempfile.TemporaryDirectory(prefix="galaxy-model-check-") as folder:
        path = Path(folder) / "model.keras"
        try:
            model.save(path)
            keras.models.load_model(path, compile=False)
        except Exception as exc:  # any failure to save or load back is the same problem for the student
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{name}(config): the model cannot be saved and loaded back as a .keras file "
                             f"({first[:200]}); build it from Keras layers (no Lambda layers, custom layers "
                             "registered with keras.saving.register_keras_serializable)") from None


def _check_compiled(model: keras.Model, config: Config, images: np.ndarray) -> None:
    """The compile step: a compiled model, the metrics training records, a settable learning rate."""
    compiler = "compile_model(model, config)"
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(model, "compiled", False):
        raise ModelError(f"{compiler} did not compile the model; call model.compile(optimizer=..., loss=..., "
                         "metrics=[...]) in it")
    if not hasattr(getattr(optimizer, "learning_rate", None), "assign"):
        raise ModelError(f"{compiler}: the optimiser's learning rate is not a number training can set; the "
                         "configuration's lr_schedule sets it each epoch, so pass learning_rate=config.learning_rate")
    if config.weight_averaging == "ema" and not hasattr(optimizer, "copy_average_into"):
        raise ModelError(f"{compiler}: weight_averaging: ema needs galaxy_lib's AveragingAdam optimiser "
                         "(see galaxy_lib.model.train.compile_model)")
    labels = np.full((len(images), tree.N_ANSWERS), 0.5, dtype="float32")
    scores = model.evaluate(images, labels, verbose=0, return_dict=True)
    missing = [m for m in REQUIRED_METRICS if m not in scores]
    if missing:
        raise ModelError(f"{compiler}: the model reports {', '.join(sorted(scores))} but training records "
                         f"{', '.join(missing)}; add keras.metrics.RootMeanSquaredError(name='rmse') to its metrics")


# --- initial weights (pretraining, then fine-tuning) ----------------------------------------------


def initial_weights_file(config: Config) -> Path | None:
    """The ``.keras`` file whose weights start ``config``'s run (``init_weights``), None without one.

    ``init_weights`` names a model file or a run folder (then its ``last.keras``: the end of the
    pretraining, not its best epoch on a validation set that may differ from this run's); relative
    paths are read from the project root, like ``data``. Checked before the run folder is written,
    so a misspelt path costs nothing; the error is one line naming the key and the file.
    """
    if not config.init_weights:
        return None
    path = resolve_path(config.init_weights)
    if path.is_dir():
        path = path / "last.keras"
        if not path.is_file():
            raise ConfigError(f"config key 'init_weights': {display_path(path)}: the run folder has no last.keras "
                              "(has it finished an epoch?)")
    elif not path.is_file():
        raise ConfigError(f"config key 'init_weights': {display_path(path)}: no such model file or run folder")
    return path


def load_initial_weights(model: keras.Model, path: Path) -> None:
    """Copy the weights (only: the optimizer starts afresh) of the model saved at ``path`` into ``model``.

    The saved model must have ``model``'s architecture (:func:`architecture_difference`: the same layer
    classes, shapes and parameter counts, names aside), since weights are copied in order; anything
    else is a :class:`ConfigError` naming the key, the file and the first layer that differs.
    """
    import keras

    reason = None if zipfile.is_zipfile(path) else "not a .keras model (not a zip archive)"
    saved = None
    if reason is None:
        try:
            saved = keras.models.load_model(path, compile=False, safe_mode=True)  # no code from the file
        except (ValueError, KeyError, OSError, EOFError, TypeError, zipfile.BadZipFile) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = f"cannot be loaded as a Keras model ({first[:200]})"
    if saved is None:
        raise ConfigError(f"config key 'init_weights': {display_path(path)}: {reason}")
    difference = architecture_difference(describe(saved), describe(model))
    if difference is not None:
        raise ConfigError(f"config key 'init_weights': {display_path(path)}: another architecture than this "
                          f"run's ({difference}); pretrain with the same model keys, or clear init_weights")
    model.set_weights(saved.get_weights())
