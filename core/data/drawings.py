"""Line drawings made from photos by image processing: the original project's Sketch Net training targets."""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import DatasetError

__all__ = ["LINES_MAKER", "LINE_SETTINGS", "PENCIL_MAKER", "make_line_drawing", "make_pencil_drawing"]

# How training metadata names the pencil-drawing maker: its historical path (it lived in
# core.data.testsets). The metadata is inside every trained checkpoint, so a new name would
# change the bytes, and the hash, of checkpoints trained from the same data and seed.
PENCIL_MAKER = "core.data.testsets.make_pencil_drawing"


def make_pencil_drawing(rgb: np.ndarray, blur_sigma: float = 5.0, gamma: float = 2.0) -> np.ndarray:
    """Turn a uint8 RGB photo into a uint8 gray pencil drawing (0 = ink), as the original made Sketch Net targets.

    The original project made its training targets "by image processing with a
    gamma step". This is the classic pencil sketch followed by that step:

    1. gray = luminance of the photo;
    2. blurred = Gaussian blur (``blur_sigma``) of the inverted gray;
    3. colour dodge: sketch = gray * 255 / (255 - blurred), clipped to 255 —
       flat areas go to white, only places where the pixel is darker than its
       surroundings (edges, lines) keep ink;
    4. gamma step: out = 255 * (sketch / 255) ** gamma; ``gamma > 1`` darkens the
       faint dodge lines into visible strokes while paper stays 255.

    Raises:
        DatasetError: the input is not uint8 ``HxWx3`` (or ``HxW``), or a parameter is not positive.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)):
        raise DatasetError(f"make_pencil_drawing needs a uint8 HxWx3 RGB image, got {rgb.dtype} {rgb.shape}")
    if not (blur_sigma > 0) or not (gamma > 0):
        raise DatasetError(f"blur_sigma and gamma must be positive, got blur_sigma={blur_sigma!r}, gamma={gamma!r}")
    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray = gray.astype(np.float32)
    blurred = cv2.GaussianBlur(255.0 - gray, (0, 0), float(blur_sigma))
    # colour dodge; the floor on the divisor keeps white-on-white at 255 instead of dividing by zero
    dodge = np.minimum(gray * 255.0 / np.maximum(255.0 - blurred, 1.0), 255.0)
    out = 255.0 * (dodge / 255.0) ** float(gamma)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# How training metadata names the line-drawing maker and its settings.
LINES_MAKER = "core.data.drawings.make_line_drawing"
LINE_SETTINGS = {"xdog": {"sigma": 0.8, "k": 1.6, "tau": 0.98, "epsilon": -0.005, "phi": 200.0}, "thicken": 2}


def make_line_drawing(rgb: np.ndarray) -> np.ndarray:
    """Turn a uint8 RGB image into clean pencil-style lines (uint8 gray, 0 = ink): XDoG, then lines thickened.

    The demo Sketch Net's training target, made from its input (the photo
    after the pipeline's gamma step, at the training side). XDoG with the
    ``xdog`` baseline's defaults draws the dark side of every edge as a 1-2 px
    line; a ``thicken`` x ``thicken`` minimum filter widens each line by a
    pixel so it survives the resize the pipeline applies when a sketch drawn
    at 848 px is brought back to a smaller photo.

    Raises:
        DatasetError: the input is not uint8 ``HxWx3``.
    """
    from core.pipeline.baselines import run_baseline

    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DatasetError(f"make_line_drawing needs a uint8 HxWx3 RGB image, got {rgb.dtype} {rgb.shape}")
    lines = run_baseline("xdog", rgb, LINE_SETTINGS["xdog"])
    k = LINE_SETTINGS["thicken"]
    return cv2.erode(lines, np.ones((k, k), np.uint8)) if k > 1 else lines
