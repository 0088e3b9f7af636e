"""The standings of one axis from the store's blind votes: strengths and metric agreement in one call."""

from __future__ import annotations

from core.ranking.strengths import Ranking, metric_agreement, rank
from core.sketch.metric_names import METRIC_NAMES

__all__ = ["standings"]


def standings(store, axis: str, comparison: str | None = None, bootstrap: int = 400,
              authors: list[str] | None = None) -> tuple[Ranking, list[dict]]:
    """Strengths of ``axis``'s values from its votes (of one comparison, or all) and each metric's agreement.

    ``authors`` keeps the votes of those people only (None: everyone's votes, combined).
    """
    votes = store.votes(comparison=comparison, axis=axis)
    if authors is not None:
        votes = [v for v in votes if v["author"] in set(authors)]
    ranking = rank(votes, axis, bootstrap=bootstrap)
    ids = sorted({int(s["cell_id"]) for v in votes for s in v["shown"]})
    cells = {c["id"]: c for c in store.cells_by_id(ids)}
    return ranking, metric_agreement(votes, cells, list(METRIC_NAMES), ranking)
