"""The grid viewer: the Compare page's page of cells as one in-page component, and what it sends back.

The component (``st.components.v2``, HTML/JS/CSS bundled in
``workbench/components/viewer/``) draws every cell on a canvas from one
shared view, so all cells pan and zoom together, and offers the compare
modes and keyboard triage. Images reach it as URLs of the app's own file
route (``/files/...``, cached by the browser), never as base64 in the page.
Its events (prefer, label, note, undo, select, mode) are applied to the
store here, at once, with an undo stack per session.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path

import streamlit as st

from core.ranking.preferences import comparison_key
from core.store.store import Store
from workbench import grid as G
from workbench import state
from workbench.files_route import file_url, input_file, input_url

log = logging.getLogger(__name__)

__all__ = ["BLIND_HINT", "MODES", "apply_event", "blind_data", "first_view_signal", "image_size", "image_url",
           "pending_events", "viewer", "viewer_data"]

MODES = ("side by side", "slider", "flicker", "difference", "overlay")
ASSETS = Path(__file__).parent / "components" / "viewer"
NAME = "sketch_workbench.viewer"


def _read(name: str) -> str:
    """One bundled asset of the component, as text."""
    return (ASSETS / name).read_text(encoding="utf-8")


# Registered once per process: re-registering on every rerun would reload the module in the browser.
_mount = st.components.v2.component(NAME, html=_read("viewer.html"), css=_read("viewer.css"), js=_read("viewer.js"),
                                    isolate_styles=False)
# An element with nothing to show that passes the viewer's "first view drawn" (a DOM event, or a flag set before it
# mounted) on to the app as a trigger of its own.
_signal = st.components.v2.component(f"{NAME}.first_view", html="<span></span>", js=_read("first_view.js"))


def first_view_signal(key: str, on_drawn) -> None:
    """Rerun the app, calling ``on_drawn`` first, once the viewer has drawn a first view (see ``data.first_view``).

    Drawn outside the fragment that holds the viewer, so the rerun is the whole page's.
    """
    _signal(key=key, on_drawn_change=on_drawn)


def image_url(store: Store, stored: str | None) -> str | None:
    """The URL at which the browser fetches a stored output file (None when there is none).

    The app's file route (:func:`workbench.files_route.file_url`): plain HTTP
    with caching headers, the stored bytes unchanged.
    """
    if not stored:
        return None
    return file_url(store.root, stored)


def image_size(path: Path | None) -> tuple[int, int] | None:
    """``(width, height)`` of a PNG from its header (a few bytes, no decoding); None when unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except (OSError, TypeError):
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _differing(columns: list[G.Column]) -> dict[tuple, str]:
    """For each column, only the settings that differ between the columns (the header's short line)."""
    axes = {a for c in columns for a in c.settings}
    varying = [a for a in G.AXES if a in axes and len({c.settings[a] for c in columns if a in c.settings}) > 1]
    return {c.key: " · ".join(f"{G.AXES[a]} {c.settings[a]}" for a in varying if a in c.settings) for c in columns}


def _cell_payload(store: Store, cell: dict | None, preferred: int | None, tags: list[dict]) -> dict | None:
    """One cell of the payload: its id, image URLs and size, mark, labels and notes."""
    if cell is None:
        return None
    out = {"id": cell["id"], "status": cell["status"], "preferred": preferred == cell["id"],
           "labels": sorted({t["label"] for t in tags if t["label"]}), "notes": [t["note"] for t in tags if t["note"]],
           "title": G.key_numbers(cell), "error": cell.get("error"), "thumb": None, "full": None, "width": None, "height": None}
    if cell["status"] == "done":
        size = image_size(store.absolute(cell.get("sketch_path")))
        if size:
            out["width"], out["height"] = size
            out["thumb"] = image_url(store, cell.get("thumb_path"))
            out["full"] = image_url(store, cell.get("sketch_path"))
            out["thumb"] = out["thumb"] or out["full"]
    return out


def viewer_data(store: Store, grid: G.Grid, rows: list[G.Row], preferred: dict[str, int], tags_by_cell: dict,
                mode: str = MODES[0], a: int = 0, b: int = 1, page_label: str = "", first_view: bool = False) -> dict:
    """The component's ``data``: the columns and this page's rows of ``grid``, with URLs, marks and tags.

    ``preferred`` maps a row key to the preferred cell id of this comparison.
    ``first_view``: the page's controls wait for it; the viewer reports it
    drawn once the first images are on screen (or after 2 s), to
    :func:`first_view_signal`.
    """
    differs = _differing(grid.columns)
    columns = [{"key": column.label, "label": column.label, "differs": differs[column.key],
                "title": G.describe_settings(column.settings)} for column in grid.columns]
    payload_rows = []
    for row in rows:
        mark = preferred.get(row.key)
        cells = [_cell_payload(store, row.cells.get(c.key), mark,
                               tags_by_cell.get((row.cells.get(c.key) or {}).get("id"), [])) for c in grid.columns]
        payload_rows.append({"key": row.key, "label": row.name, "cells": cells,
                             "input": input_url(row.key, input_file(store.root, row.key, row.image_path))})
    last = max(0, len(columns) - 1)
    return {"columns": columns, "rows": payload_rows, "mode": mode if mode in MODES else MODES[0],
            "a": min(a, last), "b": min(b, last), "page_label": page_label, "first_view": first_view}


BLIND_HINT = ("1–4 pick the best · s skip · t tie (all equally good) · u undo your last vote · "
              "wheel zoom · drag pan · double-click fit ↔ 1:1 · + - 0 zoom")


def blind_data(store: Store, cells: list[dict], row_key: str, image_path: str | None) -> dict:
    """The component's ``data`` for one blind vote: ``cells`` in the order given, numbered, nothing that names them.

    Headers are 1, 2, ...; a cell carries no title, label, note or mark, so
    the settings stay hidden until the vote is cast.
    """
    payload = []
    for cell in cells:
        one = _cell_payload(store, cell, None, [])
        one.update(title="", labels=[], notes=[], error=None)
        payload.append(one)
    columns = [{"key": str(i + 1), "label": str(i + 1), "differs": "", "title": ""} for i in range(len(cells))]
    row = {"key": row_key, "label": "Which is best?", "cells": payload,
           "input": input_url(row_key, input_file(store.root, row_key, image_path))}
    return {"columns": columns, "rows": [row], "mode": MODES[0], "a": 0, "b": min(1, len(cells) - 1),
            "page_label": "", "blind": True, "hint": BLIND_HINT}


# --------------------------------------------------------------------------- events


def apply_event(store: Store, event: dict, grid: G.Grid, me: str, undo: list) -> str | None:
    """Write one event of the viewer to the store; returns what was done (None: nothing to do).

    ``undo`` is the session's stack of ways back: a prefer pushes the row's
    earlier mark, a label or note its tag id; ``{"type": "undo"}`` pops one.
    """
    kind = event.get("type")
    comparison = comparison_key(grid.axes, grid.fixed, [c.label for c in grid.columns])
    if kind == "prefer":
        row_key = event["row"]
        before = next((p for p in store.preferences(comparison=comparison, author=me) if p["row_key"] == row_key), None)
        undo.append(("prefer", row_key, before))
        if event.get("cell") is None:
            store.unprefer(comparison, row_key, me)
            return f"cleared the mark of row {row_key[:12]}"
        candidates = [c.label for c in grid.columns]
        store.prefer(comparison, grid.axis_name, row_key, int(event["cell"]), str(event["col"]), candidates, me)
        return f"preferred {event['col']} in row {row_key[:12]}"
    if kind in ("label", "note"):
        text = str(event.get(kind) or "").strip()
        if not text:
            return None
        tag_id = store.tag(int(event["cell"]), text if kind == "label" else None, text if kind == "note" else None, me)
        undo.append(("tag", tag_id, None))
        return f"{kind} {text!r} on cell {event['cell']}"
    if kind == "undo":
        if not undo:
            return None
        what, key, before = undo.pop()
        if what == "tag":
            store.untag(key)
            return "removed the last label or note"
        if before is None:
            store.unprefer(comparison, key, me)
        else:
            store.prefer(comparison, before["axis"], key, before["cell_id"], before["value"],
                         _json_list(before.get("candidates_json")), me)
        return f"restored the mark of row {key[:12]}"
    return None


def _json_list(text: str | None) -> list[str]:
    """A JSON list stored in the database (empty when absent or unreadable)."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def pending_events(key: str) -> list[dict]:
    """The events of the component keyed ``key`` not applied yet, oldest first; each is returned once.

    Every trigger of the viewer carries all the events not yet acknowledged
    (a trigger sent while the script is busy replaces the one before it), each
    with a rising ``seq``; the last seq returned here is the acknowledgement
    the viewer gets back with its data (``acked``).
    """
    value = (st.session_state.get(key) or {}).get("event")
    events = value.get("events") if isinstance(value, dict) else None
    if not isinstance(events, list):
        return []
    done = st.session_state.get(f"{key}__acked", 0)
    fresh = sorted((e for e in events if isinstance(e, dict) and isinstance(e.get("seq"), (int, float))
                    and e["seq"] > done), key=lambda e: e["seq"])
    if fresh:
        st.session_state[f"{key}__acked"] = fresh[-1]["seq"]
    return fresh


def _on_event(key: str) -> None:
    """The component's callback: apply its new events to the grid last shown."""
    for event in pending_events(key):
        _apply(key, event)


def _apply(key: str, event: dict) -> None:
    """One event of the viewer: a mode or A/B choice (the session's), or a store change."""
    if event.get("type") == "mode" and event.get("mode") in MODES:
        st.session_state[f"{key}__mode"] = event["mode"]
        return
    if event.get("type") == "select":
        st.session_state[f"{key}__ab"] = (int(event.get("a", 0)), int(event.get("b", 1)))
        return
    grid = st.session_state.get(f"{key}__grid")
    if grid is None:
        return
    done = apply_event(state.store(), event, grid, state.author(), st.session_state.setdefault(f"{key}__undo", []))
    if done:
        log.info("%s %s", state.author(), done)


def viewer(data: dict, key: str, grid: G.Grid | None = None, on_event=None):
    """Mount the viewer with ``data`` (see :func:`viewer_data`); its events are written to the store at once.

    ``on_event`` replaces the Compare page's handling of the events (the
    blind ranking page's votes): called with the event dict, once per event.
    """
    mode = st.session_state.get(f"{key}__mode")
    if mode:
        data = dict(data, mode=mode)
    ab = st.session_state.get(f"{key}__ab")
    if ab:
        last = max(0, len(data["columns"]) - 1)
        data = dict(data, a=min(ab[0], last), b=min(ab[1], last))
    data = dict(data, acked=st.session_state.get(f"{key}__acked", 0))  # the viewer forgets the events applied
    st.session_state[f"{key}__grid"] = grid  # what the events of this view refer to
    handler = partial(_on_event, key) if on_event is None else partial(_on_own_event, key, on_event)
    return _mount(key=key, data=data, on_event_change=handler)


def _on_own_event(key: str, handle) -> None:
    """The component's callback for a page with its own events: ``handle(event)`` once per event."""
    for event in pending_events(key):
        handle(event)
