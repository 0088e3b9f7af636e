"""The Compare page's "Export figure" popover: the current view as a labelled PNG, SVG or PDF, and its manifest.

The page's view (sweep, column axes, fixed display values, the rows on the
page) is translated into a :func:`core.figures.selection.select_figure` call;
the figure is drawn only when a download button is clicked (Streamlit runs
the callable then, on its own thread: it reads files, never the database).
"""

from __future__ import annotations

import json

import streamlit as st

from core.errors import WorkbenchError
from core.figures.layout import parse_crop
from core.figures.render import MIME, figure_bytes, figure_manifest
from core.figures.selection import AXES, FigureSelection, select_figure

FORMATS = ("PNG", "SVG", "PDF")


def figure_selection(store, sweep_id: int | None, axis: str | list[str], fixed: dict[str, str] | None,
                     row_keys: list[str] | None) -> FigureSelection:
    """The figure of a Compare view: columns of ``axis`` (of a list: the first), ``fixed`` display values, rows.

    Fixed values are the page's display values (``file@sha8`` labels, ``none
    (background off)``), which :mod:`core.figures.selection` shares; a fixed
    value of the column axis, or of an axis figures do not know, is left out.
    ``row_keys`` are the image sha256s of the page's rows (none: the first
    images by name).
    """
    column = axis[0] if isinstance(axis, (list, tuple)) else axis
    held = {a: v for a, v in (fixed or {}).items() if a in AXES and a != column and v is not None}
    return select_figure(store, column, sweep_id=sweep_id, fixed=held, images=list(row_keys or []) or None)


def crop_text(crop) -> str:
    """A crop as the text field shows it (``x,y,w,h``), empty for none."""
    if not crop:
        return ""
    return crop if isinstance(crop, str) else ",".join(f"{v:g}" for v in crop)


def export_panel(store, sweep_id: int | None, axis: str | list[str], fixed: dict[str, str] | None,
                 row_keys: list[str] | None, crop=None, *, key: str = "export_figure") -> None:
    """Draw the "Export figure" popover for the Compare view given by the arguments.

    Args:
        store: the session's open store.
        sweep_id: the page's sweep (None: every cell).
        axis: the column axis, or the page's list of axes (the first is used).
        fixed: axis -> display value of the settings the page holds.
        row_keys: the image sha256s of the rows on the page.
        crop: a zoom inset ``(x, y, w, h)`` in fractions (or its ``"x,y,w,h"`` text) to start from; None: none.
        key: prefix of the widgets' keys (two panels on one page need two).
    """
    popover = st.popover("Export figure", icon=":material/download:", key=f"{key}_open", on_change="rerun")
    with popover:
        if not popover.open:  # nothing is read from the store until the popover is opened
            return
        fmt = st.radio("Format", FORMATS, horizontal=True, key=f"{key}_format").lower()
        scale = st.number_input("Scale", min_value=0.1, max_value=8.0, value=1.0, step=0.25, key=f"{key}_scale",
                                help="panel size relative to the stored pixels (1 = one stored pixel per pixel)")
        inset = st.text_input("Zoom inset x,y,w,h (fractions 0-1, empty for none)", value=crop_text(crop),
                              key=f"{key}_crop")
        try:
            selection = figure_selection(store, sweep_id, axis, fixed, row_keys)
            rect = parse_crop(inset.strip() or None)
        except WorkbenchError as exc:
            st.warning(str(exc))
            return
        st.caption(f"{len(selection.rows)} rows × {len(selection.columns)} columns "
                   f"({', '.join(c.label for c in selection.columns)}). {selection.caption}")
        name = f"figure-{selection.axis}.{fmt}"
        st.download_button(f"Download {fmt.upper()}", lambda: figure_bytes(selection, fmt, rect, scale, name)[0],
                           file_name=name, mime=MIME[fmt], key=f"{key}_figure", on_click="ignore",
                           icon=":material/image:")
        st.download_button("Download manifest (JSON)",
                           lambda: json.dumps(figure_manifest(selection, fmt, rect, scale, name), indent=2),
                           file_name=name.rsplit(".", 1)[0] + ".manifest.json", mime="application/json",
                           key=f"{key}_manifest", on_click="ignore", icon=":material/data_object:")
