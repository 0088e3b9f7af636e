"""Where everything of a figure goes, in output pixels: panels, insets, outlines, headers, row names, caption.

One stored pixel is one output pixel at scale 1, so the layout is made in
pixels from the stored files' sizes (read from their headers, not decoded).
Text is sized for print: the font is about 4% of a typical panel, and the
figure's DPI is chosen so that this font prints at :data:`TEXT_PT` points.
A renderer turns the items into PNG (band by band) or SVG/PDF.
"""

from __future__ import annotations

import math
import statistics
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import FigureError

TEXT_PT = 8.0  # printed size of the labels
OUTLINE = (220, 30, 30)  # the crop rectangle and the inset's frame
MISSING_FILL = (235, 235, 235)
INK = (0, 0, 0)
GREY_TEXT = (90, 90, 90)
FRAME = (200, 200, 200)  # the hairline around each panel
FRAME_PX = 1


@dataclass
class TextItem:
    """A line of text anchored at ``(x, y)``; ``ha``: left/center/right, ``va``: top/center."""

    x: float
    y: float
    text: str
    px: float
    bold: bool = False
    ha: str = "left"
    va: str = "top"
    color: tuple = INK


@dataclass
class ImageItem:
    """A raster drawn 1:1 into the box ``x, y, w, h``; ``load()`` returns its ``(h, w, 3)`` uint8 pixels.

    ``native()``, when set, returns the stored pixels the box shows (any size): what a vector format embeds
    and scales, so a scaled panel still carries every stored pixel.
    """

    x: int
    y: int
    w: int
    h: int
    load: Callable[[], np.ndarray]
    native: Callable[[], np.ndarray] | None = None


@dataclass
class RectItem:
    """A rectangle: an outline of ``lw`` pixels inside the box, or filled when ``fill`` is set."""

    x: int
    y: int
    w: int
    h: int
    color: tuple
    lw: int = 0
    fill: bool = False


@dataclass
class Layout:
    """A figure in pixels: its size, DPI, items in drawing order, the bands a raster is built in, the panels."""

    width: int
    height: int
    dpi: float
    font_px: int
    items: list = field(default_factory=list)
    bands: list[tuple[int, int]] = field(default_factory=list)
    panels: list[dict] = field(default_factory=list)


def parse_crop(text: str | tuple | list | None) -> tuple[float, float, float, float] | None:
    """``"x,y,w,h"`` (fractions of each image) as four floats, or None.

    Raises:
        FigureError: not four numbers, or a rectangle that does not lie inside 0-1 with some area.
    """
    if text is None or text == "":
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        x, y, w, h = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise FigureError(f"--crop takes x,y,w,h as four fractions 0-1 (e.g. 0.25,0.25,0.5,0.5), got {text!r}") \
            from None
    if min(x, y) < 0 or w <= 0 or h <= 0 or x + w > 1 + 1e-9 or y + h > 1 + 1e-9:
        raise FigureError(f"--crop {x:g},{y:g},{w:g},{h:g} lies outside the image: x, y >= 0, w, h > 0, "
                          "x + w <= 1 and y + h <= 1")
    return (x, y, w, h)


def crop_pixels(crop: tuple, width: int, height: int) -> tuple[int, int, int, int]:
    """The crop rectangle in an image's pixels ``(x0, y0, x1, y1)``: at least one pixel, inside the image."""
    x, y, w, h = crop
    x0, y0 = min(int(x * width), width - 1), min(int(y * height), height - 1)
    x1, y1 = max(x0 + 1, min(width, round((x + w) * width))), max(y0 + 1, min(height, round((y + h) * height)))
    return x0, y0, x1, y1


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` of an image file from its header (PNG read directly: no pixel limit), None if unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        from PIL import Image

        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError, struct.error):
        return None


@lru_cache(maxsize=4096)
def text_size(text: str, px: float, bold: bool = False) -> tuple[float, float, float]:
    """``(width, height, descent)`` of a line of text at ``px`` pixels (matplotlib's metrics, 1 pt = 1 px)."""
    from matplotlib.font_manager import FontProperties

    renderer = _renderer(threading.get_ident())
    prop = FontProperties(size=px, weight="bold" if bold else "normal")
    return renderer.get_text_width_height_descent(text, prop, ismath=False) if text else (0.0, px, 0.0)


@lru_cache(maxsize=8)
def _renderer(thread: int):
    """A small Agg renderer that measures text, one per thread (the app draws downloads on their own threads)."""
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(8, 8, 72)


def fit_text(text: str, px: float, width: float, bold: bool = False) -> tuple[str, float]:
    """``text`` at ``px``, shrunk (down to 70%) and then shortened in the middle with ``…`` to fit ``width``."""
    size = px
    while text_size(text, size, bold)[0] > width and size > px * 0.7:
        size = max(px * 0.7, size * 0.92)
    if text_size(text, size, bold)[0] <= width:
        return text, size
    keep = len(text)
    while keep > 2:
        keep -= 1
        short = text[: (keep + 1) // 2] + "…" + text[len(text) - keep // 2 :]
        if text_size(short, size, bold)[0] <= width:
            return short, size
    return text[:1] + "…", size


def header_lines(text: str, px: float, width: float) -> tuple[list[str], float]:
    """A column header as one line, or two broken after a ``_ - . / space`` when one is too wide, and its size."""
    if text_size(text, px, True)[0] <= width:
        return [text], px
    cuts = [i + 1 for i, ch in enumerate(text[:-1]) if ch in "_-./ "]
    fitting = [(text[:i].strip(), text[i:].strip()) for i in cuts]
    fitting = [pair for pair in fitting if all(text_size(t, px, True)[0] <= width for t in pair)]
    if fitting:
        return list(min(fitting, key=lambda p: abs(len(p[0]) - len(p[1])))), px
    short, size = fit_text(text, px, width, bold=True)
    return [short], size


def wrap_words(parts: list[str], px: float, width: float, sep: str = " · ") -> list[str]:
    """Join ``parts`` with ``sep`` into lines no wider than ``width`` (a part longer than a line stays whole)."""
    lines: list[str] = []
    for part in parts:
        if lines and text_size(lines[-1] + sep + part, px)[0] <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return lines


def panel_sizes(selection, scale: float) -> dict[tuple[int, int], tuple[int, int] | None]:
    """The drawn size of each slot's panel (scaled stored size), None where there is no cell or file."""
    sizes = {}
    for i, row in enumerate(selection.rows):
        for j, column in enumerate(selection.columns):
            cell = selection.cell(row, column)
            size = image_size(selection.root / cell["sketch_path"]) if cell else None
            sizes[(i, j)] = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale))) if size else None
    return sizes


def plan_layout(selection, *, crop: tuple | None = None, scale: float = 1.0,
                load_panel: Callable, load_inset: Callable) -> Layout:
    """Place the selection's panels, insets, outlines and labels.

    Args:
        selection: a :class:`core.figures.selection.FigureSelection`.
        crop: ``(x, y, w, h)`` fractions: the inset cut from every panel (None: no insets).
        scale: the panels' size relative to the stored files.
        load_panel: ``load_panel(cell, w, h)`` -> the panel's pixels at that size (None, None: as stored).
        load_inset: ``load_inset(cell, crop, w, h)`` -> the inset's pixels at that size.
    """
    if not scale > 0:
        raise FigureError(f"--scale must be a number above 0, got {scale}")
    sizes = panel_sizes(selection, scale)
    known = [s for s in sizes.values() if s]
    if not known:
        raise FigureError("none of the selected cells has its sketch file; the store's files are gone")
    typical = statistics.median(max(s) for s in known)
    font = int(min(40, max(12, round(typical * 0.04))))
    gap, margin = max(4, font // 2), font
    col_gap = gap * 2 if crop else gap  # a panel's inset must not look like the next column's panel
    lw = max(2, font // 8)
    fallback = (round(statistics.median(s[0] for s in known)), round(statistics.median(s[1] for s in known)))
    n_rows, n_cols = len(selection.rows), len(selection.columns)
    panel_w = [max((sizes[(i, j)] or (0, 0))[0] for i in range(n_rows)) or fallback[0] for j in range(n_cols)]
    row_h = [max((sizes[(i, j)] or (0, 0))[1] for j in range(n_cols)) or fallback[1] for i in range(n_rows)]
    inset_gap = max(2, gap // 2)
    col_w = [w * 2 + inset_gap if crop else w for w in panel_w]

    label_w = math.ceil(min(max(text_size(r.label, font)[0] for r in selection.rows), 16 * font))
    grid_w = sum(col_w) + col_gap * (n_cols - 1)
    width = int(margin + label_w + gap + grid_w + margin)
    line = round(font * 1.35)
    caption_lines = wrap_words(_caption_parts(selection.caption), font, width - 2 * margin)
    layout = Layout(width, 0, font * 72 / TEXT_PT, font)
    y = margin
    for text in caption_lines:
        layout.items.append(TextItem(margin, y, text, font, color=GREY_TEXT))
        y += line
    y += gap
    x0 = margin + label_w + gap
    lefts = [x0 + sum(col_w[:j]) + col_gap * j for j in range(n_cols)]
    headers = [header_lines(c.label, font, col_w[j]) for j, c in enumerate(selection.columns)]
    n_lines = max(len(lines) for lines, _ in headers)
    for j, (lines, size) in enumerate(headers):
        first = y + (n_lines - len(lines)) * line  # the headers' last lines on one baseline, above the panels
        for k, text in enumerate(lines):
            layout.items.append(TextItem(lefts[j] + col_w[j] / 2, first + k * line + line / 2, text, size,
                                         bold=True, ha="center", va="center"))
    y += n_lines * line + gap // 2
    layout.bands.append((0, y))
    for i, row in enumerate(selection.rows):
        top = y
        text, size = fit_text(row.label, font, label_w)
        layout.items.append(TextItem(margin + label_w, top + row_h[i] / 2, text, size, ha="right", va="center"))
        for j, column in enumerate(selection.columns):
            layout.panels.append(_place_slot(layout, selection, i, j, (lefts[j], top, panel_w[j], row_h[i]),
                                             sizes[(i, j)], crop, inset_gap, lw, load_panel, load_inset))
        y = top + row_h[i] + (gap if i < n_rows - 1 else margin)
        layout.bands.append((top, y))
    layout.height = int(y)
    return layout


def _caption_parts(caption: str) -> list[str]:
    """The caption's pieces that a line may break between (the settings of its ``·`` list)."""
    head, _, rest = caption.partition(" Fixed: ")
    parts = rest.rstrip(".").split(" · ") if rest else []
    return [f"{head} Fixed: {parts[0]}", *parts[1:]] if parts else [head]


def _place_slot(layout: Layout, selection, i: int, j: int, slot: tuple, size, crop, inset_gap: int, lw: int,
                load_panel: Callable, load_inset: Callable) -> dict:
    """Add one slot's items (panel, outline, inset, or a "no cell" box) and return its manifest geometry."""
    row, column = selection.rows[i], selection.columns[j]
    cell = selection.cell(row, column)
    left, top, slot_w, slot_h = slot
    entry = {"row": i, "column": j, "box": None, "inset_box": None}
    if size is None:
        layout.items.append(RectItem(left, top, slot_w, slot_h, MISSING_FILL, fill=True))
        layout.items.append(TextItem(left + slot_w / 2, top + slot_h / 2, "no cell" if cell is None else "file gone",
                                     layout.font_px * 0.9, ha="center", va="center", color=GREY_TEXT))
        return entry
    w, h = size
    x, y = left + (slot_w - w) // 2, top + (slot_h - h) // 2
    # A hairline just outside the panel: white sketches on a white page still show their edges.
    layout.items.append(RectItem(x - FRAME_PX, y - FRAME_PX, w + 2 * FRAME_PX, h + 2 * FRAME_PX, FRAME, FRAME_PX))
    layout.items.append(ImageItem(x, y, w, h, lambda c=cell, w=w, h=h: load_panel(c, w, h),
                                  lambda c=cell: load_panel(c, None, None)))
    entry["box"] = [x, y, w, h]
    if crop:
        cx0, cy0, cx1, cy1 = crop_pixels(crop, w, h)
        layout.items.append(RectItem(x + cx0, y + cy0, cx1 - cx0, cy1 - cy0, OUTLINE, lw))
        native = image_size(selection.root / cell["sketch_path"])
        nx0, ny0, nx1, ny1 = crop_pixels(crop, *native)
        zoom = min(slot_w / (nx1 - nx0), slot_h / (ny1 - ny0))
        iw, ih = max(1, round((nx1 - nx0) * zoom)), max(1, round((ny1 - ny0) * zoom))
        ix, iy = left + slot_w + inset_gap, top + (slot_h - ih) // 2
        layout.items.append(ImageItem(ix, iy, iw, ih, lambda c=cell, iw=iw, ih=ih: load_inset(c, crop, iw, ih)))
        layout.items.append(RectItem(ix, iy, iw, ih, OUTLINE, lw))
        entry["inset_box"] = [ix, iy, iw, ih]
        entry["inset_source"] = [nx0, ny0, nx1 - nx0, ny1 - ny0]
    return entry
