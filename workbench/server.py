"""The routes the app's own server adds to Streamlit's: output files at ``/files/...``, inputs at ``/inputs/<sha>``.

``streamlit_app.py`` declares ``st.App(<itself>, routes=routes())``, so
``workbench ui`` and ``streamlit run streamlit_app.py`` both serve these on
the app's host and port (Streamlit's Starlette server under uvicorn). The
store is ``$WORKBENCH_DB`` (read on every request, as the pages do); files are
served from its outputs root (``$WORKBENCH_OUTPUTS``, else the database's
folder). Who may ask at all is :mod:`workbench.access_middleware`'s question.

Only files that a cell of the store records are served, read-only (GET and
HEAD); any other name — another file of the folder, ``..``, an absolute
path, a symlink out of the folder — is a 404. An input image is named by its
content hash only: the store's record of that hash says which file it is. Responses carry the file's
type, ``ETag``/``Last-Modified`` and a year-long immutable cache lifetime
(the URL's ``?v=`` changes when a file is rewritten).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import WorkbenchError
from core.settings import db_path
from core.store.store import Store
from workbench.files_route import CACHE_CONTROL, INPUT_ROUTE, ROUTE, input_file, media_type, request_file

__all__ = ["routes", "serve_file", "serve_input"]

log = logging.getLogger(__name__)

# Names the store was found to reference, per database: outputs are written once, so a yes stays a yes.
KNOWN_MAX = 50_000
_local = threading.local()
_known: OrderedDict[tuple[str, str], None] = OrderedDict()
_known_lock = threading.Lock()


def routes() -> list[BaseRoute]:
    """The app's extra routes (GET, and HEAD with it): ``/files/<path in the store's folder>``, ``/inputs/<sha256>``."""
    return [Route(ROUTE, serve_file, methods=["GET", "HEAD"], name="workbench_files"),
            Route(INPUT_ROUTE, serve_input, methods=["GET", "HEAD"], name="workbench_inputs")]


def _thread_store(path: Path) -> Store | None:
    """This worker thread's connection to the store at ``path`` (None when there is no store there)."""
    stores: dict[str, Store] = _local.__dict__.setdefault("stores", {})
    key = str(path)
    if key not in stores:
        try:
            stores[key] = Store(path, readonly=True)
        except WorkbenchError as exc:
            log.debug("no store to serve files from: %s", exc)
            return None
    return stores[key]


def _referenced(db: Path, stored: str) -> bool:
    """Whether the store at ``db`` records ``stored`` as an output file (remembered once it does)."""
    key = (str(db), stored)
    with _known_lock:
        if key in _known:
            _known.move_to_end(key)
            return True
    store = _thread_store(db)
    if store is None or not store.references_file(stored):
        return False
    with _known_lock:
        _known[key] = None
        while len(_known) > KNOWN_MAX:
            _known.popitem(last=False)
    return True


def _roots(db: Path) -> tuple[Path, ...]:
    """The folders output files are served from: the store's outputs root, then (earlier cells of a store whose
    outputs were set apart later) the database's folder."""
    store = _thread_store(db)
    if store is None:
        return (db.parent,)
    return (store.root,) if store.root == store.db_folder else (store.root, store.db_folder)


def _lookup(relative: str) -> Path | None:
    """The file to send for a request's path, or None (not there, not inside the store, not the store's)."""
    db = db_path().resolve()
    found = next(filter(None, (request_file(root, relative) for root in _roots(db))), None)
    if found is None:
        return None
    stored, real = found
    return real if _referenced(db, stored) else None


async def serve_file(request: Request) -> Response:
    """Send an output file of the store, or 404."""
    path = await run_in_threadpool(_lookup, request.path_params["path"])
    if path is None:
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(path, media_type=media_type(path), headers={"Cache-Control": CACHE_CONTROL})


def _lookup_input(sha256: str) -> Path | None:
    """The input image the store recorded for ``sha256``, or None."""
    db = db_path().resolve()
    store = _thread_store(db)
    if store is None:
        return None
    return input_file(store.root, sha256, store.image_file(sha256) if len(sha256) == 64 else None)


async def serve_input(request: Request) -> Response:
    """Send an input image the store knows by its content hash, or 404."""
    path = await run_in_threadpool(_lookup_input, request.path_params["sha256"])
    if path is None:
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(path, media_type=media_type(path), headers={"Cache-Control": CACHE_CONTROL})
