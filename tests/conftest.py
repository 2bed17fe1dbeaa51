"""Shared fixtures. Real-data tests use ../shared/data/galaxy-zoo-sample (or $GALAXY_SAMPLE)
and skip cleanly when it is absent; the data is read in place, never copied into the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(os.environ.get("GALAXY_SAMPLE", REPO.parent / "shared" / "data" / "galaxy-zoo-sample"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The shared real Kaggle sample (3,399 galaxies); skips the test when it is absent."""
    if not (SAMPLE / "training_solutions_rev1.csv").is_file():
        pytest.skip(f"real Galaxy Zoo sample not found at {SAMPLE}")
    return SAMPLE
