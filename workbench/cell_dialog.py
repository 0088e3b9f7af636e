"""The cell dialog of the Compare page: one cell's images large, its strokes, error, metrics and tags.

Input, mask, cropped input and full-resolution sketch side by side (the
stored sketch is at the input's size, as the original saved it); on request,
the Sketch Net's own output at its side (e.g. 424x424), shown one pixel per
pixel; the SVG strokes and drawing-order GIF when the cell was vectorised.

The open cell's id is kept in the session (``cmp_open_cell``), so the dialog
stays open across full reruns (e.g. after removing a tag) until it is closed.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from core.store.store import Store
from workbench import grid as G
from workbench import media, state
from workbench.tagging import tag_editor
from workbench.views import output_path

OPEN_KEY = "cmp_open_cell"
# Title, column of the cell's path, side in px, enlarge small images with nearest-neighbour.
PANELS = (("Input", "image_path", 512, False), ("Mask", "mask_path", 256, True),
          ("Cropped input", "cropped_path", 512, False), ("Sketch", "sketch_path", 1024, False))
ABSENT = {"mask_path": "no mask (background off or a baseline)", "cropped_path": "no cropped input (a baseline)"}


def open_cell(cell_id: int | None) -> None:
    """Open the dialog on ``cell_id`` (a button callback)."""
    st.session_state[OPEN_KEY] = cell_id


def close_cell() -> None:
    """Close the dialog (when dismissed or after saving tags)."""
    st.session_state.pop(OPEN_KEY, None)


def show_open_cell() -> None:
    """Show the dialog when a cell is open in this session."""
    if st.session_state.get(OPEN_KEY) is not None:
        cell_dialog(st.session_state[OPEN_KEY])


@st.dialog("Cell", width="large", on_dismiss=close_cell)
def cell_dialog(cell_id: int) -> None:
    """The dialog's content for one cell."""
    store = state.store()
    cell = store.cell(cell_id)
    if cell is None:
        st.error("This cell is no longer in the store.")
        return
    st.markdown(f"**{cell['image_name']}** · {cell['status']}")
    st.caption(G.describe_settings(G.settings_of(cell)))
    top, bottom = st.columns(2), st.columns(2)
    for col, (title, column, side, nearest) in zip([*top, *bottom], PANELS):
        with col:
            st.markdown(f"**{title}**")
            if column == "image_path":
                path = str(state.input_path(cell["image_path"])) if cell.get("image_path") else None
            else:
                path = output_path(store, cell.get(column))
            data = media.fitted_png(path, media.mtime(path), side, nearest) if path else None
            if data:
                st.image(data, width="stretch" if title == "Sketch" else "content")
            else:
                st.caption(ABSENT.get(column, "file missing"))
    native_view(store, cell)
    if cell.get("svg_path") or cell.get("gif_path"):
        strokes(store, cell)
    if cell["error"]:
        st.error(cell["error"])
    numbers = G.key_numbers(cell)
    if numbers:
        st.caption(numbers)
    if cell.get("metrics_json"):
        with st.expander("All metrics"):
            st.json(json.loads(cell["metrics_json"]))
    tag_editor(cell, on_saved=close_cell)


def strokes(store: Store, cell: dict) -> None:
    """The vectorised strokes: the SVG (with a download) and the drawing-order animation."""
    left, right = st.columns(2)
    for col, title, column in ((left, "Strokes (SVG)", "svg_path"), (right, "Drawing order (GIF)", "gif_path")):
        with col:
            st.markdown(f"**{title}**")
            path = output_path(store, cell.get(column))
            data = media.file_bytes(path, media.mtime(path)) if path else None
            if data is None:
                st.caption("file missing")
            elif column == "svg_path":
                st.image(data.decode("utf-8"), width="stretch")
                st.download_button("Download SVG", data, file_name=f"{cell['cell_key'][:12]}.svg",
                                   mime="image/svg+xml", key=f"svg_dl_{cell['id']}")
            else:
                st.image(data, width="stretch")


@st.cache_data(max_entries=16, show_spinner="Running the Sketch Net once more…")
def native_png(cell_id: int, checkpoint: str, cropped: str, stamp: int) -> bytes:
    """The cell's Sketch Net output at its own side, as PNG (computed once per cell and input file version)."""
    from core.files import encode_png
    from core.pipeline.native import cell_native_sketch

    return encode_png(cell_native_sketch(state.store().cell(cell_id), Path(checkpoint), Path(cropped)))


def native_view(store: Store, cell: dict) -> None:
    """A button that shows the Sketch Net's own output at its side, one image pixel per screen pixel."""
    from core.errors import NativeViewError
    from core.pipeline.native import native_side

    side = native_side(cell)
    if side is None or cell["status"] != "done":
        return
    known = {c["sha256"]: c for c in store.checkpoints()}
    checkpoint = known.get(cell.get("sketch_sha256"), {}).get("path")
    cropped = output_path(store, cell.get("cropped_path"))
    key = f"native_{cell['id']}"
    if not st.toggle(f"The Sketch Net's own output ({side}x{side}, before the resize to the input's size)", key=key):
        return
    if not checkpoint or not cropped:
        st.caption("The checkpoint file or the stored network input is not known to the store.")
        return
    try:
        data = native_png(cell["id"], str(store.absolute(checkpoint)), cropped, media.mtime(cropped))
    except NativeViewError as exc:
        st.error(str(exc))
        return
    note = " (recomputed in fp32; the sweep ran in " + cell["precision"] + ")" if cell.get("precision") not in (
        None, "fp32") else ""
    st.caption(f"{side}x{side} px, shown one image pixel per screen pixel{note}.")
    st.image(data, width=side)
    st.download_button("Download PNG", data, file_name=f"{cell['cell_key'][:12]}-{side}.png", mime="image/png",
                       key=f"native_dl_{cell['id']}")
