"""The store's output files over HTTP: their URLs, and which request paths name a servable file.

The app's own server answers ``/files/<path relative to the store's folder>``
(the route is in :mod:`workbench.server`, declared by ``streamlit_app.py``),
so the browser fetches full-resolution outputs and thumbnails once and keeps
them: a cell's files are written once per cell key, and the URL carries
``?v=<mtime_ns>``, so a rewritten file gets a new URL. Nothing here imports
Streamlit or Starlette; pages import :func:`file_url` to build their payloads.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote

__all__ = ["CACHE_CONTROL", "MEDIA_TYPES", "ROUTE", "ROUTE_PREFIX", "file_url", "media_type", "request_file"]

ROUTE_PREFIX = "/files/"
ROUTE = ROUTE_PREFIX + "{path:path}"
# Outputs never change under one URL (the version is in the query), so the browser may keep them for good.
CACHE_CONTROL = "public, max-age=31536000, immutable"
# The types the store writes; Python's own table lacks some (webp on older systems, npz).
MEDIA_TYPES = {
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".npz": "application/octet-stream",
}


def file_url(store_root: Path, stored_path: str) -> str | None:
    """``/files/<relative posix path>?v=<mtime_ns>`` for a stored output path; None when the file is missing.

    ``stored_path`` is as the store records it (relative to ``store_root``, or
    absolute); a file outside the store's folder has no URL (the route would
    refuse it).
    """
    if not stored_path:
        return None
    root = Path(store_root)
    path = Path(stored_path)
    full = path if path.is_absolute() else root / path
    try:
        relative = PurePosixPath(Path(os.path.normpath(full)).relative_to(os.path.normpath(root)).as_posix())
        mtime = full.stat().st_mtime_ns
    except (ValueError, OSError):
        return None
    if not relative.parts or ".." in relative.parts:
        return None
    return f"{ROUTE_PREFIX}{quote(str(relative), safe='/')}?v={mtime}"


def request_file(store_root: Path, relative: str) -> tuple[str, Path] | None:
    """The stored path and the file a request names, or None when the name could leave the store's folder.

    ``relative`` is the URL path after ``/files/``, already percent-decoded.
    Refused: empty or absolute names, ``.``/``..`` or empty segments,
    backslashes and NUL, and any name whose real path (symlinks followed)
    is not a regular file inside the store's folder. Whether the store
    references the file is the caller's question (:meth:`Store.references_file`).
    """
    if not relative or "\\" in relative or "\x00" in relative or relative.startswith("/"):
        return None
    parts = relative.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    root = Path(store_root).resolve()
    try:
        real = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return "/".join(parts), real


def media_type(path: Path) -> str:
    """The Content-Type of an output file, by its suffix."""
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
