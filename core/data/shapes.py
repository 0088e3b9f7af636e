"""Shape families of the synthetic object scenes: random closed outlines around the origin.

Each shape function takes a generator and a typical radius ``r`` and returns a
closed polygon (``N x 2`` float, x/y) around the origin; the scene renderer
(:mod:`core.data.scenes`) rotates it, moves its centroid to the image centre
and shrinks it if it would leave the frame. The draws each function makes from
the generator are part of the scenes' recipe: changing them changes every
built file.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["SHAPE_FAMILIES"]


def _shape_ellipse(rng: np.random.Generator, r: float) -> np.ndarray:
    """An ellipse of half-axes ``r`` and a random fraction of it."""
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    return np.stack([r * np.cos(t), r * rng.uniform(0.5, 0.95) * np.sin(t)], axis=1)


def _shape_rounded_rectangle(rng: np.random.Generator, r: float) -> np.ndarray:
    """A rectangle with random sides and rounded corners."""
    w, h = r * rng.uniform(0.75, 1.0), r * rng.uniform(0.45, 0.8)
    c = min(w, h) * rng.uniform(0.15, 0.5)
    pts = []
    for cx, cy, start in ((w - c, h - c, 0.0), (-(w - c), h - c, 0.5), (-(w - c), -(h - c), 1.0), (w - c, -(h - c), 1.5)):
        t = np.linspace(start * np.pi, (start + 0.5) * np.pi, 12)
        pts.append(np.stack([cx + c * np.cos(t), cy + c * np.sin(t)], axis=1))
    return np.concatenate(pts)


def _shape_star(rng: np.random.Generator, r: float) -> np.ndarray:
    """A star of 5 to 8 points with a random inner radius."""
    n = int(rng.integers(5, 9))
    inner = rng.uniform(0.4, 0.6)
    t = np.arange(2 * n) * np.pi / n
    radius = np.where(np.arange(2 * n) % 2 == 0, r, r * inner)
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _shape_polygon(rng: np.random.Generator, r: float) -> np.ndarray:
    """A convex-ish polygon of 3 to 8 jittered vertices."""
    n = int(rng.integers(3, 9))
    # jittered angles and radii keep it convex-ish but not regular
    t = (np.arange(n) + rng.uniform(-0.2, 0.2, n)) * 2 * np.pi / n
    radius = r * rng.uniform(0.85, 1.0, n)
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _shape_heart(rng: np.random.Generator, r: float) -> np.ndarray:
    """The classic parametric heart, randomly stretched sideways."""
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    s = r / 16.0
    return np.stack([x * s * rng.uniform(0.85, 1.1), y * s], axis=1)


def _shape_fourier_blob(rng: np.random.Generator, r: float) -> np.ndarray:
    """A smooth blob: a circle whose radius carries a few random harmonics."""
    t = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    k = np.arange(2, 6)
    amp = rng.uniform(0.0, 1.0, k.size) / k
    amp *= rng.uniform(0.2, 0.4) / amp.sum()  # sum of amplitudes < 0.4 keeps the radius positive
    phase = rng.uniform(0, 2 * np.pi, k.size)
    radius = r * (1 + (amp[:, None] * np.cos(k[:, None] * t + phase[:, None])).sum(axis=0))
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _shape_cross(rng: np.random.Generator, r: float) -> np.ndarray:
    """A plus-shaped cross with random arm width and reach."""
    a = r * rng.uniform(0.2, 0.38)  # half arm width
    b = r * rng.uniform(0.8, 1.0)  # arm reach
    return np.array([[a, a], [b, a], [b, -a], [a, -a], [a, -b], [-a, -b],
                     [-a, -a], [-b, -a], [-b, a], [-a, a], [-a, b], [a, b]], dtype=float)


def _shape_crescent(rng: np.random.Generator, r: float) -> np.ndarray:
    """A crescent: a circle minus an offset smaller circle."""
    r2, d = r * rng.uniform(0.72, 0.9), r * rng.uniform(0.4, 0.6)
    # the outer circle (centre 0) minus an inner one (centre d, 0); their crossing points bound both arcs
    x = (r * r - r2 * r2 + d * d) / (2 * d)
    y = math.sqrt(max(r * r - x * x, 0.0))
    alpha, beta = math.atan2(y, x), math.atan2(y, x - d)
    t_out = np.linspace(alpha, 2 * np.pi - alpha, 120)
    t_in = np.linspace(2 * np.pi - beta, beta, 90)
    outer = np.stack([r * np.cos(t_out), r * np.sin(t_out)], axis=1)
    inner = np.stack([d + r2 * np.cos(t_in), r2 * np.sin(t_in)], axis=1)
    return np.concatenate([outer, inner])


SHAPE_FAMILIES: dict[str, Callable[[np.random.Generator, float], np.ndarray]] = {
    "ellipse": _shape_ellipse,
    "rounded_rectangle": _shape_rounded_rectangle,
    "star": _shape_star,
    "polygon": _shape_polygon,
    "heart": _shape_heart,
    "fourier_blob": _shape_fourier_blob,
    "cross": _shape_cross,
    "crescent": _shape_crescent,
}
