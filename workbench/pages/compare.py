"""Compare (the default page): outputs side by side, one row per image, one column per setting.

Pick a sweep (or all results) and a test set, a column axis (optionally a
second one nested under it); every other axis is fixed by a selector that
offers only values that exist. Look closely with one zoom region (or a 1:1
window) applied to every cell at once, an enlarge dialog per cell and a
before/after slider. Mark the preferred cell of a row, tag cells with labels
and notes, and filter rows by label or preference. The grid logic lives in
:mod:`workbench.grid`; images come cached from :mod:`workbench.media`.
"""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from core.ranking.preferences import comparison_key
from core.sketch.metrics import disagreement
from workbench import grid as G
from workbench import media, state
from workbench.components import before_after

PAGE_SIZES = (5, 10, 25, 50)
VIEWS = ("Thumbnails", "Zoom", "1:1", "Vector frames")
SORTS = ("by name", "by disagreement (most first)")
ONE_TO_ONE_SIDES = (128, 192, 256)
NO_SECOND = "(none)"
ALL = "(all)"


def render() -> None:
    """Draw the page."""
    st.title("Compare")
    store = state.store()
    state.show_flash()
    sweep_id = _pick_sweep(store.sweeps())
    cells = store.results(sweep_id)
    if not cells:
        st.info("No results yet. Start a sweep on the **Sweeps** page or with `workbench sweep ...`.")
        return
    test_sets = sorted({c["test_set"] or "" for c in cells})
    test_set = st.sidebar.selectbox("Test set", [ALL, *test_sets], key="cmp_test_set")
    if test_set != ALL:
        cells = [c for c in cells if (c["test_set"] or "") == test_set]

    _presets(G.presets(cells, store.checkpoints()))
    axes, fixed = _axes(cells)
    all_columns = [c.label for c in G.build_grid(cells, axes, fixed).columns]
    shown = _column_filter(axes, all_columns)
    grid = G.build_grid(cells, axes, fixed, shown)
    if not grid.columns:
        st.warning("No cells match these settings; pick other columns or fixed values.")
        return
    comparison = comparison_key(axes, fixed, [c.label for c in grid.columns])
    me = state.author()
    mine = {p["row_key"]: p for p in store.preferences() if p["comparison"] == comparison and p["author"] == me}
    tags_by_cell: dict[int, list[dict]] = {}
    for tag in store.tags():
        tags_by_cell.setdefault(tag["cell_id"], []).append(tag)

    rows = _filters(grid.rows, tags_by_cell, set(mine), store.labels())
    view = _look_closely(grid, rows)
    _vocabulary(store)
    if grid.hidden:
        st.caption(f"{grid.hidden} cells share a slot with another cell and are hidden; fix more axes to see them.")
    page_rows = _pagination(_sorted_rows(rows))
    _draw_grid(grid, page_rows, view, comparison, mine, tags_by_cell, me)
    if st.session_state.get("cmp_open_cell") is not None:
        _enlarge(st.session_state["cmp_open_cell"])


# --------------------------------------------------------------------------- choosing what to compare


def _pick_sweep(sweeps: list[dict]) -> int | None:
    labels = {None: "All results"}
    for s in sweeps:
        labels[s["id"]] = f"#{s['id']} {s['name'] or ''} · {s['status']} ({s['done']}/{s['cells_total']})"
    if st.session_state.get("cmp_sweep") not in labels:
        st.session_state["cmp_sweep"] = None
    return st.sidebar.selectbox("Sweep", list(labels), format_func=labels.get, key="cmp_sweep")


def _apply_preset(axis: str, values: list[str]) -> None:
    st.session_state["cmp_axis"] = axis
    st.session_state["cmp_axis2"] = NO_SECOND
    st.session_state["cmp_columns"] = list(values)
    st.session_state["_cmp_columns_for"] = (axis,)


def _presets(found: list[G.Preset]) -> None:
    if not found:
        return
    cols = st.columns(len(found) + 1)
    cols[0].markdown("**Presets**")
    for col, preset in zip(cols[1:], found):
        col.button(preset.name, key=f"preset_{preset.axis}", on_click=_apply_preset, args=(preset.axis, preset.values),
                   help=f"Columns: {', '.join(preset.values)}", width="stretch")


def _axes(cells: list[dict]) -> tuple[list[str], dict[str, str]]:
    varying = G.varying_axes(cells) or ["sketch_checkpoint"]
    if st.session_state.get("cmp_axis") not in varying:
        st.session_state["cmp_axis"] = varying[0]
    axis = st.sidebar.selectbox("Columns", varying, format_func=G.AXES.get, key="cmp_axis")
    seconds = [NO_SECOND] + [a for a in varying if a != axis]
    if st.session_state.get("cmp_axis2") not in seconds:
        st.session_state["cmp_axis2"] = NO_SECOND
    second = st.sidebar.selectbox("Nested under it", seconds, format_func=lambda a: G.AXES.get(a, a), key="cmp_axis2")
    axes = [axis] + ([second] if second != NO_SECOND else [])

    st.sidebar.markdown("**Fixed**")
    fixed_axes = [a for a in varying if a not in axes]
    wanted = {a: st.session_state.get(f"cmp_fix_{a}") for a in fixed_axes}
    fixed = {}
    for a, (options, value) in G.resolve_fixed(cells, fixed_axes, wanted).items():
        st.session_state[f"cmp_fix_{a}"] = value
        fixed[a] = st.sidebar.selectbox(G.AXES[a], options, key=f"cmp_fix_{a}")
    constant = {a: v[0] for a in G.AXES if a not in varying and len(v := G.axis_options(cells, a)) == 1}
    if constant:
        st.sidebar.caption("Same everywhere: " + G.describe_settings(constant))
    return axes, fixed


def _column_filter(axes: list[str], options: list[str]) -> list[str]:
    chosen = st.session_state.get("cmp_columns")
    if st.session_state.get("_cmp_columns_for") != tuple(axes) or chosen is None:
        chosen = options
    chosen = [v for v in chosen if v in options] or options
    st.session_state["cmp_columns"] = chosen
    st.session_state["_cmp_columns_for"] = tuple(axes)
    return st.sidebar.multiselect("Show columns", options, key="cmp_columns")


def _filters(rows: list[G.Row], tags_by_cell: dict, marked: set[str], vocabulary: list[str]) -> list[G.Row]:
    used = sorted({t["label"] for tags in tags_by_cell.values() for t in tags if t["label"]})
    labels = st.sidebar.multiselect("Rows with label", sorted(set(vocabulary) | set(used)), key="cmp_filter_labels")
    preference = st.sidebar.radio("Preference", ["all", "marked", "unmarked"], horizontal=True,
                                  key="cmp_filter_pref",
                                  format_func={"all": "all rows", "marked": "marked", "unmarked": "not marked"}.get)
    return G.filter_rows(rows, tags_by_cell, labels, marked, preference)


def _sorted_rows(rows: list[G.Row]) -> list[G.Row]:
    order = st.sidebar.radio("Sort rows", SORTS, key="cmp_sort",
                             help="Disagreement: mean pixel difference between the row's outputs (thumbnails).")
    if order == SORTS[0]:
        return rows
    store = state.store()

    def score(row: G.Row) -> float:
        images = []
        for cell in row.cells.values():
            if cell and cell.get("status") == "done" and cell.get("thumb_path"):
                path = str(store.absolute(cell["thumb_path"]))
                images.append(media.small_gray(path, media.mtime(path)))
        return disagreement(images)

    return sorted(rows, key=score, reverse=True)


def _pagination(rows: list[G.Row]) -> list[G.Row]:
    left, right, info = st.columns([1, 1, 3])
    size = left.selectbox("Rows per page", PAGE_SIZES, index=1, key="cmp_page_size")
    pages = max(1, -(-len(rows) // size))
    if not 1 <= st.session_state.get("cmp_page", 1) <= pages:
        st.session_state["cmp_page"] = 1
    page = right.number_input("Page", min_value=1, max_value=pages, step=1, key="cmp_page")
    page_rows, pages = G.paginate(rows, int(page), size)
    info.caption(f"{len(rows)} images · page {int(page)} of {pages}")
    return page_rows


# --------------------------------------------------------------------------- looking closely


def _look_closely(grid: G.Grid, rows: list[G.Row]) -> dict:
    view = st.session_state.get("cmp_view", VIEWS[0])
    with st.expander("Look closely: one zoom region (or a 1:1 window) for every cell", expanded=view != VIEWS[0]):
        a, b, c, d = st.columns([2, 2, 2, 2])
        view = a.radio("View", VIEWS, horizontal=True, key="cmp_view",
                       help="Zoom and 1:1 cut the same region from every cell's full-resolution sketch.")
        cx = b.slider("Centre x (%)", 0, 100, 50, key="cmp_zoom_x")
        cy = c.slider("Centre y (%)", 0, 100, 50, key="cmp_zoom_y")
        if view == "1:1":
            side = d.select_slider("Window (px)", ONE_TO_ONE_SIDES, value=192, key="cmp_one_side")
            scale = 1
        else:
            scale = d.select_slider("Scale", media.ZOOM_SCALES[1:], value=4, key="cmp_zoom_scale")
            side = media.ZOOM_TARGET_PX
        region = {"view": view, "cx": cx / 100, "cy": cy / 100, "scale": scale, "side": side}
    with st.expander("Before / after: a slider between two cells"):
        _before_after(grid, rows, region)
    return region


def _cell_image(cell: dict, region: dict) -> bytes | None:
    store = state.store()
    if region["view"] == "Thumbnails":
        path = str(store.absolute(cell.get("thumb_path")))
        return media.thumbnail_png(path, media.mtime(path))
    if region["view"] == "Vector frames":
        if not cell.get("vector_path"):
            return None
        path = str(store.absolute(cell["vector_path"]))
        return media.fitted_png(path, media.mtime(path), 256)
    path = str(store.absolute(cell.get("sketch_path")))
    mode = "zoom" if region["view"] == "Zoom" else "1:1"
    return media.zoom_png(path, media.mtime(path), region["cx"], region["cy"], region["scale"], mode, region["side"])


def _before_after(grid: G.Grid, rows: list[G.Row], region: dict) -> None:
    if len(grid.columns) < 2 or not rows:
        st.caption("Needs two columns and at least one image.")
        return
    names = {r.key: r.name for r in rows}
    if st.session_state.get("cmp_ba_row") not in names:
        st.session_state["cmp_ba_row"] = rows[0].key
    letters = {c.letter: c for c in grid.columns}
    a, b, c = st.columns(3)
    row_key = a.selectbox("Image", list(names), format_func=names.get, key="cmp_ba_row")
    fmt = lambda k: f"{k} · {letters[k].label}"  # noqa: E731
    if st.session_state.get("cmp_ba_a") not in letters:
        st.session_state["cmp_ba_a"] = grid.columns[0].letter
    if st.session_state.get("cmp_ba_b") not in letters:
        st.session_state["cmp_ba_b"] = grid.columns[1].letter
    first = b.selectbox("Before (left)", list(letters), format_func=fmt, key="cmp_ba_a")
    second = c.selectbox("After (right)", list(letters), format_func=fmt, key="cmp_ba_b")
    row = next(r for r in rows if r.key == row_key)
    cells = [row.cells.get(letters[first].key), row.cells.get(letters[second].key)]
    if not all(x and x["status"] == "done" for x in cells):
        st.caption("Both cells must be done to compare them.")
        return
    if region["view"] == "Thumbnails":
        # The whole sketch, at most 768 px wide (full resolution, not the thumbnail).
        store = state.store()
        paths = [str(store.absolute(x["sketch_path"])) for x in cells]
        images = [media.fitted_png(p, media.mtime(p), 768) for p in paths]
    else:
        images = [_cell_image(x, region) for x in cells]
    if not all(images):
        st.caption("An output file is missing.")
        return
    import cv2
    import numpy as np

    h, w = cv2.imdecode(np.frombuffer(images[0], np.uint8), cv2.IMREAD_UNCHANGED).shape[:2]
    width = min(768, w if region["view"] != "Zoom" else 768)
    before_after(images[0], images[1], f"{first} · {letters[first].label}", f"{second} · {letters[second].label}",
                 height=int(h * width / w), max_width=width, pixelated=region["view"] != "Thumbnails")


# --------------------------------------------------------------------------- the grid


def _draw_grid(grid: G.Grid, rows: list[G.Row], region: dict, comparison: str, mine: dict,
               tags_by_cell: dict, me: str) -> None:
    widths = [1.2] + [2] * len(grid.columns)
    with st.container(key="cmp_grid"):
        if region["view"] != "Thumbnails":
            # Enlarged crops must stay blocky: a smoothing browser would blur one-pixel lines.
            st.html("<style>.st-key-cmp_grid img { image-rendering: pixelated; }</style>")
        header = st.columns(widths)
        header[0].markdown("**Image**")
        for col, column in zip(header[1:], grid.columns):
            col.markdown(f"**{column.letter} · {column.label}**")
            col.caption(G.describe_settings(column.settings))
        tag = hashlib.sha1(comparison.encode()).hexdigest()[:10]
        for row in rows:
            cols = st.columns(widths)
            with cols[0]:
                _row_header(grid, row, comparison, mine.get(row.key), tag, me)
            preferred = mine.get(row.key, {}).get("cell_id")
            for col, column in zip(cols[1:], grid.columns):
                with col:
                    _draw_cell(row.cells.get(column.key), region, tags_by_cell, preferred)


def _row_header(grid: G.Grid, row: G.Row, comparison: str, pref: dict | None, tag: str, me: str) -> None:
    if row.image_path:
        path = str(state.input_path(row.image_path))
        data = media.source_png(path, media.mtime(path))
        if data:
            st.image(data, width="content")
    st.markdown(f"**{row.name}**")
    st.caption(row.test_set)
    done = {c.letter: row.cells[c.key] for c in grid.columns if row.cells.get(c.key) and
            row.cells[c.key]["status"] == "done"}
    if len(done) < 2:
        return
    key = f"pref_{tag}_{row.key[:16]}"
    current = next((letter for letter, cell in done.items() if pref and cell["id"] == pref["cell_id"]), None)
    if key not in st.session_state:
        st.session_state[key] = current
    st.segmented_control("Preferred", list(done), key=key, on_change=_on_prefer,
                         args=(key, comparison, grid.axis_name, row.key,
                               {letter: (cell["id"], grid.column(G.column_key(cell, grid.axes)).label)
                                for letter, cell in done.items()}, me))


def _on_prefer(key: str, comparison: str, axis: str, row_key: str, choices: dict, me: str) -> None:
    store = state.store()
    letter = st.session_state.get(key)
    if letter is None:
        store.unprefer(comparison, row_key, me)
        return
    cell_id, label = choices[letter]
    store.prefer(comparison, axis, row_key, cell_id, label, [lbl for _, lbl in choices.values()], me)


def _draw_cell(cell: dict | None, region: dict, tags_by_cell: dict, preferred: int | None) -> None:
    if cell is None:
        st.caption("— not computed for this combination")
        return
    if cell["status"] == "failed":
        st.error(f"Failed: {cell['error'] or 'no error recorded'}")
    elif cell["status"] != "done":
        st.info(f"{cell['status']}…")
    else:
        data = _cell_image(cell, region)
        if data:
            st.image(data, width="stretch" if region["view"] == "Zoom" else "content")
        elif region["view"] == "Vector frames" and not cell.get("vector_path"):
            st.caption("not vectorised (run the sweep with vectorise on)")
        else:
            st.warning("Output file missing.")
        star = "★ preferred · " if preferred == cell["id"] else ""
        st.caption(star + G.key_numbers(cell))
    tags = tags_by_cell.get(cell["id"], [])
    if tags:
        labels = sorted({t["label"] for t in tags if t["label"]})
        notes = [t["note"] for t in tags if t["note"]]
        st.caption(" ".join(f"`{lbl}`" for lbl in labels) + ("  📝 " + " / ".join(notes) if notes else ""))
    st.button("Enlarge", key=f"open_{cell['id']}", icon=":material/zoom_in:", type="tertiary",
              on_click=_open, args=(cell["id"],))


# --------------------------------------------------------------------------- dialog and vocabulary


def _open(cell_id: int | None) -> None:
    # Kept in the session so the dialog stays open across full reruns until it is closed.
    st.session_state["cmp_open_cell"] = cell_id


def _close() -> None:
    st.session_state.pop("cmp_open_cell", None)


@st.dialog("Cell", width="large", on_dismiss=_close)
def _enlarge(cell_id: int) -> None:
    store = state.store()
    found = store.query("SELECT * FROM cells WHERE id = ?", (cell_id,))
    if not found:
        st.error("This cell is no longer in the store.")
        return
    cell = found[0]
    st.markdown(f"**{cell['image_name']}** · {cell['status']}")
    st.caption(G.describe_settings(G.settings_of(cell)))
    top = st.columns(2)
    bottom = st.columns(2)
    for col, title, column, side, nearest in (
        (top[0], "Input", "image_path", 512, False),
        (top[1], "Mask", "mask_path", 256, True),
        (bottom[0], "Cropped input", "cropped_path", 512, False),
        (bottom[1], "Sketch", "sketch_path", 1024, False),
    ):
        with col:
            st.markdown(f"**{title}**")
            if column == "image_path":
                path = str(state.input_path(cell["image_path"])) if cell.get("image_path") else None
            else:
                path = str(store.absolute(cell.get(column))) if cell.get(column) else None
            data = media.fitted_png(path, media.mtime(path), side, nearest) if path else None
            if data:
                st.image(data, width="stretch" if title == "Sketch" else "content")
            else:
                st.caption({"mask_path": "no mask (background off or a baseline)",
                            "cropped_path": "no cropped input (a baseline)"}.get(column, "file missing"))
    if cell.get("svg_path") or cell.get("gif_path"):
        _strokes(store, cell)
    if cell["error"]:
        st.error(cell["error"])
    numbers = G.key_numbers(cell)
    if numbers:
        st.caption(numbers)
    if cell.get("metrics_json"):
        with st.expander("All metrics"):
            st.json(json.loads(cell["metrics_json"]))
    _tag_editor(cell)


def _strokes(store, cell: dict) -> None:
    """The vectorised strokes: the SVG and the drawing-order animation."""
    left, right = st.columns(2)
    for col, title, column in ((left, "Strokes (SVG)", "svg_path"), (right, "Drawing order (GIF)", "gif_path")):
        with col:
            st.markdown(f"**{title}**")
            path = str(store.absolute(cell.get(column))) if cell.get(column) else None
            data = media.file_bytes(path, media.mtime(path)) if path else None
            if data is None:
                st.caption("file missing")
            elif column == "svg_path":
                st.image(data.decode("utf-8"), width="stretch")
                st.download_button("Download SVG", data, file_name=f"{cell['cell_key'][:12]}.svg",
                                   mime="image/svg+xml", key=f"svg_dl_{cell['id']}")
            else:
                st.image(data, width="stretch")


def _tag_editor(cell: dict) -> None:
    store = state.store()
    tags = store.tags([cell["id"]])
    for t in tags:
        left, right = st.columns([5, 1])
        what = " · ".join(x for x in (t["label"] and f"`{t['label']}`", t["note"]) if x)
        left.caption(f"{what} — {t['author']}, {t['created_at'][:16].replace('T', ' ')}")
        if right.button("Remove", key=f"untag_{t['id']}", type="tertiary"):
            store.untag(t["id"])
            st.rerun()  # the dialog stays open (its cell is kept in the session) and shows the change
    labels = st.multiselect("Labels", store.labels(), key=f"dlg_labels_{cell['id']}")
    note = st.text_input("Note", key=f"dlg_note_{cell['id']}")
    if st.button("Save tags", key=f"dlg_save_{cell['id']}", type="primary"):
        me = state.author()
        note = note.strip() or None
        if not labels and not note:
            st.warning("Pick a label or write a note first.")
            return
        for i, label in enumerate(labels or [None]):
            store.tag(cell["id"], label, note if i == 0 else None, me)
        state.flash(f"Tagged {cell['image_name']}: {', '.join(labels) or note}")
        _close()
        st.rerun()


def _add_label() -> None:
    text = (st.session_state.get("vocab_new") or "").strip()
    if text:
        state.store().add_label(text)
        st.session_state["vocab_new"] = ""


def _remove_label() -> None:
    label = st.session_state.get("vocab_remove_choice")
    if label:
        state.store().remove_label(label)


def _vocabulary(store) -> None:
    with st.sidebar.expander("Label vocabulary"):
        st.caption(", ".join(store.labels()) or "no labels yet")
        st.text_input("New label", key="vocab_new")
        st.button("Add label", key="vocab_add", on_click=_add_label)
        st.selectbox("Label to remove", store.labels(), index=None, key="vocab_remove_choice")
        st.button("Remove label", key="vocab_remove", on_click=_remove_label)


if __name__ == "__main__":
    render()
