"""Learning curves: sizes, nested subsets on one split, the resumable `curve` verb, and the power-law
extrapolation (fit, bootstrap, figures)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import write_kaggle_folder

from galaxy_lib import cli
from galaxy_lib.config import Config
from galaxy_lib.data import split
from galaxy_lib.errors import ConfigError, DataError
from galaxy_lib.evaluation.baselines import KAGGLE_ANCHORS
from galaxy_lib.studies import curve, figures, power_law

# --- sizes -----------------------------------------------------------------------------------------------------


def test_sizes_are_sorted_deduplicated_and_all_is_the_training_set():
    assert curve.resolve_sizes("300,150,all,150", 1000) == [150, 300, 1000]
    assert curve.resolve_sizes("all,24", 24) == [24]
    assert curve.resolve_sizes([6, "all"], 24) == [6, 24]
    assert curve.parse_sizes(" 150 , ALL ") == [150, "all"]


@pytest.mark.parametrize(("sizes", "shown"), [
    ("0", "0"), ("150,-5", "-5"), ("abc", "'abc'"), ("150,,300", "an empty entry"), ("1.5", "'1.5'"), ("", "no sizes"),
])
def test_a_bad_size_is_a_config_error_naming_sizes_and_the_value(sizes, shown):
    with pytest.raises(ConfigError) as info:
        curve.parse_sizes(sizes)
    assert str(info.value).startswith("--sizes: ") and shown in str(info.value)
    assert "\n" not in str(info.value)


def test_a_size_above_the_training_set_names_both_numbers():
    with pytest.raises(ConfigError, match=r"^--sizes: 2,448 is more than the 2,447 training galaxies"):
        curve.resolve_sizes("150,2448", 2447)


# --- one split, nested subsets (no training) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """40 random galaxies: with 20% validation and 20% test, 24 train, 8 validate, 8 test."""
    return write_kaggle_folder(tmp_path_factory.mktemp("curve-data") / "kaggle", n=40, seed=4)


def tiny_config(data, **changes) -> Config:
    base = dict(data=str(data), crop=128, image_size=32, second_pool=2, epochs=1, batch_size=8,
                val_fraction=0.2, test_fraction=0.2, seed=5, split_seed=5)
    return Config(**{**base, **changes})


def write_parameters(path, data, **changes):
    values = {**tiny_config(data, **changes).to_dict()}
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in values.items()) + "\n")
    return path


def test_plan_lays_out_nested_subsets_of_one_split_and_writes_nothing(tiny_data, tmp_path):
    out = tmp_path / "curve"
    plan = curve.plan_curve(tiny_config(tiny_data), out, "6,12,all", seeds=2, minutes=3)
    assert not out.exists()
    assert plan.sizes == (6, 12, 24) and plan.seeds == (5, 6) and plan.n_available == 24
    assert [(p.n_train, p.seed, p.name) for p in plan.points[:3]] == [
        (6, 5, "n00006-seed5"), (12, 5, "n00012-seed5"), (24, 5, "n00024-seed5")]  # seed by seed
    assert all(p.config.time_limit_minutes == 3 and p.config.seed == p.seed for p in plan.points)
    splits = [curve.point_split(plan.shared, plan.order, n) for n in plan.sizes]
    trains = [set(split.ids_of(s, "train").tolist()) for s in splits]
    assert [len(t) for t in trains] == [6, 12, 24]
    assert trains[0] < trains[1] < trains[2] == set(split.ids_of(plan.shared, "train").tolist())
    for s in splits:
        split.check_disjoint(s)
        for name in ("val", "test"):
            assert np.array_equal(split.ids_of(s, name), split.ids_of(plan.shared, name))
    # the split is the one `train` would draw for the configuration (its split_seed), and so is the order
    assert plan.shared.equals(split.make_split(plan.data.ids, seed=5, val_fraction=0.2, test_fraction=0.2))
    assert np.array_equal(plan.order, curve.nested_order(split.ids_of(plan.shared, "train"), 5))


def test_the_split_and_the_subsets_come_from_split_seed_not_seed(tiny_data, tmp_path):
    """The model seeds of a curve (``seed`` and the ones ``--seeds`` adds) never move its galaxies:
    another ``seed`` gives the same split and subsets, another ``split_seed`` other ones."""
    plan = curve.plan_curve(tiny_config(tiny_data, seed=5, split_seed=2), tmp_path / "a", "6,all", seeds=2)
    again = curve.plan_curve(tiny_config(tiny_data, seed=9, split_seed=2), tmp_path / "b", "6,all")
    assert plan.shared.equals(again.shared) and np.array_equal(plan.order, again.order)
    assert [p.config.split_seed for p in plan.points] == [2] * 4 and plan.seeds == (5, 6)
    moved = curve.plan_curve(tiny_config(tiny_data, seed=5, split_seed=3), tmp_path / "c", "6,all")
    assert split.ids_of(moved.shared, "test").tolist() != split.ids_of(plan.shared, "test").tolist()
    assert not np.array_equal(moved.order[:6], plan.order[:6])


def test_the_order_depends_on_the_seed_only():
    ids = np.arange(100, 130)
    assert np.array_equal(curve.nested_order(ids, 1), curve.nested_order(ids[::-1], 1))
    assert not np.array_equal(curve.nested_order(ids, 1), curve.nested_order(ids, 2))


def test_bad_seeds_minutes_and_refit_are_refused(tiny_data, tmp_path):
    config = tiny_config(tiny_data)
    with pytest.raises(ConfigError, match=r"^--seeds: 0 "):
        curve.plan_curve(config, tmp_path / "c", "6", seeds=0)
    with pytest.raises(ConfigError, match=r"^--minutes: -1"):
        curve.plan_curve(config, tmp_path / "c", "6", minutes=-1)
    with pytest.raises(ConfigError, match="'refit'"):
        curve.plan_curve(config.replace(refit=True), tmp_path / "c", "6")
    with pytest.raises(ConfigError, match="no test galaxies"):
        curve.plan_curve(config.replace(test_fraction=0.0), tmp_path / "c", "6")


@pytest.mark.parametrize(("sizes", "shown"), [("0,6", "--sizes: 0 "), ("6,x", "--sizes: 'x'"),
                                              ("6,25", "--sizes: 25 is more than the 24 training galaxies")])
def test_the_verb_rejects_a_bad_size_in_one_line_before_anything_is_written(tiny_data, tmp_path, capsys, sizes, shown):
    parameters = write_parameters(tmp_path / "tiny.yaml", tiny_data)
    out = tmp_path / "curve"
    assert cli.main(["curve", "-f", str(parameters), "--sizes", sizes, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {shown}") and err.count("\n") == 1
    assert not out.exists()


# --- the verb end to end (trains) ------------------------------------------------------------------------------


def snapshot(root):
    """Every file under ``root`` with its modification time and size."""
    return {p.relative_to(root): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def interrupted_then_made_curve(tiny_data, tmp_path_factory):
    """`curve` over sizes 6 and all (24) with 2 seeds, 1 epoch each: 4 points, made as a user
    interrupted once would: the first command gets Ctrl-C as its second point starts, and the same
    command again finishes the curve. Returns ``(curve folder, argv, what the interruption left)``:
    the exit status, curve.csv's sizes after it, what the second command printed and curve.csv's
    sizes after that (the module's later tests change the folder)."""
    from galaxy_lib.model import train

    root = tmp_path_factory.mktemp("curve-run")
    parameters = write_parameters(root / "tiny.yaml", tiny_data)
    out = root / "curve"
    argv = ["curve", "-f", str(parameters), "--sizes", "6,all", "--seeds", "2", "--minutes", "5", "--out", str(out)]
    real_train, calls = train.train, []

    def train_then_interrupt(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C as the second point starts
        return real_train(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "train", train_then_interrupt)
        status = cli.main(argv)
    sizes = pd.read_csv(out / "curve.csv")["n_train"].tolist() if (out / "curve.csv").is_file() else None
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(argv) == 0
    finished = pd.read_csv(out / "curve.csv")["n_train"].tolist()
    return out, argv, {"status": status, "sizes": sizes, "printed": printed.getvalue(), "finished": finished}


@pytest.fixture(scope="module")
def made_curve(interrupted_then_made_curve):
    """The finished 4-point curve of ``interrupted_then_made_curve``: ``(curve folder, argv)``."""
    out, argv, _ = interrupted_then_made_curve
    return out, argv


@pytest.mark.slow
def test_points_are_ordinary_runs_on_nested_subsets_with_one_test_set(made_curve, tiny_data):
    out, _ = made_curve
    shared = split.load_split(out / "split.csv")
    order = pd.read_csv(out / "train_order.csv")["GalaxyID"].to_numpy()
    assert sorted(order.tolist()) == split.ids_of(shared, "train").tolist()
    for seed in (5, 6):
        small, full = (split.load_split(out / curve.point_name(n, seed) / "split.csv") for n in (6, 24))
        assert set(split.ids_of(small, "train").tolist()) == set(order[:6].tolist())
        assert set(split.ids_of(small, "train").tolist()) < set(split.ids_of(full, "train").tolist())
        for name in ("val", "test"):
            assert np.array_equal(split.ids_of(small, name), split.ids_of(shared, name))
            assert np.array_equal(split.ids_of(full, name), split.ids_of(shared, name))
        for n in (6, 24):
            folder = out / curve.point_name(n, seed)
            assert (folder / "best.keras").is_file() and (folder / "history.csv").is_file()
            saved = Config(**{**tiny_config(tiny_data).to_dict(), "seed": seed, "time_limit_minutes": 5.0})
            assert curve.RunFolder(folder).load_config() == saved  # only the seed and the budget differ
    # seeds vary training, not the galaxies
    seed5, seed6 = (split.load_split(out / name / "split.csv") for name in ("n00006-seed5", "n00006-seed6"))
    assert seed5.equals(seed6)


@pytest.mark.slow
def test_curve_csv_has_one_row_per_point_with_the_subsets_own_mean_predictor(made_curve, tiny_data):
    out, _ = made_curve
    frame = pd.read_csv(out / "curve.csv")
    assert list(frame.columns) == list(curve.CURVE_COLUMNS)
    assert list(zip(frame["n_train"], frame["seed"], strict=True)) == [(6, 5), (6, 6), (24, 5), (24, 6)]
    assert (frame["epochs"] == 1).all() and (frame["n_test"] == 8).all() and (frame["n_val"] == 8).all()
    assert np.isfinite(frame[["minutes", "val_rmse", "test_rmse", "test_accuracy"]].to_numpy()).all()
    from galaxy_lib.data import dataset
    from galaxy_lib.evaluation import metrics

    data = dataset.load_dataset(tiny_data)
    shared = split.load_split(out / "split.csv")
    order = pd.read_csv(out / "train_order.csv")["GalaxyID"].to_numpy()
    _, y_test = data.subset(split.ids_of(shared, "test"))
    for n in (6, 24):
        _, y_train = data.subset(order[:n])
        expected = metrics.rmse(y_test, np.tile(y_train.mean(axis=0), (len(y_test), 1)))
        assert frame.loc[frame["n_train"] == n, "mean_rmse"].to_numpy() == pytest.approx(expected, rel=1e-6)
    assert (out / "learning_curve.png").is_file() and (out / "curve.json").is_file()
    assert not (out / "fit.json").exists()  # two sizes: no extrapolation
    setup = json.loads((out / "curve.json").read_text())
    assert setup["sizes"] == [6, 24] and setup["seeds"] == [5, 6] and setup["galaxies"] == {"train": 24, "val": 8,
                                                                                           "test": 8}


@pytest.mark.slow
def test_a_second_run_retrains_and_rewrites_nothing_in_the_points(made_curve, capsys):
    out, argv = made_curve
    before = {p.name: snapshot(p) for p in out.iterdir() if p.is_dir() and p.name.startswith("n")}
    rows = (out / "curve.csv").read_text()
    capsys.readouterr()
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("already complete") == 4 and "training\n" not in printed and "resuming" not in printed
    assert "point 4/4: 24 training galaxies, seed 6 (n00024-seed6): already complete" in printed
    assert {p.name: snapshot(p) for p in out.iterdir() if p.is_dir() and p.name.startswith("n")} == before
    assert (out / "curve.csv").read_text() == rows


@pytest.mark.slow
def test_a_deleted_point_alone_is_trained_again_with_the_same_result(made_curve, capsys):
    out, argv = made_curve
    before = pd.read_csv(out / "curve.csv")
    shutil.rmtree(out / "n00006-seed6")
    others = {p.name: snapshot(p) for p in out.iterdir() if p.is_dir() and p.name.startswith("n")}
    capsys.readouterr()
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("already complete") == 3
    assert "point 3/4: 6 training galaxies, seed 6 (n00006-seed6): training" in printed
    assert {name: snapshot(out / name) for name in others} == others
    after = pd.read_csv(out / "curve.csv")
    assert len(after) == 4
    # seeded, deterministic CPU training on the same galaxies: the same figures again
    for column in ("val_rmse", "test_rmse", "test_accuracy", "mean_rmse"):
        assert after[column].to_numpy() == pytest.approx(before[column].to_numpy(), abs=1e-6), column


@pytest.mark.slow
def test_a_changed_configuration_is_refused_before_anything_trains(made_curve, capsys):
    out, argv = made_curve
    before = snapshot(out)
    assert cli.main([*argv, "--set", "batch_size=4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "n00006-seed5" in err and "batch_size: 8 -> 4" in err
    assert snapshot(out) == before


@pytest.mark.slow
def test_another_test_time_averaging_rescores_without_training(made_curve, capsys):
    out, argv = made_curve
    points = {p.name: snapshot(p) for p in out.iterdir() if p.is_dir() and p.name.startswith("n")}
    capsys.readouterr()
    assert cli.main([*argv, "--set", "tta=flips"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("not retrained, scoring it") == 4
    assert {p.name: snapshot(p) for p in out.iterdir() if p.is_dir() and p.name.startswith("n")} == points
    assert (pd.read_csv(out / "curve.csv")["tta"] == "flips").all()


@pytest.mark.slow
def test_a_new_size_extends_the_curve_and_three_sizes_are_extrapolated(made_curve, capsys):
    out, argv = made_curve
    points = {p.name: snapshot(p) for p in out.iterdir() if p.is_dir() and p.name.startswith("n")}
    wider = [*argv]
    wider[wider.index("--sizes") + 1] = "6,12,all"
    capsys.readouterr()
    assert cli.main(wider) == 0
    printed = capsys.readouterr().out
    assert printed.count("already complete") == 4 and printed.count(": training\n") == 2
    assert {name: snapshot(out / name) for name in points} == points
    frame = pd.read_csv(out / "curve.csv")
    assert sorted(set(frame["n_train"])) == [6, 12, 24] and len(frame) == 6
    twelve = set(split.ids_of(split.load_split(out / "n00012-seed5" / "split.csv"), "train").tolist())
    order = pd.read_csv(out / "train_order.csv")["GalaxyID"].to_numpy()
    assert twelve == set(order[:12].tolist())
    fit = json.loads((out / "fit.json").read_text())
    assert fit["target"] == 61_578 and fit["fit"]["sizes"] == [6, 12, 24] and fit["low"] <= fit["high"]
    assert (out / "extrapolation.png").is_file() and "power law: RMSE = " in printed


@pytest.mark.slow
def test_an_interrupted_curve_keeps_its_finished_points_and_resumes(interrupted_then_made_curve):
    _, _, interrupted = interrupted_then_made_curve  # the module's curve, interrupted once as it was made
    assert interrupted["status"] == 130
    assert interrupted["sizes"] == [6]  # written after every point
    printed = interrupted["printed"]
    assert "point 1/4: 6 training galaxies, seed 5 (n00006-seed5): already complete" in printed
    assert "point 2/4: 24 training galaxies, seed 5 (n00024-seed5): training" in printed
    assert printed.count("already complete") == 1 and printed.count(": training\n") == 3
    assert interrupted["finished"] == [6, 6, 24, 24]


# --- the power law --------------------------------------------------------------------------------------------

TRUTH = power_law.PowerLaw(c=0.08, a=0.5, b=0.4)
SIZES = np.array([100, 200, 400, 800, 1600, 3200])


def test_the_fit_recovers_a_known_law_from_noiseless_points():
    fit = power_law.fit_power_law(SIZES, TRUTH(SIZES))
    assert (fit.law.c, fit.law.a, fit.law.b) == pytest.approx((0.08, 0.5, 0.4), rel=1e-4)
    assert fit.residual_rmse < 1e-7 and fit.at_bounds == ()
    assert fit.law(61_578) == pytest.approx(TRUTH(61_578), rel=1e-5)


def test_the_fit_and_its_bootstrap_interval_cover_a_known_law_from_noisy_points():
    rng = np.random.default_rng(11)
    n = np.repeat(SIZES, 2)  # two seeds per size
    rmse = TRUTH(n) + rng.normal(0, 0.0015, len(n))
    result = power_law.extrapolate(n, rmse, n_boot=300, seed=0)
    truth = TRUTH(power_law.KAGGLE_TRAINING_GALAXIES)
    assert result.target == power_law.KAGGLE_TRAINING_GALAXIES
    assert result.low <= truth <= result.high
    assert result.low <= result.prediction <= result.high
    assert abs(result.prediction - truth) < 0.01
    inside = (result.band_low <= TRUTH(result.grid)) & (TRUTH(result.grid) <= result.band_high)
    assert inside.mean() > 0.9
    assert result.grid.min() < SIZES.min() and result.grid.max() > result.target
    again = power_law.extrapolate(n, rmse, n_boot=300, seed=0)
    assert (again.low, again.high) == (result.low, result.high)  # seeded
    assert "at 61,578 galaxies" in result.summary() and json.dumps(result.to_dict())


def test_a_fit_needs_three_distinct_sizes():
    with pytest.raises(DataError, match=r"at least 3 distinct training-set sizes, got 2 \(150, 300\)"):
        power_law.fit_power_law([150, 150, 300, 300], [0.13, 0.131, 0.12, 0.121])
    with pytest.raises(DataError, match="point 2"):
        power_law.fit_power_law([150, -1, 300, 600], [0.13, 0.12, 0.11, 0.1])


def test_a_flat_or_rising_curve_is_fitted_within_bounds_and_says_so():
    fit = power_law.fit_power_law([100, 200, 400, 800], [0.10, 0.101, 0.102, 0.103])
    assert fit.law.a == pytest.approx(0.0, abs=1e-9) and "a" in fit.at_bounds
    assert fit.law(61_578) == pytest.approx(0.1015, abs=1e-3)  # the mean: no improvement is extrapolated


# --- outputs and figures --------------------------------------------------------------------------------------


def synthetic_curve() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = [{"n_train": n, "seed": s, "epochs": 10, "minutes": 1.0, "val_rmse": np.nan,
             "test_rmse": TRUTH(n) + rng.normal(0, 0.001), "test_accuracy": 0.7, "mean_rmse": 0.16, "n_val": 10,
             "n_test": 50, "tta": "none", "stopped": "reached 10 epochs", "run": curve.point_name(n, s)}
            for n in (150, 300, 600, 1200) for s in (0, 1)]
    return curve.curve_frame(rows)


def test_outputs_and_figures_of_a_curve(tmp_path):
    frame = synthetic_curve()
    curve.write_outputs(tmp_path, frame, note="1 min per point")
    assert curve.read_curve(tmp_path).shape == frame.shape and (tmp_path / "learning_curve.png").is_file()
    result = curve.write_extrapolation(tmp_path, frame, n_boot=50)
    stored = json.loads((tmp_path / "fit.json").read_text())
    assert stored["prediction"] == pytest.approx(result.prediction) and stored["target"] == 61_578
    assert (tmp_path / "extrapolation.png").stat().st_size > 10_000
    fig = figures.learning_curve_extrapolation(frame, result)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    for name in figures.LEARNING_CURVE_REFERENCES:
        assert f"{name}: {KAGGLE_ANCHORS[name]:.4f} (Kaggle's test set)" in labels
    assert any(label.startswith("extrapolated to 61,578") for label in labels)
    # the synthetic check: fit on small sizes, draw larger measured ones apart, extrapolate to one of them
    small = power_law.extrapolate(frame["n_train"], frame["test_rmse"], target=20_000, n_boot=20)
    check = figures.learning_curve_extrapolation(
        frame, small, unfitted=pd.DataFrame({"n_train": [10_000, 20_000], "test_rmse": TRUTH([10_000, 20_000])}))
    labels = [t.get_text() for t in check.legends[0].get_texts()]
    assert "measured, not used in the fit" in labels
    assert any(label.startswith("extrapolated to 20,000") for label in labels)
    assert KAGGLE_ANCHORS["Kaggle winner (private LB)"] == 0.07492
    assert KAGGLE_ANCHORS["Kaggle 2nd place (private LB)"] == 0.07752
    with pytest.raises(DataError, match="missing column"):
        (tmp_path / "bad.csv").write_text("n_train,seed\n1,0\n")
        curve.read_curve(tmp_path / "bad.csv")
