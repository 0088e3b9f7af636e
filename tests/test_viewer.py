"""The grid viewer's Python side: its bundled files, the payload built from the grid, and events to the store."""

from __future__ import annotations

import json

from tests.fixtures import app_test, assert_no_exception


def test_component_is_bundled_and_offline():
    from workbench.viewer import ASSETS

    for name in ("viewer.html", "viewer.js", "viewer.css", "first_view.js"):
        text = (ASSETS / name).read_text()
        assert "http://" not in text and "https://" not in text and "import(" not in text
    js = (ASSETS / "viewer.js").read_text()
    for needle in ('"viewer-cell"', "dataset.view", "dataset.preferred", '"viewer-mode"', "requestAnimationFrame",
                   "IntersectionObserver", "pixelated", "draggable = false"):
        assert needle in js or needle in (ASSETS / "viewer.css").read_text(), needle


def test_image_size_reads_the_png_header(tmp_path):
    import numpy as np

    from core.files import encode_png
    from workbench.viewer import image_size

    path = tmp_path / "x.png"
    path.write_bytes(encode_png(np.zeros((30, 50), np.uint8)))
    assert image_size(path) == (50, 30)
    assert image_size(tmp_path / "missing.png") is None and image_size(None) is None


def test_payload_has_urls_marks_tags_and_only_differing_settings(app_store):
    from core.store.store import Store
    from workbench.grid import build_grid
    from workbench.viewer import viewer_data

    with Store(app_store.db) as store:
        grid = build_grid(store.results(), ["sketch_checkpoint"], {"resolution": "64", "mask_mode": "hard"})
        row = grid.rows[0]
        first = row.cells[grid.columns[0].key]
        data = viewer_data(store, grid, grid.rows[:2], {row.key: first["id"]},
                           {first["id"]: [{"label": "halo", "note": None}, {"label": None, "note": "gap"}]},
                           mode="overlay", a=1, b=9, page_label="rows 1-2 of 3")
    assert [c["label"] for c in data["columns"]] == [c.label for c in grid.columns]
    assert data["mode"] == "overlay" and data["a"] == 1 and data["b"] == len(grid.columns) - 1
    assert len(data["rows"]) == 2 and data["page_label"] == "rows 1-2 of 3"
    cell = data["rows"][0]["cells"][0]
    assert cell["id"] == first["id"] and cell["preferred"] and cell["labels"] == ["halo"] and cell["notes"] == ["gap"]
    assert cell["full"].startswith("/files/") and cell["full"].split("?")[0].endswith("sketch.png")
    assert cell["thumb"].split("?")[0].endswith("thumb.webp") and cell["width"] > 0 and cell["height"] > 0
    assert not any(c and c["preferred"] for c in data["rows"][1]["cells"])
    # the short header line names only settings that differ between the columns
    for column in data["columns"]:
        assert "Precision" not in column["differs"] and column["title"]
    json.dumps(data)  # all plain JSON


def test_events_write_to_the_store_and_undo_steps_back(app_store):
    from core.store.store import Store
    from workbench.grid import build_grid
    from workbench.viewer import apply_event

    undo: list = []
    with Store(app_store.db) as store:
        grid = build_grid(store.results(), ["sketch_checkpoint"], {"resolution": "64", "mask_mode": "hard"})
        row = grid.rows[0]
        a, b = (row.cells[c.key] for c in grid.columns[:2])
        cols = [c.label for c in grid.columns]
        assert apply_event(store, {"type": "prefer", "row": row.key, "cell": a["id"], "col": cols[0]}, grid, "me", undo)
        apply_event(store, {"type": "prefer", "row": row.key, "cell": b["id"], "col": cols[1]}, grid, "me", undo)
        marks = store.preferences()
        assert len(marks) == 1 and marks[0]["cell_id"] == b["id"] and marks[0]["value"] == cols[1]
        assert json.loads(marks[0]["candidates_json"]) == cols and marks[0]["axis"] == "sketch_checkpoint"
        apply_event(store, {"type": "label", "row": row.key, "cell": b["id"], "label": " halo "}, grid, "me", undo)
        apply_event(store, {"type": "note", "row": row.key, "cell": b["id"], "note": "thin"}, grid, "me", undo)
        assert [(t["label"], t["note"]) for t in store.tags()] == [("halo", None), (None, "thin")]
        assert apply_event(store, {"type": "label", "row": row.key, "cell": b["id"], "label": " "}, grid, "me",
                           undo) is None
        apply_event(store, {"type": "undo"}, grid, "me", undo)
        apply_event(store, {"type": "undo"}, grid, "me", undo)
        assert store.tags() == []
        apply_event(store, {"type": "undo"}, grid, "me", undo)  # back to the first mark
        assert [m["cell_id"] for m in store.preferences()] == [a["id"]]
        apply_event(store, {"type": "undo"}, grid, "me", undo)  # back to no mark
        assert store.preferences() == []
        assert apply_event(store, {"type": "undo"}, grid, "me", undo) is None
        apply_event(store, {"type": "prefer", "row": row.key, "cell": a["id"], "col": cols[0]}, grid, "me", undo)
        apply_event(store, {"type": "prefer", "row": row.key, "cell": None, "col": cols[0]}, grid, "me", undo)
        assert store.preferences() == []


def test_page_mounts_one_viewer_and_keeps_mode_and_choice(app_store):
    at = app_test()
    assert_no_exception(at)
    viewers = [e for e in at.get("bidi_component") if e.proto.component_name == "sketch_workbench.viewer"]
    assert len(viewers) == 1
    at.session_state["cmp_viewer__mode"] = "difference"
    at.session_state["cmp_viewer__ab"] = (1, 0)
    at.run()
    data = json.loads(at.get("bidi_component")[0].proto.json)
    assert data["mode"] == "difference" and (data["a"], data["b"]) == (1, 0)


def _events_script():
    """Two triggers of the viewer, the second repeating an event of the first (not yet acknowledged)."""
    import json

    import streamlit as st

    from workbench.viewer import pending_events

    got = []
    st.session_state["v"] = {"event": {"events": [{"type": "a", "seq": 5}, {"type": "b", "seq": 6}]}}
    got.append(pending_events("v"))
    got.append(pending_events("v"))  # the same trigger seen again: nothing new
    st.session_state["v"] = {"event": {"events": [{"type": "c", "seq": 8}, {"type": "b", "seq": 6}]}}
    got.append(pending_events("v"))
    st.session_state["v"] = {"event": "not a list"}
    got.append(pending_events("v"))
    st.write(json.dumps([[e["type"] for e in batch] for batch in got]) + f" acked={st.session_state['v__acked']}")


def test_each_event_is_applied_once_in_order_even_when_a_trigger_repeats_it():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_events_script, default_timeout=30).run()
    assert_no_exception(at)
    assert at.markdown[0].value == '[["a", "b"], [], ["c"], []] acked=8'
