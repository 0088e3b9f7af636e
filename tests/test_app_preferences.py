"""Preference counting (core.ranking.preferences) and the Preferences page under AppTest."""

from __future__ import annotations

import csv
import io
import json

from tests.fixtures import app_test, assert_no_exception


def _pref(value, candidates, axis="resolution", row="r", author="a"):
    return {"axis": axis, "value": value, "candidates_json": json.dumps(candidates), "row_key": row,
            "author": author}


def test_counts_and_head_to_head():
    from core.ranking.preferences import pairwise_counts, preference_counts, sentence

    prefs = [_pref("848", ["424", "848"], row=str(i)) for i in range(3)] + [_pref("424", ["424", "848"], row="x")]
    prefs.append(_pref("soft", ["soft", "hard"], axis="mask_mode"))
    counts = {(r["axis"], r["value"]): (r["preferred"], r["shown"]) for r in preference_counts(prefs)}
    assert counts[("resolution", "848")] == (3, 4)
    assert counts[("resolution", "424")] == (1, 4)
    assert counts[("mask_mode", "hard")] == (0, 1)
    pairs = [p for p in pairwise_counts(prefs) if p["axis"] == "resolution"]
    assert [sentence(p) for p in pairs] == ["848 preferred over 424 in 3 of 4 rows"]


def test_three_way_rows_count_each_pair_where_one_of_them_won():
    from core.ranking.preferences import pairwise_counts

    prefs = [_pref("b", ["a", "b", "c"]), _pref("c", ["a", "b", "c"], row="2")]
    pairs = {(p["value"], p["other"]): (p["wins"], p["rows"]) for p in pairwise_counts(prefs)}
    assert pairs == {("b", "a"): (1, 1), ("c", "a"): (1, 1), ("b", "c"): (1, 2)}


def test_csv_export_has_a_header_and_rows():
    from core.ranking.preferences import preference_counts, to_csv

    text = to_csv(preference_counts([_pref("848", ["424", "848"])]))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["value"]: r["preferred"] for r in rows} == {"848": "1", "424": "0"}


def test_page_counts_marks_made_in_the_store(app_store):
    from core.store.store import Store

    with Store(app_store.db) as store:
        cells = store.query("SELECT id, image_sha256, resolution FROM cells WHERE method = 'checkpoint' "
                            "AND mask_mode = 'soft' AND mask_checkpoint LIKE '%stage1%'")
        by_image = {}
        for c in cells:
            by_image.setdefault(c["image_sha256"], {})[str(c["resolution"])] = c["id"]
        for i, (image, ids) in enumerate(sorted(by_image.items())):
            winner = "128" if i < 2 else "64"
            store.prefer("cmp", "resolution", image, ids[winner], winner, ["64", "128"], "tester")
        store.prefer("cmp", "resolution", "elsewhere", cells[0]["id"], "128", ["64", "128"], "someone")
    at = app_test("workbench/pages/preferences.py")
    assert_no_exception(at)
    assert at.title[0].value == "Preferences"
    assert any("128 preferred over 64 in 3 of 4 rows" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 1
    assert {d.key for d in at.get("download_button")} == {"pref_csv", "pref_raw_csv"}
    at.multiselect(key="pref_authors").set_value(["tester"]).run()
    assert any("128 preferred over 64 in 2 of 3 rows" in m.value for m in at.markdown)


def test_page_without_marks_explains(app_store):
    at = app_test("workbench/pages/preferences.py")
    assert_no_exception(at)
    assert "No preferred marks yet" in at.info[0].value


def test_page_counts_labels_per_value_and_links_each_note_to_its_row(app_store):
    from core.store.store import Store

    with Store(app_store.db) as store:
        cells = store.query("SELECT id, image_sha256, image_name, resolution FROM cells WHERE method = 'checkpoint' "
                            "AND status = 'done' ORDER BY id")
        low = [c for c in cells if c["resolution"] == 64][:2]
        high = [c for c in cells if c["resolution"] == 128][:1]
        for c in low:
            store.tag(c["id"], "broken lines", None, "tester")
        store.tag(high[0]["id"], "broken lines", None, "tester")
        store.tag(high[0]["id"], "too dark", None, "tester")
        store.tag(low[0]["id"], None, "gaps at the chin", "tester")
    at = app_test("workbench/pages/preferences.py")
    assert_no_exception(at)
    assert "No preferred marks yet" in at.info[0].value  # marks and labels are independent
    at.selectbox(key="pref_tag_axis").set_value("resolution").run()
    (frame,) = at.dataframe  # no marks: the labels table is the only one
    table = frame.value
    assert table.loc["broken lines", "64"] == 2 and table.loc["broken lines", "128"] == 1
    assert table.loc["too dark", "64"] == 0 and table.loc["too dark", "128"] == 1
    assert any("gaps at the chin" in m.value and low[0]["image_name"] in m.value for m in at.markdown)
    (link,) = at.get("page_link")
    assert link.proto.label == "Show row" and link.proto.page_script_hash
    assert f"row={low[0]['image_sha256']}" in link.proto.query_string

    # the link's row alone on the Compare page
    compare = app_test()
    compare.query_params["row"] = low[0]["image_sha256"]
    compare.run()
    assert_no_exception(compare)
    (viewer,) = [e for e in compare.get("bidi_component") if e.proto.component_name == "sketch_workbench.viewer"]
    rows = json.loads(viewer.proto.json)["rows"]
    assert [r["key"] for r in rows] == [low[0]["image_sha256"]]
    compare.button(key="cmp_all_rows").click().run()
    (viewer,) = [e for e in compare.get("bidi_component") if e.proto.component_name == "sketch_workbench.viewer"]
    assert len(json.loads(viewer.proto.json)["rows"]) > 1
