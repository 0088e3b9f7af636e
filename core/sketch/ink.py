"""Ink primitives shared by the metrics and the tracer: which pixels are ink, how deep, how wide, centre lines.

Sketches are uint8 grayscale ``HxW`` arrays, 0 = ink and 255 = paper; a pixel
is ink when its value is below a threshold (:data:`INK_THRESHOLD` unless told
otherwise). This module imports no other sketch module, so both
:mod:`core.sketch.metrics` and :mod:`core.sketch.tracing` can build on it.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import SketchFormatError

__all__ = [
    "INK_THRESHOLD",
    "check_sketch",
    "ink_depth",
    "ink_mask",
    "thin",
    "width_from_depths",
    "width_from_mean_depth",
]

INK_THRESHOLD = 128


def check_sketch(sketch: np.ndarray, name: str = "sketch") -> np.ndarray:
    """Return ``sketch`` as a 2-D uint8 array (an ``HxWx1`` array is squeezed), or raise SketchFormatError."""
    arr = np.asarray(sketch)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2 or arr.dtype != np.uint8 or arr.size == 0:
        raise SketchFormatError(
            f"{name} must be a non-empty uint8 grayscale HxW array, got dtype {arr.dtype} shape {arr.shape}"
        )
    return arr


def ink_mask(sketch: np.ndarray, threshold: int = INK_THRESHOLD) -> np.ndarray:
    """Return the HxW bool mask of ink pixels (value below ``threshold``)."""
    return check_sketch(sketch) < threshold


def ink_depth(ink: np.ndarray) -> np.ndarray:
    """Distance in px from each ink pixel's centre to the nearest paper pixel's centre (0 on paper).

    The image border counts as paper, so a line cut by the frame is measured
    across its width rather than as running off to infinity.

    Args:
        ink: HxW bool mask.

    Returns:
        HxW float32.
    """
    padded = np.pad(np.asarray(ink, bool), 1).astype(np.uint8)  # padding is False = paper
    depth = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return depth[1:-1, 1:-1]


def width_from_depths(depths: np.ndarray) -> float:
    """Line width in px from ink depths (:func:`ink_depth`) sampled on the centre line; 0.0 for no samples.

    See :func:`width_from_mean_depth` for the formula.
    """
    depths = np.asarray(depths, np.float64)
    if depths.size == 0:
        return 0.0
    return float(width_from_mean_depth(depths.mean()))


def width_from_mean_depth(mean_depth: float | np.ndarray) -> float | np.ndarray:
    """Line width in px from the mean ink depth along a centre line: ``2 * mean - 1``, at least 1 (elementwise).

    A centre pixel of a ``w``-px line (``w`` odd) lies ``(w + 1) / 2`` from the
    first paper pixel's centre, half a pixel beyond the ink edge on each side,
    hence the ``- 1``: a 1-px line measures 1 and a 3-px line measures 3 (even
    widths read 1 px thin, as the centre line sits on one of the two middle
    columns).
    """
    return np.maximum(1.0, 2.0 * np.asarray(mean_depth, np.float64) - 1.0)


def thin(ink: np.ndarray) -> np.ndarray:
    """Return the 1-px-wide centre lines (HxW bool) of an HxW bool ink mask."""
    from skimage.morphology import skeletonize  # skimage is slow to import; load it only when thinning

    ink = np.asarray(ink, bool)
    if not ink.any():
        return ink.copy()
    return skeletonize(ink)
