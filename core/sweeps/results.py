"""The public record of each computed cell: what ``workbench results`` lists, as JSON, CSV or text."""

from __future__ import annotations

import json

from core.errors import SweepError
from core.store.schema import METRIC_COLUMNS

__all__ = ["RESULT_FIELDS", "result_records"]

RESULT_FIELDS = ("cell_id", "sweep_id", "image", "test_set", "method", "sketch_checkpoint", "mask_checkpoint",
                 "resolution", "mask_mode", "softctr", "gamma", "merge", "background", "profile", "precision",
                 "vectorize", "baseline_params", "device", "status", "error", "sketch_path", "thumb_path",
                 "seconds", "cell_key", "image_sha256", "provenance")


def result_records(store, sweep_id: int | None = None) -> list[dict]:
    """The public record of each cell (of a sweep, or all): config, status, absolute paths, seconds, metrics.

    ``provenance`` is the cell's recorded provenance as an object (see
    :mod:`core.provenance`), or None for a cell computed before it was recorded.

    Raises:
        SweepError: there is no sweep ``sweep_id`` in the store.
    """
    if sweep_id is not None and not store.has_sweep(sweep_id):
        raise SweepError(f"no sweep {sweep_id} in {store.path}; `workbench results` lists all cells")
    records = []
    for row in store.results(sweep_id):
        rec = dict(row, cell_id=row["id"], image=row["image_name"])
        for key in ("sketch_path", "thumb_path"):
            rec[key] = str(store.absolute(row[key])) if row[key] else None
        if rec.get("seconds") is not None:
            rec["seconds"] = round(rec["seconds"], 4)
        rec["provenance"] = json.loads(row["provenance_json"]) if row.get("provenance_json") else None
        records.append({k: rec.get(k) for k in RESULT_FIELDS + METRIC_COLUMNS})
    return records
