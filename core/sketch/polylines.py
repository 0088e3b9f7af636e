"""Polyline geometry for the tracer: lengths along many polylines and Ramer-Douglas-Peucker simplification.

A polyline is an ``(N, 2)`` array of ``(x, y)`` points. The many-at-once forms
work on all polylines of a sketch in a few NumPy passes instead of a Python loop
per stroke.
"""

from __future__ import annotations

import numpy as np

__all__ = ["polyline_lengths", "simplify", "simplify_many"]


def polyline_lengths(polylines: list[np.ndarray]) -> np.ndarray:
    """Length of each (k, 2) polyline, px (0 for a single point)."""
    if not polylines:
        return np.zeros(0)
    sizes = np.array([len(p) for p in polylines])
    pts = np.concatenate(polylines)
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    stop = np.cumsum(sizes)
    return along[stop - 1] - along[stop - sizes]


def simplify(points: np.ndarray, epsilon: float) -> np.ndarray:
    """Ramer-Douglas-Peucker: drop points while the polyline moves by at most ``epsilon`` px.

    Distances are to the segment (not the infinite line), so the result stays
    within ``epsilon`` of every dropped point, loops included.

    Args:
        points: (N, 2) polyline.

    Returns:
        (K, 2) float64, a subset of ``points`` keeping the first and last.
    """
    return simplify_many([np.asarray(points, np.float64).reshape(-1, 2)], epsilon)[0]


def simplify_many(polylines: list[np.ndarray], epsilon: float) -> list[np.ndarray]:
    """RDP on many polylines at once: each round splits every open interval at its farthest point."""
    if not polylines:
        return []
    sizes = np.array([len(p) for p in polylines])
    pts = np.concatenate(polylines).astype(np.float64)  # (M, 2)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    keep = np.zeros(len(pts), bool)
    keep[starts] = True
    keep[ends - 1] = True
    lo, hi = starts, ends - 1
    while True:
        inner = hi - lo > 1
        lo, hi = lo[inner], hi[inner]
        if lo.size == 0:
            break
        counts = hi - lo - 1
        seg = np.repeat(np.arange(lo.size), counts)  # interval of each interior point
        offsets = np.cumsum(counts) - counts
        idx = np.arange(counts.sum()) - offsets[seg] + lo[seg] + 1  # interior point indices
        a, b, p = pts[lo[seg]], pts[hi[seg]], pts[idx]
        ab, ap = b - a, p - a
        ab2 = (ab * ab).sum(1)
        t = np.clip((ap * ab).sum(1) / np.where(ab2 > 0, ab2, 1.0), 0.0, 1.0)  # zero-length segment: t = 0
        dist = np.hypot(*(ap - t[:, None] * ab).T)
        dmax = np.maximum.reduceat(dist, offsets)
        at_max = np.flatnonzero(dist == dmax[seg])
        _, first = np.unique(seg[at_max], return_index=True)  # first farthest point of each interval
        far = idx[at_max[first]]
        split = dmax > epsilon
        keep[far[split]] = True
        lo = np.concatenate([lo[split], far[split]])
        hi = np.concatenate([far[split], hi[split]])
    return [pts[s:e][keep[s:e]] for s, e in zip(starts, ends)]
