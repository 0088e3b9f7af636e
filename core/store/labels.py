"""Labels, tags and preferences: what people said about cells.

The label vocabulary is a list of words people pick from; a tag puts a label,
a free note or both on one cell; a preference marks the cell a person chose
in one row of one comparison (one mark per comparison, row and person).
"""

from __future__ import annotations

import json

from core.errors import StoreError
from core.store.schema import now


class LabelRecords:
    """Labels, tags and preferences (mixed into :class:`core.store.store.Store`)."""

    def labels(self) -> list[str]:
        """The label vocabulary, in alphabetical order."""
        return [r["label"] for r in self.query("SELECT label FROM labels ORDER BY label")]

    def add_label(self, label: str) -> None:
        """Add a label to the vocabulary (surrounding spaces dropped; already there: nothing changes)."""
        label = label.strip()
        if not label:
            raise StoreError("a label cannot be empty")
        with self.write() as db:
            db["labels"].insert({"label": label, "created_at": now()}, ignore=True)

    def remove_label(self, label: str) -> None:
        """Remove a label from the vocabulary (tags that used it keep it)."""
        with self.write():
            self.conn.execute("DELETE FROM labels WHERE label = ?", (label,))

    def tag(self, cell_id: int, label: str | None, note: str | None, author: str) -> int:
        """Tag a cell with a label and/or a note; returns the tag's id."""
        with self.write() as db:
            return db["tags"].insert(
                {"cell_id": cell_id, "label": label, "note": note, "author": author, "created_at": now()}
            ).last_pk

    def untag(self, tag_id: int) -> None:
        """Delete one tag."""
        with self.write():
            self.conn.execute("DELETE FROM tags WHERE id = ?", (tag_id,))

    def tags(self, cell_ids: list[int] | None = None) -> list[dict]:
        """Every tag (``cell_ids`` None) or the tags of those cells, oldest first."""
        if cell_ids is None:
            return self.query("SELECT * FROM tags ORDER BY id")
        if not cell_ids:
            return []
        marks = ",".join("?" * len(cell_ids))
        return self.query(f"SELECT * FROM tags WHERE cell_id IN ({marks}) ORDER BY id", list(cell_ids))

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
        """Clear ``author``'s mark on a row of a comparison."""
        with self.write():
            self.conn.execute(
                "DELETE FROM preferences WHERE comparison = ? AND row_key = ? AND author = ?",
                (comparison, row_key, author),
            )

    def preferences(self, comparison: str | None = None, author: str | None = None) -> list[dict]:
        """The preferred marks, oldest first: all of them, or those of one comparison and/or one author."""
        where, params = [], []
        if comparison is not None:
            where.append("comparison = ?")
            params.append(comparison)
        if author is not None:
            where.append("author = ?")
            params.append(author)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self.query(f"SELECT * FROM preferences{clause} ORDER BY id", params)
