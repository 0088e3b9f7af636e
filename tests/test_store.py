"""The store: schema, migrations once across processes, WAL, concurrent writers, tags and preferences."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from core.errors import StoreError
from core.store.store import SCHEMA_VERSION, Store


def test_new_store_is_plain_sqlite_in_wal_with_schema(tmp_path):
    path = tmp_path / "w.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sweeps", "images", "checkpoints", "cells", "sweep_cells", "tags", "labels", "preferences"} <= tables
    unique = [r for r in conn.execute("PRAGMA index_list(cells)") if r[2] == 1]
    assert any("cell_key" in str(conn.execute(f"PRAGMA index_info({r[1]})").fetchall()) for r in unique)


def _open(path, barrier):
    barrier.wait()
    Store(path).close()


def test_migrations_run_once_when_processes_open_a_new_db_together(tmp_path):
    path = tmp_path / "race.db"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open, args=(path, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        # The default vocabulary is inserted by the migration: once, not once per process.
        assert len(store.labels()) == 5


def _tag_many(path, worker, count, barrier):
    store = Store(path)
    barrier.wait()
    for i in range(count):
        store.tag(1, f"w{worker}", f"note {i}", f"user{worker}")
    store.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "busy.db"
    with Store(path) as store, store.write():
        store.conn.execute("INSERT INTO cells (id, cell_key, status) VALUES (1, 'k', 'done')")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_tag_many, args=(path, w, 150, barrier)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Store(path) as store:
        tags = store.tags([1])
        assert len(tags) == 300
        assert {t["label"] for t in tags} == {"w0", "w1"}


def test_write_rolls_back_on_error(tmp_path):
    with Store(tmp_path / "r.db") as store:
        with pytest.raises(RuntimeError), store.write():
            store.conn.execute("INSERT INTO labels (label) VALUES ('temporary')")
            raise RuntimeError("boom")
        assert "temporary" not in store.labels()


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store(bad)


def test_preference_is_one_per_row_and_comparison(tmp_path):
    with Store(tmp_path / "p.db") as store:
        with store.write():
            store.conn.executemany("INSERT INTO cells (id, cell_key, status) VALUES (?, ?, 'done')",
                                   [(1, "a"), (2, "b")])
        store.prefer("cmp", "resolution", "img1", 1, "424", ["424", "848"], "ann")
        store.prefer("cmp", "resolution", "img1", 2, "848", ["424", "848"], "ann")
        prefs = store.preferences()
        assert [(p["cell_id"], p["value"]) for p in prefs] == [(2, "848")]
        store.prefer("cmp", "resolution", "img1", 1, "424", ["424", "848"], "bob")
        assert len(store.preferences()) == 2
        store.unprefer("cmp", "img1", "ann")
        assert [p["author"] for p in store.preferences()] == ["bob"]


def test_labels_vocabulary_is_editable(tmp_path):
    with Store(tmp_path / "l.db") as store:
        store.add_label("too light")
        assert "too light" in store.labels()
        store.remove_label("too light")
        assert "too light" not in store.labels()
        with pytest.raises(StoreError):
            store.add_label("   ")


def test_dead_running_sweep_shows_as_interrupted(tmp_path):
    with Store(tmp_path / "s.db") as store:
        sid = store.upsert_sweep("h", "n", "", {}, 1, "local")
        with store.write():
            # A pid that cannot exist: the process is gone.
            store.conn.execute("UPDATE sweeps SET status='running', pid=?, host=?, heartbeat_at=? WHERE id=?",
                               (2**22 + 12345, __import__("socket").gethostname(), __import__("core.store.store").store.now(), sid))
        assert store.sweep(sid)["status"] == "interrupted"
        assert store.upsert_sweep("h", "renamed", "", {}, 1, "local") == sid
