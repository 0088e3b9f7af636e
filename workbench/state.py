"""Per-session state shared by the pages: the store (path read at run time), who is tagging, queued messages.

Each browser session gets its own store connection, held in a session-scoped
``st.cache_resource``: Streamlit releases it (and :func:`close_store` closes
the connection) when the session disconnects, and when the store's path
changes the one opened before is released at once. Nothing is left open by
sessions that ended.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import streamlit as st

from core.settings import db_path as settings_db_path
from core.settings import user_name
from core.store.store import Store

log = logging.getLogger(__name__)

FLASH_KEY = "_workbench_flash"


def db_path() -> Path:
    """The store's path: ``WORKBENCH_DB`` (set by ``workbench ui --db``) or the default, read on every run."""
    return settings_db_path().resolve()


def close_store(store: Store) -> None:
    """Close a session's store connection (Streamlit calls this when it releases the session's entry)."""
    log.debug("closing the store %s of an ended session", store.path)
    store.close()


@st.cache_resource(scope="session", max_entries=1, on_release=close_store, show_spinner=False)
def open_store(path: str) -> Store:
    """This session's connection to the store at ``path`` (one entry: another path releases the old one)."""
    log.debug("opening the store %s for a session", path)
    return Store(path)


def store() -> Store:
    """This session's open store (one connection per session, reopened when the path changes)."""
    return open_store(str(db_path()))


def input_path(stored: str | None) -> Path | None:
    """Where an input image is: stored relative to the DB folder, or (CLI runs given relative folders) to the cwd."""
    if not stored:
        return None
    path = store().absolute(stored)
    if not path.exists() and Path(stored).exists():
        return Path(stored).resolve()
    return path


def author() -> str:
    """Who tags and prefers: ``WORKBENCH_USER`` or the OS user."""
    return user_name()


def flash(message: str, kind: str = "success") -> None:
    """Show a message on the next run (e.g. after a callback or ``st.rerun``)."""
    st.session_state.setdefault(FLASH_KEY, []).append((kind, message))


def show_flash() -> None:
    """Show and clear the messages queued by :func:`flash`."""
    for kind, message in st.session_state.pop(FLASH_KEY, []):
        getattr(st, kind)(message)


@st.cache_data(max_entries=2000, show_spinner=False)
def describe_weight(path: str, size: int, stamp: int) -> dict:
    """:func:`core.models.weights.describe_file`, once per file version (loading and hashing take a while)."""
    from core.models.weights import describe_file

    return describe_file(path)


def weights_catalog() -> list[dict]:
    """Every file in the weights folders, described or with its error (cached by path, size and mtime)."""
    from core.models.weights import weight_files

    out = []
    for path in weight_files():
        try:
            info = os.stat(path)
        except OSError:
            continue
        out.append(describe_weight(str(path), info.st_size, info.st_mtime_ns))
    return out
