"""Per-session state shared by the pages: the store (path read at run time) and who is tagging."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.settings import db_path as _settings_db_path
from core.settings import user_name
from core.store.store import Store

_STORE_KEY = "_workbench_store"


def db_path() -> Path:
    """The store's path: ``WORKBENCH_DB`` (set by ``workbench ui --db``) or the default, read on every run."""
    return _settings_db_path().resolve()


def store() -> Store:
    """This session's open store (one connection per session, reopened if the path changed)."""
    path = db_path()
    current = st.session_state.get(_STORE_KEY)
    if current is None or current.path.resolve() != path:
        if current is not None:
            current.close()
        current = Store(path)
        st.session_state[_STORE_KEY] = current
    return current


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
    st.session_state.setdefault("_workbench_flash", []).append((kind, message))


def show_flash() -> None:
    """Show and clear the messages queued by :func:`flash`."""
    for kind, message in st.session_state.pop("_workbench_flash", []):
        getattr(st, kind)(message)


@st.cache_data(max_entries=2000, show_spinner=False)
def _describe(path: str, size: int, stamp: int) -> dict:
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
        out.append(_describe(str(path), info.st_size, info.st_mtime_ns))
    return out
