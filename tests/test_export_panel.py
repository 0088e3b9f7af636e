"""The Compare page's "Export figure" popover: the page's view translated, drawn through a tiny AppTest script."""

from __future__ import annotations

import pytest

from core.store.store import Store
from tests.fixtures import assert_no_exception
from workbench import grid as G
from workbench.export_panel import crop_text, figure_selection


def _panel_script(db: str, sweep_id: int, axes: list, fixed: dict, row_keys: list, crop):
    """A page holding only the popover, for the view given."""
    from core.store.store import Store
    from workbench.export_panel import export_panel

    export_panel(Store(db), sweep_id, axes, fixed, row_keys, crop)


def _page_view(store: Store, sweep_id: int, axis: str, wanted: dict) -> tuple[dict, list[dict]]:
    """What the Compare page holds for a view: its fixed display values (the grid's rules) and its cells."""
    cells = store.results(sweep_id)
    others = [a for a in G.AXES if a != axis]
    fixed = {a: value for a, (_, value) in G.resolve_fixed(cells, others, wanted).items()}
    return fixed, cells


@pytest.mark.parametrize("axis, wanted", [
    ("mask_mode", {"mask_checkpoint": None, "resolution": "128"}),
    ("mask_checkpoint", {"mask_mode": "soft"}),
    ("resolution", {}),
])
def test_figure_shows_the_pages_cells(swept, axis, wanted):
    """For the page's view, the figure's columns and cells are the Compare grid's, row for row."""
    with Store(swept.db, readonly=True) as store:
        fixed, cells = _page_view(store, swept.sweep_id, axis, wanted)
        page = G.build_grid(cells, [axis], fixed)
        keys = [row.key for row in page.rows][:2]
        sel = figure_selection(store, swept.sweep_id, [axis, "gamma"], fixed, keys)
    assert [c.value for c in sel.columns] == [c.label for c in page.columns]
    assert [r.key for r in sel.rows] == keys
    for row in page.rows[:2]:
        for column in page.columns:
            figure_cell = sel.cells[(row.key, column.label)]
            assert figure_cell["id"] == row.cells[column.key]["id"], (row.name, column.label)


def test_crop_text():
    """A crop is shown as x,y,w,h; none as an empty field."""
    assert crop_text((0.25, 0.5, 0.125, 0.25)) == "0.25,0.5,0.125,0.25"
    assert crop_text(None) == "" and crop_text("0,0,1,1") == "0,0,1,1"


def test_popover_offers_both_downloads(swept):
    """The popover says what it will draw and offers the figure and its manifest; a bad crop is a warning."""
    from streamlit.testing.v1 import AppTest

    with Store(swept.db, readonly=True) as store:
        fixed, cells = _page_view(store, swept.sweep_id, "resolution", {})
        rows = [r.key for r in G.build_grid(cells, ["resolution"], fixed).rows][:2]
    at = AppTest.from_function(_panel_script, default_timeout=60,
                               args=(str(swept.db), swept.sweep_id, ["resolution"], fixed, rows, (0.1, 0.1, 0.5, 0.5)))
    at.run()
    assert_no_exception(at)
    assert not at.caption and not at.get("download_button")  # closed: nothing read, nothing drawn
    at.session_state["export_figure_open"] = True
    at.run()
    assert_no_exception(at)
    captions = " ".join(c.value for c in at.caption)
    assert "2 rows × 3 columns (64, 128, canny)" in captions and "Columns: Resolution." in captions
    assert len(at.get("download_button")) == 2
    assert at.text_input(key="export_figure_crop").value == "0.1,0.1,0.5,0.5"
    at.radio(key="export_figure_format").set_value("PDF").run()
    assert_no_exception(at)
    at.text_input(key="export_figure_crop").set_value("0.9,0.9,0.5,0.5").run()
    assert_no_exception(at)
    assert any("lies outside the image" in w.value for w in at.warning)
    assert not at.get("download_button")
