"""Evaluation of a run: tables, metrics.json and files, from predictions and from a trained run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import write_kaggle_folder

from galaxy_lib import tree
from galaxy_lib.config import Config
from galaxy_lib.data.dataset import load_dataset
from galaxy_lib.evaluation import evaluate, metrics

EXPECTED_FIGURES = {f"figures/{name}.png" for name in evaluate.FIGURE_NAMES}


def history_frame(epochs: int = 3) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": e, "loss": 0.5 / e, "rmse": 0.2 / e, "accuracy": 0.5 + 0.1 * e,
                         "val_loss": 0.55 / e, "val_rmse": 0.21 / e, "val_accuracy": 0.45 + 0.1 * e})


def test_paper_vs_honest_table_puts_training_figures_beside_held_out_ones():
    rng = np.random.default_rng(0)
    y = rng.random((40, 37))
    val = metrics.evaluate_predictions(y, np.clip(y + 0.1, 0, 1), n_bootstrap=0)
    test = metrics.evaluate_predictions(y, np.clip(y + 0.2, 0, 1), n_bootstrap=0)
    table = evaluate.paper_vs_honest_table(history_frame(), val, test, n_train=100)
    assert list(table.columns) == ["figure", "rmse", "accuracy", "galaxies", "seen in training"]
    assert table.loc[0, "rmse"] == evaluate.PAPER_REPORTED["rmse"]
    train_row = table[table["figure"].str.contains("paper's view")].iloc[0]
    assert train_row["rmse"] == pytest.approx(0.2 / 3) and train_row["galaxies"] == 100
    assert "epoch 3" in train_row["figure"]
    test_row = table[table["figure"].str.contains("held-out test")].iloc[0]
    assert test_row["rmse"] == pytest.approx(test.rmse) and test_row["seen in training"] == "no"
    assert len(table) == 5
    assert len(evaluate.paper_vs_honest_table(pd.DataFrame(), None, test, include_paper=False)) == 1


@pytest.fixture
def small_run(tmp_path):
    root = write_kaggle_folder(tmp_path / "kaggle", n=60, size=128)
    data = load_dataset(root, progress=False, resize_bad_size=True)  # small images keep the test fast
    ids = data.ids
    split = pd.DataFrame({tree.ID_COLUMN: ids, "split": ["train"] * 36 + ["val"] * 12 + ["test"] * 12})
    config = Config(auc_min_positives=3, bootstrap=50, seed=1)
    return config, split, data


@pytest.mark.slow
def test_assess_and_write_produce_every_file(tmp_path, small_run):
    config, split, data = small_run
    _, y_test = data.subset(split.loc[split["split"] == "test", tree.ID_COLUMN].to_numpy())
    _, y_val = data.subset(split.loc[split["split"] == "val", tree.ID_COLUMN].to_numpy())
    rng = np.random.default_rng(0)
    preds = {"test": np.clip(y_test + rng.normal(0, 0.05, y_test.shape), 0, 1),
             "val": np.clip(y_val + rng.normal(0, 0.05, y_val.shape), 0, 1)}
    ev = evaluate.assess(config, split, history_frame(), data, preds, progress=False)
    run_dir = tmp_path / "run"
    written = evaluate.write_evaluation(ev, run_dir)

    for name in ("metrics.json", "auc.csv", "predictions_test.csv", "baselines.csv", "paper_vs_honest.csv"):
        assert (run_dir / name).is_file(), name
    assert set(written) >= EXPECTED_FIGURES
    assert all((run_dir / f).stat().st_size > 1000 for f in EXPECTED_FIGURES)
    assert not list(run_dir.rglob("*.tmp")) and not list(run_dir.rglob(".*"))

    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["test_rmse"] == pytest.approx(metrics.rmse(y_test, preds["test"]))
    assert m["test_accuracy"] == pytest.approx(metrics.paper_accuracy(y_test, preds["test"]))
    assert m["val_rmse"] == pytest.approx(metrics.rmse(y_val, preds["val"]))
    assert m["train_rmse_last_epoch"] == pytest.approx(0.2 / 3)
    assert set(m["baselines"]) == {"all-zeros", "all-ones", "training mean", "central pixel"}
    assert m["baselines"]["all-zeros"] == pytest.approx(np.sqrt(np.mean(y_test**2)))
    assert set(m["auc"]) == set(tree.ANSWER_COLUMNS)
    for entry in m["auc"].values():
        assert set(entry) >= {"auc", "positives", "negatives", "low", "high"}
        assert entry["positives"] + entry["negatives"] == 12
        assert (entry["auc"] is None) == (entry["positives"] < 3 or entry["negatives"] == 0)
    assert (m["n_train"], m["n_val"], m["n_test"]) == (36, 12, 12)

    auc = pd.read_csv(run_dir / "auc.csv")
    assert len(auc) == 37 and auc["column"].tolist() == list(tree.ANSWER_COLUMNS)
    predictions = pd.read_csv(run_dir / "predictions_test.csv")
    assert list(predictions.columns) == list(tree.KAGGLE_COLUMNS)
    assert np.allclose(predictions[list(tree.ANSWER_COLUMNS)].to_numpy(), preds["test"])
    assert ev.summary_text().startswith("Held-out test set: 12 galaxies")


def test_baselines_are_fitted_on_training_rows_only(small_run):
    config, split, data = small_run
    train_ids = split.loc[split["split"] == "train", tree.ID_COLUMN].to_numpy()
    test_ids = split.loc[split["split"] == "test", tree.ID_COLUMN].to_numpy()
    _, y_train = data.subset(train_ids)
    _, y_test = data.subset(test_ids)
    ev = evaluate.assess(config, split, history_frame(), data, {"test": y_test}, progress=False, make_figures=False)
    expected = np.sqrt(np.mean((y_test - y_train.mean(axis=0)) ** 2))
    assert ev.metrics["baselines"]["training mean"] == pytest.approx(expected)
    assert ev.metrics["test_rmse"] == 0.0 and ev.metrics["val_rmse"] is None


def test_run_without_test_galaxies_is_evaluated_on_validation_and_says_so(small_run):
    config, split, data = small_run
    split = split.assign(split=split["split"].replace("test", "train"))
    val_ids = split.loc[split["split"] == "val", tree.ID_COLUMN].to_numpy()
    _, y_val = data.subset(val_ids)
    ev = evaluate.assess(config, split, history_frame(), data, {"val": y_val * 0.5}, progress=False,
                         make_figures=False)
    assert ev.evaluated_split == "val"
    assert ev.metrics["test_rmse"] is None
    assert ev.metrics["val_rmse"] == pytest.approx(metrics.rmse(y_val, y_val * 0.5))
    assert ev.summary_text().startswith("Held-out val set: 12 galaxies")
    assert ev.predictions_frame()[tree.ID_COLUMN].tolist() == val_ids.tolist()


def test_wrong_number_of_predictions_is_a_clear_error(small_run):
    config, split, data = small_run
    with pytest.raises(ValueError, match="test: 5 predictions for 12 galaxies"):
        evaluate.assess(config, split, history_frame(), data, {"test": np.zeros((5, 37))}, progress=False)


@pytest.mark.slow
def test_evaluate_a_tiny_trained_run_writes_every_file(smoke_run_40_copy, capsys):
    """The smoke configuration trained for one epoch on 40 random galaxies (a copy of the session's
    shared run), evaluated through the command line, as a user would."""
    from galaxy_lib import cli

    run_dir, root = smoke_run_40_copy
    capsys.readouterr()

    assert cli.main(["evaluate", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    assert "Held-out test set: 8 galaxies" in printed and "training mean" in printed

    for name in ("metrics.json", "auc.csv", "predictions_test.csv", *EXPECTED_FIGURES):
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    history = pd.read_csv(run_dir / "history.csv")
    assert m["train_rmse_last_epoch"] == pytest.approx(history["rmse"].iloc[-1])
    assert m["n_test"] == 8 and 0 < m["test_rmse"] < 1 and 0 <= m["test_accuracy"] <= 1
    assert m["val_rmse"] is not None
    predictions = pd.read_csv(run_dir / "predictions_test.csv")
    split = pd.read_csv(run_dir / "split.csv")
    assert predictions[tree.ID_COLUMN].tolist() == split.loc[split["split"] == "test", tree.ID_COLUMN].tolist()
    _, y_test = load_dataset(root, progress=False).subset(predictions[tree.ID_COLUMN].to_numpy())
    assert m["test_rmse"] == pytest.approx(metrics.rmse(y_test, predictions[list(tree.ANSWER_COLUMNS)].to_numpy()))

    # evaluating again, naming the data explicitly, reproduces every number (seeded bootstrap)
    assert cli.main(["evaluate", str(run_dir), "--data", str(root)]) == 0
    assert json.loads((run_dir / "metrics.json").read_text()) == m


@pytest.mark.slow
def test_evaluation_uses_the_configuration_it_is_given(smoke_run_40_copy, repo_root, capsys):
    """Notebook 3 run alone with overrides, and `evaluate --set`, must evaluate what they say:
    evaluation keys are used, and a key that describes another model is refused in one line."""
    from galaxy_lib import cli
    from galaxy_lib.config import load_config
    from galaxy_lib.data import dataset
    from galaxy_lib.errors import RunError
    from galaxy_lib.model import predict, runs

    run_dir, root = smoke_run_40_copy  # a copy of the session's shared run: this test overwrites its model
    config = load_config(repo_root / "parameters" / "smoke.yaml",  # the configuration it was trained with
                         {"data": str(root), "synthetic": False, "epochs": 1, "auc_min_positives": 2, "bootstrap": 20})
    assert config == runs.RunFolder(run_dir).load_config()

    m = evaluate.evaluate_run(run_dir, config=config.replace(tta="flips", bootstrap=0), progress=False, verbose=False)
    assert json.loads((run_dir / "metrics.json").read_text()) == m
    assert m["tta"] == "flips" and m["bootstrap"] == 0
    written = pd.read_csv(run_dir / "predictions_test.csv")
    ids = written[tree.ID_COLUMN].to_numpy()
    flips = predict.predict_galaxies(run_dir, dataset.open_images(root), ids, tta="flips")
    np.testing.assert_allclose(written[list(tree.ANSWER_COLUMNS)].to_numpy(), flips, atol=1e-6)

    assert evaluate.evaluate_run(run_dir, progress=False, verbose=False)["tta"] == "none"  # None: the run's own
    capsys.readouterr()
    assert cli.main(["evaluate", str(run_dir), "--set", "tta=dihedral", "--set", "bootstrap=5"]) == 0
    m = json.loads((run_dir / "metrics.json").read_text())
    assert (m["tta"], m["bootstrap"]) == ("dihedral", 5)

    with pytest.raises(RunError, match=r"crop: 128 -> 96\); only auc_min_positives, bootstrap"):
        evaluate.evaluate_run(run_dir, config=config.replace(crop=96), progress=False, verbose=False)
    capsys.readouterr()
    assert cli.main(["evaluate", str(run_dir), "--set", "crop=96", "--set", "head=tree"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "trained with a different configuration (crop: 128 -> 96, head: 'sigmoid' -> 'tree')" in err

    # a diverged model (NaN weights) is the run's problem, named in one line, not a crash in metrics
    folder = runs.RunFolder(run_dir)
    model = folder.load_model()
    dense = model.get_layer("answers")  # the last layer: no ReLU after it to swallow the NaN
    dense.set_weights([np.full_like(w, np.nan) for w in dense.get_weights()])
    model.save(folder.model_file("best"))
    capsys.readouterr()
    assert cli.main(["evaluate", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "best.keras: predicts NaN or infinite values for val galaxies" in err


def test_the_baseline_table_says_which_galaxies_each_row_was_measured_on(small_run):
    """A synthetic figure must never be ranked beside Kaggle's real-galaxy figures unlabelled (issue 28)."""
    config, split, data = small_run
    test_ids = split.loc[split["split"] == "test", tree.ID_COLUMN].to_numpy()
    _, y_test = data.subset(test_ids)
    for synthetic, kind in ((True, "synthetic sky"), (False, "real galaxies")):
        ev = evaluate.assess(config.replace(synthetic=synthetic), split, history_frame(), data, {"test": y_test},
                             progress=False, make_figures=False)
        rows = ev.baselines.set_index("name")["measured on"]
        assert rows["this model (test)"] == rows["training mean"] == f"{kind}: these 12 test galaxies"
        assert rows["Kaggle winner (private LB)"] == evaluate.KAGGLE_DATA
    # the training mean it recorded is the one the baseline row scored, and its gain is the table's difference
    gain = ev.gain_over_training_mean()
    table = ev.baselines.set_index("name")["rmse"]
    assert gain.reference_rmse == pytest.approx(table["training mean"]) and gain.rmse == pytest.approx(0.0)
    assert gain.gain == pytest.approx(table["training mean"]) and gain.low > 0
