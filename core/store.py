"""The SQLite store: sweeps, images, checkpoints, cells, tags and preferences.

A plain SQLite file (default ``runs/workbench.db``) that any SQLite tool can
open. The store owns the schema: numbered migrations recorded in
``PRAGMA user_version`` and applied once, inside ``BEGIN IMMEDIATE``, even
when several processes open a new database at the same moment. The database
runs in WAL mode with a busy timeout, and every write goes through
:meth:`Store.write` (a ``BEGIN IMMEDIATE`` transaction), so readers never
block the sweep that is writing and two writers queue instead of failing.

Paths of output files are stored relative to the database's folder.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlite_utils

BUSY_TIMEOUT_S = 60.0
# A running sweep refreshes its heartbeat at least this often; a sweep silent for
# longer (or whose process is gone) is shown as interrupted.
HEARTBEAT_S = 5.0
STALE_AFTER_S = 60.0

METRIC_COLUMNS = (
    "ink_coverage",
    "fragmentation",
    "line_width",
    "strokes",
    "stroke_length_total",
    "stroke_length_mean",
    "edge_precision",
    "edge_recall",
    "edge_f1",
    "chamfer",
    "ssim",
)

# Config fields of a cell, in the order the app offers them as axes.
CONFIG_COLUMNS = (
    "method",
    "sketch_checkpoint",
    "mask_checkpoint",
    "resolution",
    "mask_mode",
    "softctr",
    "gamma",
    "merge",
    "background",
    "profile",
    "precision",
    "vectorize",
    "baseline_params",
)


class StoreError(Exception):
    """The database cannot be used; the message says why and what to do."""


def now() -> str:
    """UTC timestamp in ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _migration_1(db: sqlite_utils.Database) -> None:
    db["sweeps"].create(
        {
            "id": int,
            "spec_hash": str,
            "name": str,
            "note": str,
            "spec_json": str,
            "status": str,  # pending, running, done, interrupted, cancelled
            "executor": str,
            "pid": int,
            "host": str,
            "cells_total": int,
            "created_at": str,
            "started_at": str,
            "finished_at": str,
            "heartbeat_at": str,
            "error": str,
        },
        pk="id",
    )
    db["sweeps"].create_index(["spec_hash"], unique=True)
    db["images"].create(
        {"sha256": str, "width": int, "height": int, "size_bytes": int, "path": str, "name": str, "test_set": str},
        pk="sha256",
    )
    db["checkpoints"].create(
        {
            "sha256": str,
            "label": str,
            "file_name": str,
            "path": str,
            "format": str,
            "architecture": str,
            "role": str,
            "width": float,
            "parameters": int,
            "size_bytes": int,
            "metadata_json": str,
            "added_at": str,
        },
        pk="sha256",
    )
    columns = {
        "id": int,
        "cell_key": str,
        "image_sha256": str,
        "image_name": str,
        "image_path": str,
        "test_set": str,
        "width": int,
        "height": int,
        "method": str,  # "checkpoint" or a baseline name
        "sketch_checkpoint": str,  # label: file name @ short sha
        "sketch_sha256": str,
        "mask_checkpoint": str,
        "mask_sha256": str,
        "resolution": int,
        "mask_mode": str,
        "softctr": float,
        "gamma": int,
        "merge": int,
        "background": int,
        "profile": str,
        "precision": str,
        "vectorize": int,
        "baseline_params": str,
        "config_json": str,
        "pipeline_version": str,
        "status": str,  # pending, done, failed
        "error": str,
        "device": str,
        "seconds": float,
        "t_decode": float,
        "t_mask": float,
        "t_sketch": float,
        "t_post": float,
        "peak_mem_mb": float,
        "mask_path": str,
        "cropped_path": str,
        "sketch_path": str,
        "thumb_path": str,
        "npz_path": str,
        "svg_path": str,
        "gif_path": str,
        "vector_path": str,
        "metrics_json": str,
        "created_at": str,
        "finished_at": str,
        "sweep_id": int,  # the sweep that computed it
    }
    columns.update({m: float for m in METRIC_COLUMNS})
    db["cells"].create(columns, pk="id")
    db["cells"].create_index(["cell_key"], unique=True)
    db["cells"].create_index(["image_sha256"])
    db["sweep_cells"].create(
        {"sweep_id": int, "cell_id": int, "position": int},
        pk=("sweep_id", "cell_id"),
        foreign_keys=[("sweep_id", "sweeps", "id"), ("cell_id", "cells", "id")],
    )
    db["labels"].create({"label": str, "created_at": str}, pk="label")
    for label in ("double contour", "too dark", "broken lines", "missing detail", "noisy background"):
        db["labels"].insert({"label": label, "created_at": now()})
    db["tags"].create(
        {"id": int, "cell_id": int, "label": str, "note": str, "author": str, "created_at": str},
        pk="id",
        foreign_keys=[("cell_id", "cells", "id")],
    )
    db["tags"].create_index(["cell_id"])
    # One preferred cell per (comparison, row, author): a comparison is the set of columns shown.
    db["preferences"].create(
        {
            "id": int,
            "comparison": str,
            "axis": str,
            "row_key": str,
            "cell_id": int,
            "value": str,
            "candidates_json": str,
            "author": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("cell_id", "cells", "id")],
    )
    db["preferences"].create_index(["comparison", "row_key", "author"], unique=True)
    db["training_curves"].create(
        {"id": int, "name": str, "source": str, "csv_text": str, "imported_at": str}, pk="id"
    )
    db["training_curves"].create_index(["name"], unique=True)
    db["evaluations"].create(
        {
            "id": int,
            "checkpoint_sha256": str,
            "checkpoint": str,
            "test_set": str,
            "split": str,
            "metric": str,
            "images": int,
            "mean": float,
            "std": float,
            "values_json": str,
            "created_at": str,
        },
        pk="id",
    )
    db["evaluations"].create_index(["checkpoint_sha256", "test_set", "metric"], unique=True)


def _migration_2(db: sqlite_utils.Database) -> None:
    # Per-worker progress of a sweep run by the Ray executor, written by the driver only
    # (workers never open the database). One row per worker slot of the sweep's latest run.
    db["sweep_workers"].create(
        {
            "sweep_id": int,
            "worker": str,  # "w0", "w1", ...: the slot, kept across restarts of its process
            "node": str,  # host name of the node the worker runs on
            "device": str,  # e.g. "cpu (1 thread)" or "cuda:3 (NVIDIA H100)"
            "pid": int,  # the worker's process id on that node (changes when Ray restarts it)
            "status": str,  # starting, running, restarting, done, cancelled, failed
            "cells_done": int,
            "cells_failed": int,
            "restarts": int,  # times the worker's process died and its cells were queued again
            "started_at": str,
            "updated_at": str,
        },
        pk=("sweep_id", "worker"),
        foreign_keys=[("sweep_id", "sweeps", "id")],
    )


MIGRATIONS = [_migration_1, _migration_2]
SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    """An open workbench database. Cheap to create; one per thread or process."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False):
        self.path = Path(path)
        self.root = self.path.parent.resolve()
        if readonly and not self.path.exists():
            raise StoreError(f"database {self.path} does not exist; run a sweep first (workbench sweep ...)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable SQLite database ({exc}); point --db at another file") from None
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.migrate()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Apply the migrations this database lacks, exactly once across processes."""
        if self.version >= SCHEMA_VERSION:
            if self.version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {self.version}, newer than this workbench "
                    f"({SCHEMA_VERSION}); upgrade the workbench"
                )
            return
        with self.write():
            # Re-read inside the lock: another process may have migrated meanwhile.
            for number in range(self.version, SCHEMA_VERSION):
                MIGRATIONS[number](self.db)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A ``BEGIN IMMEDIATE`` transaction: commits on success, rolls back on error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def query(self, sql: str, params=()) -> list[dict]:
        """Run a read query and return rows as dicts."""
        return list(self.db.query(sql, params))

    # ------------------------------------------------------------------ paths

    def relative(self, path: str | os.PathLike | None) -> str | None:
        """Store a path relative to the DB folder when it lies inside it."""
        if path is None:
            return None
        path = Path(path).resolve()
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def absolute(self, stored: str | None) -> Path | None:
        """Resolve a stored path (relative to the DB folder, or absolute)."""
        if not stored:
            return None
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    # ------------------------------------------------------------------ sweeps

    def upsert_sweep(self, spec_hash: str, name: str, note: str, spec: dict, cells_total: int, executor: str) -> int:
        """Create the sweep for ``spec_hash`` or return the existing one (the same sweep resumed)."""
        with self.write() as db:
            row = self.conn.execute("SELECT id FROM sweeps WHERE spec_hash = ?", (spec_hash,)).fetchone()
            if row:
                # The executor of the latest run: the same sweep may be resumed by another one.
                db["sweeps"].update(row[0], {"name": name, "note": note, "cells_total": cells_total,
                                             "executor": executor})
                return row[0]
            return db["sweeps"].insert(
                {
                    "spec_hash": spec_hash,
                    "name": name,
                    "note": note,
                    "spec_json": json.dumps(spec, sort_keys=True),
                    "status": "pending",
                    "executor": executor,
                    "cells_total": cells_total,
                    "created_at": now(),
                }
            ).last_pk

    def claim_sweep(self, sweep_id: int) -> bool:
        """Mark a sweep running in this process; False if another live process runs it."""
        self.refresh_statuses()
        with self.write() as db:
            row = db["sweeps"].get(sweep_id)
            if row["status"] == "running" and _alive(row):
                return False
            db["sweeps"].update(
                sweep_id,
                {
                    "status": "running",
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started_at": now(),
                    "heartbeat_at": now(),
                    "finished_at": None,
                    "error": None,
                },
            )
        return True

    def heartbeat(self, sweep_id: int) -> None:
        with self.write() as db:
            db["sweeps"].update(sweep_id, {"heartbeat_at": now()})

    def finish_sweep(self, sweep_id: int, status: str, error: str | None = None) -> None:
        with self.write() as db:
            db["sweeps"].update(sweep_id, {"status": status, "finished_at": now(), "error": error})

    def refresh_statuses(self) -> None:
        """Mark running sweeps whose process is gone (or silent too long) as interrupted."""
        rows = self.query("SELECT * FROM sweeps WHERE status = 'running'")
        dead = [r["id"] for r in rows if not _alive(r)]
        if dead:
            with self.write():
                self.conn.executemany(
                    "UPDATE sweeps SET status = 'interrupted' WHERE id = ? AND status = 'running'", [(i,) for i in dead]
                )

    def sweeps(self) -> list[dict]:
        """All sweeps, newest first, with live counts of done/failed cells."""
        self.refresh_statuses()
        return self.query(
            """
            SELECT s.*,
              (SELECT count(*) FROM sweep_cells sc JOIN cells c ON c.id = sc.cell_id
                 WHERE sc.sweep_id = s.id AND c.status = 'done') AS done,
              (SELECT count(*) FROM sweep_cells sc JOIN cells c ON c.id = sc.cell_id
                 WHERE sc.sweep_id = s.id AND c.status = 'failed') AS failed
            FROM sweeps s ORDER BY s.id DESC
            """
        )

    def sweep(self, sweep_id: int) -> dict | None:
        return next((s for s in self.sweeps() if s["id"] == sweep_id), None)

    def reset_sweep_workers(self, sweep_id: int) -> None:
        """Forget the worker rows of a sweep's earlier run (a new run starts its own)."""
        with self.write():
            self.conn.execute("DELETE FROM sweep_workers WHERE sweep_id = ?", (sweep_id,))

    def update_sweep_workers(self, sweep_id: int, rows: list[dict]) -> None:
        """Insert or update worker rows (``worker`` plus the fields that changed) in one transaction."""
        if not rows:
            return
        stamp = now()
        with self.write() as db:
            for row in rows:
                db["sweep_workers"].upsert(dict(row, sweep_id=sweep_id, updated_at=stamp),
                                           pk=("sweep_id", "worker"))

    def sweep_workers(self, sweep_id: int) -> list[dict]:
        """The workers of a sweep's latest Ray run, in slot order (empty for local runs)."""
        return self.query("SELECT * FROM sweep_workers WHERE sweep_id = ? ORDER BY length(worker), worker",
                          (sweep_id,))

    # ------------------------------------------------------------------ images & checkpoints

    def upsert_images(self, rows: list[dict]) -> None:
        with self.write() as db:
            db["images"].upsert_all(rows, pk="sha256")

    def upsert_checkpoint(self, row: dict) -> None:
        row = dict(row, added_at=now())
        with self.write() as db:
            if not db["checkpoints"].count_where("sha256 = ?", [row["sha256"]]):
                db["checkpoints"].insert(row, pk="sha256")
            else:
                db["checkpoints"].update(row["sha256"], {"path": row["path"], "label": row["label"]})

    def checkpoints(self) -> list[dict]:
        return self.query("SELECT * FROM checkpoints ORDER BY file_name")

    # ------------------------------------------------------------------ cells

    def register_cells(self, sweep_id: int, cells: list[dict]) -> dict[str, dict]:
        """Insert missing cells as pending, link all to the sweep, and return ``key -> row``."""
        with self.write() as db:
            for start in range(0, len(cells), 500):
                chunk = cells[start : start + 500]
                db["cells"].insert_all(
                    [dict(c, status="pending", created_at=now()) for c in chunk], ignore=True, batch_size=500
                )
            keys = [c["cell_key"] for c in cells]
            rows = self._cells_by_key(keys)
            self.conn.executemany(
                "INSERT OR IGNORE INTO sweep_cells (sweep_id, cell_id, position) VALUES (?, ?, ?)",
                [(sweep_id, rows[k]["id"], i) for i, k in enumerate(keys)],
            )
        return rows

    def _cells_by_key(self, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT * FROM cells WHERE cell_key IN ({marks})", chunk):
                found[row["cell_key"]] = row
        return found

    def finish_cells(self, updates: list[tuple[str, dict]]) -> None:
        """Record finished cells (``(cell_key, fields)`` pairs) in one transaction."""
        if not updates:
            return
        with self.write():
            for key, fields in updates:
                fields = dict(fields, finished_at=now())
                sets = ", ".join(f"[{k}] = ?" for k in fields)
                self.conn.execute(f"UPDATE cells SET {sets} WHERE cell_key = ?", [*fields.values(), key])

    def results(self, sweep_id: int | None = None) -> list[dict]:
        """One record per cell (of a sweep, or all), with checkpoint labels and absolute paths."""
        if sweep_id is None:
            rows = self.query("SELECT * FROM cells ORDER BY id")
        else:
            rows = self.query(
                "SELECT c.*, sc.sweep_id AS in_sweep FROM sweep_cells sc JOIN cells c ON c.id = sc.cell_id "
                "WHERE sc.sweep_id = ? ORDER BY sc.position",
                (sweep_id,),
            )
            for r in rows:
                r["computed_in_sweep"] = r["sweep_id"]
                r["sweep_id"] = r.pop("in_sweep")
        return rows

    # ------------------------------------------------------------------ tags & preferences

    def labels(self) -> list[str]:
        return [r["label"] for r in self.query("SELECT label FROM labels ORDER BY label")]

    def add_label(self, label: str) -> None:
        label = label.strip()
        if not label:
            raise StoreError("a label cannot be empty")
        with self.write() as db:
            db["labels"].insert({"label": label, "created_at": now()}, ignore=True)

    def remove_label(self, label: str) -> None:
        with self.write():
            self.conn.execute("DELETE FROM labels WHERE label = ?", (label,))

    def tag(self, cell_id: int, label: str | None, note: str | None, author: str) -> int:
        with self.write() as db:
            return db["tags"].insert(
                {"cell_id": cell_id, "label": label, "note": note, "author": author, "created_at": now()}
            ).last_pk

    def untag(self, tag_id: int) -> None:
        with self.write():
            self.conn.execute("DELETE FROM tags WHERE id = ?", (tag_id,))

    def tags(self, cell_ids: list[int] | None = None) -> list[dict]:
        if cell_ids is None:
            return self.query("SELECT * FROM tags ORDER BY id")
        if not cell_ids:
            return []
        marks = ",".join("?" * len(cell_ids))
        return self.query(f"SELECT * FROM tags WHERE cell_id IN ({marks}) ORDER BY id", cell_ids)

    def prefer(self, comparison: str, axis: str, row_key: str, cell_id: int, value: str,
               candidates: list[str], author: str) -> None:
        """Mark ``cell_id`` as the preferred cell of a row in a comparison (replacing an earlier mark)."""
        with self.write():
            self.conn.execute(
                "INSERT INTO preferences (comparison, axis, row_key, cell_id, value, candidates_json, author, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (comparison, row_key, author) DO UPDATE SET "
                "cell_id = excluded.cell_id, value = excluded.value, candidates_json = excluded.candidates_json, "
                "created_at = excluded.created_at",
                (comparison, axis, row_key, cell_id, value, json.dumps(candidates), author, now()),
            )

    def unprefer(self, comparison: str, row_key: str, author: str) -> None:
        with self.write():
            self.conn.execute(
                "DELETE FROM preferences WHERE comparison = ? AND row_key = ? AND author = ?",
                (comparison, row_key, author),
            )

    def preferences(self) -> list[dict]:
        return self.query("SELECT * FROM preferences ORDER BY id")


def _alive(sweep: dict) -> bool:
    """Whether a running sweep's process still exists and its heartbeat is recent."""
    beat = sweep.get("heartbeat_at")
    if beat:
        age = time.time() - datetime.fromisoformat(beat).timestamp()
        if age > STALE_AFTER_S:
            return False
    pid, host = sweep.get("pid"), sweep.get("host")
    if pid and host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _is_zombie(pid)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False
