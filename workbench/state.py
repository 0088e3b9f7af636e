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


# Facts of a sweep's cells, cached across reruns and sessions until the cells change (``Store.cells_stamp``):
# a page load then reads only its page of images, never every cell.


def sweeps_and_stamp(store: Store) -> tuple[list[dict], tuple]:
    """The sweeps (as :meth:`Store.sweeps`) and a stamp that changes whenever cells are added or finish.

    Cells finish only while their sweep runs. With no sweep running, the
    cells' count and last id and the sweeps' statuses say all, and the sweeps'
    counts (a join over every cell) are read once per stamp; while one runs,
    the counts are read afresh and are part of the stamp.
    """
    store.refresh_statuses()
    states = store.sweep_states()
    stamp = (*store.cells_stamp(), tuple((s["id"], s["status"], s["finished_at"]) for s in states))
    if any(s["status"] == "running" for s in states):
        sweeps = store.sweeps()
        return sweeps, (*stamp, tuple((s["id"], s["done"], s["failed"]) for s in sweeps))
    return sweep_list(store, str(store.path), stamp), stamp


@st.cache_data(max_entries=16, show_spinner=False)
def sweep_list(_store: Store, path: str, stamp: tuple) -> list[dict]:
    """:meth:`Store.sweeps`, once per state of the store's sweeps and cells (none running)."""
    return _store.sweeps()


@st.cache_data(max_entries=64, show_spinner=False)
def test_sets(_store: Store, path: str, sweep_id: int | None, stamp: tuple) -> list[str]:
    """:meth:`Store.test_sets`, once per state of the store's cells."""
    return _store.test_sets(sweep_id)


@st.cache_data(max_entries=64, show_spinner=False)
def cell_configs(_store: Store, path: str, sweep_id: int | None, test_set: str | None, stamp: tuple) -> list[dict]:
    """:meth:`Store.cell_configs`, once per state of the store's cells."""
    return _store.cell_configs(sweep_id, test_set)


@st.cache_data(max_entries=256, show_spinner=False)
def image_total(_store: Store, path: str, sweep_id: int | None, test_set: str | None, configs: list[dict] | None,
                stamp: tuple) -> int:
    """How many images have a cell with one of ``configs`` (None: any cell), once per state of the store's cells."""
    return _store.config_image_page(sweep_id, configs, 0, 0, test_set)[1]


@st.cache_data(max_entries=256, show_spinner=False)
def hidden_cells(_store: Store, path: str, sweep_id: int | None, test_set: str | None, kept: list[dict],
                 axes: list[str], stamp: tuple) -> int:
    """:func:`workbench.views.hidden_cells`, once per state of the store's cells."""
    from workbench.views import hidden_cells as count

    return count(_store, sweep_id, test_set, kept, axes)


@st.cache_data(max_entries=16, show_spinner="Ordering every row of the grid…")
def row_order(_store: Store, path: str, sweep_id: int | None, test_set: str | None, grid_args: tuple, order: str,
              metric: str | None, pair: tuple | None, stamp: tuple) -> list[str]:
    """:func:`workbench.views.ordered_row_keys`, once per state of the store's cells."""
    from workbench.views import ordered_row_keys

    return ordered_row_keys(_store, sweep_id, test_set, grid_args, order, metric, pair)
