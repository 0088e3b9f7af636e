"""The names of the per-output metrics, listed once, with what each means.

A light module (no image libraries): the store takes its metric columns from
here and the app its help texts, without loading OpenCV or scikit-image. The
order is the order of the store's metric columns and of
:func:`core.sketch.metrics.sketch_metrics`' keys; append new names at the end.
"""

from __future__ import annotations

__all__ = ["METRIC_DESCRIPTIONS", "METRIC_NAMES"]

METRIC_DESCRIPTIONS: dict[str, str] = {
    "ink_coverage": "Fraction of pixels that are ink (0-1).",
    "fragmentation": "Separate ink pieces (8-connected) per 1000 ink pixels; lower means more continuous lines.",
    "line_width": "Typical line width in pixels (from the distance transform along the centre lines).",
    "strokes": "Number of vector strokes after vectorising.",
    "stroke_length_total": "Total length of all vector strokes, in pixels.",
    "stroke_length_mean": "Mean length of a vector stroke, in pixels; longer means fewer, more continuous strokes.",
    "edge_precision": "Share of the sketch's centre-line pixels within the tolerance of a reference line (0-1).",
    "edge_recall": "Share of the reference's centre-line pixels matched by the sketch within the tolerance (0-1).",
    "edge_f1": "Harmonic mean of edge precision and recall (0-1); higher is closer to the reference.",
    "chamfer": "Mean distance in pixels between the sketch's ink and the reference's ink, both ways; lower is closer.",
    "ssim": "Structural similarity with the reference image (-1 to 1; 1 = identical).",
}

#: Every metric's name, in column order.
METRIC_NAMES: tuple[str, ...] = tuple(METRIC_DESCRIPTIONS)
