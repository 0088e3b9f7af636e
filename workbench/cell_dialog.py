"""The cell dialog of the Compare page: one cell's images large, its strokes, error, metrics and tags.

Input, mask, cropped input and full-resolution sketch side by side; the SVG
strokes and drawing-order GIF when the cell was vectorised.

The open cell's id is kept in the session (``cmp_open_cell``), so the dialog
stays open across full reruns (e.g. after removing a tag) until it is closed.
"""

from __future__ import annotations

import json

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
