"""Honest evaluation of a trained run: held-out metrics, baselines, AUC table and figures.

The seed paper's "RMSE 0.11446, accuracy 72.28%" were the last *training* epoch's running
figures, logged by Keras with dropout active, on a split whose "test" set mostly overlapped
the training set. Here every headline number is measured on the run's held-out **test**
galaxies (never trained on, never used to choose an epoch), next to:

* the paper's style of figure for the same run (last-epoch training RMSE/accuracy from
  ``history.csv``) so the gap is visible (:func:`paper_vs_honest_table`);
* baselines fitted on the run's training galaxies only and scored on the same test
  galaxies with the same functions (:func:`baseline_table`), plus Kaggle's leaderboard;
* per-answer AUCs with counts, intervals and "not measurable" where positives are few.

:func:`evaluate_run` is the command-line entry (``python -m galaxy_lib evaluate RUN``): it
predicts, computes, writes ``metrics.json``, ``auc.csv``, ``predictions_test.csv`` and
``figures/*.png`` into the run folder (each atomically) and prints a summary.
:func:`assess` does the same from predictions already made, for notebooks and tests.

An ensemble (:mod:`galaxy_lib.model.ensemble`) is evaluated as one model by
:func:`evaluate_ensemble` (:func:`evaluate_run` hands an ensemble folder to it): the members'
mean prediction is scored like a run's, and every member's own held-out figures stand beside
it (``metrics.json``'s ``members``, rows of the baseline table and of the paper-vs-honest
table, the bars of ``rmse_vs_baselines``), so the gain over the members is visible.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data import split as split_module
from galaxy_lib.errors import DataError, RunError
from galaxy_lib.evaluation import baselines, figures, metrics
from galaxy_lib.evaluation.baselines import baseline_table
from galaxy_lib.evaluation.metrics import EvaluationResult, evaluate_predictions
from galaxy_lib.model.ensemble import EnsembleFolder, shared_split
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.paths import atomic_write_text, display_path

__all__ = [
    "PAPER_REPORTED",
    "MemberRun",
    "RunEvaluation",
    "assess",
    "baseline_table",
    "evaluate_ensemble",
    "evaluate_predictions",
    "evaluate_run",
    "paper_vs_honest_table",
    "with_data_column",
    "write_evaluation",
]

PAPER_REPORTED = {"rmse": 0.11446, "accuracy": 0.7228}
"""The seed paper's published figures: last training epoch, dropout on, leaky split."""

FIGURE_NAMES = (
    "training_curves",
    "roc_curves",
    "auc_per_answer",
    "rmse_vs_baselines",
    "predicted_vs_true",
    "gallery",
)


@dataclass
class MemberRun:
    """One member of an ensemble, for :func:`assess`: its history, its own predictions of the
    evaluated splits (same order as the ensemble's) and extra fields for ``metrics.json``."""

    name: str
    history: pd.DataFrame
    predictions: dict[str, np.ndarray]
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunEvaluation:
    """Everything :func:`assess` measured for one run; :attr:`metrics` is what goes to JSON."""

    config: Config
    evaluated_split: str  # 'test', or 'val' when the run has no test galaxies
    ids: np.ndarray  # galaxies of the evaluated split
    y_true: np.ndarray
    y_pred: np.ndarray
    result: EvaluationResult  # metrics on the evaluated split
    val: EvaluationResult | None
    baselines: pd.DataFrame
    paper_vs_honest: pd.DataFrame
    history: pd.DataFrame
    metrics: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict, repr=False)
    training_mean: np.ndarray | None = field(default=None, repr=False)  # the training galaxies' 37 mean answers

    def gain_over_training_mean(self) -> metrics.RmseGain:
        """How much lower the model's RMSE is than the training-mean predictor's on the same held-out
        galaxies, with a paired bootstrap interval (:func:`~galaxy_lib.evaluation.metrics.rmse_gain`,
        the configuration's ``bootstrap`` resamples and ``seed``)."""
        if self.training_mean is None:
            raise ValueError("this evaluation holds no training mean (made before it was recorded)")
        return metrics.rmse_gain(self.y_true, self.y_pred, self.training_mean, n_bootstrap=self.config.bootstrap,
                                 seed=self.config.seed)

    @property
    def auc(self) -> pd.DataFrame:
        return self.result.auc

    def predictions_frame(self) -> pd.DataFrame:
        """Kaggle-format predictions of the evaluated split: GalaxyID + 37 answer columns."""
        frame = pd.DataFrame(self.y_pred, columns=list(tree.ANSWER_COLUMNS))
        frame.insert(0, tree.ID_COLUMN, self.ids)
        return frame

    def summary_text(self) -> str:
        """A few lines for the terminal or a notebook."""
        m = self.metrics
        split = self.evaluated_split
        members = m.get("members") or []
        what = f"{m['model']} model" if not members else f"ensemble of {len(members)} members' {m['model']} models"
        lines = [
            f"Held-out {split} set: {m['n_' + split]} galaxies never trained on "
            f"({what}, test-time averaging: {m['tta']})",
            f"  {split} RMSE {m[split + '_rmse']:.4f}   accuracy (argmax of 37) {m[split + '_accuracy']:.3f}",
        ]
        if members:
            own = [member[split + "_rmse"] for member in members]
            lines.append("  members on their own: " + ", ".join(
                f"{member['name']} {value:.4f}" for member, value in zip(members, own, strict=True))
                + f"; the ensemble gains {min(own) - m[split + '_rmse']:.4f} over the best member")
        if m.get("train_rmse_last_epoch") is not None:
            acc = m.get("train_accuracy_last_epoch")
            lines.append(
                f"  paper's view, last training epoch (dropout on): RMSE {m['train_rmse_last_epoch']:.4f}"
                + (f"   accuracy {acc:.3f}" if acc is not None else "")
            )
        base = ", ".join(f"{name} {value:.4f}" for name, value in m["baselines"].items())
        lines.append(f"  baselines on the same galaxies: {base}")
        measurable = [v["auc"] for v in m["auc"].values() if v["auc"] is not None]
        if measurable:
            lines.append(
                f"  AUC measurable for {len(measurable)}/37 answers (>= {m['auc_min_positives']} positives): "
                f"median {np.median(measurable):.3f}, lowest {min(measurable):.3f}"
            )
        else:
            lines.append(f"  AUC: no answer has {m['auc_min_positives']} positives in this split")
        return "\n".join(lines)


# --- tables ---------------------------------------------------------------------------------------


def _last(history: pd.DataFrame, column: str) -> float | None:
    if history is None or column not in history or history[column].dropna().empty:
        return None
    return float(history[column].dropna().iloc[-1])


def paper_vs_honest_table(
    history: pd.DataFrame,
    val: EvaluationResult | None = None,
    test: EvaluationResult | None = None,
    *,
    n_train: int | None = None,
    model: str = "best",
    include_paper: bool = True,
    subject: str = "this run",
) -> pd.DataFrame:
    """The paper's style of figure next to the honest ones, for the same run.

    Rows: the paper as published (optional); this run's last training epoch as Keras logged
    it (running average over the epoch, dropout on: exactly what the paper reported); the
    last epoch's validation figures from the same log; and, recomputed from predictions of
    the ``model`` checkpoint, validation (used to choose that checkpoint, so slightly
    optimistic) and the held-out test set (never seen: the honest number).

    Columns: ``figure``, ``rmse``, ``accuracy``, ``galaxies``, ``seen in training``. ``subject``
    starts the rows' text (an ensemble's table names each member and "the ensemble").
    """
    rows: list[dict[str, Any]] = []
    checkpoint = model if model.endswith(("model", "models")) else f"{model} model"
    if include_paper:
        rows.append({"figure": "paper as published: last training epoch, leaky split",
                     "rmse": PAPER_REPORTED["rmse"], "accuracy": PAPER_REPORTED["accuracy"],
                     "galaxies": np.nan, "seen in training": "yes"})
    epoch = _last(history, "epoch")
    tag = f"epoch {int(epoch)}" if epoch is not None else "last epoch"
    if _last(history, "rmse") is not None:
        rows.append({"figure": f"{subject}, paper's view: training, {tag} (Keras log, dropout on)",
                     "rmse": _last(history, "rmse"), "accuracy": _last(history, "accuracy"),
                     "galaxies": n_train if n_train is not None else np.nan, "seen in training": "yes"})
    if _last(history, "val_rmse") is not None:
        rows.append({"figure": f"{subject}: validation, {tag} (Keras log)",
                     "rmse": _last(history, "val_rmse"), "accuracy": _last(history, "val_accuracy"),
                     "galaxies": val.n if val is not None else np.nan, "seen in training": "no"})
    if val is not None:
        rows.append({"figure": f"{subject}: validation, {checkpoint}", "rmse": val.rmse, "accuracy": val.accuracy,
                     "galaxies": val.n, "seen in training": "no (chose the checkpoint)"})
    if test is not None:
        rows.append({"figure": f"{subject}: held-out test, {checkpoint}", "rmse": test.rmse,
                     "accuracy": test.accuracy, "galaxies": test.n, "seen in training": "no"})
    frame = pd.DataFrame(rows, columns=["figure", "rmse", "accuracy", "galaxies", "seen in training"])
    frame["galaxies"] = frame["galaxies"].astype("Int64")
    return frame


KAGGLE_DATA = "real galaxies: Kaggle's own test set"
"""What the Kaggle leaderboard rows of the baseline table were measured on."""


def with_data_column(table: pd.DataFrame, *, synthetic: bool, n: int, split: str = "test") -> pd.DataFrame:
    """``table`` (:func:`baseline_table`'s) with a ``measured on`` column: the run's own rows say which
    galaxies they were scored on (``synthetic sky: these 400 test galaxies``), the Kaggle leaderboard
    rows :data:`KAGGLE_DATA`. A synthetic figure is easier than a real one, so a table that sorts them
    together must say which is which on every row."""
    kind = "synthetic sky" if synthetic else "real galaxies"
    table = table.copy()
    table["measured on"] = np.where(table["source"] == "Kaggle leaderboard", KAGGLE_DATA,
                                    f"{kind}: these {n:,} {split} galaxies")
    return table


# --- the evaluation itself --------------------------------------------------------------------------


def _split_ids(split: pd.DataFrame, name: str) -> np.ndarray:
    if tree.ID_COLUMN not in split or "split" not in split:
        raise DataError(f"split table needs columns {tree.ID_COLUMN} and split, has {list(split.columns)}")
    return split.loc[split["split"] == name, tree.ID_COLUMN].to_numpy(dtype=np.int64)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if value is pd.NA:
        return None
    return value


def _auc_dict(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {
        row.column: {"auc": row.auc, "positives": int(row.positives), "negatives": int(row.negatives),
                     "low": row.low, "high": row.high, "note": row.note}
        for row in table.itertuples()
    }


@dataclass(frozen=True)
class _Truth:
    """The galaxies an evaluation uses, by split, and their true answers: the split it scores
    (``test``, or ``val`` when the run has no test galaxies), the training galaxies the baselines
    are fitted on, and the validation galaxies when they are scored beside the test set."""

    ids: dict[str, np.ndarray]  # train, val, test
    evaluated: str
    y_train: np.ndarray
    y_eval: np.ndarray
    y_val: np.ndarray | None  # None unless the test split is evaluated and the validation one predicted


def _truth(split: pd.DataFrame, data, predictions: dict[str, np.ndarray]) -> _Truth:
    """The :class:`_Truth` of ``split``, after refusing a split with nothing to evaluate or fit
    baselines on, and predictions that do not match its galaxies."""
    ids = {name: _split_ids(split, name) for name in ("train", "val", "test")}
    evaluated = "test" if len(ids["test"]) else "val"
    if not len(ids[evaluated]):
        raise DataError("the run's split has neither test nor validation galaxies: nothing held out to evaluate")
    if not len(ids["train"]):
        raise DataError("the run's split has no training galaxies: baselines cannot be fitted")
    for name in ("val", "test"):
        if len(ids[name]) and name in predictions and len(predictions[name]) != len(ids[name]):
            raise ValueError(f"{name}: {len(predictions[name])} predictions for {len(ids[name])} galaxies")
    if evaluated not in predictions:
        raise ValueError(f"no predictions for the {evaluated} split")
    _, y_train = data.subset(ids["train"])
    _, y_eval = data.subset(ids[evaluated])
    y_val = None
    if evaluated == "test" and len(ids["val"]) and "val" in predictions:
        _, y_val = data.subset(ids["val"])
    return _Truth(ids, evaluated, y_train, y_eval, y_val)


def _baseline_predictions(config: Config, data, truth: _Truth, *, progress: bool) -> dict[str, np.ndarray]:
    """The baselines' predictions of the evaluated galaxies, fitted on the training galaxies only
    (the central-pixel baseline reads both sets' images)."""
    train_ids, eval_ids = truth.ids["train"], truth.ids[truth.evaluated]
    colours = baselines.central_pixel_colours(data.images, np.concatenate([train_ids, eval_ids]), progress=progress)
    return baselines.baseline_predictions(
        truth.y_train, len(truth.y_eval), train_colours=colours[: len(train_ids)],
        eval_colours=colours[len(train_ids) :], clusters=config.central_pixel_clusters, seed=config.seed,
    )


def _ensemble_tables(
    config: Config, truth: _Truth, y_pred: np.ndarray, base_preds: dict[str, np.ndarray],
    members: Sequence[MemberRun], val: EvaluationResult | None, test: EvaluationResult | None, model: str,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict[str, EvaluationResult]]]:
    """An ensemble's baseline table and paper-vs-honest table, with a row for each member beside
    the ensemble's, and each member's own scores by split (for ``metrics['members']``)."""
    evaluated, y_eval = truth.evaluated, truth.y_eval
    models = {f"the ensemble ({evaluated})": y_pred}
    models |= {f"member {m.name} ({evaluated})": m.predictions[evaluated] for m in members}
    table = baseline_table(y_eval, base_preds, models=models)
    own = {
        m.name: {name: evaluate_predictions(y, m.predictions[name], min_positives=config.auc_min_positives,
                                            n_bootstrap=0, seed=config.seed)
                 for name, y in (("val", truth.y_val), (evaluated, y_eval))
                 if y is not None and name in m.predictions}
        for m in members
    }
    n_train = len(truth.ids["train"])
    parts = [paper_vs_honest_table(pd.DataFrame(), include_paper=True)]
    parts += [paper_vs_honest_table(m.history, own[m.name].get("val"), own[m.name].get("test"),
                                    n_train=n_train, model=model, include_paper=False,
                                    subject=f"member {m.name}") for m in members]
    parts.append(paper_vs_honest_table(pd.DataFrame(), val, test, model=f"members' {model} models",
                                       include_paper=False, subject="the ensemble"))
    return table, pd.concat(parts, ignore_index=True), own


def _metrics_record(
    config: Config, truth: _Truth, result: EvaluationResult, val: EvaluationResult | None, log: pd.DataFrame,
    base_preds: dict[str, np.ndarray], paper: pd.DataFrame, model: str,
) -> dict[str, Any]:
    """What ``metrics.json`` holds for an evaluation (before :func:`_clean`), in its order of keys."""
    evaluated, y_eval, ids = truth.evaluated, truth.y_eval, truth.ids
    test = result if evaluated == "test" else None
    return {
        "evaluated_split": evaluated,
        "model": model,
        "tta": config.tta,
        "n_train": len(ids["train"]),
        "n_val": len(ids["val"]),
        "n_test": len(ids["test"]),
        "test_rmse": test.rmse if test else None,
        "test_accuracy": test.accuracy if test else None,
        "val_rmse": val.rmse if val else (result.rmse if evaluated == "val" else None),
        "val_accuracy": val.accuracy if val else (result.accuracy if evaluated == "val" else None),
        "train_rmse_last_epoch": _last(log, "rmse"),
        "train_accuracy_last_epoch": _last(log, "accuracy"),
        "val_rmse_last_epoch": _last(log, "val_rmse"),
        "val_accuracy_last_epoch": _last(log, "val_accuracy"),
        "epochs": int(_last(log, "epoch")) if _last(log, "epoch") is not None else None,
        "paper_reported": PAPER_REPORTED,
        "rmse_per_question": result.rmse_per_question.to_dict(),
        "rmse_per_answer": result.rmse_per_answer.to_dict(),
        "question_accuracy": {
            row.question: {"reached": int(row.reached), "accuracy": row.accuracy}
            for row in result.question_accuracy.itertuples()
        },
        "baselines": {k: metrics.rmse(y_eval, v) for k, v in base_preds.items()},
        "baseline_accuracy": {k: metrics.paper_accuracy(y_eval, v) for k, v in base_preds.items()},
        "central_pixel_clusters": config.central_pixel_clusters,
        "kaggle_anchors": dict(baselines.KAGGLE_ANCHORS),
        "auc_min_positives": config.auc_min_positives,
        "bootstrap": config.bootstrap,
        "auc": _auc_dict(result.auc),
        "paper_vs_honest": paper.astype(object).where(paper.notna(), None).to_dict(orient="records"),
    }


def _member_records(members: Sequence[MemberRun], own: dict[str, dict[str, EvaluationResult]]) -> list[dict]:
    """``metrics['members']``: each member's own held-out figures and its training log's last epoch."""
    return [
        {
            "name": member.name,
            **member.record,
            "test_rmse": own[member.name]["test"].rmse if "test" in own[member.name] else None,
            "test_accuracy": own[member.name]["test"].accuracy if "test" in own[member.name] else None,
            "val_rmse": own[member.name]["val"].rmse if "val" in own[member.name] else None,
            "train_rmse_last_epoch": _last(member.history, "rmse"),
            "epochs": int(_last(member.history, "epoch")) if _last(member.history, "epoch") is not None else None,
        }
        for member in members
    ]


def assess(
    config: Config,
    split: pd.DataFrame,
    history: pd.DataFrame,
    data,
    predictions: dict[str, np.ndarray],
    *,
    model: str = "best",
    progress: bool = True,
    make_figures: bool = True,
    members: Sequence[MemberRun] = (),
) -> RunEvaluation:
    """All metrics, baselines, tables and figures from predictions already made.

    ``predictions`` maps ``'test'`` (and optionally ``'val'``) to ``(n, 37)`` arrays in the
    order of that split's GalaxyIDs in ``split``. ``data`` is a
    :class:`~galaxy_lib.data.dataset.GalaxyData` holding at least the run's galaxies. Baselines are
    fitted on the ``train`` rows of ``split`` only.

    With ``members`` the predictions are an ensemble's mean: each member's own figures join the
    tables and ``metrics['members']``, ``history`` is the members' (with a ``member`` column, for
    the training curves), and the top-level last-epoch figures are left empty (no single log).
    """
    truth = _truth(split, data, predictions)
    evaluated, y_eval = truth.evaluated, truth.y_eval
    y_pred = np.asarray(predictions[evaluated], dtype=np.float64)
    result = evaluate_predictions(y_eval, y_pred, min_positives=config.auc_min_positives,
                                  n_bootstrap=config.bootstrap, seed=config.seed)
    val = None
    if truth.y_val is not None:
        val = evaluate_predictions(truth.y_val, predictions["val"], min_positives=config.auc_min_positives,
                                   n_bootstrap=0, seed=config.seed)
    base_preds = _baseline_predictions(config, data, truth, progress=progress)
    test = result if evaluated == "test" else None
    if not members:
        table = baseline_table(y_eval, base_preds, models={f"this model ({evaluated})": y_pred})
        paper = paper_vs_honest_table(history, val, test, n_train=len(truth.ids["train"]), model=model)
        log = history
    else:
        table, paper, own = _ensemble_tables(config, truth, y_pred, base_preds, members, val, test, model)
        log = pd.DataFrame()  # no single training log: each member's is in metrics["members"]
    table = with_data_column(table, synthetic=config.synthetic, n=len(y_eval), split=evaluated)
    record = _metrics_record(config, truth, result, val, log, base_preds, paper, model)
    if members:
        record["members"] = _member_records(members, own)
    evaluation = RunEvaluation(
        config=config, evaluated_split=evaluated, ids=truth.ids[evaluated], y_true=y_eval, y_pred=y_pred,
        result=result, val=val, baselines=table, paper_vs_honest=paper, history=history, metrics=_clean(record),
        training_mean=np.asarray(truth.y_train, dtype=np.float64).mean(axis=0),
    )
    if make_figures:
        evaluation.figures = make_evaluation_figures(evaluation, data.images)
    return evaluation


def make_evaluation_figures(evaluation: RunEvaluation, images) -> dict[str, Any]:
    """The standard figures of an evaluation, by name (see :data:`FIGURE_NAMES`)."""
    out: dict[str, Any] = {}
    history = evaluation.history
    if history is not None and "epoch" in history and len(history):
        out["training_curves"] = figures.training_curves(history)
    out["roc_curves"] = figures.roc_grid(evaluation.result.roc, evaluation.result.auc)
    out["auc_per_answer"] = figures.auc_bars(evaluation.result.auc)
    out["rmse_vs_baselines"] = figures.rmse_comparison(evaluation.baselines)
    out["predicted_vs_true"] = figures.prediction_scatter(evaluation.y_true, evaluation.y_pred)
    out["gallery"] = figures.galaxy_gallery(images, evaluation.ids, evaluation.y_true, evaluation.y_pred)
    return out


def _atomic_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def write_evaluation(evaluation: RunEvaluation, run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``metrics.json``, ``auc.csv``, ``baselines.csv``, ``paper_vs_honest.csv``,
    ``question_accuracy.csv``, ``predictions_<split>.csv`` and ``figures/<name>.png`` into
    ``run_dir``, each through a temporary file and a rename. Returns the paths by name."""
    run = RunFolder(Path(run_dir))
    written: dict[str, Path] = {}
    for name, fig in evaluation.figures.items():
        written[run.figure_name(name)] = figures.save_figure(fig, run.figure_file(name))
    tables = {
        run.AUC: evaluation.result.auc,
        run.BASELINES: evaluation.baselines,
        run.PAPER_VS_HONEST: evaluation.paper_vs_honest,
        run.QUESTION_ACCURACY: evaluation.result.question_accuracy,
        run.predictions_name(evaluation.evaluated_split): evaluation.predictions_frame(),
    }
    for name, frame in tables.items():
        _atomic_csv(frame, run.path / name)
        written[name] = run.path / name
    evaluation.metrics["figures"] = sorted(k for k in written if k.startswith(f"{run.FIGURES}/"))
    atomic_write_text(run.metrics_file, json.dumps(_clean(evaluation.metrics), indent=2) + "\n")
    written[run.METRICS] = run.metrics_file
    return written


def _load_data(config: Config, data):
    from galaxy_lib.data import dataset

    if data is None:
        return dataset.load_for_config(config)
    if isinstance(data, dataset.GalaxyData):
        return data
    return dataset.load_for_config(config.replace(data=str(Path(data).expanduser().resolve())))


def evaluate_run(
    run_dir: str | os.PathLike[str],
    data=None,
    *,
    config: Config | None = None,
    which: str = "best",
    batch_size: int = 64,
    progress: bool = True,
    verbose: bool = True,
    return_evaluation: bool = False,
):
    """Evaluate a run folder made by ``train``: predict its validation and test galaxies with
    the ``which`` checkpoint (``best`` by validation RMSE, or ``last``), compute every metric and
    baseline, write the files (see :func:`write_evaluation`) and print a summary.

    ``config`` is the configuration to evaluate with (None = the run's own ``config.yaml``).
    Its evaluation keys (``tta``, ``auc_min_positives``, ``bootstrap``,
    ``central_pixel_clusters``), ``data`` and paths are used as given, so notebook 3 run alone
    with overrides evaluates what it says; a key that describes a different model or training
    (``crop``, ``head`` ...) raises :class:`~galaxy_lib.errors.RunError` naming it
    (see :data:`galaxy_lib.model.runs.EVALUATION_CHANGES`).
    ``data`` is the data set (path or loaded :class:`~galaxy_lib.data.dataset.GalaxyData`);
    default: ``config.data``. Returns the ``metrics.json`` dictionary (or the whole
    :class:`RunEvaluation` with ``return_evaluation``).

    An ensemble folder is evaluated by :func:`evaluate_ensemble` (with the same arguments), so
    notebook 3 and the command line need not ask which kind of folder they hold.
    """
    if EnsembleFolder.is_ensemble(run_dir):
        return evaluate_ensemble(run_dir, data, config=config, which=which, batch_size=batch_size, progress=progress,
                                 verbose=verbose, return_evaluation=return_evaluation)
    from galaxy_lib.model import predict  # TensorFlow: only when a run is evaluated

    folder = RunFolder(Path(run_dir)).require()
    config = folder.config_for_evaluation(config)
    split, history = split_module.as_trained(folder.load_split(), config.refit), folder.read_history()
    model = folder.load_model(which)
    galaxy_data = _load_data(config, data)
    predictions = {}
    for name in ("val", "test"):
        ids = _split_ids(split, name)
        if len(ids):
            galaxy_data.subset(ids)  # a clear error naming a missing galaxy before any prediction
            predictions[name] = predict.predict_galaxies(folder.path, galaxy_data.images, ids, tta=config.tta,
                                                         batch_size=batch_size, model=model)
            _check_finite(predictions[name], folder.model_file(which), name)
    evaluation = assess(config, split, history, galaxy_data, predictions, model=which, progress=progress)
    return _finish(evaluation, folder, verbose=verbose, return_evaluation=return_evaluation)


def _finish(evaluation: RunEvaluation, folder: RunFolder, *, verbose: bool, return_evaluation: bool):
    """Write the evaluation into ``folder``, print its summary, and return it (or its metrics)."""
    written = write_evaluation(evaluation, folder.path)
    if verbose:
        figure_files = [k for k in written if k.startswith(f"{folder.FIGURES}/")]
        print(evaluation.summary_text())
        print(f"  wrote {', '.join(k for k in written if k not in figure_files)} and "
              f"{len(figure_files)} figures in {display_path(folder.figures_dir)}")
    if return_evaluation:
        return evaluation
    for fig in evaluation.figures.values():
        fig.clear()  # free memory: the PNGs are written
    return evaluation.metrics


def _check_finite(values: np.ndarray, model_file: Path, split: str) -> None:
    if not np.isfinite(values).all():
        raise RunError(
            f"{model_file}: predicts NaN or infinite values for {split} galaxies "
            "(training diverged: lower learning_rate, or use loss: mse with head: tree)"
        )


def _member_configs(members: Sequence[RunFolder], config: Config | None,
                    overrides: dict[str, Any] | None) -> list[Config]:
    """Each member's configuration to evaluate with: its saved one, with ``overrides`` and with
    ``config``'s differences from the first member's applied to all (each member keeps its own
    place); a change that is not the evaluation's to make is refused naming the member and key."""
    saved = [member.load_config() for member in members]
    changes = dict(overrides or {})
    if config is not None:
        members[0].config_for_evaluation(config)  # refuses a change that is not the evaluation's to make
        changes |= {key: new for key, (_, new) in config.changes_from(saved[0]).items()
                    if key not in {"run_name", "runs_dir", "reports_dir"}}  # each member keeps its own place
    return [member.config_for_evaluation(own.replace(**changes)) if changes else own
            for member, own in zip(members, saved, strict=True)]


def evaluate_ensemble(
    ensemble_dir: str | os.PathLike[str],
    data=None,
    *,
    config: Config | None = None,
    overrides: dict[str, Any] | None = None,
    which: str = "best",
    batch_size: int = 64,
    progress: bool = True,
    verbose: bool = True,
    return_evaluation: bool = False,
):
    """Evaluate an ensemble folder as one model and write the usual files into it.

    Its members must share their test galaxies (else :class:`~galaxy_lib.errors.RunError`);
    validation figures are computed only when they share their validation galaxies too. Each
    member predicts with its own configuration (preprocessing, ``tta``) and ``which``
    checkpoint; the ensemble's prediction is their mean, scored like a run's, and
    ``metrics.json`` adds ``members`` (each one's own test and validation RMSE, epochs and
    training minutes) and ``ensemble`` (name, members, training minutes in all, budget).

    Evaluation keys and paths may be changed for every member at once: ``overrides`` (the command
    line's ``--set``/``--data``), or ``config``, the first member's configuration as a notebook
    holds it (its differences from that member's saved ``config.yaml`` apply to all). Any other
    difference is refused naming the member and key, as for a run. The data set, ``bootstrap``,
    ``auc_min_positives`` and ``central_pixel_clusters`` are the first member's.
    """
    from galaxy_lib.model import predict  # TensorFlow: only when an ensemble is evaluated

    folder = EnsembleFolder(Path(ensemble_dir)).require()
    members = folder.members()
    split, same_val = shared_split(folder)
    configs = _member_configs([member for _, member in members], config, overrides)
    if any(c.refit for c in configs):  # a member trained on the validation galaxies: none are held out
        split, same_val = split_module.as_trained(split, True), False

    galaxy_data = _load_data(configs[0], data)
    models = [member.load_model(which) for _, member in members]
    predictions: dict[str, np.ndarray] = {}
    own: dict[str, np.ndarray] = {}
    for name in ("val", "test"):
        ids = _split_ids(split, name)
        if not len(ids) or (name == "val" and not same_val):
            continue
        galaxy_data.subset(ids)  # a clear error naming a missing galaxy before any prediction
        predictions[name], own[name] = predict.predict_ensemble(
            [member for _, member in members], galaxy_data.images, ids, tta=[c.tta for c in configs],
            batch_size=batch_size, models=models, return_members=True,
        )
        for (_, member), values in zip(members, own[name], strict=True):
            _check_finite(values, member.model_file(which), name)
    if verbose and not same_val:
        print("note: the members do not share their validation galaxies; the ensemble is scored on test only")

    minutes = folder.training_minutes()
    member_runs = [
        MemberRun(name, member.read_history(), {split_name: values[i] for split_name, values in own.items()},
                  {"run_dir": display_path(member.path), "tta": cfg.tta, "training_minutes": minutes[name],
                   "time_limit_minutes": cfg.time_limit_minutes or None})
        for i, ((name, member), cfg) in enumerate(zip(members, configs, strict=True))
    ]
    evaluation = assess(configs[0], split, folder.read_history(), galaxy_data, predictions, model=which,
                        progress=progress, members=member_runs)
    ttas = {cfg.tta for cfg in configs}
    budget = folder.read_members().get("budget_minutes")
    evaluation.metrics["tta"] = ttas.pop() if len(ttas) == 1 else "per member"
    evaluation.metrics["ensemble"] = _clean({
        "name": folder.path.name,
        "members": [name for name, _ in members],
        "training_minutes": sum(minutes.values()),
        "budget_minutes": budget,
        "parameters_file": folder.read_members().get("parameters_file") or "",
    })
    return _finish(evaluation, folder, verbose=verbose, return_evaluation=return_evaluation)
