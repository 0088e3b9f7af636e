"""A sketch's stroke files: the ``.npz`` strokes format, and the set of files written per vectorised sketch.

:func:`write_stroke_files` writes the four files of one sketch (``.npz``, SVG,
drawing-order GIF, vector-frame PNG) in either of the two layouts the workbench
uses: one folder per file kind named after the sketch (``workbench vectorize``
and the pipeline's ``--vec_switch``), or fixed names inside one folder (a sweep
cell's folder).

``.npz`` format (:func:`save_npz`, :func:`load_npz`); plain arrays only, so
``numpy.load(path, allow_pickle=False)`` reads it::

    format     int64 scalar       1
    stroke3    (M, 3) float32     sketch-rnn stroke-3 rows (dx, dy, pen_lifted): each point
                                  minus the previous point (the first minus (0, 0)),
                                  pen_lifted = 1 on the last point of every stroke
    polylines  (M, 2) float32     every stroke's points (x, y), strokes concatenated in
                                  drawing order
    offsets    (S + 1,) int64     stroke i is polylines[offsets[i]:offsets[i + 1]];
                                  offsets[0] = 0, offsets[-1] = M
    widths     (S,) float32       estimated line width of each stroke, px
    size       (2,) int64         (height, width) of the sketch the strokes came from
    params     0-d unicode        JSON of the VectorizeParams used (``{}`` if unknown)

:func:`load_npz` rebuilds strokes from ``polylines``/``offsets`` (exact);
``stroke3`` is the copy for sketch-rnn-style tools.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import numpy as np

from core.errors import StrokesFileError
from core.files import write_atomic
from core.sketch.rendering import save_gif, save_vector_png, to_svg
from core.sketch.strokes import Stroke, Strokes, to_stroke3

__all__ = ["NPZ_FORMAT", "STROKE_FILES", "load_npz", "save_npz", "stroke_file_paths", "write_stroke_files"]

log = logging.getLogger(__name__)

NPZ_FORMAT = 1

#: Per store column: its folder in the per-kind layout, and its file name inside a cell's folder.
STROKE_FILES: dict[str, tuple[str, str]] = {
    "npz_path": ("seq_data", "strokes.npz"),
    "svg_path": ("svg", "strokes.svg"),
    "gif_path": ("gif", "strokes.gif"),
    "vector_path": ("vector", "vector.png"),
}


def save_npz(strokes: Strokes, path: str | os.PathLike) -> Path:
    """Write strokes to a compressed ``.npz`` (format in the module docstring), atomically; return the path."""
    sizes = [len(s.points) for s in strokes.strokes]
    polylines = np.concatenate([s.points for s in strokes.strokes]) if sizes else np.zeros((0, 2))
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        format=np.int64(NPZ_FORMAT),
        stroke3=to_stroke3(strokes),
        polylines=polylines.astype(np.float32),
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        widths=np.array([s.width for s in strokes.strokes], np.float32),
        size=np.array([strokes.height, strokes.width], np.int64),
        params=np.array(json.dumps(strokes.params, sort_keys=True)),
    )
    return write_atomic(path, buf.getvalue())


def load_npz(path: str | os.PathLike) -> Strokes:
    """Read strokes written by :func:`save_npz`.

    Raises:
        StrokesFileError: the file is missing, unreadable or inconsistent.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("format", "polylines", "offsets", "widths", "size", "params")}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise StrokesFileError(f"{path}: not a strokes .npz file ({exc})") from exc
    if int(arrays["format"]) != NPZ_FORMAT:
        raise StrokesFileError(f"{path}: strokes format {int(arrays['format'])}, expected {NPZ_FORMAT}")
    poly = arrays["polylines"].astype(np.float64)
    offsets = arrays["offsets"].astype(np.int64)
    widths = arrays["widths"].astype(np.float64)
    size = arrays["size"]
    if (
        poly.ndim != 2
        or poly.shape[1] != 2
        or offsets.ndim != 1
        or len(offsets) != len(widths) + 1
        or offsets[0] != 0
        or offsets[-1] != len(poly)
        or np.any(np.diff(offsets) < 1)
        or size.shape != (2,)
    ):
        raise StrokesFileError(f"{path}: inconsistent strokes arrays")
    try:
        params = json.loads(str(arrays["params"]))
    except json.JSONDecodeError as exc:
        raise StrokesFileError(f"{path}: params are not JSON ({exc})") from exc
    strokes = [Stroke(poly[s:e], wd) for s, e, wd in zip(offsets[:-1], offsets[1:], widths)]
    return Strokes(strokes, int(size[1]), int(size[0]), params)


def stroke_file_paths(folder: str | os.PathLike, name: str | None = None) -> dict[str, Path]:
    """Where :func:`write_stroke_files` puts each file, keyed by the store's column (see :data:`STROKE_FILES`).

    Args:
        folder: the output folder.
        name: the sketch's name: files go to ``folder/seq_data/<name>.npz``,
            ``folder/svg/<name>.svg``, ``folder/gif/<name>.gif`` and
            ``folder/vector/<name>.png``. Without a name they go into ``folder``
            itself as ``strokes.npz``, ``strokes.svg``, ``strokes.gif`` and ``vector.png``.
    """
    folder = Path(folder)
    if name is None:
        return {key: folder / file for key, (_, file) in STROKE_FILES.items()}
    return {key: folder / kind / f"{name}{Path(file).suffix}" for key, (kind, file) in STROKE_FILES.items()}


def write_stroke_files(strokes: Strokes, folder: str | os.PathLike, name: str | None = None) -> dict[str, Path]:
    """Write a sketch's strokes as ``.npz``, SVG, drawing-order GIF and vector-frame PNG, each atomically.

    Args:
        strokes: the vectorised sketch.
        folder, name: where, as in :func:`stroke_file_paths`.

    Returns:
        The paths written, keyed ``npz_path``, ``svg_path``, ``gif_path``, ``vector_path`` (the store's columns).
    """
    paths = stroke_file_paths(folder, name)
    save_npz(strokes, paths["npz_path"])
    write_atomic(paths["svg_path"], to_svg(strokes).encode())
    save_gif(strokes, paths["gif_path"])
    save_vector_png(strokes, paths["vector_path"])
    log.debug("wrote %d strokes to %s", len(strokes), paths["npz_path"])
    return paths
