"""``ui`` and ``demo``: start the Streamlit app (after the demo sweep, for ``demo``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core.cli.arguments import positive_int
from core.cli.data import datasets_root
from core.errors import UsageError


def add_ui_parser(sub) -> None:
    p = sub.add_parser("ui", help="start the Streamlit workbench (headless) on a store")
    p.add_argument("--db", type=Path, help="SQLite store (default: $WORKBENCH_DB or runs/workbench.db)")
    p.add_argument("--port", type=positive_int, default=8501, help="port (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.set_defaults(handler=cmd_ui)


def ui_command(db: Path, port: int, host: str) -> list[str]:
    """The argument list that starts the app (no shell)."""
    from core.settings import PROJECT_ROOT

    return [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "streamlit_app.py"),
            "--server.headless", "true", "--server.port", str(port), "--server.address", host,
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]


def cmd_ui(args) -> int:
    from core.settings import db_path

    env = dict(os.environ, WORKBENCH_DB=str(db_path(args.db).resolve()))
    print(f"Sketch Workbench on http://{args.host}:{args.port} (store {env['WORKBENCH_DB']})", file=sys.stderr)
    import subprocess

    try:
        return subprocess.call(ui_command(db_path(args.db), args.port, args.host), env=env)
    except KeyboardInterrupt:
        return 0


def add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="build the demo data, run the demo sweep and overfitting check, open the app")
    p.add_argument("--no-ui", action="store_true", help="stop after computing (do not start the app)")
    p.add_argument("--db", type=Path, help="SQLite store (default: $WORKBENCH_DB or runs/workbench.db)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--port", type=positive_int, default=8501, help="app port (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="app address (default 127.0.0.1)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args) -> int:
    from core.demo import DemoError, run_demo
    from core.settings import db_path

    try:
        summary = run_demo(db_path(args.db), datasets_root(), args.device)
    except DemoError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(summary))
    if args.no_ui:
        return 0
    args.db = db_path(args.db)
    return cmd_ui(args)
