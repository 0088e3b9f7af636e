"""The skeleton's pixel graph: 1-px centre lines traced into polylines between nodes.

Nodes are junctions (pixels with more than two neighbours; adjacent ones form
one junction) and endpoints; an edge is the run of pixels from one node to the
next. Centre-line rings without any node come back separately, as closed
polylines. :mod:`core.sketch.tracing` cleans and joins the edges into strokes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Edges", "SkeletonGraph", "trace_skeleton"]

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


class Edges:
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


class SkeletonGraph(NamedTuple):
    """What :func:`trace_skeleton` finds: the edges between nodes, the nodes, and the rings without nodes."""

    edges: Edges | None  # None when the skeleton has no node (empty, or rings only)
    node_xy: np.ndarray  # (k, 2) float64 centre of each node
    node_junction: np.ndarray  # (k,) bool: the node is a junction, not an endpoint
    node_depth: np.ndarray  # (k,) float64 largest ink depth over the node's pixels
    rings: list[tuple[np.ndarray, float]]  # [(closed points (k, 2) x, y, mean ink depth), ...]


def trace_skeleton(skel: np.ndarray, depth: np.ndarray) -> SkeletonGraph:
    """Trace a skeleton (HxW bool, 1 px wide) into edges between nodes and rings without nodes.

    An edge's end at a junction sits at the junction's centre, where its arms
    meet. Each edge and ring records the ink depth (``depth``, HxW) along it; at
    junction pixels the ink is deeper than the line is wide, so they count only
    for edges made of nothing else.
    """
    ys, xs, nb = _pixel_graph(skel)
    if ys.size == 0:
        return SkeletonGraph(None, np.zeros((0, 2)), np.zeros(0, bool), np.zeros(0), [])
    deg = (nb >= 0).sum(1)
    junction = deg >= 3
    node_of, node_xy, node_junction, node_depth = _nodes(ys, xs, nb, junction, deg != 2, depth)
    flat, sizes, ends, ring_flat, ring_sizes = _walk(nb, deg, node_of)
    pix_xy = np.stack([xs, ys], axis=1).astype(np.float64)  # (n, 2)
    pix_depth = depth[ys, xs].astype(np.float64)

    edges = None
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
        edges = Edges(xy, start, stop, a, b, dsum, dcount)
    rings = []
    if ring_sizes:
        ring_idx = np.asarray(ring_flat)
        stops = np.cumsum(ring_sizes)
        for s, e in zip(stops - np.asarray(ring_sizes), stops):
            ring = ring_idx[s:e]
            rings.append((pix_xy[ring], float(pix_depth[ring[:-1]].mean())))
    return SkeletonGraph(edges, node_xy, node_junction, node_depth, rings)


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
            path = [s]
            end = _follow(path, s, t, node_l, visited, first, second)
            flat += path
            sizes.append(len(path))
            ends += (ns, node_l[end])
    ring_flat: list[int] = []
    ring_sizes: list[int] = []
    for s in np.flatnonzero(deg == 2).tolist():
        if visited[s]:
            continue
        path = [s]
        visited[s] = 1
        node_l[s] = 0  # the walk round the ring stops when it is back at s, as at a node
        _follow(path, s, first[s], node_l, visited, first, second)
        ring_flat += path
        ring_sizes.append(len(path))
    return flat, sizes, ends, ring_flat, ring_sizes


def _follow(path: list[int], prev: int, cur: int, node_l: list[int], visited: bytearray, first: list[int],
            second: list[int]) -> int:
    """Step from ``prev`` to ``cur`` and on along path pixels until a node; return that node's pixel.

    Every path pixel passed is marked visited and appended to ``path``, and so
    is the node pixel the walk ends on.
    """
    while node_l[cur] < 0:
        visited[cur] = 1
        path.append(cur)
        nxt = first[cur]
        if nxt == prev:
            nxt = second[cur]
        prev, cur = cur, nxt
    path.append(cur)
    return cur
