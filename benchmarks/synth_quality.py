"""Measures of the synthetic sky's quality, used only by benchmarks/bench_synth.py and its docs.

How learnable the sky is from pixels (the training-mean predictor, ridge regression on grey
thumbnails and the noise floor), how its mean answer fractions compare with the real sample,
and the gallery figure ``docs/synthetic_gallery.png``. They measure the generator; they are not
part of it, so they live here rather than in :mod:`galaxy_lib.synth.sky` (issue 9: library code
is product code). Benchmark scripts import this module as a sibling (``python
benchmarks/bench_synth.py`` puts ``benchmarks/`` on ``sys.path``); tests add ``benchmarks/``
to ``sys.path`` themselves.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from galaxy_lib import tree
from galaxy_lib.data.images import crop_offset, decode_centre
from galaxy_lib.paths import atomic_path
from galaxy_lib.synth.sky import LABELS_FILE, TRAIN_FOLDER, read_truth

UNBIASED_SUBSET = "complete_id_block_945990_999967"  # the real sample's random GalaxyID block (manifest.csv)


def grey_thumbnails(
    image_folder: str | os.PathLike[str], ids: np.ndarray, size: int = 32, crop: int = 128
) -> np.ndarray:
    """``(n, size*size)`` float32 grey pixels of the central ``crop`` of each image, in [0, 1]."""
    out = np.empty((len(ids), size * size), dtype=np.float32)
    lo = crop_offset(crop)
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


def real_ridge(real_root: str | os.PathLike[str], seed: int = 0, subset: str = UNBIASED_SUBSET) -> dict[str, Any]:
    """The same ridge-versus-mean comparison on a real Kaggle-layout sample (only its unbiased
    ``subset`` from ``manifest.csv``): how much easier the synthetic sky is to read from pixels."""
    real_root = Path(real_root)
    labels = pd.read_csv(real_root / LABELS_FILE)
    manifest = pd.read_csv(real_root / "manifest.csv")
    keep = manifest.loc[manifest["subset"] == subset, tree.ID_COLUMN]
    labels = labels[labels[tree.ID_COLUMN].isin(keep)]
    x = grey_thumbnails(real_root / TRAIN_FOLDER, labels[tree.ID_COLUMN].to_numpy())
    scores = ridge_scores(x, labels[list(tree.ANSWER_COLUMNS)].to_numpy(), seed=seed)
    scores.pop("test")
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
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (name, galaxy_id) in zip(np.ravel(axes), picks, strict=False):
        path = root / TRAIN_FOLDER / f"{galaxy_id}.jpg"
        ax.imshow(decode_centre(path.read_bytes(), crop, str(path)))
        ax.set_title(f"{name}\n{_top_answers(labels.loc[galaxy_id, list(tree.ANSWER_COLUMNS)])}", fontsize=7.5)
    fig.suptitle(f"Synthetic Galaxy Zoo sky: central {crop}x{crop} of the 424x424 frames, titled with the "
                 "largest vote fractions", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return out_png


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
