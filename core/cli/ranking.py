"""``vote`` and ``rank``: blind votes recorded from a script, and the strengths they give."""

from __future__ import annotations

import json

from core.cli.arguments import add_db_flag
from core.errors import RankingError, UsageError

__all__ = ["add_rank_parser", "add_vote_parser", "cmd_rank", "cmd_vote"]


def add_vote_parser(sub) -> None:
    """Add ``vote``: one blind vote, the same record the Blind ranking page writes."""
    p = sub.add_parser("vote", help="record one blind vote: the cells shown and the one picked")
    p.add_argument("--shown", type=int, nargs="+", required=True, metavar="CELL", help="cell ids in the order shown")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--winner", type=int, metavar="CELL", help="the cell picked (one of --shown)")
    who.add_argument("--tie", action="store_true", help="all shown cells equally good")
    p.add_argument("--axis", help="the setting the vote is about (default: the one the shown cells differ in)")
    p.add_argument("--author", help="who voted (default: WORKBENCH_USER or the OS user)")
    add_db_flag(p)
    p.set_defaults(handler=cmd_vote)


def cmd_vote(args) -> int:
    """Record the vote; print its id."""
    from core.ranking.blind import record_vote
    from core.settings import db_path, user_name
    from core.store.store import Store

    with Store(db_path(args.db)) as store:
        try:
            vote_id = record_vote(store, args.shown, None if args.tie else args.winner, args.author or user_name(),
                                  args.axis)
        except RankingError as exc:
            raise UsageError(str(exc)) from None
    print(f"vote {vote_id} recorded")
    return 0


def add_rank_parser(sub) -> None:
    """Add ``rank``: strengths with 95% intervals and metric agreement from the blind votes on one axis."""
    p = sub.add_parser("rank", help="strengths (Plackett-Luce, 95%% bootstrap intervals) from blind votes")
    p.add_argument("--axis", required=True, help="the setting voted on, e.g. sketch_checkpoint")
    p.add_argument("--bootstrap", type=int, default=400, help="bootstrap resamples (default 400)")
    p.add_argument("--author", nargs="+", metavar="NAME", help="only these people's votes (default: everyone's)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    add_db_flag(p)
    p.set_defaults(handler=cmd_rank)


def cmd_rank(args) -> int:
    """Print the strengths, who beats whom, the separation hint and which metrics agree with the voters."""
    from core.ranking.standings import standings
    from core.settings import db_path
    from core.store.store import Store

    with Store(db_path(args.db), readonly=True) as store:
        try:
            ranking, agreement = standings(store, args.axis, bootstrap=max(20, args.bootstrap), authors=args.author)
        except RankingError as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps({"axis": args.axis, "votes": ranking.votes, "ties": ranking.ties,
                          "strengths": ranking.to_rows(), "beats": dict(zip(ranking.values, [
                              dict(zip(ranking.values, row)) for row in ranking.beats])),
                          "hint": ranking.separation_hint(), "metric_agreement": agreement}))
        return 0
    print(f"{args.axis}: {ranking.votes} votes with a winner, {ranking.ties} ties")
    for row in ranking.to_rows():
        print(f"  {row['value']:<40} {row['strength']:+.2f}  [{row['low']:+.2f}, {row['high']:+.2f}]  "
              f"won {row['wins']} of {row['shown']}")
    if len(ranking.values) > 1:
        print(f"P({ranking.values[0]} picked over {ranking.values[1]}) = {ranking.beats[0][1]:.2f}")
    print(ranking.separation_hint())
    for a in agreement:
        if a["accuracy"] is not None:
            tau = "n/a" if a["tau"] is None else f"{a['tau']:+.2f}"
            print(f"  {a['metric']:<20} picks the human winner in {a['accuracy']:.0%} of {a['pairs']} pairs "
                  f"({a['direction']}); Kendall tau {tau}")
    return 0
