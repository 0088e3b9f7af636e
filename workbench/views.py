"""What a cell shows for each way of looking at the grid, and how much the outputs of a row disagree.

The Compare page shows every cell of the grid the same way: its pre-made
thumbnail, one zoom region or 1:1 window cut from the full-resolution sketch
(the same :class:`Region` for every cell), or its vector frames. The images
come cached from :mod:`workbench.media`; nothing here draws on the page.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from core.sketch.metrics import disagreement
from core.store.store import Store
from workbench import media
from workbench.grid import Row

VIEWS = ("Thumbnails", "Zoom", "1:1", "Vector frames")
ONE_TO_ONE_SIDES = (128, 192, 256)
SLIDER_MAX_WIDTH = 768  # px: the before/after slider and its whole-sketch images
VECTOR_SIDE = 256


@dataclass(frozen=True)
class Region:
    """How every cell is shown: the view, and for Zoom / 1:1 the centre (fractions), scale and side in px."""

    view: str = VIEWS[0]
    cx: float = 0.5
    cy: float = 0.5
    scale: float = 1
    side: int = media.ZOOM_TARGET_PX

    @property
    def pixelated(self) -> bool:
        """Whether the images are enlarged crops that must stay blocky (every view but thumbnails)."""
        return self.view != VIEWS[0]


def output_path(store: Store, stored: str | None) -> str | None:
    """The absolute path of an output file recorded in the store, or None when the cell has none."""
    return str(store.absolute(stored)) if stored else None


def cell_image(store: Store, cell: dict, region: Region) -> bytes | None:
    """PNG bytes of what ``cell`` shows in ``region``'s view (None when the file is missing or absent)."""
    if region.view == "Thumbnails":
        path = output_path(store, cell.get("thumb_path"))
        return media.thumbnail_png(path, media.mtime(path)) if path else None
    if region.view == "Vector frames":
        path = output_path(store, cell.get("vector_path"))
        return media.fitted_png(path, media.mtime(path), VECTOR_SIDE) if path else None
    path = output_path(store, cell.get("sketch_path"))
    if not path:
        return None
    mode = "zoom" if region.view == "Zoom" else "1:1"
    return media.zoom_png(path, media.mtime(path), region.cx, region.cy, region.scale, mode, region.side)


def slider_images(store: Store, cells: list[dict], region: Region) -> list[bytes | None]:
    """The two images of the before/after slider: whole sketches (at most 768 px) for thumbnails, else the view."""
    if region.view != "Thumbnails":
        return [cell_image(store, cell, region) for cell in cells]
    # The whole sketch at full resolution (not the thumbnail), fitted to the slider.
    paths = [output_path(store, cell.get("sketch_path")) for cell in cells]
    return [media.fitted_png(p, media.mtime(p), SLIDER_MAX_WIDTH) if p else None for p in paths]


def png_size(data: bytes) -> tuple[int, int]:
    """``(height, width)`` of PNG bytes, read from the IHDR header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not PNG data")
    width, height = struct.unpack(">II", data[16:24])
    return height, width


def slider_size(before_png: bytes, region: Region) -> tuple[int, int]:
    """``(height, width)`` in px at which the before/after slider shows ``before_png``."""
    h, w = png_size(before_png)
    width = min(SLIDER_MAX_WIDTH, w if region.view != "Zoom" else SLIDER_MAX_WIDTH)
    return int(h * width / w), width


def row_disagreement(store: Store, row: Row) -> float:
    """Mean pixel difference between the finished outputs of a row (their thumbnails, as small gray arrays)."""
    images = []
    for cell in row.cells.values():
        if cell and cell.get("status") == "done" and cell.get("thumb_path"):
            path = output_path(store, cell["thumb_path"])
            images.append(media.small_gray(path, media.mtime(path)))
    return disagreement(images)
