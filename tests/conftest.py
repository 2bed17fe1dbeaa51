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


def write_kaggle_folder(root: Path, n: int = 12, seed: int = 0, size: int = 424, first_id: int = 100000) -> Path:
    """A tiny, tree-consistent Kaggle-layout data set of random-blob JPEGs (no synth needed).

    Labels are drawn per question from a Dirichlet and multiplied down the tree, and the
    image brightness tracks Class1.1 so that a model can learn *something* from pixels.
    """
    import cv2
    import numpy as np
    import pandas as pd

    from galaxy_lib import tree

    labels = tree.random_vote_fractions(n, seed)
    rng = np.random.default_rng(seed + 1)  # image noise
    ids = np.arange(first_id, first_id + n)
    images = root / "images_training_rev1"
    images.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    r2 = (yy - size / 2) ** 2 + (xx - size / 2) ** 2
    for gid, row in zip(ids, labels, strict=True):
        blob = np.exp(-r2 / (2 * (size / 12) ** 2))[..., None] * (60 + 180 * row[0])
        noise = rng.normal(0, 6, (size, size, 3))
        img = np.clip(blob * np.array([0.8, 0.9, 1.0]) + noise + 10, 0, 255).astype(np.uint8)
        cv2.imwrite(str(images / f"{gid}.jpg"), img)
    df = pd.DataFrame(labels, columns=list(tree.ANSWER_COLUMNS))
    df.insert(0, tree.ID_COLUMN, ids)
    df.to_csv(root / "training_solutions_rev1.csv", index=False)
    return root


@pytest.fixture
def kaggle_folder(tmp_path) -> Path:
    """12 random galaxies in Kaggle layout under a temporary folder."""
    return write_kaggle_folder(tmp_path / "kaggle")
