"""Per-output numbers for a sketch: ink statistics, stroke statistics and agreement with a reference.

Every function is pure. Sketches are uint8 grayscale ``HxW`` arrays, 0 = ink and
255 = paper; a pixel is ink when its value is below ``threshold`` (128 unless
told otherwise).

Comparisons against a reference drawing (:func:`edge_prf`,
:func:`chamfer_distance`, :func:`ssim`) first bring the prediction to the
reference's size with ``cv2.resize(..., interpolation=cv2.INTER_AREA)`` when the
two sizes differ (:func:`match_size`). Area averaging greys thin lines when it
shrinks, and a 1-px line shrunk by 2x or more can fade above the ink threshold
and vanish, so compare drawings at similar sizes where possible.

Conventions for empty drawings (documented per function as well):

* :func:`edge_prf`: both empty -> precision = recall = F1 = 1 (they agree);
  exactly one empty -> all three 0.
* :func:`chamfer_distance`: both empty -> 0; exactly one empty -> the image
  diagonal, the largest distance any pixel can be from another, so the number
  stays finite and can be averaged.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.sketch.ink import INK_THRESHOLD, check_sketch, ink_depth, ink_mask, thin, width_from_depths

if TYPE_CHECKING:  # annotations only: measuring a raster needs no stroke model loaded
    from core.sketch.strokes import Strokes

__all__ = [
    "chamfer_distance",
    "disagreement",
    "edge_prf",
    "fragmentation",
    "ink_coverage",
    "line_width",
    "match_size",
    "sketch_metrics",
    "ssim",
    "stroke_stats",
]

def ink_coverage(sketch: np.ndarray, threshold: int = INK_THRESHOLD) -> float:
    """Fraction of pixels that are ink, in [0, 1]."""
    return float(ink_mask(sketch, threshold).mean())


def fragmentation(sketch: np.ndarray, threshold: int = INK_THRESHOLD) -> float:
    """Connected ink components (8-connectivity) per 1000 ink pixels; 0.0 when there is no ink."""
    ink = ink_mask(sketch, threshold)
    count = int(ink.sum())
    if count == 0:
        return 0.0
    labels, _ = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    return (labels - 1) / count * 1000.0  # label 0 is the paper


def line_width(sketch: np.ndarray, threshold: int = INK_THRESHOLD) -> float:
    """Typical line width in px: :func:`width_from_depths` of the ink depth along the centre lines; 0.0 without ink.

    The centre lines are the ridges of the ink depth (pixels at least as deep
    as their 8 neighbours): on lines they are the pixels a skeleton would
    keep, and finding them is a max filter rather than a thinning pass (~50x
    faster, which matters as this runs on every cell of a sweep).
    """
    ink = ink_mask(sketch, threshold)
    if not ink.any():
        return 0.0
    depth = ink_depth(ink)
    ridge = ink & (depth >= cv2.dilate(depth, np.ones((3, 3), np.uint8)))
    return width_from_depths(depth[ridge])


def stroke_stats(strokes: Strokes) -> dict[str, float]:
    """Count and lengths (px, along the polylines) of a vectorised sketch.

    Returns:
        ``{"strokes": count, "total_length": sum, "mean_length": total / count (0 when none)}``.
    """
    lengths = [s.length for s in strokes.strokes]
    total = float(sum(lengths))
    return {
        "strokes": len(lengths),
        "total_length": total,
        "mean_length": total / len(lengths) if lengths else 0.0,
    }


def match_size(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Return ``pred`` resized to ``ref``'s HxW with ``cv2.INTER_AREA`` (unchanged when the sizes agree)."""
    pred = check_sketch(pred, "prediction")
    ref = check_sketch(ref, "reference")
    if pred.shape == ref.shape:
        return pred
    return cv2.resize(pred, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_AREA)


def edge_prf(
    pred: np.ndarray, ref: np.ndarray, tolerance: float = 2.0, threshold: int = INK_THRESHOLD
) -> dict[str, float]:
    """BSDS-style boundary precision, recall and F1 of a sketch against a reference drawing.

    Both drawings are thinned to 1-px centre lines; a prediction pixel and a
    reference pixel may match when their centres are at most ``tolerance`` px
    apart, each pixel matching at most one other. The number of matches is the
    exact maximum over all such one-to-one assignments (Hopcroft-Karp on the
    sparse candidate graph), so crowded lines are not under-counted the way a
    greedy matching can. Unlike BSDS the tolerance is in pixels, not a fraction
    of the diagonal.

    Returns:
        ``{"precision", "recall", "f1"}``; both drawings empty -> all 1.0,
        exactly one empty -> all 0.0.
    """
    pred = match_size(pred, ref)
    pred_pts = np.argwhere(thin(pred < threshold))  # (n, 2) row, col
    ref_pts = np.argwhere(thin(check_sketch(ref, "reference") < threshold))  # (m, 2)
    if len(pred_pts) == 0 and len(ref_pts) == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    if len(pred_pts) == 0 or len(ref_pts) == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    matched = _count_matches(pred_pts, ref_pts, ref.shape, tolerance)
    precision = matched / len(pred_pts)
    recall = matched / len(ref_pts)
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _count_matches(pred_pts: np.ndarray, ref_pts: np.ndarray, shape: tuple[int, int], tolerance: float) -> int:
    """Size of a maximum one-to-one matching between pixel sets, pairs at most ``tolerance`` apart."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    r = int(math.floor(tolerance))
    pad = r + 1
    h, w = shape
    ref_index = np.full((h + 2 * pad, w + 2 * pad), -1, np.int64)  # padded so every offset stays inside
    ref_index[ref_pts[:, 0] + pad, ref_pts[:, 1] + pad] = np.arange(len(ref_pts))
    rows, cols = [], []
    # Pixel centres lie on the integer grid, so the candidates of a pixel are exactly
    # the integer offsets inside the tolerance disc: a few lookups instead of a KD-tree.
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx > tolerance * tolerance:
                continue
            hit = ref_index[pred_pts[:, 0] + pad + dy, pred_pts[:, 1] + pad + dx]
            ok = hit >= 0
            rows.append(np.flatnonzero(ok))
            cols.append(hit[ok])
    rows_a, cols_a = np.concatenate(rows), np.concatenate(cols)
    if rows_a.size == 0:
        return 0
    graph = csr_matrix((np.ones(rows_a.size, np.int8), (rows_a, cols_a)), shape=(len(pred_pts), len(ref_pts)))
    match = maximum_bipartite_matching(graph, perm_type="column")  # per row: matched column or -1
    return int((match >= 0).sum())


def chamfer_distance(pred: np.ndarray, ref: np.ndarray, threshold: int = INK_THRESHOLD) -> float:
    """Symmetric chamfer distance in px between two drawings' ink.

    The mean distance from each prediction ink pixel to the nearest reference
    ink pixel and the mean the other way round, averaged. Both empty -> 0.0;
    exactly one empty -> the image diagonal (the farthest any miss can be),
    which keeps the number finite for tables and averages.
    """
    pred = match_size(pred, ref)
    pred_ink = pred < threshold
    ref_ink = check_sketch(ref, "reference") < threshold
    has_pred, has_ref = bool(pred_ink.any()), bool(ref_ink.any())
    if not has_pred and not has_ref:
        return 0.0
    if not has_pred or not has_ref:
        return float(math.hypot(*ref.shape))
    # distanceTransform measures to the nearest zero pixel, so the ink is passed as zeros
    to_ref = cv2.distanceTransform((~ref_ink).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    to_pred = cv2.distanceTransform((~pred_ink).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return 0.5 * (float(to_ref[pred_ink].mean()) + float(to_pred[ref_ink].mean()))


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """Structural similarity of the two gray images (skimage, ``data_range=255``, 7-px window).

    Images under 7 px on a side use the largest odd window that fits; below
    3 px the value is 1.0 for identical images and 0.0 otherwise.
    """
    from skimage.metrics import structural_similarity

    pred = match_size(pred, ref)
    ref = check_sketch(ref, "reference")
    side = min(ref.shape)
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        return 1.0 if np.array_equal(pred, ref) else 0.0
    return float(structural_similarity(pred, ref, data_range=255, win_size=win))


def sketch_metrics(
    sketch: np.ndarray,
    strokes: Strokes | None = None,
    reference: np.ndarray | None = None,
    tolerance: float = 2.0,
) -> dict[str, float]:
    """All numbers for one output, keyed by the names in :data:`core.sketch.metric_names.METRIC_NAMES` (in that order).

    Stroke keys appear only when ``strokes`` is given, reference keys only when
    ``reference`` is given (see the module docstring for resizing).
    """
    sketch = check_sketch(sketch)
    out: dict[str, float] = {
        "ink_coverage": ink_coverage(sketch),
        "fragmentation": fragmentation(sketch),
        "line_width": line_width(sketch),
    }
    if strokes is not None:
        stats = stroke_stats(strokes)
        out["strokes"] = float(stats["strokes"])
        out["stroke_length_total"] = stats["total_length"]
        out["stroke_length_mean"] = stats["mean_length"]
    if reference is not None:
        prf = edge_prf(sketch, reference, tolerance=tolerance)
        out["edge_precision"] = prf["precision"]
        out["edge_recall"] = prf["recall"]
        out["edge_f1"] = prf["f1"]
        out["chamfer"] = chamfer_distance(sketch, reference)
        out["ssim"] = ssim(sketch, reference)
    return out


def disagreement(sketches: list[np.ndarray], side: int = 64) -> float:
    """How much several outputs for one image differ: mean pairwise absolute difference in [0, 1].

    Each sketch (uint8 gray, any size) is area-resized to ``side x side`` so
    outputs at different resolutions compare; fewer than two sketches give 0.
    """
    small = [cv2.resize(np.asarray(s), (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
             for s in sketches if s is not None]
    pairs = [(a, b) for i, a in enumerate(small) for b in small[i + 1:]]
    if not pairs:
        return 0.0
    return float(np.mean([np.abs(a - b).mean() for a, b in pairs]))
