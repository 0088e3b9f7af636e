"""Line drawings made from photos by image processing: the original project's Sketch Net training targets."""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import DatasetError

__all__ = ["PENCIL_MAKER", "make_pencil_drawing"]

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
