"""Paint a :class:`~galaxy_lib.synth.morphology.Morphology` as an SDSS-like 424x424 cut-out.

The light is modelled at half resolution (212x212) in units of the sky noise and in three
bands (stored as R, G, B): Sersic bulges and ellipticals (red), exponential disks, spiral
arms, rings and star-forming clumps (blue), bars, edge-on disks with dust lanes, merging
companions, lens arcs, field stars and faint background galaxies. A Gaussian point-spread
blur, sky plus photon noise and an asinh stretch (as the SDSS colour composites use) follow;
the result is upsampled to 424x424, which also gives the slightly correlated noise of the
Kaggle images, and JPEG-compressed by the caller. Working at half resolution with whole-array
NumPy keeps one galaxy at a few milliseconds, so 2,000 galaxies take well under a minute.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from galaxy_lib.synth.morphology import Morphology

SIZE = 424  # Kaggle frame
SCALE = 2  # internal pixels are SCALE frame pixels
N = SIZE // SCALE
SOFTENING = 10.0  # asinh softening, in sky-noise units
WHITE = 6000.0  # surface brightness that maps to 255
GAIN = 5.0  # photon-noise gain: variance = SKY_NOISE**2 + signal / GAIN
SKY_NOISE = 1.5  # sky noise; 1.5 matches the grain of the Kaggle JPEGs

# band weights (R, G, B) of the stellar populations
RED = np.array([1.0, 0.76, 0.5], dtype=np.float32)  # old bulge / elliptical light
DISK = np.array([0.82, 0.74, 0.74], dtype=np.float32)
BLUE = np.array([0.55, 0.6, 1.0], dtype=np.float32)  # young stars in arms, rings, clumps
SKY = np.array([1.8, 1.45, 0.95], dtype=np.float32)  # residual sky pedestal

_YY, _XX = np.mgrid[0:N, 0:N].astype(np.float32)
# A fixed tile of pixel-scale noise; each galaxy takes a window at a random offset from it.
# Drawing 424x424x3 fresh normals per image would cost more than rendering the galaxy.
_GRAIN = np.random.default_rng(20140404).standard_normal((2 * SIZE, 2 * SIZE, 3), dtype=np.float32)


def _frame(cx: float, cy: float, pa: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along the major axis and along the (stretched) minor axis."""
    dx, dy = _XX - cx, _YY - cy
    c, s = math.cos(pa), math.sin(pa)
    u = dx * c + dy * s
    w = (-dx * s + dy * c) / max(q, 0.05)
    return u, w


def _bn(n: float) -> float:
    return 2.0 * n - 1.0 / 3.0 + 0.009876 / n


def _sersic_luminosity(n: float, re: float) -> float:
    """Total light of a round Sersic profile with unit surface brightness at ``re``."""
    b = _bn(n)
    return 2 * math.pi * n * math.exp(b) * b ** (-2 * n) * math.gamma(2 * n) * re * re


def sersic(u: np.ndarray, w: np.ndarray, re: float, n: float, boxy: float = 2.0) -> np.ndarray:
    """Sersic surface brightness, 1 at the half-light radius ``re``; ``boxy`` > 2 gives
    boxy isophotes (generalised ellipses), as in boxy/peanut edge-on bulges."""
    r = np.sqrt(u * u + w * w) if boxy == 2.0 else (np.abs(u) ** boxy + np.abs(w) ** boxy) ** (1.0 / boxy)
    return np.exp(-_bn(n) * ((r / re) ** (1.0 / n) - 1.0)).astype(np.float32)


def _add(image: np.ndarray, light: np.ndarray, colour: np.ndarray, amplitude: float) -> None:
    image += light[..., None] * (colour * amplitude)


def _splat(image: np.ndarray, x: float, y: float, flux: np.ndarray) -> None:
    """Deposit a point source bilinearly; the PSF blur later gives it its shape."""
    ix, iy = math.floor(x), math.floor(y)
    fx, fy = x - ix, y - iy
    for ddx, ddy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        px, py = ix + ddx, iy + ddy
        if 0 <= px < N and 0 <= py < N:
            image[py, px] += flux * wgt


def _bulge(image: np.ndarray, m: Morphology, cx: float, cy: float, disk_light: float, q: float,
           boxy: float = 2.0) -> None:
    """A red Sersic bulge whose light is ``bulge_fraction`` of the total."""
    bt = m.bulge_fraction
    if bt <= 0:
        return
    re = m.re / SCALE
    rb = max(re * (0.18 + 0.3 * bt), 0.7)
    n = m.sersic_n if boxy == 2.0 else 1.0
    ie = bt / (1 - bt) * disk_light / _sersic_luminosity(n, rb)
    u, w = _frame(cx, cy, m.pa, q)
    _add(image, sersic(u, w, rb, n, boxy), RED, ie)


def _disk_galaxy(image: np.ndarray, m: Morphology, cx: float, cy: float, rng: np.random.Generator) -> None:
    """Bulge + exponential disk seen at inclination ``q``, with bar, arms, ring, clumps."""
    re = m.re / SCALE
    u, w = _frame(cx, cy, m.pa, m.q)
    r = np.sqrt(u * u + w * w) + 1e-3
    ie = m.brightness
    hd = re / 1.68  # exponential scale length
    disk = np.exp(1.68 - r / hd).astype(np.float32)
    if m.arms > 0:
        theta = np.arctan2(w, u)
        start = max(0.5 * hd, (0.8 * re if m.bar > 0 else 0.35 * re))
        wind = 1.0 / math.tan(math.radians(m.pitch_deg))
        phase = m.arms * (theta - wind * np.log(r / start)) + rng.uniform(0, 2 * math.pi)
        sharp = 1.5 + 2.0 * rng.random()
        arms = (0.5 * (1 + np.cos(phase))) ** sharp
        window = np.clip((r - 0.5 * start) / (0.5 * start), 0, 1) * np.exp(1.68 - r / (1.15 * hd))
        arm_light = (arms * window * _texture(rng, 0.6)).astype(np.float32)
        _add(image, disk, DISK, ie * (1 - 0.6 * m.arm_strength))
        _add(image, arm_light, BLUE, ie * 1.6 * m.arm_strength)
        ys, xs = np.nonzero(arm_light > 0.5 * arm_light.max())
        if len(xs):
            for k in rng.integers(0, len(xs), int(2 + 6 * m.arm_strength)):
                _splat(image, float(xs[k]), float(ys[k]), BLUE * float(ie * rng.uniform(2.0, 6.0)))
    else:
        _add(image, disk, DISK, ie)
    if m.bar > 0:
        blen = max(re * (0.6 + 0.4 * m.bar), 2.0)
        angle = rng.uniform(0, math.pi)
        c2, s2 = math.cos(angle), math.sin(angle)
        ub, wb = u * c2 + w * s2, -u * s2 + w * c2
        bar = np.exp(-((np.abs(ub) / blen) ** 3 + (np.abs(wb) / (0.25 * blen)) ** 2)).astype(np.float32)
        _add(image, bar, RED * 0.5 + DISK * 0.5, ie * 2.5 * m.bar)
    if m.ring > 0:
        rr = re * rng.uniform(1.1, 1.6)
        ring = np.exp(-0.5 * ((r - rr) / (0.12 * rr)) ** 2).astype(np.float32)
        _add(image, ring, BLUE, ie * 1.5 * m.ring)
    _bulge(image, m, cx, cy, ie * _sersic_luminosity(1.0, re), min(1.0, 0.75 + 0.25 * m.q))


def _texture(rng: np.random.Generator, contrast: float, cells: int = 24) -> np.ndarray:
    """A smooth random multiplicative field (lognormal), so that arms and disks look
    flocculent and patchy instead of drawn with a compass."""
    field = rng.standard_normal((cells, cells), dtype=np.float32)
    field = cv2.resize(field, (N, N), interpolation=cv2.INTER_CUBIC)
    return np.exp(contrast * field - 0.5 * contrast**2)


def _sech2(x: np.ndarray) -> np.ndarray:
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def _edgeon_galaxy(image: np.ndarray, m: Morphology, cx: float, cy: float, rng: np.random.Generator) -> None:
    re = m.re / SCALE
    c, s = math.cos(m.pa), math.sin(m.pa)
    dx, dy = _XX - cx, _YY - cy
    u, z = dx * c + dy * s, -dx * s + dy * c
    hd, hz = re / 1.68, max(re * m.q * 0.6, 0.8)
    truncation = np.clip(1.0 - (np.abs(u) - 3.0 * hd) / hd, 0.0, 1.0)  # real disks end near 4 scale lengths
    disk = (np.exp(1.68 - np.abs(u) / hd) * _sech2(z / hz) * truncation).astype(np.float32)
    light = np.zeros_like(image)
    _add(light, disk, DISK * 0.6 + BLUE * 0.4, m.brightness * 1.5 * (0.25 / m.q) ** 0.5)  # longer sight-line
    if m.edge_bulge == "boxy":
        _bulge(light, m, cx, cy, m.brightness * _sersic_luminosity(1.0, re), 0.7, boxy=3.5)
    elif m.edge_bulge == "rounded":
        _bulge(light, m, cx, cy, m.brightness * _sersic_luminosity(1.0, re), rng.uniform(0.65, 0.9))
    if m.dust_lane > 0:
        offset = hz * rng.uniform(-0.3, 0.3)
        lane = np.exp(-0.5 * ((z - offset) / (0.35 * hz)) ** 2) * np.exp(-np.abs(u) / (2.5 * hd))
        tau = (1.2 * m.dust_lane * lane).astype(np.float32)
        light *= np.exp(-tau[..., None] * np.array([0.8, 1.0, 1.25], dtype=np.float32))
    image += light


def _smooth_galaxy(image: np.ndarray, m: Morphology, cx: float, cy: float) -> None:
    u, w = _frame(cx, cy, m.pa, m.q)
    _add(image, sersic(u, w, m.re / SCALE, m.sersic_n), RED, m.brightness)


def _irregular(image: np.ndarray, m: Morphology, cx: float, cy: float, rng: np.random.Generator) -> None:
    """Clumpy blue knots scattered over the disk (Q8.4 irregular)."""
    re = m.re / SCALE
    for _ in range(int(5 + 10 * m.irregular)):
        x, y = cx + rng.normal(0, re), cy + rng.normal(0, re * 0.8)
        sig = rng.uniform(0.6, 0.2 * re + 1)
        blob = np.exp(-0.5 * ((_XX - x) ** 2 + (_YY - y) ** 2) / sig**2).astype(np.float32)
        _add(image, blob, BLUE, m.brightness * rng.uniform(1.0, 4.0) * m.irregular)


def _tail(image: np.ndarray, cx: float, cy: float, radius: float, start: float, sweep: float, width: float,
          colour: np.ndarray, amplitude: float) -> None:
    """A curved stream of light: tidal tail, plume or lensed arc."""
    dx, dy = _XX - cx, _YY - cy
    r = np.sqrt(dx * dx + dy * dy)
    theta = np.mod(np.arctan2(dy, dx) - start, 2 * math.pi)
    along = np.clip(1 - np.abs(theta - sweep / 2) / (sweep / 2), 0, 1)
    arc = (np.exp(-0.5 * ((r - radius) / width) ** 2) * along**0.7).astype(np.float32)
    _add(image, arc, colour, amplitude)


def _star(image: np.ndarray, x: float, y: float, flux: float, colour: np.ndarray, spikes: bool = False) -> None:
    _splat(image, x, y, colour * flux)
    if flux > 3000:
        halo_sig = 2.0 + math.log10(flux / 3000) * 3
        d2 = (_XX - x) ** 2 + (_YY - y) ** 2
        halo = np.exp(-0.5 * d2 / halo_sig**2).astype(np.float32)
        _add(image, halo, colour, flux * 0.012 / halo_sig)
    if spikes:
        length = 2 + 4 * math.log10(max(flux, 10) / 1000)
        for ang in (math.pi / 4, 3 * math.pi / 4):
            c, s = math.cos(ang), math.sin(ang)
            u = (_XX - x) * c + (_YY - y) * s
            v = -(_XX - x) * s + (_YY - y) * c
            spike = (np.exp(-0.5 * (v / 0.5) ** 2) * np.exp(-np.abs(u) / length)).astype(np.float32)
            _add(image, spike, colour, flux * 0.002)


def _background(image: np.ndarray, rng: np.random.Generator) -> None:
    """Field stars and faint neighbour galaxies scattered over the frame."""
    for _ in range(rng.poisson(9)):
        flux = float(80 * (rng.pareto(1.1) + 1))
        col = np.array([rng.uniform(0.5, 1.3), rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.2)], dtype=np.float32)
        x, y = rng.uniform(0, N - 1, 2)
        _star(image, float(x), float(y), min(flux, 60000.0), col, spikes=flux > 20000)
    for _ in range(rng.poisson(4)):
        x, y = rng.uniform(0, N - 1, 2)
        if abs(x - N / 2) < 25 and abs(y - N / 2) < 25:
            continue
        re = rng.uniform(1.0, 4.0)
        x0, x1, y0, y1 = (max(int(x - 6 * re), 0), min(int(x + 6 * re) + 1, N),
                          max(int(y - 6 * re), 0), min(int(y + 6 * re) + 1, N))
        pa, q = rng.uniform(0, math.pi), rng.uniform(0.3, 1.0)
        c, s = math.cos(pa), math.sin(pa)
        dx, dy = _XX[y0:y1, x0:x1] - x, _YY[y0:y1, x0:x1] - y
        u, w = dx * c + dy * s, (-dx * s + dy * c) / q
        col = RED if rng.random() < 0.5 else DISK
        image[y0:y1, x0:x1] += sersic(u, w, re, 1.5)[..., None] * col * rng.uniform(1.5, 15)


def render(m: Morphology, rng: np.random.Generator, jpeg_quality: int = 90) -> np.ndarray:
    """The 424x424x3 uint8 image (BGR, for ``cv2.imencode``) of one galaxy."""
    image = np.zeros((N, N, 3), dtype=np.float32)
    cx, cy = N / 2 + rng.normal(0, 0.7), N / 2 + rng.normal(0, 0.7)
    _background(image, rng)
    if m.kind in ("smooth", "star", "artifact"):
        if m.kind == "smooth" or rng.random() < 0.5:
            _smooth_galaxy(image, m, cx, cy)
    elif m.kind == "disk":
        _disk_galaxy(image, m, cx, cy, rng)
    else:
        _edgeon_galaxy(image, m, cx, cy, rng)
    re = m.re / SCALE
    if m.irregular > 0:
        _irregular(image, m, cx, cy, rng)
    if m.disturbed > 0:
        _tail(image, cx, cy, re * rng.uniform(1.2, 2.2), rng.uniform(0, 2 * math.pi), rng.uniform(1.5, 3.0),
              re * 0.35, DISK, m.brightness * 1.5 * m.disturbed)
        ang = rng.uniform(0, 2 * math.pi)
        plume = sersic(*_frame(cx + re * math.cos(ang), cy + re * math.sin(ang), ang, 0.5), re * 0.8, 1.0)
        _add(image, plume, DISK, m.brightness * 0.8 * m.disturbed)
    if m.merger > 0:
        ang, dist = rng.uniform(0, 2 * math.pi), re * rng.uniform(1.3, 2.6)
        ox, oy = cx + dist * math.cos(ang), cy + dist * math.sin(ang)
        cu, cw = _frame(ox, oy, rng.uniform(0, math.pi), rng.uniform(0.5, 1.0))
        _add(image, sersic(cu, cw, re * rng.uniform(0.4, 0.9), rng.uniform(1.0, 4.0)),
             RED if rng.random() < 0.5 else DISK, m.brightness * rng.uniform(0.6, 1.4))
        _tail(image, (cx + ox) / 2, (cy + oy) / 2, dist * 0.9, ang + rng.uniform(1.0, 2.5), rng.uniform(1.0, 2.2),
              re * 0.3, DISK * 0.5 + BLUE * 0.5, m.brightness * 1.5 * m.merger)
    if m.lens > 0:
        _tail(image, cx, cy, re * rng.uniform(1.6, 2.4), rng.uniform(0, 2 * math.pi), rng.uniform(0.8, 2.2),
              0.6, BLUE, m.brightness * 4.0 * m.lens)
    if m.artifact == "star":
        _star(image, cx + rng.normal(0, 1), cy + rng.normal(0, 1), float(np.exp(rng.uniform(np.log(3e4), np.log(3e5)))),
              np.array([rng.uniform(0.6, 1.2), 0.9, rng.uniform(0.6, 1.2)], dtype=np.float32), spikes=True)
    elif m.artifact == "trail":
        ang = rng.uniform(0, math.pi)
        v = -(_XX - cx) * math.sin(ang) + (_YY - cy) * math.cos(ang) + rng.normal(0, 3)
        trail = np.exp(-0.5 * (v / 0.7) ** 2).astype(np.float32)
        col = np.zeros(3, dtype=np.float32)
        col[rng.integers(0, 3)] = 1.0
        _add(image, trail, col * 0.7 + 0.3, m.brightness * rng.uniform(2.0, 6.0))
    elif m.artifact == "bleed":
        _star(image, cx, cy, 2e5, np.array([1.0, 1.0, 1.0], dtype=np.float32), spikes=True)
        bleed = (np.exp(-0.5 * ((_XX - cx) / 0.8) ** 2) * np.exp(-np.abs(_YY - cy) / (re * 3))).astype(np.float32)
        _add(image, bleed, np.array([1.0, 1.0, 1.0], dtype=np.float32), m.brightness * 10)

    seeing = rng.uniform(0.7, 1.1)
    image = cv2.GaussianBlur(image, (0, 0), seeing)
    noise = rng.standard_normal((N, N, 3), dtype=np.float32)
    image += noise * np.sqrt(SKY_NOISE**2 + np.maximum(image, 0) / GAIN) + SKY
    # Lupton et al. (2004) colour-preserving asinh stretch, as in the SDSS composites: every
    # band is scaled by the same factor, so cores keep their colour instead of turning white
    x = np.maximum(image.mean(axis=2, keepdims=True) / SOFTENING, 1e-6)
    factor = np.where(x > 1e-3, np.arcsinh(x) / x, 1.0).astype(np.float32)
    stretched = image * factor * (255.0 / (SOFTENING * math.asinh(WHITE / SOFTENING)))
    big = cv2.resize(stretched, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    # pixel-scale grain (per band, stronger on the galaxy), as in the Kaggle JPEGs
    oy, ox = rng.integers(0, SIZE, 2)
    grain = big * 0.04
    grain += 1.2
    grain *= _GRAIN[oy : oy + SIZE, ox : ox + SIZE]
    big += grain
    big += 0.5
    np.clip(big, 0, 255, out=big)
    return cv2.cvtColor(big.astype(np.uint8), cv2.COLOR_RGB2BGR)


def encode_jpeg(image_bgr: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes as Kaggle shipped them (libjpeg via OpenCV, deterministic)."""
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a synthetic image as JPEG")
    return buf.tobytes()
