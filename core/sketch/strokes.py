"""The vectoriser: a raster sketch becomes ordered pen strokes, and the strokes' file formats and renderings.

:func:`vectorize` is classical (no model):

1. binarise (ink where value < ``threshold``) and fill pinholes of at most
   ``fill_holes`` px, which would otherwise thin into tiny loops;
2. thin to 1-px centre lines (``skimage.morphology.skeletonize``);
3. trace the skeleton's pixel graph into polylines running between junctions
   (pixels with more than two neighbours; adjacent ones form one junction) and
   endpoints; rings without either become closed polylines;
4. collapse junctions joined by a bridge shorter than the line is wide (how a
   thick X thins) and prune spurs, the short side branches thinning grows at
   thick line ends and corners;
5. join the arms that continue straight through a junction, and centre-line
   ends that face each other (turning at most ``join_angle``) across a gap of
   at most ``gap`` px; a thick line's centre line stops about half its width
   short of the line's end, so a cut through a thick line needs a larger gap;
6. drop strokes shorter than ``min_length`` px, simplify the rest with
   Ramer-Douglas-Peucker (``epsilon`` px), estimate each stroke's line width
   from the ink's distance transform along its centre line
   (:func:`core.sketch.metrics.width_from_mean_depth`), and order the strokes for
   drawing: greedily the nearest next start from the pen's position,
   reversing a stroke when its far end is nearer.

Coordinates are pixel centres: ``x`` is the column, ``y`` the row, (0, 0) the
centre of the top-left pixel. A closed stroke repeats its first point last.

``.npz`` format (:func:`save_npz`, :func:`load_npz`); plain arrays only, so
``numpy.load(path, allow_pickle=False)`` reads it::

    format     int64 scalar       1
    stroke3    (M, 3) float32     sketch-rnn stroke-3 rows (dx, dy, pen_lifted): each point
                                  minus the previous point (the first minus (0, 0)),
                                  pen_lifted = 1 on the last point of every stroke
    polylines  (M, 2) float32     every stroke's points (x, y), strokes concatenated in
                                  drawing order
    offsets    (S + 1,) int64     stroke i is polylines[offsets[i]:offsets[i + 1]];
                                  offsets[0] = 0, offsets[-1] = M
    widths     (S,) float32       estimated line width of each stroke, px
    size       (2,) int64         (height, width) of the sketch the strokes came from
    params     0-d unicode        JSON of the VectorizeParams used (``{}`` if unknown)

:func:`load_npz` rebuilds strokes from ``polylines``/``offsets`` (exact);
``stroke3`` is the copy for sketch-rnn-style tools.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

from core.errors import SketchFormatError, StrokesError, StrokesFileError
from core.files import write_atomic
from core.sketch.metrics import check_sketch, ink_depth, ink_mask, thin, width_from_mean_depth

__all__ = [
    "NPZ_FORMAT",
    "SketchFormatError",
    "Stroke",
    "Strokes",
    "StrokesError",
    "StrokesFileError",
    "VectorizeParams",
    "from_stroke3",
    "load_npz",
    "order_strokes",
    "render",
    "render_frames",
    "save_gif",
    "save_npz",
    "save_vector_png",
    "simplify",
    "to_stroke3",
    "to_svg",
    "vectorize",
]

NPZ_FORMAT = 1
DEFAULT_MAX_GIF_FRAMES = 60


@dataclass(frozen=True)
class VectorizeParams:
    """Settings of :func:`vectorize` (recorded with every result via :meth:`to_dict`)."""

    threshold: int = 128  # ink where value < threshold
    min_length: float = 2.0  # drop strokes shorter than this, px (single dots and 2x2 specks)
    gap: float = 2.0  # join centre-line ends at most this far apart, px
    join_angle: float = 60.0  # the most a stroke may turn at a join, degrees
    epsilon: float = 1.0  # Ramer-Douglas-Peucker tolerance, px
    fill_holes: int = 4  # fill enclosed paper specks up to this area before thinning, px
    max_gif_frames: int = DEFAULT_MAX_GIF_FRAMES  # frames of the drawing animation

    def __post_init__(self):
        if not 1 <= self.threshold <= 256:
            raise StrokesError(f"threshold must be in 1..256, not {self.threshold}")
        for name in ("min_length", "gap", "epsilon", "fill_holes"):
            if getattr(self, name) < 0:
                raise StrokesError(f"{name} must be >= 0, not {getattr(self, name)}")
        if not 0 <= self.join_angle <= 180:
            raise StrokesError(f"join_angle must be in 0..180 degrees, not {self.join_angle}")
        if self.max_gif_frames < 1:
            raise StrokesError(f"max_gif_frames must be >= 1, not {self.max_gif_frames}")

    def to_dict(self) -> dict:
        """Return the settings as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VectorizeParams:
        """Build settings from :meth:`to_dict` output; unknown keys (from other versions) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


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
        return len(self.strokes)


# --------------------------------------------------------------------------- vectorise


def vectorize(sketch: np.ndarray, params: VectorizeParams = VectorizeParams()) -> Strokes:
    """Trace a raster sketch (uint8 HxW, 0 = ink) into ordered strokes (steps in the module docstring).

    Raises:
        SketchFormatError: ``sketch`` is not a 2-D uint8 array.
    """
    sketch = check_sketch(sketch)
    h, w = sketch.shape
    ink = _fill_holes(ink_mask(sketch, params.threshold), params.fill_holes)
    depth = ink_depth(ink)  # HxW float32
    chains = _trace(thin(ink), depth, params)  # [(points (k, 2), mean depth), ...]
    lengths = _polyline_lengths([pts for pts, _ in chains])
    kept = [c for c, length in zip(chains, lengths) if length >= params.min_length]
    simplified = _simplify_many([pts for pts, _ in kept], params.epsilon)
    widths = width_from_mean_depth(np.array([d for _, d in kept])).tolist()
    strokes = [Stroke(pts, wd) for pts, wd in zip(simplified, widths)]
    return Strokes(order_strokes(strokes), w, h, params.to_dict())


def _fill_holes(ink: np.ndarray, max_area: int) -> np.ndarray:
    """Return ``ink`` with enclosed paper components of at most ``max_area`` px filled."""
    if max_area <= 0 or not ink.any():
        return ink
    # 4-connected paper, so a diagonal ink gap does not count as enclosing
    _, labels, stats, _ = cv2.connectedComponentsWithStats((~ink).astype(np.uint8), connectivity=4)
    small = stats[:, cv2.CC_STAT_AREA] <= max_area
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small[border] = False
    small[0] = False  # label 0 is the ink itself
    return ink | small[labels]


_ORTHO = ((0, 1), (1, 0), (0, -1), (-1, 0))
_DIAG = ((1, 1), (1, -1), (-1, 1), (-1, -1))


def _pixel_graph(skel: np.ndarray):
    """Skeleton pixels and their neighbour table.

    A diagonal link is left out when an orthogonal pixel already joins the two
    pixels: otherwise every staircase corner forms a 3-pixel triangle whose
    pixels all look like junctions.

    Returns:
        ys, xs: (n,) pixel rows and columns; nb: (n, 8) neighbour indices, -1 for none.
    """
    h, w = skel.shape
    ys, xs = np.nonzero(skel)
    n = ys.size
    index = np.full((h + 2, w + 2), -1, np.int64)
    yy, xx = ys + 1, xs + 1
    index[yy, xx] = np.arange(n)
    nb = np.full((n, 8), -1, np.int64)
    for k, (dy, dx) in enumerate(_ORTHO):
        nb[:, k] = index[yy + dy, xx + dx]
    for k, (dy, dx) in enumerate(_DIAG):
        via = (index[yy + dy, xx] >= 0) | (index[yy, xx + dx] >= 0)
        nb[:, 4 + k] = np.where(via, -1, index[yy + dy, xx + dx])
    return ys, xs, nb


class _Edges:
    """Traced polylines between nodes, stored flat: edge i's points are ``xy[start[i]:stop[i]]``."""

    def __init__(self, xy, start, stop, a, b, dsum, dcount):
        self.xy = xy  # (M, 2) float64 x, y
        self.start, self.stop = start, stop  # (E,) int
        self.a, self.b = a, b  # (E,) node id at the first and at the last point
        self.dsum, self.dcount = dsum, dcount  # (E,) ink depth summed over its non-junction pixels, and how many
        self.alive = np.ones(len(start), bool)
        self.length = np.zeros(len(start))
        self.measure()

    def measure(self) -> None:
        """Recompute every edge's length along its points."""
        step = np.hypot(*np.diff(self.xy, axis=0).T)
        along = np.concatenate([[0.0], np.cumsum(step)])  # steps across edge boundaries cancel out below
        self.length = along[self.stop - 1] - along[self.start]


def _trace(skel: np.ndarray, depth: np.ndarray, params: VectorizeParams) -> list[tuple[np.ndarray, float]]:
    """Trace, clean and join the skeleton into polylines.

    Returns:
        ``[(points (k, 2) float64 x, y, mean ink depth along them), ...]``.
    """
    ys, xs, nb = _pixel_graph(skel)
    if ys.size == 0:
        return []
    deg = (nb >= 0).sum(1)
    junction = deg >= 3
    node_of, node_xy, node_junction, node_depth = _nodes(ys, xs, nb, junction, deg != 2, depth)
    flat, sizes, ends, ring_flat, ring_sizes = _walk(nb, deg, node_of)
    pix_xy = np.stack([xs, ys], axis=1).astype(np.float64)  # (n, 2)
    pix_depth = depth[ys, xs].astype(np.float64)

    chains: list[tuple[np.ndarray, float]] = []
    if sizes:
        idx = np.asarray(flat)
        sizes_a = np.asarray(sizes)
        stop = np.cumsum(sizes_a)
        start = stop - sizes_a
        a, b = np.asarray(ends).reshape(-1, 2).T
        xy = pix_xy[idx]
        xy[start], xy[stop - 1] = node_xy[a], node_xy[b]  # a junction end sits at its centre, where arms meet
        edge_of = np.repeat(np.arange(len(sizes_a)), sizes_a)
        plain = ~junction[idx]  # junction pixels sit deeper in the ink than the line is wide
        dsum = np.bincount(edge_of, pix_depth[idx] * plain, len(sizes_a))
        dcount = np.bincount(edge_of, plain, len(sizes_a))
        only_junction = dcount == 0
        dsum[only_junction] = np.bincount(edge_of, pix_depth[idx], len(sizes_a))[only_junction]
        dcount[only_junction] = sizes_a[only_junction]
        edges = _Edges(xy, start, stop, a, b, dsum, dcount)
        node_xy, node_depth = _collapse_bridges(edges, node_xy, node_junction, node_depth, params.gap)
        _prune_spurs(edges, node_depth, params.min_length)
        chains = _join(edges, params)
    if ring_sizes:
        ring_idx = np.asarray(ring_flat)
        stops = np.cumsum(ring_sizes)
        for s, e in zip(stops - np.asarray(ring_sizes), stops):
            ring = ring_idx[s:e]
            chains.append((pix_xy[ring], float(pix_depth[ring[:-1]].mean())))
    return chains


def _nodes(ys, xs, nb, junction, is_node, depth):
    """Group node pixels into nodes: adjacent junction pixels form one junction.

    Returns:
        node_of (n,) node id per pixel (-1 on path pixels); node_xy (k, 2) centre of each
        node; node_junction (k,) bool; node_depth (k,) largest ink depth over its pixels.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = ys.size
    src = np.repeat(np.arange(n), 8)
    dst = nb.ravel()
    link = dst >= 0
    src, dst = src[link], dst[link]
    both = junction[src] & junction[dst]
    graph = coo_matrix((np.ones(int(both.sum()), np.int8), (src[both], dst[both])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    node_pix = np.flatnonzero(is_node)
    _, node_id = np.unique(label[node_pix], return_inverse=True)
    k = int(node_id.max()) + 1 if node_id.size else 0
    node_of = np.full(n, -1, np.int64)
    node_of[node_pix] = node_id
    count = np.maximum(np.bincount(node_id, minlength=k), 1)
    node_xy = np.stack(
        [np.bincount(node_id, xs[node_pix], k) / count, np.bincount(node_id, ys[node_pix], k) / count], axis=1
    )
    node_junction = np.zeros(k, bool)
    node_junction[node_id[junction[node_pix]]] = True
    node_depth = np.zeros(k)
    np.maximum.at(node_depth, node_id, depth[ys[node_pix], xs[node_pix]])
    return node_of, node_xy, node_junction, node_depth


def _walk(nb: np.ndarray, deg: np.ndarray, node_of: np.ndarray):
    """Walk the pixel graph from node to node; what is left afterwards are rings without nodes.

    A plain Python loop, but each pixel is stepped on once with its neighbours
    looked up in precomputed lists: about 2 µs a pixel.

    Returns:
        flat: pixel indices of all edges, concatenated; sizes: pixels per edge;
        ends: node ids (first, last) per edge, flattened; ring_flat, ring_sizes:
        the same for rings (first pixel repeated last).
    """
    n = len(deg)
    nbs = np.sort(nb, axis=1)  # a path pixel's two neighbours end up in the last two columns
    first, second = nbs[:, 6].tolist(), nbs[:, 7].tolist()
    node_l = node_of.tolist()
    visited = bytearray(n)
    flat: list[int] = []
    sizes: list[int] = []
    ends: list[int] = []
    for s in np.flatnonzero(deg != 2).tolist():
        ns = node_l[s]
        if deg[s] == 0:  # an isolated pixel: a dot
            flat.append(s)
            sizes.append(1)
            ends += (ns, ns)
            continue
        for t in nb[s].tolist():
            if t < 0:
                continue
            nt = node_l[t]
            if nt >= 0:  # two node pixels side by side
                if nt != ns and s < t:
                    flat += (s, t)
                    sizes.append(2)
                    ends += (ns, nt)
                continue
            if visited[t]:
                continue
            path, prev, cur = [s], s, t
            while node_l[cur] < 0:
                visited[cur] = 1
                path.append(cur)
                nxt = first[cur]
                if nxt == prev:
                    nxt = second[cur]
                prev, cur = cur, nxt
            path.append(cur)
            flat += path
            sizes.append(len(path))
            ends += (ns, node_l[cur])
    ring_flat: list[int] = []
    ring_sizes: list[int] = []
    for s in np.flatnonzero(deg == 2).tolist():
        if visited[s]:
            continue
        path, prev, cur = [s], s, first[s]
        visited[s] = 1
        while cur != s:
            visited[cur] = 1
            path.append(cur)
            nxt = first[cur]
            if nxt == prev:
                nxt = second[cur]
            prev, cur = cur, nxt
        path.append(s)
        ring_flat += path
        ring_sizes.append(len(path))
    return flat, sizes, ends, ring_flat, ring_sizes


def _collapse_bridges(edges: _Edges, node_xy, node_junction, node_depth, gap: float):
    """Merge junctions joined by an edge shorter than the line is wide into one junction at their centre.

    Returns:
        node_xy, node_depth re-indexed to the merged nodes (``edges`` is updated in place).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a, b = edges.a, edges.b
    bridge = (a != b) & node_junction[a] & node_junction[b]
    bridge &= edges.length <= np.maximum(gap, node_depth[a] + node_depth[b])
    if not bridge.any():
        return node_xy, node_depth
    k = len(node_xy)
    graph = coo_matrix((np.ones(int(bridge.sum()), np.int8), (a[bridge], b[bridge])), shape=(k, k))
    count, label = connected_components(graph, directed=False)
    size = np.bincount(label, minlength=count)
    merged_xy = np.stack(
        [np.bincount(label, node_xy[:, 0], count) / size, np.bincount(label, node_xy[:, 1], count) / size], axis=1
    )
    merged_depth = np.zeros(count)
    np.maximum.at(merged_depth, label, node_depth)
    edges.alive &= ~bridge
    edges.a, edges.b = label[a], label[b]
    edges.xy[edges.start] = merged_xy[edges.a]
    edges.xy[edges.stop - 1] = merged_xy[edges.b]
    edges.measure()
    return merged_xy, merged_depth


def _prune_spurs(edges: _Edges, node_depth: np.ndarray, min_length: float, rounds: int = 2) -> None:
    """Drop short branches that end freely on one side and at a junction on the other (in place).

    A branch counts as a spur when shorter than ``min_length`` or the line's
    width at the junction; a junction whose branches all look like spurs keeps
    the longest, so a small star shape is not erased whole.
    """
    a, b = edges.a, edges.b
    k = len(node_depth)
    for _ in range(rounds):
        live = edges.alive
        degree = np.bincount(a[live], minlength=k) + np.bincount(b[live], minlength=k)
        free_a, free_b = degree[a] == 1, degree[b] == 1
        joint = np.where(free_a, b, a)
        spur = live & (a != b) & (free_a ^ free_b) & (degree[joint] >= 3)
        spur &= edges.length < np.maximum(min_length, 2 * node_depth[joint])
        if not spur.any():
            return
        ids = np.flatnonzero(spur)
        whole = np.bincount(joint[ids], minlength=k)[joint[ids]] >= degree[joint[ids]]
        if whole.any():
            sub = ids[whole]
            order = np.lexsort((edges.length[sub], joint[sub]))  # by junction, then length
            j = joint[sub][order]
            longest = np.append(j[1:] != j[:-1], True)
            spur[sub[order][longest]] = False
        edges.alive &= ~spur


_TANGENT_STEPS = 4  # skeleton steps (4 to 5.7 px) over which an end's direction is measured: beyond pixel jitter


def _join(edges: _Edges, params: VectorizeParams) -> list[tuple[np.ndarray, float]]:
    """Chain live edges through junctions (straight continuations) and small gaps into polylines.

    Each end is ``2 * i + side`` (live edge ``i``, side 0 = its first point);
    ends are paired greedily, best continuation first, and the pairs link
    edges into chains.
    """
    live = np.flatnonzero(edges.alive)
    m = live.size
    if m == 0:
        return []
    xy = edges.xy
    start, stop = edges.start[live], edges.stop[live]
    end_node = np.stack([edges.a[live], edges.b[live]], axis=1).ravel()  # (2m,)
    back = np.minimum(_TANGENT_STEPS, stop - start - 1)
    end_xy = np.stack([xy[start], xy[stop - 1]], axis=1).reshape(-1, 2)  # (2m, 2)
    inner = np.stack([xy[start + back], xy[stop - 1 - back]], axis=1).reshape(-1, 2)
    end_dir = end_xy - inner  # pointing out of the edge
    norm = np.hypot(*end_dir.T)
    end_dir /= np.where(norm > 0, norm, 1.0)[:, None]
    min_cos = math.cos(math.radians(params.join_angle))

    pairs, scores = [], []
    order = np.argsort(end_node, kind="stable")
    bounds = np.flatnonzero(np.diff(end_node[order])) + 1
    group_start = np.concatenate([[0], bounds])
    group_size = np.diff(np.concatenate([group_start, [2 * m]]))
    # A node with two ends is a bend: always continue through it.
    two = group_start[group_size == 2]
    pairs.append(np.stack([order[two], order[two + 1]], axis=1))
    scores.append(np.full(two.size, 3.0))
    # At a junction, continue along the straightest pairs of arms.
    big = group_size >= 3
    for g, size in zip(group_start[big].tolist(), group_size[big].tolist()):
        ends = order[g : g + size]
        p, q = np.triu_indices(len(ends), 1)
        straight = -(end_dir[ends[p]] * end_dir[ends[q]]).sum(1)  # 1: the arms leave in opposite directions
        ok = straight >= min_cos
        pairs.append(np.stack([ends[p][ok], ends[q][ok]], axis=1))
        scores.append(1.0 + straight[ok])
    shared = len(pairs)  # pairs so far meet at a node point; the rest bridge a gap
    free = order[group_start[group_size == 1]]
    if free.size > 1 and params.gap > 0:
        from scipy.spatial import cKDTree

        near = cKDTree(end_xy[free]).query_pairs(params.gap, output_type="ndarray")
        p, q = free[near[:, 0]], free[near[:, 1]]
        v = end_xy[q] - end_xy[p]
        dist = np.hypot(*v.T)
        straight = -(end_dir[p] * end_dir[q]).sum(1)
        far = dist > 0.5  # closer than that, the step's own direction is meaningless
        unit = v / np.where(far, dist, 1.0)[:, None]
        toward = np.where(far, np.minimum((unit * end_dir[p]).sum(1), -(unit * end_dir[q]).sum(1)), 1.0)
        score = np.minimum(straight, toward)
        ok = score >= min_cos
        pairs.append(np.stack([p[ok], q[ok]], axis=1))
        scores.append(score[ok] - 1e-3 * dist[ok])  # equal turns: the nearer end first
    node_pairs = sum(len(x) for x in pairs[:shared])
    all_pairs = np.concatenate(pairs).astype(np.int64) if pairs else np.zeros((0, 2), np.int64)
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    partner = [-1] * (2 * m)
    at_node = [False] * (2 * m)  # the pair shares its point: drop the repeat when chaining
    for c in np.argsort(-all_scores, kind="stable").tolist():
        p, q = all_pairs[c].tolist()
        if partner[p] < 0 and partner[q] < 0 and p != q:
            partner[p], partner[q] = q, p
            at_node[p] = at_node[q] = c < node_pairs

    start_l, stop_l = start.tolist(), stop.tolist()
    used = bytearray(m)
    chains = []

    def chain(edge: int, side: int) -> tuple[np.ndarray, float]:
        """Follow partners from ``edge`` entered at ``side``: the chain's points and mean ink depth."""
        pieces, members, skip, first = [], [], False, edge
        while True:
            used[edge] = 1
            members.append(edge)
            s, e = start_l[edge], stop_l[edge]
            rng = np.arange(s, e) if side == 0 else np.arange(e - 1, s - 1, -1)
            pieces.append(rng[1:] if skip else rng)
            out = 2 * edge + 1 - side
            nxt = partner[out]
            if nxt < 0:
                break
            skip = at_node[out]
            edge, side = nxt // 2, nxt % 2
            if edge == first and used[edge]:  # around a loop
                break
        idx = np.concatenate(pieces)
        if edge == first and nxt >= 0 and not np.array_equal(xy[idx[0]], xy[idx[-1]]):
            idx = np.append(idx, idx[0])  # a loop closed across a gap: draw the closing step
        ids = live[members]
        return xy[idx], float(edges.dsum[ids].sum() / max(edges.dcount[ids].sum(), 1))

    for e in range(m):  # open chains begin at an unpaired end
        if not used[e]:
            if partner[2 * e] < 0:
                chains.append(chain(e, 0))
            elif partner[2 * e + 1] < 0:
                chains.append(chain(e, 1))
    for e in range(m):  # what is left are loops: every end paired
        if not used[e]:
            chains.append(chain(e, 0))
    return chains


def _polyline_lengths(polylines: list[np.ndarray]) -> np.ndarray:
    """Length of each (k, 2) polyline, px (0 for a single point)."""
    if not polylines:
        return np.zeros(0)
    sizes = np.array([len(p) for p in polylines])
    pts = np.concatenate(polylines)
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    stop = np.cumsum(sizes)
    return along[stop - 1] - along[stop - sizes]


# --------------------------------------------------------------------------- simplify and order


def simplify(points: np.ndarray, epsilon: float) -> np.ndarray:
    """Ramer-Douglas-Peucker: drop points while the polyline moves by at most ``epsilon`` px.

    Distances are to the segment (not the infinite line), so the result stays
    within ``epsilon`` of every dropped point, loops included.

    Args:
        points: (N, 2) polyline.

    Returns:
        (K, 2) float64, a subset of ``points`` keeping the first and last.
    """
    return _simplify_many([np.asarray(points, np.float64).reshape(-1, 2)], epsilon)[0]


def _simplify_many(polylines: list[np.ndarray], epsilon: float) -> list[np.ndarray]:
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


# --------------------------------------------------------------------------- stroke-3 and files


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


def save_npz(strokes: Strokes, path: str | os.PathLike) -> Path:
    """Write strokes to a compressed ``.npz`` (format in the module docstring), atomically; return the path."""
    sizes = [len(s.points) for s in strokes.strokes]
    polylines = np.concatenate([s.points for s in strokes.strokes]) if sizes else np.zeros((0, 2))
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        format=np.int64(NPZ_FORMAT),
        stroke3=to_stroke3(strokes),
        polylines=polylines.astype(np.float32),
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        widths=np.array([s.width for s in strokes.strokes], np.float32),
        size=np.array([strokes.height, strokes.width], np.int64),
        params=np.array(json.dumps(strokes.params, sort_keys=True)),
    )
    return write_atomic(path, buf.getvalue())


def load_npz(path: str | os.PathLike) -> Strokes:
    """Read strokes written by :func:`save_npz`.

    Raises:
        StrokesFileError: the file is missing, unreadable or inconsistent.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("format", "polylines", "offsets", "widths", "size", "params")}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise StrokesFileError(f"{path}: not a strokes .npz file ({exc})") from exc
    if int(arrays["format"]) != NPZ_FORMAT:
        raise StrokesFileError(f"{path}: strokes format {int(arrays['format'])}, expected {NPZ_FORMAT}")
    poly = arrays["polylines"].astype(np.float64)
    offsets = arrays["offsets"].astype(np.int64)
    widths = arrays["widths"].astype(np.float64)
    size = arrays["size"]
    if (
        poly.ndim != 2
        or poly.shape[1] != 2
        or offsets.ndim != 1
        or len(offsets) != len(widths) + 1
        or offsets[0] != 0
        or offsets[-1] != len(poly)
        or np.any(np.diff(offsets) < 1)
        or size.shape != (2,)
    ):
        raise StrokesFileError(f"{path}: inconsistent strokes arrays")
    try:
        params = json.loads(str(arrays["params"]))
    except json.JSONDecodeError as exc:
        raise StrokesFileError(f"{path}: params are not JSON ({exc})") from exc
    strokes = [Stroke(poly[s:e], wd) for s, e, wd in zip(offsets[:-1], offsets[1:], widths)]
    return Strokes(strokes, int(size[1]), int(size[0]), params)


# --------------------------------------------------------------------------- renderings


def to_svg(strokes: Strokes) -> str:
    """Return an SVG document: white background, one round-capped ``<path>`` per stroke, viewBox = image size.

    Points are shifted by half a pixel because SVG puts pixel ``i``'s centre at ``i + 0.5``.
    """
    w, h = strokes.width, strokes.height
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
        '<rect x="0" y="0" width="100%" height="100%" fill="white"/>',
        '<g fill="none" stroke="black" stroke-linecap="round" stroke-linejoin="round">',
    ]
    for s in strokes.strokes:
        pts = s.points + 0.5
        if len(pts) == 1:
            pts = np.vstack([pts, pts])  # a zero-length segment with round caps draws a dot
        coords = " L ".join(f"{_num(x)} {_num(y)}" for x, y in pts)
        lines.append(f'<path d="M {coords}" stroke-width="{_num(s.width)}"/>')
    lines += ["</g>", "</svg>", ""]
    return "\n".join(lines)


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _canvas_and_transform(strokes: Strokes, width: int | None, height: int | None):
    w = int(width or strokes.width)
    h = int(height or strokes.height)
    if w < 1 or h < 1:
        raise StrokesError(f"render size must be positive, not {w}x{h}")
    sx, sy = w / strokes.width, h / strokes.height
    return np.full((h, w), 255, np.uint8), sx, sy


def _draw(canvas: np.ndarray, strokes: list[Stroke], sx: float, sy: float, line_width: float | None) -> None:
    scale = math.sqrt(sx * sy)
    for s in strokes:
        # pixel centres scale about the pixel edges: x' + 0.5 = (x + 0.5) * sx
        pts = np.empty_like(s.points)
        pts[:, 0] = (s.points[:, 0] + 0.5) * sx - 0.5
        pts[:, 1] = (s.points[:, 1] + 0.5) * sy - 0.5
        pts = np.rint(pts).astype(np.int32)
        if len(pts) == 1:
            pts = np.vstack([pts, pts])
        thickness = _cv2_thickness(line_width if line_width is not None else s.width * scale)
        cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, 0, thickness, cv2.LINE_8)


def _cv2_thickness(width: float) -> int:
    """OpenCV ``thickness`` that draws a line about ``width`` px wide.

    Without antialiasing OpenCV draws thickness 1 one pixel wide and
    thickness ``t >= 2`` as the odd width ``t + 1`` or ``t + 2`` (2 -> 3, 3 and
    4 -> 5, 5 and 6 -> 7, ...), so the nearest odd width is picked and mapped back.
    """
    odd = 2 * int(round((max(width, 1.0) - 1.0) / 2.0)) + 1
    return 1 if odd == 1 else max(2, odd - 2)


def render(
    strokes: Strokes, width: int | None = None, height: int | None = None, line_width: float | None = None
) -> np.ndarray:
    """Re-draw the strokes as a clean uint8 HxW sketch (0 = ink), without antialiasing.

    Args:
        width, height: output size (default the sketch's); coordinates and widths scale with it.
        line_width: one width in px for every stroke instead of each stroke's own.
    """
    canvas, sx, sy = _canvas_and_transform(strokes, width, height)
    _draw(canvas, strokes.strokes, sx, sy, line_width)
    return canvas


def render_frames(
    strokes: Strokes,
    max_frames: int | None = None,
    width: int | None = None,
    height: int | None = None,
    line_width: float | None = None,
) -> list[np.ndarray]:
    """The drawing built up in stroke order: frame k shows the first groups of strokes, the last all of them.

    With more strokes than ``max_frames`` (default: the recorded
    ``max_gif_frames``, else 60), consecutive strokes share a frame. No strokes
    gives one blank frame.

    Returns:
        ``min(len(strokes), max_frames)`` uint8 HxW frames (at least one).
    """
    if max_frames is None:
        max_frames = int(strokes.params.get("max_gif_frames", DEFAULT_MAX_GIF_FRAMES))
    if max_frames < 1:
        raise StrokesError(f"max_frames must be >= 1, not {max_frames}")
    canvas, sx, sy = _canvas_and_transform(strokes, width, height)
    n = len(strokes.strokes)
    if n == 0:
        return [canvas]
    frames = []
    for group in np.array_split(np.arange(n), min(n, max_frames)):
        _draw(canvas, [strokes.strokes[i] for i in group], sx, sy, line_width)
        frames.append(canvas.copy())
    return frames


def save_gif(
    strokes: Strokes,
    path: str | os.PathLike,
    max_frames: int | None = None,
    duration_ms: int = 80,
    hold_ms: int = 1500,
) -> Path:
    """Write the drawing animation (:func:`render_frames`) as a looping GIF of two-colour palette frames, atomically.

    Pillow merges a frame identical to the one before it (strokes hidden under
    earlier ink), so the file may hold fewer frames than were rendered.

    Args:
        duration_ms: time per frame; the last frame stays ``hold_ms`` before the loop restarts.
    """
    from PIL import Image

    frames = render_frames(strokes, max_frames)
    images = []
    for frame in frames:
        ink = np.ascontiguousarray(frame < 128, np.uint8)  # palette index 0 = paper, 1 = ink
        im = Image.frombytes("P", (ink.shape[1], ink.shape[0]), ink.tobytes())
        im.putpalette([255, 255, 255, 0, 0, 0])
        images.append(im)
    durations = [duration_ms] * (len(images) - 1) + [hold_ms]
    buf = io.BytesIO()
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0, disposal=1
    )
    return write_atomic(path, buf.getvalue())


def save_vector_png(
    strokes: Strokes,
    path: str | os.PathLike,
    width: int | None = None,
    height: int | None = None,
    line_width: float | None = None,
) -> Path:
    """Write :func:`render` of the strokes as a grayscale PNG, atomically; return the path."""
    ok, data = cv2.imencode(".png", render(strokes, width, height, line_width))
    if not ok:
        raise StrokesError(f"could not encode {path} as PNG")
    return write_atomic(path, data.tobytes())
