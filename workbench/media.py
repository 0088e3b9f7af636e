"""Images the pages draw themselves (the grid viewer fetches stored files over HTTP): input photos for row
headers, fitted images for the cell dialog, small gray copies for comparing outputs, all cached.

Every cache is keyed by path and mtime, bounded in bytes (:mod:`workbench.cache`;
budgets in :data:`CACHE_BUDGETS`) and shared by all sessions of the app process.

The pure functions (``fit``, ``enlarge``) take and return arrays and are
tested without Streamlit.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from core.files import encode_png
from workbench.cache import bounded_cache

MB = 2**20
# Bytes each image cache may hold (about 210 MB in all).
CACHE_BUDGETS = {"source": 32 * MB, "fitted": 96 * MB, "small_gray": 16 * MB, "file": 64 * MB}
PNG_LEVEL = 1  # fast compression: these images are served, not archived

def fit(img: np.ndarray, side: int) -> np.ndarray:
    """Shrink (area-averaged) so the longer side is at most ``side``; never enlarge."""
    h, w = img.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return img
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def enlarge(img: np.ndarray, side: int) -> np.ndarray:
    """Enlarge a small image (e.g. a 28x28 mask) by a whole factor with nearest-neighbour."""
    factor = max(1, side // max(img.shape[:2]))
    return cv2.resize(img, (img.shape[1] * factor, img.shape[0] * factor), interpolation=cv2.INTER_NEAREST)


def read(path: str | Path) -> np.ndarray | None:
    """A gray or RGB uint8 array from an output file (None when missing or unreadable)."""
    data = np.fromfile(str(path), np.uint8) if os.path.isfile(path) else None
    if data is None or not data.size:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8)
    return img


def mtime(path: str | Path | None) -> int:
    """The file's mtime in ns (0 when missing): part of every cache key, so a rewritten file is reread."""
    try:
        return os.stat(path).st_mtime_ns if path else 0
    except OSError:
        return 0


# --------------------------------------------------------------------------- cached (bounded in bytes), for the pages


@bounded_cache(CACHE_BUDGETS["source"])
def source_png(path: str, stamp: int, side: int = 160) -> bytes | None:
    """An input photo shrunk to ``side`` px, for the row headers."""
    img = read(path)
    return None if img is None else encode_png(fit(img, side), PNG_LEVEL)


@bounded_cache(CACHE_BUDGETS["fitted"])
def fitted_png(path: str, stamp: int, side: int, nearest: bool = False) -> bytes | None:
    """An output or input image fitted to ``side`` px (small masks enlarged with nearest-neighbour)."""
    img = read(path)
    if img is None:
        return None
    return encode_png(enlarge(img, side) if nearest else fit(img, side), PNG_LEVEL)


@bounded_cache(CACHE_BUDGETS["small_gray"])
def small_gray(path: str, stamp: int, side: int = 64) -> np.ndarray | None:
    """A cell's thumbnail as a small gray array, for comparing outputs (cached per file version)."""
    img = read(path)
    if img is None:
        return None
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    return cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA)


@bounded_cache(CACHE_BUDGETS["file"])
def file_bytes(path: str, stamp: int) -> bytes | None:
    """A file's bytes (SVG, GIF), cached per file version."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return None
