"""Allowed folders: where the app may read test sets and checkpoints from, and the checks that keep it there.

A lab's app is used by people who are not the server's user, so a folder
typed into the Sweeps page must not open the server's whole disk. The roots
are the project's runs folder and weights folders (:func:`core.settings.runs_dir`,
:func:`core.settings.weights_dirs`), plus ``WORKBENCH_DATA_ROOTS``
(``os.pathsep``-separated; ``workbench ui --data-root DIR`` adds to it) and
whatever a caller adds (the app adds the store's folder, where uploads go).
A path is refused, before anything in it is read, when it names ``..``,
when its real path (symlinks followed) is outside every root, or (a folder)
when a symlink inside it leads out of the roots. Nothing here imports
Streamlit; the checks only stat and list names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from core.errors import FolderError
from core.settings import runs_dir, weights_dirs

__all__ = ["DATA_ROOTS_ENV", "MAX_ENTRIES", "allowed_file", "allowed_folder", "data_roots", "inside"]

DATA_ROOTS_ENV = "WORKBENCH_DATA_ROOTS"
# A folder's symlinks are checked up to this many entries; a larger tree is refused rather than walked for minutes.
MAX_ENTRIES = 200_000


def data_roots(extra: Iterable[os.PathLike | str] = ()) -> list[Path]:
    """The allowed roots, resolved and without repeats: runs/, the weights folders, ``WORKBENCH_DATA_ROOTS``, ``extra``."""
    listed = [runs_dir(), *weights_dirs()]
    listed += [Path(p) for p in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    listed += [Path(p) for p in extra]
    roots: list[Path] = []
    for root in listed:
        real = Path(os.path.realpath(Path(root).expanduser()))
        if real not in roots:
            roots.append(real)
    return roots


def inside(real: Path, roots: Iterable[Path]) -> bool:
    """Whether the real path ``real`` is one of ``roots`` or below one (roots as :func:`data_roots` gives them)."""
    return any(real == root or real.is_relative_to(root) for root in roots)


def _real(path: os.PathLike | str, roots: list[Path], what: str) -> Path:
    """``path``'s real path after the ``..`` and roots checks; FolderError naming the problem otherwise."""
    text = str(path).strip()
    if not text:
        raise FolderError(f"No {what} given: type a folder under {_shown(roots)}")
    given = Path(text).expanduser()
    if ".." in given.parts:
        raise FolderError(f"{text} contains '..': give the {what}'s full path, under {_shown(roots)}")
    real = Path(os.path.realpath(given.absolute()))
    if not inside(real, roots):
        leaves = " (a symlink leads out of them)" if inside(Path(os.path.abspath(given)), roots) else ""
        raise FolderError(f"{text} is outside the allowed folders{leaves}: use one under {_shown(roots)}, or start "
                          "the app with --data-root DIR (or WORKBENCH_DATA_ROOTS)")
    return real


def allowed_folder(path: os.PathLike | str, roots: list[Path]) -> Path:
    """The real path of a folder the app may read, or FolderError (``..``, outside the roots, a symlink out).

    Args:
        path: the folder as typed (absolute, ``~/...`` or relative to the working directory).
        roots: the allowed roots (:func:`data_roots`).
    """
    real = _real(path, roots, "folder")
    if not real.is_dir():
        raise FolderError(f"{path} is not a folder: give an existing folder under {_shown(roots)}")
    seen = 0
    for top, dirs, files in os.walk(real, followlinks=False):
        for name in [*dirs, *files]:
            seen += 1
            if seen > MAX_ENTRIES:
                raise FolderError(f"{path} holds over {MAX_ENTRIES} entries: give a smaller test-set folder")
            entry = Path(top) / name
            if entry.is_symlink() and not inside(Path(os.path.realpath(entry)), roots):
                raise FolderError(f"{entry} is a symlink that leads out of the allowed folders: remove it, or "
                                  "start the app with --data-root for its target")
    return real


def allowed_file(path: os.PathLike | str, roots: list[Path]) -> Path:
    """The real path of a file (a checkpoint) the app may read, or FolderError as :func:`allowed_folder`."""
    real = _real(path, roots, "file")
    if not real.is_file():
        raise FolderError(f"{path} is not a file: give an existing file under {_shown(roots)}")
    return real


def _shown(roots: list[Path]) -> str:
    return ", ".join(str(r) for r in roots) or "(no roots configured)"
