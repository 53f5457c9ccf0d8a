"""Procedural background scenes of the course's photo collection (used from Lecture 02 on).

Each scene (beach, park, street, snow, kitchen table, lake, living room) is painted with numpy:
fractal value noise for texture, bands for sky, sea and road, stripes for wood grain and ripples.
A few larger texture variants per scene and image size are painted once with a fixed seed and
cached; each image then takes a random crop of one variant, may mirror it, and gets its own
lighting (brightness, colour cast, a linear gradient) and sensor noise, all vectorised.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

SCENE_NAMES = ("beach", "park", "street", "snow", "kitchen table", "lake", "living room")
VARIANTS = 5
# Horizon of each scene as a fraction of the height (None: seen from above, no sky).
# Where the water ends, as a fraction of the image height: boats float above this line, the
# rest stand below it.
WATER_LINES = {"beach": 0.44, "lake": 0.68}
HORIZONS = {
    "beach": 0.32,
    "park": 0.28,
    "street": 0.40,
    "snow": 0.30,
    "kitchen table": None,
    "lake": 0.30,
    "living room": 0.52,
}


def fractal_noise(rng: np.random.Generator, h: int, w: int, base: int = 4, octaves: int = 4):
    """Return smooth value noise in [0, 1] of shape (h, w): octaves of upsampled random grids."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        cells = base * 2**k
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        up = Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BICUBIC)
        out += amp * np.asarray(up)
        total += amp
        amp *= 0.5
    out /= total
    return np.clip((out - out.min()) / (np.ptp(out) + 1e-6), 0.0, 1.0)


def _mix(a, b, t):
    """Blend colours a and b (length-3) with weights t (h, w) -> (h, w, 3)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a + (b - a) * t[..., None]


def _sky(rng, h, w):
    top = np.array([0.35, 0.55, 0.90]) + rng.normal(0, 0.04, 3)
    bottom = np.array([0.75, 0.85, 0.97]) + rng.normal(0, 0.03, 3)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    clouds = fractal_noise(rng, h, w, base=3)
    sky = _mix(top, bottom, t)
    return sky + 0.25 * np.clip(clouds - 0.55, 0, 1)[..., None]


def _paint(scene: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Paint one variant of a scene: (1.25 size)² float32 RGB in [0, 1].

    The variant is cropped around its centre, so image row ``r`` is texture row ``r + margin``.
    """
    h = w = int(size * 1.25)
    margin = (h - size) // 2
    horizon = HORIZONS[scene]
    hz = int(size * (horizon + rng.uniform(-0.04, 0.04))) + margin if horizon is not None else 0
    yy = np.linspace(0, 1, h - hz, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    n = fractal_noise(rng, h - hz, w)
    fine = rng.random((h - hz, w)).astype(np.float32)
    if scene == "beach":
        sea_h = max(2, int(WATER_LINES["beach"] * size) + margin - hz)
        ground = _mix([0.93, 0.84, 0.62], [0.80, 0.68, 0.45], 0.6 * n + 0.2 * fine)
        ripple = 0.5 + 0.5 * np.sin(np.arange(sea_h)[:, None] * 1.7 + 3 * n[:sea_h])
        ground[:sea_h] = _mix([0.10, 0.45, 0.70], [0.55, 0.80, 0.90], 0.7 * ripple)
        ground[sea_h : sea_h + 2] = [0.97, 0.97, 0.95]
    elif scene == "park":
        blades = np.asarray(
            Image.fromarray(rng.random((h - hz, w // 2)).astype(np.float32), mode="F").resize(
                (w, h - hz), Image.Resampling.BILINEAR
            )
        )
        ground = _mix([0.20, 0.45, 0.12], [0.50, 0.75, 0.25], 0.55 * n + 0.35 * blades + 0.1 * yy)
        trees = fractal_noise(rng, 1, w, base=6)[0]
        tree_h = (4 + 10 * trees * h / 128).astype(int)
        for x in range(w):
            ground[: tree_h[x], x] = [0.12, 0.32, 0.12] + 0.06 * n[: tree_h[x], x, None]
    elif scene == "street":
        ground = _mix([0.30, 0.30, 0.32], [0.45, 0.45, 0.46], 0.5 * n + 0.4 * fine)
        walk = max(3, (h - hz) // 6)
        ground[:walk] = _mix(
            [0.70, 0.68, 0.64], [0.58, 0.56, 0.52], 0.4 * n[:walk] + 0.4 * fine[:walk]
        )
        lane = (h - hz) * 3 // 5
        dash = (np.arange(w) // max(4, w // 10)) % 2 == 0
        ground[lane : lane + max(2, h // 64), dash] = [0.95, 0.93, 0.80]
    elif scene == "snow":
        ground = _mix([0.99, 0.99, 1.00], [0.70, 0.78, 0.92], 0.75 * n**1.5 + 0.1 * fine)
    elif scene == "kitchen table":
        wood = _mix([0.62, 0.40, 0.22], [0.80, 0.58, 0.36], rng.uniform(0.0, 0.6) * np.ones_like(n))
        grain = 0.5 + 0.5 * np.sin(np.arange(h)[:, None] * rng.uniform(0.5, 0.9) + 8 * n)
        planks = (np.arange(h) % max(8, h // 4) < 1)[:, None]
        ground = wood * (0.85 + 0.2 * grain[..., None]) * np.where(planks, 0.6, 1.0)[..., None]
    elif scene == "lake":
        ripple = 0.5 + 0.5 * np.sin(np.arange(h - hz)[:, None] * (0.6 + 2.5 * yy) + 4 * n)
        ground = _mix([0.08, 0.30, 0.50], [0.35, 0.60, 0.75], 0.5 * ripple + 0.3 * n)
        far = max(2, h // 25)
        ground[:far] = [0.15, 0.35, 0.15]
        # The near shore, where people and dogs stand: sand with tufts of grass.
        wobble = (size * 0.03 * fractal_noise(rng, 1, w, base=4)[0]).astype(int)
        line = int(WATER_LINES["lake"] * size) + margin - hz + wobble
        sand = _mix([0.80, 0.72, 0.50], [0.45, 0.62, 0.30], 0.7 * n + 0.2 * fine)
        near = np.arange(h - hz)[:, None] >= line[None, :]
        ground = np.where(near[..., None], sand, ground)
    else:  # living room: a painted wall above a wooden floor.
        ground = _mix([0.55, 0.36, 0.20], [0.72, 0.52, 0.32], 0.6 * n + 0.2 * fine)
        boards = (np.arange(w) % max(6, w // 8) < 1)[None, :]
        ground = ground * np.where(boards, 0.7, 1.0)[..., None]
    if horizon is None:
        return np.clip(ground, 0, 1).astype(np.float32)
    if scene == "living room":
        hue = rng.uniform(0, 1, 3) * 0.25 + np.array([0.65, 0.62, 0.55])
        stripes = (np.arange(w) // max(4, w // 12)) % 2
        top = _mix(hue, hue * 0.92, stripes[None, :] * np.ones((hz, 1), np.float32))
        top += 0.05 * fractal_noise(rng, hz, w)[..., None]
    else:
        top = _sky(rng, hz, w)
        if scene == "snow":
            ridge = (hz * (0.15 + 0.45 * fractal_noise(rng, 1, w, base=5)[0])).astype(int)
            rows = np.arange(hz)[:, None]
            rock = _mix(
                [0.50, 0.55, 0.68], [0.92, 0.94, 0.98], (rows < hz - 0.6 * ridge) * np.ones((1, w))
            )
            top = np.where((rows > hz - ridge)[..., None], rock, top)
        elif scene == "street":
            tops = (hz * (0.2 + 0.7 * rng.random(max(2, -(-w // 16))))).astype(int)  # ceil
            heights = np.repeat(tops, 16)[:w]
            rows = np.arange(hz)[:, None]
            shade = np.repeat(0.4 + 0.3 * rng.random(len(tops)), 16)[:w]
            windows = ((rows % 6 < 3) & (np.arange(w)[None, :] % 5 < 2)) * 0.15
            building = (shade[None, :] + windows)[..., None] * np.array([1.0, 0.97, 0.92])
            top = np.where((rows > hz - heights)[..., None], building, top)
    return np.clip(np.concatenate([top, ground], axis=0), 0, 1).astype(np.float32)


@lru_cache(maxsize=64)
def scene_variants(scene: str, size: int) -> tuple[np.ndarray, ...]:
    """Return the cached texture variants of a scene and their mirror images.

    Each is float32 RGB in [0, 1] of (1.25 size) × (1.25 size) pixels, stored as a contiguous
    (rows, columns × 3) array so that crops keep whole rows contiguous for fast arithmetic.
    """
    if scene not in SCENE_NAMES:
        raise ValueError(f"Expected a scene among {SCENE_NAMES}; received {scene!r}.")
    big = int(size * 1.25)
    rng = np.random.default_rng([SCENE_NAMES.index(scene), size, 2024])
    out = []
    for _ in range(VARIANTS):
        tex = _paint(scene, rng, size)
        out += [tex.reshape(big, -1), np.ascontiguousarray(tex[:, ::-1]).reshape(big, -1)]
    return tuple(out)


@lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    return np.random.default_rng([size, 7]).normal(0, 1, (2 * size, 6 * size)).astype(np.float32)


def render_background(scene: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Return one background (size, size, 3) float32 in [0, 1] with its own lighting and noise.

    The crop keeps the variant's horizon: it moves by at most a fortieth of the image.
    """
    variants = scene_variants(scene, size)
    tex = variants[int(rng.random() * len(variants))]
    extra = tex.shape[0] - size
    y0 = extra // 2 + int(rng.integers(-(size // 40), size // 40 + 1))
    x0 = int(rng.integers(extra + 1))
    img = tex[y0 : y0 + size, 3 * x0 : 3 * (x0 + size)]
    # Lighting: a colour cast times a linear gradient, 1 + gx * x + gy * y, built as an outer sum
    # over (rows, columns × channels) so that every operation runs on long contiguous rows, in
    # place, to spare the allocator.
    gain = (rng.uniform(0.78, 1.12) * (1.0 + rng.normal(0, 0.04, 3))).astype(np.float32)
    gx, gy = (float(v) for v in rng.normal(0, 0.08, 2))
    ramp, ramp3 = _ramps(size)
    gains = np.tile(gain, size)
    out = np.multiply(ramp[:, None], gy * gains[None, :])
    out += gains * (1.0 + gx * ramp3)
    out *= img
    bank = _noise_bank(size)
    ny, nx = (int(v) for v in rng.integers(size, size=2))
    noise = bank[ny : ny + size, 3 * nx : 3 * (nx + size)]
    out += noise * np.float32(rng.uniform(0.005, 0.03))
    return out.reshape(size, size, 3)


@lru_cache(maxsize=8)
def _ramps(size: int) -> tuple[np.ndarray, np.ndarray]:
    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    return ramp, np.repeat(ramp, 3)


def horizon_of(scene: str) -> float | None:
    """Return the scene's usual horizon (fraction of height), or None for top-down scenes."""
    return HORIZONS[scene]
