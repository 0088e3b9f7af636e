"""Sweeps and their workers: create, claim, heartbeat, finish, list."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime

from core.processes import pid_alive
from core.store.schema import STALE_AFTER_S, now


class SweepRecords:
    """Sweeps and their workers (mixed into :class:`core.store.store.Store`)."""

    def start_sweep(self, spec_hash: str, name: str, note: str, spec: dict, cells_total: int,
                    executor: str) -> tuple[int, bool]:
        """Record the sweep of ``spec_hash`` and claim it for this process, in one transaction.

        A new spec creates its sweep; a known one is the same sweep resumed (its
        name, note, size and executor become this run's). Returns
        ``(sweep_id, claimed)``; when another live process runs the sweep it is
        not claimed and nothing is changed.
        """
        self.refresh_statuses()
        stamp = now()
        claim = {"status": "running", "pid": os.getpid(), "host": socket.gethostname(), "started_at": stamp,
                 "heartbeat_at": stamp, "finished_at": None, "error": None}
        with self.write() as db:
            row = next(db["sweeps"].rows_where("spec_hash = ?", [spec_hash]), None)
            if row is not None:
                if row["status"] == "running" and sweep_alive(row):
                    return row["id"], False
                # The executor of this run: the same sweep may be resumed by another one.
                db["sweeps"].update(row["id"], dict(claim, name=name, note=note, cells_total=cells_total,
                                                    executor=executor))
                return row["id"], True
            sweep_id = db["sweeps"].insert(dict(claim, spec_hash=spec_hash, name=name, note=note,
                                                spec_json=json.dumps(spec, sort_keys=True), executor=executor,
                                                cells_total=cells_total, created_at=stamp)).last_pk
        return sweep_id, True

    def heartbeat(self, sweep_id: int) -> None:
        """Mark a running sweep alive now."""
        with self.write() as db:
            db["sweeps"].update(sweep_id, {"heartbeat_at": now()})

    def finish_sweep(self, sweep_id: int, status: str, error: str | None = None) -> None:
        """Record a sweep's end (done, cancelled, interrupted) and its error, if any."""
        with self.write() as db:
            db["sweeps"].update(sweep_id, {"status": status, "finished_at": now(), "error": error})

    def refresh_statuses(self) -> None:
        """Mark running sweeps whose process is gone (or silent too long) as interrupted."""
        rows = self.query("SELECT * FROM sweeps WHERE status = 'running'")
        dead = [r["id"] for r in rows if not sweep_alive(r)]
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
        """One sweep as :meth:`sweeps` lists it, or None."""
        return next((s for s in self.sweeps() if s["id"] == sweep_id), None)

    def has_sweep(self, sweep_id: int) -> bool:
        """Whether a sweep with this id exists."""
        return bool(self.query("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)))

    def sweep_status(self, sweep_id: int) -> str | None:
        """A sweep's recorded status (not refreshed), or None when there is no such sweep."""
        rows = self.query("SELECT status FROM sweeps WHERE id = ?", (sweep_id,))
        return rows[0]["status"] if rows else None

    def running_pid(self, spec_hash: str) -> int | None:
        """The pid of the live process running the sweep of ``spec_hash`` (-1 when unknown), else None."""
        self.refresh_statuses()
        rows = self.query("SELECT pid FROM sweeps WHERE spec_hash = ? AND status = 'running'", (spec_hash,))
        return (rows[0]["pid"] or -1) if rows else None

    def count_failed_cells(self, sweep_id: int) -> int:
        """How many of a sweep's cells are recorded as failed."""
        return self.query(
            "SELECT count(*) AS n FROM sweep_cells sc JOIN cells c ON c.id = sc.cell_id "
            "WHERE sc.sweep_id = ? AND c.status = 'failed'", (sweep_id,)
        )[0]["n"]

    def count_cells_finished_since(self, sweep_id: int, since: str) -> int:
        """How many of a sweep's cells finished at or after ``since`` (an ISO timestamp): this run's pace."""
        return self.query(
            "SELECT count(*) AS n FROM sweep_cells sc JOIN cells c ON c.id = sc.cell_id "
            "WHERE sc.sweep_id = ? AND c.finished_at >= ?", (sweep_id, since)
        )[0]["n"]

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


def sweep_alive(sweep: dict) -> bool:
    """Whether a running sweep's process still exists and its heartbeat is recent."""
    beat = sweep.get("heartbeat_at")
    if beat:
        age = time.time() - datetime.fromisoformat(beat).timestamp()
        if age > STALE_AFTER_S:
            return False
    pid, host = sweep.get("pid"), sweep.get("host")
    if pid and host == socket.gethostname():
        return pid_alive(pid)
    return True  # another host's process: only its heartbeat tells
