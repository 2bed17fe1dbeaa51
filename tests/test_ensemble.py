"""Ensembles: the parameters file and its errors, the ensemble folder, one shared test set,
training one member after another (resumable), averaged predictions, evaluation as one model
with each member's figures beside it, and the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_kaggle_folder

from galaxy_lib import cli, tree
from galaxy_lib.config import Config, load_config
from galaxy_lib.errors import ConfigError, RunError
from galaxy_lib.model import ensemble
from galaxy_lib.model.ensemble import EnsembleConfig, EnsembleFolder, load_ensemble, load_parameters
from galaxy_lib.model.runs import ResumeState, RunFolder

REPO = Path(__file__).resolve().parents[1]


# --- the parameters file ---------------------------------------------------------------------------


@pytest.fixture
def params(tmp_path) -> Path:
    """A parameters folder with one ordinary file and room for ensemble files."""
    folder = tmp_path / "parameters"
    folder.mkdir()
    (folder / "small.yaml").write_text("data: data/sky\ncrop: 96\nseed: 3\nepochs: 5\ntime_limit_minutes: 2\n")
    (folder / "other.yaml").write_text("data: data/sky\ncrop: 64\nlearning_rate: 0.01\n")
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_an_ensemble_file_resolves_its_members_in_order(params):
    path = write(params, "ens.yaml", """
name: trio
set: {epochs: 7, learning_rate: 0.002}
members:
  - {name: a, config: small.yaml, set: {seed: 0}}
  - {config: small.yaml, set: {seed: 1, epochs: 9}}
  - {name: c, config: other.yaml}
""")
    loaded = load_ensemble(path, {"threads": 1})
    assert isinstance(loaded, EnsembleConfig) and loaded.name == "trio"
    assert [m.name for m in loaded.members] == ["a", "small-seed1", "c"]  # default name: <file>-seed<seed>
    a, b, c = (m.config for m in loaded.members)
    # file < the ensemble's set < the member's set < the command line
    assert (a.crop, a.seed, a.epochs, a.learning_rate, a.threads) == (96, 0, 7, 0.002, 1)
    assert (b.seed, b.epochs) == (1, 9)
    assert (c.crop, c.seed, c.learning_rate, c.epochs) == (64, 0, 0.002, 7)
    # each member's config names its folder inside the ensemble's
    assert [(m.config.runs_dir, m.config.run_name) for m in loaded.members] == [
        ("runs/trio", "a"), ("runs/trio", "small-seed1"), ("runs/trio", "c")]
    assert loaded.members[0].overrides == {"epochs": 7, "learning_rate": 0.002, "seed": 0, "threads": 1}
    assert loaded.first is a and loaded.runs_dir == "runs" and loaded.overrides == {"threads": 1}
    assert loaded.budget_minutes is None  # member c has no time limit
    assert load_ensemble(path, ["threads=1"]) == loaded  # key=value strings as from --set
    assert load_parameters(path, {"threads": 1}) == loaded
    assert load_parameters(params / "small.yaml") == load_config(params / "small.yaml")
    assert ensemble.is_ensemble_file(path) and not ensemble.is_ensemble_file(params / "small.yaml")
    record = loaded.to_dict()
    assert record["name"] == "trio" and record["members"][1]["set"] == {"epochs": 9, "learning_rate": 0.002,
                                                                          "seed": 1, "threads": 1}


def test_the_budget_counts_every_member(params):
    path = write(params, "ens.yaml", "name: two\nmembers:\n  - {config: small.yaml}\n"
                                     "  - {config: small.yaml, set: {seed: 4, time_limit_minutes: 3}}\n")
    assert load_ensemble(path).budget_minutes == 5.0


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nmembers: []\nepochs: 3\n", r"unknown ensemble key\(s\) in .*ens.yaml: epochs \(an ensemble file has"),
    ("members:\n  - {config: small.yaml}\n  - {config: other.yaml}\n", r"ens.yaml: an ensemble needs a `name`"),
    ("name: ../up\nmembers: []\n", r"ens.yaml: name '../up' must be a plain folder name"),
    ("name: x\nmembers:\n  - {config: small.yaml}\n", r"ens.yaml: `members` must be a list of at least 2"),
    ("name: x\nmembers: small.yaml\n", r"ens.yaml: `members` must be a list of at least 2"),
    ("name: x\nmembers:\n  - small.yaml\n  - other.yaml\n", r"ens.yaml member 1: expected a mapping with `config`"),
    ("name: x\nmembers:\n  - {config: small.yaml, seed: 2}\n  - {config: other.yaml}\n",
     r"ens.yaml member 1: unknown member key\(s\) seed \(a member has name, config, set\)"),
    ("name: x\nmembers:\n  - {config: small.yaml}\n  - {name: b}\n", r"ens.yaml member 2: no `config`"),
    ("name: x\nmembers:\n  - {config: small.yaml}\n  - {config: missing.yaml}\n",
     r"ens.yaml member 2: parameters file not found: .*missing.yaml"),
    ("name: x\nset: {epoch: 2}\nmembers:\n  - {config: small.yaml}\n  - {config: other.yaml}\n",
     r"ens.yaml: unknown config key\(s\) in `set`: epoch"),
    ("name: x\nmembers:\n  - {config: small.yaml, set: {crops: 2}}\n  - {config: other.yaml}\n",
     r"ens.yaml member 1: unknown config key\(s\) in `set`: crops"),
    ("name: x\nmembers:\n  - {config: small.yaml, set: {epochs: many}}\n  - {config: other.yaml}\n",
     r"ens.yaml member 1 \(small.yaml\): config key 'epochs': expected an integer, got 'many'"),
    ("name: x\nmembers:\n  - {config: small.yaml}\n  - {config: small.yaml}\n",
     r"ens.yaml: member name\(s\) small-seed3 used twice"),
    ("name: x\nmembers:\n  - {name: a, config: small.yaml}\n"
     "  - {name: b, config: small.yaml, set: {test_fraction: 0.3}}\n",
     r"ens.yaml: members a and b differ in test_fraction: 0.2 vs 0.3; an ensemble's members must share the data"),
    ("name: x\nmembers:\n  - {name: a, config: small.yaml}\n"
     "  - {name: b, config: small.yaml, set: {seed: 4, split_seed: 1}}\n",  # seeds may differ, split seeds not
     r"ens.yaml: members a and b differ in split_seed: 0 vs 1; an ensemble's members must share the data"),
    ("name: x\nmembers:\n  - {config: small.yaml}\n  - {config: ens.yaml}\n",
     r"ens.yaml member 2: .*an ensemble itself"),
    ("name: x\nmembers: [\n", r"ens.yaml: not valid YAML"),
])
def test_ensemble_file_errors_name_the_file_and_member(params, text, message):
    path = write(params, "ens.yaml", text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_ensemble(path)
    assert "\n" not in str(caught.value).strip() or "YAML" in str(caught.value)


def test_command_line_keys_apply_to_every_member(params):
    path = write(params, "ens.yaml", "name: x\nmembers:\n  - {config: small.yaml}\n  - {config: other.yaml}\n")
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) in overrides: nope"):
        load_ensemble(path, {"nope": 1})
    assert {m.config.data for m in load_ensemble(path, {"data": "elsewhere"}).members} == {"elsewhere"}
    with pytest.raises(ConfigError, match=r"members small-seed3 and small-seed0 differ in data: 'data/sky' vs 'y'"):
        load_ensemble(write(params, "bad.yaml", "name: x\nmembers:\n  - {config: small.yaml}\n"
                                                "  - {config: small.yaml, set: {data: y, seed: 0}}\n"))


def test_the_repository_ensemble_files_load():
    smoke = load_ensemble(REPO / "parameters" / "smoke_ensemble.yaml")
    assert [m.config.seed for m in smoke.members] == [0, 1] and {m.config.epochs for m in smoke.members} == {1}
    assert smoke.first.replace(seed=1, runs_dir="x", run_name="y") == smoke.members[1].config.replace(
        runs_dir="x", run_name="y")  # the members differ only in their seed (and folder)
    real = load_ensemble(REPO / "parameters" / "ensemble.yaml")
    improved = load_config(REPO / "parameters" / "improved.yaml")
    assert len(real.members) == 3 and real.budget_minutes == 60
    schedules = []
    for member in real.members:  # each member is improved.yaml with its seed and schedule, 440 epochs in 20 minutes
        schedules.append(member.config.lr_schedule)  # the step decay timed by the epochs, as the members were measured
        assert member.config.conv_blocks == 2 != improved.conv_blocks  # the paper's two blocks, as measured (issue 31)
        assert member.config.replace(seed=0, runs_dir="runs", run_name="improved", lr_schedule="step") == (
            improved.replace(time_limit_minutes=20, epochs=440, schedule_clock="epochs", conv_blocks=2))
    assert schedules == ["step", "step", "constant"]  # the measured ensemble (README, ensemble-improved-x3-60min)


# --- the folder and the shared test set --------------------------------------------------------------


def fake_run(path: Path, test: list[int], val: list[int] = (5,), *, seed: int = 0, epochs: int = 2) -> RunFolder:
    """A run folder with a config, a split (ids 1..8) and a history, but no model."""
    folder = RunFolder(path).create()
    Config(seed=seed, crop=96).save(folder.config_file)
    ids = list(range(1, 9))
    split = ["test" if i in test else "val" if i in val else "train" for i in ids]
    pd.DataFrame({tree.ID_COLUMN: ids, "split": split}).to_csv(folder.split_file, index=False)
    history = pd.DataFrame({"epoch": range(1, epochs + 1), "loss": 0.1, "rmse": 0.2, "accuracy": 0.5,
                            "val_loss": 0.1, "val_rmse": 0.3, "val_accuracy": 0.4, "learning_rate": 1e-3,
                            "seconds": 1.0})
    history.to_csv(folder.history_file, index=False)
    folder.resume_dir.mkdir(exist_ok=True)
    ResumeState(epoch=epochs, elapsed_seconds=60.0 * (seed + 1), finished=f"reached {epochs} epochs").write(
        folder.state_file)
    return folder


def test_an_assembled_ensemble_folder_lists_its_members(tmp_path):
    a, b = fake_run(tmp_path / "a", [1, 2]), fake_run(tmp_path / "b", [2, 1], seed=1)
    folder = ensemble.assemble(tmp_path / "ens", [a.path, b.path])
    assert isinstance(folder, EnsembleFolder) and EnsembleFolder.is_ensemble(folder.path)
    assert folder.members() == [("a", a), ("b", b)]
    assert yaml_members(folder) == [{"name": "a", "run_dir": "../a"}, {"name": "b", "run_dir": "../b"}]
    assert folder.load_split().equals(a.load_split())
    split, same_val = ensemble.shared_split(folder)
    assert same_val and split.equals(a.load_split())
    history = folder.read_history()
    assert history.columns[0] == "member" and history["member"].tolist() == ["a", "a", "b", "b"]
    assert folder.training_minutes() == {"a": 1.0, "b": 2.0}
    assert isinstance(ensemble.open_folder(folder.path), EnsembleFolder)
    assert type(ensemble.open_folder(a.path)) is RunFolder
    with pytest.raises(RunError, match=r"ens: an ensemble folder has no config.yaml of its own"):
        folder.load_config()
    with pytest.raises(RunError, match=r"ens: an ensemble has one model per member"):
        folder.load_model()
    # two folders of the same name are numbered
    twin = fake_run(tmp_path / "x" / "a", [1, 2])
    assert [name for name, _ in ensemble.assemble(tmp_path / "ens2", [a.path, twin.path]).members()] == ["a", "a-2"]


def yaml_members(folder: EnsembleFolder) -> list[dict]:
    return folder.read_members()["members"]


def test_members_tested_on_different_galaxies_are_refused(tmp_path):
    a, b = fake_run(tmp_path / "a", [1, 2]), fake_run(tmp_path / "b", [1, 3])
    with pytest.raises(RunError, match=r"b: its test galaxies differ from .*a's \(2 vs 2, 1 in common\); an "
                                       r"ensemble's members must be tested on the same galaxies"):
        ensemble.assemble(tmp_path / "ens", [a.path, b.path])
    assert not (tmp_path / "ens").exists()
    # a member whose split changed after the folder was made is refused when it is read
    c = fake_run(tmp_path / "c", [1, 2], val=[6])
    folder = ensemble.assemble(tmp_path / "ens", [a.path, c.path])
    assert ensemble.shared_split(folder)[1] is False  # same test galaxies, different validation ones
    fake_run(tmp_path / "c", [7, 8])
    with pytest.raises(RunError, match=r"c/split.csv: its test galaxies differ from .*ens/split.csv's"):
        ensemble.shared_split(folder)


def test_folder_problems_are_run_errors(tmp_path):
    with pytest.raises(RunError, match="ensemble folder not found"):
        EnsembleFolder(tmp_path / "none").require()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"empty: not an ensemble folder \(no members.yaml\)"):
        EnsembleFolder(tmp_path / "empty").members()
    (tmp_path / "empty" / "members.yaml").write_text("members: [1, 2]\n")
    with pytest.raises(RunError, match=r"members.yaml: expected `members`, a list of name and run_dir"):
        EnsembleFolder(tmp_path / "empty").members()
    (tmp_path / "empty" / "members.yaml").write_text("members:\n- {name: a, run_dir: ../gone}\n")
    with pytest.raises(RunError, match=r"gone: run folder not found"):
        EnsembleFolder(tmp_path / "empty").members()
    a = fake_run(tmp_path / "a", [1])
    with pytest.raises(RunError, match="at least 2 run folders"):
        ensemble.assemble(tmp_path / "ens", [a.path])
    with pytest.raises(RunError, match=r"a: is a run folder \(it has config.yaml\), not an ensemble's"):
        ensemble.assemble(a.path, [a.path, fake_run(tmp_path / "b", [1]).path])


def test_command_line_errors_are_one_line_with_status_2(tmp_path, params, capsys):
    a, b = fake_run(tmp_path / "a", [1, 2]), fake_run(tmp_path / "b", [1, 3])
    cases = [
        (["evaluate", str(a.path), str(b.path)], "several run folders are evaluated as an ensemble: name its "
                                                 "folder with --out FOLDER"),
        (["evaluate", str(a.path), "--out", str(tmp_path / "e")], "--out is for an ensemble of several run folders"),
        (["evaluate", str(a.path), str(b.path), "--out", str(tmp_path / "e")], "its test galaxies differ"),
        (["evaluate", str(a.path), str(a.path), "--out", str(tmp_path / "e"), "-f", str(params / "small.yaml")],
         "-f is for a single run"),
        (["train", "-f", str(write(params, "bad.yaml", "name: x\nmembers: 3\n")), "--out", str(tmp_path / "t")],
         "`members` must be a list of at least 2"),
        (["predict", str(tmp_path / "gone"), str(a.path), str(tmp_path), "--out", str(tmp_path / "p.csv")],
         "gone: run folder not found"),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, (argv, err)
    assert not (tmp_path / "e").exists() and not (tmp_path / "t").exists() and not (tmp_path / "p.csv").exists()


# --- the report's pieces that need no training --------------------------------------------------------


def test_notebook_setup_and_parameters_for_an_ensemble(tmp_path, monkeypatch, capsys):
    from galaxy_lib.report import notebook_parameters
    from galaxy_lib.report.notebook import paper_comparison, setup

    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "one.yaml").write_text("data: data/sky\ncrop: 96\n")
    write(tmp_path / "parameters", "ens.yaml",
          "name: pair\nmembers:\n  - {name: a, config: one.yaml, set: {seed: 0}}\n"
          "  - {name: b, config: one.yaml, set: {seed: 1, head: tree}}\n")
    loaded = load_ensemble(tmp_path / "parameters" / "ens.yaml", {"epochs": 2})
    params = notebook_parameters(loaded, str(tmp_path / "parameters" / "ens.yaml"))
    assert params == {"config_file": "parameters/ens.yaml", "overrides": {"epochs": 2}, "run_dir": "runs/pair"}

    config, run = setup(params["config_file"], params["overrides"], params["run_dir"])
    assert config == loaded.first and isinstance(run, EnsembleFolder) and run.ensemble == loaded
    assert run.path == tmp_path / "runs" / "pair"
    assert capsys.readouterr().out.splitlines() == [
        "ensemble 'pair' of 2 members (a, b): data data/sky, ensemble folder runs/pair"]
    table = paper_comparison(config, run)
    assert list(table.columns) == ["member a", "member b", "paper's code"]
    assert table.loc["head"].tolist() == ["sigmoid", "tree", "sigmoid"]
    assert table.loc["seed"].tolist() == [0, 1, 0] and table.loc["crop"].tolist() == [96, 96, 128]
    assert list(paper_comparison(config).columns) == ["this run", "paper's code"]  # a run: as before


def test_the_index_shows_an_ensemble_as_one_row_with_its_members():
    from galaxy_lib.report.index import render_index

    entry = {"name": "pair", "date": "2026-01-01T00:00:00", "data": "data", "config_file": "parameters/ens.yaml",
             "metrics": {"test_rmse": 0.1, "val_rmse": 0.11}, "total_seconds": 10,
             "members": [{"name": "a", "test_rmse": 0.105}, {"name": "b", "test_rmse": 0.1071}],
             "ensemble": {"training_minutes": 41.6, "budget_minutes": 40}}
    page = render_index([entry, {"name": "single", "metrics": {"test_rmse": 0.12}}], [])
    row = next(line for line in page.splitlines() if 'href="pair/report.html"' in line)
    assert "ensemble of 2, members' own test RMSE: a 0.1050, b 0.1071; 42 min of training (budget 40)" in row
    assert 'href="pair/members.yaml"' in row and "0.1000" in row
    single = next(line for line in page.splitlines() if 'href="single/report.html"' in line)
    assert "ensemble" not in single and 'href="single/config.yaml"' in single


def test_training_curves_draw_one_colour_per_member():
    from galaxy_lib.evaluation import figures

    one = pd.DataFrame({"epoch": [1, 2], "loss": [0.2, 0.1], "val_loss": [0.3, 0.2]})
    two = pd.concat([one.assign(member="a"), one.assign(member="b")], ignore_index=True)
    ax = figures.training_curves(two).axes[0]
    assert [line.get_label() for line in ax.lines] == [
        "a: training (dropout on)", "a: validation", "b: training (dropout on)", "b: validation"]
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()
    assert [line.get_label() for line in figures.training_curves(one).axes[0].lines] == [
        "training (dropout on)", "validation"]


def test_assess_puts_each_member_beside_the_ensemble(tmp_path):
    from galaxy_lib.data.dataset import load_dataset
    from galaxy_lib.evaluation import evaluate, metrics

    data = load_dataset(write_kaggle_folder(tmp_path / "kaggle", n=30, size=96), progress=False,
                        resize_bad_size=True)
    split = pd.DataFrame({tree.ID_COLUMN: data.ids, "split": ["train"] * 18 + ["val"] * 6 + ["test"] * 6})
    _, y_test = data.subset(data.ids[24:])
    _, y_val = data.subset(data.ids[18:24])
    rng = np.random.default_rng(0)
    own = {name: {"test": np.clip(y_test + rng.normal(0, 0.1, y_test.shape), 0, 1),
                  "val": np.clip(y_val + rng.normal(0, 0.1, y_val.shape), 0, 1)} for name in ("a", "b")}
    mean = {s: (own["a"][s] + own["b"][s]) / 2 for s in ("val", "test")}
    history = pd.DataFrame({"epoch": [1, 2], "loss": 0.1, "rmse": [0.3, 0.2], "accuracy": 0.5, "val_loss": 0.1,
                            "val_rmse": 0.25, "val_accuracy": 0.5})
    members = [evaluate.MemberRun(name, history.assign(rmse=[0.3, 0.2 + i / 10]), own[name], {"tta": "none"})
               for i, name in enumerate(("a", "b"))]
    ev = evaluate.assess(Config(auc_min_positives=2, bootstrap=0), split, history, data, mean, progress=False,
                         make_figures=False, members=members)
    m = ev.metrics
    assert m["test_rmse"] == pytest.approx(metrics.rmse(y_test, mean["test"]))
    assert [(x["name"], x["tta"]) for x in m["members"]] == [("a", "none"), ("b", "none")]
    for member in m["members"]:
        assert member["test_rmse"] == pytest.approx(metrics.rmse(y_test, own[member["name"]]["test"]))
        assert member["val_rmse"] == pytest.approx(metrics.rmse(y_val, own[member["name"]]["val"]))
        assert member["epochs"] == 2
    assert [x["train_rmse_last_epoch"] for x in m["members"]] == pytest.approx([0.2, 0.3])
    assert m["train_rmse_last_epoch"] is None and m["epochs"] is None  # no single training log
    assert {"the ensemble (test)", "member a (test)", "member b (test)"} <= set(ev.baselines["name"])
    figures = ev.paper_vs_honest["figure"].tolist()
    assert figures[0].startswith("paper as published")
    assert "member a, paper's view: training, epoch 2 (Keras log, dropout on)" in figures
    assert "member b: held-out test, best model" in figures
    assert figures[-1] == "the ensemble: held-out test, members' best models"
    assert ev.summary_text().splitlines()[2].startswith("  members on their own: a 0.")


# --- training, prediction and evaluation of a real (tiny) ensemble ----------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The smoke ensemble (two members of smoke.yaml, seeds 0 and 1, one epoch each) trained through
    the command line on 40 random galaxies."""
    root = tmp_path_factory.mktemp("ensemble")
    data = write_kaggle_folder(root / "kaggle", n=40)
    out = root / "runs" / "smoke-ensemble"
    argv = ["train", "-f", str(REPO / "parameters" / "smoke_ensemble.yaml"), "--data", str(data),
            "--set", "synthetic=false", "--set", "auc_min_positives=2", "--set", "bootstrap=20", "--out", str(out)]
    assert cli.main(argv) == 0
    return out, data, argv


@pytest.mark.slow
def test_training_makes_one_folder_per_member_on_one_split(trained, capsys):
    out, _, argv = trained
    folder = EnsembleFolder(out)
    members = folder.members()
    assert [name for name, _ in members] == ["seed0", "seed1"]
    assert [m.path for _, m in members] == [out / "seed0", out / "seed1"]
    split = folder.load_split()
    for _, member in members:
        assert member.load_split().equals(split)  # the first member's split, copied before training
        assert member.read_state().epoch == 1
    assert [m.load_config().seed for _, m in members] == [0, 1]
    assert members[1][1].load_config().runs_dir.endswith("smoke-ensemble") and members[1][1].load_config(
    ).run_name == "seed1"
    record = folder.read_members()
    assert record["parameters_file"] == "parameters/smoke_ensemble.yaml" and record["budget_minutes"] is None

    # rerunning the same command skips both finished members
    stamps = [m.model_file("best").stat().st_mtime_ns for _, m in members]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("already complete") == 2
    assert [m.model_file("best").stat().st_mtime_ns for _, m in members] == stamps


@pytest.mark.slow
def test_an_interrupted_ensemble_resumes_where_it_stopped(tmp_path):
    from galaxy_lib.model import train

    data = write_kaggle_folder(tmp_path / "kaggle", n=24, seed=2)
    config = load_ensemble(REPO / "parameters" / "smoke_ensemble.yaml",
                           {"data": str(data), "synthetic": False, "epochs": 2, "checkpoint_seconds": 0})

    class Stop(Exception):
        pass

    class StopInSecondMember(train.keras.callbacks.Callback):
        """Dies in the second member's second epoch, as a crash would."""

        epochs_begun = 0

        def on_epoch_begin(self, epoch, logs=None):
            StopInSecondMember.epochs_begun += 1
            if StopInSecondMember.epochs_begun == 4:
                raise Stop

    with pytest.raises(Stop):
        ensemble.train_ensemble(config, tmp_path / "ens", callbacks=[StopInSecondMember()], verbose=False)
    first, second = RunFolder(tmp_path / "ens" / "seed0"), RunFolder(tmp_path / "ens" / "seed1")
    assert first.read_state().epoch == 2 and second.read_state().epoch == 1
    stamp = first.model_file("last").stat().st_mtime_ns
    ensemble.train_ensemble(config, tmp_path / "ens", verbose=False)
    assert first.model_file("last").stat().st_mtime_ns == stamp  # finished: skipped
    assert second.read_state().epoch == 2 and second.read_history()["epoch"].tolist() == [1, 2]


@pytest.mark.slow
def test_ensemble_predictions_are_the_mean_of_the_members(trained, tmp_path):
    from galaxy_lib.data import dataset
    from galaxy_lib.model import predict

    out, data, _ = trained
    images = dataset.open_images(data)
    ids = images.ids()[::-1][:11]  # any order is kept
    a, b = (predict.predict_galaxies(out / name, images, ids, batch_size=4) for name in ("seed0", "seed1"))
    mean = predict.predict_galaxies(out, images, ids, batch_size=4)
    np.testing.assert_allclose(mean, (a + b) / 2, atol=1e-6)
    assert not np.allclose(a, b)  # two seeds: two different models
    listed = predict.predict_galaxies([out / "seed0", out / "seed1"], images, ids)
    np.testing.assert_allclose(listed, mean, atol=1e-6)
    both, own = predict.predict_ensemble([out / "seed0", out / "seed1"], images, ids, tta="flips",
                                         return_members=True)
    np.testing.assert_allclose(own[0], predict.predict_galaxies(out / "seed0", images, ids, tta="flips"), atol=1e-6)
    np.testing.assert_allclose(both, own.mean(axis=0), atol=1e-6)

    # submissions: an ensemble folder, or several run folders, through the command line
    folder = data / "images_training_rev1"
    assert cli.main(["predict", str(out), str(folder), "--out", str(tmp_path / "ens.csv")]) == 0
    assert cli.main(["predict", str(out / "seed0"), str(out / "seed1"), str(folder), "--out",
                     str(tmp_path / "two.csv")]) == 0
    ens, two = pd.read_csv(tmp_path / "ens.csv"), pd.read_csv(tmp_path / "two.csv")
    pd.testing.assert_frame_equal(ens, two)
    expected = predict.predict_galaxies(out, images, ens[tree.ID_COLUMN].to_numpy())
    np.testing.assert_allclose(ens[list(tree.ANSWER_COLUMNS)].to_numpy(), np.clip(expected, 0, 1), atol=2e-6)


@pytest.mark.slow
def test_evaluating_an_ensemble_writes_its_metrics_with_each_members(trained, tmp_path, capsys):
    from galaxy_lib.data import dataset
    from galaxy_lib.evaluation import evaluate, metrics
    from galaxy_lib.model import predict

    out, data, _ = trained
    capsys.readouterr()
    assert cli.main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ensemble of 2 members' best models" in printed and "members on their own: seed0 0." in printed
    folder = EnsembleFolder(out)
    for name in ("metrics.json", "auc.csv", "predictions_test.csv", "baselines.csv", "paper_vs_honest.csv"):
        assert (out / name).is_file(), name
    m = json.loads(folder.metrics_file.read_text())
    assert set(m["figures"]) == {f"figures/{name}.png" for name in evaluate.FIGURE_NAMES}
    assert m["ensemble"]["members"] == ["seed0", "seed1"] and m["ensemble"]["budget_minutes"] is None
    assert m["ensemble"]["training_minutes"] == pytest.approx(sum(folder.training_minutes().values()))
    assert m["tta"] == "none" and m["val_rmse"] is not None

    ids = pd.read_csv(out / "predictions_test.csv")[tree.ID_COLUMN].to_numpy()
    assert ids.tolist() == folder.load_split().query("split == 'test'")[tree.ID_COLUMN].tolist()
    labelled = dataset.load_dataset(data, progress=False)
    _, y_test = labelled.subset(ids)
    images = labelled.images
    own = {name: predict.predict_galaxies(out / name, images, ids) for name in ("seed0", "seed1")}
    assert m["test_rmse"] == pytest.approx(metrics.rmse(y_test, (own["seed0"] + own["seed1"]) / 2), abs=1e-6)
    for member in m["members"]:
        assert member["test_rmse"] == pytest.approx(metrics.rmse(y_test, own[member["name"]]), abs=1e-6)
        assert member["epochs"] == 1 and member["run_dir"].endswith(member["name"]) and member["tta"] == "none"
    # the same runs named one by one give the same figures in the folder named by --out
    assert cli.main(["evaluate", str(out / "seed0"), str(out / "seed1"), "--out", str(tmp_path / "pair")]) == 0
    again = json.loads((tmp_path / "pair" / "metrics.json").read_text())
    assert again["test_rmse"] == pytest.approx(m["test_rmse"]) and again["members"][0]["name"] == "seed0"

    # evaluation keys change for every member at once; anything else is refused naming the member
    assert cli.main(["evaluate", str(out), "--set", "tta=flips", "--set", "bootstrap=5"]) == 0
    m = json.loads(folder.metrics_file.read_text())
    assert m["tta"] == "flips" and {x["tta"] for x in m["members"]} == {"flips"} and m["bootstrap"] == 5
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), "--set", "crop=96"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed0 was trained with a different configuration (crop: 128 -> 96)" in err

    # a member whose test galaxies changed is refused, in one line
    other = tmp_path / "other"
    shutil.copytree(out / "seed1", other)
    split = pd.read_csv(other / "split.csv")
    test, train_ = split.index[split["split"] == "test"][0], split.index[split["split"] == "train"][0]
    split.loc[[test, train_], "split"] = ["train", "test"]
    split.to_csv(other / "split.csv", index=False)
    assert cli.main(["evaluate", str(out / "seed0"), str(other), "--out", str(tmp_path / "mixed")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its test galaxies differ" in err


@pytest.mark.slow
def test_the_report_shows_an_ensemble_as_one_model_with_its_members(smoke_ensemble_report):
    """The real notebooks on the smoke ensemble: notebook 2 trains both members, notebook 3
    evaluates their mean; report.json, the page and the index name the members. (The report is
    built once per session in the project of the other smoke reports, see conftest.)"""
    from galaxy_lib import report

    root = smoke_ensemble_report
    folder = root / "reports" / "smoke-ensemble"
    summary = json.loads((folder / report.SUMMARY_FILE).read_text())
    assert summary["run_dir"] == "runs/smoke-ensemble" and summary["config_file"] == "parameters/smoke_ensemble.yaml"
    assert [m["name"] for m in summary["members"]] == ["seed0", "seed1"]
    assert all(0 < m["test_rmse"] < 1 and m["epochs"] == 1 for m in summary["members"])
    assert summary["ensemble"]["members"] == ["seed0", "seed1"] and summary["environment"]["cpu_model"]
    assert (folder / "members.yaml").is_file() and (folder / "metrics.json").is_file()
    assert len((folder / "submission.csv").read_text().splitlines()) == 1 + 6  # the sky's 6 unlabelled galaxies
    page = (folder / report.NO_CODE_HTML).read_text()
    assert "2 members, averaged" in page and "member seed1" in page
    index = (root / "reports" / "index.html").read_text()
    assert "ensemble of 2, members&#x27; own test RMSE: seed0 0." in index or "members' own test RMSE" in index
    assert f"{summary['metrics']['test_rmse']:.4f}" in index


@pytest.mark.slow
@pytest.mark.bench  # two one-epoch trainings on the real sample: `make test-bench`
def test_bench_ensemble_scores_bench_runs_on_the_shared_split(real_sample, tmp_path, monkeypatch):
    """benchmarks/bench_ensemble.py on two one-epoch bench runs of the smoke model (seeds 0 and 1)
    on the real sample's shared split: each member's figures and the ensemble's land in the JSON;
    then ``bench_quality.py --screen`` re-scores one of them on its validation galaxies only."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_ensemble
    import bench_quality
    import results_store

    runs = []
    for seed in (0, 1):
        argv = ["-f", str(REPO / "parameters" / "smoke.yaml"), "--minutes", "0.01", "--data", str(real_sample),
                "--set", f"seed={seed}", "--set", "synthetic=false", "--set", "tta=none",
                "--out", str(tmp_path / f"bench-{seed}"), "--results-dir", str(tmp_path)]
        runs.append(bench_quality.main(argv))  # a budget of 0.01 minutes: one epoch, then it stops
    assert bench_ensemble.main(["--members", *map(str, runs), "--data", str(real_sample),
                                "--results-dir", str(tmp_path)]) == 0
    record = results_store.load_results(tmp_path)["ensemble-0+1"]
    figures = record["figures"]
    assert [m["name"] for m in figures["members"]] == ["bench-0", "bench-1"]
    assert record["setup"]["split"]["test"] == 612 and record["setup"]["same_validation_galaxies"]
    assert figures["best_member_test_rmse"] == min(m["test_rmse"] for m in figures["members"])
    assert figures["gain_over_best_member"] == pytest.approx(figures["best_member_test_rmse"] - figures["test_rmse"])
    assert all(m["epochs"] == 1 for m in figures["members"]) and 0 < figures["test_rmse"] < 0.5
    assert record["command"].startswith("python benchmarks/bench_ensemble.py --members ")

    # --screen re-scores the finished seed-0 run on its validation galaxies alone: no test galaxy is predicted
    from galaxy_lib.data import split
    from galaxy_lib.model import predict
    from galaxy_lib.model.runs import RunFolder

    predicted: list[set] = []
    real_predict = predict.predict_galaxies

    def recording(run_dir, images, ids, **kwargs):
        predicted.append(set(ids))
        return real_predict(run_dir, images, ids, **kwargs)

    monkeypatch.setattr(predict, "predict_galaxies", recording)
    bench_quality.main(["-f", str(REPO / "parameters" / "smoke.yaml"), "--minutes", "0.01", "--data", str(real_sample),
                        "--set", "seed=0", "--set", "synthetic=false", "--set", "tta=none", "--screen",
                        "--out", str(runs[0]), "--results-dir", str(tmp_path), "--label", "screen"])
    screen = results_store.load_results(tmp_path)["quality-screen"]["figures"]
    run_split = RunFolder(runs[0]).load().split
    assert predicted == [set(split.ids_of(run_split, "val"))]
    assert screen["screen"] and screen["test"] == {} and screen["test_rmse"] is None
    # without test-time averaging the validation score is the best epoch's own (Keras' evaluate, float32 sums)
    assert screen["val_rmse_tta"] == pytest.approx(screen["best_val_rmse"], abs=1e-4)
