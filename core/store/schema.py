"""The store's schema: the column lists and the numbered migrations.

Each migration runs once, in order, inside the write lock; ``PRAGMA
user_version`` records how many have run. Never edit a released migration:
add a new one.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlite_utils

from core.sketch.metric_names import METRIC_NAMES

# A running sweep refreshes its heartbeat at least this often; a sweep silent for
# longer (or whose process is gone) is shown as interrupted.
HEARTBEAT_S = 5.0
STALE_AFTER_S = 60.0

# The metric columns, in column order (migrations add them in this order): the one list is in core.sketch.
METRIC_COLUMNS = METRIC_NAMES

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


# The Compare grid's row order (test set, image name, sha256): pages of a sweep's images are read through it.
IMAGE_ORDER_INDEX = "idx_cells_image_order"


def _migration_3(db: sqlite_utils.Database) -> None:
    # Paging the grid on the database side: images in the grid's order, each image's cells beside each other.
    db["cells"].create_index(["test_set", "image_name", "image_sha256"], index_name=IMAGE_ORDER_INDEX)


def _migration_4(db: sqlite_utils.Database) -> None:
    # Where each cell came from (code, environment, checkpoints, config, time) as one JSON object; cells computed
    # before this version have none (null).
    db["cells"].add_column("provenance_json", str)
    # Blind votes: the cells one person was shown for one row of a comparison, in the order shown, and the one
    # they picked (``tie`` when they said all were equally good: no winner).
    db["votes"].create(
        {
            "id": int,
            "comparison": str,  # the comparison's key: axis and fixed settings (core.ranking)
            "axis": str,
            "row_key": str,  # the image's sha256
            "shown_json": str,  # [{"cell_id", "value"}, ...] in the order shown
            "winner_cell_id": int,  # None for a tie
            "winner_value": str,
            "tie": int,
            "author": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("winner_cell_id", "cells", "id")],
    )
    db["votes"].create_index(["comparison"])


MIGRATIONS = [_migration_1, _migration_2, _migration_3, _migration_4]
SCHEMA_VERSION = len(MIGRATIONS)
