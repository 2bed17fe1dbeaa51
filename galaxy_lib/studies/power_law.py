"""Extrapolating a learning curve: a saturating power law, fitted and bootstrapped.

A learning curve (:mod:`galaxy_lib.studies.curve`) measures held-out RMSE at a few training-set
sizes N. To say what the same method would reach with Kaggle's 61,578 training galaxies, this module
fits the usual saturating power law

    RMSE(N) = c + a * N**(-b)        (c >= 0: the floor; a >= 0, b > 0: how fast the excess falls)

with :func:`scipy.optimize.curve_fit`, and bootstraps it over the measured points.

**Why it cannot fail silently.** Three parameters fitted to a handful of noisy points is a small
non-linear problem with a long, flat valley (a larger floor ``c`` with a steeper ``b`` can fit as
well as a lower floor with a flatter one). So: (1) fewer than 3 distinct sizes is a
:class:`~galaxy_lib.errors.DataError`, not a fit through 2 points; (2) N is scaled by the largest
size, so the parameters are of similar magnitude; (3) the initial values come from a grid over
``b`` on which ``c`` and the excess are solved exactly by least squares (the model is linear in
them), so ``curve_fit`` starts in the right valley, and the better of the grid and ``curve_fit`` is
kept; (4) bounds keep the law saturating and decreasing (``0 <= c <= max RMSE``, ``a >= 0``,
:data:`B_BOUNDS` for ``b``), and a parameter that ends on a bound is reported
(:attr:`PowerLawFit.at_bounds`) instead of hidden; (5) a ``curve_fit`` failure is a
:class:`~galaxy_lib.errors.DataError` naming the points, never a fallback.

**What the interval means.** :func:`extrapolate` resamples the measured points with replacement
(case bootstrap: seeds *and* sizes, so it covers both the seed-to-seed scatter and how much the
extrapolation hangs on a single size) and refits; the band and the interval at the target are
percentiles of the refitted curves. It is the uncertainty of *this fit to these points*; it does not
include the risk that the power law itself stops holding beyond the measured sizes. The issue's
synthetic validation (fit on small N, compare with measured points at large N) is what tests that.

No TensorFlow here: notebooks and reports can fit a stored ``curve.csv`` quickly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from galaxy_lib.errors import DataError
from galaxy_lib.evaluation.metrics import percentile_interval
from galaxy_lib.kaggle import TRAINING_GALAXIES

KAGGLE_TRAINING_GALAXIES = TRAINING_GALAXIES
"""Galaxies in Kaggle's ``training_solutions_rev1.csv`` (``../shared/docs/galaxy-zoo-facts.md``): the
default target of :func:`extrapolate`. The leaderboard RMSEs that go with it are
:data:`galaxy_lib.evaluation.baselines.KAGGLE_ANCHORS`."""

MIN_SIZES = 3
"""Distinct training-set sizes a fit needs: the law has three parameters."""
B_BOUNDS = (0.01, 3.0)
"""Allowed exponent ``b``: learning curves of neural networks fall with exponents of about 0.05 to 1;
below 0.01 the law is flat over any range of sizes, above 3 it would be a step."""
_B_GRID = np.geomspace(*B_BOUNDS, 80)


@dataclass(frozen=True)
class PowerLaw:
    """``rmse(N) = c + a * N**(-b)``."""

    c: float
    a: float
    b: float

    def __call__(self, n: Any) -> np.ndarray | float:
        values = self.c + self.a * np.power(np.asarray(n, dtype=np.float64), -self.b)
        return float(values) if np.ndim(values) == 0 else values

    def formula(self, digits: int = 4) -> str:
        """E.g. ``RMSE = 0.0812 + 0.5 N^-0.41``."""
        return f"RMSE = {self.c:.{digits}f} + {self.a:.3g} N^-{self.b:.2f}"


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted :class:`PowerLaw` and the points it was fitted to."""

    law: PowerLaw
    n: np.ndarray  # the training-set sizes of the points
    rmse: np.ndarray  # their measured RMSE
    residual_rmse: float  # root-mean-square distance of the points from the law
    at_bounds: tuple[str, ...] = ()  # parameters that ended on a bound ('c', 'a', 'b'): the data do not pin them

    @property
    def sizes(self) -> np.ndarray:
        """The distinct sizes, ascending."""
        return np.unique(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {"c": self.law.c, "a": self.law.a, "b": self.law.b, "formula": self.law.formula(),
                "points": len(self.n), "sizes": [int(s) for s in self.sizes],
                "residual_rmse": self.residual_rmse, "at_bounds": list(self.at_bounds)}


@dataclass(frozen=True)
class Extrapolation:
    """A fit, its bootstrap band over ``grid`` and its prediction at ``target`` with an interval."""

    fit: PowerLawFit
    target: int
    prediction: float  # the fit at `target`
    low: float  # the interval at `target` (percentiles of the bootstrap fits)
    high: float
    level: float  # e.g. 0.95
    grid: np.ndarray  # sizes at which the band is given (log-spaced, from below the smallest size to the target)
    curve: np.ndarray  # the fit on `grid`
    band_low: np.ndarray
    band_high: np.ndarray
    n_boot: int
    seed: int
    boot_params: np.ndarray = field(repr=False)  # (n_boot, 3): c, a, b of every bootstrap fit
    redraws: int = 0  # resamples drawn again because they held fewer than MIN_SIZES distinct sizes

    def summary(self) -> str:
        """One line, e.g. ``RMSE = 0.0812 + 0.5 N^-0.41; at 61,578 galaxies: 0.0851 (95% interval 0.0790-0.0920)``."""
        bounds = f"; on a bound: {', '.join(self.fit.at_bounds)}" if self.fit.at_bounds else ""
        return (f"{self.fit.law.formula()} (fitted to {len(self.fit.n)} points at {len(self.fit.sizes)} sizes"
                f"{bounds}); at {self.target:,} galaxies: {self.prediction:.4f} "
                f"({self.level:.0%} bootstrap interval {self.low:.4f}-{self.high:.4f}, {self.n_boot} resamples)")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (``fit.json`` of a curve folder)."""
        return {"fit": self.fit.to_dict(), "target": self.target, "prediction": self.prediction,
                "low": self.low, "high": self.high, "level": self.level, "n_boot": self.n_boot, "seed": self.seed,
                "redraws": self.redraws, "summary": self.summary()}


def _check_points(n: Any, rmse: Any) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(n, dtype=np.float64).reshape(-1)
    rmse = np.asarray(rmse, dtype=np.float64).reshape(-1)
    if len(n) != len(rmse):
        raise ValueError(f"{len(n)} sizes but {len(rmse)} RMSE values")
    bad = ~(np.isfinite(n) & (n > 0) & np.isfinite(rmse) & (rmse >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"learning-curve point {i + 1} (N={n[i]:g}, RMSE={rmse[i]:g}): sizes must be positive "
                        "and RMSE finite and not negative")
    sizes = np.unique(n)
    if len(sizes) < MIN_SIZES:
        shown = ", ".join(f"{s:,.0f}" for s in sizes) or "none"
        raise DataError(f"a saturating power law c + a*N^-b has 3 parameters: it needs at least {MIN_SIZES} distinct "
                        f"training-set sizes, got {len(sizes)} ({shown}); measure more sizes (--sizes)")
    return n, rmse


def _scaled(x: np.ndarray, c: float, excess: float, b: float) -> np.ndarray:
    """The law in scaled form: ``x = N / N_ref`` and ``excess = a * N_ref**-b`` (the part above the
    floor at the largest size), so that all three parameters are of order one."""
    return c + excess * np.power(x, -b)


def _grid_start(x: np.ndarray, y: np.ndarray, top: float) -> tuple[float, float, float]:
    """Least-squares ``(c, excess)`` for every ``b`` of a grid (exact: the law is linear in them),
    inside the bounds; returns the best triple, a start in the right valley for ``curve_fit``."""
    basis = np.power(x[None, :], -_B_GRID[:, None])  # (grid, points)
    mean_basis, mean_y = basis.mean(axis=1), y.mean()
    centred = basis - mean_basis[:, None]
    spread = (centred**2).sum(axis=1)
    excess = np.where(spread > 0, (centred * (y - mean_y)).sum(axis=1) / np.maximum(spread, 1e-300), 0.0)
    c = mean_y - excess * mean_basis
    # Outside the bounds, the best point lies on them: refit the remaining parameter there.
    negative_excess = excess < 0
    excess[negative_excess], c[negative_excess] = 0.0, mean_y
    floor_hit = c < 0
    excess[floor_hit] = np.maximum((basis[floor_hit] * y).sum(axis=1) / (basis[floor_hit] ** 2).sum(axis=1), 0.0)
    c[floor_hit] = 0.0
    c = np.minimum(c, top)
    sse = ((c[:, None] + excess[:, None] * basis - y) ** 2).sum(axis=1)
    best = int(np.argmin(sse))
    return float(c[best]), float(excess[best]), float(_B_GRID[best])


def _fit_scaled(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """``(c, excess, b)`` and the sum of squared residuals; raises RuntimeError/ValueError from curve_fit."""
    top = float(y.max())
    lower = [0.0, 0.0, B_BOUNDS[0]]
    upper = [max(top, 1e-12), np.inf, B_BOUNDS[1]]
    start = np.clip(np.array(_grid_start(x, y, top)), lower, upper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)  # covariance of a flat valley: the bootstrap measures it
        params, _ = curve_fit(_scaled, x, y, p0=start, bounds=(lower, upper), method="trf", maxfev=20_000)
    candidates = [np.asarray(params, dtype=np.float64), start]
    sses = [float(((_scaled(x, *p) - y) ** 2).sum()) for p in candidates]
    best = int(np.argmin(sses))
    return candidates[best], sses[best]


def _unscale(params: np.ndarray, reference: float) -> PowerLaw:
    c, excess, b = (float(v) for v in params)
    return PowerLaw(c=c, a=excess * reference**b, b=b)


def fit_power_law(n: Sequence[float] | np.ndarray, rmse: Sequence[float] | np.ndarray) -> PowerLawFit:
    """Fit ``rmse = c + a * n**-b`` to the points (one per size and seed; repeated sizes are fine and
    weigh as the replicates they are). Fewer than :data:`MIN_SIZES` distinct sizes, or a point that is
    not a positive size with a finite RMSE, is a :class:`~galaxy_lib.errors.DataError`; see the module
    docstring for how the fit is kept from failing silently."""
    n, rmse = _check_points(n, rmse)
    reference = float(n.max())
    try:
        params, sse = _fit_scaled(n / reference, rmse)
    except (RuntimeError, ValueError) as exc:
        points = ", ".join(f"{a:,.0f}: {b:.4f}" for a, b in zip(n, rmse, strict=True))
        raise DataError(f"the power-law fit did not converge on the points ({points}): {exc}") from None
    law = _unscale(params, reference)
    tol = 1e-6
    at_bounds = tuple(name for name, hit in (
        ("c", law.c <= tol or law.c >= float(rmse.max()) - tol),
        ("a", law.a <= tol),
        ("b", law.b <= B_BOUNDS[0] * (1 + 1e-3) or law.b >= B_BOUNDS[1] * (1 - 1e-3)),
    ) if hit)
    return PowerLawFit(law=law, n=n, rmse=rmse, residual_rmse=math.sqrt(sse / len(n)), at_bounds=at_bounds)


def extrapolate(
    n: Sequence[float] | np.ndarray,
    rmse: Sequence[float] | np.ndarray,
    *,
    target: int = KAGGLE_TRAINING_GALAXIES,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    grid_points: int = 60,
) -> Extrapolation:
    """Fit the law to all points, then ``n_boot`` times to a resample of the points drawn with
    replacement (a resample with fewer than :data:`MIN_SIZES` distinct sizes is drawn again and
    counted in :attr:`Extrapolation.redraws`); the band over a log-spaced grid of sizes and the
    interval at ``target`` are the central ``level`` of the bootstrap fits. Seeded: the same points
    and ``seed`` give the same interval. A resample whose fit fails (it should not: see the module
    docstring) is a :class:`~galaxy_lib.errors.DataError` rather than a silently thinner bootstrap."""
    fit = fit_power_law(n, rmse)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if target <= 0:
        raise ValueError(f"target must be a positive number of galaxies, got {target}")
    x, y = fit.n, fit.rmse
    reference = float(x.max())
    grid = np.geomspace(min(float(x.min()) / 1.5, target), max(target * 1.5, float(x.max()) * 1.5), grid_points)
    rng = np.random.default_rng(seed)
    params = np.empty((n_boot, 3))
    redraws = 0
    for i in range(n_boot):
        for _ in range(1000):
            pick = rng.integers(0, len(x), len(x))
            if len(np.unique(x[pick])) >= MIN_SIZES:
                break
            redraws += 1
        else:  # pragma: no cover - needs points where 3 sizes almost never come together
            raise DataError("the bootstrap could not draw resamples with 3 distinct sizes; measure more points")
        try:
            scaled, _ = _fit_scaled(x[pick] / reference, y[pick])
        except (RuntimeError, ValueError) as exc:  # pragma: no cover - see the module docstring
            raise DataError(f"bootstrap resample {i + 1}: the power-law fit did not converge ({exc})") from None
        law = _unscale(scaled, reference)
        params[i] = (law.c, law.a, law.b)
    curves = params[:, [0]] + params[:, [1]] * np.power(grid[None, :], -params[:, [2]])
    at_target = params[:, 0] + params[:, 1] * np.power(float(target), -params[:, 2])
    band_low, band_high = percentile_interval(curves, level, axis=0)
    low, high = percentile_interval(at_target, level)
    return Extrapolation(
        fit=fit, target=int(target), prediction=float(fit.law(target)), low=float(low), high=float(high),
        level=level, grid=grid, curve=np.asarray(fit.law(grid)), band_low=band_low, band_high=band_high,
        n_boot=n_boot, seed=seed, boot_params=params, redraws=redraws,
    )


__all__ = [
    "B_BOUNDS",
    "KAGGLE_TRAINING_GALAXIES",
    "MIN_SIZES",
    "Extrapolation",
    "PowerLaw",
    "PowerLawFit",
    "extrapolate",
    "fit_power_law",
]
