"""What a Sketch Net's drawing of a real photo is scored against: the photo's own edges, and its training target.

Real photos have no ground-truth drawing. Two references stand in:

* :func:`photo_edges` - the photo's own edges: an auto-threshold Canny of the
  blurred photo (thresholds from the median grey, the common "auto Canny"),
  independent of anything the Sketch Net was trained on;
* :func:`target_drawing` - the drawing the demo Sketch Net was trained to make
  (:func:`~core.data.drawings.make_line_drawing` of the gamma'd photo at the
  net's side), brought back to the photo's size.

:func:`sketch_photo` runs a Sketch Net as the pipeline does with the
background off (gamma 2.0, squashed to ``side``, resized back).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["AUTO_CANNY", "photo_edges", "sketch_photo", "target_drawing"]

# Blur kernel and the median rule of the auto-threshold Canny.
AUTO_CANNY = {"blur_kernel": 3, "spread": 0.33}


def photo_edges(rgb: np.ndarray) -> np.ndarray:
    """The photo's own edges as a drawing (uint8, 0 = ink): Canny of the 3x3-blurred grey, median thresholds.

    Thresholds are ``(1 - 0.33) * median`` and ``(1 + 0.33) * median`` of the
    blurred grey values, clipped to 0..255.
    """
    k = AUTO_CANNY["blur_kernel"]
    gray = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (k, k), 0)
    median = float(np.median(gray))
    low = int(max(0.0, (1.0 - AUTO_CANNY["spread"]) * median))
    high = int(min(255.0, (1.0 + AUTO_CANNY["spread"]) * median))
    return (255 - cv2.Canny(gray, low, high)).astype(np.uint8)


def sketch_photo(net, rgb: np.ndarray, side: int, device="cpu") -> np.ndarray:
    """The Sketch Net's drawing of a photo with the background off: gamma 2.0, run at ``side``, photo-sized."""
    from core.pipeline.seed import apply_gamma, predict_sketch

    return predict_sketch(net, apply_gamma(rgb, 2.0), side, device)


def target_drawing(rgb: np.ndarray, side: int) -> np.ndarray:
    """The training target of the demo Sketch Net for a photo seen at ``side``, resized back to the photo."""
    from core.data.drawings import make_line_drawing
    from core.pipeline.seed import apply_gamma

    h, w = rgb.shape[:2]
    lines = make_line_drawing(cv2.resize(apply_gamma(rgb, 2.0), (side, side)))
    return cv2.resize(lines, (w, h))
