"""What the notebooks call, so that a notebook only narrates and calls.

Every notebook starts from the same three parameters (``config_file``, ``overrides``,
``run_dir``: see :mod:`galaxy_lib.report.build`) and needs the same set-up: the configuration,
the run folder and readable tables. :func:`setup` does it in one call, so the three notebooks
cannot drift apart and a change (a new display option, what the first line says) is made once.

An ensemble parameters file (:mod:`galaxy_lib.model.ensemble`) runs through the same notebooks:
:func:`setup` then returns the first member's configuration (the data, the split and the
evaluation keys the members share) and an :class:`~galaxy_lib.model.ensemble.EnsembleFolder`;
:func:`train_run` trains every member, :func:`paper_comparison` shows each member's settings,
and evaluation and prediction recognise the ensemble folder themselves.

The learning-curve notebook (``04_learning_curve.ipynb``) starts from the same three parameters,
naming a learning-curve file (:mod:`galaxy_lib.studies.curve_file`) and the curve folder:
:func:`curve_setup` reads them and :func:`train_curves` trains the points that are missing.

This module runs inside the notebooks' kernels: it imports neither papermill nor nbconvert, and
not TensorFlow either (:func:`train_run` imports training when it is called).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from galaxy_lib.config import Config
from galaxy_lib.errors import ConfigError, RunError
from galaxy_lib.model.ensemble import EnsembleConfig, EnsembleFolder, load_parameters
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.parameters_file import CURVE, read
from galaxy_lib.paths import display_path, resolve_path
from galaxy_lib.report.build import prepare_data
from galaxy_lib.studies import curve_analysis
from galaxy_lib.studies.curve import budget_note
from galaxy_lib.studies.curve_file import CurveConfig, load_curve_file, run_curves


def setup(
    config_file: str | os.PathLike[str] = "",
    overrides: Mapping[str, Any] | None = None,
    run_dir: str | os.PathLike[str] = "",
) -> tuple[Config, RunFolder]:
    """The notebook's configuration and run folder, from its ``parameters`` cell.

    ``config_file`` is read from the project root (``""`` = the built-in defaults, the paper's
    code), ``overrides`` change single keys, and ``run_dir`` names the run folder (``""`` =
    ``<runs_dir>/<run_name>``). Also shows table text in full (pandas otherwise cuts long
    cells) and prints one line saying which run, data and folder the notebook works on.

    A synthetic sky the configuration names and that is not there yet is generated here, saying so
    (:func:`~galaxy_lib.report.build.prepare_data`): loading never writes data, and a notebook opened
    alone in JupyterLab must run from a fresh clone as ``make report`` does. Other data is read later.

    For an ensemble file: the first member's configuration and the ensemble's folder.
    """
    loaded = load_parameters(resolve_path(config_file) if config_file else None, dict(overrides or {}))
    prepare_data(loaded, check=False)
    pd.set_option("display.max_colwidth", None)
    if isinstance(loaded, EnsembleConfig):
        ensemble = EnsembleFolder.for_ensemble(loaded, run_dir)
        config = loaded.first
        names = ", ".join(m.name for m in loaded.members)
        print(f"ensemble {loaded.name!r} of {len(loaded.members)} members ({names}): data "
              f"{display_path(resolve_path(config.data))}, ensemble folder {display_path(ensemble.path)}")
        return config, ensemble
    run = RunFolder.for_config(loaded, run_dir)
    print(f"run {loaded.run_name!r}: data {display_path(resolve_path(loaded.data))}, "
          f"run folder {display_path(run.path)}")
    return loaded, run


def train_run(config: Config, run: RunFolder, build_model: Callable[[Config], Any] | None = None,
              compile_model: Callable[[Any, Config], None] | None = None) -> RunFolder:
    """Train (or resume) what the notebook holds: the run ``config`` describes in ``run``, or,
    for an ensemble folder, every member one after the other. Returns ``run``.

    ``build_model`` and ``compile_model`` are the notebook's own model and compile step (02_train's
    cells tagged ``model`` and ``compile``); left at the library's functions they train exactly
    what ``python -m galaxy_lib train`` trains (see :func:`galaxy_lib.model.train.train`)."""
    if isinstance(run, EnsembleFolder):
        from galaxy_lib.model.train import model_source

        if model_source(build_model, compile_model).source != "configuration":
            raise ConfigError(f"{display_path(run.path)}: an ensemble trains its members' configured models; "
                              "a notebook's build_model or compile_model trains one run: use a run's parameters file")
        if run.ensemble is None:
            raise RunError(f"{run.path}: an ensemble folder opened without its parameters file cannot be trained")
        from galaxy_lib.model.ensemble import train_ensemble

        train_ensemble(run.ensemble, run.path)
        return run
    from galaxy_lib.model import train

    train.train(config, run.path, build_model=build_model, compile_model=compile_model)
    return run


def show_code(*code: str | Callable[..., Any]) -> Any:
    """Source code to read in the notebook, syntax-highlighted: strings as they are, functions by
    their source (e.g. ``show_code(train.compile_model)``). What a student reads is what runs."""
    import inspect

    from IPython.display import Code

    return Code("\n\n".join(c if isinstance(c, str) else inspect.getsource(c) for c in code), language="python")


def model_note(model: Any, config: Config) -> str:
    """Where the model's parameters sit, in one or two sentences generated from ``model``.

    Most of a VGG's weights are in the first dense layer, whose size is set by the feature map that
    ``Flatten`` hands on, not by the input: that is why the paper's 128-pixel input with a second
    pool of 4 and ``improved.yaml``'s 69-pixel input with a pool of 2 have the same 1,632,181
    parameters (both leave a 14 x 14 map). The second sentence says so only when it is true.
    """
    from galaxy_lib.model import network

    total = model.count_params()
    largest = max(model.layers, key=lambda layer: layer.count_params())
    share = largest.count_params() / total if total else 0.0
    text = (f"This model has {total:,} parameters; {largest.count_params():,} of them ({share:.0%}) are in one "
            f"layer, `{largest.name}` ({type(largest).__name__}).")
    flatten = next((layer for layer in model.layers if type(layer).__name__ == "Flatten"), None)
    if flatten is not None and type(largest).__name__ == "Dense":
        feeds = int(flatten.output.shape[-1])
        text += (f" It connects the {feeds:,} numbers that `{flatten.name}` passes on (the last feature map, "
                 "flattened) to its units, so the input size matters through the size of that map.")
    paper = Config()
    if config.model in network.MODELS and config.input_size != paper.input_size:
        ours = network.final_side(config.input_size, config.second_pool, config.conv_blocks,
                                  config.last_block_convs)
        theirs = network.final_side(paper.input_size, paper.second_pool, paper.conv_blocks)
        same = "the same" if ours == theirs else "a different"
        text += (f" The paper's {paper.input_size}-pixel input with a second pool of {paper.second_pool} leaves a "
                 f"{theirs} x {theirs} map; this run's {config.input_size}-pixel input with a second pool of "
                 f"{config.second_pool} and {config.conv_blocks} blocks leaves {ours} x {ours}: {same} size, "
                 f"hence {same} parameter count for the same widths.")
    return text


def training_note(config: Config, run: RunFolder) -> str:
    """Epochs, batches and steps of this run, in numbers: what one line of the training log is.

    Generated from the run's ``split.csv`` and configuration, so it says 64 where the batch is 64
    (the notebook's prose once blamed "the paper's batch of 256" in runs with another batch)."""
    import math

    split = run.load_split()
    counts = split["split"].value_counts()
    n_train, n_val = int(counts.get("train", 0)), int(counts.get("val", 0))
    steps = math.ceil(n_train / config.batch_size) if config.batch_size else 0
    limit = f" or {config.time_limit_minutes:g} minutes, whichever comes first" if config.time_limit_minutes else ""
    refit = " (refit: the validation galaxies train too)" if config.refit else ""
    return (f"One epoch is one pass over the {n_train:,} training galaxies{refit}, in batches of "
            f"{config.batch_size}: {steps:,} steps, each one update of the weights from one batch's gradient. "
            f"After every epoch the model scores the {n_val:,} validation galaxies without updating; the "
            f"lowest validation RMSE so far marks the epoch whose weights are kept as `best.keras`. "
            f"Training stops after {config.epochs} epochs{limit}.")


def paper_comparison(config: Config, run: RunFolder | None = None) -> pd.DataFrame:
    """Every key in which ``config`` differs from the paper's code (:class:`Config`'s defaults):
    one row per key, columns ``this run`` and ``paper's code``. Empty when it is the paper's.

    For an ensemble folder opened by :func:`setup`: one column per member (the keys in which any
    member differs from the paper) before ``paper's code``."""
    ensemble = run.ensemble if isinstance(run, EnsembleFolder) else None
    if ensemble is not None:
        paper = Config().to_dict()
        members = {m.name: m.config.to_dict() for m in ensemble.members}
        keys = [k for k in paper if any(values[k] != paper[k] for values in members.values())]
        return pd.DataFrame(
            [[*(values[k] for values in members.values()), paper[k]] for k in keys],
            index=pd.Index(keys, dtype=object),
            columns=[*(f"member {name}" for name in members), "paper's code"],
            dtype=object,
        )
    changes = config.changes_from(Config())
    return pd.DataFrame(
        [[new, old] for old, new in changes.values()],
        index=pd.Index(list(changes), dtype=object),
        columns=["this run", "paper's code"],
        dtype=object,
    )


def curve_setup(
    config_file: str | os.PathLike[str] = "",
    overrides: Mapping[str, Any] | None = None,
    run_dir: str | os.PathLike[str] = "",
) -> tuple[CurveConfig, Path]:
    """The learning-curve notebook's curves and curve folder, from its ``parameters`` cell.

    ``config_file`` is a learning-curve file (read from the project root), ``overrides`` change
    every point (see :mod:`galaxy_lib.studies.curve_file`), and ``run_dir`` names the main
    curve's folder (``""`` = the file's ``out``). Shows table text in full and prints one line
    saying which curve, data and folder the notebook works on. Generates the synthetic skies of the
    curves that are not there yet, as :func:`setup` does (a learning-curve file's validation curve
    is usually on one)."""
    file = read(resolve_path(config_file)) if config_file else None  # read once: its kind, then its curves
    if file is None or file.kind != CURVE:
        shown = display_path(file.path) if file else "no file"
        raise ConfigError(f"config_file: {shown} is not a learning-curve file (one with `sizes`, e.g. "
                          "parameters/learning_curve.yaml)")
    curves = load_curve_file(file, dict(overrides or {}))
    if run_dir:
        curves = curves.with_folder(run_dir)
    prepare_data(curves, check=False)
    pd.set_option("display.max_colwidth", None)
    check = (f"; synthetic check in {display_path(curves.validation.folder)}" if curves.validation is not None
             else "")
    print(f"learning curve {curves.name!r}: data {display_path(resolve_path(curves.config.data))}, curve folder "
          f"{display_path(curves.curve.folder)}{check}")
    return curves, curves.curve.folder


def train_curves(curves: CurveConfig) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Train the points of the notebook's curves that are missing, resume interrupted ones and reuse
    finished ones (:func:`~galaxy_lib.studies.curve_file.run_curves`); returns the ``curve.csv``
    frames of the main curve and of the validation curve (None without one)."""
    return run_curves(curves)


def synthetic_check(curves: CurveConfig, validation: pd.DataFrame | None) -> curve_analysis.SyntheticCheck | None:
    """The check of the extrapolation on the validation curve (:func:`~galaxy_lib.studies.curve_analysis.
    synthetic_check`, written to its folder's ``check.json``) with its summary printed, or None, saying so,
    when the learning-curve file has no validation curve."""
    if curves.validation is None or validation is None:
        print("No synthetic validation curve in this learning-curve file: add a `validation` block "
              "(a curve on a synthetic sky with sizes beyond `fit_up_to`) to check the extrapolation.")
        return None
    check = curve_analysis.synthetic_check(validation, curves.fit_up_to, folder=curves.validation.folder,
                                           note=budget_note(validation, curves.validation.point_config))
    print(check.summary())
    return check


if TYPE_CHECKING:  # the comparison module imports matplotlib: only when a notebook compares
    from galaxy_lib.studies.compare import Comparison


def compare_setup(runs: list[str] | tuple[str, ...], name: str = "") -> Comparison:
    """The comparison notebook's runs (``05_compare.ipynb``), from its ``parameters`` cell: two or more
    finished, evaluated run (or ensemble) folders, read from the project root
    (:func:`galaxy_lib.studies.compare.load_comparison`: an unknown or unfinished run is one line).
    Shows table text in full and prints one line per run: its folder and its held-out RMSE."""
    from galaxy_lib.studies.compare import load_comparison  # matplotlib: only in the comparison notebook

    comparison = load_comparison(list(runs), name)
    pd.set_option("display.max_colwidth", None)
    print(comparison.describe())
    return comparison
