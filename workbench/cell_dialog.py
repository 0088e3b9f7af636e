"""The cell dialog of the Compare page: one cell's images large, its strokes, error, metrics and tags.

Input, mask, cropped input and full-resolution sketch side by side (the
stored sketch is at the input's size, as the original saved it); on request,
the Sketch Net's own output at its side (e.g. 424x424), shown one pixel per
pixel; the SVG strokes and drawing-order GIF when the cell was vectorised;
its provenance (code, environment, checkpoints, config, time) and a button
that re-runs it with today's code and says whether it still matches.

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
RERUN_KEY = "cell_rerun_{}"  # the last re-run's report of a cell, kept across reruns of the page
UNKNOWN = "unknown (computed before provenance was recorded)"
# Provenance fields shown, in order: (label, key in the provenance JSON).
PROVENANCE_FIELDS = (("Workbench", "workbench_version"), ("Pipeline", "pipeline_version"), ("Git commit", "git_commit"),
                     ("Uncommitted changes", "git_dirty"), ("Python", "python"), ("torch", "torch"), ("CUDA", "cuda"),
                     ("cuDNN", "cudnn"), ("Device", "device"), ("Device name", "device_name"),
                     ("Precision", "precision"), ("Computed at", "computed_at"))
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
    provenance_view(cell)
    if cell["status"] == "done":
        rerun_view(store, cell)
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


def provenance_rows(cell: dict) -> list[dict]:
    """The cell's provenance as ``{"field", "value"}`` rows (text), unknown values said so.

    A cell computed before provenance was recorded has every value unknown;
    in a recorded one, None means the value does not exist there (no CUDA,
    not run from a git checkout).
    """
    recorded = json.loads(cell["provenance_json"]) if cell.get("provenance_json") else None
    rows = []
    for label, key in PROVENANCE_FIELDS:
        value = None if recorded is None else recorded.get(key)
        if recorded is None:
            text = UNKNOWN
        elif value is None:
            text = "none" if key in ("cuda", "cudnn") else "unknown"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        rows.append({"field": label, "value": text})
    checkpoints = (recorded or {}).get("checkpoints") or {}
    for role in ("sketch", "mask"):
        sha = checkpoints.get(role) if recorded else cell.get(f"{role}_sha256")
        if sha:
            rows.append({"field": f"{role.capitalize()} checkpoint sha256", "value": sha})
    return rows


def provenance_view(cell: dict) -> None:
    """A compact table of where the cell came from, with its full canonical config."""
    with st.expander("Provenance" if cell.get("provenance_json") else f"Provenance: {UNKNOWN}"):
        st.dataframe(provenance_rows(cell), hide_index=True, width="stretch")
        recorded = json.loads(cell["provenance_json"]) if cell.get("provenance_json") else None
        st.json((recorded or {}).get("config") or json.loads(cell.get("config_json") or "{}"), expanded=False)


def rerun_view(store: Store, cell: dict) -> None:
    """The "Re-run this cell" button: recompute with today's code and environment, report match and difference."""
    from core.errors import WorkbenchError
    from core.sweeps.rerun import describe_rerun, rerun_cell

    key = RERUN_KEY.format(cell["id"])
    if st.button("Re-run this cell", key=f"rerun_{cell['id']}",
                 help="Compute it again with today's code and environment; the stored result is not touched."):
        with st.spinner("Re-running the cell…"):
            try:
                st.session_state[key] = rerun_cell(store, cell["id"])
            except WorkbenchError as exc:
                st.session_state[key] = {"failed": str(exc)}
    report = st.session_state.get(key)
    if report is None:
        return
    if "failed" in report:
        st.error(f"Cannot re-run: {report['failed']}")
    elif report["match"]:
        st.success(f"Matches: largest difference {report['max_diff']} grey levels "
                   f"({report['differing_pixels']} of {report['pixels']} px differ).")
    else:
        st.error("Does not match: " + (report["error"] or f"largest difference {report['max_diff']} grey levels "
                                       f"({report['differing_pixels']} of {report['pixels']} px differ)") + ".")
    if "failed" not in report:
        st.caption(describe_rerun(report))
