"""Kaggle's layout of *Galaxy Zoo - The Galaxy Challenge*, named once.

The folder and file names the download uses are an agreement between the reader
(:mod:`galaxy_lib.data`), the synthetic sky that imitates it (:mod:`galaxy_lib.synth`), prediction
and the benchmarks. They live here, in the core with no imports of the package, so that every
stage can use them without importing another stage.

A data set is ``training_solutions_rev1.csv`` (GalaxyID + 37 vote fractions) and
``images_training_rev1/<GalaxyID>.jpg`` (424x424 JPEGs), optionally ``images_test_rev1/``; Kaggle
ships each as a zip (``images_training_rev1.zip`` with the folder inside,
``training_solutions_rev1.csv.zip``, ``images_test_rev1.zip``), and some mirrors name the labels'
zip ``training_solutions_rev1.zip``.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SIDE = 424
"""Every Kaggle image is 424x424 pixels; crops are taken from its centre."""

TRAINING_IMAGES = "images_training_rev1"
TEST_IMAGES = "images_test_rev1"
LABELS_NAME = "training_solutions_rev1"
LABELS_FILE = f"{LABELS_NAME}.csv"
LABEL_FILES = (LABELS_FILE, f"{LABELS_NAME}.csv.zip", f"{LABELS_NAME}.zip")
"""Where a data-set root may hold its labels, in the order they are looked for."""

TRAINING_ZIP = f"{TRAINING_IMAGES}.zip"
TEST_ZIP = f"{TEST_IMAGES}.zip"
LABELS_ZIP = f"{LABELS_FILE}.zip"
"""The three zips as Kaggle ships them."""


def has_labels(root: Path) -> bool:
    """Whether a data folder already holds its labels, as a CSV or zipped as Kaggle ships them
    (a set written as zips counts: it is not generated again)."""
    return any((Path(root) / name).is_file() for name in LABEL_FILES)

TRAINING_GALAXIES = 61_578
"""Labelled galaxies in Kaggle's ``training_solutions_rev1.csv``: the size a learning curve extrapolates to."""
