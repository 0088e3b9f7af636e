"""Blind votes: which of the cells shown without labels a person picked.

Kept apart from the preferred marks of the Compare page (those are made with
the settings in view); :mod:`core.ranking` turns votes into strengths.
"""

from __future__ import annotations

import json

from core.errors import StoreError
from core.store.schema import now


class VoteRecords:
    """Blind votes (mixed into :class:`core.store.store.Store`)."""

    def vote(self, comparison: str, axis: str, row_key: str, shown: list[dict], winner_cell_id: int | None,
             author: str) -> int:
        """Record one vote; returns its id.

        Args:
            shown: the cells in the order shown, as ``{"cell_id", "value"}`` (2 or more, distinct cells).
            winner_cell_id: one of the shown cells, or None for a tie (all equally good).
        """
        ids = [int(s["cell_id"]) for s in shown]
        if len(ids) < 2 or len(set(ids)) != len(ids):
            raise StoreError("a vote needs two or more different cells shown")
        if winner_cell_id is not None and int(winner_cell_id) not in ids:
            raise StoreError(f"the winner {winner_cell_id} is not one of the cells shown ({', '.join(map(str, ids))})")
        winner = next((s for s in shown if winner_cell_id is not None and int(s["cell_id"]) == int(winner_cell_id)),
                      None)
        row = {"comparison": comparison, "axis": axis, "row_key": row_key,
               "shown_json": json.dumps([{"cell_id": int(s["cell_id"]), "value": str(s["value"])} for s in shown]),
               "winner_cell_id": None if winner is None else int(winner["cell_id"]),
               "winner_value": None if winner is None else str(winner["value"]), "tie": int(winner is None),
               "author": author, "created_at": now()}
        with self.write() as db:
            return db["votes"].insert(row).last_pk

    def unvote(self, vote_id: int) -> None:
        """Delete one vote (undo)."""
        with self.write():
            self.conn.execute("DELETE FROM votes WHERE id = ?", (vote_id,))

    def votes(self, comparison: str | None = None, axis: str | None = None) -> list[dict]:
        """Votes, oldest first: all, or of one comparison, or on one axis; ``shown`` parsed from its JSON."""
        where, params = [], []
        if comparison is not None:
            where.append("comparison = ?")
            params.append(comparison)
        if axis is not None:
            where.append("axis = ?")
            params.append(axis)
        sql = "SELECT * FROM votes" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        rows = self.query(sql, params)
        for r in rows:
            r["shown"] = json.loads(r["shown_json"])
        return rows
