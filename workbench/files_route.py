"""The store's output files and input images over HTTP: their URLs, and which request paths name a servable file.

The app's own server answers ``/files/<path relative to the store's folder>``
and ``/inputs/<image sha256>`` (the routes are in :mod:`workbench.server`,
declared by ``streamlit_app.py``), so the browser fetches full-resolution
outputs, thumbnails and input photos once and keeps them: a cell's files are
written once per cell key, and the URL carries ``?v=<mtime_ns>``, so a
rewritten file gets a new URL. Nothing here imports Streamlit or Starlette;
pages import :func:`file_url` and :func:`input_url` to build their payloads.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote

__all__ = ["CACHE_CONTROL", "INPUT_ROUTE", "INPUT_ROUTE_PREFIX", "MEDIA_TYPES", "ROUTE", "ROUTE_PREFIX", "file_url",
           "input_file", "input_url", "media_type", "request_file"]

ROUTE_PREFIX = "/files/"
ROUTE = ROUTE_PREFIX + "{path:path}"
INPUT_ROUTE_PREFIX = "/inputs/"
INPUT_ROUTE = INPUT_ROUTE_PREFIX + "{sha256}"
SHA256_HEX = frozenset("0123456789abcdef")
# Outputs never change under one URL (the version is in the query), so the browser may keep them for good.
CACHE_CONTROL = "public, max-age=31536000, immutable"
# The types the store writes; Python's own table lacks some (webp on older systems, npz).
MEDIA_TYPES = {
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
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


def input_url(sha256: str, path: Path | None) -> str | None:
    """``/inputs/<sha256>?v=<mtime_ns>`` for an input image found at ``path``; None when it is not there."""
    try:
        mtime = Path(path).stat().st_mtime_ns if path else None
    except OSError:
        return None
    return f"{INPUT_ROUTE_PREFIX}{sha256}?v={mtime}" if mtime is not None else None


def input_file(store_root: Path, sha256: str, recorded: str | None) -> Path | None:
    """The input image to send for ``/inputs/<sha256>``: the regular file the store recorded for that hash.

    ``recorded`` is the path the store holds for the image (relative to the
    store's folder, or absolute); only a well-formed hash that the store
    knows names a file, so a request can never choose a path.
    """
    if len(sha256) != 64 or not set(sha256) <= SHA256_HEX or not recorded:
        return None
    path = Path(recorded)
    # Relative to the store's folder, or (a CLI run given a relative folder) to the working directory.
    for candidate in (path,) if path.is_absolute() else (Path(store_root) / path, path):
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real.is_file():
            return real
    return None


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
