"""The store: schema, migrations once across processes, WAL, concurrent writers, tags and preferences."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import sqlite3

import pytest

from core.errors import StoreError
from core.store.store import SCHEMA_VERSION, Store, now


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


def _run_together(target, arg_tuples: list[tuple], timeout: float) -> None:
    """Run ``target(*args, barrier)`` in one spawned process per ``args``; all must exit 0 within ``timeout``.

    The shared barrier lets each process line up before the part that must overlap.
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(arg_tuples))
    procs = [ctx.Process(target=target, args=(*args, barrier)) for args in arg_tuples]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
        assert p.exitcode == 0


def _open(path, barrier):
    barrier.wait()
    Store(path).close()


def test_migrations_run_once_when_processes_open_a_new_db_together(tmp_path):
    path = tmp_path / "race.db"
    _run_together(_open, [(path,)] * 4, timeout=60)
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
    _run_together(_tag_many, [(path, w, 150) for w in range(2)], timeout=120)
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
        sid, claimed = store.start_sweep("h", "n", "", {}, 1, "local")
        assert claimed and store.sweep_status(sid) == "running" and store.running_pid("h") == os.getpid()
        with store.write():
            # A pid that cannot exist: the process is gone.
            store.conn.execute("UPDATE sweeps SET status='running', pid=?, host=?, heartbeat_at=? WHERE id=?",
                               (2**22 + 12345, socket.gethostname(), now(), sid))
        assert store.sweep(sid)["status"] == "interrupted"
        assert store.running_pid("h") is None
        assert store.start_sweep("h", "renamed", "", {}, 1, "ray") == (sid, True)
        assert (store.sweep(sid)["name"], store.sweep(sid)["executor"]) == ("renamed", "ray")


def test_a_sweep_running_elsewhere_is_not_claimed_and_not_changed(tmp_path):
    with Store(tmp_path / "s.db") as store:
        sid, _ = store.start_sweep("h", "first", "a note", {"x": 1}, 5, "ray")
        before = store.sweep(sid)
        # This live process runs it (fresh heartbeat): a second start is refused and changes nothing.
        assert store.start_sweep("h", "second", "other", {"x": 2}, 9, "local") == (sid, False)
        assert store.sweep(sid) == before
        assert store.has_sweep(sid) and not store.has_sweep(sid + 1) and store.sweep_status(sid + 1) is None
        other, claimed = store.start_sweep("h2", "other sweep", "", {}, 1, "local")
        assert claimed and other != sid


def test_cell_queries(tmp_path):
    with Store(tmp_path / "c.db") as store:
        sid, _ = store.start_sweep("h", "n", "", {}, 4, "local")
        cells = [{"cell_key": k, "method": m, "sketch_sha256": s, "resolution": r}
                 for k, m, s, r in (("a", "checkpoint", "s1", 64), ("b", "checkpoint", "s1", 64),
                                    ("c", "checkpoint", "s1", 128), ("d", "canny", None, None))]
        store.register_cells(sid, cells)
        store.upsert_images([{"sha256": "i", "path": "/data/set/x.png", "name": "x.png"}])
        store.finish_cells([("a", {"status": "done", "seconds": 1.0, "device": "cpu"}),
                            ("b", {"status": "done", "seconds": 3.0, "device": "cpu"}),
                            ("c", {"status": "failed", "seconds": 0.0, "device": "cpu"}),
                            ("d", {"status": "done", "seconds": 0.5, "device": "cuda"})])
        assert store.finished_cell_keys(["a", "c", "d", "zz"]) == {"a", "c", "d"}
        assert store.count_failed_cells(sid) == 1
        assert store.count_cells_finished_since(sid, "2000-01-01") == 4
        assert store.count_cells_finished_since(sid, "2999-01-01") == 0
        rows = {(r["method"], r["resolution"], r["device"]): (r["seconds"], r["cells"])
                for r in store.measured_seconds()}
        assert rows == {("checkpoint", 64, "cpu"): (2.0, 2), ("canny", None, "cuda"): (0.5, 1)}
        assert store.image_paths() == ["/data/set/x.png"]
