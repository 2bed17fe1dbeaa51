"""What the notebooks call, so that a notebook only narrates and calls.

Every notebook starts from the same three parameters (``config_file``, ``overrides``,
``run_dir``: see :mod:`galaxy_lib.report.build`) and needs the same set-up: the configuration,
the run folder and readable tables. :func:`setup` does it in one call, so the three notebooks
cannot drift apart and a change (a new display option, what the first line says) is made once.

This module runs inside the notebooks' kernels: it imports neither papermill nor nbconvert, and
not TensorFlow either (a notebook imports the stages it uses itself).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from galaxy_lib.config import Config, display_path, load_config, resolve_path
from galaxy_lib.model.runs import RunFolder


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
    """
    config = load_config(resolve_path(config_file) if config_file else None, dict(overrides or {}))
    run = RunFolder.for_config(config, run_dir)
    pd.set_option("display.max_colwidth", None)
    print(f"run {config.run_name!r}: data {display_path(resolve_path(config.data))}, "
          f"run folder {display_path(run.path)}")
    return config, run


def paper_comparison(config: Config) -> pd.DataFrame:
    """Every key in which ``config`` differs from the paper's code (:class:`Config`'s defaults):
    one row per key, columns ``this run`` and ``paper's code``. Empty when it is the paper's."""
    changes = config.changes_from(Config())
    return pd.DataFrame(
        [[new, old] for old, new in changes.values()],
        index=pd.Index(list(changes), dtype=object),
        columns=["this run", "paper's code"],
        dtype=object,
    )
