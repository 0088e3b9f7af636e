"""Training curves and evaluation scores: what training and the overfitting check recorded.

Curves are kept as the CSV text they were imported from (table
``training_curves``, one row per name); scores as one row per checkpoint, test
set and metric with every per-image value (table ``evaluations``). Checking a
curve's format and turning rows into scores is :mod:`core.training`'s work;
these methods only store and fetch.
"""

from __future__ import annotations

import json

from core.store.schema import now

__all__ = ["ScoreRecords"]


class ScoreRecords:
    """Training curves and evaluation scores (mixed into :class:`core.store.store.Store`)."""

    def save_curves(self, curves: list[tuple[str, str, str]]) -> None:
        """Store ``(name, source, csv_text)`` curves in one transaction, replacing same-named ones.

        The texts are stored as given: check them first
        (:func:`core.training.curves.save_curves` does).
        """
        with self.write():
            for name, source, text in curves:
                self.conn.execute(
                    "INSERT INTO training_curves (name, source, csv_text, imported_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET source = excluded.source, csv_text = excluded.csv_text, "
                    "imported_at = excluded.imported_at",
                    (name, source, text, now()),
                )

    def curves(self) -> list[dict]:
        """The stored curves (``name``, ``source``, ``csv_text``, ``imported_at``), by name."""
        return self.query("SELECT name, source, csv_text, imported_at FROM training_curves ORDER BY name")

    def record_evaluations(self, rows: list[dict]) -> None:
        """Keep evaluation scores, one row per checkpoint, test set and metric, replacing earlier ones.

        Each row has ``checkpoint_sha256``, ``checkpoint`` (its label), ``test_set``,
        ``split``, ``metric``, ``values`` (the per-image scores), ``mean`` and ``std``.
        """
        with self.write():
            for r in rows:
                values = list(r["values"])
                self.conn.execute(
                    "INSERT INTO evaluations (checkpoint_sha256, checkpoint, test_set, split, metric, images, mean, "
                    "std, values_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (checkpoint_sha256, test_set, metric) DO UPDATE SET checkpoint = excluded.checkpoint, "
                    "split = excluded.split, images = excluded.images, mean = excluded.mean, std = excluded.std, "
                    "values_json = excluded.values_json, created_at = excluded.created_at",
                    (r["checkpoint_sha256"], r["checkpoint"], r["test_set"], r["split"], r["metric"], len(values),
                     r["mean"], r["std"], json.dumps(values), now()),
                )

    def evaluations(self) -> list[dict]:
        """The stored evaluation rows, by checkpoint, metric, split (train first) and test set.

        Each row has the table's columns plus ``values``, the per-image scores
        decoded from ``values_json``.
        """
        rows = self.query("SELECT * FROM evaluations ORDER BY checkpoint, metric, split DESC, test_set")
        for r in rows:
            r["values"] = [float(v) for v in json.loads(r["values_json"] or "[]")]
        return rows
