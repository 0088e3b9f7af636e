"""The standings of one axis from the store's blind votes: strengths and metric agreement in one call."""

from __future__ import annotations

from core.ranking.strengths import Ranking, metric_agreement, rank
from core.sketch.metric_names import METRIC_NAMES

__all__ = ["standings"]


def standings(store, axis: str, comparison: str | None = None, bootstrap: int = 400) -> tuple[Ranking, list[dict]]:
    """Strengths of ``axis``'s values from its votes (of one comparison, or all) and each metric's agreement."""
    votes = store.votes(comparison=comparison, axis=axis)
    ranking = rank(votes, axis, bootstrap=bootstrap)
    ids = sorted({int(s["cell_id"]) for v in votes for s in v["shown"]})
    cells = {c["id"]: c for c in store.cells_by_id(ids)}
    return ranking, metric_agreement(votes, cells, list(METRIC_NAMES), ranking)
