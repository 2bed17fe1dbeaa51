"""Shared fixtures. Real-data tests use ../shared/data/galaxy-zoo-sample (or $GALAXY_SAMPLE)
and skip cleanly when it is absent; the data is read in place, never copied into the repo."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# TensorFlow, pandas and Jupyter leave half a million objects alive, which Python's default collector
# (700, 10, 10) rescans again and again while hundreds of small models are built: a larger first
# threshold took `make test-fast` from 35.2 s to 30.7 s on a 2-core AMD EPYC (CPU 66 s -> 58 s).
gc.set_threshold(50_000, 20, 100)
# A developer running `make test STUDENT=...` (or with GALAXY_LIB_STUDENT in the shell) must not change
# every configuration the tests load: the student's seed would train other models than the tests expect.
os.environ.pop("GALAXY_LIB_STUDENT", None)
# The benchmarks the tests run are about the code, not the machine: no model-alone calibration (about 10 s
# a benchmark, benchmarks/calibration.py); tests/test_calibration.py tests it with a fake measurement.
os.environ["GALAXY_CALIBRATION"] = "off"


def worker_cpus(worker: str | None, workers: int, cpus: list[int]) -> list[int] | None:
    """The CPUs pytest-xdist worker ``worker`` (``gw0``, ``gw1``...) is pinned to: every ``workers``-th
    one of ``cpus``, or None (not pinned) outside xdist or with more workers than CPUs.

    Each test process sizes TensorFlow's and tf.data's threads to the cores it may use
    (``galaxy_lib.tf_setup.usable_cores`` reads the affinity), and the kernels and command-line
    processes a test starts inherit it. Unpinned, two workers on two cores each ran two intra-op
    threads, four threads fighting for two cores through every training test.
    """
    if not worker or not worker.startswith("gw") or workers < 2 or len(cpus) < workers:
        return None
    return cpus[int(worker[2:]) :: workers]


@contextlib.contextmanager
def all_cores() -> Iterator[None]:
    """This process (and what it starts inside the block) unpinned from its worker's cores, then pinned
    again: for a test whose processes mostly wait on each other (JupyterLab, Chromium and a kernel),
    which one core would serialise."""
    if not hasattr(os, "sched_getaffinity"):
        yield
        return
    pinned = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, _ALL_CPUS)
        yield
    finally:
        os.sched_setaffinity(0, pinned)


_ALL_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
_PINNED = worker_cpus(os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")),
                      _ALL_CPUS)
if _PINNED and not os.environ.get("GALAXY_LIB_TEST_NO_PINNING"):
    os.sched_setaffinity(0, _PINNED)

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


def tiny_run_config(data: Path, **changes: Any) -> Any:
    """The configuration of the tests' tiny real runs on :func:`write_kaggle_folder` data: 32x32 inputs,
    batches of 8, a quarter of the galaxies each for validation and test, 3 epochs, a checkpoint every
    epoch (so a killed run resumes from the epoch it reached); ``changes`` override any key."""
    from galaxy_lib.config import Config

    base = dict(data=str(data), crop=128, image_size=32, second_pool=2, epochs=3, batch_size=8,
                val_fraction=0.25, test_fraction=0.25, seed=5, checkpoint_seconds=0)
    return Config(**{**base, **changes})


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


def train_on_two_logical_cpus(out: Path, **config_keys) -> dict:
    """Train ``Config(**config_keys, strategy="mirrored")`` into ``out`` in a fresh process whose
    one CPU is split into two logical devices (they must be declared before TensorFlow starts);
    returns the run's environment record. The process's stderr is shown when it fails."""
    import json
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import json
        from galaxy_lib.tf_setup import import_tensorflow
        tf = import_tensorflow()
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from galaxy_lib.model import train
        from galaxy_lib.config import Config
        config = Config(strategy="mirrored", **{config_keys!r})
        out = train.train(config, {str(out)!r}, verbose=False)
        print(json.dumps(json.loads((out / "environment.json").read_text())))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def smoke_run_40(tmp_path_factory) -> tuple[Path, Path]:
    """``parameters/smoke.yaml`` trained once per session for one epoch on 40 random galaxies
    (auc_min_positives 2, bootstrap 20): ``(run folder, data folder)``. Shared: tests that
    evaluate or change the run take a copy (``smoke_run_40_copy``); the data is read only."""
    from galaxy_lib.config import load_config
    from galaxy_lib.model import train

    root = tmp_path_factory.mktemp("smoke-run-40")
    data = write_kaggle_folder(root / "kaggle", n=40)
    config = load_config(REPO / "parameters" / "smoke.yaml",
                         {"data": str(data), "synthetic": False, "epochs": 1, "auc_min_positives": 2, "bootstrap": 20})
    return train.train(config, root / "run", verbose=False), data


@pytest.fixture
def smoke_run_40_copy(smoke_run_40, tmp_path) -> tuple[Path, Path]:
    """A private copy of the shared ``smoke_run_40`` run folder (the data folder stays shared)."""
    import shutil

    run, data = smoke_run_40
    return Path(shutil.copytree(run, tmp_path / "run")), data


# --- the smoke reports, built once per session in one project folder ---------------------------------------


@contextlib.contextmanager
def in_project(root: Path) -> Iterator[Path]:
    """``root`` as the project root (``GALAXY_LIB_ROOT``) for the block, with TensorFlow's start-up
    chatter off, as on a CI runner; both are restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GALAXY_LIB_ROOT", str(root))
        patch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
        yield root


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory) -> Path:
    """One project folder (the project root, as a checkout is on a CI runner) for the session's smoke
    reports: ``parameters/`` and the smoke sky plus six unlabelled test galaxies in ``smoke/`` (so
    that notebook 3 writes a Kaggle submission). The report fixtures below add ``runs/`` and
    ``reports/``, each report once; tests read them and may only add folders of their own beside them."""
    import shutil

    from galaxy_lib.config import load_config
    from galaxy_lib.synth import sky

    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "parameters", root / "parameters")
    (root / "pyproject.toml").write_text("")
    smoke = load_config(root / "parameters" / "smoke.yaml")
    sky.generate(root / "smoke", n=smoke.synthetic_n, seed=smoke.synthetic_seed, n_test=6, progress=False)
    return root


# Session fixtures that train or build reports, with the pytest-xdist group of the tests that use them.
SHARED_SESSION_FIXTURES = {"smoke_project": "smoke-project", "smoke_run_40": "smoke-run-40"}


def xdist_group_of(item: pytest.Item) -> str | None:
    """The one pytest-xdist group ``item`` belongs to: a costly session fixture's (the smoke project's
    reports first), else its module's when it uses a module-scoped fixture, else none."""
    names = getattr(item, "fixturenames", ())
    for fixture, group in SHARED_SESSION_FIXTURES.items():
        if fixture in names:
            return group
    info = getattr(item, "_fixtureinfo", None)
    module = getattr(item, "module", None)
    if info is None or module is None:
        return None
    shares = any(defs and defs[-1].scope == "module" for defs in info.name2fixturedefs.values())
    return f"module-{module.__name__}" if shares else None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs two workers with ``--dist loadgroup``) each worker builds its
    own session and module fixtures: the tests that share a trained one go to one worker, so it is
    built once (the smoke project's reports cost a minute of training and notebooks each)."""
    for item in items:
        group = xdist_group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _build_report(root: Path, parameters: str) -> Path:
    """``python -m galaxy_lib report -f parameters/<parameters> --data smoke`` in the project ``root``."""
    from galaxy_lib import cli

    with in_project(root):
        status = cli.main(["report", "-f", str(root / "parameters" / parameters), "--data", "smoke"])
    assert status == 0, f"the {parameters} report failed (its error is in the captured stderr of the first test)"
    return root


@pytest.fixture(scope="session")
def smoke_report(smoke_project) -> Path:
    """The project with ``parameters/smoke.yaml``'s report built: ``runs/smoke``, ``reports/smoke``."""
    return _build_report(smoke_project, "smoke.yaml")


@pytest.fixture(scope="session")
def smoke_ensemble_report(smoke_project) -> Path:
    """The project with the smoke ensemble's report built (both members trained by notebook 2):
    ``runs/smoke-ensemble``, ``reports/smoke-ensemble``."""
    return _build_report(smoke_project, "smoke_ensemble.yaml")


@pytest.fixture(scope="session")
def smoke_curve_report(smoke_project) -> Path:
    """The project with the smoke learning curve's report built (notebook 4 trains the 3 + 4 points):
    ``runs/smoke-curve``, ``runs/smoke-curve-validation``, ``reports/smoke-curve``."""
    return _build_report(smoke_project, "smoke_curve.yaml")
