"""The learning curve's extrapolation refitted without its smallest sizes (issue 30): what the docs'
data-or-method paragraph quotes beside the full fit. Cheap: a few points, a small bootstrap."""

from __future__ import annotations

import pytest

from galaxy_lib.studies.curve_analysis import without_smallest
from galaxy_lib.studies.power_law import extrapolate


def points(law=(0.05, 0.4, 0.3), sizes=(100, 200, 400, 800, 1600), bend: float = 0.0) -> list[dict]:
    """Two seeds a size on ``c + a N^-b``; ``bend`` lifts the smallest size, as a law that does not hold there."""
    c, a, b = law
    return [{"n_train": n, "seed": s, "test_rmse": c + a * n ** -b + (bend if n == sizes[0] else 0.0) + 1e-4 * s}
            for n in sizes for s in (0, 1)]


def test_the_refits_leave_out_the_smallest_sizes_one_then_two():
    refits = without_smallest(points(), n_boot=40)
    assert [x["left_out"] for x in refits] == [[100], [100, 200]]
    full = extrapolate([p["n_train"] for p in points()], [p["test_rmse"] for p in points()], n_boot=40)
    for x in refits:  # a law that holds everywhere: leaving points out barely moves it
        assert x["prediction"] == pytest.approx(full.prediction, abs=0.003) and x["low"] <= x["high"]
        assert x["target"] == 61_578 and x["n_boot"] == 40


def test_a_smallest_size_off_the_law_moves_the_level():
    bent = points(bend=0.02)
    full = extrapolate([p["n_train"] for p in bent], [p["test_rmse"] for p in bent], n_boot=40)
    first = without_smallest(bent, most=1, n_boot=40)[0]
    assert abs(first["fit"]["c"] - full.fit.law.c) > 0.005  # what the docs' paragraph shows the reader


def test_no_refit_when_fewer_than_three_sizes_would_remain():
    assert without_smallest(points(sizes=(100, 200, 400)), n_boot=20) == []
    assert [x["left_out"] for x in without_smallest(points(sizes=(100, 200, 400, 800)), n_boot=20)] == [[100]]
