"""The workbench's SQLite store: one class over every table, all SQL behind it.

``Store(path)`` opens (and migrates) a database; its methods are grouped by
concept in the mixin modules beside this one, so each noun has one home:
sweeps (:mod:`core.store.sweeps`), cells (:mod:`core.store.cells`) and labels,
tags and preferences (:mod:`core.store.labels`), training curves and
evaluation scores (:mod:`core.store.scores`), blind votes
(:mod:`core.store.votes`).
"""

from __future__ import annotations

from core.store.cells import CellRecords
from core.store.database import BUSY_TIMEOUT_S, Database
from core.store.labels import LabelRecords
from core.store.schema import CONFIG_COLUMNS, HEARTBEAT_S, METRIC_COLUMNS, SCHEMA_VERSION, STALE_AFTER_S, now
from core.store.scores import ScoreRecords
from core.store.sweeps import SweepRecords
from core.store.votes import VoteRecords

__all__ = ["Store", "now", "BUSY_TIMEOUT_S", "CONFIG_COLUMNS", "HEARTBEAT_S", "METRIC_COLUMNS", "SCHEMA_VERSION",
           "STALE_AFTER_S"]


class Store(SweepRecords, CellRecords, LabelRecords, ScoreRecords, VoteRecords, Database):
    """An open workbench database. Cheap to create; one per thread or process."""
