"""The Compare page: grid assembly (plain functions) and the page itself under AppTest on a real sweep."""

from __future__ import annotations

import json
import os

from tests.fixtures import app_test, assert_no_exception, run_sweep_quietly, small_spec


def _cell(i, image="img1", **kw):
    base = {"id": i, "image_sha256": image, "image_name": f"{image}.png", "test_set": "t", "image_path": None,
            "status": "done", "method": "checkpoint", "sketch_checkpoint": "G.pth@aaaa", "mask_checkpoint": "M.pth@bbbb",
            "resolution": 424, "mask_mode": "soft", "softctr": 0.5, "gamma": 1, "merge": 0, "background": 1,
            "precision": "fp32", "vectorize": 0, "profile": "seed", "baseline_params": None}
    base.update(kw)
    return base


def _baseline(i, image="img1"):
    return _cell(i, image, method="canny", sketch_checkpoint=None, mask_checkpoint=None, resolution=None,
                 mask_mode=None, softctr=None, gamma=None, merge=None, background=None, precision=None,
                 profile="baseline", baseline_params='{"low": 50}')


# --------------------------------------------------------------------------- grid functions


def test_axis_values_treat_null_as_not_applicable():
    from core.axes import NO_MASK, axis_value

    off = _cell(1, mask_checkpoint=None, background=0, mask_mode=None, softctr=None)
    assert axis_value(off, "mask_checkpoint") == NO_MASK  # background off is a real value of the mask axis
    assert axis_value(off, "mask_mode") is None
    assert axis_value(_baseline(2), "resolution") is None
    assert axis_value(_baseline(2), "sketch_checkpoint") == "canny"
    assert axis_value(_cell(3), "gamma") == "on" and axis_value(_cell(3), "softctr") == "0.5"


def test_baselines_sit_beside_checkpoints_under_any_fixed_value():
    from workbench.grid import build_grid, varying_axes

    cells = [_cell(1, resolution=424), _cell(2, resolution=848), _cell(3, resolution=424, mask_mode="hard"),
             _baseline(4)]
    assert set(varying_axes(cells)) >= {"resolution", "mask_mode", "sketch_checkpoint"}
    grid = build_grid(cells, ["resolution"], {"mask_mode": "soft"})
    assert [c.label for c in grid.columns] == ["424", "848", "canny"]
    row = grid.rows[0]
    assert [row.cells[c.key]["id"] for c in grid.columns] == [1, 2, 4]
    hard = build_grid(cells, ["resolution"], {"mask_mode": "hard"})
    assert [hard.rows[0].cells[c.key]["id"] for c in hard.columns] == [3, 4]


def test_nested_axis_and_column_filter():
    from workbench.grid import build_grid

    cells = [_cell(i, resolution=r, mask_mode=m) for i, (r, m) in
             enumerate([(424, "soft"), (424, "hard"), (848, "soft"), (848, "hard")], 1)]
    grid = build_grid(cells, ["resolution", "mask_mode"])
    assert [c.label for c in grid.columns] == ["424 / hard", "424 / soft", "848 / hard", "848 / soft"]
    assert [c.letter for c in grid.columns] == ["A", "B", "C", "D"]
    only = build_grid(cells, ["resolution", "mask_mode"], columns=["848 / soft"])
    assert [c.label for c in only.columns] == ["848 / soft"]


def test_collisions_keep_the_done_cell_and_count_hidden():
    from workbench.grid import build_grid

    cells = [_cell(1, status="failed", error="x"), _cell(2), _cell(3, image="img2")]
    grid = build_grid(cells, ["resolution"])
    assert grid.hidden == 1
    assert {r.key: r.cells[("424",)]["id"] for r in grid.rows} == {"img1": 2, "img2": 3}


def test_fixed_selectors_offer_only_existing_values():
    from workbench.grid import resolve_fixed

    cells = [_cell(1, mask_checkpoint="A@1", resolution=424), _cell(2, mask_checkpoint="B@2", resolution=848)]
    fixed = resolve_fixed(cells, ["mask_checkpoint", "resolution"], {"mask_checkpoint": "B@2", "resolution": "424"})
    assert fixed["mask_checkpoint"] == (["A@1", "B@2"], "B@2")
    assert fixed["resolution"] == (["848"], "848")  # 424 does not exist with B@2


def test_presets_follow_the_data():
    from workbench.presets import checkpoint_stage, presets

    cells = [_cell(1, resolution=424), _cell(2, resolution=848, mask_mode="hard"),
             _cell(3, mask_checkpoint="MaskNet_v2_stage1.pth@1111"), _cell(4, mask_checkpoint="late.pth@2222")]
    ckpts = [{"label": "MaskNet_v2_stage1.pth@1111", "file_name": "MaskNet_v2_stage1.pth", "metadata_json": "{}"},
             {"label": "late.pth@2222", "file_name": "late.pth", "metadata_json": json.dumps({"stage": "2"})}]
    found = {p.name: p for p in presets(cells, ckpts)}
    assert set(found) == {"424 vs 848", "soft vs hard", "stage1 vs stage2"}
    assert found["stage1 vs stage2"].values == ["MaskNet_v2_stage1.pth@1111", "late.pth@2222"]
    assert presets([_cell(1)], []) == []
    assert checkpoint_stage("MaskNet_v2_stage12.pth") is None
    assert checkpoint_stage("x.pth", {"note": "end of Stage-2"}) == 2


def test_filter_rows_by_label_and_preference():
    from workbench.grid import build_grid, filter_rows

    grid = build_grid([_cell(1), _cell(2, image="img2")], ["resolution"])
    tags = {2: [{"label": "too dark"}]}
    assert [r.key for r in filter_rows(grid.rows, tags, ["too dark"], set())] == ["img2"]
    assert [r.key for r in filter_rows(grid.rows, tags, [], {"img1"}, "marked")] == ["img1"]
    assert [r.key for r in filter_rows(grid.rows, tags, [], {"img1"}, "unmarked")] == ["img2"]


# --------------------------------------------------------------------------- the page


def _viewer(at) -> dict:
    """The data the grid viewer component was given in the last run."""
    (element,) = [e for e in at.get("bidi_component") if e.proto.component_name == "sketch_workbench.viewer"]
    return json.loads(element.proto.json)


def _headers(at) -> list[str]:
    """The viewer's column headers as ``"A · label"``."""
    return [f"{chr(65 + i)} · {c['label']}" for i, c in enumerate(_viewer(at)["columns"])]


def test_default_page_shows_the_grid(app_store):
    at = app_test()
    assert_no_exception(at)
    assert at.title[0].value == "Compare"
    headers = _headers(at)
    assert len(headers) == 2
    assert headers[0].startswith("A · G_tiny.safetensors@") and headers[1] == "B · canny"
    # 3 rows x 2 columns of cells, every one with its thumbnail and full-resolution URL on the app's file route
    data = _viewer(at)
    cells = [c for row in data["rows"] for c in row["cells"]]
    assert len(data["rows"]) == 3 and len(cells) == 3 * 2
    assert all(c["thumb"].startswith("/files/") and c["full"].startswith("/files/") and "?v=" in c["full"]
               for c in cells)
    assert "base64" not in json.dumps(data)
    # fixed axes offer only values in the data
    assert at.selectbox(key="cmp_fix_resolution").options == ["64", "128"]
    assert at.selectbox(key="cmp_fix_mask_mode").options == ["hard", "soft"]
    # column headers carry the full settings on hover, and in short only what differs between columns
    first = data["columns"][0]
    assert first["title"].startswith("Sketch checkpoint / method G_tiny") and "Resolution 64" in first["title"]
    assert "Mask mode hard" in first["title"] and "Resolution" not in first["differs"]
    # presets present only when the data has them
    keys = {b.key for b in at.button}
    assert {"preset_mask_mode", "preset_mask_checkpoint"} <= keys and "preset_resolution" not in keys


def test_first_view_is_the_grid_alone_until_the_viewer_reports_it_drawn(app_store):
    from workbench.state import FIRST_VIEW_KEY, NAME_FIELD

    at = app_test(first_view_drawn=False)  # a new browser session
    assert_no_exception(at)
    data = _viewer(at)
    assert data["first_view"] is True and len(data["rows"]) == 3
    # no widget comes with the first view: no sidebar control, name field, preset, pager or cell picker
    assert not (at.selectbox or at.multiselect or at.radio or at.text_input or at.button or at.number_input)

    # the viewer's "drawn" event (the browser tests send it) marks the first view drawn; from then on the page
    # comes whole: its controls and the name field, the viewer's data the same
    at.session_state[FIRST_VIEW_KEY] = True
    at.run()
    assert_no_exception(at)
    assert at.selectbox(key="cmp_axis").value and at.text_input(key=NAME_FIELD) is not None
    assert at.selectbox(key="cmp_open_choice") is not None and at.number_input(key="cmp_page") is not None
    after = _viewer(at)
    assert after["first_view"] is False and after["rows"] == data["rows"] and after["columns"] == data["columns"]
    # a page with no first view to wait for (here Metrics, opened in a new session) draws the name field at once
    other = app_test("workbench/pages/metrics.py", first_view_drawn=False)
    assert_no_exception(other)
    assert other.text_input(key=NAME_FIELD) is not None


def test_axes_presets_and_modes(app_store):
    at = app_test()
    at.button(key="preset_mask_checkpoint").click().run()
    assert_no_exception(at)
    assert at.selectbox(key="cmp_axis").value == "mask_checkpoint"
    labels = _headers(at)
    assert "stage1" in labels[0] and "stage2" in labels[1]
    assert len(labels) == 2  # the preset shows exactly the two stages
    at.selectbox(key="cmp_axis2").set_value("resolution").run()
    assert_no_exception(at)
    assert sum("MaskNet" in h for h in _headers(at)) == 4  # 2 stages x 2 resolutions (and the baseline)
    data = _viewer(at)
    assert data["mode"] == "side by side" and (data["a"], data["b"]) == (0, 1)
    assert all(len(row["cells"]) == len(data["columns"]) for row in data["rows"])


def test_prefer_tag_and_filter(app_store):
    from core.store.store import Store

    at = app_test()
    data = _viewer(at)
    row = data["rows"][0]
    # what the viewer sends when "2" is pressed on the first row, applied as the page's callback does
    at.session_state["cmp_viewer__test_event"] = {"type": "prefer", "row": row["key"], "cell": row["cells"][1]["id"],
                                                  "col": data["columns"][1]["key"], "seq": 1}
    _send(at)
    assert_no_exception(at)
    with Store(app_store.db) as store:
        marks = store.preferences()
    assert len(marks) == 1 and marks[0]["value"] == "canny" and marks[0]["author"] == "tester"
    assert json.loads(marks[0]["candidates_json"])[1] == "canny"
    assert [c["preferred"] for c in _viewer(at)["rows"][0]["cells"]] == [False, True]

    # tag the first checkpoint cell through the detail dialog
    cell_id = at.selectbox(key="cmp_open_choice").value
    at.button(key="cmp_open").click().run()
    assert any(m.value == "**Mask**" for m in at.markdown)
    at.multiselect(key=f"dlg_labels_{cell_id}").set_value(["broken lines"]).run()
    at.text_input(key=f"dlg_note_{cell_id}").set_value("gaps at the chin").run()
    at.button(key=f"dlg_save_{cell_id}").click().run()
    assert_no_exception(at)
    with Store(app_store.db) as store:
        tags = store.tags()
    assert [(t["cell_id"], t["label"], t["note"], t["author"]) for t in tags] == [
        (cell_id, "broken lines", "gaps at the chin", "tester")]
    shown = {c["id"]: c for r in _viewer(at)["rows"] for c in r["cells"]}
    assert shown[cell_id]["labels"] == ["broken lines"] and shown[cell_id]["notes"] == ["gaps at the chin"]

    at.multiselect(key="cmp_filter_labels").set_value(["broken lines"]).run()
    assert len(_viewer(at)["rows"]) == 1  # only the tagged row is left
    at.multiselect(key="cmp_filter_labels").set_value([]).run()
    at.radio(key="cmp_filter_pref").set_value("unmarked").run()
    assert len(_viewer(at)["rows"]) == 2

    # a new session sees the mark
    again = app_test()
    assert sum(c["preferred"] for r in _viewer(again)["rows"] for c in r["cells"] if c) == 1


def _send(at) -> None:
    """Apply the event in ``cmp_viewer__test_event`` to the grid the page showed, as the viewer's callback does."""
    from core.store.store import Store
    from workbench.viewer import apply_event

    with Store(os.environ["WORKBENCH_DB"]) as store:
        apply_event(store, at.session_state["cmp_viewer__test_event"], at.session_state["cmp_viewer__grid"], "tester", [])
    at.run()


def test_label_vocabulary_can_be_edited(app_store):
    from core.store.store import Store

    at = app_test()
    at.text_input(key="vocab_new").set_value("halo").run()
    at.button(key="vocab_add").click().run()
    at.selectbox(key="vocab_remove_choice").set_value("too dark").run()
    at.button(key="vocab_remove").click().run()
    assert_no_exception(at)
    with Store(app_store.db) as store:
        labels = store.labels()
    assert "halo" in labels and "too dark" not in labels


def test_failed_cell_shows_its_error(app_store):
    from core.store.store import Store

    with Store(app_store.db) as store:
        cid = store.query("SELECT id FROM cells WHERE method = 'canny' ORDER BY id LIMIT 1")[0]["id"]
        with store.write():
            store.conn.execute("UPDATE cells SET status = 'failed', error = 'ImageReadError: broken.png is truncated' "
                               "WHERE id = ?", (cid,))
    at = app_test()
    assert_no_exception(at)
    failed = [c for row in _viewer(at)["rows"] for c in row["cells"] if c and c["id"] == cid]
    assert failed[0]["status"] == "failed" and "broken.png is truncated" in failed[0]["error"]
    assert failed[0]["thumb"] is None


def test_empty_store_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "empty.db"))
    at = app_test()
    assert_no_exception(at)
    assert "No results yet" in at.info[0].value


def test_parameters_of_one_baseline_do_not_hide_another():
    from workbench.grid import build_grid, resolve_fixed, varying_axes

    cells = [_cell(1), _baseline(2), dict(_baseline(3), method="xdog", baseline_params='{"sigma": 0.8}')]
    assert "baseline_params" not in varying_axes(cells)
    assert [c.label for c in build_grid(cells, ["sketch_checkpoint"]).columns] == ["G.pth@aaaa", "canny", "xdog"]
    two = cells + [dict(_baseline(4), baseline_params='{"low": 20}')]
    assert "baseline_params" in varying_axes(two)
    fixed = {a: v for a, (_, v) in resolve_fixed(two, ["baseline_params"], {}).items()}
    grid = build_grid(two, ["sketch_checkpoint"], fixed)
    assert [c.label for c in grid.columns] == ["G.pth@aaaa", "canny", "xdog"] and grid.hidden == 0


def test_baselines_stay_when_the_sketch_checkpoint_is_fixed():
    from workbench.grid import axis_options, build_grid

    cells = [_cell(1, sketch_checkpoint="g.pth@1"), _cell(2, sketch_checkpoint="g.pth@1", resolution=848),
             _cell(3, sketch_checkpoint="h.pth@2"), _baseline(4)]
    assert axis_options(cells, "sketch_checkpoint") == ["g.pth@1", "h.pth@2", "canny"]
    grid = build_grid(cells, ["resolution"], {"sketch_checkpoint": "g.pth@1"})
    assert [c.label for c in grid.columns] == ["424", "848", "canny"]
    only = build_grid(cells, ["resolution"], {"sketch_checkpoint": "canny"})
    assert [c.label for c in only.columns] == ["canny"]


def test_rows_sort_by_disagreement_most_first(app_store):
    def row_names(at):
        return [row["label"] for row in _viewer(at)["rows"]]

    at = app_test()
    by_name = row_names(at)
    at.radio(key="cmp_sort").set_value("disagreement").run()
    assert_no_exception(at)
    by_disagreement = row_names(at)
    assert by_name and sorted(by_disagreement) == sorted(by_name)


def test_rows_sort_by_a_metrics_difference_by_label_and_by_preference(app_store):
    from core.store.store import Store

    at = app_test()
    data = _viewer(at)
    names = [row["label"] for row in data["rows"]]
    assert len(names) >= 3 and len(data["columns"]) >= 2
    # A metric's |A - B| between the first two columns, worked out here from the cells the viewer was given.
    with Store(app_store.db) as store:
        cells = {c["id"]: c for c in store.results()}

    def gap(row):
        a, b = row["cells"][0], row["cells"][1]
        if not a or not b or cells[a["id"]]["ink_coverage"] is None or cells[b["id"]]["ink_coverage"] is None:
            return None
        return abs(cells[a["id"]]["ink_coverage"] - cells[b["id"]]["ink_coverage"])

    at.radio(key="cmp_sort").set_value("metric").run()
    at.selectbox(key="cmp_sort_metric").set_value("ink_coverage").run()
    assert_no_exception(at)
    rows = _viewer(at)["rows"]
    gaps = [gap(r) for r in rows]
    known = [g for g in gaps if g is not None]
    assert known and known == sorted(known, reverse=True) and gaps[: len(known)] == known

    last = data["rows"][-1]
    with Store(app_store.db) as store:
        store.tag(last["cells"][0]["id"], "check", None, "tester")
    at.radio(key="cmp_sort").set_value("label").run()
    assert_no_exception(at)
    assert [r["label"] for r in _viewer(at)["rows"]][0] == last["label"]

    at.radio(key="cmp_sort").set_value("preference").run()
    viewer = _viewer(at)
    second = viewer["rows"][-1]
    at.session_state["cmp_viewer__test_event"] = {"type": "prefer", "row": second["key"],
                                                  "cell": second["cells"][1]["id"], "col": viewer["columns"][1]["key"]}
    _send(at)
    assert_no_exception(at)
    rows = _viewer(at)["rows"]
    assert rows[0]["label"] == second["label"] and rows[0]["cells"][1]["preferred"]
    assert all(r["input"] and r["input"].startswith("/inputs/") for r in rows)


def test_vectorised_cells_show_vector_frames_svg_and_gif(app_store):
    from core.store.store import Store

    spec = small_spec(app_store.images, app_store.checkpoints, vectorize=True, mask_checkpoints=[None],
                      resolutions=[64], baselines=["canny"], name="vectorised")
    run_sweep_quietly(spec, app_store.db)
    with Store(app_store.db) as store:
        vec = [c for c in store.results() if c["vectorize"] and c["status"] == "done"]
    assert vec and all(c["svg_path"] and c["gif_path"] and c["vector_path"] for c in vec)
    at = app_test()
    assert_no_exception(at)
    at.session_state["cmp_open_cell"] = vec[0]["id"]
    at.run()
    assert_no_exception(at)
    assert any("Strokes (SVG)" in m.value for m in at.markdown)
    assert any("Drawing order (GIF)" in m.value for m in at.markdown)


def test_columns_from_distinct_settings_match_the_grid_of_every_cell():
    from workbench.grid import build_grid, grid_columns, with_columns

    cells = [_cell(1, resolution=424), _cell(2, resolution=848), _baseline(3),
             _cell(4, "img2", resolution=424), _cell(5, "img2", resolution=848, mask_mode="hard")]
    names = ("method", "sketch_checkpoint", "mask_checkpoint", "resolution", "mask_mode", "softctr", "gamma",
             "merge", "background", "precision", "vectorize", "profile", "baseline_params")
    configs = list({tuple(c[n] for n in names): {n: c[n] for n in names} for c in cells}.values())
    for axes, fixed in ((["resolution"], {"mask_mode": "soft"}), (["resolution", "mask_mode"], {})):
        whole = build_grid(cells, axes, fixed)
        columns = grid_columns(configs, axes, fixed)
        assert [(c.key, c.letter, c.settings) for c in columns] == [(c.key, c.letter, c.settings) for c in whole.columns]
    # a page of one image gets every column of the grid, empty where it has no cell
    page = with_columns(build_grid([c for c in cells if c["image_sha256"] == "img2"], ["resolution"]),
                        grid_columns(configs, ["resolution"]))
    assert [c.label for c in page.columns] == ["424", "848", "canny"] and page.rows[0].cells[("canny",)] is None


def test_the_page_reads_only_its_images_not_every_cell(app_store, monkeypatch):
    from core.store.store import Store

    def every_cell(*args, **kwargs):
        raise AssertionError("the page read every cell")

    monkeypatch.setattr(Store, "results", every_cell)
    at = app_test()
    assert_no_exception(at)
    assert len(_viewer(at)["rows"]) == 3
    at.radio(key="cmp_filter_pref").set_value("marked").run()  # a few rows: only those images are read
    assert_no_exception(at)
    assert _viewer(at)["rows"] == []


def test_the_cell_dialog_shows_the_sketch_nets_own_output_at_its_side(app_store):
    from core.store.store import Store

    with Store(app_store.db) as store:
        cell = next(c for c in store.results() if c["method"] == "checkpoint" and c["status"] == "done"
                    and not c["merge"] and c["resolution"] == 128)
    at = app_test()
    at.session_state["cmp_open_cell"] = cell["id"]
    at.run()
    assert_no_exception(at)
    toggle = at.toggle(key=f"native_{cell['id']}")
    assert "128x128" in toggle.label
    toggle.set_value(True).run()
    assert_no_exception(at)
    assert any("128x128 px, shown one image pixel per screen pixel" in c.value for c in at.caption)
    assert any(d.key == f"native_dl_{cell['id']}" for d in at.get("download_button"))


def test_the_cell_dialog_shows_provenance_and_reruns_the_cell(app_store):
    from core.store.store import Store

    with Store(app_store.db) as store:
        cell = next(c for c in store.results() if c["method"] == "checkpoint" and c["status"] == "done")
    prov = json.loads(cell["provenance_json"])
    at = app_test()
    at.session_state["cmp_open_cell"] = cell["id"]
    at.run()
    assert_no_exception(at)
    assert any(e.label == "Provenance" for e in at.expander)
    table = at.dataframe[0].value
    shown = dict(zip(table["field"], table["value"], strict=True))
    assert shown["torch"] == prov["torch"] and shown["Precision"] == "fp32"
    assert shown["Sketch checkpoint sha256"] == cell["sketch_sha256"]
    button = at.button(key=f"rerun_{cell['id']}")
    assert button.label == "Re-run this cell"
    button.click().run()
    assert_no_exception(at)
    assert any(s.value.startswith("Matches: largest difference") for s in at.success)
    # The report stays after another run of the page (e.g. a tag saved).
    at.run()
    assert any(s.value.startswith("Matches: largest difference") for s in at.success)


def test_the_cell_dialog_says_when_provenance_was_not_recorded(app_store):
    import sqlite3

    from core.store.store import Store

    with Store(app_store.db) as store:
        cell = next(c for c in store.results() if c["status"] == "done")
    with sqlite3.connect(app_store.db) as conn:
        conn.execute("UPDATE cells SET provenance_json = NULL WHERE id = ?", (cell["id"],))
    at = app_test()
    at.session_state["cmp_open_cell"] = cell["id"]
    at.run()
    assert_no_exception(at)
    unknown = "unknown (computed before provenance was recorded)"
    assert any(e.label == f"Provenance: {unknown}" for e in at.expander)
    table = at.dataframe[0].value
    recorded_fields = ~table["field"].str.endswith("checkpoint sha256")  # those come from the cell's own columns
    assert set(table["value"][recorded_fields]) == {unknown}
