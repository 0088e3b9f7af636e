"""Strengths from blind votes: Plackett-Luce (Bradley-Terry for two) with bootstrap intervals, and metric agreement.

A vote (``Store.votes()``) shows 2-4 cells of one row, each standing for one
value of the comparison's axis (e.g. a sketch checkpoint), and names the one
picked, or none for a tie. Each picked vote is a top-1 choice among the values
shown; :func:`rank` fits their log-strengths with ``choix`` (I-LSR, lightly
regularised so a value that never lost stays finite), resamples the votes
(bootstrap) for 95% intervals, and gives the probability that each value beats
each other. Ties carry no top-1 information and are counted apart.

:func:`metric_agreement` asks, for each metric, how often the metric's better
value is the human winner (pairwise accuracy over every winner-loser pair of
every vote) and whether the values' mean metric orders them as the strengths
do (Kendall's tau).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

import numpy as np

from core.errors import RankingError

__all__ = ["HIGHER_IS_BETTER", "LOWER_IS_BETTER", "Ranking", "metric_agreement", "rank", "ranking_csv",
           "top1_data"]

# Metrics whose direction is known: the rest are read as "higher wins" and their accuracy says how well that holds.
HIGHER_IS_BETTER = frozenset({"edge_precision", "edge_recall", "edge_f1", "ssim", "stroke_length_mean"})
LOWER_IS_BETTER = frozenset({"chamfer", "fragmentation"})
ALPHA = 0.01  # I-LSR regularisation: keeps a never-beaten value's strength finite
Z95 = 1.959964


@dataclass
class Ranking:
    """Strengths of the values of one axis from blind votes."""

    axis: str
    values: list[str]  # the values, strongest first
    strength: list[float]  # log-strength (zero mean), as ``values``
    low: list[float]  # 95% bootstrap interval
    high: list[float]
    beats: list[list[float]]  # beats[i][j]: probability that values[i] is picked over values[j]
    votes: int  # votes with a winner (used)
    ties: int  # tie votes (counted, not used)
    wins: dict[str, int] = field(default_factory=dict)
    shown: dict[str, int] = field(default_factory=dict)

    def separation_hint(self) -> str:
        """How many more votes until the top two's intervals stop overlapping, if the gap between them holds."""
        if len(self.values) < 2 or self.votes == 0:
            return "not enough votes yet"
        gap = self.strength[0] - self.strength[1]
        if self.low[0] > self.high[1]:
            return f"the top two are apart: {self.values[0]} is ahead of {self.values[1]} (95% intervals do not overlap)"
        if gap <= 1e-9:
            return f"{self.values[0]} and {self.values[1]} are level so far: more votes will tell"
        # Interval half-widths shrink about as 1/sqrt(votes): solve for the votes at which they sum to the gap.
        spread = (self.high[0] - self.strength[0]) + (self.strength[1] - self.low[1])
        needed = self.votes * (spread / gap) ** 2
        more = max(1, math.ceil(needed - self.votes))
        return f"about {more} more votes until {self.values[0]} and {self.values[1]} separate (if the gap holds)"

    def to_rows(self) -> list[dict]:
        """One dict per value: strength, interval, wins, times shown."""
        return [{"axis": self.axis, "value": v, "strength": round(s, 4), "low": round(lo, 4), "high": round(hi, 4),
                 "wins": self.wins.get(v, 0), "shown": self.shown.get(v, 0)}
                for v, s, lo, hi in zip(self.values, self.strength, self.low, self.high)]


def top1_data(votes: list[dict]) -> tuple[list[str], list[tuple[int, tuple[int, ...]]], int]:
    """The values seen in ``votes`` (sorted), each picked vote as ``(winner index, loser indices)``, and the ties.

    A vote whose shown cells repeat a value counts that value once.
    """
    values = sorted({str(s["value"]) for v in votes for s in v["shown"]})
    index = {v: i for i, v in enumerate(values)}
    data, ties = [], 0
    for v in votes:
        if v.get("winner_value") is None:
            ties += 1
            continue
        winner = index[str(v["winner_value"])]
        losers = tuple(sorted({index[str(s["value"])] for s in v["shown"]} - {winner}))
        if losers:
            data.append((winner, losers))
    return values, data, ties


def _fit(n: int, data: list[tuple[int, tuple[int, ...]]]) -> np.ndarray:
    import choix

    return np.asarray(choix.ilsr_top1(n, data, alpha=ALPHA), dtype=float)


def rank(votes: list[dict], axis: str = "", bootstrap: int = 400, seed: int = 0) -> Ranking:
    """Fit strengths to ``votes`` with 95% bootstrap intervals (``bootstrap`` resamples of the votes, seeded).

    Raises:
        RankingError: no vote with a winner, or fewer than two values.
    """
    values, data, ties = top1_data(votes)
    if len(values) < 2 or not data:
        raise RankingError(f"no votes with a winner among two or more values of {axis or 'the axis'} yet; "
                           "vote on the Blind ranking page or with `workbench vote`")
    n = len(values)
    est = _fit(n, data)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(bootstrap):
        sample = [data[i] for i in rng.integers(0, len(data), len(data))]
        draws.append(_fit(n, sample))
    lo, hi = np.percentile(np.array(draws), [2.5, 97.5], axis=0)
    order = list(np.argsort(-est, kind="stable"))
    beats = [[float(1 / (1 + math.exp(est[j] - est[i]))) for j in order] for i in order]
    wins = {values[w]: 0 for w in range(n)}
    shown = {values[w]: 0 for w in range(n)}
    for w, losers in data:
        wins[values[w]] += 1
        for i in (w, *losers):
            shown[values[i]] += 1
    return Ranking(axis, [values[i] for i in order], [float(est[i]) for i in order], [float(lo[i]) for i in order],
                   [float(hi[i]) for i in order], beats, len(data), ties, wins, shown)


def metric_agreement(votes: list[dict], cells: dict[int, dict], metrics: list[str],
                     ranking: Ranking | None = None) -> list[dict]:
    """For each metric: pairwise accuracy against the human winners and Kendall's tau against the strengths.

    Args:
        cells: the shown cells by id, with their metric values (``Store.cells_by_id``).
        ranking: the strengths to compare each value's mean metric with (tau); None skips tau.

    Returns:
        One dict per metric with ``metric, direction, pairs, accuracy, tau`` (None where not computable),
        best accuracy first.
    """
    from scipy.stats import kendalltau

    out = []
    for metric in metrics:
        sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
        agree, pairs = 0.0, 0
        by_value: dict[str, list[float]] = {}
        for v in votes:
            got = {int(s["cell_id"]): _number(cells.get(int(s["cell_id"]), {}).get(metric)) for s in v["shown"]}
            for s in v["shown"]:
                if got[int(s["cell_id"])] is not None:
                    by_value.setdefault(str(s["value"]), []).append(got[int(s["cell_id"])])
            if v.get("winner_cell_id") is None or got.get(int(v["winner_cell_id"])) is None:
                continue
            w = got[int(v["winner_cell_id"])]
            for cell_id, x in got.items():
                if cell_id == int(v["winner_cell_id"]) or x is None:
                    continue
                pairs += 1
                agree += 1.0 if sign * (w - x) > 0 else 0.5 if w == x else 0.0
        tau = None
        if ranking is not None:
            shared = [v for v in ranking.values if v in by_value]
            if len(shared) >= 2:
                means = [sign * float(np.mean(by_value[v])) for v in shared]
                strengths = [ranking.strength[ranking.values.index(v)] for v in shared]
                t = kendalltau(means, strengths).statistic
                tau = None if t is None or math.isnan(t) else round(float(t), 3)
        direction = "lower is better" if metric in LOWER_IS_BETTER else (
            "higher is better" if metric in HIGHER_IS_BETTER else "higher (direction not known)")
        out.append({"metric": metric, "direction": direction, "pairs": pairs,
                    "accuracy": round(agree / pairs, 3) if pairs else None, "tau": tau})
    return sorted(out, key=lambda r: -(r["accuracy"] if r["accuracy"] is not None else -1))


def _number(x) -> float | None:
    """A finite float, or None."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def ranking_csv(ranking: Ranking) -> str:
    """The strengths as CSV: ``axis,value,strength,low,high,wins,shown``."""
    buf = io.StringIO()
    rows = ranking.to_rows()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
