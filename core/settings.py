"""Where the workbench keeps things: the database, the weights folder, the runs folder.

Each is read at call time from the environment so that the CLI, the app and
tests can point at other places without code changes.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def runs_dir() -> Path:
    """The folder for databases, sweep outputs and built data sets (``WORKBENCH_RUNS`` or ``runs/``)."""
    return Path(os.environ.get("WORKBENCH_RUNS") or PROJECT_ROOT / "runs")


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """The SQLite store: ``explicit``, else ``WORKBENCH_DB``, else ``runs/workbench.db``."""
    return Path(explicit or os.environ.get("WORKBENCH_DB") or runs_dir() / "workbench.db")


def weights_dirs() -> list[Path]:
    """Folders searched for checkpoints by file name: ``WORKBENCH_WEIGHTS``, ``./weights``, the project's."""
    dirs = []
    if os.environ.get("WORKBENCH_WEIGHTS"):
        dirs.append(Path(os.environ["WORKBENCH_WEIGHTS"]))
    dirs += [Path.cwd() / "weights", PROJECT_ROOT / "weights"]
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def find_weight(name: str) -> Path | None:
    """Return the first ``weights/`` file called ``name``, or None."""
    for folder in weights_dirs():
        if (folder / name).is_file():
            return folder / name
    return None


def user_name() -> str:
    """Who tags outputs: ``WORKBENCH_USER``, else the OS user."""
    if os.environ.get("WORKBENCH_USER"):
        return os.environ["WORKBENCH_USER"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
