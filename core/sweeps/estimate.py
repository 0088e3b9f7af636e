"""How long a sweep will take before it runs, and how far a running one has got.

:func:`estimate` prices each cell still to compute from the store's measured
seconds per cell for the same checkpoint (or baseline), side and device;
a side not yet measured is scaled by pixel count from the nearest measured
side of the same checkpoint on the same device; only a cell with neither
falls back to a rough default. :func:`progress` gives a running sweep's ETA
from this run's own pace.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import NamedTuple

from core.sweeps.plan import Plan

__all__ = [
    "DEFAULT_BASELINE_S",
    "DEFAULT_CHECKPOINT_S_AT_424",
    "CellCost",
    "cell_costs",
    "default_cell_seconds",
    "device_type",
    "estimate",
    "format_duration",
    "progress",
]

# Rough seconds per cell when the store has no measurement to go by: a classical baseline is
# milliseconds; a width-1.0 Sketch Net on a 2-core CPU takes about 1.5 s at 424 px and grows with
# the pixel count (the Mask Net runs once per image).
DEFAULT_BASELINE_S = 0.05
DEFAULT_CHECKPOINT_S_AT_424 = 1.5


class CellCost(NamedTuple):
    """What the time of a cell depends on: its key (cached or not), method, Sketch Net and side."""

    key: str
    method: str
    sketch_sha256: str | None
    resolution: int | None


def cell_costs(plan: Plan) -> list[CellCost]:
    """The :class:`CellCost` of every cell of a plan."""
    return [CellCost(c.key, c.config["method"], c.config.get("sketch_sha256"), c.config.get("resolution"))
            for c in plan.cells]


def device_type(device: str) -> str:
    """``cpu`` or ``cuda``: where a spec's device (``auto``, ``cuda:1`` ...) would run here."""
    name = (device or "auto").strip().lower()
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name.split(":")[0]


def default_cell_seconds(method: str, resolution: int | None) -> float:
    """The rough default per cell (see the module constants) when the store has no measurement."""
    if method != "checkpoint":
        return DEFAULT_BASELINE_S
    return DEFAULT_CHECKPOINT_S_AT_424 * ((resolution or 424) / 424) ** 2


def _measurements(store, device: str) -> dict[tuple, dict[int | None, float]]:
    """Mean seconds by (method, sketch sha256) and side, for done cells on this kind of device."""
    sums: dict[tuple, dict] = {}
    for row in store.measured_seconds():
        if not row["device"] or row["device"].split(":")[0] != device:
            continue  # another kind of device: its times say nothing about this one
        by_side = sums.setdefault((row["method"], row["sketch_sha256"]), {})
        total, count = by_side.get(row["resolution"], (0.0, 0))
        by_side[row["resolution"]] = (total + row["seconds"] * row["cells"], count + row["cells"])
    return {k: {side: total / count for side, (total, count) in sides.items()} for k, sides in sums.items()}


def estimate(cells: list[CellCost], store=None, device: str = "cpu") -> dict:
    """Cells to compute and the seconds they should take on ``device`` (``cpu`` or ``cuda``).

    Cells already done (or failed) in the store are cached (0 s). Returns
    ``cells``, ``cached``, ``todo``, ``seconds`` and how many cells were priced
    from a measurement at the same side (``measured``), scaled from another
    side of the same checkpoint (``scaled``), or from the default (``guessed``).
    """
    finished: set[str] = set()
    measured_by: dict = {}
    if store is not None:
        finished = store.finished_cell_keys([c.key for c in cells])
        measured_by = _measurements(store, device_type(device))
    seconds = 0.0
    counts = {"measured": 0, "scaled": 0, "guessed": 0}
    for cell in cells:
        if cell.key in finished:
            continue
        sides = measured_by.get((cell.method, cell.sketch_sha256), {})
        if cell.resolution in sides:
            seconds += sides[cell.resolution]
            counts["measured"] += 1
        elif cell.method == "checkpoint" and cell.resolution and any(sides):
            nearest = min((s for s in sides if s), key=lambda s: abs(s - cell.resolution))
            seconds += sides[nearest] * (cell.resolution / nearest) ** 2
            counts["scaled"] += 1
        else:
            seconds += default_cell_seconds(cell.method, cell.resolution)
            counts["guessed"] += 1
    return {"cells": len(cells), "cached": len(finished), "todo": len(cells) - len(finished), "seconds": seconds,
            **counts}


def _parse_time(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def progress(store, sweep: dict, now: float | None = None) -> dict:
    """Done, failed, total, remaining and ETA (seconds, from this run's pace) of a sweep row."""
    total = sweep.get("cells_total") or 0
    done, failed = sweep.get("done") or 0, sweep.get("failed") or 0
    remaining = max(0, total - done - failed)
    eta = None
    started = _parse_time(sweep.get("started_at"))
    if sweep.get("status") == "running" and started and remaining:
        # Pace of this run only: cells reused from the store finished long before it started.
        n = store.count_cells_finished_since(sweep["id"], sweep["started_at"])
        elapsed = (now or time.time()) - started
        if n and elapsed > 0:
            eta = remaining * elapsed / n
    return {"done": done, "failed": failed, "total": total, "remaining": remaining,
            "fraction": (done + failed) / total if total else 0.0, "eta_s": eta}


def format_duration(seconds: float | None) -> str:
    """``"1 h 05 min"``, ``"3 min 20 s"``, ``"12 s"`` (``"?"`` for None)."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
