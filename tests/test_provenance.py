"""Provenance per cell: the environment described, recorded with each computed cell, inside its PNG, in results."""

from __future__ import annotations

import json
import platform
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime

import pytest

import core
from core import provenance
from core.provenance import (
    PNG_KEY,
    cell_provenance,
    environment_provenance,
    git_state,
    provenance_changes,
    provenance_json,
)


@pytest.fixture
def fresh_git_state():
    """``git_state`` asked anew in this test (it is cached per process), and again afterwards."""
    git_state.cache_clear()
    yield git_state
    git_state.cache_clear()


def test_environment_names_code_versions_and_device():
    import torch

    env = environment_provenance("cpu", "fp32")
    assert set(provenance.ENVIRONMENT_KEYS) | {"precision"} == set(env)
    assert env["workbench_version"] == core.__version__
    assert env["python"] == platform.python_version() and env["torch"] == torch.__version__
    assert env["cuda"] == torch.version.cuda
    assert env["device"] == "cpu" and env["device_name"] and env["precision"] == "fp32"
    assert json.loads(provenance_json(env)) == env  # JSON-ready as it is


def test_git_commit_and_dirty_flag_of_this_checkout(fresh_git_state):
    if shutil.which("git") is None or not (provenance.CHECKOUT / ".git").exists():
        pytest.skip("not run from a git checkout")
    head = subprocess.run(["git", "-C", str(provenance.CHECKOUT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    commit, dirty = fresh_git_state()
    assert commit == head and len(commit) == 40
    assert isinstance(dirty, bool)


def test_git_state_is_unknown_without_git_or_outside_a_checkout(fresh_git_state, monkeypatch, tmp_path):
    def missing(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(provenance.subprocess, "run", missing)
    assert fresh_git_state() == (None, None)
    assert environment_provenance("cpu")["git_commit"] is None
    monkeypatch.undo()

    def slow(*args, **kwargs):
        raise subprocess.TimeoutExpired("git", 3)

    fresh_git_state.cache_clear()
    monkeypatch.setattr(provenance.subprocess, "run", slow)
    assert fresh_git_state() == (None, None)
    monkeypatch.undo()

    fresh_git_state.cache_clear()
    monkeypatch.setattr(provenance, "CHECKOUT", tmp_path)  # an install that is no checkout
    assert fresh_git_state() == (None, None)


def test_cell_provenance_holds_config_checkpoints_precision_and_utc_time():
    env = environment_provenance("cpu")
    config = {"method": "checkpoint", "precision": "bf16", "sketch_sha256": "a" * 64, "mask_sha256": None}
    before = datetime.now(UTC).replace(microsecond=0)
    prov = cell_provenance(config, {"sketch": "a" * 64, "mask": None}, env)
    assert prov["config"] == config and prov["precision"] == "bf16"
    assert prov["checkpoints"] == {"sketch": "a" * 64}
    when = datetime.fromisoformat(prov["computed_at"])
    assert when.utcoffset().total_seconds() == 0 and before <= when <= datetime.now(UTC)
    assert {k: prov[k] for k in provenance.ENVIRONMENT_KEYS} == {k: env[k] for k in provenance.ENVIRONMENT_KEYS}


def test_provenance_changes_name_what_differs():
    stored = environment_provenance("cpu", "fp32")
    assert provenance_changes(stored, dict(stored)) == {}
    changed = provenance_changes(stored, dict(stored, torch="9.9", precision="bf16"))
    assert changed == {"torch": {"stored": stored["torch"], "current": "9.9"},
                       "precision": {"stored": "fp32", "current": "bf16"}}
    unknown = provenance_changes(None, stored)
    assert unknown["torch"] == {"stored": None, "current": stored["torch"]}


def test_every_computed_cell_records_its_provenance_in_the_store_and_its_png(swept):
    from core.files import png_text, read_gray
    from core.store.store import Store

    with Store(swept.db, readonly=True) as store:
        rows = [r for r in store.results() if r["status"] == "done"]
        assert rows
        for row in rows:
            prov = json.loads(row["provenance_json"])
            assert prov["config"] == json.loads(row["config_json"])
            assert prov["checkpoints"] == {k: row[f"{k}_sha256"] for k in ("sketch", "mask") if row[f"{k}_sha256"]}
            assert prov["device"] == row["device"] == "cpu" and prov["workbench_version"] == core.__version__
            # The sketch file says the same, word for word, and still decodes as a grey image.
            path = store.absolute(row["sketch_path"])
            assert png_text(path) == {PNG_KEY: row["provenance_json"]}
            assert read_gray(path).shape == (row["height"], row["width"])


def test_results_list_provenance_as_an_object_and_null_for_older_cells(swept, tmp_path):
    from core.store.store import Store
    from core.sweeps.results import result_records

    db = tmp_path / "w.db"
    shutil.copy(swept.db, db)
    with sqlite3.connect(db) as conn:  # a cell computed before provenance was recorded
        conn.execute("UPDATE cells SET provenance_json = NULL WHERE id = 1")
    with Store(db, readonly=True) as store:
        records = {r["cell_id"]: r for r in result_records(store)}
        rows = {r["id"]: r for r in store.results()}
    assert records[1]["provenance"] is None
    other = next(r for i, r in records.items() if i != 1 and r["status"] == "done")
    assert other["provenance"] == json.loads(rows[other["cell_id"]]["provenance_json"])
    assert other["image_sha256"] == rows[other["cell_id"]]["image_sha256"]
