"""Drawings of strokes: SVG, a re-drawn raster, the drawing-order animation (GIF) and the vector frame (PNG).

Rasters are uint8 ``HxW``, 0 = ink, drawn without antialiasing; coordinates are
pixel centres (see :mod:`core.sketch.strokes`).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import cv2
import numpy as np

from core.errors import StrokesError
from core.files import encode_png, write_atomic
from core.sketch.strokes import DEFAULT_MAX_GIF_FRAMES, Stroke, Strokes

__all__ = ["render", "render_frames", "save_gif", "save_vector_png", "to_svg"]


def to_svg(strokes: Strokes) -> str:
    """Return an SVG document: white background, one round-capped ``<path>`` per stroke, viewBox = image size.

    Points are shifted by half a pixel because SVG puts pixel ``i``'s centre at ``i + 0.5``.
    """
    w, h = strokes.width, strokes.height
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
        '<rect x="0" y="0" width="100%" height="100%" fill="white"/>',
        '<g fill="none" stroke="black" stroke-linecap="round" stroke-linejoin="round">',
    ]
    for s in strokes.strokes:
        pts = s.points + 0.5
        if len(pts) == 1:
            pts = np.vstack([pts, pts])  # a zero-length segment with round caps draws a dot
        coords = " L ".join(f"{_num(x)} {_num(y)}" for x, y in pts)
        lines.append(f'<path d="M {coords}" stroke-width="{_num(s.width)}"/>')
    lines += ["</g>", "</svg>", ""]
    return "\n".join(lines)


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _canvas_and_transform(strokes: Strokes, width: int | None, height: int | None):
    w = int(width or strokes.width)
    h = int(height or strokes.height)
    if w < 1 or h < 1:
        raise StrokesError(f"render size must be positive, not {w}x{h}")
    sx, sy = w / strokes.width, h / strokes.height
    return np.full((h, w), 255, np.uint8), sx, sy


def _draw(canvas: np.ndarray, strokes: list[Stroke], sx: float, sy: float, line_width: float | None) -> None:
    scale = math.sqrt(sx * sy)
    for s in strokes:
        # pixel centres scale about the pixel edges: x' + 0.5 = (x + 0.5) * sx
        pts = np.empty_like(s.points)
        pts[:, 0] = (s.points[:, 0] + 0.5) * sx - 0.5
        pts[:, 1] = (s.points[:, 1] + 0.5) * sy - 0.5
        pts = np.rint(pts).astype(np.int32)
        if len(pts) == 1:
            pts = np.vstack([pts, pts])
        thickness = _cv2_thickness(line_width if line_width is not None else s.width * scale)
        cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, 0, thickness, cv2.LINE_8)


def _cv2_thickness(width: float) -> int:
    """OpenCV ``thickness`` that draws a line about ``width`` px wide.

    Without antialiasing OpenCV draws thickness 1 one pixel wide and
    thickness ``t >= 2`` as the odd width ``t + 1`` or ``t + 2`` (2 -> 3, 3 and
    4 -> 5, 5 and 6 -> 7, ...), so the nearest odd width is picked and mapped back.
    """
    odd = 2 * int(round((max(width, 1.0) - 1.0) / 2.0)) + 1
    return 1 if odd == 1 else max(2, odd - 2)


def render(
    strokes: Strokes, width: int | None = None, height: int | None = None, line_width: float | None = None
) -> np.ndarray:
    """Re-draw the strokes as a clean uint8 HxW sketch (0 = ink), without antialiasing.

    Args:
        width, height: output size (default the sketch's); coordinates and widths scale with it.
        line_width: one width in px for every stroke instead of each stroke's own.
    """
    canvas, sx, sy = _canvas_and_transform(strokes, width, height)
    _draw(canvas, strokes.strokes, sx, sy, line_width)
    return canvas


def render_frames(
    strokes: Strokes,
    max_frames: int | None = None,
    width: int | None = None,
    height: int | None = None,
    line_width: float | None = None,
) -> list[np.ndarray]:
    """The drawing built up in stroke order: frame k shows the first groups of strokes, the last all of them.

    With more strokes than ``max_frames`` (default: the recorded
    ``max_gif_frames``, else 60), consecutive strokes share a frame. No strokes
    gives one blank frame.

    Returns:
        ``min(len(strokes), max_frames)`` uint8 HxW frames (at least one).
    """
    if max_frames is None:
        max_frames = int(strokes.params.get("max_gif_frames", DEFAULT_MAX_GIF_FRAMES))
    if max_frames < 1:
        raise StrokesError(f"max_frames must be >= 1, not {max_frames}")
    canvas, sx, sy = _canvas_and_transform(strokes, width, height)
    n = len(strokes.strokes)
    if n == 0:
        return [canvas]
    frames = []
    for group in np.array_split(np.arange(n), min(n, max_frames)):
        _draw(canvas, [strokes.strokes[i] for i in group], sx, sy, line_width)
        frames.append(canvas.copy())
    return frames


def save_gif(
    strokes: Strokes,
    path: str | os.PathLike,
    max_frames: int | None = None,
    duration_ms: int = 80,
    hold_ms: int = 1500,
) -> Path:
    """Write the drawing animation (:func:`render_frames`) as a looping GIF of two-colour palette frames, atomically.

    Pillow merges a frame identical to the one before it (strokes hidden under
    earlier ink), so the file may hold fewer frames than were rendered.

    Args:
        duration_ms: time per frame; the last frame stays ``hold_ms`` before the loop restarts.
    """
    from PIL import Image

    frames = render_frames(strokes, max_frames)
    images = []
    for frame in frames:
        ink = np.ascontiguousarray(frame < 128, np.uint8)  # palette index 0 = paper, 1 = ink
        im = Image.frombytes("P", (ink.shape[1], ink.shape[0]), ink.tobytes())
        im.putpalette([255, 255, 255, 0, 0, 0])
        images.append(im)
    durations = [duration_ms] * (len(images) - 1) + [hold_ms]
    buf = io.BytesIO()
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0, disposal=1
    )
    return write_atomic(path, buf.getvalue())


def save_vector_png(
    strokes: Strokes,
    path: str | os.PathLike,
    width: int | None = None,
    height: int | None = None,
    line_width: float | None = None,
) -> Path:
    """Write :func:`render` of the strokes as a grayscale PNG, atomically; return the path."""
    # OpenCV's own PNG defaults (level=None): any explicit level would change the bytes of every vector.png.
    return write_atomic(path, encode_png(render(strokes, width, height, line_width)))
