"""The tracer: a raster sketch becomes ordered pen strokes (:class:`core.sketch.strokes.Strokes`).

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
   (:func:`core.sketch.ink.width_from_mean_depth`);
7. a filled patch is wider than one stroke of its mean width: the ink left
   more than 2 px from every stroke drawn so far (pieces of 24 px or more) is
   traced again, up to three times, so the strokes cover the ink;
8. order the strokes for drawing: greedily the nearest next start from the
   pen's position, reversing a stroke when its far end is nearer.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from core.errors import StrokesError
from core.sketch.ink import check_sketch, ink_depth, ink_mask, thin, width_from_mean_depth
from core.sketch.polylines import polyline_lengths, simplify_many
from core.sketch.skeleton import Edges, trace_skeleton
from core.sketch.strokes import DEFAULT_MAX_GIF_FRAMES, Stroke, Strokes, order_strokes

__all__ = ["VectorizeParams", "vectorize"]

log = logging.getLogger(__name__)

FILL_PASSES = 3  # tracing passes over ink the strokes left uncovered (filled patches)
FILL_RADIUS = 2  # px: ink this close to a drawn stroke counts as covered
FILL_MIN_AREA = 24  # px: smaller uncovered pieces are corner slivers, not patches


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


def vectorize(sketch: np.ndarray, params: VectorizeParams = VectorizeParams()) -> Strokes:
    """Trace a raster sketch (uint8 HxW, 0 = ink) into ordered strokes (steps in the module docstring).

    Raises:
        SketchFormatError: ``sketch`` is not a 2-D uint8 array.
    """
    sketch = check_sketch(sketch)
    h, w = sketch.shape
    ink = _fill_holes(ink_mask(sketch, params.threshold), params.fill_holes)
    strokes = _strokes_of(ink, params)
    # A filled patch of ink is wider than one stroke of its mean width can cover: trace what is left uncovered
    # (its interior) again, a few times, so the strokes cover the ink and thin line work is left as it was.
    for _ in range(FILL_PASSES):
        left = _uncovered(ink, Strokes(strokes, w, h, {}))
        if not left.any():
            break
        strokes += _strokes_of(left, params)
    log.debug("traced %d strokes from a %dx%d sketch", len(strokes), w, h)
    return Strokes(order_strokes(strokes), w, h, params.to_dict())


def _strokes_of(ink: np.ndarray, params: VectorizeParams) -> list[Stroke]:
    """The strokes of an ink mask: centre lines traced, short ones dropped, simplified, each with its width."""
    depth = ink_depth(ink)  # HxW float32
    chains = _trace(thin(ink), depth, params)  # [(points (k, 2), mean depth), ...]
    lengths = polyline_lengths([pts for pts, _ in chains])
    kept = [c for c, length in zip(chains, lengths) if length >= params.min_length]
    simplified = simplify_many([pts for pts, _ in kept], params.epsilon)
    widths = width_from_mean_depth(np.array([d for _, d in kept])).tolist()
    return [Stroke(pts, wd) for pts, wd in zip(simplified, widths)]


def _uncovered(ink: np.ndarray, strokes: Strokes) -> np.ndarray:
    """The ink farther than FILL_RADIUS px from the drawn strokes, in pieces of at least FILL_MIN_AREA px."""
    from core.sketch.rendering import render

    drawn = render(strokes) < 128
    near = cv2.dilate(drawn.astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * FILL_RADIUS + 1, 2 * FILL_RADIUS + 1))) > 0
    left = ink & ~near
    if not left.any():
        return left
    _, labels, stats, _ = cv2.connectedComponentsWithStats(left.astype(np.uint8), connectivity=8)
    big = stats[:, cv2.CC_STAT_AREA] >= FILL_MIN_AREA
    big[0] = False
    return big[labels]


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


def _trace(skel: np.ndarray, depth: np.ndarray, params: VectorizeParams) -> list[tuple[np.ndarray, float]]:
    """Trace, clean and join the skeleton into polylines.

    Returns:
        ``[(points (k, 2) float64 x, y, mean ink depth along them), ...]``: joined chains, then rings.
    """
    graph = trace_skeleton(skel, depth)
    chains: list[tuple[np.ndarray, float]] = []
    if graph.edges is not None:
        edges = graph.edges
        _, node_depth = _collapse_bridges(edges, graph.node_xy, graph.node_junction, graph.node_depth, params.gap)
        _prune_spurs(edges, node_depth, params.min_length)
        chains = _join(edges, params)
    return chains + graph.rings


def _collapse_bridges(edges: Edges, node_xy, node_junction, node_depth, gap: float):
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


def _prune_spurs(edges: Edges, node_depth: np.ndarray, min_length: float, rounds: int = 2) -> None:
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


def _join(edges: Edges, params: VectorizeParams) -> list[tuple[np.ndarray, float]]:
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
