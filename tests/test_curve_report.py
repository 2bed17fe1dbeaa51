"""The learning-curve report (issue 11, parts 3 and 5): the learning-curve file, the compute curve,
the synthetic check, the generated conclusion, the index entry, and the smoke-sized report rendered
through the real runner (slow)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galaxy_lib import cli
from galaxy_lib.config import load_config
from galaxy_lib.errors import ConfigError, DataError
from galaxy_lib.evaluation.baselines import KAGGLE_ANCHORS
from galaxy_lib.model.runs import HISTORY_COLUMNS, ResumeState, RunFolder
from galaxy_lib.studies import curve, curve_analysis, power_law
from galaxy_lib.studies.curve_file import CurveConfig, is_curve_file, load_curve_file

REPO = Path(__file__).resolve().parents[1]
TRUTH = power_law.PowerLaw(c=0.08, a=0.5, b=0.4)


# --- the learning-curve file ---------------------------------------------------------------------------------


def test_the_repository_curve_files_load():
    real = load_curve_file(REPO / "parameters" / "learning_curve.yaml")
    assert real.name == "learning_curve" and real.curve.sizes == "150,300,600,1200,all"
    assert real.curve.seeds == 2 and real.curve.point_config.time_limit_minutes == 5
    assert real.config == load_config(REPO / "parameters" / "sample.yaml").replace(
        epochs=440, schedule_clock="budget", conv_blocks=2)  # the two blocks its stored curve measured (issue 31)
    assert real.validation is not None and real.validation.config.synthetic and real.fit_up_to == 2500
    assert real.validation.folder != real.curve.folder
    smoke = load_curve_file(REPO / "parameters" / "smoke_curve.yaml")
    assert smoke.config.synthetic and smoke.config.epochs == 1 and smoke.validation is not None
    assert is_curve_file(REPO / "parameters" / "smoke_curve.yaml")
    for other in ("smoke.yaml", "smoke_ensemble.yaml", "default.yaml"):
        assert not is_curve_file(REPO / "parameters" / other)


@pytest.fixture
def params(tmp_path, monkeypatch):
    """A project root with a run parameters file and a writer of learning-curve files."""
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(tmp_path))
    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "run.yaml").write_text("data: data/sky\nsynthetic: true\nsynthetic_n: 4\n"
                                                      "run_name: run\n")

    def write(text: str) -> Path:
        path = tmp_path / "parameters" / "curve.yaml"
        path.write_text(text)
        return path

    return write


GOOD = "name: c\nconfig: run.yaml\nsizes: 10,20,all\n"
VALIDATION = "validation:\n  config: run.yaml\n  sizes: [5, 10, 15, 30]\n  fit_up_to: 15\n"


def test_a_curve_file_resolves_with_defaults(params, tmp_path):
    curves = load_curve_file(params(GOOD + "set: {epochs: 3}\n" + VALIDATION))
    assert curves.curve.sizes == "10,20,all" and curves.curve.seeds == 1 and curves.curve.minutes is None
    assert curves.curve.out == "runs/c" and curves.curve.folder == tmp_path / "runs" / "c"
    assert curves.config.epochs == 3 and curves.config.run_name == "run"
    assert curves.validation.sizes == "5,10,15,30" and curves.validation.out == "runs/c-validation"
    assert curves.validation.config.epochs == 50  # its own `set`, not the main curve's
    assert curves.with_folder("elsewhere").curve.folder == tmp_path / "elsewhere"
    record = curves.to_dict()
    assert record["parameters_file"] == "parameters/curve.yaml" and record["validation"]["fit_up_to"] == 15


def test_command_line_keys_change_both_curves_but_data_only_the_main_one(params):
    curves = load_curve_file(params(GOOD + VALIDATION), ["epochs=2", "data=/elsewhere"])
    assert (curves.config.epochs, curves.config.data) == (2, "/elsewhere")
    assert (curves.validation.config.epochs, curves.validation.config.data) == (2, "data/sky")
    assert curves.overrides == {"epochs": 2, "data": "/elsewhere"}


@pytest.mark.parametrize(("text", "message"), [
    (GOOD + "colour: red\n", "unknown learning-curve key(s) in"),
    ("config: run.yaml\nsizes: 10,20\n", "needs a `name`"),
    ("name: ../x\nconfig: run.yaml\nsizes: 10\n", "must be a plain folder name"),
    ("name: c\nsizes: 10\n", "no `config`"),
    ("name: c\nconfig: missing.yaml\nsizes: 10\n", "parameters file not found"),
    ("name: c\nconfig: run.yaml\nsizes: 10,abc\n", "curve.yaml: `sizes`: 'abc' is not a number of training galaxies"),
    ("name: c\nconfig: run.yaml\nsizes: 0\n", "`sizes`: 0 is not a number"),
    (GOOD + "seeds: 0\n", "`seeds` must be a whole number"),
    (GOOD + "minutes: -1\n", "`minutes` must be each point's training budget"),
    (GOOD + "set: {epoch: 3}\n", "unknown config key(s) in `set`: epoch"),
    (GOOD + "set: {epochs: 0}\n", "curve.yaml (run.yaml): config key 'epochs'"),
    (GOOD + "validation:\n  config: run.yaml\n  sizes: 5,10,30\n  fit_up_to: 10\n", "leaves 2 of the sizes"),
    (GOOD + "validation:\n  config: run.yaml\n  sizes: 5,10,15\n  fit_up_to: 15\n", "no size above `fit_up_to`"),
    (GOOD + "validation:\n  config: run.yaml\n  sizes: 5,10,15,all\n", "no `fit_up_to`"),
    (GOOD + "validation:\n  config: run.yaml\n  sizes: 5,10,15,all\n  fit_up_to: 15\n  out: runs/c\n",
     "is the main curve's folder"),
    (GOOD + "validation:\n  config: run.yaml\n  sizes: 5,10,15,all\n  fit_up_to: 15\n  seeds: 2\n  name: v\n",
     "validation: unknown key(s) name"),
])
def test_curve_file_errors_are_one_line_naming_the_file(params, text, message):
    with pytest.raises(ConfigError) as info:
        load_curve_file(params(text))
    assert message in str(info.value) and "curve.yaml" in str(info.value) and "\n" not in str(info.value)


def test_unknown_command_line_keys_are_named(params):
    with pytest.raises(ConfigError, match="unknown config key.* in overrides: epoch"):
        load_curve_file(params(GOOD), {"epoch": 2})


def test_the_verbs_take_a_curve_file_only_where_it_makes_sense(params, capsys):
    path = str(params(GOOD))
    assert cli.main(["train", "-f", path, "--out", "runs/x"]) == 2
    assert "is a learning-curve file: train its points with `python -m galaxy_lib curve" in capsys.readouterr().err
    assert cli.main(["curve", "-f", path, "--sizes", "10", "--seeds", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sizes, --seeds cannot be given" in err
    run_file = path.replace("curve.yaml", "run.yaml")
    assert cli.main(["curve", "-f", run_file, "--out", "runs/x"]) == 2
    assert capsys.readouterr().err == ("error: --sizes required: e.g. --sizes 150,300,600,1200,all --out "
                                       "runs/curve-NAME (or -f a learning-curve file that names them)\n")


# --- the report runner's choices ---------------------------------------------------------------------------------


def test_a_run_report_keeps_notebooks_01_to_03_and_a_curve_report_runs_04():
    from galaxy_lib.report.build import CURVE_NOTEBOOKS, report_notebooks

    notebooks = REPO / "notebooks"
    assert [p.name for p in report_notebooks(notebooks)] == ["01_data.ipynb", "02_train.ipynb", "03_evaluate.ipynb"]
    assert [p.name for p in report_notebooks(notebooks, curve=True)] == list(CURVE_NOTEBOOKS)


def test_the_report_makes_the_synthetic_skies_of_both_curves_before_the_notebooks(params, tmp_path, capsys):
    from galaxy_lib.report.build import data_configs, prepare_data

    curves = load_curve_file(params(GOOD + "set: {epochs: 3}\n" + VALIDATION))  # two configurations, one sky
    assert data_configs(curves) == [curves.curve.config, curves.validation.config]
    assert prepare_data(curves, progress=False) == [tmp_path / "data" / "sky"] * 2
    assert capsys.readouterr().out.count("generating the synthetic sky data/sky") == 1  # once, then read


def test_notebook_parameters_of_a_curve_reproduce_it(params, tmp_path, capsys):
    from galaxy_lib.report import notebook_parameters
    from galaxy_lib.report.notebook import curve_setup

    curves = load_curve_file(params(GOOD), {"epochs": 2})
    values = notebook_parameters(curves)
    assert values == {"config_file": "parameters/curve.yaml", "overrides": {"epochs": 2}, "run_dir": "runs/c"}
    assert not (tmp_path / "data" / "sky").exists()
    again, folder = curve_setup(**values)
    assert again == curves and folder == tmp_path / "runs" / "c"
    # the notebook's setup is an entry point: it makes the synthetic sky that loading would refuse to
    assert "generating the synthetic sky data/sky: 4 galaxies" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "data" / "sky" / "training_solutions_rev1.csv")) == 4
    with pytest.raises(ConfigError, match="parameters/run.yaml is not a learning-curve file"):
        curve_setup("parameters/run.yaml")


# --- the compute curve ----------------------------------------------------------------------------------------


def fake_point(folder: Path, n: int, seed: int, val: list[float], seconds: float = 2.0, elapsed: float | None = None,
               stopped: str = "time limit: 0.1 of 0.1 minutes used") -> dict:
    """A point folder with a hand-written history.csv and resume/state.json, and its curve.csv row."""
    run = RunFolder(folder / curve.point_name(n, seed))
    run.path.mkdir(parents=True)
    epochs = len(val)
    history = pd.DataFrame({c: np.nan for c in HISTORY_COLUMNS}, index=range(epochs))
    history["epoch"] = range(1, epochs + 1)
    history["val_rmse"] = val
    history["seconds"] = seconds
    history.to_csv(run.history_file, index=False)
    run.resume_dir.mkdir()
    total = seconds * epochs if elapsed is None else elapsed
    ResumeState(epoch=epochs, monitor="val_rmse", elapsed_seconds=total, finished=stopped).write(run.state_file)
    return {"n_train": n, "seed": seed, "epochs": epochs, "minutes": total / 60, "val_rmse": min(val),
            "test_rmse": min(val) - 0.002, "test_accuracy": 0.7, "mean_rmse": 0.16, "n_val": 10, "n_test": 20,
            "tta": "none", "stopped": stopped, "run": run.path.name}


def test_the_compute_curve_reads_each_points_history_in_wall_time(tmp_path):
    rows = [
        fake_point(tmp_path, 10, 0, [0.2, 0.15, 0.16, 0.14], seconds=3.0, elapsed=24.0),  # saving doubles the time
        fake_point(tmp_path, 40, 0, [0.2, 0.13, 0.12, 0.11, 0.105, 0.104, 0.1039, 0.1038, 0.1037, 0.1036]),
        fake_point(tmp_path, 40, 1, [0.2, 0.14, 0.12, 0.112, 0.106, 0.105, 0.1045, 0.1044, 0.1043, 0.1042]),
    ]
    frame = curve.curve_frame(rows)
    compute = curve_analysis.compute_curve(tmp_path, frame)
    points = compute.points
    assert list(points.columns) == list(curve_analysis.COMPUTE_COLUMNS) and len(points) == 4 + 10 + 10
    small = points[points["n_train"] == 10]
    assert small["minutes"].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])  # 3 s epochs scaled to 24 s in all
    assert small["best_val_rmse"].tolist() == [0.2, 0.15, 0.15, 0.14]  # the running minimum
    table = compute.table.set_index("n_train")
    # 40 galaxies: 10 epochs of 2 s; the last quarter starts after 15 s, so epoch 7 is the last before it
    assert table.loc[40, "best_before"] == pytest.approx((0.1039 + 0.1045) / 2)
    assert table.loc[40, "best_end"] == pytest.approx((0.1036 + 0.1042) / 2)
    assert table.loc[40, "gain"] == pytest.approx(0.0003)
    spread = abs(rows[1]["test_rmse"] - rows[2]["test_rmse"]) / np.sqrt(2)  # the two seeds' standard deviation
    assert table.loc[40, "tolerance"] == pytest.approx(spread)
    assert table.loc[10, "tolerance"] == pytest.approx(0.01 * 0.14)  # one seed: 1% of the RMSE
    assert not compute.more_time_helps()  # a gain of 0.0003 is inside the seed-to-seed spread of 0.0004
    text = compute.summary()
    assert text.startswith("40 training galaxies: over the last 25% of training (") and "mean over 2 seeds" in text
    assert "fell by 0.0003" in text and "seed-to-seed spread of the test RMSE (0.0004)" in text
    assert "would help little" in text
    assert compute.figure().axes[0].get_xlabel() == "training minutes"


def test_the_compute_curve_verdict_follows_the_last_quarters_gain(tmp_path):
    falling = [fake_point(tmp_path, 20, 0, [0.2, 0.15, 0.13, 0.12, 0.11, 0.10, 0.09, 0.08, 0.075, 0.07])]
    compute = curve_analysis.compute_curve(tmp_path, curve.curve_frame(falling))
    assert compute.more_time_helps() and "would still help" in compute.summary()
    assert "one seed, so no spread" in compute.summary()
    flat = [fake_point(tmp_path / "flat", 20, 0, [0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0999],
                       stopped="reached 10 epochs")]
    compute = curve_analysis.compute_curve(tmp_path / "flat", curve.curve_frame(flat))
    assert not compute.more_time_helps() and "would help little" in compute.summary()
    assert "ended at its epoch count (reached 10 epochs)" in compute.summary()


def test_a_fall_that_holds_a_learning_rate_step_is_not_read_as_more_time(tmp_path):
    """With the step decay, the rate's last step (at 92% of its clock) lies inside the last quarter: the
    fall there measures the step as much as the time, so the verdict does not claim more time helps."""
    falling = [fake_point(tmp_path, 20, 0, [0.2, 0.15, 0.13, 0.12, 0.11, 0.10, 0.09, 0.08, 0.075, 0.07])]
    config = load_config(Path(__file__).resolve().parents[1] / "parameters" / "smoke.yaml", {"lr_schedule": "step"})
    config.save(RunFolder(tmp_path / falling[0]["run"]).config_file)
    compute = curve_analysis.compute_curve(tmp_path, curve.curve_frame(falling))
    assert compute.schedule == "step" and compute.more_time_helps()  # the raw comparison is unchanged
    assert "would still help" not in compute.summary()
    assert "holds the step decay's last learning-rate step" in compute.summary()


def test_the_plateau_is_the_first_epoch_within_the_seed_spread_of_the_end(tmp_path):
    rows = [
        fake_point(tmp_path, 40, 0, [0.2, 0.13, 0.12, 0.11, 0.105, 0.104, 0.1039, 0.1038, 0.1037, 0.1036]),
        fake_point(tmp_path, 40, 1, [0.2, 0.14, 0.12, 0.112, 0.106, 0.105, 0.1045, 0.1044, 0.1043, 0.1042]),
    ]
    compute = curve_analysis.compute_curve(tmp_path, curve.curve_frame(rows))
    plateau = compute.plateau()
    # mean best per epoch: 0.1045 (6), 0.1042 (7) ... 0.1039 (10); spread 0.0006/sqrt(2) = 0.0004: epoch 7 is within
    assert plateau["epoch"] == 7 and plateau["epochs"] == 10 and plateau["seeds"] == 2
    assert plateau["final"] == pytest.approx((0.1036 + 0.1042) / 2)
    assert "at epoch 7 of 10" in compute.summary() and "seed-to-seed spread (0.0004)" in compute.summary()
    steady = [fake_point(tmp_path / "steady", 40, s, [0.2 - 0.01 * i - 0.0001 * s for i in range(10)])
              for s in (0, 1)]
    assert curve_analysis.compute_curve(tmp_path / "steady", curve.curve_frame(steady)).plateau()["epoch"] == 10


def test_a_point_without_its_history_is_named(tmp_path):
    rows = [fake_point(tmp_path, 10, 0, [0.2, 0.1])]
    (tmp_path / rows[0]["run"] / "history.csv").unlink()
    with pytest.raises(DataError, match=r"n00010-seed0/history\.csv not found"):
        curve_analysis.compute_curve(tmp_path, curve.curve_frame(rows))


# --- the synthetic check and the conclusion ---------------------------------------------------------------


def measured_curve(sizes, seeds=(0, 1), law=TRUTH, noise=0.0005, rng_seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = [{"n_train": n, "seed": s, "epochs": 10, "minutes": 1.0, "val_rmse": law(n) + 0.001,
             "test_rmse": law(n) + rng.normal(0, noise), "test_accuracy": 0.7, "mean_rmse": 0.16, "n_val": 10,
             "n_test": 50, "tta": "none", "stopped": "reached 10 epochs", "run": curve.point_name(n, s)}
            for n in sizes for s in seeds]
    return curve.curve_frame(rows)


def test_the_synthetic_check_compares_the_fit_with_larger_measured_sizes(tmp_path):
    frame = measured_curve([300, 600, 1200, 2500, 10_000, 20_000])
    check = curve_analysis.synthetic_check(frame, 2500, folder=tmp_path, n_boot=200)
    assert check.extrapolation.fit.sizes.tolist() == [300, 600, 1200, 2500] and check.extrapolation.target == 20_000
    assert check.table["n_train"].tolist() == [10_000, 20_000] and check.table["inside"].all() and check.inside == 2
    assert check.table["predicted"].to_numpy() == pytest.approx(TRUTH([10_000, 20_000]), abs=0.003)
    assert ((check.table["low"] < check.table["predicted"]) & (check.table["predicted"] < check.table["high"])).all()
    stored = json.loads((tmp_path / curve_analysis.CHECK_FILE).read_text())
    assert stored["inside"] == 2 and stored["fit_up_to"] == 2500 and stored["checked"][1]["n_train"] == 20_000
    assert curve_analysis.read_check(tmp_path)["summary"] == check.summary()
    assert "held 2 of the 2 larger measured sizes" in check.summary()
    labels = [t.get_text() for t in check.figure().legends[0].get_texts()]
    assert "measured, not used in the fit" in labels and not any("Kaggle" in label for label in labels)
    # a law that bends beyond the fitted sizes: the check says so
    bent = frame.copy()
    bent.loc[bent["n_train"] == 20_000, "test_rmse"] += 0.02
    missed = curve_analysis.synthetic_check(bent, 2500, n_boot=200)
    assert missed.table["inside"].tolist() == [True, False] and "held 1 of the 2" in missed.summary()
    with pytest.raises(DataError, match="at least 3 sizes up to 600"):
        curve_analysis.synthetic_check(frame, 600)
    with pytest.raises(DataError, match="no measured size above 20,000"):
        curve_analysis.synthetic_check(frame, 20_000)


def test_the_size_table_and_headline_summarise_each_size():
    frame = measured_curve([150, 300, 600])
    table = curve_analysis.size_table(frame)
    assert table.index.tolist() == [150, 300, 600] and table["points"].tolist() == [2, 2, 2]
    top = curve_analysis.headline(frame)
    assert top["n_train"] == 600 and top["seeds"] == 2 and top["n_test"] == 50 and top["sizes"] == [150, 300, 600]
    assert top["test_rmse"] == pytest.approx(frame[frame["n_train"] == 600]["test_rmse"].mean())


def with_interval(e: power_law.Extrapolation, low: float, high: float) -> power_law.Extrapolation:
    return dataclasses.replace(e, low=low, high=high, prediction=(low + high) / 2)


def test_the_conclusion_states_the_numbers_and_where_the_winner_lies():
    frame = measured_curve([150, 300, 600, 1200, 2447])
    e = curve.extrapolate_curve(frame, n_boot=100)
    top = curve_analysis.headline(frame)
    text = curve_analysis.conclusion(frame, e, note="budget 5 min per point")
    assert f"with {top['n_train']:,} training galaxies this configuration reaches a test RMSE of " \
           f"{top['test_rmse']:.4f} ± {top['test_rmse_sd']:.4f} (standard deviation over 2 seeds)" in text
    # every size trained the same 10 epochs: the law is about the galaxies, its interval low-high, never ±
    line = next(x for x in text.splitlines() if x.startswith("- **Extrapolated:**"))
    assert f"{e.fit.law.formula()} (fitted to 10 points at 5 sizes); at 61,578 galaxies it gives " \
           f"{e.prediction:.4f}, 95% bootstrap interval {e.low:.4f}-{e.high:.4f} (100 resamples)" in line
    assert "±" not in line and "expected to reach" not in text and "asymptote" not in text
    assert "- **Budget:** budget 5 min per point." in text and "Checked on a synthetic sky" not in text
    winner = KAGGLE_ANCHORS["Kaggle winner (private LB)"]
    below = curve_analysis.conclusion(frame, with_interval(e, winner + 0.005, winner + 0.01))
    inside = curve_analysis.conclusion(frame, with_interval(e, winner - 0.005, winner + 0.005))
    above = curve_analysis.conclusion(frame, with_interval(e, winner - 0.02, winner - 0.01))
    assert "lies below the interval" in below and "would not reach it" in below
    assert "lies inside the interval: more galaxies alone could plausibly close the gap" in inside
    assert "lies above the interval" in above
    assert "measured on Kaggle's own test set, not on ours" in below
    assert "Kaggle winner" not in curve_analysis.conclusion(frame, e, references=())
    flat = dataclasses.replace(e, fit=dataclasses.replace(e.fit, at_bounds=("a",)))
    assert "the fit puts a on a bound" in curve_analysis.conclusion(frame, flat)
    assert "the interval has no width" not in text
    three = measured_curve([150, 300, 600], seeds=(0,))  # every resample is these three points
    narrow = curve.extrapolate_curve(three, n_boot=50)
    assert narrow.low == pytest.approx(narrow.high)
    assert "only 3 sizes every bootstrap resample" in curve_analysis.conclusion(three, narrow)


def test_a_budget_limited_curve_is_not_extrapolated_to_the_method():
    """Points that shared a time budget (the larger sizes trained fewer epochs) give a law for that
    budget: the conclusion says what the points measure and leaves the asymptote to a curve with the
    same epochs at every size, in the docs' own wording."""
    frame = measured_curve([150, 300, 600, 1200, 2447])
    frame["epochs"] = frame["n_train"].map({150: 425, 300: 340, 600: 180, 1200: 125, 2447: 70})
    e = curve.extrapolate_curve(frame, n_boot=100)
    text = curve_analysis.conclusion(frame, e)
    sizes = curve_analysis.size_table(frame).reset_index().to_dict("records")
    assert curve_analysis.budget_limited(sizes)
    assert f"- {curve_analysis.extrapolation_paragraph(e.to_dict(), sizes)}" in text.splitlines()
    assert "- **Fitted to budget-limited points:**" in text and "**Extrapolated:**" not in text
    assert "(425-425 at 150 galaxies, 70-70 at 2,447)" in text and "not the method's asymptote" in text
    assert "needs a curve that gives every point the same number of epochs" in text
    assert f"{e.low:.4f}-{e.high:.4f}" in text and "expected to reach" not in text
    winner = KAGGLE_ANCHORS["Kaggle winner (private LB)"]
    above = curve_analysis.conclusion(frame, with_interval(e, winner - 0.02, winner - 0.01))
    assert "this budget's curve would beat it" in above and "this method would beat it" not in above
    longer = curve_analysis.extrapolation_paragraph(e.to_dict(), sizes, "Longer runs measured less.")
    assert "asymptote. Longer runs measured less. That asymptote" in longer


def test_data_or_method_answers_only_from_a_fixed_epoch_curve_that_pins_its_law():
    frame = measured_curve([150, 300, 600, 1200, 2447])
    frame["epochs"] = 200
    e = curve.extrapolate_curve(frame, n_boot=100)
    sizes = curve_analysis.size_table(frame).reset_index().to_dict("records")
    winner = KAGGLE_ANCHORS["Kaggle winner (private LB)"]
    shifted = with_interval(e, winner + 0.01, winner + 0.02)
    below = curve_analysis.data_or_method(shifted.to_dict(), sizes)
    assert below.startswith("With all 61,578 Kaggle training galaxies this method (200 epochs) would reach ")
    assert f"interval {winner + 0.01:.4f}-{winner + 0.02:.4f}" in below
    assert f"is {shifted.prediction - winner:.4f} below that" in below and "would not close" in below
    inside = curve_analysis.data_or_method(with_interval(e, winner - 0.01, winner + 0.01).to_dict(), sizes)
    assert "lies inside that interval, so by this curve more galaxies alone could close the gap" in inside
    assert "too wide to tell how much of it, if any, is the method" in inside
    above = curve_analysis.data_or_method(with_interval(e, winner - 0.02, winner - 0.01).to_dict(), sizes)
    assert "above that: by this curve, this method with Kaggle's galaxies would beat it" in above
    assert "would not close" not in above
    pinned = with_interval(e, winner + 0.01, winner + 0.02)
    loose = dataclasses.replace(pinned, fit=dataclasses.replace(pinned.fit, at_bounds=("b",)))
    assert "puts b on a bound, so the data cannot tell" in curve_analysis.data_or_method(loose.to_dict(), sizes)
    text = curve_analysis.conclusion(frame, e)
    assert text.splitlines()[0] == f"- **Data or method:** {curve_analysis.data_or_method(e.to_dict(), sizes)}"
    frame["epochs"] = frame["n_train"].map({150: 425, 300: 340, 600: 180, 1200: 125, 2447: 70})
    budget_sizes = curve_analysis.size_table(frame).reset_index().to_dict("records")
    assert "cannot say how much of the gap" in curve_analysis.data_or_method(e.to_dict(), budget_sizes)


def test_the_conclusion_carries_the_check_and_the_compute_curve(tmp_path):
    frame = measured_curve([300, 600, 1200, 2500, 10_000], seeds=(0,))
    check = curve_analysis.synthetic_check(frame, 2500, n_boot=100)
    compute_frame = curve.curve_frame([fake_point(tmp_path, 20, 0, [0.2, 0.15, 0.13, 0.12, 0.11])])
    compute = curve_analysis.compute_curve(tmp_path, compute_frame)
    e = curve.extrapolate_curve(frame, n_boot=100)
    text = curve_analysis.conclusion(frame, e, compute=compute, check=check)
    assert f"- **Checked on a synthetic sky:** {check.summary()} The method held there." in text
    assert f"- **More time:** {compute.summary()}" in text
    assert "(standard deviation" not in text  # one seed: no spread claimed


# --- report.json and the index -----------------------------------------------------------------------------


def test_a_curve_folder_gives_the_report_its_headline_and_the_index_its_line(params, tmp_path):
    from galaxy_lib.report.index import render_index
    from galaxy_lib.report.summary import curve_metrics

    curves: CurveConfig = load_curve_file(params(GOOD + "minutes: 5\n"))
    folder = curves.curve.folder
    folder.mkdir(parents=True)
    frame = measured_curve([150, 300, 600])
    curve.write_outputs(folder, frame)
    result = curve.write_extrapolation(folder, frame, n_boot=50)
    metrics = curve_metrics(curves, folder)
    top = curve_analysis.headline(frame)
    assert metrics["test_rmse"] == pytest.approx(top["test_rmse"]) and metrics["baselines"] == {"training mean": 0.16}
    info = metrics["curve"]
    assert info["sizes"] == [150, 300, 600] and info["seeds"] == 2 and info["minutes_per_point"] == 5
    assert info["extrapolation"]["prediction"] == pytest.approx(result.prediction)
    assert curve_metrics(curves, tmp_path / "nowhere") == {}  # no curve yet: no figures, not a crash

    entry = {"name": "c", "date": "2026-01-01T00:00:00", "data": "data/sky", "config_file": "parameters/curve.yaml",
             "metrics": metrics, "total_seconds": 60, "curve": info}
    page = render_index([entry, {"name": "single", "metrics": {"test_rmse": 0.12}}], [])
    row = next(line for line in page.splitlines() if 'href="c/report.html"' in line)
    assert (f"learning curve: 3 sizes (150-600 galaxies) x 2 seeds; figures at 600; extrapolated to 61,578: "
            f"{result.prediction:.4f} ({result.low:.4f}-{result.high:.4f})") in row
    assert 'href="c/curve.json">curve</a>' in row and f"{top['test_rmse']:.4f}" in row
    single = next(line for line in page.splitlines() if 'href="single/report.html"' in line)
    assert "learning curve" not in single


# --- the smoke-sized report, end to end ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_smoke_learning_curve_report_renders(smoke_curve_report):
    """parameters/smoke_curve.yaml through the real runner: notebook 4 trains the 3 + 4 one-epoch points
    of the main and validation curves, fits, checks and concludes; report.json and the index carry
    the curve. (The report is built once per session on the smoke sky of the other smoke reports,
    see conftest.)"""
    from galaxy_lib import report

    root = smoke_curve_report
    folder = root / "reports" / "smoke-curve"
    summary = json.loads((folder / report.SUMMARY_FILE).read_text())
    assert [t["notebook"] for t in summary["notebooks"]] == ["04_learning_curve.ipynb"]
    assert summary["run_dir"] == "runs/smoke-curve" and summary["config_file"] == "parameters/smoke_curve.yaml"
    info = summary["curve"]
    assert info["sizes"] == [20, 40, 84] and info["seeds"] == 1 and info["points"] == 3
    assert info["extrapolation"]["target"] == 61_578 and info["check"]["checked"] == 1
    assert 0 < summary["metrics"]["test_rmse"] < 1 and summary["environment"]["cpu_model"]
    for name in ("curve.csv", "fit.json", "curve.json", "04_learning_curve.ipynb"):
        assert (folder / name).is_file(), name
    assert (root / "runs" / "smoke-curve-validation" / curve_analysis.CHECK_FILE).is_file()
    page = (folder / report.NO_CODE_HTML).read_text()
    for heading in ("The-learning-curve", "Extrapolating-to-Kaggle", "The-compute-curve",
                    "Checking-the-extrapolation-on-a-synthetic-sky", "Conclusion"):
        assert f'id="{heading}' in page, heading
    assert page.count("data:image/png;base64,") >= 4  # curve, extrapolation, compute curve, check
    assert "at 61,578 galaxies it gives" in page and "expected to reach" not in page
    assert "Checked on a synthetic sky" in page and "More time:" in page
    assert str(root) not in page and str(REPO) not in page
    index = (root / "reports" / "index.html").read_text()
    assert 'href="smoke-curve/report.html"' in index and "learning curve: 3 sizes (20-84 galaxies) x 1 seed" in index
