"""``ui`` and ``demo``: start the Streamlit app (after the demo sweep, for ``demo``).

The app server replaces the ``workbench`` process (``exec``), so the signals a
terminal, a service manager or a multiplexer sends (SIGINT, SIGTERM) reach
Streamlit itself: it stops and frees its port, and no child is left behind.
Bound off loopback the app asks for a token (:mod:`core.access`): chosen here
(``--token``, ``WORKBENCH_TOKEN`` or a new one), handed to the server in its
environment and printed once as the URL to open.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from core.cli.arguments import add_db_flag, positive_int
from core.cli.data import datasets_root
from core.errors import DemoError, UsageError


def add_ui_parser(sub) -> None:
    """Add ``ui``: the app on a store, bound to this machine unless told otherwise."""
    p = sub.add_parser("ui", help="start the Streamlit workbench (headless) on a store")
    add_db_flag(p)
    p.add_argument("--port", type=positive_int, default=8501, help="port (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; "
                   "any other address asks for a token)")
    p.add_argument("--outputs", type=Path, metavar="DIR", help="folder for cell outputs, apart from the database "
                   "(default: $WORKBENCH_OUTPUTS, else the database's folder); keep --db on a local disk")
    add_access_flags(p)
    p.set_defaults(handler=cmd_ui)


def add_access_flags(p) -> None:
    """Add ``--token``, ``--no-token`` and ``--data-root``: who may use an app bound off loopback, what it may read."""
    p.add_argument("--token", help="access token when bound off loopback (default: $WORKBENCH_TOKEN, else a new "
                   "random one, printed in the URL to open)")
    p.add_argument("--no-token", action="store_true", help="no token off loopback: ONLY behind a proxy that "
                   "authenticates (anyone reaching the port can use the app)")
    p.add_argument("--data-root", action="append", type=Path, default=[], metavar="DIR",
                   help="a folder the app may read test sets and checkpoints from (repeatable; besides runs/, "
                   "weights/ and $WORKBENCH_DATA_ROOTS)")


def ui_command(db: Path, port: int, host: str) -> list[str]:
    """The argument list that starts the app (no shell)."""
    from core.data.uploads import MAX_UPLOAD_BYTES
    from core.settings import PROJECT_ROOT

    # Streamlit reads .streamlit/config.toml only from the folder it starts in, so the
    # same settings go on the command line for a `workbench ui` started anywhere.
    return [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "streamlit_app.py"),
            "--server.headless", "true", "--server.port", str(port), "--server.address", host,
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--server.maxUploadSize", str(MAX_UPLOAD_BYTES // 2**20), "--client.toolbarMode", "viewer",
            "--client.showErrorLinks", "false", "--runner.magicEnabled", "false", "--runner.postScriptGC", "false"]


def serve(command: list[str], env: dict[str, str]) -> NoReturn:
    """Replace this process with ``command`` (the app server), so signals sent to it reach the server."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)


def cmd_ui(args) -> NoReturn:
    """Start the app on the store; the process becomes the Streamlit server and never returns."""
    from core.access import access_for, open_url
    from core.settings import db_path

    store = db_path(args.db).resolve()
    env = ui_env(args, store)
    access = access_for(args.host, env)
    if access.unprotected:
        print(f"WARNING: --no-token: the app on {args.host}:{args.port} has NO access check; anyone who can reach "
              "this port can use it. Run it like this only behind a proxy that authenticates.", file=sys.stderr)
    print(f"Sketch Workbench on {open_url(args.host, args.port, access.token)} (store {store})", file=sys.stderr)
    serve(ui_command(store, args.port, args.host), env)


def ui_env(args, store: Path) -> dict[str, str]:
    """The app server's environment: the store and its outputs root, the access rule's token (chosen here, so the
    printed URL works) and the allowed data roots."""
    from core.access import access_for
    from core.folders import DATA_ROOTS_ENV
    from core.store.database import OUTPUTS_ENV

    env = dict(os.environ, WORKBENCH_DB=str(store))
    token = getattr(args, "token", None)
    if token is not None and not token.strip():
        raise UsageError("--token is empty: give a token, or leave the flag out to get a random one")
    no_token = getattr(args, "no_token", False)
    if no_token:
        env["WORKBENCH_NO_TOKEN"] = "1"
    access = access_for(args.host, env, token=token, no_token=no_token)
    if access.token:
        env["WORKBENCH_TOKEN"] = access.token  # the server checks the very token printed here
    if getattr(args, "outputs", None):
        env[OUTPUTS_ENV] = str(Path(args.outputs).expanduser().resolve())  # the app and the sweeps it launches
    roots = [str(Path(r).expanduser().resolve()) for r in getattr(args, "data_root", None) or []]
    for root in roots:
        if not Path(root).is_dir():
            raise UsageError(f"--data-root {root} is not a folder: give an existing folder")
    if roots:
        env[DATA_ROOTS_ENV] = os.pathsep.join([*filter(None, [env.get(DATA_ROOTS_ENV)]), *roots])
    return env


def add_demo_parser(sub) -> None:
    """Add ``demo``: data, sweep and overfitting check on the demo checkpoints, then the app."""
    p = sub.add_parser("demo", help="build the demo data, run the demo sweep and overfitting check, open the app")
    p.add_argument("--no-ui", action="store_true", help="stop after computing (do not start the app)")
    add_db_flag(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--port", type=positive_int, default=8501, help="app port (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="app address (default 127.0.0.1)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    add_access_flags(p)
    p.set_defaults(handler=cmd_demo)


def show_steps(logger_name: str) -> logging.Handler:
    """Print a library logger's INFO lines on stderr as plain text (the demo's step lines)."""
    logger = logging.getLogger(logger_name)
    for handler in logger.handlers:
        if getattr(handler, "workbench_steps", False):  # already shown (a second call in one process)
            return handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.workbench_steps = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # shown here once, not again by a root handler
    return handler


def cmd_demo(args) -> int:
    """Run the demo's computations, print the summary if asked, then start the app (unless ``--no-ui``)."""
    from core.demo import run_demo
    from core.settings import db_path

    show_steps("core.demo")
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
