"""Re-running stored cells: a match on an untouched store, the difference after a setting is edited, clear refusals."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.errors import RerunError
from core.store.store import Store
from core.sweeps.rerun import TOLERANCE, describe_rerun, effective_config, rerun_cell, rerun_row, rerun_sweep


def _done(store: Store, **settings) -> dict:
    return next(c for c in store.results() if c["status"] == "done"
                and all(c[k] == v for k, v in settings.items()))


def _edit(db, sql: str, *params) -> None:
    """Change the copy's database behind the store's back, as a user with sqlite3 would."""
    with sqlite3.connect(db) as conn:
        conn.execute(sql, params)


def test_a_stored_cell_reruns_to_a_match_without_touching_the_store(app_store):
    with Store(app_store.db) as store:
        cell = _done(store, method="checkpoint", resolution=128, mask_mode="soft")
        sketch = store.absolute(cell["sketch_path"])
        before = sketch.read_bytes(), sketch.stat().st_mtime_ns
        report = rerun_cell(store, cell["id"])
        after = store.cell(cell["id"])
    assert report["match"] is True and report["error"] is None
    assert report["max_diff"] <= TOLERANCE and report["pixels"] == cell["width"] * cell["height"]
    assert report["cell_id"] == cell["id"] and report["config_changes"] == {}
    assert report["stored_provenance"] is True
    assert "torch" not in report["provenance_changes"] and "python" not in report["provenance_changes"]
    assert (sketch.read_bytes(), sketch.stat().st_mtime_ns) == before
    assert after == cell
    assert "match (max difference" in describe_rerun(report)


def test_an_edited_setting_in_a_copy_reports_the_mismatch_and_the_change(app_store):
    with Store(app_store.db) as store:
        cell = _done(store, method="checkpoint", resolution=64, mask_mode="soft")
    _edit(app_store.db, "UPDATE cells SET resolution = 128 WHERE id = ?", cell["id"])
    with Store(app_store.db) as store:
        report = rerun_cell(store, cell["id"])
    assert report["match"] is False and report["error"] is None
    assert report["max_diff"] > TOLERANCE and report["differing_pixels"] > 0
    assert report["config_changes"] == {"resolution": {"stored": 64, "current": 128}}
    line = describe_rerun(report)
    assert "MISMATCH" in line and "resolution 64 -> 128" in line


def test_an_edited_canonical_config_counts_too(app_store):
    with Store(app_store.db) as store:
        cell = _done(store, method="checkpoint", resolution=64, mask_mode="hard")
    config = dict(json.loads(cell["config_json"]), resolution=128)
    _edit(app_store.db, "UPDATE cells SET config_json = ? WHERE id = ?", json.dumps(config), cell["id"])
    with Store(app_store.db) as store:
        edited = store.cell(cell["id"])
        assert effective_config(edited) == (config, {"resolution": {"stored": 64, "current": 128}})
        assert rerun_cell(store, cell["id"])["match"] is False


def test_a_cell_from_before_provenance_reruns_with_its_environment_unknown(app_store):
    with Store(app_store.db) as store:
        cell = _done(store, method="canny")
    _edit(app_store.db, "UPDATE cells SET provenance_json = NULL WHERE id = ?", cell["id"])
    with Store(app_store.db) as store:
        report = rerun_cell(store, cell["id"])
    assert report["match"] is True and report["stored_provenance"] is False
    assert report["provenance_changes"]["torch"]["stored"] is None
    assert "unknown (computed before provenance was recorded)" in describe_rerun(report)


def test_a_row_and_a_sweep_rerun_every_computed_cell(app_store):
    with Store(app_store.db) as store:
        first = store.results(app_store.sweep_id)[0]
        row = rerun_row(store, first["image_sha256"], app_store.sweep_id)
        assert {r["cell_id"] for r in row} == {c["id"] for c in store.image_cells(app_store.sweep_id,
                                                                                   [first["image_sha256"]])}
        assert all(r["match"] for r in row)
        everything = rerun_sweep(store, app_store.sweep_id)
    assert len(everything) == app_store.cells and all(r["match"] for r in everything)


def test_refusals_name_the_problem(app_store):
    with Store(app_store.db) as store:
        cell = _done(store, method="checkpoint")
        with pytest.raises(RerunError, match="no cell 999999"):
            rerun_cell(store, 999999)
        with pytest.raises(RerunError, match="no sweep 42"):
            rerun_sweep(store, 42)
        with pytest.raises(RerunError, match="no computed cell of image"):
            rerun_row(store, "0" * 64)
        sketch_ckpt = {c["sha256"]: c for c in store.checkpoints()}[cell["sketch_sha256"]]
        ckpt_path = store.absolute(sketch_ckpt["path"])
        image_path = store.absolute(store.image_file(cell["image_sha256"]))
        sketch_path = store.absolute(cell["sketch_path"])

    saved = ckpt_path.read_bytes()
    ckpt_path.unlink()
    with Store(app_store.db) as store, pytest.raises(RerunError, match="is missing .* put it back"):
        rerun_cell(store, cell["id"])
    ckpt_path.write_bytes(saved)

    original = image_path.read_bytes()
    image_path.write_bytes(original + b"changed")
    with Store(app_store.db) as store, pytest.raises(RerunError, match="changed since it was computed"):
        rerun_cell(store, cell["id"])
    image_path.write_bytes(original)

    sketch_path.unlink()
    with Store(app_store.db) as store, pytest.raises(RerunError, match="stored sketch .* is missing"):
        rerun_cell(store, cell["id"])


def test_effective_config_takes_the_edited_side_whichever_it_is():
    from core.sweeps.cell import cell_key

    config = {"method": "checkpoint", "resolution": 64, "softctr": 0.5, "gamma": True, "precision": "fp32"}
    row = {"id": 1, "image_sha256": "a" * 64, "cell_key": cell_key("a" * 64, config), "config_json": json.dumps(config),
           "resolution": 64, "softctr": 0.5, "gamma": 1, "precision": "fp32", "provenance_json": None}
    assert effective_config(row) == (config, {})
    # A column edited (no provenance recorded): the key still matches config_json, the column is the change.
    assert effective_config(dict(row, softctr=0.9)) == ({**config, "softctr": 0.9},
                                                        {"softctr": {"stored": 0.5, "current": 0.9}})
    # config_json edited: its hash is no longer the key, so the columns say what the cell was computed with.
    edited = dict(row, config_json=json.dumps({**config, "gamma": False}))
    assert effective_config(edited) == ({**config, "gamma": False}, {"gamma": {"stored": True, "current": False}})
