"""The connection under every store: WAL, busy timeout, ``BEGIN IMMEDIATE`` writes, migrations, paths.

A plain SQLite file (default ``runs/workbench.db``) that any SQLite tool can
open. Numbered migrations are recorded in ``PRAGMA user_version`` and applied
once, inside ``BEGIN IMMEDIATE``, even when several processes open a new
database at the same moment. The database runs in WAL mode with a busy
timeout, and every write goes through :meth:`Database.write`, so readers never
block the sweep that is writing and two writers queue instead of failing.

Paths of output files are stored relative to the database's folder.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils

from core.errors import StoreError
from core.store.schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_S = 60.0


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

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False):
        self.path = Path(path)
        self.root = self.path.parent.resolve()
        if readonly and not self.path.exists():
            raise StoreError(f"database {self.path} does not exist; run a sweep first (workbench sweep ...)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
        """Store a path relative to the DB folder when it lies inside it."""
        if path is None:
            return None
        path = Path(path).resolve()
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def absolute(self, stored: str | None) -> Path | None:
        """Resolve a stored path (relative to the DB folder, or absolute)."""
        if not stored:
            return None
        path = Path(stored)
        return path if path.is_absolute() else self.root / path
