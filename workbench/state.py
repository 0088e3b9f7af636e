"""Per-session state shared by the pages: the store (path read at run time), who is working, queued messages.

Each browser session gets its own store connection, held in a session-scoped
``st.cache_resource``: Streamlit releases it (and :func:`close_store` closes
the connection) when the session disconnects, and when the store's path
changes the one opened before is released at once. Nothing is left open by
sessions that ended.

Streamlit releases a session's entry as the session disconnects without
waiting for the session's script run to stop, and closing a SQLite
connection while another thread runs a query on it crashes the interpreter
(CPython's sqlite3). So :func:`store` notes which script run last asked for
the connection, and :func:`close_store` closes it only once that run has
ended.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from pathlib import Path
from urllib.parse import quote, unquote

import streamlit as st

from core.access import is_loopback
from core.settings import db_path as settings_db_path
from core.settings import user_name
from core.store.store import Store

log = logging.getLogger(__name__)

FLASH_KEY = "_workbench_flash"
NAME_KEY = "_workbench_name"
NAME_FIELD = "workbench_name"
REMEMBER_KEY = "_workbench_name_remember"
FIRST_VIEW_KEY = "_workbench_first_view_drawn"
DEFERRED_KEY = "_workbench_controls_deferred"
USER_COOKIE = "workbench_user"
NAME_MAX = 64
NAME_COOKIE_AGE_S = 365 * 24 * 3600
ANONYMOUS = "anonymous"


def db_path() -> Path:
    """The store's path: ``WORKBENCH_DB`` (set by ``workbench ui --db``) or the default, read on every run."""
    return settings_db_path().resolve()


# The thread of the script run that last asked for each session's store: the one to wait for before closing it.
_run_threads: weakref.WeakKeyDictionary[Store, threading.Thread] = weakref.WeakKeyDictionary()
_run_threads_lock = threading.Lock()


def mark_in_use(opened: Store) -> Store:
    """Note that this thread's script run uses ``opened`` (a run's queries all happen on its thread); returns it."""
    with _run_threads_lock:
        _run_threads[opened] = threading.current_thread()
    return opened


def close_store(store: Store) -> None:
    """Close a session's store connection once no script run uses it (Streamlit calls this on release).

    Called from the server's event loop as a session disconnects, while that
    session's run may still be inside a query: then the connection is closed
    by a helper thread as soon as that run's thread has ended.
    """
    with _run_threads_lock:
        run = _run_threads.pop(store, None)
    if run is None or run is threading.current_thread() or not run.is_alive():
        log.debug("closing the store %s of an ended session", store.path)
        store.close()
        return
    log.debug("closing the store %s of an ended session once its run ends", store.path)
    threading.Thread(target=_close_after, args=(store, run), name="workbench-store-close", daemon=True).start()


def _close_after(store: Store, run: threading.Thread) -> None:
    run.join()
    store.close()


@st.cache_resource(scope="session", max_entries=1, on_release=close_store, show_spinner=False)
def open_store(path: str) -> Store:
    """This session's connection to the store at ``path`` (one entry: another path releases the old one)."""
    log.debug("opening the store %s for a session", path)
    return Store(path)


def store() -> Store:
    """This session's open store (one connection per session, reopened when the path changes)."""
    return mark_in_use(open_store(str(db_path())))


def input_path(stored: str | None) -> Path | None:
    """Where an input image is: stored relative to the store's outputs root, or (CLI runs given relative folders)
    to the cwd."""
    if not stored:
        return None
    path = store().absolute(stored)
    if not path.exists() and Path(stored).exists():
        return Path(stored).resolve()
    return path


def signed_in() -> str | None:
    """The OIDC identity when the user logged in with ``st.login`` (email, else name, else subject), else None."""
    try:
        if not st.user.is_logged_in:
            return None
        return next((str(st.user[k]) for k in ("email", "name", "sub") if st.user.get(k)), None)
    except Exception:  # noqa: BLE001 - no auth configured or no session context: nobody is signed in
        return None


def clean_name(text: str | None) -> str:
    """A typed name as it is recorded: printable, single spaces, at most ``NAME_MAX`` characters."""
    text = "".join(ch for ch in (text or "") if ch.isprintable())
    return " ".join(text.split())[:NAME_MAX]


def author() -> str:
    """Who tags, notes, prefers and votes: the one place every page asks.

    In order: the OIDC identity (``st.login``); the name set in the sidebar
    (this session, else its cookie from an earlier visit); ``WORKBENCH_USER``;
    the OS user only when the app is bound to this machine (one person), else
    ``anonymous`` — a shared server's OS user is nobody in particular.
    """
    typed = st.session_state[NAME_KEY] if NAME_KEY in st.session_state else clean_name(_cookie(USER_COOKIE))
    who = signed_in() or typed  # a name cleared in this session stays cleared (no fallback to the old cookie)
    if who:
        return who
    if os.environ.get("WORKBENCH_USER"):
        return os.environ["WORKBENCH_USER"]
    return user_name() if is_loopback(st.get_option("server.address")) else ANONYMOUS


def _cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # noqa: BLE001 - no request context (AppTest, bare mode)
        return None
    return unquote(value) if value else None


def set_name() -> None:
    """Keep the name typed in the sidebar for this session, and ask the browser to remember it (a callback)."""
    name = clean_name(st.session_state.get(NAME_FIELD))
    st.session_state[NAME_KEY] = name
    st.session_state[REMEMBER_KEY] = name


def name_field(where=None) -> None:
    """The sidebar's "Your name": who the store records (the OIDC identity instead when signed in).

    ``where``: a container in the sidebar to draw it in (default: the sidebar itself).
    """
    where = where or st.sidebar
    who = signed_in()
    if who:
        where.caption(f"Signed in as **{who}**: your tags, preferences and votes carry this name.")
        return
    if NAME_FIELD not in st.session_state:
        st.session_state[NAME_FIELD] = st.session_state.get(NAME_KEY) or clean_name(_cookie(USER_COOKIE))
    where.text_input("Your name", key=NAME_FIELD, on_change=set_name, max_chars=NAME_MAX,
                     placeholder=author(), help="Recorded with your tags, notes, preferences and votes; "
                     "kept in this browser.")
    if REMEMBER_KEY in st.session_state:
        # A cookie the next visit reads (st.context.cookies); written by the browser, as only it can.
        value = json.dumps(quote(st.session_state.pop(REMEMBER_KEY), safe=""))
        where.html(f"<script>document.cookie = '{USER_COOKIE}=' + {value} + "
                   f"'; Path=/; Max-Age={NAME_COOKIE_AGE_S}; SameSite=Lax';</script>",
                   unsafe_allow_javascript=True)


def start_run() -> None:
    """Begin a run of the router: nothing is deferred until a page asks (:func:`defer_controls`)."""
    st.session_state[DEFERRED_KEY] = False


def defer_controls() -> bool:
    """Whether this run draws the page's first view alone and leaves its controls to the next run.

    True until the viewer reports that a session's first view is on screen
    (:func:`first_view_drawn`). The browser draws the elements of one run
    together, and every widget sent with the first view holds its images
    back (on the 30,000-cell bench store, the controls and the name field cost
    about 1 s of a 2.7 s first load); so the first view comes alone, and the
    viewer's report starts the run that adds the controls.
    """
    deferred = not st.session_state.get(FIRST_VIEW_KEY, False)
    st.session_state[DEFERRED_KEY] = deferred
    return deferred


def controls_deferred() -> bool:
    """Whether the page of this run deferred its controls (then the router defers the name field too)."""
    return bool(st.session_state.get(DEFERRED_KEY, False))


def first_view_drawn() -> None:
    """Record that the session's first view is on screen: from the next run on, pages draw everything at once."""
    st.session_state[FIRST_VIEW_KEY] = True


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
