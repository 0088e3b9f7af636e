"""Counting preferences: how often each value of an axis was preferred, overall and head to head.

A preference row (``Store.preferences()``) says which column of a comparison
one person preferred for one image: ``axis`` (e.g. ``resolution`` or
``resolution / mask_mode``), ``value`` (the preferred column, e.g. ``848``)
and ``candidates_json`` (every column shown). Counting needs nothing else.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict


def comparison_key(axes: list[str], fixed: dict[str, str | None], columns: list[str]) -> str:
    """The identity of a comparison: its column axes, the fixed settings and the columns shown."""
    return json.dumps({"axes": list(axes), "fixed": dict(sorted(fixed.items())), "columns": list(columns)},
                      sort_keys=True, separators=(",", ":"))


def _candidates(pref: dict) -> list[str]:
    """The columns a preference was chosen among (empty when not recorded or unreadable)."""
    try:
        values = json.loads(pref.get("candidates_json") or "[]")
    except ValueError:
        values = []
    return [str(v) for v in values]


def preference_counts(prefs: list[dict]) -> list[dict]:
    """Per axis and value: rows where it was preferred, rows where it was shown, and the share.

    Returns dicts with ``axis, value, preferred, shown, share``, sorted by axis then share.
    """
    preferred: dict[tuple[str, str], int] = defaultdict(int)
    shown: dict[tuple[str, str], int] = defaultdict(int)
    for p in prefs:
        axis = p["axis"]
        candidates = _candidates(p) or [str(p["value"])]
        for value in dict.fromkeys(candidates):
            shown[(axis, value)] += 1
        preferred[(axis, str(p["value"]))] += 1
        if str(p["value"]) not in candidates:
            shown[(axis, str(p["value"]))] += 1
    rows = [
        {"axis": axis, "value": value, "preferred": preferred.get((axis, value), 0), "shown": n,
         "share": preferred.get((axis, value), 0) / n if n else 0.0}
        for (axis, value), n in shown.items()
    ]
    return sorted(rows, key=lambda r: (r["axis"], -r["share"], -r["preferred"], r["value"]))


def pairwise_counts(prefs: list[dict]) -> list[dict]:
    """Head to head: for each axis and pair of values shown together, how often each won.

    ``rows`` counts the rows where both were shown and one of the two was preferred;
    ``wins`` those where ``value`` was. Each unordered pair appears once, the
    winner of the pair first (ties: alphabetical).
    """
    wins: dict[tuple[str, str, str], int] = defaultdict(int)
    for p in prefs:
        winner = str(p["value"])
        for other in dict.fromkeys(_candidates(p)):
            if other != winner:
                wins[(p["axis"], winner, other)] += 1
    seen = set()
    rows = []
    for axis, a, b in sorted(wins):
        pair = (axis, *sorted((a, b)))
        if pair in seen:
            continue
        seen.add(pair)
        a_wins, b_wins = wins.get((axis, a, b), 0), wins.get((axis, b, a), 0)
        if b_wins > a_wins or (b_wins == a_wins and b < a):
            a, b, a_wins, b_wins = b, a, b_wins, a_wins
        rows.append({"axis": axis, "value": a, "other": b, "wins": a_wins, "rows": a_wins + b_wins})
    return sorted(rows, key=lambda r: (r["axis"], -r["rows"], r["value"]))


def sentence(pair: dict) -> str:
    """``"848 preferred over 424 in 31 of 40 rows"``."""
    return f"{pair['value']} preferred over {pair['other']} in {pair['wins']} of {pair['rows']} rows"


def to_csv(rows: list[dict], fields: list[str] | None = None) -> str:
    """Rows as CSV text with a header."""
    out = io.StringIO()
    fields = fields or (list(rows[0]) if rows else ["axis", "value", "preferred", "shown", "share"])
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
