"""Latent morphology of a synthetic galaxy and the simulated volunteers who classify it.

The labels of the synthetic sky must rest on what the image shows, so this module draws
one :class:`Morphology` per galaxy (the renderer in :mod:`galaxy_lib.synth.render` paints
exactly these parameters) and turns it into per-question answer probabilities of one
volunteer. Those probabilities depend on the true morphology *and on its visibility*:
small or faint galaxies get uncertain votes that drift towards "smooth" and "can't
tell", as in the real Galaxy Zoo. A few dozen volunteers then walk the decision tree, so
the vote fractions obey the tree sums exactly, and the gap between sampled fractions and
the noise-free probabilities is the noise floor no model can beat on average.

Population weights were tuned so that the mean answer fractions resemble the unbiased
3,000-galaxy block of the real Kaggle sample (see ``docs/synthetic_vs_real.md``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from galaxy_lib import tree

KINDS = ("smooth", "disk", "edgeon", "star", "artifact")
KIND_WEIGHTS = (0.35, 0.556, 0.08, 0.007, 0.007)
EDGE_BULGES = ("rounded", "boxy", "none")
ARTIFACTS = ("star", "trail", "bleed")


@dataclass
class Morphology:
    """Everything the renderer paints and the volunteers judge, for one galaxy.

    Sizes are in pixels of the 424x424 frame; ``brightness`` is the surface
    brightness at the half-light radius in units of the sky noise. Feature strengths are 0 (absent) to 1 (strong).
    """

    kind: str
    re: float  # half-light radius of the whole galaxy
    brightness: float  # surface brightness at the half-light radius / sky noise
    q: float  # apparent axis ratio (1 = round)
    pa: float  # position angle, radians
    sersic_n: float  # Sersic index of the smooth light / bulge
    bulge_fraction: float  # bulge-to-total light ratio
    bar: float
    arms: int  # number of spiral arms (0 = none; 5 stands for "more than four")
    arm_strength: float
    pitch_deg: float  # spiral pitch angle: ~10 tight, ~20 medium, ~32 loose
    ring: float
    dust_lane: float
    edge_bulge: str  # rounded / boxy / none for edge-on disks, else ""
    merger: float
    disturbed: float
    irregular: float
    lens: float
    artifact: str  # star / trail / bleed for kind star or artifact, else ""
    visibility: float  # 0..1: how well the volunteers can see detail
    n_volunteers: int

    def to_row(self) -> dict[str, object]:
        return asdict(self)


MORPHOLOGY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Morphology))


def visibility(re: float, brightness: float) -> float:
    """How well detail can be seen: resolution (size against the ~3 px seeing) times
    signal (surface brightness against the sky). Drives all the label uncertainty."""
    resolution = 1.0 / (1.0 + (10.0 / re) ** 2)
    signal = 1.0 / (1.0 + (8.0 / brightness) ** 1.5)
    return float(resolution * signal)


def sample_morphology(rng: np.random.Generator) -> Morphology:
    """Draw one galaxy from the synthetic population (all choices from ``rng``)."""
    kind = KINDS[rng.choice(len(KINDS), p=KIND_WEIGHTS)]
    zeros = dict(bar=0.0, arms=0, arm_strength=0.0, pitch_deg=0.0, ring=0.0, dust_lane=0.0, edge_bulge="",
                 merger=0.0, disturbed=0.0, irregular=0.0, lens=0.0, artifact="")
    # ellipticals are compact and of high surface brightness, disks extended and fainter
    brightness = float(np.exp(rng.normal(np.log(55.0 if kind == "smooth" else 28.0), 0.5)))
    pa = float(rng.uniform(0, math.pi))
    if kind == "smooth":
        re = float(np.clip(np.exp(rng.normal(np.log(7.5), 0.3)), 4, 30))
        # big, bright ellipticals are the roundest (as in the real population)
        roundness = 1.0 - rng.beta(1.5, 5.0) * float(np.clip(1.6 - 0.45 * np.log(re * brightness / 60.0), 0.2, 1.6))
        m = Morphology(kind, re, brightness, q=float(np.clip(roundness, 0.25, 1.0)), pa=pa,
                       sersic_n=float(rng.uniform(3.5, 6.0)), bulge_fraction=1.0, visibility=0.0,
                       n_volunteers=0, **zeros)
        m.lens = float(rng.uniform(0.5, 1.0)) if rng.random() < 0.012 else 0.0
    elif kind in ("disk", "edgeon"):
        re = float(np.clip(np.exp(rng.normal(np.log(32.0), 0.3)), 12, 80))
        if kind == "disk":
            q = float(np.clip(np.cos(np.arccos(rng.uniform(0.0, 1.0)) * 0.85), 0.3, 1.0))  # random inclination
        else:
            q = float(rng.uniform(0.12, 0.3))
        bt = float(np.clip(rng.beta(1.5, 3.5), 0.0, 0.9))
        m = Morphology(kind, re, brightness, q=q, pa=pa, sersic_n=float(rng.uniform(1.5, 4.0)),
                       bulge_fraction=bt, visibility=0.0, n_volunteers=0, **zeros)
        if kind == "disk":
            if rng.random() < 0.8:
                m.arms = int(rng.choice([1, 2, 3, 4, 5], p=[0.08, 0.64, 0.14, 0.08, 0.06]))
                m.arm_strength = float(rng.uniform(0.25, 1.0))
                m.pitch_deg = float(rng.uniform(6.0, 34.0))
            m.bar = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.36 else 0.0
            m.ring = float(rng.uniform(0.4, 1.0)) if rng.random() < 0.07 else 0.0
        else:
            m.edge_bulge = EDGE_BULGES[rng.choice(3, p=[0.55, 0.15, 0.3])]
            if m.edge_bulge == "none":
                m.bulge_fraction = 0.0
            m.dust_lane = float(rng.uniform(0.4, 1.0)) if rng.random() < 0.12 else 0.0
    else:
        re = float(np.clip(np.exp(rng.normal(np.log(11.0), 0.35)), 5, 40))
        m = Morphology(kind, re, brightness, q=float(rng.uniform(0.5, 1.0)), pa=pa, sersic_n=3.0,
                       bulge_fraction=1.0, visibility=0.0, n_volunteers=0, **zeros)
        m.artifact = "star" if kind == "star" else str(rng.choice(["trail", "bleed"]))
    if kind != "star" and kind != "artifact":
        u = rng.random()
        if u < 0.05:
            m.merger = float(rng.uniform(0.5, 1.0))
        elif u < 0.09:
            m.disturbed = float(rng.uniform(0.4, 1.0))
        elif u < 0.13 and kind != "edgeon":
            m.irregular = float(rng.uniform(0.4, 1.0))
            m.bulge_fraction = min(m.bulge_fraction, 0.1)
            m.sersic_n = min(m.sersic_n, 1.5)
    m.visibility = visibility(m.re, m.brightness)
    m.n_volunteers = int(rng.integers(30, 66))
    return m


def _soft_onehot(position: float, n: int, width: float) -> np.ndarray:
    """Probabilities over ``n`` ordered answers peaked at a continuous ``position``."""
    k = np.arange(n, dtype=np.float64)
    p = np.exp(-0.5 * ((k - position) / width) ** 2)
    return p / p.sum()


def _mix(p: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` of the informed answer, the rest from an uninformed prior."""
    prior = np.asarray(prior, dtype=np.float64)
    return weight * p + (1.0 - weight) * prior / prior.sum()


def _odd(m: Morphology) -> float:
    """The strongest odd feature (ring, merger, disturbance, irregularity, lens, dust lane)."""
    return max(m.ring, m.merger, m.disturbed, m.irregular, m.lens, m.dust_lane)


def _smooth_features_star(m: Morphology) -> list[float]:
    """Q1 smooth / features / star."""
    v = m.visibility
    star = 0.012 + 0.025 * (1 - v)
    if m.kind == "smooth":
        feat = 0.02 + 0.08 * (1 - v) + 0.35 * _odd(m) * v
    elif m.kind == "disk":
        detail = min(1.0, 0.5 * (1 - m.bulge_fraction) + 0.6 * m.arm_strength + 0.4 * m.bar + 0.3 * _odd(m))
        feat = 0.05 + 0.93 * v * (0.8 + 0.2 * detail)
    elif m.kind == "edgeon":
        feat = 0.3 + 0.68 * v
    else:
        star = 0.5 + 0.4 * v
        feat = 0.25 * (1 - star)
    feat = min(feat, 0.97 - star)
    return [1 - feat - star, feat, star]


def _edge_on(m: Morphology) -> list[float]:
    """Q2 edge-on?"""
    if m.kind == "edgeon":
        yes = 0.45 + 0.5 * m.visibility
    elif m.kind == "artifact" and m.artifact == "trail":
        yes = 0.5
    else:
        yes = 0.03 + 0.35 * float(np.clip((0.5 - m.q) / 0.35, 0, 1))
    return [yes, 1 - yes]


def _bar(m: Morphology) -> list[float]:
    """Q3 bar?"""
    v = m.visibility
    yes = 0.06 + 0.85 * m.bar * v if m.bar > 0 else 0.05 + 0.1 * (1 - v)
    return [yes, 1 - yes]


def _spiral(m: Morphology) -> list[float]:
    """Q4 spiral arms?"""
    if m.arms > 0:
        yes = 0.15 + 0.85 * min(1.0, 1.5 * m.arm_strength) * m.visibility
    else:
        yes = 0.1 + 0.15 * m.irregular + 0.1 * m.disturbed
    yes = min(yes, 0.97)
    return [yes, 1 - yes]


def _bulge(m: Morphology) -> np.ndarray:
    """Q5 bulge prominence: none / noticeable / obvious / dominant."""
    v = m.visibility
    position = float(np.interp(m.bulge_fraction, [0.0, 0.1, 0.35, 0.8], [0.0, 1.0, 2.0, 3.0]))
    if m.kind != "disk":
        position = min(position, 2.0)
    return _mix(_soft_onehot(position, 4, 0.45 + 0.5 * (1 - v)), [0.15, 0.4, 0.35, 0.1], 0.6 + 0.35 * v)


def _anything_odd(m: Morphology) -> list[float]:
    """Q6 anything odd?"""
    v = m.visibility
    yes = 0.08 + 0.12 * (1 - v) + 0.75 * _odd(m) * (0.4 + 0.6 * v)
    if m.kind == "artifact":
        yes += 0.35
    return [min(yes, 0.97), 1 - min(yes, 0.97)]


def _roundness(m: Morphology) -> np.ndarray:
    """Q7 roundness: completely / in between / cigar."""
    position = float(np.interp(m.q, [0.3, 0.62, 0.95], [2.0, 1.0, 0.0]))
    return _soft_onehot(position, 3, 0.55 + 0.35 * (1 - m.visibility))


def _odd_feature(m: Morphology) -> np.ndarray:
    """Q8 odd feature: ring, lens, disturbed, irregular, other, merger, dust lane."""
    weights = np.array([0.04, 0.04, 0.06, 0.07, 0.28, 0.06, 0.01])
    present = np.array([m.ring, m.lens, m.disturbed, m.irregular, 0.0, m.merger, m.dust_lane])
    if m.kind == "artifact":
        present[4] = 1.0
    weights = weights + 3.0 * present * (0.3 + 0.7 * m.visibility)
    return weights / weights.sum()


def _edge_on_bulge(m: Morphology) -> np.ndarray:
    """Q9 edge-on bulge: rounded / boxy / none."""
    if m.edge_bulge:
        truth = np.eye(3)[EDGE_BULGES.index(m.edge_bulge)]
    else:
        truth = np.array([0.8, 0.05, 0.15]) if m.bulge_fraction > 0.1 else np.array([0.3, 0.05, 0.65])
    return _mix(truth, [0.6, 0.12, 0.28], 0.3 + 0.6 * m.visibility)


def _pitch(m: Morphology) -> np.ndarray | list[float]:
    """Q10 pitch: tight / medium / loose."""
    if m.arms > 0:
        v = m.visibility
        position = float(np.interp(m.pitch_deg, [10.0, 20.0, 32.0], [0.0, 1.0, 2.0]))
        return _mix(_soft_onehot(position, 3, 0.4 + 0.5 * (1 - v)), [0.45, 0.38, 0.17], 0.4 + 0.55 * v)
    return [0.45, 0.38, 0.17]


def _arm_count(m: Morphology) -> np.ndarray | list[float]:
    """Q11 number of arms: 1 / 2 / 3 / 4 / more / can't tell."""
    if m.arms > 0:
        v = m.visibility
        arms = _soft_onehot(m.arms - 1, 5, 0.35 + 0.5 * (1 - v))
        cant = 0.1 + 0.6 * (1 - v * min(1.0, 1.3 * m.arm_strength))
        return np.append(arms * (1 - cant), cant)
    return [0.08, 0.3, 0.05, 0.02, 0.02, 0.53]


QUESTION_RULES = (_smooth_features_star, _edge_on, _bar, _spiral, _bulge, _anything_odd, _roundness, _odd_feature,
                  _edge_on_bulge, _pitch, _arm_count)
"""One volunteer's answer probabilities for each question (Q1 to Q11, in tree order), from the
galaxy's morphology and visibility: one small rule per question, so each can be read and tuned alone."""


def question_probabilities(m: Morphology) -> np.ndarray:
    """Per-question answer probabilities of one volunteer who reaches each question.

    Returns a 37-vector in Kaggle column order in which every question sums to 1; the
    noise-free Kaggle-style label is ``tree.normalise_to_tree`` of it.
    """
    p = np.zeros(tree.N_ANSWERS)
    for answers, rule in zip(tree.question_slices(), QUESTION_RULES, strict=True):
        p[answers] = rule(m)
    return p


def simulate_votes(probabilities: np.ndarray, n_volunteers: int, rng: np.random.Generator) -> np.ndarray:
    """Vote fractions of ``n_volunteers`` who each walk the decision tree.

    Every volunteer answers Q1 and Q6, then only the questions their own answers lead to,
    so counting each answer and dividing by the number of volunteers gives fractions
    whose questions sum *exactly* to their parent answer (as in Kaggle's file). Drawing a
    multinomial per question from the counts that reached it is the same walk, vectorised.
    """
    s = tree.question_slices()
    counts = np.zeros(tree.N_ANSWERS, dtype=np.int64)
    for sl, parent in zip(s, tree.parent_indices(), strict=True):
        reached = n_volunteers if parent is None else int(counts[parent])
        p = probabilities[sl] / probabilities[sl].sum()
        counts[sl] = rng.multinomial(reached, p) if reached else 0
    return counts / float(n_volunteers)
