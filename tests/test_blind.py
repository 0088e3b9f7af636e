"""Blind trials and votes (core.ranking.blind), and ``workbench vote`` / ``workbench rank`` end to end."""

from __future__ import annotations

import json
import random

import pytest

from core.errors import RankingError
from tests.fixtures import run_cli


def _row_cells(db) -> list[dict]:
    """The done checkpoint cells of the first image that differ only in resolution (soft mask, stage1)."""
    from core.store.store import Store

    with Store(db, readonly=True) as store:
        cells = [c for c in store.results() if c["status"] == "done" and c["method"] == "checkpoint"]
    first = cells[0]
    same = [c for c in cells if c["image_sha256"] == first["image_sha256"]
            and all(c[k] == first[k] for k in ("mask_checkpoint", "mask_mode", "softctr", "gamma", "merge",
                                               "background", "precision", "sketch_checkpoint", "vectorize"))]
    assert len({c["resolution"] for c in same}) >= 2
    return same


def test_a_vote_records_the_cells_shown_their_values_and_the_winner(app_store):
    from core.ranking.blind import record_vote
    from core.store.store import Store

    cells = _row_cells(app_store.db)[:2]
    with Store(app_store.db) as store:
        vote_id = record_vote(store, [cells[1]["id"], cells[0]["id"]], cells[0]["id"], "tester")
        (vote,) = store.votes()
        assert vote["id"] == vote_id and vote["axis"] == "resolution" and vote["author"] == "tester"
        assert [s["cell_id"] for s in vote["shown"]] == [cells[1]["id"], cells[0]["id"]]  # the order shown
        assert vote["winner_value"] == str(cells[0]["resolution"]) and not vote["tie"]
        assert json.loads(vote["comparison"])["axis"] == "resolution"
        record_vote(store, [cells[0]["id"], cells[1]["id"]], None, "tester")
        assert store.votes()[-1]["tie"] == 1 and store.votes()[-1]["winner_cell_id"] is None
        with pytest.raises(RankingError, match="not one of the shown cells"):
            record_vote(store, [cells[0]["id"], cells[1]["id"]], 999999, "tester")
        with pytest.raises(RankingError, match="no cell 424242"):
            record_vote(store, [cells[0]["id"], 424242], None, "tester")
        other = next(c for c in store.results() if c["image_sha256"] != cells[0]["image_sha256"])
        with pytest.raises(RankingError, match="one image"):
            record_vote(store, [cells[0]["id"], other["id"]], None, "tester")
        assert store.preferences() == []  # votes are kept apart from the Compare page's marks


def test_a_trial_is_k_cells_of_one_row_in_shuffled_order():
    from core.ranking.blind import draw_trial

    rows = [[{"id": 1, "status": "done"}, {"id": 2, "status": "failed"}, None],
            [{"id": 3, "status": "done"}, {"id": 4, "status": "done"}, {"id": 5, "status": "done"}]]
    orders = {tuple(c["id"] for c in draw_trial(rows, 3, random.Random(seed))) for seed in range(30)}
    assert all(sorted(o) == [3, 4, 5] for o in orders) and len(orders) > 1  # the only usable row, shuffled
    assert draw_trial(rows[:1], 2, random.Random(0)) is None


def test_vote_and_rank_from_the_command_line(app_store):
    cells = _row_cells(app_store.db)[:2]
    env = {"WORKBENCH_USER": "script"}
    a, b = str(cells[0]["id"]), str(cells[1]["id"])
    for winner in (a, a, a, b, a):
        r = run_cli("vote", "--db", str(app_store.db), "--shown", a, b, "--winner", winner, env=env)
        assert r.returncode == 0, r.stderr
    r = run_cli("vote", "--db", str(app_store.db), "--shown", a, b, "--winner", "77777", env=env)
    assert r.returncode != 0 and r.stderr.strip().startswith("error:") and "77777" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("rank", "--db", str(app_store.db), "--axis", "resolution", "--json", "--bootstrap", "50", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["votes"] == 5 and out["strengths"][0]["value"] == str(cells[0]["resolution"])
    assert out["strengths"][0]["wins"] == 4 and out["strengths"][0]["low"] <= out["strengths"][0]["strength"]
    assert {m["metric"] for m in out["metric_agreement"]} >= {"edge_f1", "ink_coverage"}
    text = run_cli("rank", "--db", str(app_store.db), "--axis", "resolution", "--bootstrap", "50", env=env)
    assert "votes with a winner" in text.stdout and "more votes" in text.stdout or "apart" in text.stdout
    none = run_cli("rank", "--db", str(app_store.db), "--axis", "mask_mode", env=env)
    assert none.returncode != 0 and "no votes with a winner" in none.stderr
