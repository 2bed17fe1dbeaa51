"""Baselines that need no neural network, scored with the same metrics on the same split.

A model's RMSE means little on its own: on Galaxy Zoo, predicting the training-set mean
for every galaxy already scores about 0.16, so a CNN at 0.15 has learnt almost nothing.
These baselines are fitted on a run's *training* galaxies only and evaluated on its test
galaxies, exactly like the model:

* ``all-zeros`` and ``all-ones`` -- Kaggle's two sample submissions;
* ``training mean`` -- the mean of every answer over the training galaxies;
* ``central pixel`` -- Kaggle's central-pixel benchmark, re-implemented (see
  :class:`CentralPixelBaseline`).

:data:`KAGGLE_ANCHORS` holds the public leaderboard scores (on Kaggle's own 79,975 test
galaxies) to show beside them; they are reference points, not numbers measured here.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

from galaxy_lib import tree
from galaxy_lib.data.images import read_centre
from galaxy_lib.evaluation import metrics

KAGGLE_ANCHORS: dict[str, float] = {
    "Kaggle winner (private LB)": 0.07492,
    "Kaggle winner (public LB)": 0.07467,
    "Kaggle 2nd place (private LB)": 0.07752,
    "Kaggle central-pixel benchmark": 0.16194,
    "Kaggle all-zeros benchmark": 0.27160,
}
"""Leaderboard RMSEs on Kaggle's test set (Dieleman et al. 2015; the competition page).
The all-ones benchmark's leaderboard score is not recorded here: we could not find it in
a source we trust, so it is left out rather than guessed."""

PATCH = 10
"""Side of the square around the image centre whose mean colour is 'the central pixel'
(Kaggle's benchmark averaged a 10x10 patch)."""


class _ReadsBytes(Protocol):
    def read_bytes(self, galaxy_id: int) -> bytes: ...


def central_pixel_colours(
    images: _ReadsBytes, ids: np.ndarray, *, patch: int = PATCH, threads: int = 2, progress: bool = True
) -> np.ndarray:
    """Mean RGB (0-255) of the ``patch`` x ``patch`` square at each image's centre, ``(n, 3)``.

    Each JPEG is decoded from ``images.read_bytes(id)`` (OpenCV releases the GIL, so a few
    threads overlap decoding); only three numbers per galaxy are kept in memory.
    """
    ids = np.asarray(ids, dtype=np.int64)

    def one(gid: int) -> np.ndarray:  # read_centre's DataError names the galaxy's file
        return read_centre(images, int(gid), patch).reshape(-1, 3).mean(axis=0)

    out = np.empty((len(ids), 3))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = pool.map(one, ids, chunksize=64)
        for i, colour in enumerate(
            tqdm(results, total=len(ids), desc="central pixels", disable=not progress or len(ids) < 500,
                 mininterval=5.0)  # few updates: notebooks and reports keep every one as a line
        ):
            out[i] = colour
    return out


def kaggle_colour_bins(colours: np.ndarray) -> np.ndarray:
    """Kaggle's benchmark binning: each channel divided by the mean intensity, truncated to
    an integer (``floor(c / floor(mean(R, G, B)))`` in 16-bit units, as the benchmark's Go
    code did), so a bin is a coarse hue such as "red > 2x intensity". Returns an integer key
    per galaxy; black centres (intensity 0) share key -1.

    Source: ``CentralPixelBenchmark.go`` (Go, December 2013, by Joyce Noah-Vanhoucke of
    Kaggle, as kept in a public GitHub repository): mean RGBA of the 10x10 patch at the centre
    (Go's 16-bit channels), integer division by the mean intensity, key ``100 R' + 10 G' + B'``
    (hash factor 10); test galaxies take their bin's mean answers. We mirror that arithmetic on
    OpenCV's decode (8-bit x 257), so a rare galaxy on a bin edge may land differently.
    """
    rgb16 = np.floor(np.asarray(colours, dtype=np.float64) * 257.0)
    intensity = np.floor(rgb16.sum(axis=1) / 3.0)
    safe = np.where(intensity > 0, intensity, 1.0)
    ratios = np.floor(rgb16 / safe[:, None]).astype(np.int64)
    keys = ratios[:, 0] * 100 + ratios[:, 1] * 10 + ratios[:, 2]
    return np.where(intensity > 0, keys, -1)


@dataclass
class CentralPixelBaseline:
    """Predict each galaxy as the mean answers of training galaxies with a similar central colour.

    ``clusters = 0`` reproduces Kaggle's benchmark: fixed colour bins from
    :func:`kaggle_colour_bins`. ``clusters > 0`` uses k-means (scikit-learn, seeded) with
    that many clusters on the RGB colour scaled to [0, 1], which also uses brightness.
    A galaxy whose bin holds no training galaxy gets the training mean (Kaggle's benchmark
    gave it zeros, which only punishes the baseline for a bookkeeping gap).
    """

    clusters: int = 0
    seed: int = 0
    means_: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    fallback_: np.ndarray | None = field(default=None, repr=False)
    kmeans_: object | None = field(default=None, repr=False)

    def _keys(self, colours: np.ndarray) -> np.ndarray:
        if self.clusters == 0:
            return kaggle_colour_bins(colours)
        return self.kmeans_.predict(np.asarray(colours, dtype=np.float64) / 255.0)

    def fit(self, colours: np.ndarray, labels: np.ndarray) -> CentralPixelBaseline:
        colours = np.asarray(colours, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.float64)
        if len(colours) != len(labels) or len(labels) == 0:
            raise ValueError(f"need as many colours as label rows (got {len(colours)} and {len(labels)}), at least one")
        if self.clusters < 0:
            raise ValueError(f"central_pixel_clusters must be >= 0, got {self.clusters}")
        if self.clusters > 0:
            from sklearn.cluster import KMeans

            k = min(self.clusters, len(colours))
            self.kmeans_ = KMeans(n_clusters=k, random_state=self.seed, n_init=10).fit(colours / 255.0)
        keys = self._keys(colours)
        frame = pd.DataFrame(labels).groupby(keys).mean()
        self.means_ = {int(k): row.to_numpy() for k, row in frame.iterrows()}
        self.fallback_ = labels.mean(axis=0)
        return self

    @property
    def n_bins(self) -> int:
        """Occupied bins (or clusters) after fitting."""
        return len(self.means_)

    def predict(self, colours: np.ndarray) -> np.ndarray:
        if self.fallback_ is None:
            raise RuntimeError("CentralPixelBaseline.predict called before fit")
        keys = self._keys(colours)
        return np.stack([self.means_.get(int(k), self.fallback_) for k in keys]) if len(keys) else np.empty((0, 37))


def constant_predictions(train_labels: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """The three constant predictors for ``n`` galaxies: all-zeros, all-ones, training mean."""
    train_labels = np.asarray(train_labels, dtype=np.float64)
    if train_labels.ndim != 2 or train_labels.shape[1] != tree.N_ANSWERS or len(train_labels) == 0:
        raise ValueError(f"train_labels: expected a non-empty (n, {tree.N_ANSWERS}) array, got {train_labels.shape}")
    return {
        "all-zeros": np.zeros((n, tree.N_ANSWERS)),
        "all-ones": np.ones((n, tree.N_ANSWERS)),
        "training mean": np.tile(train_labels.mean(axis=0), (n, 1)),
    }


def baseline_predictions(
    train_labels: np.ndarray,
    n_eval: int,
    *,
    train_colours: np.ndarray | None = None,
    eval_colours: np.ndarray | None = None,
    clusters: int = 0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Predictions of every baseline for ``n_eval`` galaxies, fitted on the training labels
    (and central colours, when given: the central-pixel baseline needs both colour arrays)."""
    out = constant_predictions(train_labels, n_eval)
    if train_colours is not None and eval_colours is not None:
        model = CentralPixelBaseline(clusters=clusters, seed=seed).fit(train_colours, train_labels)
        out["central pixel"] = model.predict(eval_colours)
    return out


def baseline_table(
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    models: Mapping[str, np.ndarray] | None = None,
    anchors: bool = True,
) -> pd.DataFrame:
    """RMSE and the paper's accuracy of each baseline's (and each model's) predictions on
    ``y_true``, all through the same metric functions, with the Kaggle leaderboard anchors
    beside them when ``anchors`` is true (RMSE only; measured on Kaggle's test set, not here).

    Columns: ``name``, ``rmse``, ``accuracy``, ``source`` (``model``, ``baseline`` or
    ``Kaggle leaderboard``); sorted by RMSE.
    """
    rows = []
    for source, group in (("model", models or {}), ("baseline", predictions)):
        for name, pred in group.items():
            rows.append(
                {
                    "name": name,
                    "rmse": metrics.rmse(y_true, pred),
                    "accuracy": metrics.paper_accuracy(y_true, pred),
                    "source": source,
                }
            )
    if anchors:
        rows += [
            {"name": name, "rmse": value, "accuracy": np.nan, "source": "Kaggle leaderboard"}
            for name, value in KAGGLE_ANCHORS.items()
        ]
    return pd.DataFrame(rows).sort_values("rmse", kind="stable").reset_index(drop=True)


def baselines_for_config(config, data=None, *, progress: bool = True) -> pd.DataFrame:
    """The baseline table for a configuration's own split, without any model: fitted on its
    training galaxies, scored on its test galaxies (validation when it has no test set).

    The split is drawn exactly as ``train`` draws it (same split_seed, fractions and test pool), so
    the numbers are the ones an evaluation of that configuration's run will show beside the
    model. ``data`` is a loaded :class:`~galaxy_lib.data.dataset.GalaxyData` (default: the
    configuration's ``data``).
    """
    from galaxy_lib.data import dataset, split

    if data is None:
        data = dataset.load_for_config(config)
    frame = split.split_for_config(data, config)
    train_ids = split.ids_of(frame, "train")
    eval_ids = split.ids_of(frame, "test")
    if not len(eval_ids):
        eval_ids = split.ids_of(frame, "val")
    _, y_train = data.subset(train_ids)
    _, y_eval = data.subset(eval_ids)
    colours = central_pixel_colours(data.images, np.concatenate([train_ids, eval_ids]), progress=progress)
    preds = baseline_predictions(y_train, len(y_eval), train_colours=colours[: len(train_ids)],
                                 eval_colours=colours[len(train_ids) :], clusters=config.central_pixel_clusters,
                                 seed=config.seed)
    return baseline_table(y_eval, preds)
