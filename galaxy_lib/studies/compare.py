"""Comparing finished runs: what differs between them, how they trained and how they score held out.

``python -m galaxy_lib compare runs/A runs/B [...] --name NAME`` renders ``notebooks/05_compare.ipynb``
(:mod:`galaxy_lib.report.compare`), whose cells call this module: the paper's configuration against the
improved one, or several students' runs of the same exercise, side by side.

A run is compared through the files training and evaluation left in its folder (``config.yaml``,
``split.csv``, ``history.csv``, ``metrics.json``): nothing is predicted again, so a comparison takes
seconds and no TensorFlow, and every figure is the one the run's own report shows, computed by
:func:`galaxy_lib.evaluation.evaluate.assess` (the baselines fitted on that run's training galaxies and
scored on its own test galaxies with the same functions). An ensemble folder counts as one run (its
members' mean, as its own report scores it).

**Only finished runs.** A folder that is not there, is not a run, has no trained model, is still
training (or was interrupted), has not been evaluated, or was trained further after its evaluation
is refused with one :class:`~galaxy_lib.errors.RunError` line naming the folder and what to run:
a comparison of half-made numbers would look as final as any other.

**The same galaxies?** Held-out figures measured on different galaxies are not directly comparable
(a split drawn with another ``split_seed`` holds other, easier or harder, galaxies out; the model's
``seed`` does not move them, so two seeds of one configuration share them). :func:`split_check`
compares the runs' test and validation galaxies and their data keys and says so prominently; runs
of one exercise are comparable when they share ``split.csv``: they were made with the same data,
fractions and ``split_seed``, or training found the same ``split.csv`` in their run folders (as an
ensemble's members do).

**Intervals.** Each AUC comes with the bootstrap 95% interval evaluation computed on that run's test
galaxies; :func:`non_overlapping` marks the answers where two runs' intervals do not overlap. That is
a conservative reading (two intervals can overlap while the difference is still significant), so an
unmarked answer is "not shown to differ", not "the same".
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from galaxy_lib import tree
from galaxy_lib.data import split as split_module
from galaxy_lib.errors import ConfigError, RunError
from galaxy_lib.model.ensemble import EnsembleFolder, open_folder
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import display_path, resolve_path
from galaxy_lib.studies import figures as study_figures

MIN_RUNS = 2
IGNORED_KEYS = ("run_name", "runs_dir", "reports_dir")
"""Configuration keys that only name and place a run: left out of the differences (the column
headers already name the runs)."""
DATA_KEYS = ("data", "synthetic", "synthetic_n", "synthetic_seed", "synthetic_test_n", "max_images")
"""Keys that say which galaxies a GalaxyID means: runs that differ in one of them may share
GalaxyIDs without sharing galaxies."""
BASELINE_ORDER = ("training mean", "central pixel", "all-zeros", "all-ones")
"""The baselines of :mod:`galaxy_lib.evaluation.baselines` in the order the tables show them."""
NO_OVERLAP_MARK = "✱"
"""Marks an answer whose AUC intervals do not overlap between two runs (in tables and figures)."""


# --- one run ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparedRun:
    """One finished, evaluated run (or ensemble) as the comparison reads it."""

    label: str  # the column header: the folder's name, or its path when two folders share a name
    path: Path
    kind: str  # "run" or "ensemble"
    config: dict[str, Any]  # configuration keys; an ensemble's members' values, "per member: ..." where they differ
    split: pd.DataFrame  # as training used it (refit: validation galaxies count as training)
    history: pd.DataFrame  # history.csv; an ensemble's members' one after another, with a `member` column
    metrics: dict[str, Any]  # metrics.json as evaluation wrote it
    members: tuple[str, ...] = ()  # an ensemble's member names

    @property
    def evaluated_split(self) -> str:
        """``test``, or ``val`` for a run without test galaxies (evaluation then scored validation)."""
        return str(self.metrics.get("evaluated_split") or "test")

    @property
    def heldout_rmse(self) -> float | None:
        """The run's headline: RMSE on the galaxies evaluation held out (test, else validation)."""
        return _number(self.metrics.get(f"{self.evaluated_split}_rmse"))

    @property
    def heldout_accuracy(self) -> float | None:
        return _number(self.metrics.get(f"{self.evaluated_split}_accuracy"))

    def record(self) -> dict[str, Any]:
        """What ``report.json`` keeps of this run: where it is and its held-out figures."""
        m = self.metrics
        return {
            "name": self.label,
            "run_dir": display_path(self.path),
            "kind": self.kind,
            "evaluated_split": self.evaluated_split,
            "test_rmse": _number(m.get("test_rmse")),
            "test_accuracy": _number(m.get("test_accuracy")),
            "val_rmse": _number(m.get("val_rmse")),
            "n_test": m.get("n_test"),
            "baselines": {k: _number(v) for k, v in (m.get("baselines") or {}).items()},
            "epochs": m.get("epochs"),
        }


def _number(value: Any) -> float | None:
    """A finite float, or None (metrics.json writes NaN as null; older files may lack a key)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _read_metrics(folder: RunFolder, shown: str) -> dict[str, Any]:
    if not folder.metrics_file.is_file():
        raise RunError(f"{shown}: not evaluated yet (no {folder.METRICS}); run `python -m galaxy_lib evaluate "
                       f"{shown}` first")
    try:
        metrics = json.loads(folder.metrics_file.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"{shown}: {folder.METRICS} cannot be read ({type(exc).__name__}); evaluate it again with "
                       f"`python -m galaxy_lib evaluate {shown}`") from None
    evaluated = metrics.get("evaluated_split", "test") if isinstance(metrics, dict) else None
    if not isinstance(metrics, dict) or _number(metrics.get(f"{evaluated}_rmse")) is None:
        raise RunError(f"{shown}: {folder.METRICS} holds no held-out RMSE; evaluate it again with "
                       f"`python -m galaxy_lib evaluate {shown}`")
    return metrics


def _check_trained(member: RunFolder, shown: str, evaluated_epochs: Any, metrics_file: Path) -> None:
    """Refuse a run without a model, one whose training has not finished, and one trained further
    after ``metrics_file`` was written (its metrics would describe an earlier model)."""
    if not member.model_file("best").is_file():
        raise RunError(f"{shown}: no trained model ({member.model_name('best')}); train it first with "
                       "`python -m galaxy_lib train`")
    state = member.read_state()
    if state is not None and not state.finished:
        raise RunError(f"{shown}: training has not finished (stopped after epoch {state.epoch}); "
                       "rerun its `train` or `report` command to resume it, then evaluate it")
    history = member.read_history()
    last = int(history["epoch"].max()) if len(history) and history["epoch"].notna().any() else None
    if isinstance(evaluated_epochs, int) and last is not None and last > evaluated_epochs:
        raise RunError(f"{shown}: trained to epoch {last} after {display_path(metrics_file)} was written (epoch "
                       f"{evaluated_epochs}); evaluate it again with `python -m galaxy_lib evaluate "
                       f"{display_path(metrics_file.parent)}`")


def _ensemble_config(configs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The members' configurations as one column: a value where they agree, else every member's."""
    merged: dict[str, Any] = {}
    for key in configs[0]:
        values = [c.get(key) for c in configs]
        merged[key] = values[0] if all(v == values[0] for v in values) else \
            "per member: " + ", ".join(map(str, values))
    return merged


def open_run(path: str | os.PathLike[str], label: str | None = None) -> ComparedRun:
    """Read one finished, evaluated run folder (or ensemble folder) for a comparison.

    ``path`` is read from the project root when relative. Every reason it cannot be compared is
    a one-line :class:`~galaxy_lib.errors.RunError` naming the folder and what to do."""
    resolved = resolve_path(path)
    shown = display_path(resolved)
    if not resolved.exists():
        raise RunError(f"{shown}: run folder not found (compare takes folders made by `python -m galaxy_lib "
                       "train` or `report`, e.g. runs/NAME)")
    if not resolved.is_dir():
        raise RunError(f"{shown}: not a run folder (a file, not a folder)")
    folder = open_folder(resolved)
    if isinstance(folder, EnsembleFolder):
        members = folder.members()  # each checked to be a run folder
        metrics = _read_metrics(folder, shown)
        epochs = {m.get("name"): m.get("epochs") for m in metrics.get("members") or [] if isinstance(m, dict)}
        for name, member in members:
            _check_trained(member, f"{shown} (member {name}: {display_path(member.path)})", epochs.get(name),
                           folder.metrics_file)
        configs = [member.load_config() for _, member in members]
        split = split_module.as_trained(folder.load_split(), any(c.refit for c in configs))
        merged = _ensemble_config([c.to_dict() for c in configs])
        return ComparedRun(label or resolved.name, resolved, "ensemble", merged, split, folder.read_history(), metrics,
                           tuple(name for name, _ in members))
    if not folder.config_file.is_file():
        raise RunError(f"{shown}: not a run folder (no {folder.CONFIG}); compare takes folders made by "
                       "`python -m galaxy_lib train` or `report`")
    config = folder.load_config()
    metrics = _read_metrics(folder, shown)
    _check_trained(folder, shown, metrics.get("epochs"), folder.metrics_file)
    split = split_module.as_trained(folder.load_split(), config.refit)
    return ComparedRun(label or resolved.name, resolved, "run", config.to_dict(), split, folder.read_history(),
                       metrics)


def _labels(paths: Sequence[Path]) -> list[str]:
    """Column headers: folder names, or their paths where two folders share a name."""
    names = [p.name for p in paths]
    return [name if names.count(name) == 1 else display_path(p) for name, p in zip(names, paths, strict=True)]


def load_comparison(paths: Sequence[str | os.PathLike[str]], name: str = "") -> Comparison:
    """Read two or more finished runs (see :func:`open_run`) for a comparison called ``name``."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if len(paths) < MIN_RUNS:
        raise ConfigError(f"compare needs at least {MIN_RUNS} run folders, got {len(paths)}"
                          + (f" ({', '.join(map(str, paths))})" if paths else ""))
    resolved = [resolve_path(p) for p in paths]
    seen: dict[Path, str] = {}
    for given, path in zip(paths, resolved, strict=True):
        if path in seen:
            raise ConfigError(f"{display_path(path)}: named twice ({seen[path]!s} and {given!s}); compare different "
                              "run folders")
        seen[path] = str(given)
    runs = [open_run(path, label) for path, label in zip(resolved, _labels(resolved), strict=True)]
    return Comparison(tuple(runs), name)


# --- the pure parts: differences, splits, intervals ------------------------------------------------------------


def config_differences(configs: Mapping[str, Mapping[str, Any]],
                       ignored: Sequence[str] = IGNORED_KEYS) -> pd.DataFrame:
    """The configuration keys whose values differ between runs: one row per key (in the order the
    first run lists them), one column per run. Keys in ``ignored`` are left out; a key one run lacks
    shows as ``–``. Empty (no rows) when the configurations agree."""
    labels = list(configs)
    keys: list[str] = []
    for config in configs.values():
        keys += [k for k in config if k not in keys and k not in ignored]
    differing = [key for key in keys if _differs(configs, key)]
    rows = [[configs[label].get(key, "–") for label in labels] for key in differing]
    return pd.DataFrame(rows, index=pd.Index(differing, dtype=object, name="key"), columns=labels, dtype=object)


_MISSING = object()


def _differs(configs: Mapping[str, Mapping[str, Any]], key: str) -> bool:
    """Whether ``key``'s value differs between the runs (a run without the key differs from one with it)."""
    values = [c.get(key, _MISSING) for c in configs.values()]
    return any(v is not values[0] and v != values[0] for v in values[1:])


def non_overlapping(intervals: Mapping[str, tuple[float | None, float | None]]) -> list[tuple[str, str]]:
    """Pairs ``(higher, lower)`` of runs whose intervals do not overlap: ``higher``'s lower bound lies
    above ``lower``'s upper bound. Runs without a finite interval (not measurable, no bootstrap)
    take no part. Touching intervals overlap."""
    finite = {label: (float(low), float(high)) for label, (low, high) in intervals.items()
              if _number(low) is not None and _number(high) is not None}
    return [(a, b) for a, (low_a, _) in finite.items() for b, (_, high_b) in finite.items()
            if a != b and low_a > high_b]


def no_overlap_mark(pairs: Sequence[tuple[str, str]]) -> str:
    """The table's mark for an answer: ``✱ A > B; ...`` where intervals do not overlap, else ``""``."""
    return f"{NO_OVERLAP_MARK} " + "; ".join(f"{a} > {b}" for a, b in pairs) if pairs else ""


@dataclass(frozen=True)
class SplitCheck:
    """Whether the runs were tested (and validated) on the same galaxies of the same data."""

    table: pd.DataFrame  # one row per run: train, val, test galaxies, the split evaluated, test shared with the first
    shared_test: int  # test galaxies every run has
    shared_val: int  # validation galaxies every run has
    same_test: bool
    same_val: bool
    data_keys: tuple[str, ...] = ()  # data keys in which the runs differ
    scored_on_val: tuple[str, ...] = ()  # runs evaluation scored on validation galaxies (they have no test)

    @property
    def comparable(self) -> bool:
        """The held-out figures are directly comparable: same test galaxies, same data, all scored on test."""
        return self.same_test and not self.data_keys and not self.scored_on_val

    def warning(self, markdown: bool = True) -> str | None:
        """A prominent warning when the held-out figures are not directly comparable, or when only the
        validation galaxies differ (the validation curves then are not); None when all agree. Markdown,
        or plain text with ``markdown=False`` (``report.json``, the index)."""
        text = self._warning()
        return text if markdown or text is None else text.replace("**", "").replace("`", "")

    def _warning(self) -> str | None:
        """:meth:`warning` in Markdown."""
        counts = self.table["test"]
        each = ", ".join(f"`{label}` {int(n):,}" for label, n in counts.items())
        problems = []
        if not self.same_test:
            everyone = "both runs" if len(counts) == 2 else f"all {len(counts)} runs"
            problems.append(f"they were tested on different galaxies: test galaxies {each}; {self.shared_test:,} "
                            f"are shared by {everyone}")
        if self.data_keys:
            problems.append(f"they read different data ({', '.join(self.data_keys)} differ), so the same GalaxyID "
                            "may not be the same galaxy")
        if self.scored_on_val:
            problems.append(f"{', '.join(f'`{r}`' for r in self.scored_on_val)} had no test galaxies and "
                            "was scored on its validation galaxies")
        if problems:
            return ("**⚠ Not directly comparable:** " + "; ".join(problems) + ". Each run's figures, baselines "
                    "included, are measured on its own held-out galaxies, so a difference between runs mixes the "
                    "models with the galaxies they met; compare each run's gain over its own baselines, or train "
                    "them on one split (the same data, fractions and `split_seed`, whatever their `seed`; or copy "
                    "one `split.csv` into each run folder before training, which reuses it).")
        if not self.same_val:
            val = ", ".join(f"`{label}` {int(n):,}" for label, n in self.table["val"].items())
            return (f"**⚠ Validation galaxies differ** (validation galaxies {val}; {self.shared_val:,} shared): the "
                    f"test figures are comparable (the same {self.shared_test:,} test galaxies), the validation "
                    "curves and figures are not.")
        return None

    def summary(self) -> str:
        """The warning, or one line saying that the runs were tested on the same galaxies."""
        warning = self.warning()
        if warning is not None:
            return warning
        return (f"All {len(self.table)} runs were tested on the same {self.shared_test:,} galaxies and validated on "
                f"the same {self.shared_val:,}: their held-out figures are directly comparable.")


def split_check(splits: Mapping[str, pd.DataFrame], configs: Mapping[str, Mapping[str, Any]] | None = None,
                evaluated: Mapping[str, str] | None = None) -> SplitCheck:
    """Compare the runs' splits (as trained: see :func:`galaxy_lib.data.split.as_trained`), their data
    keys (:data:`DATA_KEYS`, when ``configs`` are given) and which split evaluation scored."""
    labels = list(splits)
    parts = {label: {name: set(split_module.ids_of(split, name).tolist()) for name in split_module.SPLITS}
             for label, split in splits.items()}
    first = labels[0]
    shared = {name: set.intersection(*(parts[label][name] for label in labels)) for name in ("val", "test")}
    evaluated = dict(evaluated or {})
    table = pd.DataFrame(
        [[len(parts[label]["train"]), len(parts[label]["val"]), len(parts[label]["test"]),
          evaluated.get(label, "test"), len(parts[label]["test"] & parts[first]["test"])] for label in labels],
        index=pd.Index(labels, name="run"),
        columns=["train", "val", "test", "scored on", f"test shared with {first}"],
    )
    data_keys: tuple[str, ...] = ()
    if configs:
        data_keys = tuple(key for key in DATA_KEYS if _differs(configs, key))
    return SplitCheck(
        table=table,
        shared_test=len(shared["test"]),
        shared_val=len(shared["val"]),
        same_test=all(parts[label]["test"] == parts[first]["test"] for label in labels),
        same_val=all(parts[label]["val"] == parts[first]["val"] for label in labels),
        data_keys=data_keys,
        scored_on_val=tuple(label for label in labels if evaluated.get(label, "test") == "val"),
    )


# --- the comparison ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Two or more finished runs side by side; each method is one table or figure of the report."""

    runs: tuple[ComparedRun, ...]
    name: str = ""

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    def describe(self) -> str:
        """One line per run: where it is, what kind, its held-out figure."""
        lines = [f"comparison {self.name!r} of {len(self.runs)} runs:" if self.name else
                 f"comparison of {len(self.runs)} runs:"]
        for run in self.runs:
            kind = f"ensemble of {len(run.members)}" if run.kind == "ensemble" else "run"
            lines.append(f"  {run.label}: {kind} {display_path(run.path)}, held-out {run.evaluated_split} RMSE "
                         f"{_text(run.heldout_rmse)}")
        return "\n".join(lines)

    # configuration

    def config_differences(self) -> pd.DataFrame:
        """:func:`config_differences` of the runs (an ensemble: its members' values), plus a row
        ``ensemble`` when one of them is an ensemble."""
        configs = {r.label: dict(r.config) for r in self.runs}
        if any(r.kind == "ensemble" for r in self.runs):
            for r in self.runs:
                configs[r.label] = {"ensemble": f"{len(r.members)} members" if r.members else "–"} | configs[r.label]
        return config_differences(configs)

    def config_summary(self) -> str:
        """One line: which keys differ (or that none do)."""
        keys = list(self.config_differences().index)
        if not keys:
            return "The runs' configurations are identical (apart from their names and folders)."
        return f"{len(keys)} configuration key{'s differ' if len(keys) != 1 else ' differs'}: {', '.join(keys)}."

    # splits

    def split_check(self) -> SplitCheck:
        """:func:`split_check` of the runs."""
        return split_check({r.label: r.split for r in self.runs}, {r.label: r.config for r in self.runs},
                           {r.label: r.evaluated_split for r in self.runs})

    # held-out figures

    def _baselines(self) -> list[str]:
        present = [k for r in self.runs for k in (r.metrics.get("baselines") or {})]
        return [k for k in BASELINE_ORDER if k in present] + sorted(set(present) - set(BASELINE_ORDER))

    def heldout_table(self) -> pd.DataFrame:
        """One row per run: the galaxies scored, held-out RMSE and the paper's accuracy (argmax of 37),
        validation RMSE, then each baseline's RMSE and accuracy on the same run's held-out galaxies and
        the model's gain over the training mean (positive: better than predicting the mean)."""
        rows = []
        for r in self.runs:
            m = r.metrics
            baselines, accuracy = m.get("baselines") or {}, m.get("baseline_accuracy") or {}
            row: dict[str, Any] = {
                "scored on": r.evaluated_split,
                "galaxies": m.get(f"n_{r.evaluated_split}"),
                "RMSE": r.heldout_rmse,
                "accuracy": r.heldout_accuracy,
                "validation RMSE": _number(m.get("val_rmse")) if r.evaluated_split == "test" else None,
            }
            for name in self._baselines():
                row[f"{name} RMSE"] = _number(baselines.get(name))
                row[f"{name} accuracy"] = _number(accuracy.get(name))
            mean = _number(baselines.get("training mean"))
            row["gain over training mean"] = (mean - r.heldout_rmse if mean is not None and r.heldout_rmse is not None
                                              else None)
            row["epochs"] = m.get("epochs")
            rows.append(row)
        frame = pd.DataFrame(rows, index=pd.Index(self.labels, name="run"))
        numeric = [c for c in frame.columns if c not in ("scored on",)]
        frame[numeric] = frame[numeric].astype(float)
        for column in ("galaxies", "epochs"):
            frame[column] = frame[column].astype("Int64")
        return frame

    def heldout_figure(self) -> Figure:
        """Held-out RMSE of each run next to its own training-mean and central-pixel baselines
        (:func:`galaxy_lib.studies.figures.compare_heldout` of :meth:`heldout_table`)."""
        return study_figures.compare_heldout(self.heldout_table())

    # per question

    def rmse_per_question(self) -> pd.DataFrame:
        """Held-out RMSE of each question's answers, one column per run, and the run lowest on each."""
        index = [f"Q{q.number}" for q in tree.QUESTIONS]
        frame = pd.DataFrame({r.label: [_number((r.metrics.get("rmse_per_question") or {}).get(q)) for q in index]
                              for r in self.runs}, index=pd.Index(index, name="question"), dtype=float)
        frame.insert(0, "question text", [q.text for q in tree.QUESTIONS])
        values = frame[self.labels]
        frame["lowest"] = [values.columns[int(np.nanargmin(row))] if np.isfinite(row).any() else "–"
                           for row in values.to_numpy(dtype=float)]
        return frame

    def question_figure(self) -> Figure:
        """Per-question held-out RMSE, one bar per run in each question's group
        (:func:`galaxy_lib.studies.figures.compare_questions`)."""
        return study_figures.compare_questions(self.rmse_per_question()[self.labels])

    # AUC

    def auc_table(self) -> pd.DataFrame:
        """Per-answer AUC of every run with its bootstrap 95% interval (``low``, ``high``) and positives,
        columns grouped by run, and ``no overlap``: :func:`no_overlap_mark` of the answer's intervals."""
        columns = pd.MultiIndex.from_tuples([(label, part) for label in self.labels
                                             for part in ("AUC", "low", "high", "positives")])
        rows, marks = [], []
        for column in tree.ANSWER_COLUMNS:
            row: list[Any] = []
            intervals = {}
            for r in self.runs:
                entry = (r.metrics.get("auc") or {}).get(column) or {}
                auc = _number(entry.get("auc"))
                low, high = (_number(entry.get("low")), _number(entry.get("high"))) if auc is not None else (None, None)
                intervals[r.label] = (low, high)
                row += [auc, low, high, entry.get("positives")]
            rows.append(row)
            marks.append(no_overlap_mark(non_overlapping(intervals)))
        frame = pd.DataFrame(rows, index=pd.Index(list(tree.ANSWER_COLUMNS), name="answer"), columns=columns)
        for label in self.labels:
            frame[(label, "positives")] = frame[(label, "positives")].astype("Int64")
            for part in ("AUC", "low", "high"):
                frame[(label, part)] = frame[(label, part)].astype(float)
        frame.insert(0, ("", "label"), [tree.ANSWER_LABELS[c] for c in tree.ANSWER_COLUMNS])
        frame[("", "no overlap")] = marks
        return frame

    def differing_answers(self) -> list[str]:
        """Answers whose AUC intervals do not overlap between two runs."""
        table = self.auc_table()
        return [c for c, mark in table[("", "no overlap")].items() if mark]

    def auc_figure(self) -> Figure:
        """Every measurable AUC with its interval, one colour per run, answers with non-overlapping
        intervals marked (:func:`galaxy_lib.studies.figures.compare_auc` of :meth:`auc_table`)."""
        return study_figures.compare_auc(self.auc_table(), self.labels, NO_OVERLAP_MARK)

    # training curves

    def history_figure(self) -> Figure:
        """The runs' training curves overlaid, one colour per run
        (:func:`galaxy_lib.studies.figures.compare_history`); an ensemble's members share its colour."""
        return study_figures.compare_history({r.label: r.history for r in self.runs})

    # conclusion and record

    def conclusion(self) -> str:
        """A short Markdown summary generated from the numbers: the order by held-out RMSE, each run's
        gain over its training-mean predictor, the answers whose AUC intervals do not overlap, and the
        split warning when there is one."""
        check = self.split_check()
        table = self.heldout_table().sort_values("RMSE")
        lines = []
        ranked = ", ".join(f"`{label}` {_text(row['RMSE'])}" for label, row in table.iterrows())
        lines.append(f"- **Held-out RMSE, lowest first:** {ranked}.")
        gains = ", ".join(f"`{label}` {_text(row['gain over training mean'])}" for label, row in table.iterrows())
        lines.append(f"- **Gain over each run's own training-mean predictor** (the bar any model must clear; "
                     f"positive is better): {gains}.")
        differ = self.differing_answers()
        if differ:
            lines.append(f"- **AUC intervals that do not overlap:** {len(differ)} of {tree.N_ANSWERS} answers "
                         f"({', '.join(differ)}); the other answers are not shown to differ.")
        else:
            lines.append("- **AUC:** no answer's intervals fail to overlap, so no single answer is shown to differ "
                         "between the runs.")
        lines.append(f"- **Configuration:** {self.config_summary()}")
        lines.append(f"- **Galaxies:** {check.summary()}")
        return "\n".join(lines)

    def summary_runs(self) -> list[dict[str, Any]]:
        """Each run's :meth:`ComparedRun.record`, in order (``report.json``'s ``runs``)."""
        return [r.record() for r in self.runs]


def _text(value: Any, digits: int = 4) -> str:
    number = _number(value)
    return "–" if number is None else f"{number:.{digits}f}"


__all__ = [
    "BASELINE_ORDER",
    "DATA_KEYS",
    "IGNORED_KEYS",
    "NO_OVERLAP_MARK",
    "ComparedRun",
    "Comparison",
    "SplitCheck",
    "config_differences",
    "load_comparison",
    "no_overlap_mark",
    "non_overlapping",
    "open_run",
    "split_check",
]
