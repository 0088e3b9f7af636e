"""Strengths from blind votes (core.ranking.strengths): simulated voters with known strengths."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import RankingError

TRUTH = {"A.pth": 1.0, "B.pth": 0.3, "C.pth": -0.2, "D.pth": -1.1}


def _simulated_votes(n: int, seed: int = 1) -> list[dict]:
    """Votes of voters who pick among 2-4 shown values with Plackett-Luce probabilities from TRUTH."""
    rng = np.random.default_rng(seed)
    names = list(TRUTH)
    votes = []
    for i in range(n):
        k = int(rng.integers(2, 5))
        shown = list(rng.choice(names, size=k, replace=False))
        weights = np.exp([TRUTH[s] for s in shown])
        winner = shown[int(rng.choice(k, p=weights / weights.sum()))]
        votes.append({"shown": [{"cell_id": 100 * i + j, "value": s} for j, s in enumerate(shown)],
                      "winner_value": winner, "winner_cell_id": 100 * i + shown.index(winner)})
    return votes


def test_simulated_voters_give_the_true_order_inside_the_intervals():
    from core.ranking.strengths import rank

    ranking = rank(_simulated_votes(800), "sketch_checkpoint", bootstrap=300)
    assert ranking.values == ["A.pth", "B.pth", "C.pth", "D.pth"]
    mean = np.mean(list(TRUTH.values()))
    for value, low, high in zip(ranking.values, ranking.low, ranking.high):
        assert low <= TRUTH[value] - mean <= high, (value, low, high)
    assert ranking.votes == 800 and ranking.ties == 0
    assert ranking.beats[0][1] > 0.5 and abs(ranking.beats[0][1] + ranking.beats[1][0] - 1) < 1e-9
    assert "apart" in ranking.separation_hint()


def test_few_votes_ask_for_more_and_ties_are_counted_apart():
    from core.ranking.strengths import rank

    votes = _simulated_votes(12, seed=3)
    votes.append({"shown": [{"cell_id": 1, "value": "A.pth"}, {"cell_id": 2, "value": "B.pth"}],
                  "winner_value": None, "winner_cell_id": None})
    ranking = rank(votes, bootstrap=100)
    assert ranking.ties == 1 and ranking.votes == 12
    hint = ranking.separation_hint()
    assert "more votes" in hint or "apart" in hint
    with pytest.raises(RankingError, match="no votes with a winner"):
        rank(votes[-1:])
    with pytest.raises(RankingError):
        rank([])


def test_a_metric_that_follows_the_winners_agrees_and_one_that_opposes_does_not():
    from core.ranking.strengths import metric_agreement, rank

    votes = _simulated_votes(300, seed=5)
    cells = {}
    for v in votes:
        for s in v["shown"]:
            good = TRUTH[s["value"]]
            cells[s["cell_id"]] = {"edge_f1": good, "chamfer": good, "ssim": None}
    ranking = rank(votes, bootstrap=50)
    rows = {r["metric"]: r for r in metric_agreement(votes, cells, ["edge_f1", "chamfer", "ssim"], ranking)}
    assert rows["edge_f1"]["accuracy"] > 0.6 and rows["edge_f1"]["tau"] == 1.0  # higher is better, as the voters
    assert rows["chamfer"]["accuracy"] < 0.4 and rows["chamfer"]["tau"] == -1.0  # lower is better: it disagrees
    assert rows["ssim"]["pairs"] == 0 and rows["ssim"]["accuracy"] is None
