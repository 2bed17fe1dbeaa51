"""A synthetic Galaxy Zoo sky in exactly the Kaggle layout: the project's default data set.

A fresh machine has no Kaggle download, yet the notebooks, the default report and most
tests need data that looks and behaves like the real thing. :func:`generate` writes

- ``images_training_rev1/<GalaxyID>.jpg``: 424x424 RGB JPEGs (painted by
  :mod:`galaxy_lib.synth.render` from each galaxy's latent morphology),
- ``training_solutions_rev1.csv``: ``GalaxyID`` + the 37 answer columns, vote fractions of
  a few dozen simulated volunteers (:mod:`galaxy_lib.synth.morphology`), tree sums exact,
- ``images_test_rev1/`` (optional, unlabelled, disjoint GalaxyIDs),
- ``truth.csv``: latent morphology and noise-free answer probabilities of every galaxy,
- ``metadata.json``: seed, counts, version and the noise floor (RMSE of sampled vote
  fractions against the true probabilities, which no model can beat on average).

Each galaxy draws from its own ``SeedSequence(seed, spawn_key=(split, index))``, so the
output is byte-identical for a seed whatever the number of worker processes. Rows are
streamed to disk (memory flat in ``n``) inside a hidden temporary folder that is renamed
into place at the end: an interrupted run leaves nothing half-made.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.config import atomic_path
from galaxy_lib.synth import morphology, render

VERSION = "1.0"
TRAIN_FOLDER = "images_training_rev1"
TEST_FOLDER = "images_test_rev1"
LABELS_FILE = "training_solutions_rev1.csv"
TRUTH_FILE = "truth.csv"
METADATA_FILE = "metadata.json"
JPEG_QUALITY = 90
_ID_LOW, _ID_HIGH = 100000, 1000000  # six-digit GalaxyIDs, like Kaggle's
_SPLITS = ("train", "test")


def _galaxy_ids(seed: int, n: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random six-digit GalaxyIDs, each split sorted (Kaggle's files are sorted)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(len(_SPLITS),)))
    ids = rng.choice(_ID_HIGH - _ID_LOW, size=n + n_test, replace=False).astype(np.int64) + _ID_LOW
    return np.sort(ids[:n]), np.sort(ids[n:])


def make_galaxy(seed: int, split: int, index: int) -> tuple[morphology.Morphology, np.ndarray, np.ndarray, bytes]:
    """One galaxy from its own seed: (morphology, per-question probabilities, vote
    fractions, JPEG bytes). Morphology, votes and pixels use separate child streams, so a
    change to the renderer does not change the labels of a seed."""
    morph_ss, vote_ss, image_ss = np.random.SeedSequence(seed, spawn_key=(split, index)).spawn(3)
    morph = morphology.sample_morphology(np.random.default_rng(morph_ss))
    probabilities = morphology.question_probabilities(morph)
    votes = morphology.simulate_votes(probabilities, morph.n_volunteers, np.random.default_rng(vote_ss))
    image = render.render(morph, np.random.default_rng(image_ss))
    return morph, probabilities, votes, render.encode_jpeg(image, JPEG_QUALITY)


def _work(task: tuple[int, int, int, int, str]) -> tuple[int, int, dict[str, Any], np.ndarray, np.ndarray]:
    """Pool worker: make one galaxy, write its JPEG, return its table rows."""
    seed, split, index, galaxy_id, folder = task
    morph, probabilities, votes, jpeg = make_galaxy(seed, split, index)
    Path(folder, f"{galaxy_id}.jpg").write_bytes(jpeg)
    return split, galaxy_id, morph.to_row(), tree.normalise_to_tree(probabilities[None])[0], votes


def _init_worker() -> None:
    cv2.setNumThreads(1)  # the pool already uses every core


def _fmt(value: float) -> str:
    return f"{value:.6f}"


def _truth_header() -> list[str]:
    return [tree.ID_COLUMN, "split", *morphology.MORPHOLOGY_FIELDS, *(f"p_{c}" for c in tree.ANSWER_COLUMNS)]


def _truth_line(split: int, galaxy_id: int, row: dict[str, Any], truth: np.ndarray) -> str:
    cells = [str(galaxy_id), _SPLITS[split]]
    for name in morphology.MORPHOLOGY_FIELDS:
        value = row[name]
        cells.append(f"{value:.5g}" if isinstance(value, float) else str(value))
    cells.extend(_fmt(v) for v in truth)
    return ",".join(cells) + "\n"


def _tasks(seed: int, ids: tuple[np.ndarray, np.ndarray], folders: tuple[Path, Path]) -> Iterator[tuple]:
    for split, (split_ids, folder) in enumerate(zip(ids, folders, strict=True)):
        for index, galaxy_id in enumerate(split_ids):
            yield seed, split, index, int(galaxy_id), str(folder)


def _check_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; pass overwrite=True (--overwrite) to replace it")


def generate(out: str | os.PathLike[str], n: int = 2000, seed: int = 0, n_test: int = 0, overwrite: bool = False,
             *, workers: int | None = None, progress: bool = True) -> Path:
    """Write a synthetic Galaxy Zoo data set of ``n`` labelled (and ``n_test`` unlabelled)
    galaxies in Kaggle layout at ``out`` and return its path.

    ``workers`` processes render in parallel (default: up to 2, one for small sets); the
    output does not depend on it. Raises ``ValueError`` for ``n <= 0`` or ``n_test < 0``
    and ``FileExistsError`` when ``out`` is non-empty and ``overwrite`` is false.
    """
    if not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"synthetic set size n must be a positive integer, got {n!r}")
    if not isinstance(n_test, int | np.integer) or n_test < 0:
        raise ValueError(f"synthetic test-set size n_test must be zero or positive, got {n_test!r}")
    if n + n_test > (_ID_HIGH - _ID_LOW) // 2:
        raise ValueError(f"n + n_test = {n + n_test} is more than six-digit GalaxyIDs allow (450,000)")
    out = Path(out).expanduser().resolve()
    _check_output(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write_all(staging, n, seed, n_test, workers, progress)
        _check_output(out, overwrite)  # someone may have written there meanwhile
        if out.exists():
            trash = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, trash)
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _write_all(staging: Path, n: int, seed: int, n_test: int, workers: int | None, progress: bool) -> None:
    folders = (staging / TRAIN_FOLDER, staging / TEST_FOLDER)
    folders[0].mkdir(parents=True)
    if n_test:
        folders[1].mkdir()
    ids = _galaxy_ids(seed, n, n_test)
    total = n + n_test
    if workers is None:
        workers = 1 if total < 150 else max(1, min(2, os.cpu_count() or 1))
    squared, counted = 0.0, 0
    vote_sums = np.zeros(tree.N_ANSWERS)
    with (
        open(staging / LABELS_FILE, "w", newline="") as labels,
        open(staging / TRUTH_FILE, "w", newline="") as truth,
        tqdm(total=total, desc="synthetic galaxies", unit="gal", disable=not progress) as bar,
    ):
        labels.write(",".join(tree.KAGGLE_COLUMNS) + "\n")
        truth.write(",".join(_truth_header()) + "\n")
        tasks = _tasks(seed, ids, folders)
        if workers == 1:
            results = map(_work, tasks)
            pool = None
        else:
            pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker)
            results = pool.imap(_work, tasks, chunksize=16)
        try:
            for split, galaxy_id, row, probabilities, votes in results:
                truth.write(_truth_line(split, galaxy_id, row, probabilities))
                if split == 0:
                    labels.write(str(galaxy_id) + "," + ",".join(_fmt(v) for v in votes) + "\n")
                    squared += float(((votes - probabilities) ** 2).sum())
                    counted += 1
                    vote_sums += votes
                bar.update()
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    metadata = {
        "generator": "galaxy_lib.synth.sky",
        "version": VERSION,
        "seed": seed,
        "n_train": n,
        "n_test": n_test,
        "image_size": render.SIZE,
        "jpeg_quality": JPEG_QUALITY,
        "volunteers_per_galaxy": [30, 65],
        "noise_floor_rmse": round(math.sqrt(squared / (counted * tree.N_ANSWERS)), 6),
        "noise_floor_note": "RMSE of the sampled vote fractions against the noise-free answer probabilities "
        "(truth.csv p_* columns) over the training galaxies; no model can beat it on average",
        "answer_means": {c: round(float(v), 6) for c, v in zip(tree.ANSWER_COLUMNS, vote_sums / counted, strict=True)},
    }
    (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")


def ensure_synthetic(config: Any) -> Path:
    """The data folder of ``config``; when ``config.synthetic`` is true and the folder has
    no ``training_solutions_rev1.csv`` yet, generate ``config.synthetic_n`` galaxies there
    with ``config.synthetic_seed`` (and ``config.synthetic_test_n`` unlabelled test
    images) first (an empty or missing folder is filled, a folder
    with other content is refused rather than overwritten)."""
    from galaxy_lib.config import resolve_path

    root = resolve_path(config.data)
    if config.synthetic and not (root / LABELS_FILE).is_file():
        generate(root, n=config.synthetic_n, seed=config.synthetic_seed, n_test=config.synthetic_test_n)
    return root


def read_truth(root: str | os.PathLike[str]) -> pd.DataFrame:
    """``truth.csv`` of a synthetic set (latent morphology + noise-free probabilities)."""
    path = Path(root) / TRUTH_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {root} a synthetic data set made by `galaxy_lib synth`?")
    return pd.read_csv(path, keep_default_na=False)


def grey_thumbnails(
    image_folder: str | os.PathLike[str], ids: np.ndarray, size: int = 32, crop: int = 128
) -> np.ndarray:
    """``(n, size*size)`` float32 grey pixels of the central ``crop`` of each image, in [0, 1]."""
    out = np.empty((len(ids), size * size), dtype=np.float32)
    lo = (render.SIZE - crop) // 2
    for row, galaxy_id in enumerate(ids):
        path = Path(image_folder) / f"{galaxy_id}.jpg"
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise FileNotFoundError(f"cannot read image {path}")
        thumb = cv2.resize(grey[lo : lo + crop, lo : lo + crop], (size, size), interpolation=cv2.INTER_AREA)
        out[row] = thumb.reshape(-1) / 255.0
    return out


def ridge_scores(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.25, seed: int = 0) -> dict[str, Any]:
    """RMSE of the training-mean predictor and of ridge regression (alpha by
    cross-validation on the training part) on a seeded held-out part of ``(x, y)``;
    ``test`` holds the held-out row numbers. Works for real data as well."""
    from sklearn.linear_model import RidgeCV

    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(1, round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]

    def rmse(pred: np.ndarray, target: np.ndarray) -> float:
        return float(np.sqrt(np.mean((pred - target) ** 2)))

    ridge = RidgeCV(alphas=np.logspace(-1, 4, 11)).fit(x[train], y[train])
    return {
        "n_train": len(train),
        "n_test": n_test,
        "mean_rmse": rmse(np.broadcast_to(y[train].mean(axis=0), y[test].shape), y[test]),
        "ridge_rmse": rmse(np.clip(ridge.predict(x[test]), 0, 1), y[test]),
        "ridge_alpha": float(ridge.alpha_),
        "test": test,
    }


def learnability(root: str | os.PathLike[str], test_fraction: float = 0.25, seed: int = 0) -> dict[str, Any]:
    """The three numbers that show a synthetic set is learnable but not trivially so.

    On a seeded held-out part: RMSE of the training-mean predictor, of ridge regression
    on 32x32 grey pixels of the central 128x128 crop (the paper's crop), and the noise
    floor (vote fractions against the noise-free probabilities of ``truth.csv``).
    """
    root = Path(root)
    labels = pd.read_csv(root / LABELS_FILE)
    truth = read_truth(root).set_index(tree.ID_COLUMN).loc[labels[tree.ID_COLUMN]]
    y = labels[list(tree.ANSWER_COLUMNS)].to_numpy()
    p = truth[[f"p_{c}" for c in tree.ANSWER_COLUMNS]].to_numpy()
    x = grey_thumbnails(root / TRAIN_FOLDER, labels[tree.ID_COLUMN].to_numpy())
    scores = ridge_scores(x, y, test_fraction, seed)
    test = scores.pop("test")
    scores["noise_floor_rmse"] = float(np.sqrt(np.mean((y[test] - p[test]) ** 2)))
    return scores


GALLERY_CLASSES: tuple[tuple[str, str], ...] = (
    ("smooth, round", "kind == 'smooth' and q > 0.85 and merger == 0 and lens == 0"),
    ("smooth, cigar-shaped", "kind == 'smooth' and q < 0.55"),
    ("disk, dominant bulge", "kind == 'disk' and arms == 0 and bar == 0 and bulge_fraction > 0.35"),
    ("spiral, 2 tight arms", "kind == 'disk' and arms == 2 and pitch_deg < 14 and arm_strength > 0.6"),
    ("spiral, loose arms", "kind == 'disk' and arms >= 3 and pitch_deg > 25 and arm_strength > 0.6"),
    ("barred spiral", "kind == 'disk' and bar > 0.6 and arms > 0"),
    ("ring", "ring > 0"),
    ("edge-on, rounded bulge", "kind == 'edgeon' and edge_bulge == 'rounded' and dust_lane == 0"),
    ("edge-on, boxy bulge", "kind == 'edgeon' and edge_bulge == 'boxy'"),
    ("edge-on, no bulge", "kind == 'edgeon' and edge_bulge == 'none'"),
    ("edge-on, dust lane", "dust_lane > 0"),
    ("merger", "merger > 0"),
    ("disturbed", "disturbed > 0"),
    ("irregular", "irregular > 0"),
    ("lens arc", "lens > 0"),
    ("star or artifact", "kind in ('star', 'artifact')"),
    ("small, faint (uncertain votes)", "visibility < 0.3"),
    ("random pick", "visibility >= 0"),
)


def _top_answers(votes: pd.Series, k: int = 3) -> str:
    """The ``k`` largest vote fractions (leaving out the uninformative "no" answers)."""
    informative = votes.drop(["Class2.2", "Class3.2", "Class4.2", "Class6.2"])  # the "no" answers say little
    best = informative.sort_values(ascending=False).head(k)
    return "\n".join(f"{tree.ANSWER_LABELS[c].split(' ', 1)[1]} {v:.2f}" for c, v in best.items())


def gallery(root: str | os.PathLike[str], out_png: str | os.PathLike[str], crop: int = 256, seed: int = 0) -> Path:
    """A grid of example galaxies by true morphology, each titled with its top answers
    (the vote fractions), saved as a PNG (``docs/synthetic_gallery.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root, out_png = Path(root), Path(out_png)
    truth = read_truth(root)
    truth = truth[truth["split"] == "train"]
    labels = pd.read_csv(root / LABELS_FILE).set_index(tree.ID_COLUMN)
    rng = np.random.default_rng(seed)
    picks: list[tuple[str, int]] = []
    for name, query in GALLERY_CLASSES:
        candidates = truth.query(query)[tree.ID_COLUMN].to_numpy()
        candidates = candidates[~np.isin(candidates, [p[1] for p in picks])]
        if len(candidates):
            picks.append((name, int(rng.choice(candidates))))
    columns = 6
    rows = math.ceil(len(picks) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 2.3, rows * 3.2), facecolor="white")
    lo = (render.SIZE - crop) // 2
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (name, galaxy_id) in zip(np.ravel(axes), picks, strict=False):
        image = cv2.imread(str(root / TRAIN_FOLDER / f"{galaxy_id}.jpg"))[lo : lo + crop, lo : lo + crop, ::-1]
        ax.imshow(image)
        ax.set_title(f"{name}\n{_top_answers(labels.loc[galaxy_id, list(tree.ANSWER_COLUMNS)])}", fontsize=7.5)
    fig.suptitle(f"Synthetic Galaxy Zoo sky: central {crop}x{crop} of the 424x424 frames, titled with the "
                 "largest vote fractions", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return out_png


UNBIASED_SUBSET = "complete_id_block_945990_999967"


def answer_means_table(synthetic_root: str | os.PathLike[str], real_root: str | os.PathLike[str],
                       subset: str = UNBIASED_SUBSET) -> pd.DataFrame:
    """Mean vote fraction per answer, synthetic beside real (only the real sample's
    unbiased ``subset`` rows from its ``manifest.csv``, when that file exists)."""
    synthetic = pd.read_csv(Path(synthetic_root) / LABELS_FILE)
    real = pd.read_csv(Path(real_root) / LABELS_FILE)
    manifest = Path(real_root) / "manifest.csv"
    if manifest.is_file():
        rows = pd.read_csv(manifest)
        real = real[real[tree.ID_COLUMN].isin(rows.loc[rows["subset"] == subset, tree.ID_COLUMN])]
    columns = list(tree.ANSWER_COLUMNS)
    table = pd.DataFrame({
        "answer": columns,
        "label": [tree.ANSWER_LABELS[c] for c in columns],
        "synthetic": synthetic[columns].mean().to_numpy(),
        "real": real[columns].mean().to_numpy(),
    })
    table["difference"] = table["synthetic"] - table["real"]
    table.attrs["n_synthetic"], table.attrs["n_real"] = len(synthetic), len(real)
    return table


def answer_means_markdown(table: pd.DataFrame, flag: float = 0.03) -> str:
    """The side-by-side table as Markdown; differences beyond ``flag`` are in bold."""
    lines = [
        f"| answer | meaning | synthetic (n={table.attrs.get('n_synthetic', '?')}) "
        f"| real (n={table.attrs.get('n_real', '?')}) | difference |",
        "|---|---|---:|---:|---:|",
    ]
    for row in table.itertuples():
        difference = f"{row.difference:+.3f}"
        if abs(row.difference) > flag:
            difference = f"**{difference}**"
        lines.append(f"| {row.answer} | {row.label} | {row.synthetic:.3f} | {row.real:.3f} | {difference} |")
    return "\n".join(lines) + "\n"
