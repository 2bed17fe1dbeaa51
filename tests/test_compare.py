"""Comparing runs (issue 13, part 2): the configuration differences, the split check, the AUC intervals'
non-overlap mark, one-line errors for runs that cannot be compared, report.json and the header, and
the smoke-sized comparison rendered through the real runner (slow)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import in_project
from matplotlib.figure import Figure

from galaxy_lib import cli, tree
from galaxy_lib.config import Config
from galaxy_lib.errors import ConfigError, RunError
from galaxy_lib.model import ensemble
from galaxy_lib.model.runs import HISTORY_COLUMNS, ResumeState, RunFolder
from galaxy_lib.studies import compare
from galaxy_lib.studies import figures as study_figures
from galaxy_lib.studies.compare import config_differences, no_overlap_mark, non_overlapping, split_check

REPO = Path(__file__).resolve().parents[1]
IDS = list(range(1, 13))


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A project root: relative run folders are read from it, and paths are shown relative to it."""
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    (tmp_path / "parameters").mkdir()
    return tmp_path


def fake_metrics(test_rmse: float, *, epochs: int = 3, n_test: int = 4, auc: dict | None = None,
                 evaluated: str = "test") -> dict:
    """metrics.json as evaluation writes it (the keys a comparison reads), with hand-set AUCs:
    ``auc`` maps an answer to ``(auc, low, high)``; every other answer is not measurable."""
    entries = {c: {"auc": None, "positives": 3, "negatives": n_test - 3, "low": None, "high": None,
                   "note": "not measurable (3 positives)"} for c in tree.ANSWER_COLUMNS}
    for column, (value, low, high) in (auc or {}).items():
        entries[column] = {"auc": value, "positives": 25, "negatives": 30, "low": low, "high": high, "note": ""}
    heldout = {"test_rmse": test_rmse, "test_accuracy": 0.7} if evaluated == "test" else \
        {"test_rmse": None, "test_accuracy": None, "val_rmse": test_rmse, "val_accuracy": 0.7}
    return {
        "evaluated_split": evaluated, "n_train": 6, "n_val": 2, "n_test": n_test, "val_rmse": test_rmse + 0.01,
        **heldout, "epochs": epochs,
        "rmse_per_question": {f"Q{q.number}": test_rmse + q.number / 1000 for q in tree.QUESTIONS},
        "baselines": {"all-zeros": 0.3, "all-ones": 0.6, "training mean": 0.16, "central pixel": 0.158},
        "baseline_accuracy": {"all-zeros": 0.3, "all-ones": 0.1, "training mean": 0.55, "central pixel": 0.56},
        "auc": entries,
    }


def fake_run(path: Path, *, test=(1, 2, 3, 4), val=(5, 6), epochs: int = 3, test_rmse: float = 0.12,
             finished: str | None = "reached 3 epochs", model: bool = True, metrics: dict | None = None,
             evaluated: bool = True, **keys) -> RunFolder:
    """A finished, evaluated run folder without training: config, split (ids 1-12), history,
    resume/state.json, a placeholder best.keras and metrics.json."""
    folder = RunFolder(path).create()
    Config(run_name=path.name, **keys).save(folder.config_file)
    split = ["test" if i in test else "val" if i in val else "train" for i in IDS]
    pd.DataFrame({tree.ID_COLUMN: IDS, "split": split}).to_csv(folder.split_file, index=False)
    history = pd.DataFrame({c: 0.1 for c in HISTORY_COLUMNS}, index=range(epochs))
    history["epoch"] = range(1, epochs + 1)
    history["val_rmse"] = [0.2 - 0.01 * e for e in range(epochs)]
    history.to_csv(folder.history_file, index=False)
    folder.resume_dir.mkdir(exist_ok=True)
    ResumeState(epoch=epochs, elapsed_seconds=60.0, finished=finished).write(folder.state_file)
    if model:
        folder.model_file("best").write_bytes(b"placeholder: a comparison never loads the model")
    if evaluated:
        record = metrics if metrics is not None else fake_metrics(test_rmse, epochs=epochs, n_test=len(test))
        folder.metrics_file.write_text(json.dumps(record))
    return folder


# --- configuration differences --------------------------------------------------------------------------------


def test_config_differences_keep_only_the_keys_that_differ():
    a = {"run_name": "a", "crop": 96, "seed": 0, "loss": "mse", "runs_dir": "runs"}
    b = {"run_name": "b", "crop": 128, "seed": 0, "loss": "mse", "runs_dir": "elsewhere", "extra": 1}
    table = config_differences({"a": a, "b": b})
    assert list(table.index) == ["crop", "extra"] and list(table.columns) == ["a", "b"]  # names and places left out
    assert table.loc["crop"].tolist() == [96, 128] and table.loc["extra"].tolist() == ["–", 1]
    assert config_differences({"a": a, "b": dict(a, run_name="b")}).empty
    assert list(config_differences({"a": a, "b": b}, ignored=()).index) == ["run_name", "crop", "runs_dir", "extra"]


def test_a_comparison_lists_the_differing_configuration_keys(root):
    fake_run(root / "runs" / "paper", crop=128, seed=0)
    fake_run(root / "runs" / "improved", crop=207, image_size=69, seed=0)
    comparison = compare.load_comparison(["runs/paper", "runs/improved"], "x")
    table = comparison.config_differences()
    assert list(table.index) == ["crop", "image_size"] and list(table.columns) == ["paper", "improved"]
    assert table.loc["crop"].tolist() == [128, 207]
    assert comparison.config_summary() == "2 configuration keys differ: crop, image_size."
    fake_run(root / "runs" / "twin", crop=128, seed=0)
    same = compare.load_comparison(["runs/paper", "runs/twin"])
    assert same.config_differences().empty and "identical" in same.config_summary()


# --- the split check --------------------------------------------------------------------------------------------


def split_of(test, val=(5, 6)) -> pd.DataFrame:
    return pd.DataFrame({tree.ID_COLUMN: IDS, "split": ["test" if i in test else "val" if i in val else "train"
                                                        for i in IDS]})


def test_the_split_check_warns_when_the_test_galaxies_differ():
    check = split_check({"a": split_of((1, 2, 3, 4)), "b": split_of((3, 4, 7, 8, 9))})
    assert not check.same_test and not check.comparable and check.shared_test == 2
    warning = check.warning()
    assert warning.startswith("**⚠ Not directly comparable:**")
    assert "tested on different galaxies: test galaxies `a` 4, `b` 5; 2 are shared by both runs" in warning
    assert check.summary() == warning and "\n" not in warning
    assert check.table.loc["b", "test"] == 5 and check.table.loc["b", "test shared with a"] == 2


def test_the_split_check_is_quiet_when_the_splits_agree():
    check = split_check({"a": split_of((1, 2, 3, 4)), "b": split_of((4, 3, 2, 1)), "c": split_of((1, 2, 3, 4))})
    assert check.same_test and check.same_val and check.comparable and check.warning() is None
    three = split_check({"a": split_of((1, 2, 3, 4)), "b": split_of((1, 2, 3)), "c": split_of((1, 2, 3, 4))})
    assert "test galaxies `a` 4, `b` 3, `c` 4; 3 are shared by all 3 runs" in three.warning()
    assert check.summary() == ("All 3 runs were tested on the same 4 galaxies and validated on the same 2: their "
                               "held-out figures are directly comparable.")


def test_the_split_check_names_other_reasons_the_figures_do_not_compare():
    val_only = split_check({"a": split_of((1, 2), val=(5, 6)), "b": split_of((1, 2), val=(7, 8))})
    assert val_only.comparable and val_only.warning().startswith("**⚠ Validation galaxies differ**")
    assert "the same 2 test galaxies" in val_only.warning()
    configs = {"a": {"data": "data/sky", "synthetic_seed": 0}, "b": {"data": "data/other", "synthetic_seed": 0}}
    other_data = split_check({"a": split_of((1, 2)), "b": split_of((1, 2))}, configs)
    assert other_data.data_keys == ("data",) and not other_data.comparable
    assert "they read different data (data differ)" in other_data.warning()
    on_val = split_check({"a": split_of((1, 2)), "b": split_of((1, 2))}, evaluated={"a": "test", "b": "val"})
    assert not on_val.comparable and "`b` had no test galaxies and was scored on its validation" in on_val.warning()


def test_runs_split_differently_get_the_warning_in_the_comparison(root):
    fake_run(root / "runs" / "a", test=(1, 2, 3, 4), seed=0)
    fake_run(root / "runs" / "b", test=(1, 2, 7, 8, 9, 10), seed=1)
    comparison = compare.load_comparison(["runs/a", "runs/b"])
    assert "test galaxies `a` 4, `b` 6; 2 are shared" in comparison.split_check().warning()
    assert "**Galaxies:** **⚠ Not directly comparable:**" in comparison.conclusion()
    fake_run(root / "runs" / "c", test=(4, 3, 2, 1), seed=2)
    assert compare.load_comparison(["runs/a", "runs/c"]).split_check().warning() is None


# --- AUC intervals --------------------------------------------------------------------------------------------


def test_non_overlapping_intervals_are_paired_higher_first():
    assert non_overlapping({"a": (0.80, 0.90), "b": (0.60, 0.79)}) == [("a", "b")]
    assert non_overlapping({"a": (0.60, 0.79), "b": (0.80, 0.90)}) == [("b", "a")]
    assert non_overlapping({"a": (0.70, 0.80), "b": (0.80, 0.90)}) == []  # touching intervals overlap
    assert non_overlapping({"a": (0.70, 0.85), "b": (0.80, 0.90)}) == []
    assert non_overlapping({"a": (0.80, 0.90), "b": (None, None), "c": (float("nan"), 0.5)}) == []  # not measurable
    three = non_overlapping({"a": (0.9, 0.95), "b": (0.7, 0.85), "c": (0.5, 0.6)})
    assert three == [("a", "b"), ("a", "c"), ("b", "c")]
    assert no_overlap_mark(three[:1]) == "✱ a > b" and no_overlap_mark([]) == ""


def test_the_auc_table_marks_answers_whose_intervals_do_not_overlap(root):
    fake_run(root / "runs" / "a", metrics=fake_metrics(0.12, auc={"Class1.1": (0.95, 0.92, 0.97),
                                                                  "Class1.2": (0.90, 0.85, 0.94)}))
    fake_run(root / "runs" / "b", metrics=fake_metrics(0.10, auc={"Class1.1": (0.85, 0.80, 0.90),
                                                                  "Class1.2": (0.88, 0.83, 0.92)}))
    comparison = compare.load_comparison(["runs/a", "runs/b"])
    table = comparison.auc_table()
    assert len(table) == tree.N_ANSWERS and table.loc["Class1.1", ("a", "AUC")] == 0.95
    assert table.loc["Class1.1", ("b", "low")] == 0.80 and table.loc["Class1.1", ("b", "positives")] == 25
    assert table.loc["Class1.1", ("", "no overlap")] == "✱ a > b"
    assert table.loc["Class1.2", ("", "no overlap")] == ""  # intervals overlap
    assert pd.isna(table.loc["Class8.2", ("a", "AUC")]) and table.loc["Class8.2", ("", "no overlap")] == ""
    assert comparison.differing_answers() == ["Class1.1"]
    assert "1 of 37 answers (Class1.1)" in comparison.conclusion()
    fig = comparison.auc_figure()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0].startswith("✱ Class1.1") and labels[1].startswith("  Class1.2")


# --- held-out figures and the figures -------------------------------------------------------------------------


def test_held_out_figures_sit_beside_each_runs_own_baselines(root):
    fake_run(root / "runs" / "a", test_rmse=0.12)
    fake_run(root / "runs" / "b", test_rmse=0.10)
    comparison = compare.load_comparison(["runs/a", "runs/b"])
    table = comparison.heldout_table()
    assert table.loc["a", "RMSE"] == 0.12 and table.loc["b", "accuracy"] == 0.7
    assert table.loc["b", "training mean RMSE"] == 0.16 and table.loc["b", "central pixel accuracy"] == 0.56
    assert table.loc["b", "gain over training mean"] == pytest.approx(0.06)
    assert table.loc["a", "galaxies"] == 4 and table.loc["a", "scored on"] == "test"
    assert list(table.columns[:5]) == ["scored on", "galaxies", "RMSE", "accuracy", "validation RMSE"]
    per_question = comparison.rmse_per_question()
    assert per_question.loc["Q3", "a"] == pytest.approx(0.123) and (per_question["lowest"] == "b").all()
    assert per_question.loc["Q1", "question text"] == tree.QUESTIONS[0].text
    assert "**Held-out RMSE, lowest first:** `b` 0.1000, `a` 0.1200." in comparison.conclusion()
    history = comparison.history_figure()
    assert isinstance(history, Figure) and len(history.axes) == 3
    assert len(history.axes[0].lines) == 4 and len(history.axes[1].lines) == 2  # 2 runs x (training, validation)
    assert [t.get_text() for t in history.axes[0].get_legend().get_texts()] == ["a", "b"]
    assert len(comparison.heldout_figure().axes[0].patches) == 2 * 3  # model, training mean, central pixel
    assert len(comparison.question_figure().axes[0].patches) == 2 * len(tree.QUESTIONS)


def test_the_comparison_figures_are_public_functions_of_the_studies_figures():
    """The plotting lives in galaxy_lib.studies.figures: called on plain tables, without a comparison."""
    table = pd.DataFrame({"RMSE": [0.12, 0.10], "training mean RMSE": [0.16, float("nan")]}, index=["a", "b"])
    bars = study_figures.compare_heldout(table).axes[0].patches
    assert len(bars) == 2 * 2 and bars[0].get_width() == 0.12  # model and training mean; no central pixel
    values = pd.DataFrame({"a": 0.1, "b": 0.2}, index=[f"Q{q.number}" for q in tree.QUESTIONS])
    assert len(study_figures.compare_questions(values).axes[0].patches) == 2 * len(tree.QUESTIONS)
    columns = pd.MultiIndex.from_tuples([("a", "AUC"), ("a", "low"), ("a", "high"), ("", "no overlap")])
    auc = pd.DataFrame([[0.9, 0.8, 0.95, "✱ a > b"], [float("nan")] * 3 + [""]], index=["Class1.1", "Class1.2"],
                       columns=columns)
    ticks = study_figures.compare_auc(auc, ["a"], "#").axes[0].get_yticklabels()
    assert ticks[0].get_text().startswith("# Class1.1") and ticks[0].get_fontweight() == "bold"
    assert ticks[1].get_text().startswith("  Class1.2")
    history = pd.DataFrame({"epoch": [1, 2], "rmse": 0.2, "val_rmse": 0.19, "accuracy": 0.5, "val_accuracy": 0.6,
                            "seconds": 30.0})
    fig = study_figures.compare_history({"first": history, "second": history})
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["first", "second"]


def test_the_comparison_plots_nothing_itself():
    """compare.py computes the tables; its figures are galaxy_lib.studies.figures' (no private helpers)."""
    source = (REPO / "galaxy_lib" / "studies" / "compare.py").read_text()
    assert not re.search(r"\bax\.|\baxes\b|new_figure|subplots|figures\._", source)
    assert "study_figures.compare_" in source


def test_an_ensemble_folder_is_compared_as_one_run(root):
    a, b = fake_run(root / "runs" / "m0", seed=0), fake_run(root / "runs" / "m1", seed=1)
    folder = ensemble.assemble(root / "runs" / "pair", [a.path, b.path])
    record = fake_metrics(0.09) | {"members": [{"name": "m0", "epochs": 3}, {"name": "m1", "epochs": 3}]}
    folder.metrics_file.write_text(json.dumps(record))
    fake_run(root / "runs" / "single", seed=0)
    comparison = compare.load_comparison(["runs/pair", "runs/single"])
    pair = comparison.runs[0]
    assert pair.kind == "ensemble" and pair.members == ("m0", "m1") and pair.heldout_rmse == 0.09
    assert pair.config["seed"] == "per member: 0, 1"
    table = comparison.config_differences()
    assert table.loc["ensemble"].tolist() == ["2 members", "–"]
    assert table.loc["seed"].tolist() == ["per member: 0, 1", 0]
    assert comparison.split_check().warning() is None  # the members share the ensemble's split
    assert len(comparison.history_figure().axes[0].get_legend().get_texts()) == 2  # one entry per compared run
    assert comparison.summary_runs()[0]["kind"] == "ensemble"


# --- runs that cannot be compared ---------------------------------------------------------------------------------


def _unfinished(folder: RunFolder) -> None:
    ResumeState(epoch=2, finished=None).write(folder.state_file)


def _trained_further(folder: RunFolder) -> None:
    history = folder.read_history()
    pd.concat([history, history.tail(1).assign(epoch=4)]).to_csv(folder.history_file, index=False)


@pytest.mark.parametrize(("make", "message"), [
    (lambda r: None, r"runs/b: run folder not found \(compare takes folders made by"),
    (lambda r: (r / "runs" / "b").write_text("x"), r"runs/b: not a run folder \(a file"),
    (lambda r: (r / "runs" / "b").mkdir(parents=True), r"runs/b: not a run folder \(no config.yaml\)"),
    (lambda r: fake_run(r / "runs" / "b", model=False), r"runs/b: no trained model \(best.keras\); train it first"),
    (lambda r: _unfinished(fake_run(r / "runs" / "b")),
     r"runs/b: training has not finished \(stopped after epoch 2\); rerun its `train` or `report` command"),
    (lambda r: fake_run(r / "runs" / "b", evaluated=False),
     r"runs/b: not evaluated yet \(no metrics.json\); run `python -m galaxy_lib evaluate runs/b` first"),
    (lambda r: fake_run(r / "runs" / "b", metrics={"evaluated_split": "test"}),
     r"runs/b: metrics.json holds no held-out RMSE; evaluate it again"),
    (lambda r: (fake_run(r / "runs" / "b").metrics_file.write_text("{not json")),
     r"runs/b: metrics.json cannot be read \(JSONDecodeError\)"),
    (lambda r: _trained_further(fake_run(r / "runs" / "b")),
     r"runs/b: trained to epoch 4 after runs/b/metrics.json was written \(epoch 3\); evaluate it again"),
])
def test_a_run_that_cannot_be_compared_is_one_line_naming_it(root, make, message):
    fake_run(root / "runs" / "a")
    make(root)
    with pytest.raises(RunError, match=message) as caught:
        compare.load_comparison(["runs/a", "runs/b"])
    assert "\n" not in str(caught.value)


def test_an_unfinished_ensemble_member_is_named(root):
    a, b = fake_run(root / "runs" / "m0"), fake_run(root / "runs" / "m1", model=False)
    folder = ensemble.assemble(root / "runs" / "pair", [a.path, b.path])
    folder.metrics_file.write_text(json.dumps(fake_metrics(0.1)))
    fake_run(root / "runs" / "single")
    with pytest.raises(RunError, match=r"runs/pair \(member m1: runs/m1\): no trained model"):
        compare.load_comparison(["runs/pair", "runs/single"])


def test_fewer_than_two_runs_or_one_run_twice_is_refused(root):
    fake_run(root / "runs" / "a")
    with pytest.raises(ConfigError, match=r"compare needs at least 2 run folders, got 1 \(runs/a\)"):
        compare.load_comparison(["runs/a"])
    with pytest.raises(ConfigError, match=r"runs/a: named twice \(runs/a and .*runs/a\)"):
        compare.load_comparison(["runs/a", str(root / "runs" / "a")])


def test_two_folders_of_one_name_are_told_apart(root):
    fake_run(root / "runs" / "alice" / "run")
    fake_run(root / "runs" / "bob" / "run")
    fake_run(root / "runs" / "carol")
    comparison = compare.load_comparison(["runs/alice/run", "runs/bob/run", "runs/carol"])
    assert comparison.labels == ["runs/alice/run", "runs/bob/run", "carol"]


def test_the_command_line_says_what_is_wrong_in_one_line(root, capsys):
    fake_run(root / "runs" / "a")
    assert cli.main(["compare", "runs/a", "runs/missing", "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: runs/missing: run folder not found") and err.count("\n") == 1
    fake_run(root / "runs" / "b")
    assert cli.main(["compare", "runs/a", "runs/b"]) == 2
    assert capsys.readouterr().err == ("error: name the comparison with --name NAME (the report goes to "
                                       "reports/compare-NAME/)\n")
    assert cli.main(["compare", "runs/a", "runs/b", "--name", "../up"]) == 2
    assert "--name '../up': must be a plain folder name" in capsys.readouterr().err
    assert not (root / "reports").exists()  # nothing started, nothing written


# --- the comparison file, report.json and the header ---------------------------------------------------------------


def test_a_comparison_file_names_the_runs(root, capsys):
    from galaxy_lib.report.compare import build_compare, read_compare_file

    path = root / "parameters" / "cmp.yaml"
    path.write_text("name: ab\nruns:\n  - runs/a\n  - runs/b\n")
    assert read_compare_file(path) == (["runs/a", "runs/b"], "ab")
    for text, message in [("runs: runs/a\n", "`runs` must be a list of run folders"),
                          ("runs: [runs/a, runs/b]\ncolour: red\n", "unknown comparison key(s) in "),
                          ("name: [x]\nruns: [runs/a, runs/b]\n", "`name` must be text")]:
        path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            read_compare_file(path)
        assert message in str(caught.value) and "cmp.yaml" in str(caught.value)
    with pytest.raises(ConfigError, match="either on the command line or in -f"):
        build_compare(["runs/a", "runs/b"], "x", config_file=path)
    path.write_text("name: ab\nruns: [runs/a, runs/nowhere]\n")
    assert cli.main(["compare", "-f", str(path)]) == 2
    assert "runs/a: run folder not found" in capsys.readouterr().err  # the file's runs, read from the root


def test_report_json_and_header_of_a_comparison(root):
    import datetime as dt

    from galaxy_lib.report.compare import KIND, compare_summary
    from galaxy_lib.report.html import header_markdown

    fake_run(root / "runs" / "a", test=(1, 2, 3, 4), test_rmse=0.12)
    fake_run(root / "runs" / "b", test=(1, 2, 7, 8), test_rmse=0.10, crop=96)
    comparison = compare.load_comparison(["runs/a", "runs/b"], "ab")
    timings = [{"notebook": "05_compare.ipynb", "seconds": 4.2}]
    summary = compare_summary(comparison, "compare-ab", "", "python3", dt.datetime(2026, 12, 5, tzinfo=dt.UTC),
                              timings)
    assert summary["kind"] == KIND == "compare" and summary["name"] == "compare-ab"
    assert [(r["name"], r["run_dir"], r["test_rmse"]) for r in summary["runs"]] == [
        ("a", "runs/a", 0.12), ("b", "runs/b", 0.10)]
    assert summary["runs"][1]["baselines"]["training mean"] == 0.16 and summary["runs"][0]["kind"] == "run"
    assert summary["comparable"] is False and summary["split_warning"].startswith(
        "⚠ Not directly comparable: they were tested on different galaxies: test galaxies a 4, b 4; 2 are shared")
    assert summary["config_differences"] == ["crop"] and summary["total_seconds"] == 4.2
    assert comparison.config_summary() == "1 configuration key differs: crop."
    json.dumps(summary)  # report.json is JSON
    header = header_markdown(summary)
    assert header.startswith("# Galaxy Zoo comparison: compare-ab")
    assert "| `a` | `runs/a`: held-out test RMSE **0.1200** |" in header
    assert "> **⚠ Not directly comparable:**" in header and "`05_compare.ipynb` (4 s)" in header


def test_only_the_comparison_runs_the_compare_notebook():
    from galaxy_lib.report.build import COMPARE_NOTEBOOKS, report_notebooks

    notebooks = REPO / "notebooks"
    assert [p.name for p in report_notebooks(notebooks, compare=True)] == list(COMPARE_NOTEBOOKS)
    assert "05_compare.ipynb" not in [p.name for p in report_notebooks(notebooks)]
    assert "05_compare.ipynb" not in [p.name for p in report_notebooks(notebooks, curve=True)]


# --- the smoke-sized comparison, end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_compare_renders_a_report_of_two_smoke_runs(smoke_report, capsys):
    """Two smoke runs (seeds 0 and 1 of one configuration: the same split, drawn by ``split_seed``),
    trained and evaluated, then ``compare`` through the real runner: both HTML pages, report.json with
    kind "compare", no split warning (the two seeds are compared on the same galaxies), the records of
    each run, and the index. Seed 0 is a copy of the session's
    smoke report run (trained and evaluated by its notebooks, see conftest); seed 1 is trained and
    evaluated here on the same data."""
    from galaxy_lib import report

    root = smoke_report
    shutil.copytree(root / "runs" / "smoke", root / "runs" / "smoke-seed0")
    smoke = str(root / "parameters" / "smoke.yaml")
    with in_project(root):
        out = str(root / "runs" / "smoke-seed1")
        assert cli.main(["train", "-f", smoke, "--data", "smoke", "--set", "seed=1", "--out", out]) == 0
        assert cli.main(["evaluate", out]) == 0
        capsys.readouterr()
        assert cli.main(["compare", "runs/smoke-seed0", "runs/smoke-seed1", "--name", "smoke"]) == 0

    folder = root / "reports" / "compare-smoke"
    summary = json.loads((folder / report.SUMMARY_FILE).read_text())
    assert summary["kind"] == "compare" and summary["name"] == "compare-smoke"
    assert [t["notebook"] for t in summary["notebooks"]] == ["05_compare.ipynb"]
    measured = [json.loads((root / "runs" / f"smoke-seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert [(r["name"], r["run_dir"]) for r in summary["runs"]] == [("smoke-seed0", "runs/smoke-seed0"),
                                                                     ("smoke-seed1", "runs/smoke-seed1")]
    assert [r["test_rmse"] for r in summary["runs"]] == [m["test_rmse"] for m in measured]
    assert summary["config_differences"] == ["seed"]
    assert summary["comparable"] is True and summary["split_warning"] is None  # seed does not move the galaxies
    same = [(root / "runs" / f"smoke-seed{s}" / "split.csv").read_text() for s in (0, 1)]
    assert same[0] == same[1]
    for name in (report.FULL_HTML, report.NO_CODE_HTML, "05_compare.ipynb", "runs/smoke-seed0/metrics.json",
                 "runs/smoke-seed1/config.yaml"):
        assert (folder / name).is_file(), name
    page = (folder / report.NO_CODE_HTML).read_text()
    for heading in ("Were-they-tested-on-the-same-galaxies", "What-differs", "Training-curves",
                    "Held-out-RMSE-and-accuracy-with-the-baselines", "Per-question", "AUC-per-answer",
                    "Summary"):
        assert f'id="{heading}' in page, heading
    assert "Not directly comparable" not in page and "directly comparable" in page
    assert page.count("data:image/png;base64,") >= 4  # curves, held-out bars, questions, AUC
    assert f"{measured[0]['test_rmse']:.4f}" in page
    assert str(root) not in page and str(REPO) not in page
    assert "compare_setup" in (folder / report.FULL_HTML).read_text() and "compare_setup" not in page  # code hidden
    index = (root / "reports" / "index.html").read_text()
    assert 'href="compare-smoke/report.html"' in index


@pytest.mark.slow
def test_compare_renders_fake_runs_without_training(root, capsys):
    """The comparison notebook on hand-made run folders (no TensorFlow): the report, its warning-free
    header when the splits agree, and the records of each run beside it."""
    from galaxy_lib import report
    from galaxy_lib.report.compare import build_compare

    (root / "pyproject.toml").write_text("")
    fake_run(root / "runs" / "a", metrics=fake_metrics(0.12, auc={"Class1.1": (0.95, 0.92, 0.97)}))
    fake_run(root / "runs" / "b", crop=96, metrics=fake_metrics(0.10, auc={"Class1.1": (0.85, 0.80, 0.90)}))
    folder = build_compare(["runs/a", "runs/b"], "ab", progress=False)
    assert folder == root / "reports" / "compare-ab"
    summary = json.loads((folder / report.SUMMARY_FILE).read_text())
    assert summary["comparable"] is True and summary["split_warning"] is None
    assert summary["differing_answers"] == ["Class1.1"]
    page = (folder / report.FULL_HTML).read_text()
    assert "Not directly comparable" not in page and "directly comparable" in page
    assert "✱ a &gt; b" in page and "1 of 37 answers (Class1.1)" in page
    assert "Two seeds of one configuration" in page and "No stored results to compare with" in page  # compare_with_ours
    assert (folder / "runs" / "b" / "config.yaml").is_file() and not (root / "reports" / "compare-ab.failed").exists()
