"""Compare (the default page): outputs side by side, one row per image, one column per setting.

Pick a sweep (or all results) and a test set, a column axis (optionally a
second one nested under it); every other axis is fixed by a selector that
offers only values that exist. The page's rows are shown by the grid viewer
(:mod:`workbench.viewer`): every cell pans and zooms together, two cells of a
row compare side by side, by slider, flicker, difference or overlay, and the
keyboard marks the preferred cell, adds labels and notes and undoes them,
written to the store at once. Filter rows by label or preference; open a
cell's details from the picker under the grid.

This module is the layout; the grid logic lives in :mod:`workbench.grid`,
the viewer's payload and events in :mod:`workbench.viewer`, the cell dialog
in :mod:`workbench.cell_dialog` and the tag and label editors in
:mod:`workbench.tagging`.
"""

from __future__ import annotations

import logging

import streamlit as st

from core.ranking.preferences import comparison_key
from workbench import grid as G
from workbench import state
from workbench.cell_dialog import open_cell, show_open_cell
from workbench.tagging import label_vocabulary
from workbench.viewer import viewer, viewer_data
from workbench.views import grid_of_images, grid_page, kept_configs, row_disagreement
from workbench.widgets import pick_sweep

log = logging.getLogger(__name__)

PAGE_SIZES = (5, 10, 25, 50)
SORTS = ("by name", "by disagreement (most first)")
NO_SECOND = "(none)"
ALL = "(all)"


def render() -> None:
    """Draw the page.

    Only the page's images and their cells are read: the sidebar's choices
    come from the distinct settings of the sweep's cells (cached until the
    cells change) and the rows from one ``LIMIT``/``OFFSET`` page of images.
    Every cell is read only for the filters and sort that need all of them
    (rows without a mark, the most disagreeing first).
    """
    st.title("Compare")
    store = state.store()
    state.show_flash()
    sweeps, stamp = state.sweeps_and_stamp(store)
    sweep_id = pick_sweep(st.sidebar, sweeps, "cmp_sweep")
    path = str(store.path)
    sets = state.test_sets(store, path, sweep_id, stamp)
    if not sets:
        st.info("No results yet. Start a sweep on the **Sweeps** page or with `workbench sweep ...`.")
        return
    test_set = st.sidebar.selectbox("Test set", [ALL, *sets], key="cmp_test_set")
    test_set = None if test_set == ALL else test_set
    configs = state.cell_configs(store, path, sweep_id, test_set, stamp)

    _presets(G.presets(configs, store.checkpoints()))
    axes, fixed = _axes(configs)
    all_columns = [c.label for c in G.grid_columns(configs, axes, fixed)]
    shown = _column_filter(axes, all_columns)
    columns = G.grid_columns(configs, axes, fixed, shown)
    if not columns:
        st.warning("No cells match these settings; pick other columns or fixed values.")
        return
    comparison = comparison_key(axes, fixed, [c.label for c in columns])
    mine = {p["row_key"]: p for p in store.preferences(comparison=comparison, author=state.author())}
    tags_by_cell: dict[int, list[dict]] = {}
    for tag in store.tags():
        tags_by_cell.setdefault(tag["cell_id"], []).append(tag)

    labels, preference = _filters(tags_by_cell, store.labels())
    label_vocabulary(store)
    kept = kept_configs(configs, axes, fixed, shown)
    hidden = state.hidden_cells(store, path, sweep_id, test_set, kept, axes, stamp)
    if hidden:
        st.caption(f"{hidden} cells share a slot with another cell and are hidden; fix more axes to see them.")
    order = st.sidebar.radio("Sort rows", SORTS, key="cmp_sort",
                             help="Disagreement: mean pixel difference between the row's outputs (thumbnails).")
    grid_args = (axes, fixed, shown)
    if not labels and preference == "all" and order == SORTS[0]:
        # The usual view: one page of images straight from the store.
        only = None if len(kept) == len(configs) else kept
        total = state.image_total(store, path, sweep_id, test_set, only, stamp)
        size, offset, page_label = _pagination(total)
        grid = grid_page(store, sweep_id, test_set, only, grid_args, columns, size, offset)
        page_rows = grid.rows
    elif labels or preference == "marked":
        # A few rows: read only the images with those labels or marks.
        images = None
        if labels:
            images = store.images_of_cells([i for i, tags in tags_by_cell.items()
                                            if any(t["label"] in labels for t in tags)])
        if preference == "marked":
            images = set(mine) if images is None else images & set(mine)
        grid = grid_of_images(store, sweep_id, test_set, images, grid_args, columns)
        rows = _sorted_rows(G.filter_rows(grid.rows, tags_by_cell, labels, set(mine), preference), order)
        size, offset, page_label = _pagination(len(rows))
        page_rows = rows[offset : offset + size]
    else:
        # Rows not marked, or the most disagreeing first: the order of every row is worked out once (every cell
        # is read) and kept until the cells change; each page then reads only its own images.
        keys = state.row_order(store, path, sweep_id, test_set, grid_args, order != SORTS[0], stamp)
        if preference == "unmarked":
            keys = [k for k in keys if k not in mine]
        size, offset, page_label = _pagination(len(keys))
        page_keys = keys[offset : offset + size]
        grid = grid_of_images(store, sweep_id, test_set, set(page_keys), grid_args, columns)
        found = {row.key: row for row in grid.rows}
        page_rows = [found[k] for k in page_keys if k in found]
    _draw_grid(grid, page_rows, mine, tags_by_cell, page_label)
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


def _filters(tags_by_cell: dict, vocabulary: list[str]) -> tuple[list[str], str]:
    """The sidebar's row filters: the labels a row must have (any of them) and ``all``/``marked``/``unmarked``."""
    used = sorted({t["label"] for tags in tags_by_cell.values() for t in tags if t["label"]})
    labels = st.sidebar.multiselect("Rows with label", sorted(set(vocabulary) | set(used)), key="cmp_filter_labels")
    preference = st.sidebar.radio("Preference", ["all", "marked", "unmarked"], horizontal=True,
                                  key="cmp_filter_pref",
                                  format_func={"all": "all rows", "marked": "marked", "unmarked": "not marked"}.get)
    return labels, preference


def _sorted_rows(rows: list[G.Row], order: str) -> list[G.Row]:
    """The rows in ``order``: by name, or the most disagreeing first."""
    if order == SORTS[0]:
        return rows
    store = state.store()
    return sorted(rows, key=lambda row: row_disagreement(store, row), reverse=True)


def _pagination(total: int) -> tuple[int, int, str]:
    """The page chosen above the grid, of ``total`` rows: ``(size, offset, label)``."""
    left, right, info = st.columns([1, 1, 3])
    size = left.selectbox("Rows per page", PAGE_SIZES, index=1, key="cmp_page_size")
    pages = max(1, -(-total // size))
    if not 1 <= st.session_state.get("cmp_page", 1) <= pages:
        st.session_state["cmp_page"] = 1
    page = min(max(1, int(right.number_input("Page", min_value=1, max_value=pages, step=1, key="cmp_page"))), pages)
    offset = (page - 1) * size
    shown = max(0, min(size, total - offset))
    label = f"rows {offset + 1}-{offset + shown} of {total}" if shown else "no rows"
    info.caption(f"{total} images · page {page} of {pages}")
    return size, offset, label


# --------------------------------------------------------------------------- the grid


def _draw_grid(grid: G.Grid, rows: list[G.Row], mine: dict, tags_by_cell: dict, page_label: str) -> None:
    """The grid viewer for this page's rows, and a picker that opens a cell's details."""
    data = viewer_data(state.store(), grid, rows, {k: p["cell_id"] for k, p in mine.items()}, tags_by_cell,
                       page_label=page_label)
    with st.container(key="cmp_grid"):
        viewer(data, key="cmp_viewer", grid=grid)
    _cell_picker(grid, rows)


def _cell_picker(grid: G.Grid, rows: list[G.Row]) -> None:
    """Open the detail dialog (full settings, input, mask, tags) of one cell of the page."""
    names = {cell["id"]: f"{row.name} · {column.letter} · {column.label}"
             for row in rows for column in grid.columns if (cell := row.cells.get(column.key))}
    if not names:
        return
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Details of a cell", list(names), format_func=names.get, key="cmp_open_choice")
    right.button("Open", key="cmp_open", icon=":material/zoom_in:", on_click=open_cell, args=(chosen,))


if __name__ == "__main__":
    render()
