"""Drawing a figure selection as PNG, SVG or PDF, and the manifest that maps each panel to its cell.

PNG: stored pixels 1:1 (at scale 1), built in bands (:mod:`core.figures.raster`).
SVG and PDF: matplotlib, every panel embedded as a raster at its drawn
resolution (``interpolation="none"``: no resampling), text as text (SVG
``<text>`` elements, PDF TrueType fonts). The page size follows the layout's
DPI, so the labels print at :data:`core.figures.layout.TEXT_PT` points.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from core.errors import FigureError
from core.figures.layout import ImageItem, Layout, RectItem, TextItem, crop_pixels, image_size, plan_layout
from core.figures.raster import write_png
from core.files import current_umask
from core.store.schema import CONFIG_COLUMNS

log = logging.getLogger(__name__)

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


@dataclass
class ExportedFigure:
    """What :func:`export_figure` wrote: the figure, its manifest, and the manifest's content."""

    figure: Path
    manifest_file: Path
    manifest: dict


def figure_format(path: str | os.PathLike) -> str:
    """``png``, ``svg`` or ``pdf`` from a file name.

    Raises:
        FigureError: any other suffix.
    """
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise FigureError(f"cannot write {Path(path).name!r}: the figure's name must end in .png, .svg or .pdf")
    return fmt


def manifest_path(figure: str | os.PathLike) -> Path:
    """``fig.png`` -> ``fig.manifest.json`` beside it."""
    return Path(figure).with_suffix(".manifest.json")


class PanelReader:
    """Reads the cells' sketch files for a figure (the last few kept: a panel and its inset read the file once)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.recent: dict[str, np.ndarray] = {}

    def native(self, cell: dict) -> np.ndarray:
        """The cell's stored sketch as ``(h, w, 3)`` uint8 RGB."""
        import cv2

        path = str(self.root / cell["sketch_path"])
        if path not in self.recent:
            pixels = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if pixels is None:
                raise FigureError(f"cannot read {path}, the sketch of cell {cell.get('id')}")
            if pixels.ndim == 2:
                pixels = np.repeat(pixels[..., None], 3, axis=2)
            else:
                pixels = cv2.cvtColor(pixels[..., :3], cv2.COLOR_BGR2RGB)
            if len(self.recent) >= 4:
                self.recent.pop(next(iter(self.recent)))
            self.recent[path] = pixels
        return self.recent[path]

    def panel(self, cell: dict, w: int | None, h: int | None) -> np.ndarray:
        """The sketch at ``w`` x ``h`` (None: as stored): area-averaged smaller, pixel-repeated larger."""
        import cv2

        pixels = self.native(cell)
        if w is None or h is None or (pixels.shape[1] == w and pixels.shape[0] == h):
            return pixels
        shrink = w < pixels.shape[1]
        return cv2.resize(pixels, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_NEAREST)

    def inset(self, cell: dict, crop: tuple, w: int, h: int) -> np.ndarray:
        """The crop of the stored sketch, magnified to ``w`` x ``h`` by repeating pixels (the zoom shows pixels)."""
        import cv2

        pixels = self.native(cell)
        x0, y0, x1, y1 = crop_pixels(crop, pixels.shape[1], pixels.shape[0])
        return cv2.resize(np.ascontiguousarray(pixels[y0:y1, x0:x1]), (w, h), interpolation=cv2.INTER_NEAREST)


def layout_figure(selection, crop: tuple | None = None, scale: float = 1.0) -> Layout:
    """The selection's layout, with panels read from the store's folder."""
    reader = PanelReader(selection.root)
    return plan_layout(selection, crop=crop, scale=scale, load_panel=reader.panel, load_inset=reader.inset)


def draw_vector(layout: Layout, fp: BinaryIO, fmt: str) -> None:
    """Draw ``layout`` into ``fp`` as SVG or PDF with matplotlib: rasters unresampled, text as text."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    W, H, dpi = layout.width, layout.height, layout.dpi
    pt = 72 / dpi  # points per output pixel
    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42, "svg.hashsalt": "workbench",
                                "image.interpolation": "none"}):
        fig = Figure(figsize=(W / dpi, H / dpi), dpi=dpi, facecolor="white")
        FigureCanvasAgg(fig)
        for item in layout.items:
            if isinstance(item, ImageItem):
                ax = fig.add_axes((item.x / W, 1 - (item.y + item.h) / H, item.w / W, item.h / H))
                pixels = item.native() if item.native is not None else item.load()
                ax.imshow(pixels, interpolation="none", aspect="auto", resample=False)
                ax.set_axis_off()
            elif isinstance(item, RectItem):
                half = 0 if item.fill else item.lw / 2
                fig.add_artist(Rectangle(((item.x + half) / W, 1 - (item.y + item.h - half) / H),
                                         (item.w - 2 * half) / W, (item.h - 2 * half) / H, transform=fig.transFigure,
                                         fill=item.fill, facecolor=np.array(item.color) / 255 if item.fill else "none",
                                         edgecolor="none" if item.fill else np.array(item.color) / 255,
                                         linewidth=item.lw * pt))
            elif isinstance(item, TextItem):
                fig.text(item.x / W, 1 - item.y / H, item.text, fontsize=item.px * pt, ha=item.ha, va=item.va,
                         color=np.array(item.color) / 255, fontweight="bold" if item.bold else "normal")
        fig.savefig(fp, format=fmt, dpi=dpi, metadata={"Date": None} if fmt in ("svg", "pdf") else None)


def draw_figure(selection, fp: BinaryIO, fmt: str, crop: tuple | None = None, scale: float = 1.0,
                figure_name: str = "") -> dict:
    """Draw the selection into ``fp`` in ``fmt`` (png, svg, pdf) and return its manifest."""
    if fmt not in MIME:
        raise FigureError(f"unsupported figure format {fmt!r}; use png, svg or pdf")
    layout = layout_figure(selection, crop, scale)
    if fmt == "png":
        write_png(layout, fp)
    else:
        draw_vector(layout, fp, fmt)
    log.info("figure %s: %d x %d px, %d panels", figure_name or fmt, layout.width, layout.height,
             len(layout.panels))
    return build_manifest(selection, layout, fmt, crop, scale, figure_name)


def figure_manifest(selection, fmt: str, crop: tuple | None = None, scale: float = 1.0,
                    figure_name: str = "") -> dict:
    """The manifest of the figure :func:`draw_figure` would draw, without drawing it (reads file headers only)."""
    return build_manifest(selection, layout_figure(selection, crop, scale), fmt, crop, scale, figure_name)


def figure_bytes(selection, fmt: str, crop: tuple | None = None, scale: float = 1.0,
                 figure_name: str = "") -> tuple[bytes, dict]:
    """The figure's file content and its manifest (what the app offers for download)."""
    buffer = io.BytesIO()
    manifest = draw_figure(selection, buffer, fmt, crop, scale, figure_name)
    return buffer.getvalue(), manifest


def export_figure(selection, out: str | os.PathLike, crop: tuple | None = None, scale: float = 1.0) -> ExportedFigure:
    """Write the figure to ``out`` (its suffix says the format) and ``<out>.manifest.json`` beside it.

    Both files are written to a temporary name and renamed into place, so a
    failed export leaves no half file.
    """
    out = Path(out)
    fmt = figure_format(out)
    if out.parent and not out.parent.is_dir():
        raise FigureError(f"folder {out.parent} does not exist; create it or choose another --out")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=out.suffix, dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            manifest = draw_figure(selection, fh, fmt, crop, scale, out.name)
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    target = manifest_path(out)
    from core.files import write_atomic

    write_atomic(target, (json.dumps(manifest, indent=2) + "\n").encode())
    return ExportedFigure(out, target, manifest)


def build_manifest(selection, layout: Layout, fmt: str, crop, scale: float, figure_name: str = "") -> dict:
    """Each panel's cell id, row and column, image, full config, output file and provenance, and the figure's facts."""
    panels = []
    for place in layout.panels:
        row, column = selection.rows[place["row"]], selection.columns[place["column"]]
        cell = selection.cell(row, column)
        output = selection.root / cell["sketch_path"] if cell else None
        native = image_size(output) if output else None
        panels.append({
            "row": place["row"], "column": place["column"], "row_label": row.label, "column_label": column.label,
            "column_value": column.value, "image": row.name, "image_sha256": row.key,
            "cell_id": cell["id"] if cell else None, "cell_key": cell.get("cell_key") if cell else None,
            "config": {name: cell.get(name) for name in CONFIG_COLUMNS} if cell else None,
            "output_file": str(output) if output else None, "native_size": list(native) if native else None,
            "box": place["box"], "inset_box": place["inset_box"], "inset_source": place.get("inset_source"),
            "provenance": parse_provenance(cell.get("provenance_json")) if cell else None,
        })
    return {
        "figure": figure_name, "format": fmt, "width_px": layout.width, "height_px": layout.height,
        "dpi": round(layout.dpi, 2), "store": str(selection.root), "sweep_id": selection.sweep_id,
        "column_axis": selection.axis, "fixed": dict(selection.fixed), "caption": selection.caption,
        "crop": list(crop) if crop else None, "scale": scale, "images_total": selection.images_total,
        "columns": [{"index": j, "value": c.value, "label": c.label} for j, c in enumerate(selection.columns)],
        "rows": [{"index": i, "image": r.name, "image_sha256": r.key, "test_set": r.test_set, "label": r.label}
                 for i, r in enumerate(selection.rows)],
        "panels": panels,
    }


def parse_provenance(text: str | None):
    """A cell's provenance JSON parsed (None when absent; the raw text when it is not JSON)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
