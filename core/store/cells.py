"""Images, checkpoints and cells: register, finish, read back."""

from __future__ import annotations

from core.store.schema import now


class CellRecords:
    """Images, checkpoints and cells (mixed into :class:`core.store.store.Store`)."""

    def upsert_images(self, rows: list[dict]) -> None:
        """Record images by content hash, updating those already known."""
        with self.write() as db:
            db["images"].upsert_all(rows, pk="sha256")

    def upsert_checkpoint(self, row: dict) -> None:
        """Record a checkpoint by content hash; a known one only gets its new path and label."""
        row = dict(row, added_at=now())
        with self.write() as db:
            if not db["checkpoints"].count_where("sha256 = ?", [row["sha256"]]):
                db["checkpoints"].insert(row, pk="sha256")
            else:
                db["checkpoints"].update(row["sha256"], {"path": row["path"], "label": row["label"]})

    def checkpoints(self) -> list[dict]:
        """Every recorded checkpoint, by file name."""
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

    def cell(self, cell_id: int) -> dict | None:
        """One cell's row by id, or None."""
        rows = self.query("SELECT * FROM cells WHERE id = ?", (cell_id,))
        return rows[0] if rows else None

    def finished_cell_keys(self, keys: list[str]) -> set[str]:
        """Which of these cell keys the store holds as done or failed (cached: a sweep will not compute them)."""
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r["cell_key"] for r in self.query(
                f"SELECT cell_key FROM cells WHERE status IN ('done', 'failed') AND cell_key IN ({marks})", chunk))
        return found

    def measured_seconds(self) -> list[dict]:
        """Mean seconds of done cells per (method, sketch_sha256, resolution, device), with how many were timed."""
        return self.query(
            "SELECT method, sketch_sha256, resolution, device, avg(seconds) AS seconds, count(*) AS cells "
            "FROM cells WHERE status = 'done' AND seconds IS NOT NULL "
            "GROUP BY method, sketch_sha256, resolution, device"
        )

    def image_paths(self) -> list[str]:
        """Every input image path the store has seen (distinct)."""
        return [r["path"] for r in self.query("SELECT DISTINCT path FROM images")]
