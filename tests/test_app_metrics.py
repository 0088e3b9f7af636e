"""The Metrics page under AppTest (metric by a config field, means, CSV) and its tables in workbench.charts.

The store is the small real sweep of ``tests/fixtures.py`` (the ``swept`` fixture): 3 images x
(2 resolutions x 2 mask modes x 2 Mask Nets) checkpoint cells plus 3 canny
cells, whose resolution is NULL (shown as ``n/a``).
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from tests.fixtures import app_test, assert_no_exception


def _cells(db, sweep_id=None) -> list[dict]:
    from core.store.store import Store

    with Store(db) as store:
        return store.results(sweep_id)


def _ink_by(cells, field) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for c in cells:
        key = "n/a" if c[field] is None else str(c[field])
        out.setdefault(key, []).append(c["ink_coverage"])
    return out


def test_ink_coverage_by_resolution_chart_and_means(app_store):
    at = app_test("workbench/pages/metrics.py")
    assert_no_exception(at)
    assert at.title[0].value == "Metrics"
    assert at.selectbox(key="met_metric").value == "ink_coverage"
    assert at.selectbox(key="met_x").value == "resolution"
    # Only metrics with numbers are offered: no reference drawings, no vectorising in this sweep.
    assert at.selectbox(key="met_metric").options == ["ink_coverage", "fragmentation", "line_width"]
    assert "Fraction of pixels that are ink" in at.caption[0].value

    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["layout"]["title"]["text"] == "ink_coverage by resolution"
    assert spec["data"][0]["type"] == "box" and spec["data"][0]["boxpoints"] == "all"
    assert spec["layout"]["xaxis"]["categoryarray"] == ["64", "128", "n/a"]

    expected = _ink_by(_cells(app_store.db), "resolution")
    table = at.dataframe[0].value
    assert list(table["Resolution"]) == ["64", "128", "n/a"]
    for row in table.to_dict("records"):
        values = expected[row["Resolution"]]
        assert row["cells"] == len(values)
        assert row["mean"] == pytest.approx(np.mean(values)) and row["std"] == pytest.approx(np.std(values))
    assert dict(zip(table["Resolution"], table["cells"])) == {"64": 12, "128": 12, "n/a": 3}
    assert {d.key for d in at.get("download_button")} == {"met_csv"}


def test_colour_axis_sweep_and_metric_choice(app_store):
    at = app_test("workbench/pages/metrics.py")
    at.selectbox(key="met_colour").set_value("mask_mode").run()
    assert_no_exception(at)
    table = at.dataframe[0].value
    assert list(table.columns[:2]) == ["Resolution", "Mask mode"]
    assert len(table) == 5  # 2 resolutions x soft/hard, and the baseline's n/a x n/a
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert sorted(t["name"] for t in spec["data"]) == ["hard", "n/a", "soft"]
    assert spec["layout"]["title"]["text"] == "ink_coverage by resolution and mask mode"

    at.selectbox(key="met_x").set_value("method").run()
    at.selectbox(key="met_colour").set_value("(none)").run()
    at.selectbox(key="met_metric").set_value("line_width").run()
    at.selectbox(key="met_sweep").set_value(app_store.sweep_id).run()
    assert_no_exception(at)
    table = at.dataframe[0].value
    assert dict(zip(table["Method"], table["cells"])) == {"canny": 3, "checkpoint": 24}
    assert "line width" in at.caption[0].value.lower()


def test_without_results_the_page_says_so(app_store, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "empty" / "workbench.db"))
    at = app_test("workbench/pages/metrics.py")
    assert_no_exception(at)
    assert "No finished cells yet" in at.info[0].value


def test_cells_csv_holds_every_cell_with_display_values(swept):
    from core.store.store import CONFIG_COLUMNS, METRIC_COLUMNS
    from workbench.charts import cells_csv

    cells = _cells(swept.db, swept.sweep_id)
    rows = list(csv.DictReader(io.StringIO(cells_csv(cells))))
    assert len(rows) == len(cells) == 27
    assert set(CONFIG_COLUMNS) | set(METRIC_COLUMNS) <= set(rows[0])
    canny = [r for r in rows if r["method"] == "canny"]
    assert len(canny) == 3 and all(r["resolution"] == "n/a" and r["mask_mode"] == "n/a" for r in canny)
    assert {r["gamma"] for r in rows if r["method"] == "checkpoint"} == {"on"}
    by_id = {c["id"]: c for c in cells}
    assert all(float(r["ink_coverage"]) == pytest.approx(by_id[int(r["cell_id"])]["ink_coverage"]) for r in rows)
    assert all(r["edge_f1"] == "" for r in rows)  # no reference drawings: left empty


def test_metric_frame_leaves_out_cells_without_the_metric():
    from workbench.charts import axis_order, metric_frame, metric_means, metrics_with_values

    cells = [
        {"id": 1, "method": "checkpoint", "resolution": 424, "background": 1, "mask_mode": "soft", "ssim": 0.5},
        {"id": 2, "method": "checkpoint", "resolution": 848, "background": 1, "mask_mode": "hard", "ssim": 0.7},
        {"id": 3, "method": "checkpoint", "resolution": 848, "background": 0, "mask_mode": "soft",
         "ssim": float("nan")},
        {"id": 4, "method": "xdog", "resolution": None, "ssim": 0.1},
    ]
    assert metrics_with_values(cells) == ["ssim"]
    frame = metric_frame(cells, "ssim", "resolution", "mask_mode")
    assert frame["cell_id"].tolist() == [1, 2, 4]
    assert frame["mask_mode"].tolist() == ["soft", "hard", "n/a"]
    assert axis_order(cells, "resolution") == ["424", "848", "n/a"]
    assert axis_order(cells, "mask_mode") == ["hard", "soft", "n/a"]  # mask mode does not apply without background
    means = metric_means(frame, "ssim", "resolution")
    assert dict(zip(means["resolution"], means["mean"])) == pytest.approx({"424": 0.5, "848": 0.7, "n/a": 0.1})
