"""The connection under every store: WAL, busy timeout, ``BEGIN IMMEDIATE`` writes, migrations, paths.

A plain SQLite file (default ``runs/workbench.db``) that any SQLite tool can
open. Numbered migrations are recorded in ``PRAGMA user_version`` and applied
once, inside ``BEGIN IMMEDIATE``, even when several processes open a new
database at the same moment. The database runs in WAL mode with a busy
timeout, and every write goes through :meth:`Database.write`, so readers never
block the sweep that is writing and two writers queue instead of failing.

Paths of output files are stored relative to the store's outputs root: the
database's folder, unless ``outputs`` (``workbench ui --outputs DIR``,
``WORKBENCH_OUTPUTS``) puts them elsewhere, so the database can stay on a local
disk while workers write outputs to shared storage. SQLite's WAL mode is not
safe on network filesystems: opening a database on one (nfs, cifs/smb,
fuse-based, ...) warns once, with the fix.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils

from core.errors import StoreError
from core.store.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 60.0
OUTPUTS_ENV = "WORKBENCH_OUTPUTS"
MOUNTS = Path("/proc/mounts")
# Filesystem types whose locking and shared memory SQLite's WAL mode cannot rely on (fuse.* covers sshfs, s3fs, ...).
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "ceph", "glusterfs", "lustre",
              "gpfs", "beegfs", "9p", "fuse", "fuseblk")
_warned: set[str] = set()


def outputs_root(db: str | os.PathLike, outputs: str | os.PathLike | None = None) -> Path:
    """Where a store's output files live: ``outputs``, else ``WORKBENCH_OUTPUTS``, else the database's folder."""
    chosen = outputs or os.environ.get(OUTPUTS_ENV)
    return Path(chosen).expanduser().resolve() if chosen else Path(db).parent.resolve()


def _unescape(field: str) -> str:
    """A /proc/mounts field as a path (the kernel writes space, tab, newline and backslash as octal escapes)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def network_filesystem(path: str | os.PathLike, mounts: str | None = None) -> tuple[str, str] | None:
    """The (type, mount point) of the network filesystem holding ``path``, or None (local, or no mounts table).

    Args:
        path: a file or folder (need not exist: its nearest existing parent counts).
        mounts: the text of a mounts table (default: ``/proc/mounts``); the longest mount point above ``path`` wins.
    """
    if mounts is None:
        try:
            mounts = MOUNTS.read_text()
        except OSError:
            return None
    target = Path(os.path.realpath(path))
    best: tuple[int, str, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, fstype = Path(_unescape(fields[1])), fields[2].lower()
        if (target == point or target.is_relative_to(point)) and (best is None or len(point.parts) >= best[0]):
            best = (len(point.parts), str(point), fstype)
    if best is None:
        return None
    _, point, fstype = best
    base = fstype.split(".")[0]
    return (fstype, point) if fstype in NETWORK_FS or base in NETWORK_FS else None


def warn_network_filesystem(db: str | os.PathLike, mounts: str | None = None) -> str | None:
    """Warn once per database when it lives on a network filesystem; returns the warning (None: local or said before)."""
    key = os.path.realpath(db)
    if key in _warned:
        return None
    found = network_filesystem(Path(key).parent, mounts)
    if found is None:
        return None
    _warned.add(key)
    fstype, point = found
    message = (f"The database {db} is on a network filesystem ({fstype} at {point}): SQLite's WAL mode needs locks "
               "and shared memory that it does not provide reliably, so the store can be corrupted. Keep the "
               "database on this machine's local disk (--db /local/disk/workbench.db) and put only the outputs on "
               "shared storage (--outputs /shared/dir or WORKBENCH_OUTPUTS).")
    log.warning(message)
    return message


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch a connection's database to WAL, waiting while another process switches or migrates it.

    Changing the journal mode needs a lock that SQLite does not wait for through
    the busy timeout: when several processes open a new database at once, all but
    one get "database is locked" at once. Retry until the timeout instead.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Database:
    """An open SQLite connection with the workbench's schema; the base of :class:`core.store.store.Store`."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False, outputs: str | os.PathLike | None = None):
        """Open (creating and migrating) the database at ``path``; ``outputs``: see :func:`outputs_root`."""
        self.path = Path(path)
        self.root = outputs_root(self.path, outputs)
        self.db_folder = self.path.parent.resolve()
        if readonly and not self.path.exists():
            raise StoreError(f"database {self.path} does not exist; run a sweep first (workbench sweep ...)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        warn_network_filesystem(self.path)
        try:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable SQLite database ({exc}); point --db at another file") from None
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.migrate()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    @property
    def version(self) -> int:
        """The schema version the file holds (``PRAGMA user_version``)."""
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Apply the migrations this database lacks, exactly once across processes."""
        if self.version >= SCHEMA_VERSION:
            if self.version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {self.version}, newer than this workbench "
                    f"({SCHEMA_VERSION}); upgrade the workbench"
                )
            return
        with self.write():
            # Re-read inside the lock: another process may have migrated meanwhile.
            for number in range(self.version, SCHEMA_VERSION):
                MIGRATIONS[number](self.db)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A ``BEGIN IMMEDIATE`` transaction: commits on success, rolls back on error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def query(self, sql: str, params=()) -> list[dict]:
        """Run a read query and return rows as dicts."""
        return list(self.db.query(sql, params))

    def query_in(self, sql: str, values: list, chunk: int = 500) -> list[dict]:
        """Run ``sql`` whose ``{marks}`` is an ``IN (...)`` list, over ``values`` in chunks.

        SQLite caps the number of parameters of one statement, so long lists are
        asked for ``chunk`` at a time; the rows of all chunks are returned in order.
        """
        rows: list[dict] = []
        values = list(values)
        for start in range(0, len(values), chunk):
            part = values[start : start + chunk]
            rows += self.query(sql.format(marks=",".join("?" * len(part))), part)
        return rows

    # ------------------------------------------------------------------ paths

    def relative(self, path: str | os.PathLike | None) -> str | None:
        """Store a path relative to the outputs root (the DB folder unless set apart) when it lies inside it."""
        if path is None:
            return None
        path = Path(path).resolve()
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def absolute(self, stored: str | None) -> Path | None:
        """Resolve a stored path (relative to the outputs root, or absolute).

        A store that gained a separate outputs root keeps its earlier cells: a relative path not found under the
        outputs root is looked for under the database's folder, where it was written.
        """
        if not stored:
            return None
        path = Path(stored)
        if path.is_absolute():
            return path
        found = self.root / path
        if self.root != self.db_folder and not found.exists() and (self.db_folder / path).exists():
            return self.db_folder / path
        return found
