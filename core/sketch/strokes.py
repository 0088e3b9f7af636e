"""The stroke model: a vectorised sketch as ordered pen strokes, and its sketch-rnn stroke-3 form.

Coordinates are pixel centres: ``x`` is the column, ``y`` the row, (0, 0) the
centre of the top-left pixel. A closed stroke repeats its first point last.

Stroke-3 rows are ``(dx, dy, pen_lifted)``: each point minus the previous point
(the first minus (0, 0)), ``pen_lifted = 1`` on the last point of every stroke.

Strokes come from :func:`core.sketch.tracing.vectorize`; they are drawn by
:mod:`core.sketch.rendering` and stored by :mod:`core.sketch.stroke_files`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import StrokesError

__all__ = [
    "DEFAULT_MAX_GIF_FRAMES",
    "Stroke",
    "Strokes",
    "from_stroke3",
    "order_strokes",
    "to_stroke3",
]

#: Frames of the drawing animation when the strokes do not record their own ``max_gif_frames``.
DEFAULT_MAX_GIF_FRAMES = 60


@dataclass(eq=False)  # eq on arrays would be ambiguous
class Stroke:
    """One pen stroke: a polyline of ``(x, y)`` points and its line width in px."""

    points: np.ndarray  # (N, 2) float64 x, y
    width: float = 1.0

    def __post_init__(self):
        pts = np.asarray(self.points, np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
            raise StrokesError(f"stroke points must be a non-empty (N, 2) array, got shape {pts.shape}")
        self.points = pts
        self.width = float(self.width)

    @property
    def length(self) -> float:
        """Length along the polyline, px."""
        return float(np.hypot(*np.diff(self.points, axis=0).T).sum()) if len(self.points) > 1 else 0.0

    @property
    def closed(self) -> bool:
        """True when the stroke ends where it starts (a loop)."""
        return len(self.points) > 2 and bool(np.array_equal(self.points[0], self.points[-1]))


@dataclass(eq=False)
class Strokes:
    """A vectorised sketch: strokes in drawing order, the sketch's size and the settings used."""

    strokes: list[Stroke]
    width: int
    height: int
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        """Number of strokes."""
        return len(self.strokes)


def to_stroke3(strokes: Strokes) -> np.ndarray:
    """Return sketch-rnn stroke-3 rows ``(dx, dy, pen_lifted)``, (M, 3) float32 (see the module docstring)."""
    if not strokes.strokes:
        return np.zeros((0, 3), np.float32)
    pts = np.concatenate([s.points for s in strokes.strokes])  # (M, 2)
    lifted = np.zeros(len(pts), np.float32)
    lifted[np.cumsum([len(s.points) for s in strokes.strokes]) - 1] = 1.0
    deltas = np.diff(pts, axis=0, prepend=np.zeros((1, 2)))
    return np.column_stack([deltas, lifted]).astype(np.float32)


def from_stroke3(
    stroke3: np.ndarray,
    width: int,
    height: int,
    widths: np.ndarray | list[float] | None = None,
    params: dict | None = None,
) -> Strokes:
    """Rebuild strokes from stroke-3 rows (inverse of :func:`to_stroke3`).

    Points after the last pen lift form a final stroke. ``widths`` gives each
    stroke's line width (default 1 px).
    """
    s3 = np.asarray(stroke3, np.float64).reshape(-1, 3)
    pts = np.cumsum(s3[:, :2], axis=0)  # float64 sums: float32 would drift over long drawings
    ends = np.flatnonzero(s3[:, 2] > 0.5) + 1
    if len(pts) and (len(ends) == 0 or ends[-1] != len(pts)):
        ends = np.append(ends, len(pts))
    starts = np.concatenate([[0], ends[:-1]])
    if widths is None:
        widths = np.ones(len(ends))
    widths = np.asarray(widths, np.float64).ravel()
    if len(widths) != len(ends):
        raise StrokesError(f"{len(widths)} widths given for {len(ends)} strokes")
    strokes = [Stroke(pts[s:e], wd) for s, e, wd in zip(starts, ends, widths)]
    return Strokes(strokes, int(width), int(height), dict(params or {}))


def order_strokes(strokes: list[Stroke], start: tuple[float, float] = (0.0, 0.0)) -> list[Stroke]:
    """Order strokes for drawing: from the pen's position, always the stroke with the nearest end next.

    A stroke whose last point is the nearer end is reversed; on a tie the
    earlier stroke wins, and a head wins over a tail. Returns new Stroke
    objects; the input list is left as it is.
    """
    from scipy.spatial import cKDTree

    n = len(strokes)
    if n == 0:
        return []
    # ends 0..n-1 are the strokes' first points, n..2n-1 their last points
    ends = np.concatenate([[s.points[0] for s in strokes], [s.points[-1] for s in strokes]])  # (2n, 2)
    taken = [False] * n
    live = list(range(2 * n))  # the ends the tree holds; rebuilt once half of them are spent
    tree = cKDTree(ends)
    spent = 0
    pen = np.asarray(start, np.float64)
    out = []
    while len(out) < n:
        k = 8
        while True:
            k = min(k, len(live))
            dist, hit = tree.query(pen, k=k)
            dist = np.atleast_1d(dist).tolist()  # nearest first
            cands = [(d, live[h]) for d, h in zip(dist, np.atleast_1d(hit).tolist()) if not taken[live[h] % n]]
            # done once a free end is found and no equally near end can lie beyond the k asked for
            if cands and (k == len(live) or dist[-1] > cands[0][0]):
                break
            k *= 4
        end = min(e for d, e in cands if d == cands[0][0])
        i = end % n
        pts = strokes[i].points if end < n else strokes[i].points[::-1]
        out.append(Stroke(pts.copy(), strokes[i].width))
        taken[i] = True
        spent += 2  # both of its ends are in the tree until the next rebuild
        pen = pts[-1]
        if len(out) < n and spent * 2 > len(live):
            live = [e for e in live if not taken[e % n]]
            tree = cKDTree(ends[live])
            spent = 0
    return out
