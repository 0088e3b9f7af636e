"""Labels, tags and preferences: what people said about cells."""

from __future__ import annotations

import json

from core.errors import StoreError
from core.store.schema import now


class LabelRecords:
    """Labels, tags and preferences (mixed into :class:`core.store.store.Store`)."""

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
