"""Compare (the default page): outputs side by side, one row per image, one column per setting.

Pick a sweep (or all results) and a test set, a column axis (optionally a
second one nested under it); every other axis is fixed by a selector that
offers only values that exist. Look closely with one zoom region (or a 1:1
window) applied to every cell at once, an enlarge dialog per cell and a
before/after slider. Mark the preferred cell of a row, tag cells with labels
and notes, and filter rows by label or preference.

This module is the layout; the grid logic lives in :mod:`workbench.grid`,
what each cell shows in :mod:`workbench.views` (images cached by
:mod:`workbench.media`), the cell dialog in :mod:`workbench.cell_dialog` and
the tag and label editors in :mod:`workbench.tagging`.
"""

from __future__ import annotations

import hashlib
import logging

import streamlit as st

from core.ranking.preferences import comparison_key
from workbench import grid as G
from workbench import media, state
from workbench.cell_dialog import open_cell, show_open_cell
from workbench.components.before_after import before_after
from workbench.tagging import label_vocabulary
from workbench.views import ONE_TO_ONE_SIDES, VIEWS, Region, cell_image, row_disagreement, slider_images, slider_size
from workbench.widgets import pick_sweep

log = logging.getLogger(__name__)

PAGE_SIZES = (5, 10, 25, 50)
SORTS = ("by name", "by disagreement (most first)")
NO_SECOND = "(none)"
ALL = "(all)"


def render() -> None:
    """Draw the page."""
    st.title("Compare")
    store = state.store()
    state.show_flash()
    sweep_id = pick_sweep(st.sidebar, store.sweeps(), "cmp_sweep")
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
    mine = {p["row_key"]: p for p in store.preferences(comparison=comparison, author=me)}
    tags_by_cell: dict[int, list[dict]] = {}
    for tag in store.tags():
        tags_by_cell.setdefault(tag["cell_id"], []).append(tag)

    rows = _filters(grid.rows, tags_by_cell, set(mine), store.labels())
    region = _look_closely(grid, rows)
    label_vocabulary(store)
    if grid.hidden:
        st.caption(f"{grid.hidden} cells share a slot with another cell and are hidden; fix more axes to see them.")
    page_rows = _pagination(_sorted_rows(rows))
    _draw_grid(grid, page_rows, region, comparison, mine, tags_by_cell, me)
    show_open_cell()


# --------------------------------------------------------------------------- choosing what to compare


def _apply_preset(axis: str, values: list[str]) -> None:
    """Show ``values`` of ``axis`` as the columns (a preset button's callback)."""
    st.session_state["cmp_axis"] = axis
    st.session_state["cmp_axis2"] = NO_SECOND
    st.session_state["cmp_columns"] = list(values)
    st.session_state["_cmp_columns_for"] = (axis,)


def _presets(found: list[G.Preset]) -> None:
    """One button per preset the data supports."""
    if not found:
        return
    cols = st.columns(len(found) + 1)
    cols[0].markdown("**Presets**")
    for col, preset in zip(cols[1:], found):
        col.button(preset.name, key=f"preset_{preset.axis}", on_click=_apply_preset, args=(preset.axis, preset.values),
                   help=f"Columns: {', '.join(preset.values)}", width="stretch")


def _axes(cells: list[dict]) -> tuple[list[str], dict[str, str]]:
    """The column axes (one, or two nested) and a value for every other varying axis, chosen in the sidebar."""
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
    """The columns to show (all of them again whenever the column axes change)."""
    chosen = st.session_state.get("cmp_columns")
    if st.session_state.get("_cmp_columns_for") != tuple(axes) or chosen is None:
        chosen = options
    chosen = [v for v in chosen if v in options] or options
    st.session_state["cmp_columns"] = chosen
    st.session_state["_cmp_columns_for"] = tuple(axes)
    return st.sidebar.multiselect("Show columns", options, key="cmp_columns")


def _filters(rows: list[G.Row], tags_by_cell: dict, marked: set[str], vocabulary: list[str]) -> list[G.Row]:
    """The rows left by the sidebar's label and preference filters."""
    used = sorted({t["label"] for tags in tags_by_cell.values() for t in tags if t["label"]})
    labels = st.sidebar.multiselect("Rows with label", sorted(set(vocabulary) | set(used)), key="cmp_filter_labels")
    preference = st.sidebar.radio("Preference", ["all", "marked", "unmarked"], horizontal=True,
                                  key="cmp_filter_pref",
                                  format_func={"all": "all rows", "marked": "marked", "unmarked": "not marked"}.get)
    return G.filter_rows(rows, tags_by_cell, labels, marked, preference)


def _sorted_rows(rows: list[G.Row]) -> list[G.Row]:
    """The rows in the order chosen in the sidebar: by name, or the most disagreeing first."""
    order = st.sidebar.radio("Sort rows", SORTS, key="cmp_sort",
                             help="Disagreement: mean pixel difference between the row's outputs (thumbnails).")
    if order == SORTS[0]:
        return rows
    store = state.store()
    return sorted(rows, key=lambda row: row_disagreement(store, row), reverse=True)


def _pagination(rows: list[G.Row]) -> list[G.Row]:
    """The rows of the page chosen above the grid."""
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


def _look_closely(grid: G.Grid, rows: list[G.Row]) -> Region:
    """The view and zoom region chosen for every cell, and the before/after slider under it."""
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
        region = Region(view, cx / 100, cy / 100, scale, side)
    with st.expander("Before / after: a slider between two cells"):
        _before_after(grid, rows, region)
    return region


def _before_after(grid: G.Grid, rows: list[G.Row], region: Region) -> None:
    """Pick an image and two columns; show their outputs in the before/after slider."""
    if len(grid.columns) < 2 or not rows:
        st.caption("Needs two columns and at least one image.")
        return
    names = {r.key: r.name for r in rows}
    if st.session_state.get("cmp_ba_row") not in names:
        st.session_state["cmp_ba_row"] = rows[0].key
    letters = {c.letter: c for c in grid.columns}
    a, b, c = st.columns(3)
    row_key = a.selectbox("Image", list(names), format_func=names.get, key="cmp_ba_row")

    def fmt(letter: str) -> str:
        return f"{letter} · {letters[letter].label}"

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
    images = slider_images(state.store(), cells, region)
    if not all(images):
        st.caption("An output file is missing.")
        return
    height, width = slider_size(images[0], region)
    before_after(images[0], images[1], f"{first} · {letters[first].label}", f"{second} · {letters[second].label}",
                 height=height, max_width=width, pixelated=region.pixelated)


# --------------------------------------------------------------------------- the grid


def _draw_grid(grid: G.Grid, rows: list[G.Row], region: Region, comparison: str, mine: dict,
               tags_by_cell: dict, me: str) -> None:
    """The grid: a header row of column settings, then one row per image of this page."""
    widths = [1.2] + [2] * len(grid.columns)
    with st.container(key="cmp_grid"):
        if region.pixelated:
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
    """A row's input photo and name, and its *Preferred* buttons when two cells or more are done."""
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
    """Record (or clear) the preferred cell of a row: the callback of its *Preferred* buttons."""
    store = state.store()
    letter = st.session_state.get(key)
    if letter is None:
        store.unprefer(comparison, row_key, me)
        log.info("%s cleared the preferred cell of row %s", me, row_key[:12])
        return
    cell_id, label = choices[letter]
    store.prefer(comparison, axis, row_key, cell_id, label, [lbl for _, lbl in choices.values()], me)
    log.info("%s preferred %s (cell %s) in row %s", me, label, cell_id, row_key[:12])


def _draw_cell(cell: dict | None, region: Region, tags_by_cell: dict, preferred: int | None) -> None:
    """One cell: its image in the chosen view (or its status / error), key numbers, tags and Enlarge."""
    if cell is None:
        st.caption("— not computed for this combination")
        return
    if cell["status"] == "failed":
        st.error(f"Failed: {cell['error'] or 'no error recorded'}")
    elif cell["status"] != "done":
        st.info(f"{cell['status']}…")
    else:
        data = cell_image(state.store(), cell, region)
        if data:
            st.image(data, width="stretch" if region.view == "Zoom" else "content")
        elif region.view == "Vector frames" and not cell.get("vector_path"):
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
              on_click=open_cell, args=(cell["id"],))


if __name__ == "__main__":
    render()
