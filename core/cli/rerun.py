"""``rerun``: compute stored cells again with today's code and environment and say whether they still match."""

from __future__ import annotations

import json
import sys

from core.cli.arguments import EXIT_FAILED, add_db_flag, positive_int
from core.errors import UsageError


def add_rerun_parser(sub) -> None:
    """Add ``rerun``: one cell, an image's row or a whole sweep, recomputed and compared (the store is not touched)."""
    p = sub.add_parser(
        "rerun",
        help="recompute stored cells and check they still match (e.g. after upgrading torch)",
        description="Recompute cells from their recorded input image, checkpoints and settings with today's code "
        "and environment, without touching the store, and compare with the stored sketches. A cell matches when "
        "no grey level differs by more than 2. Exit 0 when every cell matches, 1 when any does not.",
    )
    p.add_argument("cell_id", nargs="?", type=positive_int, metavar="CELL_ID", help="the cell's id (`workbench results`)")
    p.add_argument("--row", metavar="IMAGE_SHA256", help="every computed cell of this input image (its sha256)")
    p.add_argument("--sweep", type=positive_int, metavar="ID",
                   help="every computed cell of this sweep (with --row: that image's cells in this sweep)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    add_db_flag(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON (an object, or an array)")
    p.set_defaults(handler=cmd_rerun)


def cmd_rerun(args) -> int:
    """Re-run what the arguments name and print one line per cell (or JSON); exit 1 when any cell differs."""
    from core.settings import db_path
    from core.store.store import Store
    from core.sweeps.rerun import describe_rerun, rerun_cell, rerun_row, rerun_sweep

    chosen = [name for name, given in (("CELL_ID", args.cell_id is not None), ("--row", args.row),
                                        ("--sweep", args.sweep is not None and not args.row)) if given]
    if len(chosen) != 1:
        raise UsageError("name what to re-run: a CELL_ID, --row IMAGE_SHA256 or --sweep ID (one of them)"
                         if not chosen else f"re-run one thing at a time, not {' and '.join(chosen)}")
    with Store(db_path(args.db), readonly=True) as store:
        if args.cell_id is not None:
            reports = [rerun_cell(store, args.cell_id, args.device)]
        elif args.row:
            reports = rerun_row(store, args.row.strip().lower(), args.sweep, args.device)
        else:
            reports = rerun_sweep(store, args.sweep, args.device)
    if args.json:
        print(json.dumps(reports[0] if args.cell_id is not None else reports))
    else:
        for report in reports:
            print(describe_rerun(report))
        if len(reports) > 1:
            same = sum(r["match"] for r in reports)
            print(f"{len(reports)} cells: {same} match, {len(reports) - same} differ", file=sys.stderr)
    return 0 if all(r["match"] for r in reports) else EXIT_FAILED
