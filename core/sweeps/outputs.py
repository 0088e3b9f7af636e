"""A computed cell's outputs: its files written under the store's folder, its metrics, its store fields.

Files go to ``cells/<key[:2]>/<key>/`` beside the database (``sketch.png``,
``thumb.webp`` and, when vectorised, the stroke files); a mask is one file per
(image, Mask Net) under ``masks/``, and a Sketch Net input (the cropped photo)
one file per distinct content under ``crops/``, each shared by every cell that
uses it (the crop does not depend on the Sketch Net or its side, and encoding
a photo-sized RGB PNG is the writer's dearest step). Every file is written atomically, so a killed sweep never leaves
half a file. Used by the local writer thread and by Ray workers alike.

Each computed cell's provenance (:mod:`core.provenance`) is stored with it
and written into its ``sketch.png`` as a text chunk (:data:`core.provenance.PNG_KEY`),
so a file copied out of the store still says where it came from; the pixels
are the same as without it.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from pathlib import Path

import numpy as np

from core.files import encode_png, encode_webp, png_with_text, write_atomic
from core.provenance import PNG_KEY, cell_provenance, provenance_json
from core.sweeps.cell import Cell

__all__ = ["CROP_PNG_LEVEL", "SKETCH_PNG_LEVEL", "THUMB_SIDE", "cell_checkpoints", "failure_fields", "finalize_cell",
           "sketch_png", "thumbnail"]

THUMB_SIDE = 256
# zlib levels, measured with ``workbench bench --writer`` (core.sweeps.throughput.choose_png_level): the
# lowest level whose files are within 10% of the smallest any level makes. At 848 px, drawings (mostly
# paper) shrink from 69 KB at level 1 (9 ms) to 62 KB at 4 (12 ms) and 58 KB at 9 (167 ms); photos from
# 768 KB at 1 (48 ms) to 755 KB at 2 (60 ms) and 693 KB at 9 (652 ms). The pixels never depend on them.
SKETCH_PNG_LEVEL = 4
CROP_PNG_LEVEL = 2
WEBP_QUALITY = 90


def failure_fields(error: str) -> dict:
    """The store's fields for a failed cell."""
    return {"status": "failed", "error": error[:2000], "seconds": 0.0}


def cell_checkpoints(config: dict) -> dict[str, str | None]:
    """The checkpoints a cell's configuration runs, by role (``sketch``, ``mask``; None where none runs)."""
    return {"sketch": config.get("sketch_sha256"), "mask": config.get("mask_sha256")}


def sketch_png(sketch: np.ndarray, provenance_text: str | None) -> bytes:
    """The stored ``sketch.png`` bytes: the sketch's pixels, with the provenance JSON as a text chunk when given."""
    data = encode_png(sketch, SKETCH_PNG_LEVEL)
    return data if provenance_text is None else png_with_text(data, PNG_KEY, provenance_text)


def finalize_cell(root: Path, cell: Cell, img, out: dict, env: dict | None = None) -> dict:
    """Write a computed cell's files under ``root`` (atomically) and return its store fields.

    Vectorises when the cell asks for it, computes the metrics, and returns
    paths relative to ``root`` (the store's folder), timings and peak memory.

    Args:
        env: the computing process's :func:`core.provenance.environment_provenance`; with it the cell's
            provenance is recorded (``provenance_json``) and written into its sketch PNG. None records none.
    """
    from core.pipeline.seed import apply_gamma

    t = time.perf_counter()
    fields = {"status": "done", "error": None, "width": int(img.shape[1]), "height": int(img.shape[0])}
    # Strokes and metrics see the sketch as the original saved and vectorised it: after gamma 3,
    # which turns the Sketch Net's grey lines into ink (0 and 255 stay as they are).
    saved = apply_gamma(out["sketch"], 3)
    strokes = None
    if cell.config.get("vectorize"):
        from core.sketch.tracing import vectorize

        strokes = vectorize(saved)
    text = None
    if env is not None:
        text = provenance_json(cell_provenance(cell.config, cell_checkpoints(cell.config), env))
        fields["provenance_json"] = text
    fields.update(_write_files(Path(root), cell, out, strokes, text))
    fields.update(_metrics(cell, saved, strokes))
    fields.update({k: round(v, 6) for k, v in out["timings"].items()})
    fields["t_post"] = round(time.perf_counter() - t, 6)
    fields["peak_mem_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return fields


def _write_files(root: Path, cell: Cell, out: dict, strokes, provenance_text: str | None) -> dict:
    folder = root / "cells" / cell.key[:2] / cell.key
    paths = {}
    if out["mask"] is not None:
        # One file per (image, Mask Net), shared by every cell that uses that mask.
        mask_file = root / "masks" / f"{cell.image.sha256[:16]}-{cell.config['mask_sha256'][:16]}.png"
        if not mask_file.exists():
            mask = np.clip(np.rint(out["mask"] * 255), 0, 255).astype(np.uint8)
            write_atomic(mask_file, encode_png(mask, SKETCH_PNG_LEVEL))
        paths["mask_path"] = _relative(root, mask_file)
    if out["cropped"] is not None:
        cropped = np.ascontiguousarray(out["cropped"])
        digest = hashlib.blake2b(repr(cropped.shape).encode() + cropped.tobytes(), digest_size=16).hexdigest()
        crop_file = root / "crops" / f"{cell.image.sha256[:16]}-{digest}.png"
        if not crop_file.exists():  # two writer threads may both write it: same bytes, atomic rename
            write_atomic(crop_file, encode_png(cropped, CROP_PNG_LEVEL))
        paths["cropped_path"] = _relative(root, crop_file)
    sketch = sketch_png(out["sketch"], provenance_text)
    paths["sketch_path"] = _relative(root, write_atomic(folder / "sketch.png", sketch))
    paths["thumb_path"] = _relative(root, write_atomic(folder / "thumb.webp", thumbnail(out["sketch"])))
    if strokes is not None:
        paths.update(_write_strokes(root, folder, strokes))
    return paths


def _write_strokes(root: Path, folder: Path, strokes) -> dict:
    from core.sketch.stroke_files import write_stroke_files

    return {column: _relative(root, path) for column, path in write_stroke_files(strokes, folder).items()}


def _relative(root: Path, path: Path) -> str:
    return str(path.relative_to(root))


def _metrics(cell: Cell, sketch, strokes) -> dict:
    """Metric columns for a finished cell (reference scores where the test set has drawings)."""
    from core.sketch.metrics import sketch_metrics
    from core.store.schema import METRIC_COLUMNS

    values = sketch_metrics(sketch, strokes=strokes, reference=_reference_drawing(cell.image.path))
    out = {k: float(v) for k, v in values.items() if k in METRIC_COLUMNS and v is not None}
    out["metrics_json"] = json.dumps({k: float(v) for k, v in values.items()}, sort_keys=True)
    return out


def _reference_drawing(image_path: Path):
    """The ground-truth drawing of a test-set image (``../drawings/<same name>``), if there is one."""
    drawing = image_path.parent.parent / "drawings" / image_path.name
    if image_path.parent.name != "images" or not drawing.is_file():
        return None
    import cv2

    return cv2.imread(str(drawing), cv2.IMREAD_GRAYSCALE)


def thumbnail(img: np.ndarray, side: int = THUMB_SIDE) -> bytes:
    """A WebP thumbnail whose longer side is at most ``side`` px (area-averaged)."""
    import cv2

    h, w = img.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return encode_webp(small, WEBP_QUALITY)
