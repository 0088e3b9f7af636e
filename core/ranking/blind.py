"""Blind trials: which cells to show for a row of a comparison, and recording the vote the same way everywhere.

The Blind ranking page and ``workbench vote`` both go through
:func:`record_vote`: the shown cells must be of one image and differ in one
setting (the axis, found from the cells when not given); each cell stands for
its display value of that axis (:func:`core.axes.axis_value`), and the other
settings they share are the comparison's fixed part.
"""

from __future__ import annotations

import json
import random

from core.axes import AXES, axis_value
from core.errors import RankingError

__all__ = ["blind_comparison", "draw_trial", "record_vote", "vote_axis"]


def vote_axis(cells: list[dict]) -> str:
    """The one setting whose values differ between ``cells`` (a RankingError when none or several do).

    A setting that does not apply to some of the cells (a baseline has no
    mask mode) is not a difference.
    """
    differ = []
    for a in AXES:
        values = [axis_value(c, a) for c in cells]
        if None not in values and len(set(values)) > 1:
            differ.append(a)
    if len(differ) != 1:
        found = ", ".join(differ) or "none"
        raise RankingError(f"the shown cells must differ in exactly one setting (they differ in: {found}); "
                           "pass --axis to say which one the vote is about")
    return differ[0]


def blind_comparison(axis: str, cells: list[dict]) -> str:
    """The comparison's key: the axis, and the settings every shown cell shares (as display values)."""
    fixed = {}
    for a in AXES:
        values = {axis_value(c, a) for c in cells}
        if a != axis and len(values) == 1 and None not in values:
            fixed[a] = values.pop()
    return json.dumps({"axis": axis, "fixed": fixed}, sort_keys=True, separators=(",", ":"))


def record_vote(store, cell_ids: list[int], winner: int | None, author: str, axis: str | None = None) -> int:
    """Record one blind vote: ``cell_ids`` in the order shown, ``winner`` one of them or None (a tie).

    Returns the vote's id. Raises RankingError (one line) for unknown cells,
    cells of different images, repeated values or a winner not shown.
    """
    ids = [int(i) for i in cell_ids]
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise RankingError("a vote needs two or more different cells (--shown CELL CELL ...)")
    found = {c["id"]: c for c in store.cells_by_id(ids)}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise RankingError(f"no cell {', '.join(missing)} in the store; `workbench results` lists the cell ids")
    cells = [found[i] for i in ids]
    if len({c["image_sha256"] for c in cells}) != 1:
        raise RankingError("the shown cells must be outputs of one image (one row)")
    if axis is not None and axis not in AXES:
        raise RankingError(f"unknown axis {axis!r}; use one of {', '.join(AXES)}")
    axis = axis or vote_axis(cells)
    values = [axis_value(c, axis) for c in cells]
    if None in values or len(set(values)) != len(values):
        raise RankingError(f"each shown cell must have its own value of {axis} (got {values})")
    if winner is not None and int(winner) not in ids:
        raise RankingError(f"the winner {winner} is not one of the shown cells ({', '.join(map(str, ids))})")
    shown = [{"cell_id": c["id"], "value": v} for c, v in zip(cells, values)]
    return store.vote(blind_comparison(axis, cells), axis, cells[0]["image_sha256"], shown, winner, author)


def draw_trial(rows: list[list[dict]], k: int, rng: random.Random) -> list[dict] | None:
    """One trial: a random row with at least two done cells, ``k`` of them (or all it has), in shuffled order.

    ``rows`` are the comparison's rows, each the list of its cells (one per
    column value). None when no row has two cells to compare.
    """
    usable = [[c for c in row if c and c.get("status") == "done"] for row in rows]
    usable = [row for row in usable if len(row) >= 2]
    if not usable:
        return None
    row = rng.choice(usable)
    shown = rng.sample(row, min(k, len(row)))
    rng.shuffle(shown)
    return shown
