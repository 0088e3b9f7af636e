"""Images for the pages: pre-made thumbnails, zoom and 1:1 crops of full-resolution outputs, all cached.

The grid serves each cell's pre-made WebP thumbnail (converted once to PNG,
which ``st.image`` passes through untouched, and cached by path and mtime).
Zoom crops are cut from the full-resolution sketch and enlarged with
nearest-neighbour so one-pixel lines stay sharp; they are cached by path,
mtime and region, so moving between pages or rerunning costs nothing.

Every cache is bounded in bytes (:mod:`workbench.cache`; budgets in
:data:`CACHE_BUDGETS`) and shared by all sessions of the app process.

The pure functions (``region_box``, ``zoom_crop``, ``one_to_one``, ``fit``,
``enlarge``) take and return arrays and are tested without Streamlit.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from core.files import encode_png
from workbench.cache import bounded_cache

MB = 2**20
# Bytes each image cache may hold (about 430 MB in all): a 50 x 4 grid of thumbnails needs ~10 MB.
CACHE_BUDGETS = {"thumbnail": 96 * MB, "source": 32 * MB, "zoom": 128 * MB, "fitted": 96 * MB, "small_gray": 16 * MB,
                 "file": 64 * MB}
PNG_LEVEL = 1  # fast compression: these images are served, not archived

ZOOM_TARGET_PX = 384  # crops are enlarged by a whole factor to at least this width
ZOOM_SCALES = (1, 2, 3, 4, 6, 8, 12, 16)


def region_box(width: int, height: int, cx: float, cy: float, scale: float) -> tuple[int, int, int, int]:
    """The crop ``(x0, y0, x1, y1)`` of a ``width x height`` image: centre ``(cx, cy)`` in [0, 1], 1/scale of each side.

    The box keeps the image's aspect ratio and is moved inside the image rather than cut short.
    """
    scale = max(1.0, float(scale))
    w = max(1, round(width / scale))
    h = max(1, round(height / scale))
    x0 = round(cx * width - w / 2)
    y0 = round(cy * height - h / 2)
    x0 = min(max(0, x0), width - w)
    y0 = min(max(0, y0), height - h)
    return x0, y0, x0 + w, y0 + h


def zoom_crop(img: np.ndarray, cx: float, cy: float, scale: float, target: int = ZOOM_TARGET_PX) -> np.ndarray:
    """Cut the zoom region and enlarge it by a whole factor (nearest-neighbour) to at least ``target`` px wide."""
    x0, y0, x1, y1 = region_box(img.shape[1], img.shape[0], cx, cy, scale)
    crop = img[y0:y1, x0:x1]
    factor = max(1, math.ceil(target / crop.shape[1]))
    if factor == 1:
        return np.ascontiguousarray(crop)
    return cv2.resize(crop, (crop.shape[1] * factor, crop.shape[0] * factor), interpolation=cv2.INTER_NEAREST)


def one_to_one(img: np.ndarray, cx: float, cy: float, side: int) -> np.ndarray:
    """A ``side x side`` window (smaller if the image is) at native resolution, centred on ``(cx, cy)``."""
    h, w = img.shape[:2]
    sw, sh = min(side, w), min(side, h)
    x0 = min(max(0, round(cx * w - sw / 2)), w - sw)
    y0 = min(max(0, round(cy * h - sh / 2)), h - sh)
    return np.ascontiguousarray(img[y0 : y0 + sh, x0 : x0 + sw])


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


@bounded_cache(CACHE_BUDGETS["thumbnail"])
def thumbnail_png(path: str, stamp: int) -> bytes | None:
    """The pre-made thumbnail as PNG bytes (decoded once per file version)."""
    img = read(path)
    return None if img is None else encode_png(img, PNG_LEVEL)


@bounded_cache(CACHE_BUDGETS["source"])
def source_png(path: str, stamp: int, side: int = 160) -> bytes | None:
    """An input photo shrunk to ``side`` px, for the row headers."""
    img = read(path)
    return None if img is None else encode_png(fit(img, side), PNG_LEVEL)


@bounded_cache(CACHE_BUDGETS["zoom"])
def zoom_png(path: str, stamp: int, cx: float, cy: float, scale: float, mode: str, side: int) -> bytes | None:
    """The zoom (``mode="zoom"``) or 1:1 (``mode="1:1"``) crop of a full-resolution output, as PNG."""
    img = read(path)
    if img is None:
        return None
    crop = zoom_crop(img, cx, cy, scale, side) if mode == "zoom" else one_to_one(img, cx, cy, side)
    return encode_png(crop, PNG_LEVEL)


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
