"""``export``: a labelled grid of stored cells as a paper-ready PNG, SVG or PDF, with its manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli.arguments import add_db_flag


def add_export_parser(sub) -> None:
    """Add ``export``: columns of one setting, the others fixed, a row per image, drawn to a figure file."""
    p = sub.add_parser(
        "export",
        help="draw a labelled grid of stored cells (columns of one setting) as PNG, SVG or PDF",
        description="Draw stored sketches as a labelled grid: a column per value of --columns, a row per image, "
        "every other setting fixed (to --fix values, else to its first value). Panels keep their stored pixels "
        "(scaled by --scale); labels are text in SVG/PDF. Beside the figure, FIG.manifest.json maps each panel "
        "to its cell id, config and provenance.",
    )
    add_db_flag(p)
    p.add_argument("--sweep", type=int, metavar="ID", help="only this sweep's cells (default: every cell)")
    p.add_argument("--columns", required=True, metavar="AXIS",
                   help="the setting that makes the columns: sketch_checkpoint (or method), mask_checkpoint, "
                   "resolution, mask_mode, softctr, gamma, merge, background, precision, vectorize, profile, "
                   "baseline_params")
    p.add_argument("--fix", action="append", default=[], metavar="AXIS=VALUE",
                   help="hold a setting at a value, e.g. resolution=848 or mask_checkpoint=MaskNet_v2_stage1.pth "
                   "(repeatable; settings not given are fixed to their first value)")
    rows = p.add_mutually_exclusive_group()
    rows.add_argument("--rows", metavar="N", help="the first N images by name (default 12)")
    rows.add_argument("--images", nargs="+", metavar="NAME", help="these images (names, stems or sha256 prefixes)")
    p.add_argument("--crop", metavar="x,y,w,h",
                   help="a zoom inset beside every panel: the same rectangle, as fractions 0-1 of each image, "
                   "outlined on the full image")
    p.add_argument("--scale", default="1", metavar="S", help="panel size relative to the stored pixels (default 1)")
    p.add_argument("--out", required=True, type=Path, metavar="FIG", help="the figure: FIG.png, FIG.svg or FIG.pdf")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON instead of a summary line")
    p.set_defaults(handler=cmd_export)


def parse_fixes(items: list[str]) -> dict[str, str]:
    """``["resolution=848", ...]`` as ``{"resolution": "848"}``.

    Raises:
        FigureError: an item without ``=``.
    """
    from core.errors import FigureError

    fixed = {}
    for item in items:
        axis, sep, value = item.partition("=")
        if not sep or not axis.strip() or not value.strip():
            raise FigureError(f"--fix takes AXIS=VALUE (e.g. resolution=848), got {item!r}")
        fixed[axis.strip()] = value.strip()
    return fixed


def parse_number(text: str, flag: str, whole: bool = False) -> float:
    """A number above 0 given to ``flag``.

    Raises:
        FigureError: not a number, or not above 0.
    """
    from core.errors import FigureError

    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise FigureError(f"{flag} takes a {'whole ' if whole else ''}number above 0, got {text!r}") from None
    if not value > 0:
        raise FigureError(f"{flag} takes a number above 0, got {text!r}")
    return value


def cmd_export(args) -> int:
    """Select the cells, draw the figure and its manifest, print where they went."""
    from core.figures.layout import parse_crop
    from core.figures.render import export_figure, figure_format
    from core.figures.selection import select_figure
    from core.settings import db_path
    from core.store.store import Store

    figure_format(args.out)  # a wrong suffix is said before any work
    crop = parse_crop(args.crop)
    scale = parse_number(args.scale, "--scale")
    rows = int(parse_number(args.rows, "--rows", whole=True)) if args.rows is not None else None
    fixed = parse_fixes(args.fix)
    store = Store(db_path(args.db), readonly=True)
    try:
        selection = select_figure(store, args.columns, sweep_id=args.sweep, fixed=fixed, rows=rows,
                                  images=args.images)
        exported = export_figure(selection, args.out, crop=crop, scale=scale)
    finally:
        store.close()
    manifest = exported.manifest
    if args.json:
        print(json.dumps(manifest))
        return 0
    shown = len(selection.rows)
    more = f" of {selection.images_total}" if selection.images_total > shown and not args.images else ""
    print(f"wrote {exported.figure} ({manifest['width_px']} x {manifest['height_px']} px, {shown}{more} images x "
          f"{len(selection.columns)} columns of {selection.axis}) and {exported.manifest_file}")
    if more:
        print(f"note: {selection.images_total - shown} more images not shown; --rows N or --images NAME...",
              file=sys.stderr)
    return 0
