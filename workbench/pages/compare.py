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
from dataclasses import dataclass

import streamlit as st

from core.ranking.preferences import comparison_key
from core.sketch.metric_names import METRIC_NAMES
from workbench import grid as G
from workbench import state
from workbench.cell_dialog import open_cell, show_open_cell
from workbench.export_panel import export_panel
from workbench.presets import Preset, presets
from workbench.tagging import label_vocabulary
from workbench.viewer import first_view_signal, viewer, viewer_data
from workbench.views import grid_of_images, grid_page, kept_configs, marked_first
from workbench.widgets import fixed_selectors, pick_sweep, settle_fixed, settle_sweep

log = logging.getLogger(__name__)

PAGE_SIZES = (5, 10, 25, 50)
DEFAULT_PAGE_SIZE = 10
PREFERENCES = {"all": "all rows", "marked": "marked", "unmarked": "not marked"}
SORTS = {
    "name": "by name",
    "disagreement": "by disagreement (most first)",
    "metric": "by a metric's difference A - B (largest first)",
    "label": "labelled rows first",
    "preference": "marked rows first (by preferred column)",
}
NO_SECOND = "(none)"
ALL = "(all)"
PAGER_HEIGHT = 68  # px: a row of labelled inputs in Streamlit's default theme
ROW_HEIGHT = 40  # px: a row of buttons
LIVE_SECONDS = 3  # how often the grid looks for new cells while a sweep runs


@dataclass(frozen=True)
class Choice:
    """What the sidebar chose: the cells, the comparison, the row filters and order (the grid's arguments)."""

    sweep_id: int | None
    test_set: str | None
    axes: list[str]
    fixed: dict[str, str]
    shown: list[str]
    configs: int  # how many settings combinations the sidebar's options came from
    labels: list[str]
    preference: str
    order: str
    metric: str | None
    row: str | None = None  # one image's sha256 (``?row=`` in the URL: a link from a note)
    deferred: bool = False  # the session's first view: the grid alone, its controls on the next run


def render() -> None:
    """Draw the page.

    Only the page's images and their cells are read: the sidebar's choices
    come from the distinct settings of the sweep's cells (cached until the
    cells change) and the rows from one ``LIMIT``/``OFFSET`` page of images.
    Every cell is read only for the filters and sorts that need all of them,
    once per state of the cells. While a sweep runs, the grid is a fragment
    that reruns every few seconds and picks up new cells, keeping the view.

    The grid is sent to the browser first and the controls after it (their
    places on the page are kept by containers): the browser draws elements in
    the order they arrive, and every control drawn first would hold the images
    back. So each control's value is settled from the session before anything
    is drawn, and the widget drawn later shows that same value. A session's
    first view goes further (:func:`workbench.state.defer_controls`): the grid
    alone, and the controls on the run the viewer starts once its first
    images are drawn.
    """
    st.title("Compare")
    store = state.store()
    state.show_flash()
    sweeps, stamp = state.sweeps_and_stamp(store)
    sweep_id = settle_sweep(sweeps, "cmp_sweep")
    path = str(store.path)
    sets = state.test_sets(store, path, sweep_id, stamp)
    if not sets:
        pick_sweep(st.sidebar, sweeps, "cmp_sweep")
        st.info("No results yet. Start a sweep on the **Sweeps** page or with `workbench sweep ...`.")
        return
    test_set = _settle("cmp_test_set", [ALL, *sets])
    test_set = None if test_set == ALL else test_set
    configs = state.cell_configs(store, path, sweep_id, test_set, stamp)
    found = presets(configs, store.checkpoints())
    axes, fixed, varying = _settle_axes(configs)
    all_columns = [c.label for c in G.grid_columns(configs, axes, fixed)]
    shown = _settle_columns(axes, all_columns)
    label_options = _label_options(store)
    labels = [v for v in st.session_state.get("cmp_filter_labels") or [] if v in label_options]
    st.session_state["cmp_filter_labels"] = labels
    preference = _settle("cmp_filter_pref", list(PREFERENCES))
    order = _settle("cmp_sort", list(SORTS))
    metric = _settle("cmp_sort_metric", list(METRIC_NAMES)) if order == "metric" else None
    has_grid = bool(G.grid_columns(configs, axes, fixed, shown))
    deferred = has_grid and state.defer_controls()
    # The presets' place, above the grid; they are drawn after it. On a first view an empty box keeps their row's
    # height (a box inside, not a height on the container: the next run replaces it in place, the grid stays put).
    top = st.container(key="cmp_presets")
    if deferred and found:
        top.container(height=ROW_HEIGHT, border=False)
    if has_grid:
        choice = Choice(sweep_id, test_set, axes, fixed, shown, len(configs), labels, preference, order, metric,
                        st.query_params.get("row"), deferred)
        live = any(s.get("status") == "running" for s in sweeps)
        st.fragment(_grid_section, run_every=LIVE_SECONDS if live else None)(choice, live)
    else:
        st.warning("No cells match these settings; pick other columns or fixed values.")
    if deferred:
        # The viewer sits in a fragment, whose events rerun only the fragment; its report that the first view is
        # drawn reaches the app through this element outside it, so that the whole page reruns with its controls.
        first_view_signal(key="cmp_first_view", on_drawn=state.first_view_drawn)
        return
    with top:
        _presets(found)
    _sidebar(sweeps, sets, configs, axes, varying, all_columns, label_options, store, order)
    show_open_cell()


def _settle(key: str, options: list):
    """The value a widget keyed ``key`` over ``options`` will show: the session's when still an option, else the first.

    Kept in the session, so the widget drawn later (without a default of its own) shows it.
    """
    value = st.session_state.get(key)
    if value not in options:
        value = options[0]
    st.session_state[key] = value
    return value


def _sidebar(sweeps: list[dict], sets: list[str], configs: list[dict], axes: list[str], varying: list[str],
             all_columns: list[str], label_options: list[str], store, order: str) -> None:
    """The sidebar's controls, showing the values :func:`render` settled (drawn after the grid)."""
    pick_sweep(st.sidebar, sweeps, "cmp_sweep")
    st.sidebar.selectbox("Test set", [ALL, *sets], key="cmp_test_set")
    st.sidebar.selectbox("Columns", varying, format_func=G.AXES.get, key="cmp_axis")
    st.sidebar.selectbox("Nested under it", [NO_SECOND] + [a for a in varying if a != axes[0]],
                         format_func=lambda a: G.AXES.get(a, a), key="cmp_axis2")
    st.sidebar.markdown("**Fixed**")
    fixed_selectors(configs, [a for a in varying if a not in axes], "cmp_fix_")
    constant = {a: v[0] for a in G.AXES if a not in varying and len(v := G.axis_options(configs, a)) == 1}
    if constant:
        st.sidebar.caption("Same everywhere: " + G.describe_settings(constant))
    st.sidebar.multiselect("Show columns", all_columns, key="cmp_columns")
    st.sidebar.multiselect("Rows with label", label_options, key="cmp_filter_labels")
    st.sidebar.radio("Preference", list(PREFERENCES), horizontal=True, key="cmp_filter_pref",
                     format_func=PREFERENCES.get)
    label_vocabulary(store)
    st.sidebar.radio("Sort rows", list(SORTS), format_func=SORTS.get, key="cmp_sort",
                     help="Disagreement: mean pixel difference between the row's outputs (thumbnails). "
                          "Metric: the columns A and B chosen in the viewer.")
    if order == "metric":
        st.sidebar.selectbox("Metric", METRIC_NAMES, key="cmp_sort_metric",
                             help="Rows whose A and B differ most in this metric come first.")


def _grid_section(choice: Choice, live: bool) -> None:
    """The grid of this page of rows, its pager and cell picker; reruns alone (and on a timer while a sweep runs).

    Marks, labels and new cells are read afresh on every run. A new settings
    combination (a new column or option in the sidebar) or the end of the
    running sweep reruns the whole page instead.
    """
    store = state.store()
    path = str(store.path)
    sweeps, stamp = state.sweeps_and_stamp(store)
    configs = state.cell_configs(store, path, choice.sweep_id, choice.test_set, stamp)
    running = any(s.get("status") == "running" for s in sweeps)
    if (live and not running) or len(configs) != choice.configs:
        st.rerun()
    axes, fixed, shown = choice.axes, choice.fixed, choice.shown
    columns = G.grid_columns(configs, axes, fixed, shown)
    comparison = comparison_key(axes, fixed, [c.label for c in columns])
    mine = {p["row_key"]: p for p in store.preferences(comparison=comparison, author=state.author())}
    tags_by_cell: dict[int, list[dict]] = {}
    for tag in store.tags():
        tags_by_cell.setdefault(tag["cell_id"], []).append(tag)
    kept = kept_configs(configs, axes, fixed, shown)
    hidden = state.hidden_cells(store, path, choice.sweep_id, choice.test_set, kept, axes, stamp)
    # Both notes always take their place (empty or not), so the grid below keeps its position in the page and
    # the viewer is updated in place, never mounted afresh, when a note comes or goes.
    notes = st.empty()
    lines = []
    if hidden:
        lines.append(f"{hidden} cells share a slot with another cell and are hidden; fix more axes to see them.")
    if live:
        lines.append(f"A sweep is running: new cells appear here every {LIVE_SECONDS} s.")
    if lines:
        notes.caption("  \n".join(lines))
    grid_args = (axes, fixed, shown)
    few = choice.labels or choice.preference == "marked"
    if choice.row:
        # One row, as a link from a note asked.
        st.button("Show every row", key="cmp_all_rows", icon=":material/close:", on_click=_forget_row)
        grid = grid_of_images(store, choice.sweep_id, choice.test_set, {choice.row}, grid_args, columns)
        page_rows, page_label, draw_pager = grid.rows, f"one row ({len(grid.rows)} found)", None
    elif not few and choice.preference == "all" and choice.order == "name":
        # The usual view: one page of images straight from the store.
        only = None if len(kept) == len(configs) else kept
        total = state.image_total(store, path, choice.sweep_id, choice.test_set, only, stamp)
        size, offset, page_label, draw_pager = _pagination(total, choice.deferred)
        grid = grid_page(store, choice.sweep_id, choice.test_set, only, grid_args, columns, size, offset)
        page_rows = grid.rows
    else:
        if few and choice.order in ("name", "label", "preference"):
            # A few rows: read only the images with those labels or marks.
            grid = grid_of_images(store, choice.sweep_id, choice.test_set, _wanted(store, choice, mine, tags_by_cell),
                                  grid_args, columns)
            keys = [row.key for row in grid.rows]
        else:
            # The order of every row is worked out once (every cell is read) and kept until the cells change.
            keys = _filtered(_ordered_keys(store, choice, grid_args, columns, stamp), choice, mine, tags_by_cell,
                             store)
        keys = _reordered(keys, choice, columns, mine, tags_by_cell, store)
        size, offset, page_label, draw_pager = _pagination(len(keys), choice.deferred)
        page_keys = keys[offset : offset + size]
        grid = grid_of_images(store, choice.sweep_id, choice.test_set, set(page_keys), grid_args, columns)
        found = {row.key: row for row in grid.rows}
        page_rows = [found[k] for k in page_keys if k in found]
    _draw_grid(grid, page_rows, mine, tags_by_cell, page_label, choice.deferred)
    if choice.deferred:
        return
    if draw_pager is not None:
        draw_pager()
    export_panel(store, choice.sweep_id, axes, fixed, [row.key for row in page_rows])


def _forget_row() -> None:
    """Back from one linked row to the whole grid (a button's callback)."""
    st.query_params.pop("row", None)


def _wanted(store, choice: Choice, mine: dict, tags_by_cell: dict) -> set[str] | None:
    """The images the label and mark filters let through (None: no such filter)."""
    images = None
    if choice.labels:
        images = store.images_of_cells([i for i, tags in tags_by_cell.items()
                                        if any(t["label"] in choice.labels for t in tags)])
    if choice.preference == "marked":
        images = set(mine) if images is None else images & set(mine)
    return images


def _ordered_keys(store, choice: Choice, grid_args: tuple, columns: list[G.Column], stamp: tuple) -> list[str]:
    """Every row key in the order that needs every cell (name, disagreement, a metric's A - B), cached per stamp."""
    pair = None
    if choice.order == "metric" and len(columns) > 1:
        a, b = st.session_state.get("cmp_viewer__ab") or (0, 1)
        pair = (columns[min(a, len(columns) - 1)].key, columns[min(b, len(columns) - 1)].key)
    order = choice.order if choice.order in ("disagreement", "metric") else "name"
    return state.row_order(store, str(store.path), choice.sweep_id, choice.test_set, grid_args, order, choice.metric,
                           pair, stamp)


def _filtered(keys: list[str], choice: Choice, mine: dict, tags_by_cell: dict, store) -> list[str]:
    """``keys`` without the rows the label and mark filters leave out."""
    wanted = _wanted(store, choice, mine, tags_by_cell)
    if wanted is not None:
        keys = [k for k in keys if k in wanted]
    if choice.preference == "unmarked":
        keys = [k for k in keys if k not in mine]
    return keys


def _reordered(keys: list[str], choice: Choice, columns: list[G.Column], mine: dict, tags_by_cell: dict,
               store) -> list[str]:
    """``keys`` with labelled rows first, or marked rows first by preferred column, when that is the order."""
    if choice.order == "label":
        labelled = store.images_of_cells([i for i, tags in tags_by_cell.items() if any(t["label"] for t in tags)])
        return marked_first(keys, labelled=labelled)
    if choice.order == "preference":
        place = {c.label: i for i, c in enumerate(columns)}
        return marked_first(keys, preferred={k: place.get(p["value"], len(place)) for k, p in mine.items()})
    return keys


# --------------------------------------------------------------------------- choosing what to compare


def _apply_preset(axis: str, values: list[str]) -> None:
    """Show ``values`` of ``axis`` as the columns (a preset button's callback)."""
    st.session_state["cmp_axis"] = axis
    st.session_state["cmp_axis2"] = NO_SECOND
    st.session_state["cmp_columns"] = list(values)
    st.session_state["_cmp_columns_for"] = (axis,)


def _presets(found: list[Preset]) -> None:
    """One button per preset the data supports."""
    if not found:
        return
    cols = st.columns(len(found) + 1)
    cols[0].markdown("**Presets**")
    for col, preset in zip(cols[1:], found):
        col.button(preset.name, key=f"preset_{preset.axis}", on_click=_apply_preset, args=(preset.axis, preset.values),
                   help=f"Columns: {', '.join(preset.values)}", width="stretch")


def _settle_axes(cells: list[dict]) -> tuple[list[str], dict[str, str], list[str]]:
    """The column axes (one, or two nested), a value for every other varying axis, and the varying axes."""
    varying = G.varying_axes(cells) or ["sketch_checkpoint"]
    axis = _settle("cmp_axis", varying)
    second = _settle("cmp_axis2", [NO_SECOND] + [a for a in varying if a != axis])
    axes = [axis] + ([second] if second != NO_SECOND else [])
    fixed = settle_fixed(cells, [a for a in varying if a not in axes], "cmp_fix_")
    return axes, fixed, varying


def _settle_columns(axes: list[str], options: list[str]) -> list[str]:
    """The columns to show (all of them again whenever the column axes change)."""
    chosen = st.session_state.get("cmp_columns")
    if st.session_state.get("_cmp_columns_for") != tuple(axes) or chosen is None:
        chosen = options
    chosen = [v for v in chosen if v in options] or options
    st.session_state["cmp_columns"] = chosen
    st.session_state["_cmp_columns_for"] = tuple(axes)
    return chosen


def _label_options(store) -> list[str]:
    """The labels a row filter offers: the vocabulary and every label in use."""
    return sorted(set(store.labels()) | {t["label"] for t in store.tags() if t["label"]})


def _pagination(total: int, first_view: bool = False) -> tuple[int, int, str, object]:
    """The page of ``total`` rows the session asks for: ``(size, offset, label, draw)``; ``draw()`` shows the pager.

    The pager's place is taken here, above the grid; it is drawn after the grid, which so reaches the browser first.
    On a first view (drawn later) its place is kept at the pager's height, so the grid does not move when it comes.
    """
    pager = st.container(key="cmp_pager")
    if first_view:
        pager.container(height=PAGER_HEIGHT, border=False)  # as the presets' box above
    size = _settle("cmp_page_size", [DEFAULT_PAGE_SIZE, *(s for s in PAGE_SIZES if s != DEFAULT_PAGE_SIZE)])
    pages = max(1, -(-total // size))
    if not 1 <= st.session_state.get("cmp_page", 1) <= pages:
        st.session_state["cmp_page"] = 1
    page = int(st.session_state.get("cmp_page", 1))
    st.session_state["cmp_page"] = page
    offset = (page - 1) * size
    shown = max(0, min(size, total - offset))
    label = f"rows {offset + 1}-{offset + shown} of {total}" if shown else "no rows"

    def draw() -> None:
        left, right, info = pager.columns([1, 1, 3])
        left.selectbox("Rows per page", PAGE_SIZES, key="cmp_page_size")
        right.number_input("Page", min_value=1, max_value=pages, step=1, key="cmp_page")
        info.caption(f"{total} images · page {page} of {pages}")

    return size, offset, label, draw


# --------------------------------------------------------------------------- the grid


def _draw_grid(grid: G.Grid, rows: list[G.Row], mine: dict, tags_by_cell: dict, page_label: str,
               first_view: bool) -> None:
    """The grid viewer for this page's rows, and a picker that opens a cell's details (not on a first view)."""
    data = viewer_data(state.store(), grid, rows, {k: p["cell_id"] for k, p in mine.items()}, tags_by_cell,
                       page_label=page_label, first_view=first_view)
    with st.container(key="cmp_grid"):
        viewer(data, key="cmp_viewer", grid=grid)
    if not first_view:
        _cell_picker(grid, rows)


def _cell_picker(grid: G.Grid, rows: list[G.Row]) -> None:
    """Open the detail dialog (full settings, input, mask, tags) of one cell of the page."""
    names = {cell["id"]: f"{row.name} · {column.letter} · {column.label}"
             for row in rows for column in grid.columns if (cell := row.cells.get(column.key))}
    if not names:
        return
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Details of a cell", list(names), format_func=names.get, key="cmp_open_choice")
    if right.button("Open", key="cmp_open", icon=":material/zoom_in:", on_click=open_cell, args=(chosen,)):
        st.rerun()  # the dialog is drawn by the whole page, outside this fragment


if __name__ == "__main__":
    render()
