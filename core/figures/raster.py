"""A figure's PNG, built band by band: panels pasted 1:1, labels rendered by matplotlib, no pixel limit.

The PNG is written as a stream (IDAT chunks from one zlib stream fed a band of
rows at a time), so memory holds one band, not the whole picture, and no
library's megapixel guard or 2^16-pixel side limit applies: a grid of
thousands of stored pixels each way is written like a small one.
"""

from __future__ import annotations

import math
import struct
import zlib
from functools import lru_cache
from typing import BinaryIO

import numpy as np

from core.figures.layout import ImageItem, Layout, RectItem, TextItem, text_size

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_LEVEL = 6
TEXT_PAD = 2  # pixels around a rendered label, so antialiased edges are not cut


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(layout: Layout, fp: BinaryIO) -> None:
    """Draw ``layout`` into ``fp`` as an 8-bit RGB PNG, one band of rows at a time (pHYs says the layout's DPI)."""
    fp.write(PNG_SIGNATURE)
    fp.write(png_chunk(b"IHDR", struct.pack(">IIBBBBB", layout.width, layout.height, 8, 2, 0, 0, 0)))
    per_metre = round(layout.dpi / 0.0254)
    fp.write(png_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)))
    packer = zlib.compressobj(PNG_LEVEL)
    for top, bottom in layout.bands:
        band = draw_band(layout, top, bottom)
        rows = np.zeros((bottom - top, 1 + layout.width * 3), np.uint8)  # filter byte 0 (none) per row
        rows[:, 1:] = band.reshape(bottom - top, -1)
        data = packer.compress(rows.tobytes())
        if data:
            fp.write(png_chunk(b"IDAT", data))
    fp.write(png_chunk(b"IDAT", packer.flush()))
    fp.write(png_chunk(b"IEND", b""))


def draw_band(layout: Layout, top: int, bottom: int) -> np.ndarray:
    """The rows ``top:bottom`` of the figure: white, then every item that reaches into them, in order."""
    band = np.full((bottom - top, layout.width, 3), 255, np.uint8)
    for item in layout.items:
        if isinstance(item, ImageItem):
            if item.y < bottom and item.y + item.h > top:
                paste(band, item.load(), item.x, item.y - top)
        elif isinstance(item, RectItem):
            if item.y < bottom and item.y + item.h > top:
                draw_rect(band, item, top)
        elif isinstance(item, TextItem):
            draw_text(band, item, top)
    return band


def paste(band: np.ndarray, pixels: np.ndarray, x: int, y: int) -> None:
    """Copy ``pixels`` into ``band`` with its top-left corner at ``(x, y)`` (band rows), clipped to the band."""
    h, w = pixels.shape[:2]
    y0, y1 = max(0, y), min(band.shape[0], y + h)
    x0, x1 = max(0, x), min(band.shape[1], x + w)
    if y0 < y1 and x0 < x1:
        band[y0:y1, x0:x1] = pixels[y0 - y : y1 - y, x0 - x : x1 - x]


def draw_rect(band: np.ndarray, item: RectItem, top: int) -> None:
    """Fill the rectangle, or draw its outline ``lw`` pixels wide inside its box."""
    color = np.array(item.color, np.uint8)
    x0, x1 = item.x, item.x + item.w
    y0, y1 = item.y - top, item.y - top + item.h
    if item.fill:
        band[max(0, y0) : max(0, y1), x0:x1] = color
        return
    lw = max(1, min(item.lw, item.w // 2 or 1, item.h // 2 or 1))
    for ya, yb, xa, xb in ((y0, y0 + lw, x0, x1), (y1 - lw, y1, x0, x1), (y0, y1, x0, x0 + lw),
                           (y0, y1, x1 - lw, x1)):
        ya, yb = max(0, ya), min(band.shape[0], yb)
        if ya < yb:
            band[ya:yb, max(0, xa) : xb] = color


def draw_text(band: np.ndarray, item: TextItem, top: int) -> None:
    """Blend a label (black ink on white, antialiased) into the band where it falls."""
    coverage = text_coverage(item.text, round(item.px, 2), item.bold)
    h, w = coverage.shape
    x = round(item.x - TEXT_PAD - {"left": 0, "center": (w - 2 * TEXT_PAD) / 2,
                                   "right": w - 2 * TEXT_PAD}[item.ha])
    y = round(item.y - TEXT_PAD - (0 if item.va == "top" else (h - 2 * TEXT_PAD) / 2)) - top
    y0, y1 = max(0, y), min(band.shape[0], y + h)
    x0, x1 = max(0, x), min(band.shape[1], x + w)
    if y0 >= y1 or x0 >= x1:
        return
    alpha = coverage[y0 - y : y1 - y, x0 - x : x1 - x, None].astype(np.float32) / 255
    region = band[y0:y1, x0:x1].astype(np.float32)
    band[y0:y1, x0:x1] = np.rint(region * (1 - alpha) + np.array(item.color, np.float32) * alpha).astype(np.uint8)


@lru_cache(maxsize=2048)
def text_coverage(text: str, px: float, bold: bool) -> np.ndarray:
    """How much ink each pixel of a rendered label holds (0-255), with :data:`TEXT_PAD` pixels around it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height, descent = text_size(text, px, bold)
    w, h = math.ceil(width) + 2 * TEXT_PAD, math.ceil(height) + 2 * TEXT_PAD
    fig = Figure(figsize=(w / 72, h / 72), dpi=72, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    fig.text(TEXT_PAD / w, (TEXT_PAD + descent) / h, text, fontsize=px, color="black",
             fontweight="bold" if bold else "normal", ha="left", va="baseline")
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return (255 - rgba[..., 0]).copy()
