"""The one reader of stored results (galaxy_lib.results): validation, key paths, provenance, the
machine, and a missing result told apart from a malformed one. Cheap: a few JSON files in tmp."""

from __future__ import annotations

import json
import re

import pytest

from galaxy_lib.results import (
    MEASURED,
    NAME,
    MissingResult,
    Result,
    ResultError,
    Results,
    load_results,
    same_host,
)

MACHINE = {"cpu_model": "AMD EPYC", "cores": 2, "load_average": 1.9, "platform": "Linux-6.18-a",
           "git_commit": "abcdef0123"}


def record(name: str, **changes) -> dict:
    data = {"schema": 1, "name": name, "benchmark": "bench_" + name.split("-")[0], "command": f"python x {name}",
            "date": "2026-12-01", "machine": dict(MACHINE), "setup": {"sizes": {"128": {"crop": 207}}},
            "figures": {"test_rmse": 0.10234, "rows": [{"rmse": 0.2}, {"rmse": 0.1}],
                        "test": {"training mean": {"rmse": 0.1612}}},
            "provenance": MEASURED}
    data.update(changes)
    return data


@pytest.fixture
def folder(tmp_path):
    for name in ("quality-a", "quality-b", "train-c"):
        (tmp_path / f"{name}.json").write_text(json.dumps(record(name)))
    return tmp_path


def test_a_folder_loads_by_name_and_key_paths_reach_every_figure(folder):
    results = load_results(folder)
    assert list(results) == ["quality-a", "quality-b", "train-c"]
    a = results["quality-a"]
    assert a.lookup("figures.test.training mean.rmse") == 0.1612
    assert a.lookup("figures.rows.-1.rmse") == 0.1 and a.lookup("figures.rows.0.rmse") == 0.2
    assert a.lookup("setup.sizes.128.crop") == 207  # a digit key of a dict stays a key
    assert a.lookup(["figures", "test_rmse"]) == results.lookup("quality-a", "figures.test_rmse")
    assert a["figures"]["test_rmse"] == a.figures["test_rmse"] and a.command == "python x quality-a"
    assert [r.name for r in results.named("quality-")] == ["quality-a", "quality-b"]


def test_a_missing_key_names_the_file_and_what_is_there(folder):
    a = load_results(folder)["quality-a"]
    with pytest.raises(ResultError, match=r"^quality-a\.json: no figures\.tset_rmse \(figures has keys test_rmse"):
        a.lookup("figures.tset_rmse")
    with pytest.raises(ResultError, match="no figures.rows.5"):
        a.lookup("figures.rows.5")


def test_a_missing_result_is_a_reason_and_a_malformed_one_an_error(folder, tmp_path):
    results = load_results(folder)
    assert results.reason("quality-a") is None
    assert "not measured yet: `quality-z.json`" in results.reason("quality-z")
    with pytest.raises(MissingResult, match="quality-z.json") as caught:
        results.require("quality-z")
    assert "not measured yet" in caught.value.reason
    assert len(load_results(tmp_path / "nowhere")) == 0  # no folder: nothing measured yet, not an error
    cases = {"{not json": "not valid JSON", json.dumps([1]): "not a result record",
             json.dumps({"name": "bad-x"}): "missing key(s) schema",
             json.dumps(record("other-x")): "name 'other-x' differs"}
    for text, problem in cases.items():
        (folder / "bad-x.json").write_text(text)
        with pytest.raises(ResultError, match=f"bad-x.json: {re.escape(problem)}") as caught:
            load_results(folder)
        assert "\n" not in str(caught.value)


def test_provenance_and_the_machine_are_read_from_the_file():
    measured = Result(record("quality-a"))
    backfilled = Result(record("quality-b", provenance="backfilled from README.md at commit x", machine={"cores": 2}))
    assert not measured.backfilled and backfilled.backfilled
    assert measured.cpu == "AMD EPYC, 2 cores" and backfilled.cpu == "not recorded (backfilled)"
    assert measured.load == 1.9 and backfilled.load is None
    assert measured.host == "AMD EPYC, 2 cores; platform Linux-6.18-a"
    timed = Result(record("quality-c", machine={**MACHINE, "model_img_s": 863.2,
                                                 "platform": "Linux-6.18.44-fc-v1300-x86_64-with-glibc2.36"}))
    assert timed.model_speed == "863 img/s" and timed.kernel == "6.18.44-fc-v1300"
    assert timed.cpu == "AMD EPYC, 2 cores, kernel 6.18.44-fc-v1300, model alone 863 img/s"  # the host, not the family


def test_figures_are_compared_only_within_one_host():
    a = Result(record("quality-a"))
    same = Result(record("quality-b"))
    other_host = Result(record("quality-c", machine={**MACHINE, "platform": "Linux-6.18-b"}))
    unrecorded = Result(record("quality-d", machine={"cores": 2}))
    assert same_host(a, same) and a.same_host(same)
    assert not same_host(a, other_host) and not same_host(a, unrecorded) and not same_host(unrecorded, unrecorded)
    fast, near, slow = (Result(record(f"quality-{n}", machine={**MACHINE, "model_img_s": speed}))
                        for n, speed in (("e", 1000.0), ("f", 1400.0), ("g", 1600.0)))
    assert same_host(fast, near) and same_host(fast, a)  # within 1.5x; an older file without a speed
    assert not same_host(fast, slow)  # one CPU name and platform, but 1.6x apart: two hosts


def test_planted_dicts_are_results_and_names_are_checked():
    results = Results({"quality-a": record("quality-a")})
    results["quality-b"] = record("quality-b")
    assert isinstance(results["quality-b"], Result) and results["quality-b"].name == "quality-b"
    assert NAME.fullmatch("improved-augment_shift=0") and not NAME.fullmatch("-x") and not NAME.fullmatch("a b")
