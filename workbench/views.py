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
from workbench import grid as G
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


# --------------------------------------------------------------------------- reading the grid a page at a time


def _in_test_set(cells: list[dict], test_set: str | None) -> list[dict]:
    """The cells of one test set (None: all of them; ``""``: those without one)."""
    return cells if test_set is None else [c for c in cells if (c.get("test_set") or "") == test_set]


def kept_configs(configs: list[dict], axes: list[str], fixed: dict[str, str], shown: list[str]) -> list[dict]:
    """The settings combinations whose cells the grid shows: fitting ``fixed``, in a shown column."""
    return [c for c in configs if G.matches(c, fixed) and G.column_label(G.column_key(c, axes)) in shown]


def hidden_cells(store: Store, sweep_id: int | None, test_set: str | None, kept: list[dict], axes: list[str]) -> int:
    """How many shown cells lose their slot to another cell of the same image and column (as :func:`G.build_grid`)."""
    by_column: dict[tuple, list[dict]] = {}
    for config in kept:
        by_column.setdefault(G.column_key(config, axes), []).append(config)
    slots = 0
    for members in by_column.values():
        if len(members) == 1:
            slots += members[0]["images"]
        else:  # several settings share the column: count its images once
            slots += store.config_image_page(sweep_id, members, 0, 0, test_set)[1]
    return sum(c["cells"] for c in kept) - slots


def grid_page(store: Store, sweep_id: int | None, test_set: str | None, configs: list[dict] | None,
              grid_args: tuple, columns: list[G.Column], size: int, offset: int) -> G.Grid:
    """One page of the grid read from the store (``LIMIT``/``OFFSET`` over its images), with the whole grid's columns.

    ``configs`` keeps the images that have a cell with one of those settings
    (None: every image); ``grid_args`` is ``(axes, fixed, shown)``.
    """
    page, _ = store.config_image_page(sweep_id, configs, size, offset, test_set, count=False)
    cells = _in_test_set(store.image_cells(sweep_id, [r["image_sha256"] for r in page]), test_set)
    return G.with_columns(G.build_grid(cells, *grid_args), columns)


def grid_of_images(store: Store, sweep_id: int | None, test_set: str | None, images: set[str] | None,
                   grid_args: tuple, columns: list[G.Column]) -> G.Grid:
    """The grid of these images (None: of every image, read in full), with the whole grid's columns."""
    if images is None:
        cells = store.results(sweep_id)
    else:
        shas, cells = sorted(images), []
        for start in range(0, len(shas), 500):
            cells += store.image_cells(sweep_id, shas[start : start + 500])
    return G.with_columns(G.build_grid(_in_test_set(cells, test_set), *grid_args), columns)


def ordered_row_keys(store: Store, sweep_id: int | None, test_set: str | None, grid_args: tuple,
                     by_disagreement: bool) -> list[str]:
    """Every row key of the grid in order: by name, or the most disagreeing first (reads every cell: on demand)."""
    rows = G.build_grid(_in_test_set(store.results(sweep_id), test_set), *grid_args).rows
    if by_disagreement:
        rows = sorted(rows, key=lambda row: row_disagreement(store, row), reverse=True)
    return [row.key for row in rows]
