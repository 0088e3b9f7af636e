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
            if row["status"] == "running" and sweep_alive(row):
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
