"""The Blind ranking page under AppTest: a trial shows numbered cells and nothing that names their settings."""

from __future__ import annotations

import json

from tests.fixtures import app_test, assert_no_exception


def _viewer(at) -> dict:
    (element,) = [e for e in at.get("bidi_component") if e.proto.component_name == "sketch_workbench.viewer"]
    return json.loads(element.proto.json)


def test_a_trial_is_blind_and_votes_show_in_the_standings(app_store):
    from core.axes import axis_value
    from core.ranking.blind import record_vote
    from core.store.store import Store

    at = app_test("workbench/pages/ranking.py")
    assert_no_exception(at)
    assert at.title[0].value == "Blind ranking"
    at.selectbox(key="blind_axis").set_value("sketch_checkpoint").run()
    data = _viewer(at)
    assert data["blind"] and [c["label"] for c in data["columns"]] == ["1", "2"]
    (row,) = data["rows"]
    ids = [c["id"] for c in row["cells"]]
    with Store(app_store.db) as store:
        cells = {c["id"]: c for c in store.cells_by_id(ids)}
        names = {axis_value(c, "sketch_checkpoint") for c in cells.values()}
        assert len(names) == 2
        text = json.dumps(data)
        for name in names:
            assert name not in text, f"the blind payload names {name}"
        assert all(c["title"] == "" and not c["labels"] for c in row["cells"])
        for i in range(3):
            record_vote(store, ids, ids[i % 2], "tester")
    at.run()
    assert_no_exception(at)
    assert any("3 votes with a winner" in c.value for c in at.caption)
    assert any(d.key == "blind_csv" for d in at.get("download_button"))
    # votes by two people stay apart: each person's alone, or both combined
    with Store(app_store.db) as store:
        record_vote(store, ids, ids[0], "someone else")
    at.run()
    assert any("4 votes with a winner" in c.value for c in at.caption)
    at.multiselect(key="blind_authors").set_value(["someone else"]).run()
    assert any("1 votes with a winner" in c.value and "someone else" in c.value for c in at.caption)


def test_k_cells_per_vote_and_a_new_trial_when_the_settings_change(app_store):
    at = app_test("workbench/pages/ranking.py")
    at.selectbox(key="blind_axis").set_value("resolution").run()
    assert_no_exception(at)
    first = _viewer(at)["rows"][0]["cells"]
    assert len(first) == 2
    at.select_slider(key="blind_k").set_value(4).run()
    assert_no_exception(at)
    assert 2 <= len(_viewer(at)["rows"][0]["cells"]) <= 4
